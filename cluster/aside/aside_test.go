package aside

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slabcache/slabcache/cluster/client"
	"github.com/slabcache/slabcache/internal/testenv"
)

// server is one kind of server the package is tested against.
type server struct {
	name  string
	start func(t testing.TB) string
	// versions: the server knows ms E (memcached 1.6.27 and later).
	versions bool
}

var servers = []server{
	{"slabcached", func(t testing.TB) string { return testenv.StartSlabcached(t) }, true},
	{"memcached-1.6.45", func(t testing.TB) string { return testenv.StartReference(t) }, true},
	{"memcached-debian", func(t testing.TB) string {
		if _, err := exec.LookPath("memcached"); err != nil {
			t.Skip("Debian's memcached is not installed (scripts/deps.sh installs it)")
		}
		return testenv.StartMemcached(t)
	}, false},
}

// eachServer runs f against every kind of server (skipping those absent).
func eachServer(t *testing.T, f func(t *testing.T, s server, addr string)) {
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) { f(t, s, s.start(t)) })
	}
}

func newCache(t testing.TB, addr string, cfg Config) *Cache {
	t.Helper()
	return newCacheWith(t, client.Config{Servers: []string{addr}, PollInterval: -1}, cfg)
}

func newCacheWith(t testing.TB, ccfg client.Config, cfg Config) *Cache {
	t.Helper()
	cl, err := client.New(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	c, err := New(cl, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// countingLoader returns a loader that takes d and counts its calls.
func countingLoader(d time.Duration, value string) (Loader, *atomic.Int64) {
	var n atomic.Int64
	return func(ctx context.Context, key string) ([]byte, error) {
		n.Add(1)
		time.Sleep(d)
		return []byte(value), nil
	}, &n
}

// Many callers of a cold key, in two Caches (two clients, as two
// processes would be): the loader runs once and every caller gets its
// value.
func TestOneLoadPerMiss(t *testing.T) {
	eachServer(t, func(t *testing.T, s server, addr string) {
		a, b := newCache(t, addr, Config{}), newCache(t, addr, Config{})
		loader, calls := countingLoader(100*time.Millisecond, "v1")
		var wg sync.WaitGroup
		errs := make(chan error, 200)
		for i := range 200 {
			c := a
			if i%2 == 1 {
				c = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := c.GetOrLoad(context.Background(), "cold", loader)
				if err == nil && string(v) != "v1" {
					err = fmt.Errorf("got %q", v)
				}
				if err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n := calls.Load(); n != 1 {
			t.Fatalf("loader ran %d times, want 1", n)
		}
		if v, res, err := a.Get(context.Background(), "cold", loader); err != nil || string(v) != "v1" || res != FromCache {
			t.Fatalf("afterwards: %q %v %v, want v1 from the cache", v, res, err)
		}
		sa, sb := a.Stats(), b.Stats()
		if sa.Misses+sb.Misses != 1 || sa.Coalesced+sb.Coalesced < 190 {
			t.Fatalf("stats: misses %d, coalesced %d", sa.Misses+sb.Misses, sa.Coalesced+sb.Coalesced)
		}
	})
}

// Past the soft TTL the value is served at once while one caller
// refreshes it in the background; the refreshed value follows.
func TestStaleWhileRevalidate(t *testing.T) {
	eachServer(t, func(t *testing.T, s server, addr string) {
		c := newCache(t, addr, Config{TTL: time.Second, StaleFor: 10 * time.Second, Jitter: -1})
		var version atomic.Int64
		loader := func(ctx context.Context, key string) ([]byte, error) {
			return []byte(fmt.Sprintf("v%d", version.Add(1))), nil
		}
		ctx := context.Background()
		if v, res, err := c.Get(ctx, "k", loader); err != nil || string(v) != "v1" || res != FromLoader {
			t.Fatalf("first: %q %v %v", v, res, err)
		}
		// Into the soft window: the remaining TTL, in the server's whole
		// seconds, under StaleFor.
		time.Sleep(2100 * time.Millisecond)
		v, res, err := c.Get(ctx, "k", loader)
		if err != nil || string(v) != "v1" || res != FromStale {
			t.Fatalf("in the soft window: %q %v %v, want v1 served stale", v, res, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			v, res, err = c.Get(ctx, "k", loader)
			if err == nil && string(v) == "v2" && res == FromCache {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the refresh: %q %v %v, want v2 from the cache", v, res, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if st := c.Stats(); st.Loads != 2 || st.Refreshes != 1 {
			t.Fatalf("loads %d refreshes %d, want 2 and 1", st.Loads, st.Refreshes)
		}
	})
}

// A key the loader does not find is cached as not found, for NegativeTTL.
func TestNegativeCaching(t *testing.T) {
	eachServer(t, func(t *testing.T, s server, addr string) {
		c := newCache(t, addr, Config{})
		var calls atomic.Int64
		loader := func(ctx context.Context, key string) ([]byte, error) {
			calls.Add(1)
			return nil, fmt.Errorf("row %s: %w", key, ErrNotFound)
		}
		for range 5 {
			if _, err := c.GetOrLoad(context.Background(), "nobody", loader); !errors.Is(err, ErrNotFound) {
				t.Fatalf("err %v, want ErrNotFound", err)
			}
		}
		if calls.Load() != 1 || c.Stats().NegativeHits != 4 {
			t.Fatalf("loader calls %d, negative hits %d; want 1 and 4", calls.Load(), c.Stats().NegativeHits)
		}
		// With a soft window longer than NegativeTTL the negative is
		// not refreshed over and over.
		soft := newCache(t, addr, Config{StaleFor: time.Minute})
		for range 5 {
			if _, err := soft.GetOrLoad(context.Background(), "nobody-soft", loader); !errors.Is(err, ErrNotFound) {
				t.Fatalf("err %v, want ErrNotFound", err)
			}
		}
		time.Sleep(50 * time.Millisecond) // a refresh would have run by now
		if calls.Load() != 2 {
			t.Fatalf("loader calls %d with a soft window, want 2", calls.Load())
		}
	})
}

// Versioned writes: an older version never overwrites a newer one.
func TestVersionedSet(t *testing.T) {
	eachServer(t, func(t *testing.T, s server, addr string) {
		if !s.versions {
			t.Skip("this memcached predates ms E (1.6.27)")
		}
		c := newCache(t, addr, Config{})
		ctx := context.Background()
		if err := c.Set(ctx, "row", []byte("v5"), 5); err != nil {
			t.Fatal(err)
		}
		if err := c.Set(ctx, "row", []byte("v3"), 3); !errors.Is(err, ErrOlderVersion) {
			t.Fatalf("older version: %v, want ErrOlderVersion", err)
		}
		if err := c.Set(ctx, "row", []byte("v7"), 7); err != nil {
			t.Fatal(err)
		}
		never := func(ctx context.Context, key string) ([]byte, error) { return nil, errors.New("loader called") }
		if v, err := c.GetOrLoad(ctx, "row", never); err != nil || string(v) != "v7" {
			t.Fatalf("%q %v, want v7", v, err)
		}
		// A load racing a write: the lease's CAS makes the write win.
		loader := func(ctx context.Context, key string) ([]byte, error) {
			if err := c.Set(ctx, key, []byte("written"), 9); err != nil {
				t.Error(err)
			}
			return []byte("loaded"), nil
		}
		if v, err := c.GetOrLoad(ctx, "race", loader); err != nil || string(v) != "loaded" {
			t.Fatalf("%q %v", v, err)
		}
		if v, err := c.GetOrLoad(ctx, "race", never); err != nil || string(v) != "written" {
			t.Fatalf("after the race: %q %v, want the write's value", v, err)
		}
	})
}

// Invalidate marks a value stale: with AllowStale it is served while one
// caller reloads it.
func TestInvalidateServesStale(t *testing.T) {
	eachServer(t, func(t *testing.T, s server, addr string) {
		c := newCache(t, addr, Config{AllowStale: true})
		var version atomic.Int64
		loader := func(ctx context.Context, key string) ([]byte, error) {
			return []byte(fmt.Sprintf("v%d", version.Add(1))), nil
		}
		ctx := context.Background()
		c.GetOrLoad(ctx, "k", loader)
		if err := c.Invalidate(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if v, res, err := c.Get(ctx, "k", loader); err != nil || string(v) != "v1" || res != FromStale {
			t.Fatalf("after Invalidate: %q %v %v, want v1 served stale", v, res, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			v, _, err := c.Get(ctx, "k", loader)
			if err == nil && string(v) == "v2" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not reloaded: %q %v", v, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// A failing loader: stale values are served, the breaker opens (the
// loader is left alone) and closes again once it works.
func TestLoaderBreaker(t *testing.T) {
	addr := testenv.StartSlabcached(t)
	c := newCache(t, addr, Config{TTL: time.Second, StaleFor: time.Minute, Jitter: -1, BreakerFailures: 3, BreakerOpen: 500 * time.Millisecond})
	var failing atomic.Bool
	var calls atomic.Int64
	loader := func(ctx context.Context, key string) ([]byte, error) {
		calls.Add(1)
		if failing.Load() {
			return nil, errors.New("database down")
		}
		return []byte("ok:" + key), nil
	}
	ctx := context.Background()
	for i := range 5 {
		c.GetOrLoad(ctx, fmt.Sprintf("k%d", i), loader)
	}
	failing.Store(true)
	time.Sleep(2100 * time.Millisecond) // into the soft window (whole seconds)
	// Each stale read wins a refresh that fails; the breaker opens after 3.
	for i := range 5 {
		if v, res, err := c.Get(ctx, fmt.Sprintf("k%d", i), loader); err != nil || res != FromStale || string(v) != fmt.Sprintf("ok:k%d", i) {
			t.Fatalf("k%d while failing: %q %v %v, want the stale value", i, v, res, err)
		}
	}
	// A key never loaded has no stale value: refused while open.
	deadline := time.Now().Add(3 * time.Second)
	for c.Stats().LoaderRejected == 0 {
		c.GetOrLoad(ctx, fmt.Sprintf("new%d", time.Now().UnixNano()), loader)
		if time.Now().After(deadline) {
			t.Fatalf("the breaker never opened: %+v", c.Stats())
		}
	}
	if _, err := c.GetOrLoad(ctx, "fresh-key", loader); !errors.Is(err, ErrLoaderUnavailable) {
		t.Fatalf("with the breaker open: %v, want ErrLoaderUnavailable", err)
	}
	// The loader keeps failing while 8 readers go on (ASIDE_LOADER_FAIL
	// sets how long; docs/client.md quotes 10 s): stale values for the
	// keys that have one, refusals for new keys, and few loader calls.
	failFor := time.Second
	if d, err := time.ParseDuration(os.Getenv("ASIDE_LOADER_FAIL")); err == nil {
		failFor = d
	}
	var reads, stale, refused atomic.Int64
	startCalls, stop := calls.Load(), time.Now().Add(failFor)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				key := fmt.Sprintf("k%d", i%5)
				if i%10 == 0 {
					key = fmt.Sprintf("new-%d-%d", g, i)
				}
				_, res, err := c.Get(ctx, key, loader)
				reads.Add(1)
				switch {
				case errors.Is(err, ErrLoaderUnavailable):
					refused.Add(1)
				case err == nil && res == FromStale:
					stale.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	during := calls.Load() - startCalls
	t.Logf("loader failing for %v: %d reads, %d stale values served, %d refused by the open breaker, %d loader calls",
		failFor, reads.Load(), stale.Load(), refused.Load(), during)
	if stale.Load() == 0 || refused.Load() == 0 || during*10 > reads.Load() {
		t.Fatalf("stale %d, refused %d, loader calls %d of %d reads", stale.Load(), refused.Load(), during, reads.Load())
	}
	before := calls.Load()
	failing.Store(false)
	time.Sleep(600 * time.Millisecond) // half-open
	if v, err := c.GetOrLoad(ctx, "after", loader); err != nil || string(v) != "ok:after" {
		t.Fatalf("after the loader recovered: %q %v", v, err)
	}
	if calls.Load() != before+1 || c.Stats().LoaderBreaker.String() != "closed" {
		t.Fatalf("loader calls %d (want %d), breaker %v", calls.Load(), before+1, c.Stats().LoaderBreaker)
	}
}

// With the cache gone, callers get the loader's values within their
// deadline.
func TestCacheDown(t *testing.T) {
	addr := "127.0.0.1:" + fmt.Sprint(testenv.FreePort(t)) // nothing listens
	c := newCacheWith(t, client.Config{Servers: []string{addr}, PollInterval: -1, DialTimeout: 100 * time.Millisecond, Timeout: 100 * time.Millisecond}, Config{})
	loader, calls := countingLoader(0, "from-db")
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		v, res, err := c.Get(ctx, fmt.Sprintf("k%d", i), loader)
		cancel()
		if err != nil || string(v) != "from-db" || res != FromBypass {
			t.Fatalf("k%d: %q %v %v", i, v, res, err)
		}
	}
	if calls.Load() != 20 || c.Stats().CacheErrors == 0 {
		t.Fatalf("loader calls %d, cache errors %d", calls.Load(), c.Stats().CacheErrors)
	}
}

// The near cache serves repeated reads in-process and drops entries whose
// version changed.
func TestNearCache(t *testing.T) {
	addr := testenv.StartSlabcached(t)
	c := newCache(t, addr, Config{NearCacheBytes: 1 << 20, NearTTL: time.Minute})
	loader, _ := countingLoader(0, "v")
	ctx := context.Background()
	c.GetOrLoad(ctx, "k", loader)
	for range 10 {
		if v, res, err := c.Get(ctx, "k", loader); err != nil || string(v) != "v" || res != FromNear {
			t.Fatalf("%q %v %v, want a near hit", v, res, err)
		}
	}
	if err := c.Set(ctx, "k", []byte("w"), 100); err != nil {
		t.Fatal(err)
	}
	if v, res, err := c.Get(ctx, "k", loader); err != nil || string(v) != "w" || res != FromCache {
		t.Fatalf("after Set: %q %v %v, want w from the cache", v, res, err)
	}
}

// Compression: a JSON corpus is stored compressed and read back; random
// bytes are stored raw.
func TestCompression(t *testing.T) {
	addr := testenv.StartSlabcached(t)
	c := newCache(t, addr, Config{CompressAbove: 256})
	doc := jsonCorpus(200)
	random := make([]byte, 4096)
	rand.Read(random)
	ctx := context.Background()
	for key, want := range map[string][]byte{"json": doc, "random": random} {
		loader := func(ctx context.Context, key string) ([]byte, error) { return want, nil }
		c.GetOrLoad(ctx, key, loader)
		v, res, err := c.Get(ctx, key, loader)
		if err != nil || res != FromCache || !bytes.Equal(v, want) {
			t.Fatalf("%s: %v %v, %d bytes back of %d", key, res, err, len(v), len(want))
		}
	}
	if st := c.Stats(); st.Compressed != 1 || st.Incompressible != 1 {
		t.Fatalf("compressed %d, kept raw %d; want 1 and 1", st.Compressed, st.Incompressible)
	}
	cl, _ := client.New(client.Config{Servers: []string{addr}, PollInterval: -1})
	defer cl.Close()
	it, err := cl.Get("json")
	if err != nil || it.Flags&FlagCompressed == 0 || len(it.Value) >= len(doc)/2 {
		t.Fatalf("stored JSON: flags %#x, %d bytes of %d, %v", it.Flags, len(it.Value), len(doc), err)
	}
	t.Logf("JSON corpus: %d bytes stored as %d (ratio %.1f)", len(doc), len(it.Value), float64(len(doc))/float64(len(it.Value)))
}

// jsonCorpus is n records of a typical API response.
func jsonCorpus(n int) []byte {
	type rec struct {
		ID      int      `json:"id"`
		Name    string   `json:"name"`
		Email   string   `json:"email"`
		Active  bool     `json:"active"`
		Roles   []string `json:"roles"`
		Created string   `json:"created_at"`
	}
	var rs []rec
	for i := range n {
		rs = append(rs, rec{ID: i, Name: fmt.Sprintf("user %d", i), Email: fmt.Sprintf("user%d@example.com", i),
			Active: i%3 != 0, Roles: []string{"reader", "writer"}[:1+i%2], Created: "2026-12-03T10:00:00Z"})
	}
	b, _ := json.Marshal(rs)
	return b
}

// The Collector exposes the counters and the breakers' states.
func TestCollector(t *testing.T) {
	addr := testenv.StartSlabcached(t)
	c := newCache(t, addr, Config{})
	loader, _ := countingLoader(0, "v")
	c.GetOrLoad(context.Background(), "k", loader)
	c.GetOrLoad(context.Background(), "k", loader)
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c.Collector()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			got[name] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	for name, want := range map[string]float64{
		"slabcache_aside_requests_total/cache":  1,
		"slabcache_aside_requests_total/loader": 1,
		"slabcache_aside_events_total/load":     1,
		"slabcache_aside_breaker_state/loader":  0,
		"slabcache_aside_breaker_state/" + addr: 0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
}

// A cache node that hangs (accepts, never answers): a caller with a
// deadline gets the loader's value once half of it is gone, without
// waiting for the client's timeout.
func TestCacheHangs(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	c := newCacheWith(t, client.Config{Servers: []string{l.Addr().String()}, PollInterval: -1, Timeout: 5 * time.Second}, Config{})
	loader, calls := countingLoader(0, "from-db")
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
		start := time.Now()
		v, res, err := c.Get(ctx, fmt.Sprintf("k%d", i), loader)
		took := time.Since(start)
		cancel()
		if err != nil || string(v) != "from-db" || res != FromBypass {
			t.Fatalf("k%d: %q %v %v after %v", i, v, res, err, took)
		}
		t.Logf("k%d answered from the loader after %v", i, took.Round(time.Millisecond))
	}
	if calls.Load() != 3 || c.Stats().Hedges != 3 {
		t.Fatalf("loader calls %d, hedges %d; want 3 and 3", calls.Load(), c.Stats().Hedges)
	}
}

// Every TTL stored is spread by Jitter either way.
func TestTTLJitter(t *testing.T) {
	addr := testenv.StartSlabcached(t)
	c := newCache(t, addr, Config{TTL: 100 * time.Second, Jitter: 0.1})
	loader, _ := countingLoader(0, "v")
	cl, err := client.New(client.Config{Servers: []string{addr}, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[int64]bool{}
	for i := range 50 {
		key := fmt.Sprintf("j%d", i)
		c.GetOrLoad(context.Background(), key, loader)
		l, err := cl.LeaseGet(key, 0, 0)
		if err != nil || !l.Hit {
			t.Fatalf("%s: %+v %v", key, l, err)
		}
		if l.TTL < 89 || l.TTL > 110 {
			t.Fatalf("%s: TTL %d, want 90 to 110", key, l.TTL)
		}
		seen[l.TTL] = true
	}
	if len(seen) < 5 {
		t.Fatalf("50 TTLs took only %d values: %v", len(seen), seen)
	}
}
