// Package discovery tells the rest of the world who is in a slabcache
// cluster. Its one job is the membership formats:
//
//   - `config get cluster`, in AWS ElastiCache's auto-discovery format, that
//     ElastiCache-aware clients and slabcache's own client poll;
//   - `cluster members`, slabcache's admin listing that slabctl reads;
//   - the mcrouter config JSON and the twemproxy YAML pool written to files
//     on every membership change.
//
// It encodes and parses; it does no network I/O. A Table holds the current
// membership with a version that increments on every change, and keeps the
// encoded replies ready so the server appends them without allocating.
//
// This package may import cluster/ring, proto (the wire format of its
// replies) and the standard library; it must not import lru, server or any
// other slabcache package (internal/archtest checks it).
package discovery
