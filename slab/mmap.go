//go:build !slabheap

package slab

import (
	"fmt"
	"os"
	"unsafe"

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

// reserveRegion maps n bytes of address space that cannot be used yet:
// commitRegion opens a part of it for reading and writing. Until then it
// costs neither memory nor, where the kernel counts committed memory
// strictly (vm.overcommit_memory=2), commit charge.
func reserveRegion(n int) ([]byte, error) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("slab: reserve %d bytes of address space: %w", n, err)
	}
	return b, nil
}

// commitRegion makes b, a page-aligned part of a reserved region, readable
// and writable. Its pages become resident only when written.
func commitRegion(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if err := unix.Mprotect(b, unix.PROT_READ|unix.PROT_WRITE); err != nil {
		return fmt.Errorf("slab: commit %d bytes: %w", len(b), err)
	}
	return nil
}

// hugePageSize is the size of a transparent huge page on the platforms
// slabcache runs on (x86-64 and arm64 with 4 KiB base pages).
const hugePageSize = 2 << 20

// reserveHuge is reserveRegion for memory that should be backed by
// transparent huge pages: it reserves n bytes more than asked, returns in
// mem the n bytes that start at a huge page boundary, and marks them
// MADV_HUGEPAGE (the mark stays on the parts commitRegion opens). region
// is the whole mapping, for unmapRegion. When the kernel refuses the
// advice (transparent huge pages not built in), mem is ordinary memory.
func reserveHuge(n int) (region, mem []byte, err error) {
	region, err = reserveRegion(n + hugePageSize)
	if err != nil {
		return nil, nil, err
	}
	off := 0
	if r := int(uintptr(unsafe.Pointer(unsafe.SliceData(region))) % hugePageSize); r != 0 {
		off = hugePageSize - r
	}
	mem = region[off : off+n : off+n]
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE)
	return region, mem, nil
}

// mapFile maps n bytes of the file at path, shared, so what is written
// stays in the file. The file is created if missing; unless reuse is set and
// its size is n, it is emptied first, so it reads as zeros. It reports
// whether the old contents were kept.
func mapFile(path string, n int, reuse bool) (*os.File, []byte, bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, false, fmt.Errorf("slab: memory file: %w", err)
	}
	kept := false
	if fi, err := f.Stat(); err == nil && reuse && fi.Size() == int64(n) {
		kept = true
	} else if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, nil, false, fmt.Errorf("slab: memory file: %w", err)
	}
	if !kept {
		if err := f.Truncate(int64(n)); err != nil {
			f.Close()
			return nil, nil, false, fmt.Errorf("slab: memory file: %w", err)
		}
	}
	b, err := unix.Mmap(int(f.Fd()), 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, nil, false, fmt.Errorf("slab: mmap memory file %s (%d bytes): %w", path, n, err)
	}
	return f, b, kept, nil
}

// syncRegion writes a file mapping's dirty pages back to its file.
func syncRegion(b []byte) error { return unix.Msync(b, unix.MS_SYNC) }

// unmapRegion releases a region returned by mapRegion or mapFile.
func unmapRegion(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return unix.Munmap(b)
}

// releasePage zeroes page p and tells the kernel its memory is no longer
// needed, so it stops counting as resident until it is written again. A
// page of a memory file is punched out of the file (which reads back as
// zeros); where the file system cannot do that, it is cleared.
func (a *Allocator) releasePage(p uint32) {
	b := a.mem[int(p)*PageSize : int(p+1)*PageSize]
	if a.file == nil {
		_ = unix.Madvise(b, unix.MADV_DONTNEED)
		return
	}
	err := unix.Fallocate(int(a.file.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(p)*PageSize, PageSize)
	if err != nil {
		clear(b)
	}
}

// OffHeap reports whether slab memory lives outside the Go heap.
const OffHeap = true
