package slab

import (
	"fmt"
	"math/bits"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Ref names one chunk: (page+1)<<idxBits | chunk index. The zero Ref is
// "no chunk", so zeroed memory reads as empty links.
type Ref uint32

const (
	idxBits      = 15
	idxMask      = 1<<idxBits - 1
	wordsPerPage = (1 << idxBits) / 64
	noPage       = ^uint32(0)
)

// MakeRef builds the Ref of chunk idx of page.
func MakeRef(page uint32, idx uint32) Ref { return Ref((page+1)<<idxBits | idx) }

// Page returns the page number of r.
func (r Ref) Page() uint32 { return uint32(r)>>idxBits - 1 }

// Index returns the chunk index of r within its page.
func (r Ref) Index() uint32 { return uint32(r) & idxMask }

// page states
const (
	pageFree     = iota // in the global pool (or never handed out)
	pageActive          // owned by a class, may serve allocations
	pageDraining        // owned by a class, emptied for a move: no new allocations
)

// pageMeta is the bookkeeping of one page. It holds no pointers.
type pageMeta struct {
	state   uint8
	inAvail bool   // on its class's list of pages with free chunks
	used    uint32 // allocated chunks
	hint    uint32 // first bitmap word that may have a zero bit
	prev    uint32 // avail list links (page numbers, noPage for none)
	next    uint32
}

// class is one size class. Fields after mu are guarded by mu.
type class struct {
	mu      sync.Mutex
	size    uint32 // chunk size in bytes
	perPage uint32 // chunks per page
	pages   []uint32
	avail   uint32        // head of the list of pages with free chunks
	used    uint64        // allocated chunks
	allocs  uint64        // successful allocations, ever
	fails   atomic.Uint64 // allocations that found no memory
	// fullAt is poolGen+1 as it was when an allocation last found the
	// class without a free chunk and no page to add, or 0 once a chunk or
	// page came back: while it matches, Alloc fails without a lock (a
	// full store's evicting stores ask on every set).
	fullAt atomic.Uint64
	_      [64]byte
}

// Allocator hands out chunks of slab pages. Create it with New.
type Allocator struct {
	cfg      Config
	mem      []byte   // the whole region: maxPages pages (MemReserve)
	region   []byte   // the mapping mem is in (larger when aligned for huge pages)
	file     *os.File // the memory file mapped as mem, or nil
	kept     bool     // mem holds the memory file's previous contents
	base     unsafe.Pointer
	maxPages uint32
	nclasses int

	pages []pageMeta // guarded by the owning class's mu (global mu while free)
	// bitmap holds wordsPerPage words per page, guarded like pages. It is
	// mapped like the pages themselves, off the Go heap, so only the words
	// of pages in use are resident (for the 128 GiB reserve, 256 MiB of
	// words would otherwise sit on the heap).
	bitmap    []uint64
	bitmapMem []byte
	metaMem   []byte // the mapping pages and pageClass live in
	// class of each page (0: none), written under the class and global
	// locks and read atomically anywhere: Pointer and PageClass need it
	// without a lock.
	pageClass []uint32

	// size and perPage of each page's class, readable without a lock by a
	// holder of a Ref in the page (see Pointer). Index 0 unused.
	sizes   [MaxClasses + 1]uint32
	classes [MaxClasses + 1]class

	gmu   sync.Mutex
	limit uint32 // pages classes may hold together (cache_memlimit); at most maxPages
	grown uint32 // pages carved from the region so far
	// committed is how many pages of the region (and their bitmap words)
	// are open for use; the rest of the reserve is address space only, so
	// that cache_memlimit can raise the limit far above -m for free.
	committed uint32
	pool      []uint32 // free pages returned by page moves
	moved     uint64   // pages moved between classes (slabs_moved)
	// poolGen counts the times pages became free for any class (a page
	// back in the pool, a raised limit); changed under gmu (class.fullAt).
	poolGen atomic.Uint64
}

// New maps the region and builds the classes. Close releases the region.
func New(cfg Config) (*Allocator, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.MinChunk = alignUp(cfg.MinChunk)
	limit := uint32(cfg.MemLimit / PageSize)
	maxPages := max(limit, uint32(cfg.MemReserve/PageSize))
	var (
		mem    []byte
		region []byte // what to unmap: mem, or a larger mapping mem is aligned in
		file   *os.File
		kept   bool
		err    error
	)
	if cfg.MemoryFile != "" {
		file, mem, kept, err = mapFile(cfg.MemoryFile, int(maxPages)*PageSize, cfg.Reuse)
	} else {
		// Where address space is limited (ulimit -v), settle for less
		// reserve, halving down to the limit and a first page per class:
		// cache_memlimit can then raise the limit less far.
		floor := min(maxPages, limit+MaxClasses)
		for {
			if cfg.HugePages {
				region, mem, err = reserveHuge(int(maxPages) * PageSize)
			} else {
				mem, err = reserveRegion(int(maxPages) * PageSize)
			}
			if err == nil || maxPages <= floor {
				break
			}
			maxPages = max(floor, maxPages/2)
		}
	}
	if err != nil {
		return nil, err
	}
	if region == nil {
		region = mem
	}
	a := &Allocator{
		cfg:      cfg,
		mem:      mem,
		region:   region,
		file:     file,
		kept:     kept,
		base:     unsafe.Pointer(unsafe.SliceData(mem)),
		maxPages: maxPages,
		limit:    limit,
	}
	if err := a.mapBookkeeping(); err != nil {
		a.Close()
		return nil, err
	}
	sizes := ClassSizes(cfg)
	a.nclasses = len(sizes)
	for i, s := range sizes {
		c := &a.classes[i+1]
		c.size = uint32(s)
		c.perPage = uint32(PageSize / s)
		c.avail = noPage
		a.sizes[i+1] = uint32(s)
	}
	return a, nil
}

func alignUp(n int) int {
	if r := n % ChunkAlign; r != 0 {
		n += ChunkAlign - r
	}
	return n
}

// Close unmaps the region (and closes the memory file). No Ref may be used
// afterwards.
func (a *Allocator) Close() error {
	m, b, pm := a.region, a.bitmapMem, a.metaMem
	a.mem, a.region, a.bitmapMem, a.bitmap = nil, nil, nil, nil
	a.metaMem, a.pages, a.pageClass = nil, nil, nil
	unmapRegion(b)
	unmapRegion(pm)
	err := unmapRegion(m)
	if a.file != nil {
		if cerr := a.file.Close(); err == nil {
			err = cerr
		}
		a.file = nil
	}
	return err
}

// NumClasses returns the number of classes; ids run from 1 to NumClasses.
func (a *Allocator) NumClasses() int { return a.nclasses }

// SetLimit changes how many bytes of pages the classes may hold together
// (memcached's cache_memlimit), rounded down to whole pages. It may lower the
// limit below what is in use (classes then get no new pages until pages are
// freed) or raise it up to MemReserve (MemLimit when that is 0), never
// beyond: the region is reserved at New. It reports false when n is out of
// that range.
func (a *Allocator) SetLimit(n int64) bool {
	pages := n / PageSize
	if pages < 1 || pages > int64(a.maxPages) {
		return false
	}
	a.gmu.Lock()
	a.limit = uint32(pages)
	a.poolGen.Add(1) // a raised limit gives full classes pages again
	a.gmu.Unlock()
	return true
}

// LimitReached reports whether the pages carved so far reach the limit,
// counting the global pool's (memcached's mem_malloced >= mem_limit,
// which its automover needs before it gives free pages back to the pool).
func (a *Allocator) LimitReached() bool {
	a.gmu.Lock()
	defer a.gmu.Unlock()
	return a.grown >= a.limit
}

// MaxPages returns MemLimit in pages.
func (a *Allocator) MaxPages() int { return int(a.maxPages) }

// ChunkSize returns the chunk size of class cls.
func (a *Allocator) ChunkSize(cls int) int { return int(a.sizes[cls]) }

// ChunksPerPage returns how many chunks of class cls a page holds.
func (a *Allocator) ChunksPerPage(cls int) int { return int(a.classes[cls].perPage) }

// ClassFor returns the smallest class whose chunks hold n bytes, or 0 if n
// is over ChunkMax.
func (a *Allocator) ClassFor(n int) int {
	if n > int(a.sizes[a.nclasses]) {
		return 0
	}
	// Binary search over the increasing sizes.
	lo, hi := 1, a.nclasses
	for lo < hi {
		mid := (lo + hi) / 2
		if int(a.sizes[mid]) >= n {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// PageClass returns the class that owns page p (0 when the page is in the
// pool). Call it with the class lock not held; the answer may be stale.
func (a *Allocator) PageClass(p uint32) int {
	return int(a.classOfPage(p))
}

func (a *Allocator) classOfPage(p uint32) uint8 {
	return uint8(atomic.LoadUint32(&a.pageClass[p]))
}

func (a *Allocator) setPageClass(p uint32, cls int) {
	atomic.StoreUint32(&a.pageClass[p], uint32(cls))
}

// Pointer returns the address of chunk r. The caller must own r (it was
// returned by Alloc and not yet freed) or otherwise know the page cannot
// change class.
func (a *Allocator) Pointer(r Ref) unsafe.Pointer {
	p := r.Page()
	size := a.sizes[a.classOfPage(p)]
	return unsafe.Add(a.base, uintptr(p)*PageSize+uintptr(r.Index())*uintptr(size))
}

// RefOf returns the Ref of the chunk that starts at ptr, as Pointer
// returned it, with the same condition: the caller owns the chunk.
func (a *Allocator) RefOf(ptr unsafe.Pointer) Ref {
	off := uintptr(ptr) - uintptr(a.base)
	p := uint32(off / PageSize)
	size := a.sizes[a.classOfPage(p)]
	return MakeRef(p, uint32(off%PageSize/uintptr(size)))
}

// Bytes returns the memory of chunk r as a slice (no allocation).
func (a *Allocator) Bytes(r Ref) []byte {
	p := r.Page()
	size := a.sizes[a.classOfPage(p)]
	off := uintptr(p)*PageSize + uintptr(r.Index())*uintptr(size)
	return unsafe.Slice((*byte)(unsafe.Add(a.base, off)), size)
}

// Alloc returns a chunk of class cls, adding a page from the pool or the
// unused part of MemLimit when the class is full. It returns ErrNoMemory
// when neither has a page; the caller then evicts and frees, and tries
// again. The chunk's contents are whatever its last owner left.
func (a *Allocator) Alloc(cls int) (Ref, error) {
	return a.alloc(cls, true)
}

// AllocNoGrow is Alloc without adding a page: it only reuses free chunks
// the class already has (used to rescue items off a page being moved).
func (a *Allocator) AllocNoGrow(cls int) (Ref, error) {
	return a.alloc(cls, false)
}

func (a *Allocator) alloc(cls int, grow bool) (Ref, error) {
	c := &a.classes[cls]
	if f := c.fullAt.Load(); f != 0 && f == a.poolGen.Load()+1 {
		c.fails.Add(1)
		return 0, ErrNoMemory
	}
	c.mu.Lock()
	if c.avail == noPage {
		// Read before looking for a page: a page that comes back to the
		// pool after this advances poolGen, and fullAt no longer matches.
		gen := a.poolGen.Load()
		if !grow || !a.addPageLocked(cls, c) {
			if grow {
				c.fullAt.Store(gen + 1)
			}
			c.fails.Add(1)
			c.mu.Unlock()
			return 0, ErrNoMemory
		}
	}
	p := c.avail
	pm := &a.pages[p]
	words := a.bitmap[int(p)*wordsPerPage : int(p)*wordsPerPage+wordsPerPage]
	for w := pm.hint; ; w++ {
		if words[w] == ^uint64(0) {
			continue
		}
		b := uint32(bits.TrailingZeros64(^words[w]))
		idx := w*64 + b
		if idx >= c.perPage {
			panic(fmt.Sprintf("slab: page %d of class %d on the free list but full (used %d of %d)", p, cls, pm.used, c.perPage))
		}
		words[w] |= 1 << b
		pm.hint = w
		pm.used++
		c.used++
		c.allocs++
		if pm.used == c.perPage {
			a.availRemoveLocked(c, p)
		}
		c.mu.Unlock()
		return MakeRef(p, idx), nil
	}
}

// addPageLocked gives class cls a page from the pool or the unused region.
// c.mu is held; takes the global lock.
func (a *Allocator) addPageLocked(cls int, c *class) bool {
	a.gmu.Lock()
	var p uint32
	switch {
	case a.grown-uint32(len(a.pool)) >= a.limit && len(c.pages) > 0:
		// At the limit (or over one lowered by cache_memlimit): no more
		// pages. As in memcached, a class that holds no page still gets
		// its first one, from the pool or beyond the limit, so a store
		// into a class never used before can succeed by evicting later.
		a.gmu.Unlock()
		return false
	case len(a.pool) > 0:
		p = a.pool[len(a.pool)-1]
		a.pool = a.pool[:len(a.pool)-1]
	case a.grown < a.maxPages && a.commitLocked(a.grown+1) == nil:
		p = a.grown
		a.grown++
	default:
		a.gmu.Unlock()
		return false
	}
	pm := &a.pages[p]
	a.setPageClass(p, cls)
	pm.state = pageActive
	pm.used = 0
	pm.hint = 0
	a.gmu.Unlock()
	c.pages = append(c.pages, p)
	a.availPushLocked(c, p)
	return true
}

// mapBookkeeping maps the page bitmaps and page records for the whole
// reserve, off the Go heap (only the entries of pages in use become
// resident), and opens what the limit allows, and a first page for each
// class beyond it.
func (a *Allocator) mapBookkeeping() error {
	n := int(a.maxPages)
	var err error
	if a.bitmapMem, err = reserveRegion(n * wordsPerPage * 8); err != nil {
		return err
	}
	a.bitmap = unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(a.bitmapMem))), n*wordsPerPage)
	metaSize := int(unsafe.Sizeof(pageMeta{}))
	if a.metaMem, err = mapRegion(n * (metaSize + 4)); err != nil {
		return err
	}
	base := unsafe.Pointer(unsafe.SliceData(a.metaMem))
	a.pages = unsafe.Slice((*pageMeta)(base), n)
	a.pageClass = unsafe.Slice((*uint32)(unsafe.Add(base, n*metaSize)), n)
	if a.file != nil {
		// A file mapping is usable whole; its bitmap is opened with it.
		if err := commitRegion(a.bitmapMem); err != nil {
			return err
		}
		a.committed = a.maxPages
	}
	return a.commitLocked(min(a.maxPages, a.limit+MaxClasses))
}

// commitStep is how many pages commitLocked opens at a time beyond what is
// needed (a multiple of two, so bitmap commits start on an OS page).
const commitStep = 64

// commitLocked opens the region (and its bitmap) up to at least page n,
// in steps of commitStep pages. a.gmu is held, or a is not shared yet.
func (a *Allocator) commitLocked(n uint32) error {
	if n <= a.committed {
		return nil
	}
	to := min(a.maxPages, (n+commitStep-1)/commitStep*commitStep)
	from := a.committed
	if err := commitRegion(a.mem[int(from)*PageSize : int(to)*PageSize]); err != nil {
		return err
	}
	const wordBytes = wordsPerPage * 8
	if err := commitRegion(a.bitmapMem[int(from)*wordBytes : int(to)*wordBytes]); err != nil {
		return err
	}
	a.committed = to
	return nil
}

// CarvedPages returns how many pages of the region have ever been given to
// a class: page numbers at or past it are unused (walks can stop there).
func (a *Allocator) CarvedPages() int {
	a.gmu.Lock()
	defer a.gmu.Unlock()
	return int(a.grown)
}

// Free returns chunk r to its class. Freeing a chunk twice panics.
func (a *Allocator) Free(r Ref) {
	p := r.Page()
	cls := a.classOfPage(p)
	c := &a.classes[cls]
	c.mu.Lock()
	a.freeLocked(c, r)
	c.mu.Unlock()
}

func (a *Allocator) freeLocked(c *class, r Ref) {
	p, idx := r.Page(), r.Index()
	w := int(p)*wordsPerPage + int(idx/64)
	bit := uint64(1) << (idx % 64)
	if a.bitmap[w]&bit == 0 {
		panic(fmt.Sprintf("slab: double free of chunk %d of page %d", idx, p))
	}
	a.bitmap[w] &^= bit
	pm := &a.pages[p]
	pm.used--
	c.used--
	if idx/64 < pm.hint {
		pm.hint = idx / 64
	}
	if pm.state == pageActive && !pm.inAvail {
		a.availPushLocked(c, p)
	}
}

func (a *Allocator) availPushLocked(c *class, p uint32) {
	c.fullAt.Store(0)
	pm := &a.pages[p]
	pm.inAvail = true
	pm.prev = noPage
	pm.next = c.avail
	if c.avail != noPage {
		a.pages[c.avail].prev = p
	}
	c.avail = p
}

func (a *Allocator) availRemoveLocked(c *class, p uint32) {
	pm := &a.pages[p]
	if !pm.inAvail {
		return
	}
	if pm.prev != noPage {
		a.pages[pm.prev].next = pm.next
	} else {
		c.avail = pm.next
	}
	if pm.next != noPage {
		a.pages[pm.next].prev = pm.prev
	}
	pm.inAvail = false
	pm.prev, pm.next = noPage, noPage
}
