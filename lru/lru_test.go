package lru

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/clock"
)

func fill(t testing.TB, s *Store, prefix string, n, vlen int) {
	t.Helper()
	v := make([]byte, vlen)
	for i := 0; i < n; i++ {
		if r := s.Set([]byte(fmt.Sprintf("%s%d", prefix, i)), 0, 0, v, nil); r.Result != Stored {
			t.Fatalf("set %d: %v", i, r.Result)
		}
	}
}

// When memory is full, stores evict from the COLD tail; items that were
// read twice (active) are rescued to WARM and survive a flood of new keys,
// with one LRU per class and with the class split in stripes.
func TestEvictionKeepsActiveItems(t *testing.T) {
	forStripes(t, testEvictionKeepsActiveItems)
}

// forStripes runs f as subtests with one and with four LRU stripes.
func forStripes(t *testing.T, f func(*testing.T, int)) {
	for _, n := range []int{1, 4} {
		t.Run(fmt.Sprintf("stripes=%d", n), func(t *testing.T) { f(t, n) })
	}
}

func testEvictionKeepsActiveItems(t *testing.T, stripes int) {
	cfg := testConfig()
	cfg.LRUStripes = stripes
	cfg.MemoryLimit = 2 << 20
	cfg.ItemSizeMax = 1 << 20
	s, clk := newTestStore(t, cfg)
	fill(t, s, "hot", 100, 100)
	for i := 0; i < 100; i++ {
		k := fmt.Sprintf("hot%d", i)
		mustGet(t, s, k, string(make([]byte, 100)))
		mustGet(t, s, k, string(make([]byte, 100)))
	}
	for round := 0; round < 10; round++ {
		fill(t, s, fmt.Sprintf("cold%d-", round), 5000, 100)
		clk.Advance(1)
		s.MaintainOnce()
		for i := 0; i < 100; i++ {
			mustGet(t, s, fmt.Sprintf("hot%d", i), string(make([]byte, 100)))
		}
	}
	st := s.Stats()
	if st.Evictions == 0 || st.EvictedUnfetched == 0 || st.MovesToCold == 0 {
		t.Fatalf("no evictions? %+v", st)
	}
	mustMiss(t, s, "cold0-0")
	cs := s.ClassStats(nil)
	if len(cs) == 0 || cs[0].NumberHot == 0 && cs[0].NumberWarm == 0 {
		t.Fatalf("class stats %+v", cs)
	}
	checkInv(t, s)
}

// With NoEvict (-M) a full store answers NoMemory instead of evicting; it
// still reclaims expired items.
func TestNoEvict(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryLimit = 2 << 20
	cfg.NoEvict = true
	s, clk := newTestStore(t, cfg)
	v := make([]byte, 100)
	n := 0
	for ; n < 100000; n++ {
		r := s.Set([]byte(fmt.Sprintf("k%d", n)), 0, 5, v, nil)
		if r.Result == NoMemory {
			break
		}
		if r.Result != Stored {
			t.Fatal(r.Result)
		}
	}
	if n == 100000 {
		t.Fatal("never ran out of memory")
	}
	mustGet(t, s, "k0", string(v))
	if st := s.Stats(); st.Evictions != 0 || st.OutOfMemory == 0 {
		t.Fatalf("stats %+v", st)
	}
	clk.Advance(10) // everything expired: stores reclaim
	if r := s.Set([]byte("new"), 0, 0, v, nil); r.Result != Stored {
		t.Fatalf("after expiry: %v", r.Result)
	}
	if st := s.Stats(); st.Reclaimed == 0 {
		t.Fatal("no reclaim")
	}
	checkInv(t, s)
}

// The maintainer keeps HOT under hot_lru_pct and WARM under warm_lru_pct
// (in each stripe, so in the class too).
func TestMaintainerSegments(t *testing.T) { forStripes(t, testMaintainerSegments) }

func testMaintainerSegments(t *testing.T, stripes int) {
	cfg := testConfig()
	cfg.LRUStripes = stripes
	s, clk := newTestStore(t, cfg)
	fill(t, s, "k", 2000, 100)
	for i := 0; i < 2000; i += 2 { // half are read twice: active
		k := fmt.Sprintf("k%d", i)
		get(t, s, k, nil)
		get(t, s, k, nil)
	}
	clk.Advance(1)
	for i := 0; i < 20; i++ {
		s.MaintainOnce()
	}
	cs := s.ClassStats(nil)[0]
	total := cs.Number
	if cs.NumberHot*100 > total*21 || cs.NumberWarm*100 > total*41 || cs.NumberCold == 0 || cs.NumberWarm == 0 {
		t.Fatalf("segments hot %d warm %d cold %d of %d", cs.NumberHot, cs.NumberWarm, cs.NumberCold, total)
	}
	if cs.MovesToCold == 0 || cs.MovesToWarm == 0 {
		t.Fatalf("moves %+v", cs)
	}
	// A COLD item hit twice is queued and moved to WARM by the maintainer.
	var coldKey string
	for i := 1; i < 2000; i += 2 {
		k := fmt.Sprintf("k%d", i)
		r, _ := get(t, s, k, &GetArgs{NoBump: true})
		if r.it.Segment == Cold && !r.it.Fetched {
			coldKey = k
			break
		}
	}
	if coldKey == "" {
		t.Fatal("no unfetched COLD item")
	}
	get(t, s, coldKey, nil)
	get(t, s, coldKey, nil)
	s.MaintainOnce()
	if r, _ := get(t, s, coldKey, &GetArgs{NoBump: true}); r.it.Segment != Warm {
		t.Fatalf("active COLD item is in %v after the maintainer ran", r.it.Segment)
	}
	checkInv(t, s)
}

func TestTempLRU(t *testing.T) {
	cfg := testConfig()
	cfg.TempLRU = true
	s, clk := newTestStore(t, cfg)
	set(t, s, "short", "v", 0, 30, nil)
	set(t, s, "long", "v", 0, 3000, nil)
	if r, _ := get(t, s, "short", nil); r.it.Segment != Temp {
		t.Fatalf("short TTL item in %v", r.it.Segment)
	}
	if r, _ := get(t, s, "long", nil); r.it.Segment != Hot {
		t.Fatalf("long TTL item in %v", r.it.Segment)
	}
	clk.Advance(31)
	s.MaintainOnce()
	if st := s.Stats(); st.Reclaimed != 1 || st.CurrItems != 1 {
		t.Fatalf("TEMP tail not reclaimed: %+v", st)
	}
	checkInv(t, s)
}

// fillExpiring stores n 50-byte items k0..k<n-1>, every third expiring
// after 10 seconds.
func fillExpiring(s *Store, n int) {
	v := make([]byte, 50)
	for i := 0; i < n; i++ {
		exp := int64(0)
		if i%3 == 0 {
			exp = 10
		}
		s.Set([]byte(fmt.Sprintf("k%d", i)), 0, exp, v, nil)
	}
}

func TestCrawlerReclaimsExpired(t *testing.T) {
	s, clk := newTestStore(t, testConfig())
	fillExpiring(s, 3000)
	clk.Advance(11)
	total := 0
	for i := 0; i < 1000 && total < 1000; i++ {
		checked, r := s.CrawlOnce(100)
		if checked > 100 {
			t.Fatalf("crawler checked %d items with a budget of 100", checked)
		}
		total += r
	}
	st := s.Stats()
	if total != 1000 || st.CrawlerReclaimed != 1000 || st.CurrItems != 2000 || st.ExpiredUnfetched != 1000 {
		t.Fatalf("reclaimed %d, stats %+v", total, st)
	}
	checkInv(t, s)
}

// CrawlPass runs one full pass on the background goroutine: it reclaims
// every expired item, refuses a second request while running, and a Close
// in the middle of a pass ends it without touching released memory.
func TestCrawlPass(t *testing.T) {
	cfg := testConfig()
	cfg.LRUCrawler = false    // only the asked-for pass crawls
	cfg.LRUMaintainer = false // and nothing else reclaims
	cfg.CrawlerItemsPerTick = 64
	s, clk := newTestStore(t, cfg)
	fillExpiring(s, 3000)
	clk.Advance(11)
	if !s.CrawlPass() || !s.CrawlPassRunning() {
		t.Fatal("CrawlPass did not start a pass")
	}
	if s.CrawlPass() {
		t.Fatal("a second CrawlPass started while the first was pending")
	}
	s.Start()
	deadline := time.Now().Add(10 * time.Second)
	for s.CrawlPassRunning() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if st := s.Stats(); s.CrawlPassRunning() || st.CrawlerReclaimed != 1000 || st.CurrItems != 2000 || st.LRUCrawlerStarts != 1 {
		t.Fatalf("after the pass: running %v, stats %+v", s.CrawlPassRunning(), st)
	}
	checkInv(t, s)

	// Close while a pass runs.
	s2, err := New(cfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	fillExpiring(s2, 20000)
	s2.Start()
	s2.CrawlPass()
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
}

// CrawlClasses crawls the LRUs of the classes asked for only, at most
// lru_crawler_tocrawl items of each (SetCrawlerToCrawl); with none given
// and no limit, every item.
func TestCrawlClasses(t *testing.T) {
	cfg := testConfig()
	cfg.LRUCrawler = false    // only the asked-for crawls
	cfg.LRUMaintainer = false // and nothing else reclaims; one LRU per class
	cfg.CrawlerItemsPerTick = 64
	s, clk := newTestStore(t, cfg)
	small := set(t, s, "s0", "x", 0, 10, nil).Class
	big := set(t, s, "b0", strings.Repeat("y", 300), 0, 10, nil).Class
	for i := 1; i < 200; i++ {
		set(t, s, fmt.Sprintf("s%d", i), "x", 0, 10, nil)
		set(t, s, fmt.Sprintf("b%d", i), strings.Repeat("y", 300), 0, 10, nil)
	}
	clk.Advance(11)
	s.Start()
	defer s.Stop()
	crawl := func(classes []int) {
		t.Helper()
		if !s.CrawlClasses(classes) {
			t.Fatal("CrawlClasses refused on an idle store")
		}
		for deadline := time.Now().Add(10 * time.Second); s.CrawlPassRunning(); {
			if time.Now().After(deadline) {
				t.Fatal("the crawl does not end")
			}
			time.Sleep(time.Millisecond)
		}
	}
	checked := func() (sm, bg uint64) {
		for _, cs := range s.ClassStats(nil) {
			switch cs.Class {
			case small:
				sm = cs.CrawlerChecked
			case big:
				bg = cs.CrawlerChecked
			}
		}
		return sm, bg
	}
	s.SetCrawlerToCrawl(30)
	crawl([]int{small})
	if sm, bg := checked(); sm != 30 || bg != 0 || s.Stats().CrawlerReclaimed != 30 {
		t.Fatalf("crawl of class %d, 30 items at most: checked %d and %d (class %d), reclaimed %d", small, sm, bg, big, s.Stats().CrawlerReclaimed)
	}
	crawl(nil) // every class, 30 items of each
	if sm, bg := checked(); sm != 60 || bg != 30 || s.Stats().CrawlerReclaimed != 90 {
		t.Fatalf("crawl of every class, 30 items at most: checked %d and %d, reclaimed %d", sm, bg, s.Stats().CrawlerReclaimed)
	}
	s.SetCrawlerToCrawl(0)
	crawl([]int{big, small})
	if st := s.Stats(); st.CrawlerReclaimed != 400 || st.CurrItems != 0 {
		t.Fatalf("crawl of both without a limit: reclaimed %d, %d items left", st.CrawlerReclaimed, st.CurrItems)
	}
	checkInv(t, s)
}

// A pass asked of an idle store starts at once: the background goroutine,
// which sleeps up to a second when there is nothing to do, is woken for
// it (memcached's crawler thread is signalled the same way), so that
// `lru_crawler crawl` twice a few milliseconds apart on a quiet server is
// not BUSY. Two tries, after the goroutine has backed off to its longest
// sleep: without the wake-up each waits for the rest of that second.
func TestCrawlPassWakesIdleStore(t *testing.T) {
	cfg := testConfig()
	cfg.LRUCrawler = false
	cfg.LRUMaintainer = false
	s, _ := newTestStore(t, cfg)
	fillExpiring(s, 100)
	s.Start()
	defer s.Stop()
	for try := range 2 {
		time.Sleep(2500 * time.Millisecond) // 100 ms growing by half per idle step to 1 s
		start := time.Now()
		if !s.CrawlPass() {
			t.Fatal("CrawlPass refused on an idle store")
		}
		for s.CrawlPassRunning() && time.Since(start) < 5*time.Second {
			time.Sleep(time.Millisecond)
		}
		if d := time.Since(start); d > 300*time.Millisecond {
			t.Errorf("try %d: a pass over 100 items took %v to finish", try, d)
		}
	}
}

func TestDump(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryLimit = 64 << 20
	s, clk := newTestStore(t, cfg)
	want := map[string]bool{}
	for i := 0; i < 500; i++ {
		k := fmt.Sprintf("key:%d", i)
		if r := set(t, s, k, string(make([]byte, i*10)), 0, 100, nil); r.Result != Stored {
			t.Fatalf("set %s: %v", k, r.Result)
		}
		want[k] = true
	}
	set(t, s, "gone", "v", 0, 1, nil)
	clk.Advance(1)
	seen := map[string]int{}
	var cur DumpCursor
	calls := 0
	for !cur.Done() {
		cur = s.Dump(cur, 300, func(d *DumpItem) {
			seen[string(d.Key)]++
			if d.Exptime != clk.Epoch()+clock.Start+100 || d.Class == 0 || d.Size < len(d.Key) || d.CAS == 0 {
				t.Errorf("dump item %+v", d)
			}
		})
		calls++
	}
	if calls < 2 {
		t.Fatal("dump did everything in one call despite the budget")
	}
	if len(seen) != len(want) {
		t.Fatalf("dump saw %d keys, want %d", len(seen), len(want))
	}
	for k, n := range seen {
		if !want[k] || n != 1 {
			t.Fatalf("key %q seen %d times", k, n)
		}
	}
}

func TestStatsNumbers(t *testing.T) {
	s, _ := newTestStore(t, testConfig())
	mustSet(t, s, "a", "12345")
	st := s.Stats()
	if st.Bytes != uint64(24+8+1+5) || st.LimitMaxbytes != 8<<20 || st.TotalMalloced != 1<<20 || st.ActiveSlabs != 1 || st.HashBytes == 0 {
		t.Fatalf("stats %+v", st)
	}
	cs := s.ClassStats(nil)
	if len(cs) != 1 || cs[0].Slab.UsedChunks != 1 || cs[0].MemRequested != 38 || cs[0].Slab.ChunkSize != 96 {
		t.Fatalf("class stats %+v", cs)
	}
}

// lru mode flat: new items go to COLD; a hit moves an item to the head at
// most once a minute; the maintainer drains what was in HOT.
func TestFlatMode(t *testing.T) {
	s, clk := newTestStore(t, testConfig())
	mustSet(t, s, "before", "v")
	s.SetLRUMode(false)
	mustSet(t, s, "a", "v")
	mustSet(t, s, "b", "v")
	if r, _ := get(t, s, "a", &GetArgs{NoBump: true}); r.it.Segment != Cold {
		t.Fatalf("new item in %v in flat mode", r.it.Segment)
	}
	tail := func() string {
		c := s.lruAt(1, 0)
		c.mu.Lock()
		defer c.mu.Unlock()
		p := s.ptr(c.tail[Cold])
		return string(s.lay.key(p, loadState(p)))
	}
	if tail() != "a" {
		t.Fatalf("COLD tail %q, want a", tail())
	}
	get(t, s, "a", nil) // within a minute of its store: no move
	if tail() != "a" {
		t.Fatal("bumped within the update interval")
	}
	clk.Advance(61)
	get(t, s, "a", nil)
	if tail() != "b" {
		t.Fatalf("after a minute a hit should move a to the head; tail is %q", tail())
	}
	s.MaintainOnce()
	if r, _ := get(t, s, "before", &GetArgs{NoBump: true}); r.it.Segment != Cold {
		t.Fatalf("HOT item not drained in flat mode: %v", r.it.Segment)
	}
	checkInv(t, s)
}

// The age bounds of HOT and WARM follow lru tune's factors; factors that
// strtod reads but make no number of seconds (infinity, a product past 32
// bits) leave the age unbounded instead of wrapping to a small one.
func TestMaxAge(t *testing.T) {
	for _, c := range []struct {
		cold   uint32
		factor float64
		want   uint32
	}{
		{100, 0.2, 20}, {100, 2, 200}, {0, 2, 0}, {100, math.Inf(1), math.MaxUint32},
		{0, math.Inf(1), math.MaxUint32}, {math.MaxUint32, 2, math.MaxUint32},
	} {
		if got := maxAge(c.cold, c.factor); got != c.want {
			t.Errorf("maxAge(%d, %v) = %d, want %d", c.cold, c.factor, got, c.want)
		}
	}
}

// The wait between the passes the crawler starts on its own follows
// memcached's rule: a minute more when nothing expires within the hour, up
// to an hour; a minute toward the minute by which 1% of the items that can
// expire will have.
func TestAutoCrawlWait(t *testing.T) {
	var none [60]uint64
	wait := uint32(0)
	for i := range 70 {
		wait, _, _ = autoCrawlWait(wait, 1000, 1000, &none)
		if want := min(uint32(i+1)*60, maxAutoCrawlWait); wait != want {
			t.Fatalf("pass %d with nothing expiring: wait %d, want %d", i+1, wait, want)
		}
	}
	var soon [60]uint64
	soon[0] = 50 // of 1000 that can expire, 50 within the minute: 1% and one more
	if got, _, _ := autoCrawlWait(600, 1000, 0, &soon); got != 540 {
		t.Errorf("wait 600 with 5%% expiring within a minute: %d, want 540", got)
	}
	if got, _, _ := autoCrawlWait(30, 1000, 0, &soon); got != 30 {
		t.Errorf("wait 30 with 5%% expiring within a minute: %d, want 30 (no minute to take off)", got)
	}
	var later [60]uint64
	later[20] = 50
	if got, _, _ := autoCrawlWait(0, 1000, 0, &later); got != 60 {
		t.Errorf("wait 0 with 5%% expiring in 20 minutes: %d, want 60", got)
	}
	var few [60]uint64
	few[3] = 5 // 5 of 1000: under the 1% mark, but some: the wait stays
	if got, _, _ := autoCrawlWait(120, 1000, 0, &few); got != 120 {
		t.Errorf("wait 120 with 0.5%% expiring: %d, want 120", got)
	}
}

// The crawler keeps memcached's schedule per class and LRU: a check once
// a second schedules each LRU whose run ended (the wait, and 5 seconds
// more, memcached's current_time > next_crawls) and starts one pass over
// the LRUs that are due, crawling only their items; each scheduling is
// reported to OnCrawlerStatus.
func TestAutoCrawlSchedule(t *testing.T) {
	cfg := testConfig()
	var status []CrawlerStatus
	cfg.OnCrawlerStatus = func(st CrawlerStatus) { status = append(status, st) }
	s, clk := newTestStore(t, cfg)
	s.crawlerCheck() // every LRU is due at the start
	if !s.autoCrawlDue() {
		t.Fatal("no autocrawl at the start")
	}
	s.CrawlOnce(1 << 16) // the empty store: the pass ends at once
	if st := s.Stats(); st.LRUCrawlerStarts != 1 || s.autoCrawlDue() {
		t.Fatalf("lru_crawler_starts %d after a pass over the empty store (due %v)", st.LRUCrawlerStarts, s.autoCrawlDue())
	}
	clk.Advance(1)
	s.crawlerCheck()
	if len(status) != numCrawlIDs-1 {
		t.Fatalf("%d LRUs scheduled after the first run, want %d", len(status), numCrawlIDs-1)
	}
	if st := status[0]; st != (CrawlerStatus{Class: 1, LRU: Hot, LowMark: 1, SinceRun: 1, NextRun: 65}) {
		t.Fatalf("first status %+v", st)
	}
	fillExpiring(s, 300) // a third expire in 10 s, all in one class's HOT
	cls := s.Set([]byte("probe"), 0, 0, make([]byte, 50), nil).Class
	status = status[:0]
	// Nothing is due before the wait and 5 seconds have passed.
	for range 65 { // the run ended at 0, was scheduled at 1 for 1+65
		clk.Advance(1)
		s.crawlerCheck()
		if s.autoCrawlDue() {
			t.Fatalf("an autocrawl at %d s, with the next run due after 66", clk.Now())
		}
	}
	clk.Advance(1)
	s.crawlerCheck()
	if !s.autoCrawlDue() {
		t.Fatal("no autocrawl at 67 s")
	}
	clk.Advance(11) // the expiring third expires
	for s.autoCrawlDue() {
		s.CrawlOnce(100)
	}
	if st := s.Stats(); st.CrawlerReclaimed != 100 {
		t.Fatalf("crawler_reclaimed %d, want 100", st.CrawlerReclaimed)
	}
	clk.Advance(1)
	s.crawlerCheck()
	var hot CrawlerStatus
	for _, st := range status {
		if st.Class == cls && st.LRU == Hot {
			hot = st
		}
	}
	// It saw 301 items (all in HOT: no maintainer ran), 201 that never
	// expire, and reclaimed 100 in a run of 11 s; none of the rest expire,
	// so its wait grew to 120 s.
	if hot != (CrawlerStatus{Class: cls, LRU: Hot, LowMark: 2, SinceRun: 1, NextRun: 125, Elapsed: 11, Examined: 301, Reclaimed: 100}) {
		t.Fatalf("class %d HOT after its second run: %+v", cls, hot)
	}
}
