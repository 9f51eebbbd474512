package lru

import "testing"

// mg key c v N30 t: the first client to miss creates an empty item and wins
// (W); the next sees Z (someone else won), as memcached 1.6.45 answers.
func TestVivifyWinThenZ(t *testing.T) {
	s, clk := newTestStore(t, testConfig())
	args := &GetArgs{Vivify: true, VivifyExptime: 30}
	r, ok := get(t, s, "zz", args)
	if !ok || !r.it.Won || r.it.TokenSent || r.it.Len != 0 || r.it.TTL() != 30 || r.it.Flags != 0 {
		t.Fatalf("first: ok=%v %+v", ok, r.it)
	}
	clk.Advance(1)
	r, ok = get(t, s, "zz", args)
	if !ok || r.it.Won || !r.it.TokenSent || r.it.TTL() != 29 {
		t.Fatalf("second: ok=%v %+v", ok, r.it)
	}
	// A real set clears the token.
	mustSet(t, s, "zz", "data")
	r, _ = get(t, s, "zz", args)
	if r.it.Won || r.it.TokenSent || string(r.value) != "data" {
		t.Fatalf("after set: %+v", r.it)
	}
	checkInv(t, s)
}

// mg with T and N: the flag that comes last sets the TTL of an item N
// creates (memcached applies them in order); T always sets an existing
// item's.
func TestVivifyAndTouchInOrder(t *testing.T) {
	s, _ := newTestStore(t, testConfig())
	ttl := func(key string, args *GetArgs) int64 {
		t.Helper()
		get(t, s, key, args)
		r, _ := get(t, s, key, &GetArgs{NoBump: true})
		return r.it.TTL()
	}
	if got := ttl("tn", &GetArgs{Touch: true, Exptime: 50, Vivify: true, VivifyExptime: 10, VivifyLast: true}); got != 10 {
		t.Errorf("T50 N10 created an item with TTL %d, want 10", got)
	}
	if got := ttl("nt", &GetArgs{Touch: true, Exptime: 50, Vivify: true, VivifyExptime: 10}); got != 50 {
		t.Errorf("N10 T50 created an item with TTL %d, want 50", got)
	}
	if got := ttl("tn", &GetArgs{Touch: true, Exptime: 70, Vivify: true, VivifyExptime: 10, VivifyLast: true}); got != 70 {
		t.Errorf("T70 N10 on an existing item: TTL %d, want 70", got)
	}
}

// mg R: the first reader that sees less TTL left than the token wins.
func TestRecache(t *testing.T) {
	s, clk := newTestStore(t, testConfig())
	set(t, s, "k", "v", 0, 100, nil)
	args := &GetArgs{Recache: true, RecacheExptime: 30}
	if r, _ := get(t, s, "k", args); r.it.Won || r.it.TokenSent {
		t.Fatalf("TTL 100 > 30: %+v", r.it)
	}
	clk.Advance(80)
	if r, _ := get(t, s, "k", args); !r.it.Won || r.it.TokenSent {
		t.Fatalf("TTL 20 < 30 should win: %+v", r.it)
	}
	if r, _ := get(t, s, "k", args); r.it.Won || !r.it.TokenSent {
		t.Fatalf("second reader: %+v", r.it)
	}
	// never-expiring items never win by R
	mustSet(t, s, "forever", "v")
	if r, _ := get(t, s, "forever", args); r.it.Won {
		t.Fatal("R won on a non-expiring item")
	}
}

// md key I T30 marks the item stale; the next mg gets W X, later ones
// Z X; a get or me before them takes no token; a CAS store with an older
// CAS under I keeps it stale.
func TestInvalidate(t *testing.T) {
	s, clk := newTestStore(t, testConfig())
	r0 := mustSet(t, s, "k", "v1")
	if res := s.Delete([]byte("k"), &DeleteArgs{Invalidate: true, Touch: true, Exptime: 30}).Result; res != Deleted {
		t.Fatalf("md I: %v", res)
	}
	if r, _ := get(t, s, "k", nil); !r.it.Stale || r.it.Won || r.it.TokenSent {
		t.Fatalf("a get after invalidate: %+v", r.it)
	}
	if r, _ := get(t, s, "k", &GetArgs{NoBump: true}); r.it.Won || r.it.TokenSent {
		t.Fatalf("me after invalidate: %+v", r.it)
	}
	mg := &GetArgs{StaleWins: true}
	r, ok := get(t, s, "k", mg)
	if !ok || !r.it.Stale || !r.it.Won || r.it.TokenSent || r.it.TTL() != 30 || r.it.CAS == r0.CAS {
		t.Fatalf("first reader after invalidate: %+v", r.it)
	}
	r2, _ := get(t, s, "k", mg)
	if !r2.it.Stale || r2.it.Won || !r2.it.TokenSent {
		t.Fatalf("second reader: %+v", r2.it)
	}
	// ms I with an older CAS: stored, stale, TTL kept, token kept
	clk.Advance(5)
	res := set(t, s, "k", "v2", 0, 0, &SetArgs{Mode: ModeSet, CAS: r0.CAS, Invalidate: true})
	if res.Result != Stored {
		t.Fatalf("ms I older CAS: %v", res.Result)
	}
	r3, _ := get(t, s, "k", nil)
	if string(r3.value) != "v2" || !r3.it.Stale || !r3.it.TokenSent || r3.it.TTL() != 25 {
		t.Fatalf("after ms I: %q %+v", r3.value, r3.it)
	}
	// the winner's CAS store clears the stale state
	res = set(t, s, "k", "v3", 0, 0, &SetArgs{Mode: ModeSet, CAS: r3.it.CAS})
	if res.Result != Stored {
		t.Fatalf("winner's store: %v", res.Result)
	}
	r4, _ := get(t, s, "k", nil)
	if r4.it.Stale || r4.it.TokenSent || string(r4.value) != "v3" {
		t.Fatalf("after the winner's store: %+v", r4.it)
	}
	// without I an older CAS is just a mismatch
	if res := set(t, s, "k", "v4", 0, 0, &SetArgs{Mode: ModeSet, CAS: r0.CAS}); res.Result != Exists {
		t.Fatalf("older CAS without I: %v", res.Result)
	}
}

// mg h (fetched before) and l (seconds since last access) report the state
// before this request; NoBump (and Peek) change nothing.
func TestFetchedAndLastAccess(t *testing.T) {
	s, clk := newTestStore(t, testConfig())
	mustSet(t, s, "k", "v")
	clk.Advance(7)
	if ok := s.Peek([]byte("k"), &rec{}).Result == Found; !ok {
		t.Fatal("peek missed")
	}
	r, _ := get(t, s, "k", nil)
	if r.it.Fetched || r.it.Idle() != 7 {
		t.Fatalf("first fetch: fetched=%v idle=%d", r.it.Fetched, r.it.Idle())
	}
	r, _ = get(t, s, "k", &GetArgs{NoBump: true})
	if !r.it.Fetched {
		t.Fatal("second fetch should report fetched")
	}
	// the second bumping hit makes the item active and (outside COLD) updates
	// its access time, as memcached's do_item_bump
	get(t, s, "k", nil)
	clk.Advance(2)
	r, _ = get(t, s, "k", nil)
	if r.it.Idle() != 2 {
		t.Fatalf("idle after activation %d, want 2", r.it.Idle())
	}
	if r.it.Segment != Hot || r.it.Class == 0 || r.it.Size < 24+8+1+1 {
		t.Fatalf("view %+v", r.it)
	}
}

// mg E and ma E set the CAS of what they create or change.
func TestExplicitCAS(t *testing.T) {
	s, _ := newTestStore(t, testConfig())
	r, ok := get(t, s, "v", &GetArgs{Vivify: true, VivifyExptime: 10, NewCAS: 777})
	if !ok || r.it.CAS != 777 {
		t.Fatalf("mg N E: %+v", r.it)
	}
	d := s.Delta([]byte("c"), &DeltaArgs{Incr: true, Delta: 1, Vivify: true, NewCAS: 888})
	if d.CAS != 888 {
		t.Fatalf("ma N E: %+v", d)
	}
	d = s.Delta([]byte("c"), &DeltaArgs{Incr: true, Delta: 1, NewCAS: 999})
	if d.CAS != 999 || d.Value != 1 {
		t.Fatalf("ma E: %+v", d)
	}
	if s.Delete([]byte("c"), &DeleteArgs{CAS: 999}).Result != Deleted {
		t.Fatal("delete with the explicit CAS")
	}
}

// md x replaces the value with an empty one (flags from md F, CAS kept);
// with I the emptied item is also stale.
func TestRemoveValue(t *testing.T) {
	s, _ := newTestStore(t, testConfig())
	r0 := set(t, s, "k", "value", 5, 100, nil)
	if res := s.Delete([]byte("k"), &DeleteArgs{RemoveValue: true, Flags: 9}).Result; res != Deleted {
		t.Fatalf("md x: %v", res)
	}
	r := mustGet(t, s, "k", "")
	if r.it.Flags != 9 || r.it.CAS != r0.CAS || r.it.TTL() != -1 || r.it.Stale {
		t.Fatalf("after md x: %+v", r.it)
	}
	if res := s.Delete([]byte("k"), &DeleteArgs{RemoveValue: true, Invalidate: true, Touch: true, Exptime: 30}).Result; res != Deleted {
		t.Fatalf("md x I T30: %v", res)
	}
	r, _ = get(t, s, "k", &GetArgs{StaleWins: true})
	if string(r.value) != "" || !r.it.Stale || !r.it.Won || r.it.TTL() != 30 || r.it.CAS == r0.CAS {
		t.Fatalf("after md x I: %+v", r.it)
	}
	checkInv(t, s)
}
