package compare

import (
	"bytes"
	"context"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/testenv"
)

func TestParseStatCPU(t *testing.T) {
	// The command name may contain spaces and parentheses.
	line := "4242 (mem (cached) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 6 0 12345 1000000 500 18446744073709551615\n"
	if user, sys, err := parseStatUserSys([]byte(line)); err != nil || user != 2.5 || sys != 0.75 {
		t.Fatalf("parseStatUserSys = %v, %v, %v; want 2.5 s user, 0.75 s system (250 and 75 ticks)", user, sys, err)
	}
	for _, bad := range []string{"", "1 (x S 1 2", "1 (x) S 1 2 3", "1 (x) S 1 2 3 4 5 6 7 8 9 10 a b"} {
		if _, _, err := parseStatUserSys([]byte(bad)); err == nil {
			t.Errorf("parseStatUserSys(%q) succeeded", bad)
		}
	}
}

func TestParseStatusRSS(t *testing.T) {
	status := "Name:\tmemcached\nVmPeak:\t  100 kB\nVmRSS:\t    2048 kB\nThreads:\t6\n"
	got, err := parseStatusRSS([]byte(status))
	if err != nil || got != 2048*1024 {
		t.Fatalf("parseStatusRSS = %v, %v", got, err)
	}
	for _, bad := range []string{"Name:\tx\n", "VmRSS:\t12 MB\n", "VmRSS:\tabc kB\n"} {
		if _, err := parseStatusRSS([]byte(bad)); err == nil {
			t.Errorf("parseStatusRSS(%q) succeeded", bad)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	stat := "cpu  103750 5 91431 454971 2208 10 30744 13104 0 0\ncpu0 52848 0 43587 228880 346 0 16695 6503 0 0\n"
	busy, steal, err := parseProcStat([]byte(stat))
	if err != nil || busy != float64(103750+5+91431+10+30744)/100 || steal != 131.04 {
		t.Fatalf("parseProcStat = %v, %v, %v", busy, steal, err)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8\n", "cpu 1 2 3\n", "cpu 1 2 3 x 5 6 7 8\n"} {
		if _, _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("parseProcStat(%q) succeeded", bad)
		}
	}
	if b, _, err := SystemCPU(); err != nil || b <= 0 {
		t.Fatalf("SystemCPU = %v, %v", b, err)
	}
}

func TestInterferenceIsNoted(t *testing.T) {
	rep := Report{}
	rep.noteInterference(&WorkloadReport{Name: "quiet", A: Summary{OtherBusy: 0.05}, B: Summary{Steal: 0.02}})
	if len(rep.Notes) != 0 {
		t.Fatalf("notes for a quiet machine: %q", rep.Notes)
	}
	rep.noteInterference(&WorkloadReport{Name: "busy", A: Summary{OtherBusy: 0.05}, B: Summary{OtherBusy: 0.6}})
	rep.noteInterference(&WorkloadReport{Name: "stolen", A: Summary{Steal: 0.3}})
	if len(rep.Notes) != 2 || !strings.Contains(rep.Notes[0], "busy: other processes took 0.60 CPUs") || !strings.Contains(rep.Notes[1], "hypervisor 0.30") {
		t.Fatalf("notes %q", rep.Notes)
	}
}

// TestProcReadersOnThisProcess reads our own /proc entries: CPU time grows
// as we burn CPU, RSS grows as we touch memory.
func TestProcReadersOnThisProcess(t *testing.T) {
	pid := os.Getpid()
	// Burn CPU until getrusage says 200 ms more were used (whatever other
	// processes take meanwhile), then /proc must say the same within the
	// 10 ms granularity of its ticks and the reading's own slack.
	rusage := func() float64 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	user0, sys0, err := ProcUserSysCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	ru0 := rusage()
	x := 0
	for deadline := time.Now().Add(10 * time.Second); rusage()-ru0 < 0.2 && time.Now().Before(deadline); {
		for i := range 100000 {
			x += i
		}
	}
	used := rusage() - ru0
	user1, sys1, _ := ProcUserSysCPU(pid)
	if d := user1 + sys1 - user0 - sys0; d < used-0.05 || d > used+0.05 {
		t.Fatalf("/proc says %.2f s of CPU, getrusage %.2f s (x=%d)", d, used, x)
	}
	rss0, err := ProcRSS(pid)
	if err != nil || rss0 <= 0 {
		t.Fatalf("ProcRSS = %d, %v", rss0, err)
	}
	// Fresh anonymous memory, so the Go heap's reuse cannot hide the rise.
	b, err := syscall.Mmap(-1, 0, 64<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(b)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	rss1, _ := ProcRSS(pid)
	if rss1-rss0 < 48<<20 {
		t.Fatalf("RSS rose by %d bytes after touching 64 MiB", rss1-rss0)
	}
}

const memcaslapOutput = `servers: 127.0.0.1:22122
threads count: 1
concurrency: 16
run time: 2s
windows size: 10k
set proportion: set_prop=0.10
get proportion: get_prop=0.90
cmd_get: 114199
cmd_set: 12697
get_misses: 0
written_bytes: 10278160
read_bytes: 21225608
object_bytes: 2082308

Run time: 2.0s Ops: 126896 TPS: 63432 Net_rate: 15.0M/s
`

func TestParseMemcaslap(t *testing.T) {
	r, err := ParseMemcaslap([]byte(memcaslapOutput))
	if err != nil {
		t.Fatal(err)
	}
	want := MemcaslapResult{Seconds: 2, Ops: 126896, TPS: 63432, CmdGet: 114199, CmdSet: 12697}
	if r != want {
		t.Fatalf("got %+v, want %+v", r, want)
	}
	for _, bad := range []string{"", "servers: x\n", "Run time: 0.0s Ops: 0 TPS: 0 Net_rate: 0.0M/s\n"} {
		if _, err := ParseMemcaslap([]byte(bad)); err == nil {
			t.Errorf("ParseMemcaslap(%q) succeeded", bad)
		}
	}
}

func TestSummarizeTakesMediansAndRatios(t *testing.T) {
	w := WorkloadReport{Runs: []RunStats{
		{Server: "a", Round: 1, OpsPerSec: 100, P99Us: 10, CPUPerOpUs: 5, UserPerOpUs: 2, WallSeconds: 1, ClientCPUSeconds: 0.5},
		{Server: "b", Round: 1, OpsPerSec: 150, P99Us: 8, CPUPerOpUs: 4, UserPerOpUs: 1, WallSeconds: 1, ClientCPUSeconds: 0.6},
		{Server: "a", Round: 2, OpsPerSec: 300, P99Us: 30, CPUPerOpUs: 1, UserPerOpUs: 0.5, WallSeconds: 1, ClientCPUSeconds: 0.7},
		{Server: "b", Round: 2, OpsPerSec: 330, P99Us: 9, CPUPerOpUs: 2, UserPerOpUs: 0.5, WallSeconds: 1, ClientCPUSeconds: 0.8},
		{Server: "a", Round: 3, OpsPerSec: 200, P99Us: 20, CPUPerOpUs: 3, UserPerOpUs: 1, WallSeconds: 1, ClientCPUSeconds: 0.9},
		{Server: "b", Round: 3, OpsPerSec: 240, P99Us: 7, CPUPerOpUs: 3, UserPerOpUs: 2, WallSeconds: 1, ClientCPUSeconds: 1.0, Errors: 2},
	}}
	w.summarize("a", "b")
	if w.A != (Summary{OpsPerSec: 200, P99Us: 20, CPUPerOpUs: 3, UserPerOpUs: 1, ClientBusy: 0.7}) {
		t.Errorf("A summary %+v", w.A)
	}
	if w.B != (Summary{OpsPerSec: 240, P99Us: 8, CPUPerOpUs: 3, UserPerOpUs: 1, ClientBusy: 0.8}) {
		t.Errorf("B summary %+v", w.B)
	}
	// Per round: throughput 1.5, 1.1, 1.2; p99 0.8, 0.3, 0.35; CPU 0.8, 2,
	// 1; user CPU 0.5, 1, 2.
	if w.Ratio.Throughput != 1.2 || w.Ratio.P99 != 0.35 || w.Ratio.CPUPerOp != 1 || w.Ratio.UserPerOp != 1 ||
		w.Ratio.ThroughputMin != 1.1 || w.Ratio.ThroughputMax != 1.5 {
		t.Errorf("ratios %+v", w.Ratio)
	}
	if len(w.Rounds) != 3 || w.Rounds[1] != (RoundRatios{Round: 2, Throughput: 1.1, P99: 0.3, CPUPerOp: 2, UserPerOp: 1}) {
		t.Errorf("round ratios %+v", w.Rounds)
	}
	// Errors do not stop a comparison; they are counted and noted.
	rep := Report{Config: Config{A: Server{Name: "a"}, B: Server{Name: "b"}}}
	rep.noteErrors(&w)
	if w.ErrorsA != 0 || w.ErrorsB != 2 || len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "not comparable") {
		t.Errorf("errors A %d B %d, notes %q", w.ErrorsA, w.ErrorsB, rep.Notes)
	}
}

func TestTargets(t *testing.T) {
	rr := func(round int, thr, p99, cpu, user float64) RoundRatios {
		return RoundRatios{Round: round, Throughput: thr, P99: p99, CPUPerOp: cpu, UserPerOp: user}
	}
	withP99 := Summary{P99Us: 100}
	r := Report{
		Workloads: []WorkloadReport{
			{Name: "p16", ThroughputTarget: true, Ratio: Ratios{Throughput: 1.3, P99: 0.9, CPUPerOp: 0.7}, A: withP99,
				Rounds: []RoundRatios{rr(1, 1.3, 0.9, 0.7, 1), rr(2, 1.25, 0.8, 0.75, 1), rr(3, 1.1, 1.2, 0.6, 1)}},
			{Name: "p1", Ratio: Ratios{Throughput: 0.5, P99: 1.1, CPUPerOp: 0.91}, A: withP99,
				Rounds: []RoundRatios{rr(1, 0.5, 1.1, 0.91, 1)}},
		},
		// memtier: with p99; memcaslap: unpipelined, without.
		Memtier: []WorkloadReport{
			{Name: "memtier-p1", Unpipelined: true, Ratio: Ratios{Throughput: 1.05, P99: 0.9, CPUPerOp: 0.85, UserPerOp: 0.95}, A: withP99,
				Rounds: []RoundRatios{rr(1, 1.05, 0.9, 0.85, 0.95)}},
		},
		Memcaslap: &WorkloadReport{Name: "memcaslap", Unpipelined: true, Ratio: Ratios{Throughput: 0.98, CPUPerOp: 0.95, UserPerOp: 0.7},
			Rounds: []RoundRatios{rr(1, 0.98, 0, 0.95, 0.7)}},
		Memory: &MemoryReport{Ratio: 0.71, A: MemStats{BytesPerItem: 200}, B: MemStats{BytesPerItem: 142}},
	}
	type res struct{ met, every bool }
	got := map[string]res{}
	for _, c := range r.Targets() {
		got[c.Target] = res{c.Met, c.EveryRound}
	}
	want := map[string]res{
		"throughput ≥ 1.3× on p16":      {true, false}, // rounds 2 and 3 fell short
		"CPU per request ≤ 0.9× on p16": {true, true},
		"CPU per request ≤ 0.9× on p1":  {false, false},
		"p99 ≤ 1.0× on p16":             {true, false},
		"p99 ≤ 1.0× on p1":              {false, false},
		"memory per item ≤ 0.72×":       {true, true},
		// The external tools' workloads: the unpipelined targets.
		"throughput ≥ 1.0× on memtier-p1":           {true, true},
		"CPU per request ≤ 0.9× on memtier-p1":      {true, true},
		"user CPU per request ≤ 0.8× on memtier-p1": {false, false},
		"p99 ≤ 1.0× on memtier-p1":                  {true, true},
		"throughput ≥ 1.0× on memcaslap":            {false, false},
		"CPU per request ≤ 0.9× on memcaslap":       {false, false},
		"user CPU per request ≤ 0.8× on memcaslap":  {true, true},
	}
	if len(got) != len(want) {
		t.Fatalf("targets %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s: got %+v (present %v), want %+v", k, g, ok, v)
		}
	}
}

// TestServerThatDoesNotStart: a B that exits at start-up ends the
// comparison with an error naming it, and the partial report says so
// instead of showing a memory figure for B.
func TestServerThatDoesNotStart(t *testing.T) {
	mc := testenv.LookPath(t, "memcached")
	c := DefaultConfig()
	c.A = Server{Name: "memcached", Binary: mc, Args: MemcachedArgs()}
	c.B = Server{Name: "false", Binary: "/bin/false"}
	c.MemoryMB, c.MemItems, c.Memcaslap = 64, 1000, ""
	c.OutDir = t.TempDir()
	rep, err := Run(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "false exited at start-up") {
		t.Fatalf("Run = %v, want an error saying B exited at start-up", err)
	}
	if rep == nil || rep.Memory == nil || rep.Memory.A.Items != 1000 {
		t.Fatalf("partial report %+v: want A's memory figures", rep)
	}
	for _, tc := range rep.Targets() {
		if strings.Contains(tc.Target, "memory") {
			t.Fatalf("a memory target was judged without B's figure: %+v", tc)
		}
	}
	md, _ := os.ReadFile(filepath.Join(c.OutDir, "report.md"))
	if !bytes.Contains(md, []byte("stopped early")) {
		t.Fatalf("report.md does not say it is incomplete:\n%s", md)
	}
}

func TestValidate(t *testing.T) {
	c := DefaultConfig()
	c.B = Server{Name: "x", Binary: "/nonexistent/slabcached"}
	if _, err := Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "not an executable") {
		t.Fatalf("Run with a missing binary: %v", err)
	}
	c.B = c.A
	if _, err := Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "both named") {
		t.Fatalf("Run with two servers of one name: %v", err)
	}
}

// TestCompareMemcachedWithItself runs the whole comparison, shrunk, with
// memcached on both sides: every part must produce figures, and since both
// sides are the same program the memory ratio must be close to 1.
func TestCompareMemcachedWithItself(t *testing.T) {
	mc := testenv.LookPath(t, "memcached")
	c := DefaultConfig()
	c.A = Server{Name: "memcached", Binary: mc, Args: MemcachedArgs()}
	c.B = Server{Name: "memcached-b", Binary: mc, Args: MemcachedArgs()}
	c.MemoryMB = 64
	c.Rounds = 1
	c.Duration = 300 * time.Millisecond
	c.Conns = 4
	c.Keys = 2000
	c.MemItems = 20000
	c.Memcaslap = ""
	// Three of the five workloads keep the test short (plots are slow under
	// the race detector); cmd/slabbench's test runs getset-p16.
	var ws []Workload
	for _, w := range c.Workloads {
		switch w.Name {
		case "getset-p1", "multiget-10", "set-1k":
			ws = append(ws, w)
		}
	}
	c.Workloads = ws
	if !testing.Short() {
		c.Memcaslap = testenv.LookPath(t, "memcaslap")
	}
	c.OutDir = t.TempDir()
	var log bytes.Buffer
	c.Log = &log
	rep, err := Run(context.Background(), c)
	if err != nil {
		t.Fatalf("%v\nlog:\n%s", err, log.String())
	}
	if len(rep.Workloads) != len(c.Workloads) {
		t.Fatalf("%d workload reports for %d workloads", len(rep.Workloads), len(c.Workloads))
	}
	for _, w := range rep.Workloads {
		if len(w.Runs) != 2 || w.Runs[0].Server != "memcached" || w.Runs[1].Server != "memcached-b" {
			t.Fatalf("%s: runs %+v, want A then B", w.Name, w.Runs)
		}
		for _, r := range w.Runs {
			if r.Ops == 0 || r.OpsPerSec <= 0 || r.P99Us <= 0 || r.ServerCPUSeconds <= 0 || r.CPUPerOpUs <= 0 || r.ClientCPUSeconds <= 0 {
				t.Fatalf("%s: empty figures %+v", w.Name, r)
			}
		}
		if w.Ratio.Throughput <= 0 || w.Ratio.P99 <= 0 || w.Ratio.CPUPerOp <= 0 {
			t.Fatalf("%s: ratios %+v", w.Name, w.Ratio)
		}
		for _, f := range w.Plots {
			checkPNG(t, filepath.Join(c.OutDir, f))
		}
	}
	m := rep.Memory
	if m == nil || m.A.Items != 20000 || m.B.Items != 20000 || m.A.BytesPerItem <= 100 {
		t.Fatalf("memory report %+v", m)
	}
	if m.Ratio < 0.8 || m.Ratio > 1.25 {
		t.Fatalf("memcached against itself: memory ratio %.2f", m.Ratio)
	}
	if c.Memcaslap != "" && (rep.Memcaslap == nil || rep.Memcaslap.A.OpsPerSec <= 0 || rep.Memcaslap.B.OpsPerSec <= 0 || rep.Memcaslap.A.ClientBusy <= 0) {
		t.Fatalf("memcaslap report %+v", rep.Memcaslap)
	}
	md, err := os.ReadFile(filepath.Join(c.OutDir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| getset-p1 |", "B/A", "Targets", "memory per item", "bytes/item"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(c.OutDir, "report.json")); err != nil {
		t.Error(err)
	}
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil || cfg.Width < 200 || cfg.Height < 100 {
		t.Fatalf("%s: not a sensible PNG: %+v %v", path, cfg, err)
	}
}

func TestRoundOrderAlternates(t *testing.T) {
	a, b := &process{srv: Server{Name: "a"}}, &process{srv: Server{Name: "b"}}
	var got []string
	for r := 1; r <= 4; r++ {
		for _, p := range roundOrder(r, a, b) {
			got = append(got, p.srv.Name)
		}
	}
	if s := strings.Join(got, ""); s != "abbaabba" {
		t.Fatalf("order %s, want abbaabba", s)
	}
}

// memtier_benchmark's JSON totals become a run's result.
func TestParseMemtierJSON(t *testing.T) {
	doc := `{"ALL STATS": {"Runtime": {"Total duration": 2000, "Time unit": "MILLISECONDS"},
		"Sets": {"Count": 100, "Ops/sec": 50, "Misses/sec": 0},
		"Gets": {"Count": 1000, "Ops/sec": 500, "Misses/sec": 25},
		"Totals": {"Count": 1100, "Ops/sec": 550.5, "Misses/sec": 25,
			"Percentile Latencies": {"p50.00": 0.311, "p99.00": 0.511, "p99.90": 1.055, "Histogram log format": {"Compressed Histogram": "x"}}}}}`
	r, err := ParseMemtierJSON([]byte(doc), 2)
	if err != nil {
		t.Fatal(err)
	}
	if r.Seconds != 2 || r.Ops != 1100 || r.OpsPerSec != 550 || r.Gets != 1000 || r.Sets != 100 || r.Misses != 50 {
		t.Fatalf("%+v", r)
	}
	// Percentiles in milliseconds become microseconds.
	if us := func(v float64) float64 { return math.Round(v*1000) / 1000 }; us(r.Latency.P50) != 311 || us(r.Latency.P99) != 511 || us(r.Latency.P999) != 1055 {
		t.Fatalf("latency %+v", r.Latency)
	}
	// A run of one second that memtier says took two, the second with a
	// handful of requests: one second counts.
	tailed := strings.Replace(doc, `"Totals": {"Count": 1100,`,
		`"Totals": {"Time-Serie": {"0": {"Count": 1097}, "1": {"Count": 3}}, "Count": 1100,`, 1)
	if r, err := ParseMemtierJSON([]byte(tailed), 1); err != nil || r.OpsPerSec != 1100 || r.Seconds != 1 {
		t.Fatalf("a second with 3 requests: %+v %v", r, err)
	}
	if _, err := ParseMemtierJSON([]byte(`{"ALL STATS": {"Totals": {"Count": 0}}}`), 2); err == nil {
		t.Fatal("a run without requests was accepted")
	}
}
