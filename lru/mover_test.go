package lru

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// slabs reassign: a page moves from one class to another; the items on it
// are rescued into free chunks of their class (or evicted when there is no
// room), and every remaining item still reads back intact.
func TestReassignRescuesItems(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryLimit = 5 << 20
	cfg.SlabAutomove = 0
	s, clk := newTestStore(t, cfg)
	v := bytes.Repeat([]byte("x"), 100)
	// A full page of the 152-byte class (3), then two pages' worth more,
	// of which every other item is deleted so the class has room to
	// rescue into.
	if c := fillPage(t, s, "f", 100); c != 3 {
		t.Fatalf("filler in class %d", c)
	}
	n := 2 * s.slab.ChunksPerPage(3)
	for i := 0; i < n; i++ {
		if r := s.Set([]byte(fmt.Sprintf("k%05d", i)), uint32(i), 0, v, nil); r.Result != Stored || r.Class != 3 {
			t.Fatalf("set %d: %+v", i, r)
		}
	}
	for i := 0; i < n; i += 2 {
		s.Delete([]byte(fmt.Sprintf("k%05d", i)), nil)
	}
	big := s.slab.ClassFor(2000)
	if err := s.Reassign(3, big); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.SlabsMoved != 1 || st.SlabReassignRescues == 0 {
		t.Fatalf("stats %+v", st)
	}
	if got := s.slab.ClassStats(big).TotalPages; got != 1 {
		t.Fatalf("destination has %d pages", got)
	}
	for i := 1; i < n; i += 2 {
		r := mustGet(t, s, fmt.Sprintf("k%05d", i), string(v))
		if r.it.Flags != uint32(i) {
			t.Fatalf("flags of k%05d: %d", i, r.it.Flags)
		}
	}
	// The class's two pages are full but memory is not: as memcached's
	// rebalancer, the mover takes a new page to rescue into, and nothing
	// is lost.
	if err := s.Reassign(3, 0); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Evictions != 0 || st.SlabReassignEvictionsNomem != 0 || st.SlabGlobalPagePool != 1 {
		t.Fatalf("second move stats %+v", st)
	}
	for i := 1; i < n; i += 2 {
		mustGet(t, s, fmt.Sprintf("k%05d", i), string(v))
	}
	// Fill memory with newer items: once it is full, a move evicts the
	// class's least recently used items (the oldest keys) to rescue what
	// lives in the page, so the newest items all survive.
	var newest []string
	for i := 0; s.Stats().Evictions == 0; i++ {
		k := fmt.Sprintf("n%05d", i)
		if i%500 == 0 {
			// What time and the background maintainer do: HOT tails age
			// into COLD, where evictions come from.
			clk.Advance(1)
			s.MaintainOnce()
		}
		if r := s.Set([]byte(k), 0, 0, v, nil); r.Result != Stored {
			t.Fatalf("set %s: %v", k, r.Result)
		}
		newest = append(newest, k)
	}
	newest = newest[len(newest)-s.slab.ChunksPerPage(3)/2:]
	// The page to move: the mover takes the one with the fewest items, here
	// the first page of the n keys, from which the oldest hundred are
	// deleted. The oldest items, the filler's, are evicted to rescue the
	// rest.
	for i := 0; i <= 100; i++ {
		s.Delete([]byte(fmt.Sprintf("n%05d", i)), nil)
	}
	before := s.Stats()
	if err := s.Reassign(3, 0); err != nil {
		t.Fatal(err)
	}
	st = s.Stats()
	if st.SlabReassignChunkRescues+st.SlabReassignRescues <= before.SlabReassignRescues || st.Evictions <= before.Evictions {
		t.Fatalf("third move: before %+v after %+v", before, st)
	}
	for _, k := range newest {
		mustGet(t, s, k, string(v))
	}
	checkInv(t, s)
	if err := s.Reassign(3, 3); !errors.Is(err, ErrReassignSame) {
		t.Fatalf("same class: %v", err)
	}
	if err := s.Reassign(99, 1); !errors.Is(err, ErrReassignBadClass) {
		t.Fatalf("bad class: %v", err)
	}
	if err := s.Reassign(7, 1); !errors.Is(err, ErrReassignNoSpare) {
		t.Fatalf("class without pages: %v", err)
	}
	// As in memcached, a class keeps its last page: a class with one page
	// has none to spare.
	if got := s.slab.ClassStats(big).TotalPages; got != 1 {
		t.Fatalf("class %d has %d pages", big, got)
	}
	if err := s.Reassign(big, 3); !errors.Is(err, ErrReassignNoSpare) {
		t.Fatalf("a class's only page: %v", err)
	}
	checkInv(t, s)
}

// Class 0 of slabs reassign is the global page pool, as in memcached: a
// page of it goes to a class while the pool holds two.
func TestReassignFromPool(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryLimit = 8 << 20
	cfg.SlabAutomove = 0
	s, _ := newTestStore(t, cfg)
	v := bytes.Repeat([]byte("x"), 100)
	n := 3 * s.slab.ChunksPerPage(3)
	for i := 0; i < n; i++ {
		s.Set([]byte(fmt.Sprintf("k%05d", i)), 0, 0, v, nil)
	}
	for i := 0; i < n; i++ {
		s.Delete([]byte(fmt.Sprintf("k%05d", i)), nil)
	}
	if err := s.Reassign(0, 3); !errors.Is(err, ErrReassignNoSpare) {
		t.Fatalf("from an empty pool: %v", err)
	}
	for range 2 {
		if err := s.Reassign(3, 0); err != nil {
			t.Fatal(err)
		}
	}
	small, moved := s.slab.ClassFor(50), s.Stats().SlabsMoved
	if st := s.Stats(); st.SlabGlobalPagePool != 2 || s.slab.ClassStats(small).TotalPages != 0 {
		t.Fatalf("pool %d, class %d pages %d", st.SlabGlobalPagePool, small, s.slab.ClassStats(small).TotalPages)
	}
	if err := s.Reassign(0, small); err != nil {
		t.Fatalf("a pool page to class %d: %v", small, err)
	}
	if st := s.Stats(); st.SlabGlobalPagePool != 1 || s.slab.ClassStats(small).TotalPages != 1 || st.SlabsMoved != moved+1 {
		t.Fatalf("after the pool page: pool %d, class %d pages %d, moved %d",
			st.SlabGlobalPagePool, small, s.slab.ClassStats(small).TotalPages, st.SlabsMoved)
	}
	if err := s.Reassign(0, small); !errors.Is(err, ErrReassignNoSpare) {
		t.Fatalf("one page left in the pool: %v", err)
	}
	if err := s.Reassign(-1, 3); !errors.Is(err, ErrReassignBadClass) {
		t.Fatalf("-1 with no class of two pages: %v", err)
	}
	if r := s.Set([]byte("small"), 0, 0, []byte("v"), nil); r.Result != Stored || r.Class != small {
		t.Fatalf("set into the granted page: %+v", r)
	}
	mustGet(t, s, "small", "v")
	checkInv(t, s)
}

// Moving pages of the largest class rescues data chunks of large items.
func TestReassignLargeItems(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryLimit = 16 << 20
	cfg.ItemSizeMax = 2 << 20
	s, _ := newTestStore(t, cfg)
	vals := map[string][]byte{}
	for i := 0; i < 6; i++ {
		v := bytes.Repeat([]byte{byte('a' + i)}, 600000+i*1000)
		k := fmt.Sprintf("big%d", i)
		vals[k] = v
		if r := s.Set([]byte(k), 0, 0, v, nil); r.Result != Stored {
			t.Fatal(r.Result)
		}
	}
	s.Delete([]byte("big0"), nil)
	delete(vals, "big0")
	top := s.slab.NumClasses()
	for i := 0; i < 3; i++ {
		if err := s.Reassign(top, 0); err != nil && !errors.Is(err, ErrReassignNoSpare) {
			t.Fatal(err)
		}
	}
	for k, v := range vals {
		r, ok := get(t, s, k, nil)
		if ok && !bytes.Equal(r.value, v) {
			t.Fatalf("%s corrupted after page moves", k)
		}
	}
	if st := s.Stats(); st.SlabReassignChunkRescues == 0 && st.SlabReassignEvictionsNomem == 0 {
		t.Fatalf("no chunk moved: %+v", st)
	}
	checkInv(t, s)
}

// A store in progress pins its chunks: a page move waits for it and gives up.
func TestReassignBusyReservation(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryLimit = 4 << 20
	s, _ := newTestStore(t, cfg)
	fillPage(t, s, "f", 100)
	var r Reservation
	if s.Reserve(&r, []byte("pending"), 0, 0, 100) != Stored {
		t.Fatal("reserve")
	}
	if err := s.Reassign(3, 0); !errors.Is(err, ErrReassignBusy) {
		t.Fatalf("move with a reservation on the page: %v", err)
	}
	r.Write(bytes.Repeat([]byte("y"), 100))
	if res := s.Commit(&r, nil); res.Result != Stored {
		t.Fatal(res.Result)
	}
	mustGet(t, s, "pending", string(bytes.Repeat([]byte("y"), 100)))
	if st := s.Stats(); st.SlabReassignBusyItems == 0 {
		t.Fatal("busy items not counted")
	}
	checkInv(t, s)
}

// The automover gives a class's spare pages back to the global pool only
// once all the memory is in use (a class was refused a page), and only
// from a class that has neither evicted nor grown for SlabAutomoveWindow
// looks; each move is reported to OnAutomove.
func TestAutomoveReturnsSparePagesOnlyWhenFull(t *testing.T) {
	cfg := testConfig() // 8 MiB
	cfg.SlabAutomoveWindow = 3
	type move struct {
		src, dst int
		ok       bool
	}
	var moves []move
	cfg.OnAutomove = func(src, dst int, ok bool) { moves = append(moves, move{src, dst, ok}) }
	s, clk := newTestStore(t, cfg)
	v := bytes.Repeat([]byte("v"), 1000)
	key := func(i int) []byte { return fmt.Appendf(nil, "k%05d", i) }
	look := func(n int) {
		for range n {
			clk.Advance(1)
			s.AutomoveOnce()
		}
	}
	storeAll := func(n int) int {
		cls := 0
		for i := range n {
			cls = s.Set(key(i), 0, 0, v, nil).Class
		}
		for i := range n {
			s.Delete(key(i), nil)
		}
		return cls
	}
	cls := storeAll(4000) // 5 of the 8 pages
	pages := s.slab.ClassStats(cls).TotalPages
	look(10)
	if got := s.slab.ClassStats(cls).TotalPages; got != pages || len(moves) != 0 {
		t.Fatalf("not full: %d pages of %d left, moves %v", got, pages, moves)
	}
	storeAll(12000) // past the limit: evictions
	if !s.slab.LimitReached() {
		t.Fatal("LimitReached false with every page carved")
	}
	look(1) // the evictions make the class dirty
	look(2)
	if len(moves) != 0 {
		t.Fatalf("moved within the window after evictions: %v", moves)
	}
	look(12)
	if len(moves) == 0 {
		t.Fatal("no page given back once the window was clean")
	}
	for _, m := range moves {
		if m != (move{cls, 0, true}) {
			t.Fatalf("move %+v, want {%d 0 true}", m, cls)
		}
	}
	if st := s.slab.ClassStats(cls); float64(st.FreeChunks) > 2.5*float64(st.ChunksPerPage) {
		t.Fatalf("class %d kept %d free chunks (%d per page)", cls, st.FreeChunks, st.ChunksPerPage)
	}

	// A limit lowered below the pages carved (cache_memlimit) counts as
	// all the memory in use, as memcached's mem_malloced >= mem_limit.
	if err := s.SetMemoryLimit(16 << 20); err != nil {
		t.Fatal(err)
	}
	storeAll(12000) // 10 MiB of 16: the limit is not reached
	if s.slab.LimitReached() {
		t.Fatal("LimitReached with 16 MiB and 10 in pages")
	}
	if err := s.SetMemoryLimit(8 << 20); err != nil {
		t.Fatal(err)
	}
	if !s.slab.LimitReached() {
		t.Fatal("LimitReached false with the limit lowered under the pages carved")
	}
	moves = nil
	look(15)
	if len(moves) == 0 || s.Stats().TotalMalloced >= 10<<20 {
		t.Fatalf("after a lowered limit: moves %v, total_malloced %d", moves, s.Stats().TotalMalloced)
	}
}

// A class that evicts in most looks takes a page from the class whose
// COLD tail is oldest, once the automover's window has filled, when its
// own items are younger than SlabAutomoveRatio of the old class's (as
// memcached's slab_automove_run).
func TestAutomoveFeedsTheEvictingClass(t *testing.T) {
	cfg := testConfig() // 8 MiB
	cfg.SlabAutomoveWindow = 3
	type move struct{ src, dst int }
	var moves []move
	cfg.OnAutomove = func(src, dst int, ok bool) {
		if ok {
			moves = append(moves, move{src, dst})
		}
	}
	s, clk := newTestStore(t, cfg)
	old := bytes.Repeat([]byte("o"), 1000)
	oldCls := 0
	for i := 0; s.slab.FreePagesLeft() > 0; i++ {
		oldCls = s.Set(fmt.Appendf(nil, "old%05d", i), 0, 0, old, nil).Class
	}
	for range 100 {
		s.MaintainOnce() // HOT and WARM down to their shares: the rest is COLD
	}
	clk.Advance(100)
	young := bytes.Repeat([]byte("y"), 50)
	youngCls, n := 0, 0
	for look := 1; look <= 6; look++ {
		for range 8000 { // more than its page holds: it evicts
			youngCls = s.Set(fmt.Appendf(nil, "young%06d", n), 0, 0, young, nil).Class
			n++
		}
		s.MaintainOnce()
		clk.Advance(1)
		s.AutomoveOnce()
		if look <= 3 && len(moves) > 0 {
			t.Fatalf("look %d: moved before the window filled: %v", look, moves)
		}
	}
	if len(moves) == 0 {
		t.Fatal("no page moved to the evicting class")
	}
	for _, m := range moves {
		if m != (move{oldCls, youngCls}) {
			t.Fatalf("move %+v, want {%d %d}", m, oldCls, youngCls)
		}
	}
}
