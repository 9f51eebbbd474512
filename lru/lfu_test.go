package lru

import (
	"fmt"
	"strings"
	"testing"
)

// Keys that were asked for often (and missed: evicted earlier, or new) and
// are stored again hold their place under eviction=lfu against a scan of
// keys read once, which pushes them out of the LRU: the frequency sketch
// remembers reads of keys that are not in the cache.
func TestLFUKeepsFrequentKeysThroughAScan(t *testing.T) {
	const hotKeys = 3000
	survivors := map[bool]int{}
	for _, lfu := range []bool{false, true} {
		cfg := testConfig()
		cfg.MemoryLimit = 4 << 20
		cfg.LFU = lfu
		cfg.SlabAutomove = 0
		s, _ := newTestStore(t, cfg)
		s.Start() // the maintainer, as in the server
		value := strings.Repeat("v", 200)
		for range 5 { // asked for often, and missed
			for i := range hotKeys {
				get(t, s, fmt.Sprintf("hot:%06d", i), nil)
			}
		}
		for i := range hotKeys {
			mustSet(t, s, fmt.Sprintf("hot:%06d", i), value)
		}
		for i := range 40000 { // the scan: each key read (a miss), then stored
			k := fmt.Sprintf("scn:%06d", i)
			get(t, s, k, nil)
			if out := set(t, s, k, value, 0, 0, nil); out.Result != Stored {
				t.Fatalf("scan set %d: %v", i, out.Result)
			}
		}
		s.Stop() // the maintainer, before the structural checks
		checkInv(t, s)
		for i := range hotKeys {
			if _, ok := get(t, s, fmt.Sprintf("hot:%06d", i), &GetArgs{NoBump: true}); ok {
				survivors[lfu]++
			}
		}
	}
	t.Logf("frequent keys left after the scan: lru %d, lfu %d of %d", survivors[false], survivors[true], hotKeys)
	if survivors[true] < hotKeys*9/10 || survivors[true] < 2*survivors[false] {
		t.Fatalf("lfu kept %d of %d frequent keys (lru %d)", survivors[true], hotKeys, survivors[false])
	}
}

// Under LFU a key read a little more often than another, both stored in
// the same order, outlives it once memory runs out; evictions are counted
// as under the LRU, and no frequent key is lost while infrequent ones are
// left.
func TestLFUEvictsTheLeastRead(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryLimit = 2 << 20
	cfg.LFU = true
	s, _ := newTestStore(t, cfg)
	s.Start()
	value := strings.Repeat("v", 1000)
	for i := range 3000 {
		k := fmt.Sprintf("k:%d", i)
		mustSet(t, s, k, value)
		if i%2 == 0 {
			for range 3 {
				get(t, s, k, nil)
			}
		}
	}
	even, odd := 0, 0
	for i := range 3000 {
		if _, ok := get(t, s, fmt.Sprintf("k:%d", i), &GetArgs{NoBump: true}); ok {
			if i%2 == 0 {
				even++
			} else {
				odd++
			}
		}
	}
	st := s.Stats()
	t.Logf("left: %d read keys, %d unread; %d evictions", even, odd, st.Evictions)
	if st.Evictions == 0 || even <= odd*2 {
		t.Fatalf("left %d read keys and %d unread ones after %d evictions", even, odd, st.Evictions)
	}
}

// -M with eviction=lfu: nothing is evicted, a store that needs room fails.
func TestLFUWithoutEvictions(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryLimit = 2 << 20
	cfg.LFU, cfg.NoEvict = true, true
	s, _ := newTestStore(t, cfg)
	value := strings.Repeat("v", 1000)
	full := false
	for i := range 5000 {
		if out := set(t, s, fmt.Sprintf("k:%d", i), value, 0, 0, nil); out.Result == NoMemory {
			full = true
			break
		}
	}
	if st := s.Stats(); !full || st.Evictions != 0 {
		t.Fatalf("full %v, %d evictions", full, st.Evictions)
	}
}
