package lru

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/clock"
)

// BenchmarkLoadPauses loads 2,000,000 new keys into an empty 1 GiB store
// from one goroutine and reports the slowest single Sets: the index grows
// shard by shard as it fills, so these are the pauses a growing index
// causes a request (GC and first-touch page faults are mixed in). Compare
// runs side by side on a noisy machine:
//
//	go test -run '^$' -bench LoadPauses -benchtime 1x -count 3 ./lru/
func BenchmarkLoadPauses(b *testing.B) {
	const n = 2_000_000
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("key:%011d", i))
	}
	val := make([]byte, 100)
	lat := make([]time.Duration, n)
	for b.Loop() {
		cfg := DefaultConfig()
		cfg.MemoryLimit = 1 << 30
		s, err := New(cfg, clock.NewFake(0))
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		for i, k := range keys {
			t0 := time.Now()
			s.Set(k, 0, 0, val, nil)
			lat[i] = time.Since(t0)
		}
		st := s.Stats()
		s.Close()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[n-1].Microseconds()), "max-µs")
		b.ReportMetric(float64(lat[n-10].Microseconds()), "10th-worst-µs")
		b.ReportMetric(float64(lat[n-100].Microseconds()), "100th-worst-µs")
		b.ReportMetric(float64(lat[n-1000].Microseconds()), "1000th-worst-µs")
		b.ReportMetric(float64(st.HashExpansions), "expansions")
	}
}
