package compare

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/slabcache/slabcache/bench"
)

// memtier_benchmark (Redis' load tool, which speaks memcached's text
// protocol) as a second external load generator beside memcaslap: an
// unpipelined workload of 50 connections, a pipelined one and a multi-get
// one, the same command line against A and B in alternating rounds.

// MemtierWorkload is one memtier_benchmark command line.
type MemtierWorkload struct {
	Name        string
	Description string
	Args        []string // after the server, connections, duration and output flags
	// Conns is the connections of its one thread (0: Config.Conns).
	Conns int
	// Unpipelined: the unpipelined targets apply, else the pipelined
	// throughput target does.
	Unpipelined bool
}

// MemtierWorkloads are the memtier runs of a comparison.
func MemtierWorkloads() []MemtierWorkload {
	return []MemtierWorkload{
		{Name: "memtier-p1", Description: "memtier_benchmark: 1 thread, 50 connections, one request at a time each, 1:10 set:get, 100 B values",
			Args: []string{"--ratio", "1:10", "-d", "100"}, Conns: 50, Unpipelined: true},
		{Name: "memtier-p16", Description: "memtier_benchmark: 1 thread, pipeline of 16 per connection, 1:10 set:get, 100 B values",
			Args: []string{"--pipeline", "16", "--ratio", "1:10", "-d", "100"}},
		{Name: "memtier-mget10", Description: "memtier_benchmark: 1 thread, gets of up to 10 keys, 1:10 set:get, 100 B values",
			Args: []string{"--multi-key-get", "10", "--ratio", "1:10", "-d", "100"}},
	}
}

// ParseMemtierJSON reads the totals of memtier_benchmark's --json-out-file
// for a run of testSecs (--test-time). Throughput is the request count over
// the seconds in which requests were made: memtier's own runtime and rate
// are unreliable for short runs (1 ms, or a second more than the run with
// a handful of requests in it), so the seconds are counted from its
// per-second series, leaving out seconds with under 1% of the busiest
// one's requests; without a series, testSecs.
func ParseMemtierJSON(data []byte, testSecs float64) (*bench.Result, error) {
	type totals struct {
		Count     int64   `json:"Count"`
		OpsPerSec float64 `json:"Ops/sec"`
		Misses    float64 `json:"Misses/sec"`
		// Percentiles in milliseconds.
		Percentiles struct {
			P50  float64 `json:"p50.00"`
			P99  float64 `json:"p99.00"`
			P999 float64 `json:"p99.90"`
		} `json:"Percentile Latencies"`
		Series map[string]struct {
			Count int64 `json:"Count"`
		} `json:"Time-Serie"`
	}
	var doc struct {
		All struct {
			Runtime struct {
				Duration float64 `json:"Total duration"`
			} `json:"Runtime"`
			Sets   totals `json:"Sets"`
			Gets   totals `json:"Gets"`
			Totals totals `json:"Totals"`
		} `json:"ALL STATS"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("compare: memtier_benchmark JSON: %w", err)
	}
	a := doc.All
	runtime := a.Runtime.Duration / 1000
	secs := testSecs
	var busiest int64
	for _, b := range a.Totals.Series {
		busiest = max(busiest, b.Count)
	}
	if busiest > 0 {
		secs = 0
		for _, b := range a.Totals.Series {
			if b.Count*100 >= busiest {
				secs++
			}
		}
	}
	if a.Totals.Count == 0 || secs <= 0 {
		return nil, fmt.Errorf("compare: memtier_benchmark did no work")
	}
	misses := int64(0)
	if runtime > 0 {
		misses = int64(a.Gets.Misses * runtime) // memtier's rate times its own runtime
	}
	pc := a.Totals.Percentiles
	lat := bench.LatencySummary{Count: a.Totals.Count, P50: pc.P50 * 1000, P99: pc.P99 * 1000, P999: pc.P999 * 1000}
	return &bench.Result{Seconds: secs, Ops: a.Totals.Count, OpsPerSec: float64(a.Totals.Count) / secs,
		Gets: a.Gets.Count, Sets: a.Sets.Count, Misses: misses, Latency: lat}, nil
}

func memtierArgs(c *Config, w MemtierWorkload, addr, out string) []string {
	host, port, _ := net.SplitHostPort(addr)
	conns := c.Conns
	if w.Conns > 0 {
		conns = w.Conns
	}
	args := []string{"-s", host, "-p", port, "-P", "memcache_text", "-t", "1", "-c", strconv.Itoa(conns),
		"--key-maximum", strconv.FormatUint(max(c.Keys, 1), 10), "--test-time", strconv.Itoa(memtierSecs(c)),
		"--hide-histogram", "--json-out-file", out}
	return append(args, w.Args...)
}

func runMemtier(ctx context.Context, c *Config, w MemtierWorkload, a, b *process) (*WorkloadReport, error) {
	wr := &WorkloadReport{Name: w.Name, Description: w.Description, ThroughputTarget: !w.Unpipelined, Unpipelined: w.Unpipelined}
	out := filepath.Join(c.OutDir, w.Name+".json")
	err := runExternal(ctx, c, wr, a, b, c.Memtier, func(addr string) []string { return memtierArgs(c, w, addr, out) },
		func([]byte) (*bench.Result, error) {
			data, err := os.ReadFile(out)
			if err != nil {
				return nil, err
			}
			return ParseMemtierJSON(data, float64(memtierSecs(c)))
		})
	return wr, err
}

// memtierSecs is memtier_benchmark's --test-time for c.Duration.
func memtierSecs(c *Config) int { return max(1, int(c.Duration.Round(time.Second)/time.Second)) }
