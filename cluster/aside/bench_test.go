package aside

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/slabcache/slabcache/internal/testenv"
)

// A hot key expiring under load: with a soft window, each expiry costs
// one loader call and no request waits for it (every one is served from
// the cache, fresh or stale). The request rate and the longest request are
// logged.
func TestExpiringHotKey(t *testing.T) {
	addr := testenv.StartSlabcached(t)
	c := newCache(t, addr, Config{TTL: time.Second, StaleFor: 5 * time.Second, Jitter: -1})
	var loads atomic.Int64
	loader := func(ctx context.Context, key string) ([]byte, error) {
		loads.Add(1)
		time.Sleep(50 * time.Millisecond) // a slow query
		return []byte(fmt.Sprintf("v%d", loads.Load())), nil
	}
	ctx := context.Background()
	c.GetOrLoad(ctx, "hot", loader)
	const run = 4 * time.Second
	stop := time.Now().Add(run)
	var requests atomic.Int64
	var mu sync.Mutex
	var slowest time.Duration
	results := map[Result]int64{}
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := map[Result]int64{}
			var worst time.Duration
			for time.Now().Before(stop) {
				t0 := time.Now()
				_, res, err := c.Get(ctx, "hot", loader)
				if d := time.Since(t0); d > worst {
					worst = d
				}
				if err != nil {
					t.Error(err)
					return
				}
				local[res]++
				requests.Add(1)
			}
			mu.Lock()
			for r, n := range local {
				results[r] += n
			}
			slowest = max(slowest, worst)
			mu.Unlock()
		}()
	}
	wg.Wait()
	// Expiries in the run: one a second (TTL 1 s in whole seconds), and
	// the first load before it.
	reloads := loads.Load() - 1
	t.Logf("%d requests in %v (%.0f/s); results %v; %d reloads; slowest request %v",
		requests.Load(), run, float64(requests.Load())/run.Seconds(), results, reloads, slowest)
	if reloads < 2 || reloads > int64(run/time.Second)+1 {
		t.Fatalf("%d reloads in %v with a 1 s TTL: want one per expiry", reloads, run)
	}
	if results[FromLoader]+results[FromWait]+results[FromBypass] != 0 {
		t.Fatalf("requests waited for a load: %v", results)
	}
}

// BenchmarkHit is a read served by the near cache, and one served by the
// cache over loopback.
func BenchmarkHit(b *testing.B) {
	addr := testenv.StartSlabcached(b)
	for _, tc := range []struct {
		name string
		cfg  Config
		want Result
	}{
		{"near", Config{NearCacheBytes: 1 << 20, NearTTL: time.Hour}, FromNear},
		{"cache", Config{}, FromCache},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := newCache(b, addr, tc.cfg)
			ctx := context.Background()
			loader := func(ctx context.Context, key string) ([]byte, error) { return []byte("value"), nil }
			key := "k-" + tc.name
			c.GetOrLoad(ctx, key, loader)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, res, _ := c.Get(ctx, key, loader); res != tc.want {
					b.Fatal(res)
				}
			}
		})
	}
}

// BenchmarkCompress is s2 on the JSON corpus (MB/s of input, and the
// ratio) and on random bytes (which are then stored raw).
func BenchmarkCompress(b *testing.B) {
	random := make([]byte, 64<<10)
	rand.Read(random)
	for _, in := range []struct {
		name string
		data []byte
	}{{"json", jsonCorpus(400)}, {"random", random}} {
		b.Run(in.name, func(b *testing.B) {
			c := &Cache{cfg: Config{CompressAbove: 1}}
			var out []byte
			var flags uint32
			b.SetBytes(int64(len(in.data)))
			for i := 0; i < b.N; i++ {
				out, flags = c.encode(in.data)
			}
			b.ReportMetric(float64(len(in.data))/float64(len(out)), "ratio")
			if flags&FlagCompressed != 0 {
				if back, err := s2.Decode(nil, out); err != nil || !slices.Equal(back, in.data) {
					b.Fatal("round trip failed")
				}
			}
		})
	}
}
