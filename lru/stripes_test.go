package lru

import (
	"fmt"
	"testing"

	"github.com/slabcache/slabcache/internal/clock"
)

// stripeCounts returns the items linked in each stripe of class cls.
func stripeCounts(s *Store, cls int) []uint64 {
	n := make([]uint64, s.stripes())
	for k := range n {
		c := s.lruAt(cls, k)
		c.mu.Lock()
		for g := range numSegs {
			n[k] += c.count[g]
		}
		c.mu.Unlock()
	}
	return n
}

// With LRUStripes the items of one class spread over every stripe, each
// item linked in the stripe of its key's shard; the class's statistics are
// the stripes' sums, and stats cachedump lists every stripe's COLD items.
func TestLRUStripesSpreadItemsAndSumTheirStats(t *testing.T) {
	cfg := testConfig()
	cfg.LRUStripes = 8
	s, clk := newTestStore(t, cfg)
	const n = 4000
	fill(t, s, "k", n, 100)
	clk.Advance(1)
	s.MaintainOnce()
	cs := s.ClassStats(nil)
	if len(cs) != 1 {
		t.Fatalf("%d classes hold items, want 1", len(cs))
	}
	counts := stripeCounts(s, cs[0].Class)
	var sum uint64
	for k, c := range counts {
		// 500 expected in each; a hash that put under 300 or over 700
		// in one stripe would be far off uniform.
		if c < 300 || c > 700 {
			t.Errorf("stripe %d holds %d of %d items", k, c, n)
		}
		sum += c
	}
	if sum != n || cs[0].Number != n || s.Stats().CurrItems != n {
		t.Fatalf("stripes hold %d items, class stats say %d, curr_items %d; want %d", sum, cs[0].Number, s.Stats().CurrItems, n)
	}
	if cs[0].NumberCold == 0 || cs[0].NumberHot == 0 || cs[0].TotalItems != n {
		t.Fatalf("class stats %+v", cs[0])
	}
	dumped := uint64(0)
	s.ColdItems(cs[0].Class, func(*DumpItem) bool { dumped++; return true })
	if dumped != cs[0].NumberCold {
		t.Fatalf("cachedump listed %d COLD items, the class has %d", dumped, cs[0].NumberCold)
	}
	// Each item in its key's stripe, lists and counters agree.
	if err := s.Check(0); err != nil {
		t.Fatal(err)
	}
}

// When memory is full each store evicts from its own key's stripe first,
// so evictions spread over the stripes as stores do, and every stripe's
// oldest items go first: the first keys stored are the ones gone.
func TestLRUStripesEvictEveryStripesOldest(t *testing.T) {
	cfg := testConfig()
	cfg.LRUStripes = 4
	cfg.MemoryLimit = 2 << 20
	s, _ := newTestStore(t, cfg)
	fill(t, s, "k", 40000, 100)
	cs := s.ClassStats(nil)
	if len(cs) != 1 || cs[0].Evicted == 0 || cs[0].EvictedTime != 0 {
		t.Fatalf("class stats %+v", cs)
	}
	for k := range s.stripes() {
		if c := s.lruAt(cs[0].Class, k); c.evicted == 0 {
			t.Errorf("stripe %d evicted nothing", k)
		}
	}
	// Items are ~140 bytes in 152-byte chunks: 2 MiB hold about 13,000.
	// The first 10,000 are gone and the last 10,000 are all there.
	for i := 0; i < 10000; i++ {
		if r, ok := get(t, s, fmt.Sprintf("k%d", i), &GetArgs{NoBump: true}); ok {
			t.Fatalf("k%d (of the oldest) still here: %+v", i, r.it)
		}
	}
	for i := 30000; i < 40000; i++ {
		if _, ok := get(t, s, fmt.Sprintf("k%d", i), &GetArgs{NoBump: true}); !ok {
			t.Fatalf("k%d (of the newest) evicted", i)
		}
	}
	if err := s.Check(0); err != nil {
		t.Fatal(err)
	}
}

// A memory file saved with one stripe count reopens under another: every
// item is relinked into its stripe under the new count.
func TestRestartUnderAnotherStripeCount(t *testing.T) {
	for _, c := range [][2]int{{4, 1}, {1, 8}} {
		t.Run(fmt.Sprintf("%d->%d", c[0], c[1]), func(t *testing.T) {
			cfg := restartConfig(t)
			cfg.LRUStripes = c[0]
			s, err := New(cfg, clock.NewFake(1_700_000_000))
			if err != nil {
				t.Fatal(err)
			}
			fill(t, s, "k", 3000, 200)
			stopClean(t, s)
			cfg.LRUStripes = c[1]
			s2 := reopenStore(t, cfg, 1_700_000_100)
			if rep := s2.Restored(); !rep.Restored || rep.Items != 3000 {
				t.Fatalf("Restored() = %+v, want 3000 items", rep)
			}
			if err := s2.Check(0); err != nil {
				t.Fatal(err)
			}
			for i := range 3000 {
				mustGet(t, s2, fmt.Sprintf("k%d", i), string(make([]byte, 200)))
			}
			if cs := s2.ClassStats(nil); len(cs) != 1 || cs[0].Number != 3000 {
				t.Fatalf("class stats after the restart %+v", cs)
			}
		})
	}
}
