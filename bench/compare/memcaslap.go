package compare

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/slabcache/slabcache/bench"
)

// MemcaslapResult is what memcaslap prints at the end of a run.
type MemcaslapResult struct {
	Seconds   float64 `json:"seconds"`
	Ops       int64   `json:"ops"`
	TPS       float64 `json:"tps"`
	CmdGet    int64   `json:"cmd_get"`
	CmdSet    int64   `json:"cmd_set"`
	GetMisses int64   `json:"get_misses"`
}

var (
	memcaslapTotal = regexp.MustCompile(`Run time: ([0-9.]+)s Ops: ([0-9]+) TPS: ([0-9]+)`)
	memcaslapCount = regexp.MustCompile(`(?m)^(cmd_get|cmd_set|get_misses): ([0-9]+)`)
)

// ParseMemcaslap reads the totals from memcaslap's output (the last
// "Run time: ... Ops: ... TPS: ..." line and the cmd_get, cmd_set and
// get_misses lines).
func ParseMemcaslap(out []byte) (MemcaslapResult, error) {
	var r MemcaslapResult
	all := memcaslapTotal.FindAllSubmatch(out, -1)
	if len(all) == 0 {
		return r, fmt.Errorf("compare: no \"Run time: ... TPS:\" line in memcaslap output: %q", tail(out, 400))
	}
	m := all[len(all)-1]
	r.Seconds, _ = strconv.ParseFloat(string(m[1]), 64)
	r.Ops, _ = strconv.ParseInt(string(m[2]), 10, 64)
	r.TPS, _ = strconv.ParseFloat(string(m[3]), 64)
	for _, m := range memcaslapCount.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseInt(string(m[2]), 10, 64)
		switch string(m[1]) {
		case "cmd_get":
			r.CmdGet = v
		case "cmd_set":
			r.CmdSet = v
		case "get_misses":
			r.GetMisses = v
		}
	}
	if r.Ops == 0 || r.TPS == 0 {
		return r, fmt.Errorf("compare: memcaslap did no work: %q", tail(out, 400))
	}
	return r, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// memcaslapArgs: one thread, Conns concurrent clients, 100-byte values,
// memcaslap's default 1:9 set:get mix, for Duration.
func memcaslapArgs(c *Config, addr string) []string {
	secs := max(1, int(c.Duration.Round(time.Second)/time.Second))
	return []string{"-s", addr, "-t", strconv.Itoa(secs) + "s", "-T", "1", "-c", strconv.Itoa(c.Conns), "-X", "100"}
}

func runMemcaslap(ctx context.Context, c *Config, a, b *process) (*WorkloadReport, error) {
	wr := &WorkloadReport{
		Unpipelined: true,
		Name:        "memcaslap",
		Description: "Debian's memcaslap: 1 thread, " + strconv.Itoa(c.Conns) + " concurrent clients, 100 B values, its default 1:9 set:get mix",
	}
	err := runExternal(ctx, c, wr, a, b, c.Memcaslap, func(addr string) []string { return memcaslapArgs(c, addr) },
		func(out []byte) (*bench.Result, error) {
			mr, err := ParseMemcaslap(out)
			if err != nil {
				return nil, err
			}
			return &bench.Result{Seconds: mr.Seconds, Ops: mr.Ops, OpsPerSec: mr.TPS, Gets: mr.CmdGet, Sets: mr.CmdSet,
				Misses: mr.GetMisses}, nil
		})
	return wr, err
}

// runExternal runs an external load tool, bin with argsFor(server
// address), against A and B in alternating rounds, pinned like the load
// generator; result reads a run's figures from the tool's output. It
// fills wr's command, runs and summary.
func runExternal(ctx context.Context, c *Config, wr *WorkloadReport, a, b *process, bin string,
	argsFor func(addr string) []string, result func(out []byte) (*bench.Result, error)) error {
	tool := filepath.Base(bin)
	for r := 1; r <= c.Rounds; r++ {
		for _, p := range roundOrder(r, a, b) {
			args := argsFor(p.addr)
			wr.Command = tool + " " + joinArgs(args)
			name := bin
			if c.LoadCPUs != "" {
				name, args = "taskset", append([]string{"-c", c.LoadCPUs, bin}, args...)
			}
			rs, _, err := measured(ctx, c, p, r, func() (*bench.Result, error) {
				cctx, cancel := context.WithTimeout(ctx, c.Duration+time.Minute)
				defer cancel()
				var out bytes.Buffer
				cmd := exec.CommandContext(cctx, name, args...)
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Run(); err != nil {
					return nil, fmt.Errorf("%s: %v: %q", tool, err, tail(out.Bytes(), 400))
				}
				res, err := result(out.Bytes())
				if err != nil {
					return nil, err
				}
				res.ClientCPUSeconds = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
				return res, nil
			})
			if err != nil {
				return err
			}
			wr.Runs = append(wr.Runs, rs)
			c.logf("%-12s round %d %-10s %9.0f req/s  server cpu %5.2f µs/req", wr.Name, r, p.srv.Name, rs.OpsPerSec, rs.CPUPerOpUs)
		}
	}
	wr.summarize(c.A.Name, c.B.Name)
	return nil
}
