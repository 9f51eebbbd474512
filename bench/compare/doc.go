// Package compare runs two memcached-protocol servers side by side on one
// machine — A, Debian's memcached, and B, normally slabcached — with the same
// memory and core budget, drives them with the same workloads in
// alternating runs (A B, B A, A B, ...), and reports the ratios B/A: throughput,
// p99 latency, server CPU time per request (from /proc/<pid>/stat) and
// resident memory per item (from /proc/<pid>/status). It also drives both
// with Debian's memcaslap so that one load tool is not ours.
//
// It starts and stops processes and reads /proc; the load itself comes from
// package bench through a Loader. It must not import server, lru, slab or
// cluster: it measures servers only from the outside.
package compare
