// Package ring maps keys to cache nodes with the consistent-hash placements
// that memcached clients and proxies use, so that slabcache's own client,
// slabctl, twemproxy and mcrouter all agree on the owner of every key:
//
//   - Ketama: byte-identical to twemproxy (distribution ketama) and
//     libmemcached's MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, with twemproxy's
//     fnv1a_64 key hash (KindKetama) or md5 (KindKetamaMD5).
//   - Ch3: mcrouter's default "consistent hash version 3", furc_hash over
//     MurmurHash64A of the routing key (KindCh3).
//   - Jump: Lamping and Veach's jump consistent hash over xxhash64 (KindJump).
//
// Its one job is placement: it does no I/O and keeps no state besides the
// immutable ring. Lookups allocate nothing and are safe for concurrent use.
//
// This package imports only the standard library and xxhash; it must not
// import any other slabcache package (internal/archtest checks it).
package ring
