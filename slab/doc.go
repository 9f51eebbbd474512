// Package slab owns the item memory of slabcache: 1 MiB pages taken from
// outside the Go heap (anonymous mmap; build tag slabheap uses Go heap pages
// instead), carved into chunks by size class the way memcached's slabs.c
// does, with chunk allocation and freeing per class and page moves between
// classes (slab_reassign / slab_automove).
//
// The one job of this package is sizes, pages and chunks. It knows nothing
// about keys, values, item headers or LRU order: the caller (package lru)
// decides what lives in a chunk. A chunk is named by a 32-bit Ref, so links
// between items cost 4 bytes.
//
// This package imports nothing of slabcache's but internal/ (and must not
// import lru, server, proto or cluster).
//
// # Memory
//
// New reserves address space for MemLimit bytes with one anonymous mapping
// but touches a page only when a chunk in it is first written, so resident
// memory grows with use, as memcached's malloc-per-page does. The sum of
// pages handed to classes never exceeds MemLimit. Per-page bookkeeping (an
// allocation bitmap and a few counters) lives on the Go heap in pointer-free
// slices, about 2 KiB per 1 MiB page.
//
// # Concurrency
//
// Every exported method is safe for concurrent use. Each class has its own
// mutex; a global mutex guards the page pool. Lock order is class, then
// global. No method blocks on anything but these mutexes.
package slab
