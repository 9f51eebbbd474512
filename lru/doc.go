// Package lru is slabcache's item store: the hash index, the items, their
// segmented LRU, expiry, CAS, every store operation of memcached's text and
// meta protocols, and the background maintainer, crawler and page mover.
// Memory comes from package slab; time from internal/clock.
//
// It imports only package slab and internal/ (never proto, server, cluster
// or cmd).
//
// # Layout
//
// An item is a 24-byte header (LRU links, state word, expiry, last access,
// key and value lengths), an 8-byte CAS (absent with Config.NoCAS), 4 bytes
// of client flags only when they are nonzero, the key and the value, in one
// slab chunk (layout.go). Values over slab_chunk_max are stitched from
// several chunks. The index is 256 shards (up to 4096 for large memory
// limits), each an open-addressed table of
// 1-byte tags and 4-byte chunk references with its own lock (index.go); it
// holds no Go pointers and lives outside the Go heap.
//
// # Using it from a server
//
// A server runs a few event loops that call the store concurrently. Every
// call below is safe for concurrent use, holds at most one shard lock (plus
// short class locks) and never performs I/O while holding a lock. None of
// the calls allocates on the Go heap in the steady state.
//
//   - Reads (get, gets, gat, gats, mg, me): Get(key, args, h). When the item
//     is found, the store calls h.Hit(*Item) once, with the shard lock held;
//     the callee appends the reply header it needs (flags, length, CAS, TTL,
//     ... are fields of Item) and calls Item.AppendValue(dst) to copy the
//     value straight from slab memory into its output buffer. Hit must not
//     block, must not call the store, and must not keep the *Item; for a
//     large value it may instead call Item.Pin, which returns the value in
//     slab memory and keeps that memory from reuse until Store.Unpin, so
//     the caller can write it out after Get returns without copying it.
//     Options in GetArgs: Touch (gat, mg T), NoBump (mg without bump; me uses Peek),
//     Vivify (mg N), Recache (mg R); Item reports Won (W), TokenSent (Z) and
//     Stale (X), Fetched (h), Idle (l), TTL (t), Size (s). For a multi-key get
//     call Get once per key.
//   - Stores (set, add, replace, append, prepend, cas, ms): for a value that
//     is already in memory, Set(key, flags, exptime, value, args). For a value
//     that arrives over many reads: Reserve once the command line is parsed
//     (this allocates the item, evicting if needed, and may return TooLarge or
//     NoMemory at once), Write each piece as it arrives, then Commit with the
//     mode, CAS and meta options (SetArgs), or Abort if the connection goes
//     away. The caller keeps the Reservation value in its connection state.
//     The value slice is copied; the caller may reuse it after the call.
//     Memcached removes the old item when a set fails with TooLarge or
//     NoMemory: the server does that by calling Delete.
//   - Delete (delete, md with CAS, I and T), Touch (touch), Delta (incr,
//     decr, ma with N/J/T and CAS), Flush (flush_all with or without delay).
//   - Results are a small enum (Result) that the server maps to memcached's
//     reply strings in one place; nothing on these paths returns an error
//     value.
//   - Expiry times are protocol exptimes (0 never, negative expired, up to 30
//     days relative, otherwise Unix time), converted with clock.Expiry.
//   - lru_crawler metadump: Dump(cursor, budget, fn) walks memory a bounded
//     number of chunks per call, calling fn per live item with one shard lock
//     held; call it repeatedly, writing out between calls, until the cursor
//     is Done.
//   - stats, stats items, stats slabs: Stats and ClassStats, plus Slabs() for
//     page figures. Per-class request counters (get_hits, cmd_set,
//     delete_hits, incr_hits, cas_hits, touch_hits, hits_to_hot, ...) are the
//     server's to count per event loop; Item.Class, Item.Segment,
//     SetResult.Class and DeltaResult.Class tell it which class.
//   - slabs reassign, slabs automove, lru tune, lru mode, lru temp_ttl:
//     Reassign, SetAutomove, SetLRUTune, SetLRUMode, SetTempTTL.
//
// Start runs the background goroutine (maintainer, crawler, automove);
// Stop ends it and Close also frees the memory. Tests drive the same work
// step by step with MaintainOnce, CrawlOnce and AutomoveOnce and a fake
// clock.
//
// # Locks
//
// Shard lock, then class LRU lock, then slab locks. Code that starts from an
// LRU tail or a page (eviction, maintainer) holds a class lock and only
// TryLocks shard locks, skipping busy items, as memcached's lru_pull_tail
// does; so a caller holding a shard lock may allocate. Methods whose name
// ends in Locked expect the shard lock held.
package lru
