package lru

import (
	"unsafe"

	"github.com/slabcache/slabcache/slab"
)

// numPins is how many items of one shard can be pinned at once.
const numPins = 4

// Pin is a pinned item's handle for Unpin.
type Pin struct {
	sh  *shard
	ref slab.Ref
}

// pin is one pinned item of a shard (guarded by the shard's mu).
type pin struct {
	ref    slab.Ref
	n      uint16 // pins held
	doomed bool   // the item is gone: free its memory at the last Unpin
}

// Pin keeps the item's memory as it is after the Hit call returns, so the
// caller can write the value out from slab memory instead of copying it:
// it returns the value and a handle to pass to Unpin once done with it,
// which the caller must do soon (the memory cannot be reused meanwhile,
// whatever happens to the item). ok is false when the item cannot be
// pinned (a large item kept in several chunks, or too many pins in its
// shard); the caller then copies the value while in Hit. Call Pin only
// from Hit.
func (it *Item) Pin() (value []byte, pn Pin, ok bool) {
	s := it.s
	if it.p == nil || it.st&stChunked != 0 {
		return nil, Pin{}, false
	}
	sh, ref := s.shardOfState(it.st), s.slab.RefOf(unsafe.Pointer(it.p))
	free := -1
	for i := range sh.pins {
		switch sh.pins[i].ref {
		case ref:
			sh.pins[i].n++
			return s.pinnedValue(it), Pin{sh, ref}, true
		case 0:
			if free < 0 {
				free = i
			}
		}
	}
	if free < 0 {
		return nil, Pin{}, false
	}
	sh.pins[free] = pin{ref: ref, n: 1}
	sh.npins++
	return s.pinnedValue(it), Pin{sh, ref}, true
}

func (s *Store) pinnedValue(it *Item) []byte {
	return bytesAt(it.p, s.lay.valOff(it.p, it.st), getSmallVlen(it.p))
}

// Unpin releases what Pin kept: if the item was replaced, deleted, evicted
// or moved meanwhile, its memory is freed now.
func (s *Store) Unpin(pn Pin) {
	sh := pn.sh
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for i := range sh.pins {
		pi := &sh.pins[i]
		if pi.ref != pn.ref {
			continue
		}
		if pi.n--; pi.n > 0 {
			return
		}
		if pi.doomed {
			s.freeItem(pi.ref, s.ptr(pi.ref))
		}
		*pi = pin{}
		sh.npins--
		return
	}
	panic("lru: Unpin of an item that is not pinned")
}

// doomLocked is asked before the memory of item ref of shard sh (locked)
// is freed: if the item is pinned, its memory is freed at the last Unpin
// instead, and doomLocked returns true.
func (s *Store) doomLocked(sh *shard, ref slab.Ref) bool {
	if sh.npins == 0 {
		return false
	}
	for i := range sh.pins {
		if sh.pins[i].ref == ref {
			sh.pins[i].doomed = true
			return true
		}
	}
	return false
}
