package lru

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/slabcache/slabcache/internal/clock"
)

func TestSetGet(t *testing.T) {
	s, _ := newTestStore(t, testConfig())
	mustMiss(t, s, "a")
	r1 := set(t, s, "a", "hello", 42, 0, nil)
	if r1.Result != Stored || r1.CAS == 0 {
		t.Fatalf("set = %+v", r1)
	}
	r := mustGet(t, s, "a", "hello")
	if r.it.Flags != 42 || r.it.CAS != r1.CAS || r.it.Len != 5 || r.it.TTL() != -1 {
		t.Fatalf("item %+v", r.it)
	}
	r2 := set(t, s, "a", "world!", 0, 0, nil)
	if r2.CAS == r1.CAS {
		t.Fatal("CAS did not change on overwrite")
	}
	r = mustGet(t, s, "a", "world!")
	if r.it.Flags != 0 {
		t.Fatalf("flags %d after overwrite with 0", r.it.Flags)
	}
	mustSet(t, s, "empty", "")
	mustGet(t, s, "empty", "")
	if st := s.Stats(); st.CurrItems != 2 || st.TotalItems != 3 {
		t.Fatalf("curr_items %d total_items %d", st.CurrItems, st.TotalItems)
	}
	checkInv(t, s)
}

func TestBadKeyAndTooLarge(t *testing.T) {
	cfg := testConfig()
	s, _ := newTestStore(t, cfg)
	if r := set(t, s, "", "x", 0, 0, nil); r.Result != BadKey {
		t.Fatalf("empty key: %v", r.Result)
	}
	if r := set(t, s, strings.Repeat("k", 251), "x", 0, 0, nil); r.Result != BadKey {
		t.Fatalf("251-byte key: %v", r.Result)
	}
	mustSet(t, s, strings.Repeat("k", 250), "x")
	// memcached: 48 + (klen+1) + (vlen+2) + 8 <= item_size_max.
	key := "0123456789"
	maxV := cfg.ItemSizeMax - 48 - 11 - 2 - 8
	if r := set(t, s, key, strings.Repeat("v", maxV), 0, 0, nil); r.Result != Stored {
		t.Fatalf("largest value: %v", r.Result)
	}
	if r := set(t, s, key, strings.Repeat("v", maxV+1), 0, 0, nil); r.Result != TooLarge {
		t.Fatalf("one byte over: %v", r.Result)
	}
	// with nonzero flags memcached counts 4 more bytes
	if r := set(t, s, key, strings.Repeat("v", maxV), 1, 0, nil); r.Result != TooLarge {
		t.Fatalf("largest value with flags: %v", r.Result)
	}
	checkInv(t, s)
}

func TestModes(t *testing.T) {
	s, _ := newTestStore(t, testConfig())
	add := &SetArgs{Mode: ModeAdd}
	rep := &SetArgs{Mode: ModeReplace}
	app := &SetArgs{Mode: ModeAppend}
	pre := &SetArgs{Mode: ModePrepend}
	if r := set(t, s, "k", "v", 0, 0, rep); r.Result != NotStored {
		t.Fatalf("replace on miss: %v", r.Result)
	}
	if r := set(t, s, "k", "v", 0, 0, app); r.Result != NotStored {
		t.Fatalf("append on miss: %v", r.Result)
	}
	if r := set(t, s, "k", "v1", 7, 0, add); r.Result != Stored {
		t.Fatalf("add on miss: %v", r.Result)
	}
	if r := set(t, s, "k", "v2", 0, 0, add); r.Result != NotStored {
		t.Fatalf("add on hit: %v", r.Result)
	}
	mustGet(t, s, "k", "v1")
	if r := set(t, s, "k", "v3", 7, 0, rep); r.Result != Stored {
		t.Fatalf("replace on hit: %v", r.Result)
	}
	if r := set(t, s, "k", "+a", 99, 0, app); r.Result != Stored {
		t.Fatalf("append: %v", r.Result)
	}
	if r := set(t, s, "k", "p-", 99, 0, pre); r.Result != Stored {
		t.Fatalf("prepend: %v", r.Result)
	}
	r := mustGet(t, s, "k", "p-v3+a")
	if r.it.Flags != 7 {
		t.Fatalf("append kept flags %d, want the old 7", r.it.Flags)
	}
	// cas
	casArgs := &SetArgs{Mode: ModeCAS, CAS: r.it.CAS + 1000}
	if res := set(t, s, "k", "x", 0, 0, casArgs); res.Result != Exists {
		t.Fatalf("cas mismatch: %v", res.Result)
	}
	casArgs.CAS = r.it.CAS
	res := set(t, s, "k", "x", 0, 0, casArgs)
	if res.Result != Stored {
		t.Fatalf("cas match: %v", res.Result)
	}
	if res2 := set(t, s, "k", "y", 0, 0, casArgs); res2.Result != Exists {
		t.Fatalf("cas with a used value: %v", res2.Result)
	}
	if res2 := set(t, s, "nope", "y", 0, 0, casArgs); res2.Result != NotFound {
		t.Fatalf("cas on miss: %v", res2.Result)
	}
	// append with a wrong CAS (ms MA C) refuses
	if res2 := set(t, s, "k", "z", 0, 0, &SetArgs{Mode: ModeAppend, CAS: 1}); res2.Result != Exists {
		t.Fatalf("append with a bad CAS: %v", res2.Result)
	}
	// append vivify (ms MA N)
	if res2 := set(t, s, "viv", "abc", 0, 0, &SetArgs{Mode: ModeAppend, Vivify: true, VivifyExptime: 100}); res2.Result != Stored {
		t.Fatalf("append vivify: %v", res2.Result)
	}
	if r := mustGet(t, s, "viv", "abc"); r.it.TTL() != 100 {
		t.Fatalf("vivified TTL %d", r.it.TTL())
	}
	// explicit new CAS (ms E)
	if res2 := set(t, s, "e", "v", 0, 0, &SetArgs{NewCAS: 12345}); res2.CAS != 12345 {
		t.Fatalf("explicit CAS: %d", res2.CAS)
	}
	if r := mustGet(t, s, "e", "v"); r.it.CAS != 12345 {
		t.Fatalf("stored CAS %d", r.it.CAS)
	}
	checkInv(t, s)
}

func TestNoCAS(t *testing.T) {
	cfg := testConfig()
	cfg.NoCAS = true
	s, _ := newTestStore(t, cfg)
	r := mustSet(t, s, "a", "1")
	if r.CAS != 0 {
		t.Fatalf("CAS %d with NoCAS", r.CAS)
	}
	if g := mustGet(t, s, "a", "1"); g.it.CAS != 0 {
		t.Fatalf("item CAS %d", g.it.CAS)
	}
	if res := set(t, s, "a", "2", 0, 0, &SetArgs{Mode: ModeCAS, CAS: 0}); res.Result != Exists {
		t.Fatalf("cas 0 with NoCAS: %v", res.Result)
	}
	if r := set(t, s, "b", strings.Repeat("x", 40), 0, 0, nil); r.Class != 1 {
		t.Fatalf("24+1+40 bytes should fit the 72-byte class 1 without CAS, got class %d", r.Class)
	}
	checkInv(t, s)
}

func TestExpiry(t *testing.T) {
	s, clk := newTestStore(t, testConfig())
	set(t, s, "a", "v", 0, 10, nil)
	set(t, s, "neg", "v", 0, -1, nil)
	set(t, s, "abs", "v", 0, clk.Epoch()+int64(clk.Now())+6, nil)
	mustMiss(t, s, "neg")
	r := mustGet(t, s, "a", "v")
	if r.it.TTL() != 10 {
		t.Fatalf("TTL %d", r.it.TTL())
	}
	clk.Advance(5)
	mustGet(t, s, "abs", "v")
	clk.Advance(4)
	mustGet(t, s, "a", "v")
	mustMiss(t, s, "abs")
	clk.Advance(1)
	mustMiss(t, s, "a")
	if st := s.Stats(); st.GetExpired != 3 || st.CurrItems != 0 {
		t.Fatalf("get_expired %d curr_items %d", st.GetExpired, st.CurrItems)
	}
	checkInv(t, s)
}

func TestTouchAndGat(t *testing.T) {
	s, clk := newTestStore(t, testConfig())
	set(t, s, "a", "v", 0, 10, nil)
	if s.Touch([]byte("a"), 100).Result != Touched || s.Touch([]byte("b"), 1).Result != NotFound {
		t.Fatal("touch results")
	}
	clk.Advance(50)
	r, ok := get(t, s, "a", &GetArgs{Touch: true, Exptime: 0})
	if !ok || r.it.TTL() != -1 {
		t.Fatalf("gat to 0: %v %d", ok, r.it.TTL())
	}
	clk.Advance(1000)
	mustGet(t, s, "a", "v")
	checkInv(t, s)
}

func TestDelete(t *testing.T) {
	s, _ := newTestStore(t, testConfig())
	mustSet(t, s, "a", "v")
	if s.Delete([]byte("a"), nil).Result != Deleted || s.Delete([]byte("a"), nil).Result != NotFound {
		t.Fatal("delete results")
	}
	mustMiss(t, s, "a")
	r := mustSet(t, s, "b", "v")
	if s.Delete([]byte("b"), &DeleteArgs{CAS: r.CAS + 1}).Result != Exists {
		t.Fatal("delete with a bad CAS")
	}
	if s.Delete([]byte("b"), &DeleteArgs{CAS: r.CAS}).Result != Deleted {
		t.Fatal("delete with the right CAS")
	}
	checkInv(t, s)
}

func TestFlush(t *testing.T) {
	for _, nocas := range []bool{false, true} {
		cfg := testConfig()
		cfg.NoCAS = nocas
		s, clk := newTestStore(t, cfg)
		mustSet(t, s, "old", "v")
		clk.Advance(3)
		mustSet(t, s, "same-second", "v")
		s.Flush(0)
		mustMiss(t, s, "old")
		mustMiss(t, s, "same-second")
		clk.Advance(1)
		mustSet(t, s, "new", "v")
		mustGet(t, s, "new", "v")
		// delayed flush: valid until the time comes
		s.Flush(10)
		clk.Advance(5)
		mustGet(t, s, "new", "v")
		clk.Advance(6)
		mustMiss(t, s, "new")
		mustSet(t, s, "after", "v")
		clk.Advance(1)
		mustGet(t, s, "after", "v")
		// "old" and "new" are flushed lazily, found by the get; the
		// same-second item went at once (memcached's item_flush_expired).
		if st := s.Stats(); st.GetFlushed != 2 || st.CurrItems != 1 {
			t.Fatalf("nocas=%v get_flushed %d", nocas, st.GetFlushed)
		}
		checkInv(t, s)
	}
}

// An item stored right after a flush, in its second, is served, with or
// without CAS (-C: memcached 1.6.45 no longer flushes the whole second
// there); what was stored before the flush is gone.
func TestFlushKeepsItemsStoredAfterItInTheSameSecond(t *testing.T) {
	withAndWithoutCAS(t, func(t *testing.T, cfg Config) {
		s, _ := newTestStore(t, cfg)
		mustSet(t, s, "before", "v")
		s.Flush(0)
		mustSet(t, s, "after", "v")
		mustMiss(t, s, "before")
		mustGet(t, s, "after", "v")
	})
}

func TestDelta(t *testing.T) {
	s, _ := newTestStore(t, testConfig())
	incr := func(key string, d uint64) Outcome { return s.Delta([]byte(key), &DeltaArgs{Incr: true, Delta: d}) }
	decr := func(key string, d uint64) Outcome { return s.Delta([]byte(key), &DeltaArgs{Delta: d}) }
	if r := incr("none", 1); r.Result != NotFound {
		t.Fatalf("incr miss: %v", r.Result)
	}
	set(t, s, "a", "100", 5, 0, nil)
	if r := decr("a", 1); r.Result != Found || r.Value != 99 {
		t.Fatalf("decr: %+v", r)
	}
	// memcached pads in place with spaces
	if g := mustGet(t, s, "a", "99 "); g.it.Flags != 5 {
		t.Fatalf("flags lost: %d", g.it.Flags)
	}
	if r := incr("a", 1000); r.Value != 1099 {
		t.Fatalf("incr: %+v", r)
	}
	mustGet(t, s, "a", "1099")
	if r := decr("a", 5000); r.Value != 0 {
		t.Fatalf("decr floors at 0: %+v", r)
	}
	set(t, s, "w", "18446744073709551615", 0, 0, nil)
	if r := incr("w", 2); r.Value != 1 {
		t.Fatalf("incr wraps: %+v", r)
	}
	for _, v := range []string{"-5", "abc", "12abc", "", "99999999999999999999999"} {
		set(t, s, "n", v, 0, 0, nil)
		if r := incr("n", 1); r.Result != NonNumeric {
			t.Fatalf("incr on %q: %v", v, r.Result)
		}
	}
	set(t, s, "m", " 5 ", 0, 0, nil)
	if r := incr("m", 1); r.Value != 6 {
		t.Fatalf("incr on ' 5 ': %+v", r)
	}
	// CAS changes; a CAS mismatch refuses
	r1 := incr("m", 1)
	if r2 := s.Delta([]byte("m"), &DeltaArgs{Incr: true, Delta: 1, CAS: r1.CAS + 1}); r2.Result != Exists {
		t.Fatalf("incr with a bad CAS: %v", r2.Result)
	}
	if r2 := s.Delta([]byte("m"), &DeltaArgs{Incr: true, Delta: 1, CAS: r1.CAS}); r2.Result != Found || r2.CAS == r1.CAS {
		t.Fatalf("incr with the right CAS: %+v", r2)
	}
	// vivify (ma N J)
	r := s.Delta([]byte("viv"), &DeltaArgs{Incr: true, Delta: 1, Vivify: true, Initial: 13, VivifyExptime: 0})
	if r.Result != Found || r.Value != 13 || !r.Created {
		t.Fatalf("vivify: %+v", r)
	}
	if r := incr("viv", 1); r.Value != 14 {
		t.Fatalf("after vivify: %+v", r)
	}
	mustGet(t, s, "viv", "14")
	checkInv(t, s)
}

func TestLargeItems(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryLimit = 32 << 20
	cfg.ItemSizeMax = 4 << 20
	s, _ := newTestStore(t, cfg)
	sizes := []int{cfg.SlabChunkMax - 100, cfg.SlabChunkMax, cfg.SlabChunkMax + 1, 2*cfg.SlabChunkMax + 17, 3 << 20}
	for i, n := range sizes {
		v := bytes.Repeat([]byte{byte('a' + i)}, n)
		for j := range v {
			v[j] += byte(j % 7)
		}
		key := []byte{'L', byte('0' + i)}
		// arrive in odd pieces
		var r Reservation
		if res := s.Reserve(&r, key, uint32(i), 0, n); res != Stored {
			t.Fatalf("reserve %d: %v", n, res)
		}
		for off := 0; off < n; {
			m := min(4093, n-off)
			if w := r.Write(v[off : off+m]); w != m {
				t.Fatalf("write took %d of %d", w, m)
			}
			off += m
		}
		if r.Remaining() != 0 {
			t.Fatal("remaining")
		}
		if res := s.Commit(&r, nil); res.Result != Stored {
			t.Fatalf("commit %d: %v", n, res.Result)
		}
		g, ok := get(t, s, string(key), nil)
		if !ok || !bytes.Equal(g.value, v) || g.it.Len != n || g.it.Flags != uint32(i) {
			t.Fatalf("size %d: got %d bytes ok=%v", n, len(g.value), ok)
		}
	}
	// append across the chunk boundary
	if r := set(t, s, "L0", strings.Repeat("z", 300), 0, 0, &SetArgs{Mode: ModeAppend}); r.Result != Stored {
		t.Fatalf("append to large: %v", r.Result)
	}
	g, _ := get(t, s, "L0", nil)
	if len(g.value) != sizes[0]+300 || string(g.value[sizes[0]:]) != strings.Repeat("z", 300) {
		t.Fatalf("append result length %d", len(g.value))
	}
	if d := s.Delta([]byte("L3"), &DeltaArgs{Incr: true, Delta: 1}); d.Result != NonNumeric {
		t.Fatalf("incr on a chunked item: %v", d.Result)
	}
	checkInv(t, s)
	for i := range sizes {
		s.Delete([]byte{'L', byte('0' + i)}, nil)
	}
	checkInv(t, s)
	used := 0
	for c := 1; c <= s.slab.NumClasses(); c++ {
		used += s.slab.ClassStats(c).UsedChunks
	}
	if used != 0 {
		t.Fatalf("%d chunks still used after deleting everything", used)
	}
}

func TestAbortFreesMemory(t *testing.T) {
	s, _ := newTestStore(t, testConfig())
	var r Reservation
	if s.Reserve(&r, []byte("k"), 0, 0, 700000) != Stored {
		t.Fatal("reserve")
	}
	r.Write(make([]byte, 1000))
	// The reservation holds a head chunk and two data chunks.
	if err := s.Check(3); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(0); err == nil {
		t.Fatal("Check(0) should see the reservation's chunks")
	}
	s.Abort(&r)
	if r.Active() {
		t.Fatal("still active")
	}
	if err := s.Check(0); err != nil {
		t.Fatal(err)
	}
	mustMiss(t, s, "k")
}

func TestConfigValidation(t *testing.T) {
	bad := []func(*Config){
		func(c *Config) { c.MemoryLimit = 1000 },
		func(c *Config) { c.ItemSizeMax = 512 },
		func(c *Config) { c.ItemSizeMax = 2 << 30 },
		func(c *Config) { c.MemoryLimit = 8 << 20; c.ItemSizeMax = 5 << 20 }, // over half of -m
		func(c *Config) { c.ItemSizeMax = 100 << 10 },                        // under slab_chunk_max, as memcached refuses
		func(c *Config) { c.GrowthFactor = 1 },
		func(c *Config) { c.SlabAutomove = 3 },
		func(c *Config) { c.HotLRUPct = 50; c.WarmLRUPct = 40 },
		func(c *Config) { c.HashPower = 40 },
		func(c *Config) { c.SlabChunkMax = 1001 },
		func(c *Config) { c.LRUStripes = 3 },
		func(c *Config) { c.LRUStripes = 2 * MaxLRUStripes },
		func(c *Config) { c.LRUStripes = -1 },
	}
	for i, f := range bad {
		cfg := DefaultConfig()
		f(&cfg)
		if s, err := New(cfg, clock.NewFake(0)); !errors.Is(err, ErrConfig) {
			if s != nil {
				s.Close()
			}
			t.Errorf("case %d: New = %v, want ErrConfig", i, err)
		}
	}
	cfg := DefaultConfig()
	cfg.ItemSizeMax, cfg.SlabChunkMax = 100<<10, 64<<10
	s, err := New(cfg, clock.NewFake(0))
	if err != nil {
		t.Fatalf("-I 100k with slab_chunk_max 64k: %v", err)
	}
	s.Close()
	if _, err := New(DefaultConfig(), nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("nil clock: %v", err)
	}
}
