package lru

import (
	"errors"
	"fmt"
	"testing"
)

func TestFlushPrefixHidesEarlierItemsOfTheNamespace(t *testing.T) {
	for _, nocas := range []bool{false, true} {
		t.Run(fmt.Sprintf("nocas=%v", nocas), func(t *testing.T) {
			cfg := testConfig()
			cfg.NoCAS = nocas
			s, clk := newTestStore(t, cfg)
			clk.Advance(10)
			for _, k := range []string{"user:42:profile", "user:42:cart", "user:421:profile", "user:7:profile", "user:42:"} {
				mustSet(t, s, k, "v-"+k)
			}
			mustSet(t, s, "session:42:x", "s")
			clk.Advance(1)
			if err := s.FlushPrefix([]byte("user:42:")); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"user:42:profile", "user:42:cart", "user:42:"} {
				mustMiss(t, s, k)
			}
			mustGet(t, s, "user:421:profile", "v-user:421:profile")
			mustGet(t, s, "user:7:profile", "v-user:7:profile")
			mustGet(t, s, "session:42:x", "s")
			// A store after the flush is served.
			clk.Advance(1)
			mustSet(t, s, "user:42:profile", "new")
			mustGet(t, s, "user:42:profile", "new")
			if st := s.PrefixStats(); st.Reclaimed != 3 || st.Pending != 1 {
				t.Fatalf("prefix stats %+v, want 3 reclaimed, 1 pending", st)
			}
		})
	}
}

// Items stored in the same second as the flush but after it survive: the
// CAS floor tells them apart, and without CAS (-C) the items of the
// flush's second stored before it are removed at once (an item not at the
// head of its LRU list, behind an older one, is missed then, as by
// memcached's flush_all). Items of other namespaces stay.
func TestFlushPrefixSameSecond(t *testing.T) {
	withAndWithoutCAS(t, func(t *testing.T, cfg Config) {
		s, clk := newTestStore(t, cfg)
		clk.Advance(5)
		mustSet(t, s, "a:before", "1")
		mustSet(t, s, "b:same-second", "x")
		if err := s.FlushPrefix([]byte("a:")); err != nil {
			t.Fatal(err)
		}
		mustSet(t, s, "a:after", "2")
		mustMiss(t, s, "a:before")
		mustGet(t, s, "a:after", "2")
		mustGet(t, s, "b:same-second", "x")
		// Flushed again in the same second: the later item goes too.
		if err := s.FlushPrefix([]byte("a:")); err != nil {
			t.Fatal(err)
		}
		mustMiss(t, s, "a:after")
		mustGet(t, s, "b:same-second", "x")
		if st := s.PrefixStats(); cfg.NoCAS && st.Reclaimed != 2 {
			t.Errorf("prefix stats %+v, want the 2 items of the flush second reclaimed at once", st)
		}
	})
}

// An item whose CAS a client gave (ms E, or an item copied from another
// node with its CAS) is covered by a flush of its second whatever that CAS:
// it says nothing of when the item was stored here. A later store with a
// CAS from the counter is told apart again.
func TestFlushPrefixGivenCAS(t *testing.T) {
	s, clk := newTestStore(t, testConfig())
	clk.Advance(5)
	if o := s.Set([]byte("a:given"), 0, 0, []byte("1"), &SetArgs{NewCAS: 1 << 50}); o.Result != Stored {
		t.Fatalf("set with a given CAS: %v", o.Result)
	}
	mustSet(t, s, "a:counted", "2")
	if err := s.FlushPrefix([]byte("a:")); err != nil {
		t.Fatal(err)
	}
	mustMiss(t, s, "a:given")
	mustMiss(t, s, "a:counted")
	if o := s.Set([]byte("a:given"), 0, 0, []byte("3"), &SetArgs{NewCAS: 1 << 50}); o.Result != Stored {
		t.Fatalf("set with a given CAS: %v", o.Result)
	}
	mustSet(t, s, "a:counted", "4")
	mustMiss(t, s, "a:given") // the flush's second: covered
	mustGet(t, s, "a:counted", "4")
	mustSet(t, s, "a:given", "5") // the counter's CAS again
	mustGet(t, s, "a:given", "5")
	clk.Advance(1)
	if o := s.Set([]byte("a:next"), 0, 0, []byte("6"), &SetArgs{NewCAS: 7}); o.Result != Stored {
		t.Fatalf("set with a given CAS: %v", o.Result)
	}
	mustGet(t, s, "a:next", "6") // a later second: not covered
}

// Every command treats a flushed item as absent.
func TestFlushPrefixEveryCommandMisses(t *testing.T) {
	s, clk := newTestStore(t, testConfig())
	clk.Advance(3)
	keys := []string{"n:touch", "n:delta", "n:append", "n:cas", "n:add", "n:replace", "n:delete", "n:peek"}
	cas := map[string]uint64{}
	for _, k := range keys {
		cas[k] = set(t, s, k, "5", 0, 0, nil).CAS
	}
	clk.Advance(1)
	if err := s.FlushPrefix([]byte("n:")); err != nil {
		t.Fatal(err)
	}
	if o := s.Touch([]byte("n:touch"), 100); o.Result != NotFound {
		t.Errorf("touch: %v", o.Result)
	}
	if o := s.Delta([]byte("n:delta"), &DeltaArgs{Incr: true, Delta: 1}); o.Result != NotFound {
		t.Errorf("incr: %v", o.Result)
	}
	if o := set(t, s, "n:append", "x", 0, 0, &SetArgs{Mode: ModeAppend}); o.Result != NotStored {
		t.Errorf("append: %v", o.Result)
	}
	if o := set(t, s, "n:cas", "x", 0, 0, &SetArgs{Mode: ModeCAS, CAS: cas["n:cas"]}); o.Result != NotFound {
		t.Errorf("cas: %v", o.Result)
	}
	if o := set(t, s, "n:replace", "x", 0, 0, &SetArgs{Mode: ModeReplace}); o.Result != NotStored {
		t.Errorf("replace: %v", o.Result)
	}
	if o := set(t, s, "n:add", "x", 0, 0, &SetArgs{Mode: ModeAdd}); o.Result != Stored {
		t.Errorf("add: %v", o.Result)
	}
	if o := s.Delete([]byte("n:delete"), nil); o.Result != NotFound {
		t.Errorf("delete: %v", o.Result)
	}
	if o := s.Peek([]byte("n:peek"), &rec{}); o.Result != NotFound {
		t.Errorf("peek: %v", o.Result)
	}
	var dumped []string
	for cur := (DumpCursor{}); !cur.Done(); {
		cur = s.Dump(cur, 1<<20, func(d *DumpItem) { dumped = append(dumped, string(d.Key)) })
	}
	if len(dumped) != 1 || dumped[0] != "n:add" {
		t.Errorf("metadump lists %q, want only the item added after the flush", dumped)
	}
}

// The crawler reclaims a flushed namespace's items and then forgets the
// prefix; items of other namespaces stay.
func TestFlushPrefixCrawlerReclaims(t *testing.T) {
	s, clk := newTestStore(t, testConfig())
	clk.Advance(2)
	for i := range 2000 {
		mustSet(t, s, fmt.Sprintf("t:%d:k", i%2), "value")
		mustSet(t, s, fmt.Sprintf("big:%d", i), "value")
	}
	for i := range 1000 {
		mustSet(t, s, fmt.Sprintf("gone:%d", i), "value")
	}
	before := s.Stats().CurrItems
	clk.Advance(1)
	if err := s.FlushPrefix([]byte("gone:")); err != nil {
		t.Fatal(err)
	}
	// Two passes: the one under way may have started before the flush.
	for range 3 {
		for s.CrawlPassRunning() || s.PrefixStats().Pending != 0 {
			if !s.crawlPassStep() {
				s.CrawlPass()
			}
		}
	}
	if st := s.PrefixStats(); st.Pending != 0 || st.Reclaimed != 1000 {
		t.Fatalf("prefix stats %+v, want 0 pending and 1000 reclaimed", st)
	}
	if got := s.Stats().CurrItems; got != before-1000 {
		t.Fatalf("curr_items %d, want %d", got, before-1000)
	}
	mustGet(t, s, "big:1999", "value")
	mustGet(t, s, "t:1:k", "value")
	// The prefix is forgotten: a new item of the namespace is served.
	mustSet(t, s, "gone:1", "back")
	mustGet(t, s, "gone:1", "back")
}

// A page move reclaims the flushed items on the page it empties instead of
// moving them, so none can reach a page the crawler has already passed.
func TestFlushPrefixPageMoveReclaims(t *testing.T) {
	s, clk := newTestStore(t, testConfig())
	clk.Advance(2)
	from := fillPage(t, s, "f", 1) // the page to move holds fewer items
	for i := range 100 {
		if r := mustSet(t, s, fmt.Sprintf("p:%d", i), "x"); r.Class != from {
			t.Fatalf("p:%d in class %d, the filler in %d", i, r.Class, from)
		}
		mustSet(t, s, fmt.Sprintf("q:%d", i), "x")
	}
	clk.Advance(1)
	if err := s.FlushPrefix([]byte("p:")); err != nil {
		t.Fatal(err)
	}
	if err := s.Reassign(from, 0); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.SlabReassignRescues != 100 || st.SlabReassignInlineReclaim != 100 {
		t.Fatalf("page move: %d rescued, %d reclaimed; want the 100 live items moved and the 100 flushed reclaimed",
			st.SlabReassignRescues, st.SlabReassignInlineReclaim)
	}
	if got := s.PrefixStats().Reclaimed; got != 100 {
		t.Fatalf("flush_prefix_reclaimed %d, want 100", got)
	}
	mustGet(t, s, "q:99", "x")
	mustMiss(t, s, "p:99")
}

func TestFlushPrefixTableBound(t *testing.T) {
	cfg := testConfig()
	cfg.FlushPrefixMax = 3
	s, _ := newTestStore(t, cfg)
	for i := range 3 {
		if err := s.FlushPrefix(fmt.Appendf(nil, "ns%d:", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.FlushPrefix([]byte("ns9:")); !errors.Is(err, ErrPrefixTableFull) {
		t.Fatalf("fourth prefix: %v, want ErrPrefixTableFull", err)
	}
	// Flushing a prefix already in the table again needs no room.
	if err := s.FlushPrefix([]byte("ns1:")); err != nil {
		t.Fatal(err)
	}
	if err := s.FlushPrefix(nil); !errors.Is(err, ErrPrefixLength) {
		t.Fatalf("empty prefix: %v", err)
	}
}

// A bump queued before the flush and applied after it must not move the
// item's access time past the flush.
func TestFlushPrefixQueuedBumpDoesNotRevive(t *testing.T) {
	cfg := testConfig()
	s, clk := newTestStore(t, cfg)
	clk.Advance(2)
	mustSet(t, s, "q:1", "x")
	// Into COLD, then hit twice: the second hit queues a COLD->WARM bump.
	for s.MaintainOnce() > 0 {
	}
	mustGet(t, s, "q:1", "x")
	mustGet(t, s, "q:1", "x")
	clk.Advance(1)
	if err := s.FlushPrefix([]byte("q:")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(1)
	s.applyBumps()
	mustMiss(t, s, "q:1")
}

func BenchmarkGetFlushedPrefixes(b *testing.B) {
	for _, n := range []int{0, 1000} {
		b.Run(fmt.Sprintf("flushed=%d", n), func(b *testing.B) {
			s, clk := newTestStore(b, testConfig())
			keys := make([][]byte, 1024)
			for i := range keys {
				keys[i] = fmt.Appendf(nil, "user:%d:profile", i)
				s.Set(keys[i], 0, 0, []byte("value"), nil)
			}
			clk.Advance(1)
			for i := range n {
				if err := s.FlushPrefix(fmt.Appendf(nil, "tenant%d:", i)); err != nil {
					b.Fatal(err)
				}
			}
			var h rec
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if s.Get(keys[i&1023], nil, &h).Result != Found {
					b.Fatal("miss")
				}
			}
		})
	}
}
