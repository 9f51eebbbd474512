package lru

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/slabcache/slabcache/internal/clock"
	"github.com/slabcache/slabcache/internal/invariants"
)

// withAndWithoutCAS runs f as two subtests, on testConfig with CAS and
// without (-C).
func withAndWithoutCAS(t *testing.T, f func(t *testing.T, cfg Config)) {
	for _, nocas := range []bool{false, true} {
		t.Run(fmt.Sprintf("nocas=%v", nocas), func(t *testing.T) {
			cfg := testConfig()
			cfg.NoCAS = nocas
			f(t, cfg)
		})
	}
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.MemoryLimit = 8 << 20
	cfg.ItemSizeMax = 1 << 20
	return cfg
}

func newTestStore(t testing.TB, cfg Config) (*Store, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(0)
	s, err := New(cfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clk
}

// checkInv runs the structural checks when built with -tags invariants.
func checkInv(t testing.TB, s *Store) {
	t.Helper()
	if invariants.Enabled {
		if err := s.Check(0); err != nil {
			t.Fatal(err)
		}
	}
}

// rec is a Hit that copies what it sees.
type rec struct {
	it    Item
	value []byte
	n     int
}

func (r *rec) Hit(it *Item) {
	r.it = *it
	r.value = it.AppendValue(r.value[:0])
	r.n++
}

func get(t testing.TB, s *Store, key string, args *GetArgs) (*rec, bool) {
	t.Helper()
	r := &rec{}
	ok := s.Get([]byte(key), args, r).Result == Found
	if ok != (r.n == 1) {
		t.Fatalf("Get(%q) = %v but Hit called %d times", key, ok, r.n)
	}
	return r, ok
}

func mustGet(t testing.TB, s *Store, key, want string) *rec {
	t.Helper()
	r, ok := get(t, s, key, nil)
	if !ok {
		t.Fatalf("Get(%q): miss, want %q", key, want)
	}
	if string(r.value) != want {
		t.Fatalf("Get(%q) = %q, want %q", key, r.value, want)
	}
	return r
}

func mustMiss(t testing.TB, s *Store, key string) {
	t.Helper()
	if r, ok := get(t, s, key, nil); ok {
		t.Fatalf("Get(%q) = %q, want a miss", key, r.value)
	}
}

func set(t testing.TB, s *Store, key, value string, flags uint32, exptime int64, args *SetArgs) Outcome {
	t.Helper()
	return s.Set([]byte(key), flags, exptime, []byte(value), args)
}

func mustSet(t testing.TB, s *Store, key, value string) Outcome {
	t.Helper()
	r := set(t, s, key, value, 0, 0, nil)
	if r.Result != Stored {
		t.Fatalf("Set(%q) = %v", key, r.Result)
	}
	return r
}

// fillPage stores one full page of items with vlen-byte values under keys
// prefix0000.. and returns their class. Called before a test's own items,
// it gives the class a second page, full, so that slabs reassign (which, as
// memcached's, moves no class's only page) may move the test's page: the
// mover takes the page with the fewest items.
func fillPage(t testing.TB, s *Store, prefix string, vlen int) int {
	t.Helper()
	v := bytes.Repeat([]byte("f"), vlen)
	r := s.Set(fmt.Appendf(nil, "%s%04d", prefix, 0), 0, 0, v, nil)
	if r.Result != Stored {
		t.Fatalf("filler set: %v", r.Result)
	}
	if got := s.slab.ClassStats(r.Class).UsedChunks; got != 1 {
		t.Fatalf("class %d already has %d chunks in use: fillPage must come first", r.Class, got)
	}
	for i := 1; i < s.slab.ChunksPerPage(r.Class); i++ {
		if o := s.Set(fmt.Appendf(nil, "%s%04d", prefix, i), 0, 0, v, nil); o.Result != Stored || o.Class != r.Class {
			t.Fatalf("filler set %d: %+v", i, o)
		}
	}
	return r.Class
}
