package slab

import (
	"errors"
	"fmt"
)

// A warm restart (memcached's -e) maps the same memory file in a new
// process. The chunks' contents survive in the file; which page belongs to
// which class is saved by the caller from Layout at a clean stop and given
// back to Reopen; which chunks are allocated is rebuilt by the caller, who
// walks its items and Claims every chunk it still uses. Chunks nobody
// claims are free.
//
//	a, _ := New(cfg)                // cfg.MemoryFile, cfg.Reuse
//	if a.Kept() { a.Reopen(layout); for each live chunk { a.Claim(ref, n) } }

// Layout is the page ownership a reopened allocator needs.
type Layout struct {
	// Classes holds the class of each page carved so far (0: in the pool).
	Classes []uint8
}

// Kept reports whether New mapped a memory file whose previous contents it
// kept (Config.Reuse and a file of the right size).
func (a *Allocator) Kept() bool { return a.kept }

// Sync writes the memory file's pages back to the file (a no-op without
// one). Call it before saving the Layout at a clean stop.
func (a *Allocator) Sync() error {
	if a.file == nil {
		return nil
	}
	return syncRegion(a.mem)
}

// Layout returns the page ownership of every page carved so far. Call it
// when nothing allocates or frees any more.
func (a *Allocator) Layout() Layout {
	a.gmu.Lock()
	defer a.gmu.Unlock()
	l := Layout{Classes: make([]uint8, a.grown)}
	for p := range l.Classes {
		l.Classes[p] = a.classOfPage(uint32(p))
	}
	return l
}

// ErrLayout reports a Layout that does not fit the allocator.
var ErrLayout = errors.New("slab: saved page layout does not fit")

// Reopen gives pages back to their classes as l says, with every chunk
// free; then Claim each chunk in use. It must be called once, on a new
// allocator that has handed out nothing.
func (a *Allocator) Reopen(l Layout) error {
	if len(l.Classes) > int(a.maxPages) {
		return fmt.Errorf("%w: %d pages, the memory file holds %d", ErrLayout, len(l.Classes), a.maxPages)
	}
	for p, cls := range l.Classes {
		if int(cls) > a.nclasses {
			return fmt.Errorf("%w: page %d in class %d of %d", ErrLayout, p, cls, a.nclasses)
		}
	}
	a.gmu.Lock()
	if a.grown != 0 {
		a.gmu.Unlock()
		return fmt.Errorf("%w: the allocator is in use", ErrLayout)
	}
	a.grown = uint32(len(l.Classes))
	for p := len(l.Classes) - 1; p >= 0; p-- {
		if l.Classes[p] == 0 {
			a.pool = append(a.pool, uint32(p))
		}
	}
	a.gmu.Unlock()
	for p, cls := range l.Classes {
		if cls == 0 {
			continue
		}
		c := &a.classes[cls]
		c.mu.Lock()
		a.gmu.Lock()
		a.setPageClass(uint32(p), int(cls))
		pm := &a.pages[p]
		pm.state, pm.used, pm.hint = pageActive, 0, 0
		a.gmu.Unlock()
		c.pages = append(c.pages, uint32(p))
		a.availPushLocked(c, uint32(p))
		clear(a.bitmap[p*wordsPerPage : (p+1)*wordsPerPage])
		c.mu.Unlock()
	}
	return nil
}

// Claim marks chunk r allocated again after Reopen, for an owner that uses n
// bytes of it. It fails for a chunk outside every class's pages, one whose
// class is smaller than n or one claimed already: the caller's saved state
// is then not to be trusted.
func (a *Allocator) Claim(r Ref, n int) error {
	p, idx := r.Page(), r.Index()
	if r == 0 || p >= a.maxPages {
		return fmt.Errorf("%w: chunk %#x is outside memory", ErrLayout, uint32(r))
	}
	cls := a.classOfPage(p)
	if cls == 0 {
		return fmt.Errorf("%w: chunk %#x is in a page no class holds", ErrLayout, uint32(r))
	}
	c := &a.classes[cls]
	c.mu.Lock()
	defer c.mu.Unlock()
	if idx >= c.perPage || n > int(c.size) || n < 0 {
		return fmt.Errorf("%w: chunk %#x (%d bytes) does not fit class %d", ErrLayout, uint32(r), n, cls)
	}
	w := int(p)*wordsPerPage + int(idx/64)
	bit := uint64(1) << (idx % 64)
	if a.bitmap[w]&bit != 0 {
		return fmt.Errorf("%w: chunk %#x claimed twice", ErrLayout, uint32(r))
	}
	a.bitmap[w] |= bit
	pm := &a.pages[p]
	pm.used++
	c.used++
	if pm.used == c.perPage {
		a.availRemoveLocked(c, p)
	}
	return nil
}
