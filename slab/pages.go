package slab

import "math"

// A page move (memcached's slab_reassign) empties one page of a source
// class and hands it to a destination class or to the global pool. The
// allocator cannot empty a page itself, since it does not know what lives in
// the chunks; the caller drives it:
//
//	p, ok := a.StartDrain(src)       // p stops serving allocations
//	for each allocated chunk of p (ChunkRefs) { move or evict it, Free it }
//	a.FinishDrain(p, dst)            // ok once p has no allocated chunk
//
// or AbortDrain(p) to give up and let p serve allocations again.

// StartDrain picks the page of class src with the fewest allocated chunks,
// takes it off the allocation path, and returns it. ok is false when the
// class has no page or only pages that are already draining.
func (a *Allocator) StartDrain(src int) (page uint32, ok bool) {
	c := &a.classes[src]
	c.mu.Lock()
	defer c.mu.Unlock()
	best, bestUsed := noPage, uint32(math.MaxUint32)
	for _, p := range c.pages {
		pm := &a.pages[p]
		if pm.state == pageActive && pm.used < bestUsed {
			best, bestUsed = p, pm.used
		}
	}
	if best == noPage {
		return 0, false
	}
	a.availRemoveLocked(c, best)
	a.pages[best].state = pageDraining
	return best, true
}

// ChunkRefs appends to dst the Refs of the allocated chunks of page p whose
// index is in [from, from+max), and returns the next index to look at (the
// number of chunks in the page when done; from itself if no class owns the
// page). It holds the class lock only while it reads the bitmap.
func (a *Allocator) ChunkRefs(p uint32, from, max int, dst []Ref) ([]Ref, int) {
	c := a.lockPageClass(p)
	if c == nil {
		return dst, from
	}
	defer c.mu.Unlock()
	n := int(c.perPage)
	end := from + max
	if end > n {
		end = n
	}
	base := int(p) * wordsPerPage
	for i := from; i < end; {
		w := a.bitmap[base+i/64] >> (i % 64)
		if w == 0 {
			i += 64 - i%64
			continue
		}
		if w&1 != 0 {
			dst = append(dst, MakeRef(p, uint32(i)))
		}
		i++
	}
	return dst, end
}

// lockPageClass locks and returns the class that owns page p, or returns
// nil if no class does. A page may join a class at any time, so the class
// is checked again once its lock is held.
func (a *Allocator) lockPageClass(p uint32) *class {
	for {
		cls := a.classOfPage(p)
		if cls == 0 {
			return nil
		}
		c := &a.classes[cls]
		c.mu.Lock()
		if a.classOfPage(p) == cls {
			return c
		}
		c.mu.Unlock()
	}
}

// PageUsed returns the number of allocated chunks in page p.
func (a *Allocator) PageUsed(p uint32) int {
	c := a.lockPageClass(p)
	if c == nil {
		return 0
	}
	defer c.mu.Unlock()
	return int(a.pages[p].used)
}

// FinishDrain completes a page move: if page p has no allocated chunk, it
// leaves its class, its memory is zeroed (and given back to the OS until
// written again), and it goes to class dst, or to the global pool when dst
// is 0; FinishDrain returns true. Otherwise nothing changes and it returns
// false.
func (a *Allocator) FinishDrain(p uint32, dst int) bool {
	src := int(a.classOfPage(p))
	c := &a.classes[src]
	c.mu.Lock()
	pm := &a.pages[p]
	if pm.state != pageDraining || pm.used != 0 {
		c.mu.Unlock()
		return false
	}
	for i, q := range c.pages {
		if q == p {
			c.pages[i] = c.pages[len(c.pages)-1]
			c.pages = c.pages[:len(c.pages)-1]
			break
		}
	}
	// A class left without pages gets its first one even at the limit
	// (addPageLocked): let its next allocation look again.
	c.fullAt.Store(0)
	a.gmu.Lock()
	a.setPageClass(p, 0)
	pm.state = pageFree
	pm.hint = 0
	a.moved++
	// A moved page starts zeroed, as memcached clears it: stale bytes of
	// the old class's chunks must not look like live data in the new one.
	a.releasePage(p)
	if dst == 0 {
		a.pool = append(a.pool, p)
		a.poolGen.Add(1) // a full class may take it now
	}
	a.gmu.Unlock()
	c.mu.Unlock()
	if dst == 0 {
		return true
	}
	d := &a.classes[dst]
	d.mu.Lock()
	a.gmu.Lock()
	a.setPageClass(p, dst)
	pm.state = pageActive
	pm.used = 0
	a.gmu.Unlock()
	d.pages = append(d.pages, p)
	a.availPushLocked(d, p)
	d.mu.Unlock()
	return true
}

// GrantPoolPage moves one page of the global pool to class dst (`slabs
// reassign 0 <dst>`). It returns false when the pool is empty.
func (a *Allocator) GrantPoolPage(dst int) bool {
	d := &a.classes[dst]
	d.mu.Lock()
	defer d.mu.Unlock()
	a.gmu.Lock()
	if len(a.pool) == 0 {
		a.gmu.Unlock()
		return false
	}
	p := a.pool[len(a.pool)-1]
	a.pool = a.pool[:len(a.pool)-1]
	a.setPageClass(p, dst)
	pm := &a.pages[p]
	pm.state = pageActive
	pm.used = 0
	pm.hint = 0
	a.moved++
	a.gmu.Unlock()
	d.pages = append(d.pages, p)
	a.availPushLocked(d, p)
	return true
}

// AbortDrain returns a draining page to normal service in its class.
func (a *Allocator) AbortDrain(p uint32) {
	c := &a.classes[a.classOfPage(p)]
	c.mu.Lock()
	defer c.mu.Unlock()
	pm := &a.pages[p]
	if pm.state != pageDraining {
		return
	}
	pm.state = pageActive
	if pm.used < c.perPage {
		a.availPushLocked(c, p)
	}
}

// ClassStats is the state of one class, as `stats slabs` prints it.
type ClassStats struct {
	ChunkSize     int    // chunk_size
	ChunksPerPage int    // chunks_per_page
	TotalPages    int    // total_pages
	TotalChunks   int    // total_chunks
	UsedChunks    int    // used_chunks
	FreeChunks    int    // free_chunks
	Draining      int    // pages being emptied for a move
	Allocs        uint64 // successful allocations, ever
	Fails         uint64 // allocations that found no memory, ever
}

// ClassStats returns the counters of class cls.
func (a *Allocator) ClassStats(cls int) ClassStats {
	c := &a.classes[cls]
	c.mu.Lock()
	defer c.mu.Unlock()
	s := ClassStats{
		ChunkSize:     int(c.size),
		ChunksPerPage: int(c.perPage),
		TotalPages:    len(c.pages),
		UsedChunks:    int(c.used),
		Allocs:        c.allocs,
		Fails:         c.fails.Load(),
	}
	for _, p := range c.pages {
		if a.pages[p].state == pageDraining {
			s.Draining++
		}
	}
	s.TotalChunks = s.TotalPages * s.ChunksPerPage
	s.FreeChunks = s.TotalChunks - s.UsedChunks
	return s
}

// Stats is the allocator's global state.
type Stats struct {
	// TotalMalloced is total_malloced: bytes of pages in classes, plus
	// pooled pages while the total stays within the limit. Pooled pages
	// beyond the limit count as given back, as memcached frees them (their
	// memory is returned to the system either way).
	TotalMalloced int64
	LimitMaxbytes int64  // MemLimit in whole pages (limit_maxbytes)
	PoolPages     int    // pages in the global pool (slab_global_page_pool)
	PagesMoved    uint64 // pages moved (slabs_moved)
	ActiveClasses int    // classes with at least one page (active_slabs)
}

// Stats returns the global counters.
func (a *Allocator) Stats() Stats {
	a.gmu.Lock()
	inClasses := int(a.grown) - len(a.pool)
	pooled := min(len(a.pool), max(0, int(a.limit)-inClasses))
	s := Stats{
		TotalMalloced: int64(inClasses+pooled) * PageSize,
		LimitMaxbytes: int64(a.limit) * PageSize,
		PoolPages:     len(a.pool),
		PagesMoved:    a.moved,
	}
	a.gmu.Unlock()
	for cls := 1; cls <= a.nclasses; cls++ {
		c := &a.classes[cls]
		c.mu.Lock()
		if len(c.pages) > 0 {
			s.ActiveClasses++
		}
		c.mu.Unlock()
	}
	return s
}

// FreePagesLeft returns how many pages can still be added to classes: the
// pool plus the never-used part of MemLimit.
func (a *Allocator) FreePagesLeft() int {
	a.gmu.Lock()
	defer a.gmu.Unlock()
	left := int(a.limit) - (int(a.grown) - len(a.pool))
	return max(0, min(left, len(a.pool)+int(a.maxPages-a.grown)))
}

// MapBytes returns n zeroed bytes outside the Go heap (with the slabheap
// tag, on it), for callers that keep large pointer-free tables such as a
// hash index. Release them with UnmapBytes.
func MapBytes(n int) ([]byte, error) { return mapRegion(n) }

// UnmapBytes releases memory from MapBytes.
func UnmapBytes(b []byte) error { return unmapRegion(b) }
