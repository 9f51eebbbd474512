package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/slabcache/slabcache/bench"
	"github.com/slabcache/slabcache/cluster/client"
	"github.com/slabcache/slabcache/proto"
)

// clusterRun is `slabbench run -discover`: every key goes through the
// project's Go client (cluster/client), which follows the membership and
// the hot keys, so the load spreads as an application's would. Workers are
// -conns goroutines, each with one request in flight; a read that misses
// stores the key (cache-aside), so no prefill is needed. It reports each
// node's requests (cmd_get + cmd_set from its stats, before and after) and
// the busiest node's share over the mean share.
// clusterOpts are the cluster mode's flags.
type clusterOpts struct {
	discover                 string
	noHot, perClient, random bool
	quiet                    bool
	json                     string // file for the JSON result, "" for none
	plot                     string // prefix of the PNG plots, "" for none
}

// clusterResult is the JSON form of a cluster-mode run.
type clusterResult struct {
	Config         bench.Config          `json:"config"`
	Discover       string                `json:"discover"`
	HotKeys        bool                  `json:"hot_keys_followed"`
	Requests       int64                 `json:"requests"`
	Seconds        float64               `json:"seconds"`
	Nodes          map[string]int64      `json:"node_requests"`
	BusiestOverAvg float64               `json:"busiest_over_mean"`
	Timeline       []bench.TimelinePoint `json:"timeline"` // hits and misses are the gets of each second
}

func clusterRun(ctx context.Context, cfg bench.Config, o clusterOpts, stdout, stderr io.Writer) error {
	discover, noHot, perClient, quiet := o.discover, o.noHot, o.perClient, o.quiet
	dist, err := bench.NewKeyDist(cfg.Dist, cfg.Keys, cfg.DistParam)
	if err != nil {
		return err
	}
	if cfg.Duration <= 0 {
		return errors.New("cluster mode needs -duration")
	}
	// Enough idle connections that no worker dials per request.
	ccfg := client.Config{Endpoints: []string{discover}, IgnoreHotKeys: noHot, HotKeyPerClient: perClient, HotKeyRandom: o.random,
		Timeout: cfg.Timeout, MaxIdleConnsPerNode: cfg.Conns}
	cl, err := client.New(ccfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	// With -hotkey-per-client every worker is a client of its own (one
	// node per hot key each); otherwise the workers share one.
	clients := make([]*client.Client, cfg.Conns)
	for i := range clients {
		clients[i] = cl
		if perClient {
			if clients[i], err = client.New(ccfg); err != nil {
				return err
			}
			defer clients[i].Close()
		}
	}
	var nodes []string
	for _, m := range cl.View().Members {
		nodes = append(nodes, m.Addr)
	}
	sort.Strings(nodes)
	before, err := nodeRequests(nodes)
	if err != nil {
		return err
	}
	var ops, sets, misses, errs, gets atomic.Int64
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	value := make([]byte, cfg.ValueMax)
	for i := range value {
		value[i] = 'v'
	}
	// Latencies of the current second (one request of a worker: a get, or
	// a set, or a get and the set after its miss).
	var latMu sync.Mutex
	lat := hdrhistogram.New(1, 60_000_000, 3) // µs
	start := time.Now()
	for w := range cfg.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(w)))
			cl := clients[w]
			total := cfg.Sets + cfg.Gets
			for ctx.Err() == nil {
				var err error
				t0 := time.Now()
				key := cfg.Key(dist.Next(rng))
				n := cfg.ValueMin
				if cfg.ValueMax > cfg.ValueMin {
					n += rng.IntN(cfg.ValueMax - cfg.ValueMin + 1)
				}
				if rng.IntN(total) < cfg.Sets {
					err = cl.Set(&client.Item{Key: key, Value: value[:n]})
					sets.Add(1)
				} else {
					gets.Add(1)
					if _, err = cl.Get(key); errors.Is(err, client.ErrCacheMiss) {
						misses.Add(1)
						err = cl.Set(&client.Item{Key: key, Value: value[:n]})
						sets.Add(1)
					}
				}
				if err != nil {
					errs.Add(1)
				}
				us := time.Since(t0).Microseconds()
				latMu.Lock()
				_ = lat.RecordValue(max(us, 1))
				latMu.Unlock()
				ops.Add(1)
			}
		}()
	}
	// One line a second (unless -quiet): requests, errors and the hit
	// ratio of the gets of that second: the timeline of the run.
	var timeline []bench.TimelinePoint
	tdone := make(chan struct{})
	go func() {
		defer close(tdone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var lastOps, lastGets, lastMiss, lastErr int64
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			o, g, m, e := ops.Load(), gets.Load(), misses.Load(), errs.Load()
			hit := 0.0
			if g > lastGets {
				hit = 1 - float64(m-lastMiss)/float64(g-lastGets)
			}
			latMu.Lock()
			p50, p99, pmax := lat.ValueAtQuantile(50), lat.ValueAtQuantile(99), lat.Max()
			lat.Reset()
			latMu.Unlock()
			timeline = append(timeline, bench.TimelinePoint{T: time.Since(start).Seconds(), Span: 1, Ops: o - lastOps,
				OpsPerSec: float64(o - lastOps), Hits: (g - lastGets) - (m - lastMiss), Misses: m - lastMiss, Errors: e - lastErr,
				P50Us: float64(p50), P99Us: float64(p99), MaxUs: float64(pmax)})
			if !quiet {
				fmt.Fprintf(stderr, "%5.0fs  %7d req/s  hit ratio %.3f  p99 %6dµs  errors %d  members %d  hot keys %d\n",
					time.Since(start).Seconds(), o-lastOps, hit, p99, e-lastErr, len(cl.View().Members), len(cl.HotKeys()))
			}
			lastOps, lastGets, lastMiss, lastErr = o, g, m, e
		}
	}()
	wg.Wait()
	<-tdone
	elapsed := time.Since(start)
	after := nodeRequestsAfter(nodes, before, stderr)
	var sum float64
	per := make([]float64, len(nodes))
	for i, n := range nodes {
		per[i] = float64(after[n] - before[n])
		sum += per[i]
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "node\trequests\tshare\t\n")
	busiest := 0.0
	for i, n := range nodes {
		share := per[i] / max(sum, 1)
		busiest = max(busiest, share)
		fmt.Fprintf(tw, "%s\t%.0f\t%.3f\t\n", n, per[i], share)
	}
	tw.Flush()
	mean := 1 / float64(len(nodes))
	fmt.Fprintf(stdout, "client requests %d (%.0f/s), sets %d (%d after a miss), errors %d, hot keys followed %d\n",
		ops.Load(), float64(ops.Load())/elapsed.Seconds(), sets.Load(), misses.Load(), errs.Load(), len(cl.HotKeys()))
	fmt.Fprintf(stdout, "busiest node share / mean share: %.2f\n", busiest/mean)
	if o.plot != "" {
		series := []bench.TimelineSeries{{Name: discover, Timeline: timeline}}
		what := fmt.Sprintf("cluster of %s, %d workers, %s keys", discover, cfg.Conns, strconv.FormatUint(cfg.Keys, 10))
		for _, f := range []struct {
			suffix string
			plot   func(string, string, []bench.TimelineSeries) error
			title  string
		}{{"-hitratio.png", bench.PlotHitRatio, "hit ratio"}, {"-throughput.png", bench.PlotThroughput, "throughput"}} {
			if err := f.plot(o.plot+f.suffix, f.title+" ("+what+")", series); err != nil {
				return err
			}
			fmt.Fprintln(stderr, "wrote", o.plot+f.suffix)
		}
	}
	if o.json == "" {
		return nil
	}
	res := clusterResult{Config: cfg, Discover: discover, HotKeys: !noHot, Requests: ops.Load(), Seconds: elapsed.Seconds(),
		Nodes: map[string]int64{}, BusiestOverAvg: busiest / mean, Timeline: timeline}
	for i, n := range nodes {
		res.Nodes[n] = int64(per[i])
	}
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if o.json == "-" {
		_, err = stdout.Write(append(data, '\n'))
		return err
	}
	return os.WriteFile(o.json, append(data, '\n'), 0o644)
}

// nodeRequestsAfter is nodeRequests at the end of a run, when some nodes
// may be gone (a node that left or was killed during the run): those
// count no requests, with a note on stderr.
func nodeRequestsAfter(nodes []string, before map[string]int64, stderr io.Writer) map[string]int64 {
	out := map[string]int64{}
	for _, addr := range nodes {
		one, err := nodeRequests([]string{addr})
		if err != nil {
			fmt.Fprintf(stderr, "%s: gone by the end of the run (%v); its requests are not counted\n", addr, err)
			out[addr] = before[addr]
			continue
		}
		out[addr] = one[addr]
	}
	return out
}

// nodeRequests reads cmd_get + cmd_set of every node.
func nodeRequests(nodes []string) (map[string]int64, error) {
	out := map[string]int64{}
	for _, addr := range nodes {
		nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return nil, err
		}
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		st, err := proto.NewConn(nc).Stats()
		nc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", addr, err)
		}
		g, _ := strconv.ParseInt(st["cmd_get"], 10, 64)
		s, _ := strconv.ParseInt(st["cmd_set"], 10, 64)
		out[addr] = g + s
	}
	return out, nil
}
