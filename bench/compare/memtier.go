package compare

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/slabcache/slabcache/bench"
)

// memtier_benchmark (Redis' load tool, which speaks memcached's text
// protocol) as a second external load generator beside memcaslap: a
// pipelined workload and a multi-get one, the same command line against A
// and B in alternating rounds.

// MemtierWorkload is one memtier_benchmark command line.
type MemtierWorkload struct {
	Name        string
	Description string
	Args        []string // after the server, connections, duration and output flags
}

// MemtierWorkloads are the memtier runs of a comparison.
func MemtierWorkloads() []MemtierWorkload {
	return []MemtierWorkload{
		{"memtier-p16", "memtier_benchmark: 1 thread, pipeline of 16 per connection, 1:10 set:get, 100 B values",
			[]string{"--pipeline", "16", "--ratio", "1:10", "-d", "100"}},
		{"memtier-mget10", "memtier_benchmark: 1 thread, gets of up to 10 keys, 1:10 set:get, 100 B values",
			[]string{"--multi-key-get", "10", "--ratio", "1:10", "-d", "100"}},
	}
}

// ParseMemtierJSON reads the totals of memtier_benchmark's --json-out-file.
func ParseMemtierJSON(data []byte) (*bench.Result, error) {
	type totals struct {
		Count     int64   `json:"Count"`
		OpsPerSec float64 `json:"Ops/sec"`
		Misses    float64 `json:"Misses/sec"`
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
	secs := a.Runtime.Duration / 1000
	if a.Totals.Count == 0 || secs <= 0 {
		return nil, fmt.Errorf("compare: memtier_benchmark did no work")
	}
	return &bench.Result{Seconds: secs, Ops: a.Totals.Count, OpsPerSec: a.Totals.OpsPerSec,
		Gets: a.Gets.Count, Sets: a.Sets.Count, Misses: int64(a.Gets.Misses * secs)}, nil
}

func memtierArgs(c *Config, w MemtierWorkload, addr, out string) []string {
	host, port, _ := net.SplitHostPort(addr)
	secs := max(1, int(c.Duration.Round(time.Second)/time.Second))
	args := []string{"-s", host, "-p", port, "-P", "memcache_text", "-t", "1", "-c", strconv.Itoa(c.Conns),
		"--key-maximum", strconv.FormatUint(max(c.Keys, 1), 10), "--test-time", strconv.Itoa(secs),
		"--hide-histogram", "--json-out-file", out}
	return append(args, w.Args...)
}

func runMemtier(ctx context.Context, c *Config, w MemtierWorkload, a, b *process) (*WorkloadReport, error) {
	wr := &WorkloadReport{Name: w.Name, Description: w.Description}
	out := filepath.Join(c.OutDir, w.Name+".json")
	for r := 1; r <= c.Rounds; r++ {
		for _, p := range roundOrder(r, a, b) {
			args := memtierArgs(c, w, p.addr, out)
			wr.Command = "memtier_benchmark " + joinArgs(args)
			name := c.Memtier
			if c.LoadCPUs != "" {
				name, args = "taskset", append([]string{"-c", c.LoadCPUs, c.Memtier}, args...)
			}
			rs, _, err := measured(ctx, c, p, r, func() (*bench.Result, error) {
				cctx, cancel := context.WithTimeout(ctx, c.Duration+time.Minute)
				defer cancel()
				var log bytes.Buffer
				cmd := exec.CommandContext(cctx, name, args...)
				cmd.Stdout, cmd.Stderr = &log, &log
				if err := cmd.Run(); err != nil {
					return nil, fmt.Errorf("memtier_benchmark: %v: %q", err, tail(log.Bytes(), 400))
				}
				data, err := os.ReadFile(out)
				if err != nil {
					return nil, err
				}
				res, err := ParseMemtierJSON(data)
				if err != nil {
					return nil, err
				}
				res.ClientCPUSeconds = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
				return res, nil
			})
			if err != nil {
				return wr, err
			}
			wr.Runs = append(wr.Runs, rs)
			c.logf("%-12s round %d %-10s %9.0f req/s  server cpu %5.2f µs/req", w.Name, r, p.srv.Name, rs.OpsPerSec, rs.CPUPerOpUs)
		}
	}
	wr.summarize(c.A.Name, c.B.Name)
	return wr, nil
}
