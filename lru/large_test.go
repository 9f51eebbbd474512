package lru

import (
	"bytes"
	"fmt"
	"testing"
)

// Values of growing size, 1 KiB up to the item size limit in 2 KiB steps
// (about 256 MiB in all, as memcached's getset.t stores them), into 64
// MiB: every one is stored, large ones evicting large ones, and the last
// ones read back.
func TestLargeItemsEvictAtFullMemory(t *testing.T) {
	cfg := DefaultConfig() // 64 MiB, -I 1m, slab_chunk_max 512 KiB
	s, _ := newTestStore(t, cfg)
	val := bytes.Repeat([]byte("B"), 1<<20)
	var last []int
	n := 0
	for size := 1024; MemcachedItemSize(len("foo_1048576"), 0, size, true) <= cfg.ItemSizeMax; size += 2048 {
		key := []byte(fmt.Sprintf("foo_%d", size))
		if o := s.Set(key, 0, 0, val[:size], nil); o.Result != Stored {
			st := s.Stats()
			t.Fatalf("set of %d bytes: %v (stored %d before it; evictions %d, out of memory %d)", size, o.Result, n, st.Evictions, st.OutOfMemory)
		}
		n++
		last = append(last, size)
		if n%64 == 0 {
			checkInv(t, s)
		}
	}
	if n < 500 {
		t.Fatalf("only %d sizes tried", n)
	}
	// The most recent large value is there, whole.
	size := last[len(last)-1]
	var got []byte
	if o := s.Get([]byte(fmt.Sprintf("foo_%d", size)), nil, hitFunc(func(it *Item) { got = it.AppendValue(nil) })); o.Result != Found || !bytes.Equal(got, val[:size]) {
		t.Fatalf("last value of %d bytes: %v, %d bytes back", size, o.Result, len(got))
	}
	if st := s.Stats(); st.Evictions == 0 {
		t.Fatalf("256 MiB into 64 MiB without an eviction: %+v", st)
	}
	checkInv(t, s)
}

type hitFunc func(*Item)

func (f hitFunc) Hit(it *Item) { f(it) }
