//go:build slabheap

package slab

// mapRegion returns n bytes of zeroed Go heap memory. This fallback exists
// for platforms without mmap and for the race detector, which watches Go
// heap memory but not foreign mappings.
func mapRegion(n int) ([]byte, error) {
	return make([]byte, n), nil
}

func unmapRegion(b []byte) error { return nil }

func releasePage(b []byte) { clear(b) }

// OffHeap reports whether slab memory lives outside the Go heap.
const OffHeap = false
