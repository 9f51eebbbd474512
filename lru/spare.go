package lru

import "github.com/slabcache/slabcache/slab"

const (
	// numSpares is how many freed chunks a shard keeps for its next items.
	numSpares = 2
	// spareMaxChunk is the largest chunk kept as a spare: spares are
	// allocated memory no item uses, at most numSpares*spareMaxChunk per
	// shard (512 KiB with 256 shards), and for larger values the lock
	// they save matters less than copying the value.
	spareMaxChunk = 1024
)

// A spare slot holds class<<32 | ref, or 0 when empty.
func spareSlot(cls int, ref slab.Ref) uint64 { return uint64(cls)<<32 | uint64(ref) }

// retireLocked frees the chunk of an item that was just replaced in shard
// sh (locked). A small one is kept as one of the shard's spares, for the
// next store into the shard to take without the slab class lock (an
// overwrite then frees and allocates no chunk in the allocator).
func (s *Store) retireLocked(sh *shard, ref slab.Ref, p itemPtr) {
	if s.doomLocked(sh, ref) {
		return
	}
	st := loadState(p)
	if cls := s.classOf(ref); st&stChunked == 0 && s.slab.ChunkSize(cls) <= spareMaxChunk {
		// Slots are filled only here, under mu; takers only empty them.
		for i := range sh.spares {
			if sh.spares[i].Load() == 0 {
				storeState(p, st&^(lcMask|stBumpQ)|lcFree|stSpare)
				sh.spares[i].Store(spareSlot(cls, ref))
				return
			}
		}
	}
	s.freeItem(ref, p)
}

// takeSpare returns a spare chunk of class cls from shard sh, or 0.
func (s *Store) takeSpare(sh *shard, cls int) slab.Ref {
	for i := range sh.spares {
		if v := sh.spares[i].Load(); v != 0 && int(v>>32) == cls && sh.spares[i].CompareAndSwap(v, 0) {
			return slab.Ref(v)
		}
	}
	return 0
}

// spareCounts returns how many spare chunks each class has.
func (s *Store) spareCounts() (n [slab.MaxClasses + 1]int) {
	for i := range s.shards {
		for j := range s.shards[i].spares {
			if v := s.shards[i].spares[j].Load(); v != 0 {
				n[v>>32]++
			}
		}
	}
	return n
}

// slabStats is the allocator's view of class cls with spare chunks counted
// as free, which they are: no item owns them.
func (s *Store) slabStats(cls int, spares *[slab.MaxClasses + 1]int) slab.ClassStats {
	cs := s.slab.ClassStats(cls)
	cs.UsedChunks -= spares[cls]
	cs.FreeChunks += spares[cls]
	return cs
}

// freeSpare returns spare chunk ref (state st) to the allocator if it is
// still a spare of its shard, as a page move needs; false means a store
// took it meanwhile.
func (s *Store) freeSpare(ref slab.Ref, st uint32) bool {
	sh, slot := s.shardOfState(st), spareSlot(s.classOf(ref), ref)
	for i := range sh.spares {
		if sh.spares[i].CompareAndSwap(slot, 0) {
			storeState(s.ptr(ref), lcFree)
			s.slab.Free(ref)
			return true
		}
	}
	return false
}
