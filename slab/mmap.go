//go:build !slabheap

package slab

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// mapRegion reserves n bytes of zeroed memory outside the Go heap. Pages of
// the mapping become resident only when written.
func mapRegion(n int) ([]byte, error) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("slab: mmap %d bytes: %w", n, err)
	}
	return b, nil
}

// unmapRegion releases a region returned by mapRegion.
func unmapRegion(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return unix.Munmap(b)
}

// releasePage tells the kernel the page's contents are no longer needed, so
// its memory stops counting as resident until it is written again.
func releasePage(b []byte) {
	_ = unix.Madvise(b, unix.MADV_DONTNEED)
}

// OffHeap reports whether slab memory lives outside the Go heap.
const OffHeap = true
