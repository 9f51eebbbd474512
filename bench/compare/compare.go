package compare

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"time"

	"github.com/slabcache/slabcache/bench"
)

// Memory test shape: fixed at 1,000,000 items of 15-byte keys
// and 100-byte values.
const (
	MemKeySize   = 15
	MemValueSize = 100
)

// Workload is one load shape run against both servers.
type Workload struct {
	// Name is short and file-name safe ("getset-p16").
	Name string `json:"name"`
	// Description says what the workload is, for the report.
	Description string `json:"description"`
	// Load is the load-generator template; Addr, Duration, Conns, Keys and
	// Seed are set by the comparison for each run.
	Load bench.Config `json:"load"`
	// Prefill stores the whole key space on both servers (after flush_all)
	// before the workload's first run.
	Prefill bool `json:"prefill"`
	// ThroughputTarget marks the workloads the throughput target is
	// about (pipelining and multi-get).
	ThroughputTarget bool `json:"throughput_target"`
}

// DefaultWorkloads returns the five workloads of the comparison.
func DefaultWorkloads() []Workload {
	base := bench.DefaultConfig()
	base.Sets, base.Gets = 1, 10
	base.ValueMin, base.ValueMax = 100, 100
	w := func(name, desc string, prefill, target bool, edit func(*bench.Config)) Workload {
		c := base
		edit(&c)
		return Workload{Name: name, Description: desc, Load: c, Prefill: prefill, ThroughputTarget: target}
	}
	return []Workload{
		w("getset-p1", "1:10 set:get, 100 B values, uniform keys, pipeline 1", true, false, func(c *bench.Config) {}),
		w("getset-p16", "1:10 set:get, 100 B values, uniform keys, pipeline 16", true, true, func(c *bench.Config) { c.Pipeline = 16 }),
		w("multiget-10", "gets of 10 keys each, 100 B values, uniform keys, pipeline 1", true, true, func(c *bench.Config) {
			c.Sets, c.Gets, c.MultiGet = 0, 1, 10
		}),
		w("set-1k", "sets only, 1 KiB values, uniform keys, pipeline 1", false, false, func(c *bench.Config) {
			c.Sets, c.Gets = 1, 0
			c.ValueMin, c.ValueMax = 1024, 1024
		}),
		w("zipf-get", "gets only, zipf 0.99 keys, 100 B values, pipeline 1", true, false, func(c *bench.Config) {
			c.Sets, c.Gets = 0, 1
			c.Dist, c.DistParam = "zipf", 0.99
		}),
	}
}

// Config describes one comparison.
type Config struct {
	// A is the reference (Debian's memcached), B the server under test.
	A Server `json:"a"`
	B Server `json:"b"`
	// MemoryMB is passed to both as -m. Default 1024.
	MemoryMB int `json:"memory_mb"`
	// Threads is passed to both as -t. Default 1 (the servers share one CPU).
	Threads int `json:"threads"`
	// ServerCPUs and LoadCPUs are taskset CPU lists for the servers and the
	// load generator; empty means unpinned. DefaultConfig pins the servers
	// to CPU 0 and the load to CPU 1 when the machine has two or more CPUs.
	ServerCPUs string `json:"server_cpus"`
	LoadCPUs   string `json:"load_cpus"`
	// Rounds is how many pairs of runs each workload has: A then B in odd
	// rounds, B then A in even ones. Default 5.
	Rounds int `json:"rounds"`
	// Duration is the length of each measured run. Default 5s.
	Duration time.Duration `json:"duration_ns"`
	// Conns is the number of connections of each run. Default 16.
	Conns int `json:"conns"`
	// Keys is the key space of the workloads. Default 100000.
	Keys uint64 `json:"keys"`
	// MemItems is how many items the memory test loads. Default 1000000;
	// 0 skips the memory test.
	MemItems int `json:"mem_items"`
	// Memcaslap is the path of Debian's memcaslap; empty skips it.
	Memcaslap string `json:"memcaslap"`
	// Memtier is the path of memtier_benchmark; empty skips its
	// workloads (MemtierWorkloads).
	Memtier string `json:"memtier"`
	// Workloads to run. Default DefaultWorkloads().
	Workloads []Workload `json:"workloads"`
	// Loader runs the load generator. Default InProcess{}.
	Loader Loader `json:"-"`
	// OutDir receives the report (report.md, report.json), plots and logs.
	OutDir string `json:"out_dir"`
	// Log receives progress lines; nil for none.
	Log io.Writer `json:"-"`
}

// DefaultConfig returns the full comparison's settings (about 6 minutes).
func DefaultConfig() Config {
	c := Config{
		A:         Server{Name: "memcached", Binary: "/usr/bin/memcached"},
		MemoryMB:  1024,
		Threads:   1,
		Rounds:    5,
		Duration:  5 * time.Second,
		Conns:     16,
		Keys:      100000,
		MemItems:  1000000,
		Memcaslap: "/usr/bin/memcaslap",
		Workloads: DefaultWorkloads(),
		Loader:    InProcess{},
		OutDir:    "bench-out",
	}
	if runtime.NumCPU() >= 2 {
		c.ServerCPUs, c.LoadCPUs = "0", "1"
	}
	return c
}

// Quick shrinks c to a smoke test of a few seconds per server.
func (c *Config) Quick() {
	c.Rounds = 1
	c.Duration = time.Second
	c.Keys = 10000
	c.MemItems = 20000
}

// MemcachedArgs returns the arguments Debian's memcached needs besides the
// common ones: no UDP, and -u root when running as root.
func MemcachedArgs() []string {
	args := []string{"-U", "0"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root")
	}
	return args
}

func (c *Config) validate() error {
	var errs []error
	for _, s := range []Server{c.A, c.B} {
		if s.Name == "" || s.Binary == "" {
			errs = append(errs, fmt.Errorf("compare: server %+v needs a name and a binary", s))
			continue
		}
		if st, err := os.Stat(s.Binary); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			errs = append(errs, fmt.Errorf("compare: %s binary %q is not an executable file", s.Name, s.Binary))
		}
	}
	if c.A.Name == c.B.Name {
		errs = append(errs, fmt.Errorf("compare: A and B are both named %q; name them apart", c.A.Name))
	}
	if c.MemoryMB < 64 {
		errs = append(errs, fmt.Errorf("compare: -m %d MB is too small", c.MemoryMB))
	}
	if c.Threads < 1 || c.Rounds < 1 || c.Duration <= 0 || c.Conns < 1 || c.Keys < 1 || c.MemItems < 0 {
		errs = append(errs, errors.New("compare: threads, rounds, duration, conns and keys must be positive"))
	}
	if c.Loader == nil {
		errs = append(errs, errors.New("compare: no Loader"))
	}
	if c.OutDir == "" {
		errs = append(errs, errors.New("compare: no output directory"))
	}
	return errors.Join(errs...)
}

func (c *Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", args...)
	}
}

// Run performs the comparison and writes report.md, report.json and the
// plots into c.OutDir. The returned report is complete as far as it got
// when an error is returned.
func Run(ctx context.Context, c Config) (*Report, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.OutDir, 0o755); err != nil {
		return nil, err
	}
	started := time.Now()
	rep := &Report{Config: c, StartedAt: started.UTC(), Host: hostFacts()}
	if c.ServerCPUs == "" {
		rep.Notes = append(rep.Notes, "servers and load generator were not pinned to separate CPUs (fewer than 2 CPUs, or pinning disabled)")
	}
	err := run(ctx, &c, rep)
	rep.Seconds = time.Since(started).Seconds()
	if err != nil {
		rep.Notes = append(rep.Notes, "the comparison stopped early, so this report is incomplete: "+err.Error())
	}
	if werr := rep.writeFiles(c.OutDir); werr != nil && err == nil {
		err = werr
	}
	return rep, err
}

func run(ctx context.Context, c *Config, rep *Report) error {
	if c.MemItems > 0 {
		mem, err := memoryTest(ctx, c)
		rep.Memory = mem
		if err != nil {
			return err
		}
	}
	c.logf("starting %s and %s for the workloads", c.A.Name, c.B.Name)
	a, err := startServer(ctx, c.A, c.MemoryMB, c.Threads, c.ServerCPUs, c.OutDir)
	if err != nil {
		return err
	}
	defer a.stop()
	b, err := startServer(ctx, c.B, c.MemoryMB, c.Threads, c.ServerCPUs, c.OutDir)
	if err != nil {
		return err
	}
	defer b.stop()
	for _, w := range c.Workloads {
		wr, err := runWorkload(ctx, c, w, a, b)
		if wr != nil {
			rep.Workloads = append(rep.Workloads, *wr)
			rep.noteErrors(wr)
			rep.noteInterference(wr)
		}
		if err != nil {
			return fmt.Errorf("workload %s: %w", w.Name, err)
		}
	}
	if c.Memtier != "" {
		for _, w := range MemtierWorkloads() {
			wr, err := runMemtier(ctx, c, w, a, b)
			if wr != nil {
				rep.Memtier = append(rep.Memtier, *wr)
				rep.noteErrors(wr)
				rep.noteInterference(wr)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", w.Name, err)
			}
		}
	}
	if c.Memcaslap != "" {
		wr, err := runMemcaslap(ctx, c, a, b)
		if wr != nil {
			rep.Memcaslap = wr
			rep.noteErrors(wr)
			rep.noteInterference(wr)
		}
		if err != nil {
			return fmt.Errorf("memcaslap: %w", err)
		}
	}
	return nil
}

// memoryTest loads MemItems items into a fresh A and a fresh B, one at a
// time, and reads their RSS before and after.
func memoryTest(ctx context.Context, c *Config) (*MemoryReport, error) {
	m := &MemoryReport{Items: c.MemItems, KeySize: MemKeySize, ValueSize: MemValueSize}
	for i, srv := range []Server{c.A, c.B} {
		c.logf("memory: loading %d items into a fresh %s", c.MemItems, srv.Name)
		ms, err := memoryOne(ctx, c, srv)
		if err != nil {
			return m, fmt.Errorf("memory test on %s: %w", srv.Name, err)
		}
		if i == 0 {
			m.A = ms
		} else {
			m.B = ms
		}
	}
	m.Ratio = ratio(m.B.BytesPerItem, m.A.BytesPerItem)
	m.TotalRatio = ratio(m.B.TotalBytesPerItem, m.A.TotalBytesPerItem)
	return m, nil
}

func memoryOne(ctx context.Context, c *Config, srv Server) (MemStats, error) {
	var ms MemStats
	p, err := startServer(ctx, srv, c.MemoryMB, c.Threads, c.ServerCPUs, c.OutDir)
	if err != nil {
		return ms, err
	}
	defer p.stop()
	time.Sleep(300 * time.Millisecond) // let start-up allocations settle
	if ms.EmptyRSS, err = ProcRSS(p.pid()); err != nil {
		return ms, err
	}
	cfg := bench.DefaultConfig()
	cfg.Addr = p.addr
	cfg.Conns = 4
	cfg.Keys = uint64(c.MemItems)
	cfg.KeySize = MemKeySize
	cfg.ValueMin, cfg.ValueMax = MemValueSize, MemValueSize
	cfg.Prefill = true
	cfg.Duration, cfg.Requests = 0, 0
	res, err := c.Loader.Load(ctx, cfg)
	if err != nil {
		return ms, err
	}
	if res.Prefill == nil || res.Prefill.Stored != int64(c.MemItems) {
		return ms, fmt.Errorf("loaded %+v items, want %d", res.Prefill, c.MemItems)
	}
	st, err := p.stats("")
	if err != nil {
		return ms, err
	}
	ms.Items, _ = strconv.ParseInt(st["curr_items"], 10, 64)
	ms.Evictions, _ = strconv.ParseInt(st["evictions"], 10, 64)
	if ms.LoadedRSS, err = ProcRSS(p.pid()); err != nil {
		return ms, err
	}
	if ms.Items > 0 {
		ms.BytesPerItem = float64(ms.LoadedRSS-ms.EmptyRSS) / float64(ms.Items)
		ms.TotalBytesPerItem = float64(ms.LoadedRSS) / float64(ms.Items)
	}
	if ms.Items != int64(c.MemItems) {
		return ms, fmt.Errorf("%s holds %d items after loading %d (evictions %d): raise -m", srv.Name, ms.Items, c.MemItems, ms.Evictions)
	}
	return ms, nil
}

// runWorkload runs w Rounds times on A then B.
func runWorkload(ctx context.Context, c *Config, w Workload, a, b *process) (*WorkloadReport, error) {
	wr := &WorkloadReport{Name: w.Name, Description: w.Description, ThroughputTarget: w.ThroughputTarget}
	cfg := w.Load
	cfg.Addr = ""
	cfg.Conns = c.Conns
	cfg.Keys = c.Keys
	cfg.Duration = c.Duration
	cfg.Requests = 0
	cfg.Prefill = false
	wr.Load = cfg
	if w.Prefill {
		for _, p := range []*process{a, b} {
			if err := p.flushAll(); err != nil {
				return wr, err
			}
			pc := cfg
			pc.Addr = p.addr
			pc.Prefill = true
			pc.Duration = 0
			if _, err := c.Loader.Load(ctx, pc); err != nil {
				return wr, fmt.Errorf("prefill %s: %w", p.srv.Name, err)
			}
		}
	}
	for r := 1; r <= c.Rounds; r++ {
		for _, p := range roundOrder(r, a, b) {
			rc := cfg
			rc.Addr = p.addr
			rc.Seed = uint64(r)
			rs, res, err := measured(ctx, c, p, r, func() (*bench.Result, error) { return c.Loader.Load(ctx, rc) })
			if err != nil {
				return wr, err
			}
			wr.Runs = append(wr.Runs, rs)
			wr.results = append(wr.results, res)
			c.logf("%-12s round %d %-10s %9.0f req/s  p99 %7.1f µs  server cpu %5.2f µs/req  errors %d",
				w.Name, r, p.srv.Name, rs.OpsPerSec, rs.P99Us, rs.CPUPerOpUs, rs.Errors)
		}
	}
	wr.summarize(c.A.Name, c.B.Name)
	if err := wr.plot(c.OutDir, c.A.Name, c.B.Name); err != nil {
		return wr, err
	}
	return wr, nil
}

// roundOrder gives the order of round r: A then B in odd rounds, B then A
// in even ones (A B, B A, A B, ...). Each server then runs as often first
// as second, so whatever a run leaves behind for the next one (a server's
// background work, the page cache, the neighbours' rhythm) does not always
// fall on the same server.
func roundOrder(r int, a, b *process) []*process {
	if r%2 == 0 {
		return []*process{b, a}
	}
	return []*process{a, b}
}

// measured brackets one load run with the server's CPU time and the
// machine's, to tell how much CPU other processes took meanwhile.
func measured(ctx context.Context, c *Config, p *process, round int, load func() (*bench.Result, error)) (RunStats, *bench.Result, error) {
	rs := RunStats{Server: p.srv.Name, Round: round}
	user0, sys0, err := ProcUserSysCPU(p.pid())
	if err != nil {
		return rs, nil, err
	}
	cpu0 := user0 + sys0
	busy0, steal0, err := SystemCPU()
	if err != nil {
		return rs, nil, err
	}
	start := time.Now()
	res, err := load()
	rs.WallSeconds = time.Since(start).Seconds()
	user1, sys1, cerr := ProcUserSysCPU(p.pid())
	cpu1 := user1 + sys1
	busy1, steal1, serr := SystemCPU()
	if err != nil {
		return rs, res, err
	}
	if cerr != nil {
		return rs, res, cerr
	}
	if serr != nil {
		return rs, res, serr
	}
	if !p.alive() {
		return rs, res, fmt.Errorf("%s exited during the run", p.srv.Name)
	}
	rs.Ops, rs.Errors = res.Ops, res.Errors
	rs.OpsPerSec, rs.P99Us = res.OpsPerSec, res.Latency.P99
	rs.ServerCPUSeconds = cpu1 - cpu0
	rs.ServerUserSeconds = user1 - user0
	rs.ClientCPUSeconds = res.ClientCPUSeconds
	rs.Seconds = res.Seconds
	rs.OtherCPUSeconds = max(0, busy1-busy0-rs.ServerCPUSeconds-rs.ClientCPUSeconds)
	rs.StealSeconds = steal1 - steal0
	if res.Ops > 0 {
		rs.CPUPerOpUs = rs.ServerCPUSeconds / float64(res.Ops) * 1e6
		rs.UserPerOpUs = rs.ServerUserSeconds / float64(res.Ops) * 1e6
	}
	return rs, res, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func ratio(b, a float64) float64 {
	if a == 0 {
		return 0
	}
	return b / a
}

func hostFacts() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s, %d CPUs, %s/%s, %s", h, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}
