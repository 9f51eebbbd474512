package lru

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/slabcache/slabcache/internal/clock"
)

// theirs is the test's ownership: keys starting with "their:" belong to
// another node.
func theirs(key []byte) bool { return bytes.HasPrefix(key, []byte("their:")) }

// Items of keys given up read as absent to every client operation and are
// removed on the way; a member's read (GetArgs.Disowned) still finds them
// and leaves them as they were; items of the node's own keys, and items
// stored after the mark, are served.
func TestDisownHidesOlderItemsOfForeignKeys(t *testing.T) {
	withAndWithoutCAS(t, func(t *testing.T, cfg Config) {
		s, clk := newTestStore(t, cfg)
		clk.Advance(10)
		for _, k := range []string{"their:a", "their:b", "their:c", "their:d", "their:e", "mine:a"} {
			mustSet(t, s, k, "old-"+k)
		}
		if o := s.Set([]byte("their:given"), 0, 0, []byte("old"), &SetArgs{NewCAS: 1 << 50}); o.Result != Stored {
			t.Fatalf("set with a given CAS: %v", o.Result)
		}
		clk.Advance(1)
		s.Disown(theirs)
		clk.Advance(1)

		// A member's read finds it and does not bump it.
		r, ok := get(t, s, "their:a", &GetArgs{Disowned: true})
		if !ok || string(r.value) != "old-their:a" {
			t.Fatalf("member's read of a disowned item: found %v, %q", ok, r.value)
		}
		if r2, _ := get(t, s, "their:a", &GetArgs{Disowned: true}); r2.it.Fetched || r2.it.Atime != r.it.Atime {
			t.Fatalf("a member's read changed the item: fetched %v, access time %d then %d", r2.it.Fetched, r.it.Atime, r2.it.Atime)
		}
		// Every client operation sees it absent.
		mustMiss(t, s, "their:a")
		mustMiss(t, s, "their:given")
		if o := s.Touch([]byte("their:b"), 100); o.Result != NotFound {
			t.Fatalf("touch of a disowned item: %v", o.Result)
		}
		if o := s.Set([]byte("their:c"), 0, 0, []byte("x"), &SetArgs{Mode: ModeAppend}); o.Result != NotStored {
			t.Fatalf("append to a disowned item: %v", o.Result)
		}
		if o := s.Set([]byte("their:d"), 0, 0, []byte("x"), &SetArgs{Mode: ModeAdd}); o.Result != Stored {
			t.Fatalf("add over a disowned item: %v", o.Result)
		}
		mustGet(t, s, "their:d", "x")
		if o := s.Delete([]byte("their:e"), nil); o.Result != NotFound {
			t.Fatalf("delete of a disowned item: %v", o.Result)
		}
		// Its own keys are served, and so are items stored since.
		mustGet(t, s, "mine:a", "old-mine:a")
		mustSet(t, s, "their:new", "new")
		mustGet(t, s, "their:new", "new")
		if got := s.DisownedRemoved(); got != 6 {
			t.Fatalf("DisownedRemoved %d, want 6 (a, given, b, c, d, e)", got)
		}
		// Gone for members too now.
		if _, ok := get(t, s, "their:a", &GetArgs{Disowned: true}); ok {
			t.Fatal("an item removed by a client's read still found by a member's")
		}
		checkInv(t, s)
	})
}

// In the mark's own second the CAS floor tells earlier stores from later
// ones; an item whose CAS was given (a member's copy, ms E) or a store
// without CAS goes by its second, and counts as earlier.
func TestDisownSameSecond(t *testing.T) {
	withAndWithoutCAS(t, func(t *testing.T, cfg Config) {
		s, clk := newTestStore(t, cfg)
		clk.Advance(5)
		mustSet(t, s, "their:before", "1")
		s.Disown(theirs)
		mustSet(t, s, "their:after", "2")
		if o := s.Set([]byte("their:given"), 0, 0, []byte("3"), &SetArgs{NewCAS: 7}); o.Result != Stored {
			t.Fatalf("set with a given CAS: %v", o.Result)
		}
		mustMiss(t, s, "their:before")
		mustMiss(t, s, "their:given")
		if cfg.NoCAS {
			mustMiss(t, s, "their:after")
		} else {
			mustGet(t, s, "their:after", "2")
		}
		clk.Advance(1)
		if o := s.Set([]byte("their:given"), 0, 0, []byte("4"), &SetArgs{NewCAS: 7}); o.Result != Stored {
			t.Fatalf("set with a given CAS: %v", o.Result)
		}
		mustGet(t, s, "their:given", "4")
	})
}

// Marks add up: an item is disowned when any mark it predates disowns its
// key, each mark by its own test.
func TestDisownAgain(t *testing.T) {
	s, clk := newTestStore(t, testConfig())
	clk.Advance(5)
	mustSet(t, s, "x:1", "1")
	mustSet(t, s, "y:0", "0")
	s.Disown(func(k []byte) bool { return bytes.HasPrefix(k, []byte("y:")) })
	clk.Advance(1)
	mustSet(t, s, "y:1", "between")
	mustGet(t, s, "x:1", "1")
	mustGet(t, s, "y:1", "between")
	clk.Advance(1)
	s.Disown(func(k []byte) bool { return bytes.HasPrefix(k, []byte("x:")) })
	mustMiss(t, s, "x:1")
	mustMiss(t, s, "y:0")           // the first mark's
	mustGet(t, s, "y:1", "between") // after the first mark, and not the second's
	// Past maxDisownMarks the marks there are reclaimed at once.
	for range maxDisownMarks {
		s.Disown(func([]byte) bool { return false })
	}
	if !s.disownWaits() {
		t.Fatal("the marks past the bound are not being reclaimed")
	}
}

// ReclaimDisowned has the crawler remove the disowned items; after a pass
// over every item the marks are dropped and nothing is checked any more.
func TestDisownCrawlerReclaims(t *testing.T) {
	s, clk := newTestStore(t, testConfig())
	clk.Advance(2)
	for i := range 1000 {
		mustSet(t, s, fmt.Sprintf("their:%d", i), "value")
		mustSet(t, s, fmt.Sprintf("mine:%d", i), "value")
	}
	before := s.Stats().CurrItems
	clk.Advance(1)
	s.Disown(theirs)
	// Not yet: the new owner may still fetch them.
	for range 3 {
		if !s.crawlPassStep() {
			s.CrawlPass()
		}
		for s.CrawlPassRunning() {
			s.crawlPassStep()
		}
	}
	if got := s.Stats().CurrItems; got != before {
		t.Fatalf("the crawler removed disowned items before ReclaimDisowned: curr_items %d, want %d", got, before)
	}
	s.ReclaimDisowned()
	for range 3 {
		for s.CrawlPassRunning() || s.dis.marks.Load() != nil {
			if !s.crawlPassStep() {
				s.CrawlPass()
			}
		}
	}
	if got := s.Stats().CurrItems; got != before-1000 {
		t.Fatalf("curr_items %d, want %d", got, before-1000)
	}
	if got := s.DisownedRemoved(); got != 1000 {
		t.Fatalf("DisownedRemoved %d, want 1000", got)
	}
	mustGet(t, s, "mine:999", "value")
	if _, ok := get(t, s, "their:5", &GetArgs{Disowned: true}); ok {
		t.Fatal("a reclaimed item found")
	}
}

// Under memory pressure the disowned items at the LRU tails are
// reclaimed as such (counted), not evicted as live items.
func TestDisownedReclaimedAtTheTail(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryLimit = 4 << 20
	s, clk := newTestStore(t, cfg)
	clk.Advance(2)
	v := string(bytes.Repeat([]byte("v"), 1000))
	for i := range 1000 {
		mustSet(t, s, fmt.Sprintf("their:%d", i), v)
	}
	clk.Advance(1)
	s.Disown(theirs)
	for i := range 8000 {
		mustSet(t, s, fmt.Sprintf("mine:%d", i), v)
	}
	if s.DisownedRemoved() == 0 {
		t.Fatalf("no disowned item reclaimed while the class evicted (evictions %d)", s.Stats().Evictions)
	}
	checkInv(t, s)
}

// A warm restart does not carry the disown marks, so a clean stop removes
// the items they cover before it saves: started again, the store must not
// serve an item of a key given up before the stop (to a client whose ring
// is behind, or a stand-in's reader). Items of its own keys, and of given
// up keys stored again after the mark, are kept.
func TestDisownedItemsDoNotSurviveARestart(t *testing.T) {
	for _, reclaimed := range []bool{false, true} {
		t.Run(fmt.Sprintf("reclaim=%v", reclaimed), func(t *testing.T) {
			cfg := restartConfig(t)
			cfg.LRUCrawler = false // only the stop's pass removes them
			s, err := New(cfg, clock.NewFake(1_700_000_000))
			if err != nil {
				t.Fatal(err)
			}
			for i := range 200 {
				mustSet(t, s, fmt.Sprintf("their:%d", i), "old")
				mustSet(t, s, fmt.Sprintf("mine:%d", i), "mine")
			}
			s.Disown(theirs)
			mustSet(t, s, "their:7", "new")
			if reclaimed {
				s.ReclaimDisowned()
			}
			stopClean(t, s)
			s2 := reopenStore(t, cfg, 1_700_000_010)
			if got := s2.Stats().CurrItems; got != 201 {
				t.Errorf("curr_items %d after the restart, want 201 (200 own keys and the one stored after the mark)", got)
			}
			for i := range 200 {
				k := fmt.Sprintf("their:%d", i)
				if i == 7 {
					mustGet(t, s2, k, "new")
					continue
				}
				if _, ok := get(t, s2, k, &GetArgs{Disowned: true}); ok {
					t.Fatalf("%s, given up before the stop, is back after the restart", k)
				}
				mustGet(t, s2, fmt.Sprintf("mine:%d", i), "mine")
			}
		})
	}
}
