package slab

import "fmt"

// Check verifies the page and chunk accounting: every page is in exactly
// one place (a class or the pool or unused), each page's used count matches
// its bitmap, each class's used count is the sum over its pages, and the
// avail lists hold exactly the active pages with free chunks. It locks every
// class in turn; use it in tests and under invariants.Enabled.
func (a *Allocator) Check() error {
	a.gmu.Lock()
	grown := a.grown
	seen := make([]int, a.maxPages)
	for _, p := range a.pool {
		seen[p]++
		if a.classOfPage(p) != 0 {
			a.gmu.Unlock()
			return fmt.Errorf("slab: pool page %d has class %d", p, a.classOfPage(p))
		}
	}
	a.gmu.Unlock()
	for cls := 1; cls <= a.nclasses; cls++ {
		c := &a.classes[cls]
		c.mu.Lock()
		var used uint64
		inAvail := map[uint32]bool{}
		for p := c.avail; p != noPage; p = a.pages[p].next {
			if inAvail[p] {
				c.mu.Unlock()
				return fmt.Errorf("slab: class %d avail list loops at page %d", cls, p)
			}
			inAvail[p] = true
		}
		for _, p := range c.pages {
			seen[p]++
			pm := &a.pages[p]
			if int(a.classOfPage(p)) != cls {
				c.mu.Unlock()
				return fmt.Errorf("slab: page %d listed in class %d but marked class %d", p, cls, a.classOfPage(p))
			}
			var n uint32
			for i := 0; i < wordsPerPage; i++ {
				w := a.bitmap[int(p)*wordsPerPage+i]
				for b := 0; b < 64; b++ {
					if w&(1<<b) != 0 {
						if uint32(i*64+b) >= c.perPage {
							c.mu.Unlock()
							return fmt.Errorf("slab: page %d has chunk %d allocated past %d", p, i*64+b, c.perPage)
						}
						n++
					}
				}
			}
			if n != pm.used {
				c.mu.Unlock()
				return fmt.Errorf("slab: page %d bitmap has %d chunks, used says %d", p, n, pm.used)
			}
			used += uint64(n)
			wantAvail := pm.state == pageActive && pm.used < c.perPage
			if wantAvail != inAvail[p] || wantAvail != pm.inAvail {
				c.mu.Unlock()
				return fmt.Errorf("slab: page %d (state %d, used %d/%d) avail=%v listed=%v", p, pm.state, pm.used, c.perPage, pm.inAvail, inAvail[p])
			}
		}
		if used != c.used {
			c.mu.Unlock()
			return fmt.Errorf("slab: class %d counts %d used chunks, pages hold %d", cls, c.used, used)
		}
		c.mu.Unlock()
	}
	for p := uint32(0); p < a.maxPages; p++ {
		want := 0
		if p < grown {
			want = 1
		}
		if seen[p] != want {
			return fmt.Errorf("slab: page %d appears %d times, want %d", p, seen[p], want)
		}
	}
	return nil
}
