package lru

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// prefetchSpan is how much of an item PrefetchItem brings in: four cache
// lines, which hold a whole item of a value up to about 200 bytes (one of
// 100 bytes spans three or four, depending on where its chunk starts);
// the CPU's own prefetcher follows a larger value's copy.
const prefetchSpan = 4 * 64

// PrefetchItem asks the CPU to start loading the item the key with hash h
// (from PrefetchIndex) would find, without waiting for it: a caller that
// knows its next key (the next key of a multi-get, the next request of a
// pipelined batch) calls it before doing the current one, so that the
// item's cache misses overlap that work instead of stalling the next
// lookup. It takes the key's shard lock to read the index (whose entries
// PrefetchIndex, called earlier, has brought closer), but does not read
// item memory: the candidate items of the key's home group are only
// prefetched: the cache lines of their chunks (header, key and value), up
// to prefetchSpan bytes. It changes nothing and counts nothing.
func (s *Store) PrefetchItem(h uint64) {
	sh := s.shardFor(h)
	sh.mu.Lock()
	t := &sh.t.table
	if t.ngroups != 0 {
		ct := ctrlTag(h)
		g := homeGroup(h, t.ngroups)
		grp := t.groupAt(g)
		for m := matchByte(binary.LittleEndian.Uint64(grp), ct); m != 0; m &= m - 1 {
			j := bits.TrailingZeros64(m) / 8
			if grp[j] != ct {
				continue
			}
			// The chunk's cache lines, up to four: an item of a
			// 100-byte value spans three or four.
			c := s.slab.Bytes(groupRef(grp, j))
			p := uintptr(unsafe.Pointer(unsafe.SliceData(c)))
			last := p + uintptr(min(len(c), prefetchSpan)) - 1
			prefetch4(p, min(p+64, last), min(p+128, last), last)
		}
	}
	sh.mu.Unlock()
}

// PrefetchIndex is the first step of a prefetch, for a key further ahead:
// it starts loading the key's shard lock and index group (its control
// bytes and item references) without taking the lock or waiting for
// anything, so that a later PrefetchItem or lookup of the key finds them
// in cache. Calls for several keys in a row overlap their misses. It
// returns the key's hash, for PrefetchItem.
func (s *Store) PrefetchIndex(key []byte) uint64 {
	h := hashKey(key)
	sh := s.shardFor(h)
	base, n := sh.t.hintMem.Load(), sh.t.hintGroups.Load()
	if base == 0 || n == 0 {
		return h // closed
	}
	// The group's 40 bytes start in one cache line and may end in the next.
	g := base + uintptr(homeGroup(h, n))*groupBytes
	prefetch3(uintptr(unsafe.Pointer(sh)), g, g+groupBytes-1)
	return h
}

// prefetchNeighbours starts loading the LRU neighbours of a linked item
// that is about to be unlinked, before the class lock is taken, so that
// their cache misses overlap each other and do not lengthen the time the
// lock is held. The links are read without the class lock: a stale link
// only makes the hint useless.
func (s *Store) prefetchNeighbours(p itemPtr) {
	prev, next := getPrev(p), getNext(p)
	a, b := uintptr(p), uintptr(p)
	if prev != 0 {
		a = uintptr(s.ptr(prev))
	}
	if next != 0 {
		b = uintptr(s.ptr(next))
	}
	prefetch3(a, b, uintptr(p))
}
