package lru

import (
	"math/bits"
	"unsafe"

	"github.com/slabcache/slabcache/slab"
)

// PrefetchItem asks the CPU to start loading the item the key with hash h
// (from PrefetchIndex) would find, without waiting for it: a caller that
// knows its next key (the next key of a multi-get, the next request of a
// pipelined batch) calls it before doing the current one, so that the
// item's cache misses overlap that work instead of stalling the next
// lookup. It takes the key's shard lock to read the index (whose entries
// PrefetchIndex, called earlier, has brought closer), but does not read
// item memory: the candidate items of the key's home group are only
// prefetched, their first two cache lines (header, key and the start of
// the value). It changes nothing and counts nothing.
func (s *Store) PrefetchItem(h uint64) {
	sh := s.shardFor(h)
	sh.mu.Lock()
	t := &sh.t.table
	if t.ngroups != 0 {
		ct := ctrlTag(h)
		g := homeGroup(h, t.ngroups)
		for m := matchByte(t.group(g), ct); m != 0; m &= m - 1 {
			i := int(g)*groupSize + bits.TrailingZeros64(m)/8
			if t.ctrl[i] != ct {
				continue
			}
			p := uintptr(s.slab.Pointer(slab.Ref(t.refs[i])))
			prefetch2(p, p+64)
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
	base, n := sh.t.hintCtrl.Load(), sh.t.hintGroups.Load()
	if base == 0 || n == 0 {
		return h // closed
	}
	g := uintptr(homeGroup(h, n))
	prefetch3(uintptr(unsafe.Pointer(sh)), base+g*groupSize, base+uintptr(n)*groupSize+g*groupSize*4)
	return h
}
