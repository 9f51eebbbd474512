package lru

import (
	"fmt"
	"sync"
	"testing"
)

// Prefetching changes nothing a reader can see: not the item, not its
// LRU state, not the counters.
func TestPrefetchChangesNothing(t *testing.T) {
	s, _ := newTestStore(t, testConfig())
	key := []byte("k1")
	s.Set(key, 7, 0, []byte("v1"), nil)
	before := s.Stats()
	for range 3 {
		s.PrefetchItem(s.PrefetchIndex(key))
		s.PrefetchItem(s.PrefetchIndex([]byte("absent")))
	}
	if after := s.Stats(); after != before {
		t.Errorf("stats changed:\n before %+v\n after  %+v", before, after)
	}
	var seen Item
	if o := s.Get(key, &GetArgs{NoBump: true}, hitFunc(func(it *Item) { seen = *it })); o.Result != Found || seen.Fetched {
		t.Errorf("after prefetching: %+v, fetched %v; want found, not yet fetched", o, seen.Fetched)
	}
}

// PrefetchIndex reads where a shard's table is without the shard lock,
// while inserts grow tables and free the old ones: it must neither race
// (go test -race) nor fault.
func TestPrefetchWhileIndexGrows(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryLimit = 64 << 20
	s, _ := newTestStore(t, cfg)
	const n = 300_000 // more than the smallest tables hold
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Appendf(nil, "key:%d", (i*2+g)%n)
				s.PrefetchItem(s.PrefetchIndex(k))
			}
		})
	}
	for i := range n {
		s.Set(fmt.Appendf(nil, "key:%d", i), 0, 0, []byte("v"), nil)
	}
	close(stop)
	wg.Wait()
	if st := s.Stats(); st.HashExpansions == 0 {
		t.Fatalf("the index never grew (%+v): the test did not test", st)
	}
}
