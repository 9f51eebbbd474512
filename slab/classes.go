package slab

import (
	"errors"
	"fmt"
)

// PageSize is the size of a slab page, as memcached's default slab_page_size.
const PageSize = 1 << 20

// MaxClasses bounds the number of size classes. Class ids run from 1 to
// NumClasses(); 0 means "no class" (the global page pool).
const MaxClasses = 63

// ChunkAlign is the alignment of chunk sizes (memcached's CHUNK_ALIGN_BYTES).
const ChunkAlign = 8

// MinChunkSize is the smallest chunk size a Config may ask for: a page holds
// at most 1<<idxBits chunks.
const MinChunkSize = PageSize >> idxBits

// MaxMemLimit is the largest MemLimit: page numbers use 32-idxBits bits of a Ref.
const MaxMemLimit = (1<<(32-idxBits) - 2) * PageSize

// Config sets the shape of an Allocator. Build it from DefaultConfig.
type Config struct {
	// MemLimit is the most memory, in bytes, that pages may take (-m).
	// It is rounded down to whole pages. Default 64 MiB. At least one page.
	MemLimit int64
	// MemReserve is the most SetLimit may raise the limit to, in bytes:
	// address space and page bookkeeping for that many bytes are reserved
	// at New (untouched, they cost no resident memory). 0 means MemLimit;
	// otherwise at least MemLimit and at most MaxMemLimit.
	MemReserve int64
	// MinChunk is the chunk size of the smallest class in bytes, memcached's
	// sizeof(item) + -n. Rounded up to ChunkAlign; at least MinChunkSize.
	// Default 96 (memcached's 48-byte item header plus -n 48).
	MinChunk int
	// Factor is the growth factor between classes (-f). Default 1.25;
	// must be greater than 1.
	Factor float64
	// Sizes, when set, are the chunk sizes of the classes before the last
	// (memcached's -o slab_sizes), in increasing order, instead of
	// MinChunk and Factor; each is rounded up to ChunkAlign, at least
	// MinChunkSize, under ChunkMax, and at most MaxClasses-1 of them.
	Sizes []int
	// ChunkMax is the chunk size of the largest class (slab_chunk_max), in
	// bytes. Default PageSize/2. At most PageSize; larger items are stitched
	// from chunks by the caller.
	ChunkMax int
	// MemoryFile, when set, holds the pages instead of anonymous memory
	// (memcached's -e): a file mapping, best on tmpfs such as /dev/shm, so
	// that a later process can map the same pages again (see Reopen). The
	// file is created if missing and sized to the reserve.
	MemoryFile string
	// Reuse keeps the contents of MemoryFile when its size is the one this
	// Config needs; otherwise (and always when false) the file starts
	// zeroed.
	Reuse bool
	// HugePages asks the kernel to back the pages with transparent huge
	// pages (the region is aligned to them and marked MADV_HUGEPAGE, as
	// memcached's -L does), so that item lookups miss the TLB less. Pages
	// still become resident only when used, lowest first, so at most one
	// huge page is partly used. Ignored with MemoryFile, and where the
	// kernel has transparent huge pages off.
	HugePages bool
}

// DefaultConfig returns memcached's defaults: -m 64, -f 1.25, a first class
// of 96 bytes, slab_chunk_max of half a page.
func DefaultConfig() Config {
	return Config{MemLimit: 64 << 20, MinChunk: 96, Factor: 1.25, ChunkMax: PageSize / 2}
}

// Errors returned by the allocator.
var (
	// ErrNoMemory: the class has no free chunk and no page can be added.
	ErrNoMemory = errors.New("slab: out of memory")
	// ErrBadConfig wraps configuration errors from New.
	ErrBadConfig = errors.New("slab: bad config")
)

func (c Config) validate() error {
	switch {
	case c.MemLimit < PageSize:
		return fmt.Errorf("%w: MemLimit %d is less than one page (%d bytes)", ErrBadConfig, c.MemLimit, PageSize)
	case c.MemLimit > MaxMemLimit:
		return fmt.Errorf("%w: MemLimit %d is over the maximum %d", ErrBadConfig, c.MemLimit, int64(MaxMemLimit))
	case c.MemReserve != 0 && (c.MemReserve < c.MemLimit || c.MemReserve > MaxMemLimit):
		return fmt.Errorf("%w: MemReserve %d must be between MemLimit %d and %d", ErrBadConfig, c.MemReserve, c.MemLimit, int64(MaxMemLimit))
	case c.MinChunk < MinChunkSize:
		return fmt.Errorf("%w: MinChunk %d is under %d", ErrBadConfig, c.MinChunk, MinChunkSize)
	case !(c.Factor > 1) || c.Factor > 100:
		return fmt.Errorf("%w: Factor %v must be in (1, 100]", ErrBadConfig, c.Factor)
	case c.ChunkMax > PageSize || c.ChunkMax < c.MinChunk:
		return fmt.Errorf("%w: ChunkMax %d must be between MinChunk %d and the page size %d", ErrBadConfig, c.ChunkMax, c.MinChunk, PageSize)
	case c.ChunkMax%ChunkAlign != 0:
		return fmt.Errorf("%w: ChunkMax %d is not a multiple of %d", ErrBadConfig, c.ChunkMax, ChunkAlign)
	case len(c.Sizes) > MaxClasses-1:
		return fmt.Errorf("%w: %d Sizes, at most %d", ErrBadConfig, len(c.Sizes), MaxClasses-1)
	}
	last := 0
	for _, s := range c.Sizes {
		if s < MinChunkSize || s <= last || s > c.ChunkMax {
			return fmt.Errorf("%w: Sizes %v must increase from at least %d to at most ChunkMax %d", ErrBadConfig, c.Sizes, MinChunkSize, c.ChunkMax)
		}
		last = s
	}
	return nil
}

// ClassSizes returns the chunk sizes memcached's slabs_init would build for
// cfg: index 0 is class 1. The first is MinChunk rounded up to 8, each next
// one the previous times Factor rounded up to 8, until a size reaches
// ChunkMax/Factor (or Sizes, each rounded up to 8); the last class is
// ChunkMax.
func ClassSizes(cfg Config) []int {
	var sizes []int
	if cfg.Sizes != nil {
		// As memcached's slabs_init with slab_sizes: each aligned, then
		// the largest class.
		for _, s := range cfg.Sizes {
			if s%ChunkAlign != 0 {
				s += ChunkAlign - s%ChunkAlign
			}
			sizes = append(sizes, s)
		}
		return append(sizes, cfg.ChunkMax)
	}
	size := float64(cfg.MinChunk)
	for len(sizes) < MaxClasses-1 {
		if size >= float64(cfg.ChunkMax)/cfg.Factor {
			break
		}
		s := int(size)
		if s%ChunkAlign != 0 {
			s += ChunkAlign - s%ChunkAlign
		}
		sizes = append(sizes, s)
		size = float64(s) * cfg.Factor
	}
	return append(sizes, cfg.ChunkMax)
}
