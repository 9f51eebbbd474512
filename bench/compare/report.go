package compare

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/slabcache/slabcache/bench"
)

// The comparison's targets: B against A.
const (
	TargetThroughput            = 1.3  // at least, with pipelining and multi-get
	TargetThroughputUnpipelined = 1.0  // at least, single keys one at a time (memcaslap, memtier-p1)
	TargetCPUPerOp              = 0.9  // at most
	TargetUserPerOp             = 0.8  // at most, user CPU per request, unpipelined
	TargetP99                   = 1.0  // at most
	TargetMemory                = 0.72 // at most, RSS per item
)

// Report is the outcome of a comparison.
type Report struct {
	Config    Config           `json:"config"`
	Host      string           `json:"host"`
	StartedAt time.Time        `json:"started_at"`
	Seconds   float64          `json:"seconds"`
	Memory    *MemoryReport    `json:"memory,omitempty"`
	Workloads []WorkloadReport `json:"workloads"`
	Memcaslap *WorkloadReport  `json:"memcaslap,omitempty"`
	Memtier   []WorkloadReport `json:"memtier,omitempty"`
	Notes     []string         `json:"notes,omitempty"`
}

// RunStats is one measured run on one server.
type RunStats struct {
	Server    string  `json:"server"`
	Round     int     `json:"round"`
	Seconds   float64 `json:"seconds"`
	Ops       int64   `json:"ops"`
	Errors    int64   `json:"errors"`
	OpsPerSec float64 `json:"ops_per_sec"`
	// P99Us is 0 where the load tool does not report it (memcaslap).
	P99Us float64 `json:"p99_us"`
	// ServerCPUSeconds is utime+stime of the server over the run,
	// ServerUserSeconds its utime.
	ServerCPUSeconds  float64 `json:"server_cpu_seconds"`
	ServerUserSeconds float64 `json:"server_user_seconds"`
	CPUPerOpUs        float64 `json:"cpu_per_op_us"`
	UserPerOpUs       float64 `json:"user_per_op_us"`
	ClientCPUSeconds  float64 `json:"client_cpu_seconds"`
	// OtherCPUSeconds is the CPU time the rest of the machine used during
	// the run (all busy CPU time less the server's and the client's);
	// StealSeconds is the time the hypervisor took. Both should be near 0.
	OtherCPUSeconds float64 `json:"other_cpu_seconds"`
	StealSeconds    float64 `json:"steal_seconds"`
	// WallSeconds is the whole measured interval, from starting the load
	// tool to its end (longer than Seconds by start-up, and by memcaslap's
	// warm-up).
	WallSeconds float64 `json:"wall_seconds"`
}

// Summary holds the medians over rounds of one server's runs.
type Summary struct {
	OpsPerSec   float64 `json:"ops_per_sec"`
	P99Us       float64 `json:"p99_us"`
	CPUPerOpUs  float64 `json:"cpu_per_op_us"`
	UserPerOpUs float64 `json:"user_per_op_us"`
	// ClientBusy is the load generator's CPU time over wall time (median);
	// near 1 means the client, not the server, may have been the limit.
	ClientBusy float64 `json:"client_busy"`
	// OtherBusy and Steal are the CPUs (CPU seconds per second) other
	// processes and the hypervisor took during the runs (medians).
	OtherBusy float64 `json:"other_busy"`
	Steal     float64 `json:"steal"`
}

// Ratios are B/A. Each is the median over rounds of the ratio within a
// round (B's run against that round's A run), which cancels the slow
// drifts of a shared machine better than a ratio of medians.
type Ratios struct {
	Throughput float64 `json:"throughput"`
	P99        float64 `json:"p99"`
	CPUPerOp   float64 `json:"cpu_per_op"`
	UserPerOp  float64 `json:"user_per_op"`
	// ThroughputMin and ThroughputMax are the extremes of the per-round
	// throughput ratios, to show the noise.
	ThroughputMin float64 `json:"throughput_min"`
	ThroughputMax float64 `json:"throughput_max"`
}

// RoundRatios are the B/A ratios within one round.
type RoundRatios struct {
	Round      int     `json:"round"`
	Throughput float64 `json:"throughput"`
	P99        float64 `json:"p99"`
	CPUPerOp   float64 `json:"cpu_per_op"`
	UserPerOp  float64 `json:"user_per_op"`
}

// WorkloadReport is one workload on both servers.
type WorkloadReport struct {
	Name             string       `json:"name"`
	Description      string       `json:"description"`
	Command          string       `json:"command,omitempty"`
	Load             bench.Config `json:"load"`
	ThroughputTarget bool         `json:"throughput_target"`
	// Unpipelined marks the workloads of the unpipelined targets
	// (throughput, user CPU per request).
	Unpipelined bool          `json:"unpipelined"`
	Runs        []RunStats    `json:"runs"`
	A           Summary       `json:"a"`
	B           Summary       `json:"b"`
	Ratio       Ratios        `json:"ratio"`
	Rounds      []RoundRatios `json:"rounds"`
	Plots       []string      `json:"plots,omitempty"`
	// ErrorsA and ErrorsB count error replies and lost requests over all
	// rounds; a server with errors is not comparable on that workload.
	ErrorsA int64 `json:"errors_a"`
	ErrorsB int64 `json:"errors_b"`

	results []*bench.Result // parallel to Runs, for plots
}

// MemoryReport is the memory test.
type MemoryReport struct {
	Items     int      `json:"items"`
	KeySize   int      `json:"key_size"`
	ValueSize int      `json:"value_size"`
	A         MemStats `json:"a"`
	B         MemStats `json:"b"`
	// Ratio is B/A of (loaded - empty RSS) per item, the figure the memory
	// target is about; TotalRatio is B/A of loaded RSS per item.
	Ratio      float64 `json:"ratio"`
	TotalRatio float64 `json:"total_ratio"`
}

// MemStats is one server's memory test.
type MemStats struct {
	EmptyRSS  int64 `json:"empty_rss"`
	LoadedRSS int64 `json:"loaded_rss"`
	Items     int64 `json:"items"`
	Evictions int64 `json:"evictions"`
	// BytesPerItem is (LoadedRSS - EmptyRSS) / Items.
	BytesPerItem float64 `json:"bytes_per_item"`
	// TotalBytesPerItem is LoadedRSS / Items.
	TotalBytesPerItem float64 `json:"total_bytes_per_item"`
}

func (w *WorkloadReport) summarize(a, b string) {
	pick := func(name string) Summary {
		var thr, p99, cpu, user, busy, other, steal []float64
		for _, r := range w.Runs {
			if r.Server != name {
				continue
			}
			thr = append(thr, r.OpsPerSec)
			p99 = append(p99, r.P99Us)
			cpu = append(cpu, r.CPUPerOpUs)
			user = append(user, r.UserPerOpUs)
			if r.WallSeconds > 0 {
				busy = append(busy, r.ClientCPUSeconds/r.WallSeconds)
				other = append(other, r.OtherCPUSeconds/r.WallSeconds)
				steal = append(steal, r.StealSeconds/r.WallSeconds)
			}
		}
		return Summary{OpsPerSec: median(thr), P99Us: median(p99), CPUPerOpUs: median(cpu), UserPerOpUs: median(user), ClientBusy: median(busy),
			OtherBusy: median(other), Steal: median(steal)}
	}
	w.A, w.B = pick(a), pick(b)
	w.ErrorsA, w.ErrorsB = 0, 0
	for _, r := range w.Runs {
		if r.Server == a {
			w.ErrorsA += r.Errors
		} else if r.Server == b {
			w.ErrorsB += r.Errors
		}
	}
	// Pair each round's A and B runs.
	byRound := map[int]*[2]*RunStats{}
	var order []int
	for i := range w.Runs {
		r := &w.Runs[i]
		if byRound[r.Round] == nil {
			byRound[r.Round] = &[2]*RunStats{}
			order = append(order, r.Round)
		}
		if r.Server == a {
			byRound[r.Round][0] = r
		} else if r.Server == b {
			byRound[r.Round][1] = r
		}
	}
	w.Rounds = nil
	var thr, p99, cpu, user []float64
	for _, n := range order {
		pair := byRound[n]
		if pair[0] == nil || pair[1] == nil {
			continue
		}
		rr := RoundRatios{
			Round:      n,
			Throughput: ratio(pair[1].OpsPerSec, pair[0].OpsPerSec),
			P99:        ratio(pair[1].P99Us, pair[0].P99Us),
			CPUPerOp:   ratio(pair[1].CPUPerOpUs, pair[0].CPUPerOpUs),
			UserPerOp:  ratio(pair[1].UserPerOpUs, pair[0].UserPerOpUs),
		}
		w.Rounds = append(w.Rounds, rr)
		thr, p99, cpu = append(thr, rr.Throughput), append(p99, rr.P99), append(cpu, rr.CPUPerOp)
		user = append(user, rr.UserPerOp)
	}
	w.Ratio = Ratios{Throughput: median(thr), P99: median(p99), CPUPerOp: median(cpu), UserPerOp: median(user)}
	for i, q := range thr {
		if i == 0 || q < w.Ratio.ThroughputMin {
			w.Ratio.ThroughputMin = q
		}
		if i == 0 || q > w.Ratio.ThroughputMax {
			w.Ratio.ThroughputMax = q
		}
	}
}

// plot draws, for the run of each server whose throughput is the median,
// the latency percentile curves and the throughput timelines.
func (w *WorkloadReport) plot(dir, a, b string) error {
	var curves []bench.CurveSeries
	var lines []bench.TimelineSeries
	for _, name := range []string{a, b} {
		target := w.A.OpsPerSec
		if name == b {
			target = w.B.OpsPerSec
		}
		var best *bench.Result
		bestDiff := -1.0
		for i, r := range w.Runs {
			if r.Server != name || w.results[i] == nil {
				continue
			}
			d := r.OpsPerSec - target
			if d < 0 {
				d = -d
			}
			if bestDiff < 0 || d < bestDiff {
				best, bestDiff = w.results[i], d
			}
		}
		if best != nil {
			curves = append(curves, bench.CurveSeries{Name: name, Curve: best.Curve})
			lines = append(lines, bench.TimelineSeries{Name: name, Timeline: best.Timeline})
		}
	}
	lat := filepath.Join(dir, w.Name+"-latency.png")
	thr := filepath.Join(dir, w.Name+"-throughput.png")
	if err := bench.PlotLatency(lat, w.Name+": latency percentiles", curves); err != nil {
		return err
	}
	if err := bench.PlotThroughput(thr, w.Name+": throughput", lines); err != nil {
		return err
	}
	w.Plots = []string{filepath.Base(lat), filepath.Base(thr)}
	return nil
}

// Interference beyond which the report warns that throughput and latency
// ratios are not to be trusted: CPUs taken by other processes, or by the
// hypervisor, during the runs.
const (
	maxOtherBusy = 0.2
	maxSteal     = 0.1
)

// noteInterference adds a note when other processes or the hypervisor took
// noticeable CPU during w's runs.
func (r *Report) noteInterference(w *WorkloadReport) {
	other := max(w.A.OtherBusy, w.B.OtherBusy)
	steal := max(w.A.Steal, w.B.Steal)
	if other > maxOtherBusy || steal > maxSteal {
		r.Notes = append(r.Notes, fmt.Sprintf("%s: other processes took %.2f CPUs and the hypervisor %.2f during the runs (medians): its throughput and p99 ratios measure the neighbours as much as the servers; rerun on a quiet machine (CPU per request is less affected)",
			w.Name, other, steal))
	}
}

// noteErrors adds a note when either server answered errors in w.
func (r *Report) noteErrors(w *WorkloadReport) {
	if w.ErrorsA > 0 || w.ErrorsB > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%s: %s answered %d errors and %s %d (error replies or lost requests; see the load-NNN.json files): its figures are not comparable",
			w.Name, r.Config.A.Name, w.ErrorsA, r.Config.B.Name, w.ErrorsB))
	}
}

func (r *Report) writeFiles(dir string) error {
	f, err := os.Create(filepath.Join(dir, "report.json"))
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	f, err = os.Create(filepath.Join(dir, "report.md"))
	if err != nil {
		return err
	}
	if err := r.WriteMarkdown(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteMarkdown writes the report as Markdown tables.
func (r *Report) WriteMarkdown(w io.Writer) error {
	c := &r.Config
	a, b := c.A.Name, c.B.Name
	var sb strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&sb, format, args...) }
	p("## %s (B) against %s (A)\n\n", b, a)
	p("- A: `%s %s`\n", c.A.Binary, strings.Join(c.A.Args, " "))
	p("- B: `%s %s`\n", c.B.Binary, strings.Join(c.B.Args, " "))
	pin := "not pinned"
	if c.ServerCPUs != "" {
		pin = fmt.Sprintf("servers on CPU %s, load generator on CPU %s", c.ServerCPUs, c.LoadCPUs)
	}
	p("- both with `-m %d -t %d`, %s; %d rounds (A B, B A, A B, ...), %v per run, %d connections, %d keys\n",
		c.MemoryMB, c.Threads, pin, c.Rounds, c.Duration, c.Conns, c.Keys)
	p("- host: %s; started %s, took %.0f s\n\n", r.Host, r.StartedAt.Format(time.RFC3339), r.Seconds)

	if len(r.Workloads) > 0 || r.Memcaslap != nil || len(r.Memtier) > 0 {
		p("Figures per server are medians over rounds; ratios B/A are medians of the per-round ratios (throughput: higher is better; p99 and CPU: lower is better). ")
		p("Server CPU is utime+stime from /proc/<pid>/stat over the run divided by the requests (user CPU: utime alone); client busy is the load generator's CPU time over wall time (near 1: the client may be the limit); other CPUs / steal are the CPUs the rest of the machine and the hypervisor took meanwhile (/proc/stat; near 0 on a quiet machine).\n\n")
		p("| workload | %s req/s | %s req/s | B/A req/s (per-round range) | %s p99 µs | %s p99 µs | B/A p99 | %s CPU µs/req | %s CPU µs/req | B/A CPU | B/A user CPU | client busy A/B | other CPUs / steal | errors A/B |\n", a, b, a, b, a, b)
		p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		all := append(append([]WorkloadReport(nil), r.Workloads...), r.Memtier...)
		if r.Memcaslap != nil {
			all = append(all, *r.Memcaslap)
		}
		for _, w := range all {
			p99a, p99b, p99r := "n/a", "n/a", "n/a"
			if w.A.P99Us > 0 {
				p99a, p99b, p99r = fmt.Sprintf("%.0f", w.A.P99Us), fmt.Sprintf("%.0f", w.B.P99Us), fmt.Sprintf("%.2f", w.Ratio.P99)
			}
			busy := fmt.Sprintf("%.2f / %.2f", w.A.ClientBusy, w.B.ClientBusy)
			p("| %s | %.0f | %.0f | %.2f (%.2f–%.2f) | %s | %s | %s | %.2f | %.2f | %.2f | %.2f | %s | %.2f / %.2f | %d / %d |\n",
				w.Name, w.A.OpsPerSec, w.B.OpsPerSec, w.Ratio.Throughput, w.Ratio.ThroughputMin, w.Ratio.ThroughputMax,
				p99a, p99b, p99r, w.A.CPUPerOpUs, w.B.CPUPerOpUs, w.Ratio.CPUPerOp, w.Ratio.UserPerOp, busy,
				max(w.A.OtherBusy, w.B.OtherBusy), max(w.A.Steal, w.B.Steal), w.ErrorsA, w.ErrorsB)
		}
		p("\nWorkloads:\n\n")
		for _, w := range all {
			p("- **%s**: %s", w.Name, w.Description)
			if w.Command != "" {
				p(" (`%s`)", w.Command)
			} else {
				p(" (`slabbench run %s`)", joinArgs(nonDefaultArgs(w.Load)))
			}
			p("\n")
		}
		p("\n")
	}
	if m := r.Memory; m != nil {
		p("Memory: %d items of %d-byte keys and %d-byte values loaded into a fresh server; per item = (VmRSS loaded − VmRSS empty) / curr_items, the same for both.\n\n", m.Items, m.KeySize, m.ValueSize)
		p("| server | VmRSS empty MiB | VmRSS loaded MiB | curr_items | evictions | bytes/item (loaded−empty) | bytes/item (total) |\n|---|---:|---:|---:|---:|---:|---:|\n")
		for _, s := range []struct {
			name string
			m    MemStats
		}{{a, m.A}, {b, m.B}} {
			p("| %s | %.1f | %.1f | %d | %d | %.1f | %.1f |\n", s.name, mib(s.m.EmptyRSS), mib(s.m.LoadedRSS), s.m.Items, s.m.Evictions, s.m.BytesPerItem, s.m.TotalBytesPerItem)
		}
		p("| B/A | | | | | %.2f | %.2f |\n\n", m.Ratio, m.TotalRatio)
	}
	if checks := r.Targets(); len(checks) > 0 {
		p("Targets (B/A; \"met\" judges the median of the per-round ratios, \"every round\" whether each round met it too — on a noisy machine only the latter is convincing):\n\n| target | figure | met | every round |\n|---|---|---|---|\n")
		yes := func(b bool) string {
			if b {
				return "yes"
			}
			return "no"
		}
		for _, t := range checks {
			p("| %s | %s | %s | %s |\n", t.Target, t.Figure, yes(t.Met), yes(t.EveryRound))
		}
		p("\n")
	}
	for _, n := range r.Notes {
		p("Note: %s\n\n", n)
	}
	for _, w := range r.Workloads {
		for _, f := range w.Plots {
			p("![%s](%s) ", f, f)
		}
		if len(w.Plots) > 0 {
			p("\n")
		}
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

// TargetCheck is one target of the comparison and whether B met it.
type TargetCheck struct {
	Target string `json:"target"`
	Figure string `json:"figure"`
	// Met judges the median ratio; EveryRound says whether the ratio of
	// every single round met the target too (false when the median meets
	// it by less than the noise).
	Met        bool `json:"met"`
	EveryRound bool `json:"every_round"`
}

// Targets checks B against the comparison's targets with the figures in r.
func (r *Report) Targets() []TargetCheck {
	var out []TargetCheck
	check := func(w WorkloadReport, what string, limit float64, atLeast bool, get func(RoundRatios) float64, median float64) {
		if len(w.Rounds) == 0 {
			return // not run (a comparison that stopped early)
		}
		ok := func(v float64) bool {
			if atLeast {
				return v >= limit
			}
			return v > 0 && v <= limit
		}
		rel := "≤"
		if atLeast {
			rel = "≥"
		}
		every := len(w.Rounds) > 0
		var rounds []string
		for _, rr := range w.Rounds {
			every = every && ok(get(rr))
			rounds = append(rounds, fmt.Sprintf("%.2f", get(rr)))
		}
		out = append(out, TargetCheck{
			Target:     fmt.Sprintf("%s %s %s× on %s", what, rel, factor(limit), w.Name),
			Figure:     fmt.Sprintf("%.2f× (rounds %s)", median, strings.Join(rounds, ", ")),
			Met:        ok(median),
			EveryRound: ok(median) && every,
		})
	}
	// Every workload, the external load tools' too.
	all := append(append([]WorkloadReport(nil), r.Workloads...), r.Memtier...)
	if r.Memcaslap != nil {
		all = append(all, *r.Memcaslap)
	}
	for _, w := range all {
		switch {
		case w.ThroughputTarget:
			check(w, "throughput", TargetThroughput, true, func(rr RoundRatios) float64 { return rr.Throughput }, w.Ratio.Throughput)
		case w.Unpipelined:
			check(w, "throughput", TargetThroughputUnpipelined, true, func(rr RoundRatios) float64 { return rr.Throughput }, w.Ratio.Throughput)
		}
	}
	for _, w := range all {
		check(w, "CPU per request", TargetCPUPerOp, false, func(rr RoundRatios) float64 { return rr.CPUPerOp }, w.Ratio.CPUPerOp)
	}
	for _, w := range all {
		if w.Unpipelined {
			check(w, "user CPU per request", TargetUserPerOp, false, func(rr RoundRatios) float64 { return rr.UserPerOp }, w.Ratio.UserPerOp)
		}
	}
	for _, w := range all {
		if w.A.P99Us > 0 { // not memcaslap, which reports none
			check(w, "p99", TargetP99, false, func(rr RoundRatios) float64 { return rr.P99 }, w.Ratio.P99)
		}
	}
	if m := r.Memory; m != nil && m.A.BytesPerItem > 0 && m.B.BytesPerItem > 0 {
		met := m.Ratio > 0 && m.Ratio <= TargetMemory
		out = append(out, TargetCheck{
			Target:     fmt.Sprintf("memory per item ≤ %s×", factor(TargetMemory)),
			Figure:     fmt.Sprintf("%.2f× (%.0f vs %.0f bytes/item)", m.Ratio, m.B.BytesPerItem, m.A.BytesPerItem),
			Met:        met,
			EveryRound: met,
		})
	}
	return out
}

// factor prints a target's ratio with its digits and at least one
// decimal: 1.3, 1.0, 0.72.
func factor(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func joinArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// nonDefaultArgs returns the flags of cfg that differ from bench's defaults,
// leaving out the address (which changes from run to run).
func nonDefaultArgs(cfg bench.Config) []string {
	def := bench.DefaultConfig()
	defArgs := map[string]bool{}
	for _, a := range def.Args() {
		defArgs[a] = true
	}
	var out []string
	for _, a := range cfg.Args() {
		if !defArgs[a] && !strings.HasPrefix(a, "-addr=") {
			out = append(out, a)
		}
	}
	return out
}
