package bench

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/mctest"
	"github.com/slabcache/slabcache/internal/testenv"
	"github.com/slabcache/slabcache/proto"
)

func memcachedStats(t *testing.T, addr string) map[string]int64 {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	st, err := proto.NewConn(c).Stats()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for k, v := range st {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// TestRunMatchesMemcachedCounters runs short loads against a real memcached
// and checks that what we counted is what the server counted.
func TestRunMatchesMemcachedCounters(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*Config)
		exact int64 // when > 0, the exact number of requests
	}{
		{"text closed", func(c *Config) {}, 0},
		{"meta multiget pipelined", func(c *Config) { c.Protocol, c.MultiGet, c.Pipeline = "meta", 3, 4 }, 0},
		{"text multiget count-bounded", func(c *Config) { c.MultiGet, c.Requests, c.Duration = 5, 3001, 0 }, 3001},
		{"meta open loop", func(c *Config) { c.Protocol, c.Rate = "meta", 3000 }, 0},
		{"zipf one goroutine per conn", func(c *Config) { c.Dist, c.ConnsPerWorker = "zipf", 1 }, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := testenv.StartMemcached(t)
			c := DefaultConfig()
			c.Addr = addr
			c.Conns, c.ConnsPerWorker = 4, 2
			c.Keys = 3000
			c.Sets, c.Gets = 1, 3
			c.ValueMin, c.ValueMax = 10, 300
			c.Duration = 700 * time.Millisecond
			tc.edit(&c)
			var points []TimelinePoint
			res, err := Run(context.Background(), c, func(p TimelinePoint) { points = append(points, p) })
			if err != nil {
				t.Fatal(err)
			}
			st := memcachedStats(t, addr)
			if res.Errors != 0 || len(res.ConnErrors) != 0 {
				t.Fatalf("errors %d %v", res.Errors, res.ConnErrors)
			}
			if res.Ops == 0 || res.Ops != res.Gets+res.Sets {
				t.Fatalf("ops %d = gets %d + sets %d?", res.Ops, res.Gets, res.Sets)
			}
			if tc.exact > 0 && res.Ops != tc.exact {
				t.Fatalf("ops %d, want exactly %d", res.Ops, tc.exact)
			}
			if st["cmd_set"] != res.Sets || st["cmd_get"] != res.Keys || st["get_hits"] != res.Hits || st["get_misses"] != res.Misses {
				t.Fatalf("server counted sets %d gets %d hits %d misses %d; we counted sets %d keys %d hits %d misses %d",
					st["cmd_set"], st["cmd_get"], st["get_hits"], st["get_misses"], res.Sets, res.Keys, res.Hits, res.Misses)
			}
			if res.Keys != res.Gets*int64(c.MultiGet) || res.Hits == 0 || res.Misses == 0 {
				t.Fatalf("keys %d for %d gets of %d; hits %d misses %d (want both)", res.Keys, res.Gets, c.MultiGet, res.Hits, res.Misses)
			}
			if res.Latency.Count != res.Ops {
				t.Fatalf("latency histogram holds %d values for %d requests", res.Latency.Count, res.Ops)
			}
			if got := float64(res.Ops) / res.Seconds; got != res.OpsPerSec {
				t.Fatalf("ops/s %v, want %v", res.OpsPerSec, got)
			}
			var tl int64
			for _, p := range res.Timeline {
				tl += p.Ops
			}
			if tl != res.Ops {
				t.Fatalf("timeline sums to %d requests, total %d", tl, res.Ops)
			}
			if len(points) != len(res.Timeline) {
				t.Fatalf("progress saw %d points, timeline has %d", len(points), len(res.Timeline))
			}
			l := res.Latency
			if !(l.P50 > 0 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
				t.Fatalf("latency percentiles out of order: %+v", l)
			}
			if c.Rate > 0 {
				want := c.Rate * c.Duration.Seconds()
				if f := float64(res.Ops); f < 0.9*want || f > 1.02*want {
					t.Fatalf("open loop sent %d requests, want about %.0f", res.Ops, want)
				}
			}
		})
	}
}

func TestPrefillStoresEveryKey(t *testing.T) {
	addr := testenv.StartMemcached(t)
	c := DefaultConfig()
	c.Addr, c.Conns, c.Keys, c.Prefill, c.Duration = addr, 3, 1001, true, 0
	res, err := Run(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Prefill == nil || res.Prefill.Stored != 1001 || res.Prefill.Errors != 0 || res.Ops != 0 {
		t.Fatalf("prefill %+v, ops %d", res.Prefill, res.Ops)
	}
	if st := memcachedStats(t, addr); st["curr_items"] != 1001 || st["cmd_set"] != 1001 {
		t.Fatalf("server holds %d items after %d sets, want 1001", st["curr_items"], st["cmd_set"])
	}
	// Gets over the prefilled space all hit.
	c.Prefill, c.Duration, c.Sets, c.Gets = false, 300*time.Millisecond, 0, 1
	res, err = Run(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Misses != 0 || res.Hits == 0 || res.HitRatio != 1 {
		t.Fatalf("after prefill: %d hits, %d misses", res.Hits, res.Misses)
	}
}

// TestResultJSONShape checks the field names tools read from -json.
func TestResultJSONShape(t *testing.T) {
	addr := testenv.StartMemcached(t)
	c := DefaultConfig()
	c.Addr, c.Conns, c.Duration = addr, 2, 1500*time.Millisecond
	res, err := Run(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := res.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(b.String()), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"config", "target", "protocol", "seconds", "ops", "gets", "sets", "keys", "hits", "misses",
		"errors", "ops_per_sec", "keys_per_sec", "hit_ratio", "latency", "curve", "timeline", "client_cpu_seconds"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	lat, _ := m["latency"].(map[string]any)
	for _, k := range []string{"count", "mean_us", "p50_us", "p90_us", "p99_us", "p999_us", "max_us"} {
		if v, ok := lat[k].(float64); !ok || v <= 0 {
			t.Errorf("latency.%s = %v, want a positive number", k, lat[k])
		}
	}
	tl, _ := m["timeline"].([]any)
	if len(tl) < 2 {
		t.Fatalf("timeline has %d points for a 1.5 s run, want one per second and a last partial one", len(tl))
	}
	first, _ := tl[0].(map[string]any)
	for _, k := range []string{"t", "span", "ops", "ops_per_sec", "p50_us", "p99_us"} {
		if _, ok := first[k]; !ok {
			t.Errorf("timeline point lacks %q", k)
		}
	}
	curve, _ := m["curve"].([]any)
	if len(curve) < 10 {
		t.Fatalf("curve has %d points", len(curve))
	}
	var back Result
	if err := json.Unmarshal([]byte(b.String()), &back); err != nil || back.Ops != res.Ops || back.Config != res.Config {
		t.Fatalf("JSON does not read back: %v", err)
	}
	var table strings.Builder
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"throughput", "p99", "hits", "errors", strconv.FormatInt(res.Ops, 10)} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

// fakeServer answers gets with a miss and sets with STORED (or, with
// setFails, SERVER_ERROR out of memory storing object), and calls hook
// before answering each request.
func fakeServer(t *testing.T, hook func(), setFails bool) string {
	t.Helper()
	addr, _ := mctest.Serve(t, func(req *proto.Request, dst []byte) []byte {
		if hook != nil {
			hook()
		}
		switch {
		case req.Command == proto.CmdGet:
			return proto.AppendEnd(dst)
		case req.Command == proto.CmdSet && setFails:
			return proto.AppendError(dst, proto.ErrOutOfMemory)
		case req.Command == proto.CmdSet:
			return proto.AppendStored(dst)
		}
		return proto.AppendError(dst, proto.ErrUnknownCommand)
	})
	return addr
}

// stallOnce returns a hook that stalls the server once, for d, at the
// first request after `after` has passed.
func stallOnce(after, d time.Duration) func() {
	start := time.Now()
	var once sync.Once
	return func() {
		if time.Since(start) > after {
			once.Do(func() { time.Sleep(d) })
		}
	}
}

// TestOpenLoopHasNoCoordinatedOmission: a server stall of 300 ms shows in
// the open loop as many slow requests (all that were due meanwhile), while
// the closed loop, which stops sending while it waits, sees one.
func TestOpenLoopHasNoCoordinatedOmission(t *testing.T) {
	const stall = 300 * time.Millisecond
	run := func(rate float64) *Result {
		c := DefaultConfig()
		c.Addr = fakeServer(t, stallOnce(400*time.Millisecond, stall), false)
		c.Conns, c.Sets, c.Gets, c.Duration, c.Rate = 1, 0, 1, 1200*time.Millisecond, rate
		res, err := Run(context.Background(), c, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	open := run(1000)
	// About 300 of 1200 requests were due during the stall; their latency
	// is how long each waited, up to 300 ms: well over 10% exceed 50 ms.
	if open.Latency.P90 < 50e3 || open.Latency.Max < 250e3 {
		t.Fatalf("open loop: p90 %.0f µs, max %.0f µs; want p90 >= 50 ms and max >= 250 ms", open.Latency.P90, open.Latency.Max)
	}
	closed := run(0)
	if closed.Latency.Max < 250e3 {
		t.Fatalf("closed loop did not see the stall: max %.0f µs", closed.Latency.Max)
	}
	if closed.Latency.P99 > 50e3 {
		t.Fatalf("closed loop p99 %.0f µs: expected the stall to hide in one request", closed.Latency.P99)
	}
}

func TestServerErrorsAreCountedAndTheRunGoesOn(t *testing.T) {
	c := DefaultConfig()
	c.Addr = fakeServer(t, nil, true)
	c.Conns, c.Sets, c.Gets, c.Duration = 2, 1, 1, 300*time.Millisecond
	res, err := Run(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sets == 0 || res.Errors != res.Sets || res.Misses != res.Keys || res.Hits != 0 {
		t.Fatalf("sets %d errors %d keys %d misses %d hits %d: want every set an error, every get a miss", res.Sets, res.Errors, res.Keys, res.Misses, res.Hits)
	}
}

func TestBrokenServerEndsTheRun(t *testing.T) {
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
			go func() {
				// Read one request, then hang up without a reply.
				_, _ = c.Read(make([]byte, 512))
				c.Close()
			}()
		}
	}()
	c := DefaultConfig()
	c.Addr, c.Conns, c.Duration = l.Addr().String(), 3, 5*time.Second
	start := time.Now()
	res, err := Run(context.Background(), c, nil)
	if err == nil || !strings.Contains(err.Error(), "no request answered") {
		t.Fatalf("Run = %v, want an error saying no request was answered", err)
	}
	if res == nil || res.Errors < 3 || len(res.ConnErrors) != 3 {
		t.Fatalf("result %+v: want the lost requests and the 3 connection failures", res)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("Run took %v with every connection dead", time.Since(start))
	}
}

func TestRunStopsWithContext(t *testing.T) {
	c := DefaultConfig()
	c.Addr, c.Conns, c.Duration = fakeServer(t, nil, false), 2, time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := Run(ctx, c, nil)
	if err == nil || res == nil || res.Ops == 0 {
		t.Fatalf("Run = %v, %v; want the context's error and a partial result", res, err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("Run ignored its context for %v", time.Since(start))
	}
}

// TestHistogramMergingAcrossWorkers: the run's histogram, merged from
// several workers' interval histograms collected once a second, equals one
// histogram of all their values; the per-second histogram holds exactly that
// second's values; no count is lost.
func TestHistogramMergingAcrossWorkers(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	all := NewHistogram()
	recs := []*recorder{newRecorder(), newRecorder(), newRecorder()}
	sec, total := NewHistogram(), NewHistogram()
	var want counters
	for round := range 5 {
		secDirect := NewHistogram()
		for i, rec := range recs {
			n := 1000 * (i + 1)
			rec.mu.Lock()
			for range n {
				v := histMin + int64(r.ExpFloat64()*50e3) + int64(i)*1e6 // workers differ in range
				_ = all.RecordValue(v)
				_ = secDirect.RecordValue(v)
				rec.recordLocked(opGet, 2, 1, false, v)
			}
			rec.mu.Unlock()
			want.Ops += int64(n)
			want.Hits += int64(n)
		}
		sec.Reset()
		var c counters
		for _, rec := range recs {
			c.add(rec.collect(sec, total))
		}
		if c.Ops != 6000 || !sec.Equals(secDirect) {
			t.Fatalf("round %d: interval holds %d values (%d counted), want 6000 equal to the direct ones", round, sec.TotalCount(), c.Ops)
		}
	}
	if !total.Equals(all) {
		t.Fatalf("merged: count %d max %d p99 %d; direct: %d %d %d", total.TotalCount(), total.Max(), total.ValueAtQuantile(99),
			all.TotalCount(), all.Max(), all.ValueAtQuantile(99))
	}
	var got counters
	for _, rec := range recs {
		got.add(rec.tot)
	}
	if got.Ops != want.Ops || got.Hits != want.Hits || got.Misses != want.Ops || got.Keys != 2*want.Ops {
		t.Fatalf("counters %+v, want ops %d hits %d misses %d", got, want.Ops, want.Hits, want.Ops)
	}
}

// TestHotPathAllocs: drawing, encoding and recording a request allocate
// nothing.
func TestHotPathAllocs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MultiGet = 4
	cfg.ValueMin, cfg.ValueMax = 10, 1000
	cfg.Dist = "zipf"
	dist, _ := NewKeyDist(cfg.Dist, cfg.Keys, cfg.DistParam)
	for _, proto := range []string{"text", "meta"} {
		pr, _ := protocolByName(proto)
		e := &engine{cfg: cfg, proto: pr, dist: dist, values: makeValues(cfg.ValueMax)}
		c := &conn{out: make([]byte, 0, 64<<10), keys: [][]byte{make([]byte, 15), make([]byte, 15), make([]byte, 15), make([]byte, 15)}}
		rec := newRecorder()
		rng := rand.New(rand.NewPCG(1, 2))
		allocs := testing.AllocsPerRun(1000, func() {
			c.out = c.out[:0]
			p := e.appendOp(c, rng)
			rec.mu.Lock()
			rec.recordLocked(p.kind, int(p.nkeys), 1, false, 12345)
			rec.mu.Unlock()
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per request", proto, allocs)
		}
	}
}
