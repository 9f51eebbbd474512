//go:build slabheap

package slab

import (
	"errors"
	"os"
)

// mapRegion returns n bytes of zeroed Go heap memory. This fallback exists
// for platforms without mmap and for the race detector, which watches Go
// heap memory but not foreign mappings.
func mapRegion(n int) ([]byte, error) {
	return make([]byte, n), nil
}

// reserveRegion is mapRegion: Go heap memory is usable at once.
func reserveRegion(n int) ([]byte, error) { return mapRegion(n) }

func commitRegion([]byte) error { return nil }

// reserveHuge is mapRegion: the Go heap has no huge page advice to give.
func reserveHuge(n int) (region, mem []byte, err error) {
	mem, err = mapRegion(n)
	return mem, mem, err
}

func mapFile(string, int, bool) (*os.File, []byte, bool, error) {
	return nil, nil, false, errors.New("slab: a memory file needs slab memory outside the Go heap (this build keeps it on the heap)")
}

func syncRegion([]byte) error { return nil }

func unmapRegion(b []byte) error { return nil }

func (a *Allocator) releasePage(p uint32) { clear(a.mem[int(p)*PageSize : int(p+1)*PageSize]) }

// OffHeap reports whether slab memory lives outside the Go heap.
const OffHeap = false
