//go:build !slabheap

package slab

import (
	"testing"

	"github.com/slabcache/slabcache/internal/testenv"
)

// With HugePages the region starts on a huge page boundary and all of it
// carries the huge page advice; without, none of it does.
func TestHugePages(t *testing.T) {
	const limit = 16 << 20
	for _, huge := range []bool{true, false} {
		before := testenv.HugeAdvised(t, 0)
		cfg := DefaultConfig()
		cfg.MemLimit = limit
		cfg.HugePages = huge
		a, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Alloc(1); err != nil {
			t.Fatal(err)
		}
		advised := testenv.HugeAdvised(t, 0) - before
		if huge && advised < limit || !huge && advised != 0 {
			t.Errorf("HugePages %v: %d more bytes advised as huge pages", huge, advised)
		}
		if base := uintptr(a.base); huge && base%hugePageSize != 0 {
			t.Errorf("HugePages: region at %#x, not on a huge page boundary", base)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
