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
// it appends the value's pieces to dst (one, or one per chunk of a large
// item) and returns them with a handle to pass to Unpin once done with
// them, which the caller must do soon: the memory cannot be reused
// meanwhile, whatever happens to the item, and a page move that wants it
// waits. ok is false when its shard already has numPins items pinned; the
// caller then copies the value while in Hit. Call Pin only from Hit.
func (it *Item) Pin(dst [][]byte) (pieces [][]byte, pn Pin, ok bool) {
	s := it.s
	if it.p == nil {
		return dst, Pin{}, false
	}
	sh, ref := s.shardOfState(it.st), s.slab.RefOf(unsafe.Pointer(it.p))
	free := -1
	for i := range sh.pins {
		switch sh.pins[i].ref {
		case ref:
			sh.pins[i].n++
			return s.valuePieces(dst, it), Pin{sh, ref}, true
		case 0:
			if free < 0 {
				free = i
			}
		}
	}
	if free < 0 {
		return dst, Pin{}, false
	}
	sh.pins[free] = pin{ref: ref, n: 1}
	sh.npins++
	return s.valuePieces(dst, it), Pin{sh, ref}, true
}

func (s *Store) valuePieces(dst [][]byte, it *Item) [][]byte {
	for i := 0; ; i++ {
		b, ok := s.valuePiece(it.p, it.st, i)
		if !ok {
			return dst
		}
		dst = append(dst, b)
	}
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

// pinnedLocked reports whether item ref of shard sh (locked) is pinned.
func (s *Store) pinnedLocked(sh *shard, ref slab.Ref) bool { return pinIndex(sh, ref) >= 0 }

// doomLocked is asked before the memory of item ref of shard sh (locked)
// is freed: if the item is pinned, its memory is freed at the last Unpin
// instead, and doomLocked returns true.
func (s *Store) doomLocked(sh *shard, ref slab.Ref) bool {
	i := pinIndex(sh, ref)
	if i >= 0 {
		sh.pins[i].doomed = true
	}
	return i >= 0
}

// pinIndex returns the index of item ref in the pins of sh (locked), or -1.
func pinIndex(sh *shard, ref slab.Ref) int {
	if sh.npins == 0 {
		return -1
	}
	for i := range sh.pins {
		if sh.pins[i].ref == ref {
			return i
		}
	}
	return -1
}
