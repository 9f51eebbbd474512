package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Result is what one run measured. Its JSON form is the -json output.
type Result struct {
	Config    Config    `json:"config"`
	Target    string    `json:"target"`
	Protocol  string    `json:"protocol"`
	Dist      string    `json:"dist"`
	StartedAt time.Time `json:"started_at"`
	// Seconds is the length of the measured phase.
	Seconds float64 `json:"seconds"`
	// Ops counts requests answered or lost; Gets and Sets split them.
	Ops  int64 `json:"ops"`
	Gets int64 `json:"gets"`
	Sets int64 `json:"sets"`
	// Keys counts keys asked for by gets; Hits and Misses split them
	// (keys of a get that failed are in neither).
	Keys   int64 `json:"keys"`
	Hits   int64 `json:"hits"`
	Misses int64 `json:"misses"`
	// Errors counts error replies and requests lost with a connection.
	Errors int64 `json:"errors"`
	// OpsPerSec is Ops / Seconds; KeysPerSec counts get keys and sets.
	OpsPerSec  float64 `json:"ops_per_sec"`
	KeysPerSec float64 `json:"keys_per_sec"`
	// HitRatio is Hits / (Hits + Misses), 0 without gets.
	HitRatio float64 `json:"hit_ratio"`
	// Latency summarises every answered request.
	Latency LatencySummary `json:"latency"`
	// Curve is the latency percentile curve (for plots).
	Curve []PercentilePoint `json:"curve"`
	// Timeline holds one point per second of the measured phase.
	Timeline []TimelinePoint `json:"timeline"`
	// Prefill is set when the run prefilled the key space.
	Prefill *PrefillResult `json:"prefill,omitempty"`
	// ClientCPUSeconds is the load generator's own CPU time (user+system)
	// during the measured phase: near Seconds × cores means the client, not
	// the server, was the bottleneck.
	ClientCPUSeconds float64 `json:"client_cpu_seconds"`
	// ConnErrors lists the first connection failures, if any.
	ConnErrors []string `json:"conn_errors,omitempty"`
}

// LatencySummary holds latency percentiles in microseconds.
type LatencySummary struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
}

// TimelinePoint is one interval (normally one second) of a run.
type TimelinePoint struct {
	// T is the end of the interval in seconds since the measured phase
	// began; Span its length in seconds.
	T         float64 `json:"t"`
	Span      float64 `json:"span"`
	Ops       int64   `json:"ops"`
	OpsPerSec float64 `json:"ops_per_sec"`
	Hits      int64   `json:"hits"`
	Misses    int64   `json:"misses"`
	Errors    int64   `json:"errors"`
	P50Us     float64 `json:"p50_us"`
	P99Us     float64 `json:"p99_us"`
	MaxUs     float64 `json:"max_us"`
}

// PrefillResult reports the prefill phase.
type PrefillResult struct {
	Stored  int64   `json:"stored"`
	Errors  int64   `json:"errors"`
	Seconds float64 `json:"seconds"`
}

func (r *Result) fill(c counters, h *hdrhistogram.Histogram, elapsed time.Duration) {
	r.Seconds = elapsed.Seconds()
	r.Ops, r.Gets, r.Sets = c.Ops, c.Gets, c.Sets
	r.Keys, r.Hits, r.Misses, r.Errors = c.Keys, c.Hits, c.Misses, c.Errors
	if r.Seconds > 0 {
		r.OpsPerSec = float64(r.Ops) / r.Seconds
		r.KeysPerSec = float64(r.Keys+r.Sets) / r.Seconds
	}
	if r.Hits+r.Misses > 0 {
		r.HitRatio = float64(r.Hits) / float64(r.Hits+r.Misses)
	}
	r.Latency = summarize(h)
	r.Curve = percentileCurve(h)
}

func summarize(h *hdrhistogram.Histogram) LatencySummary {
	s := LatencySummary{Count: h.TotalCount()}
	if s.Count == 0 {
		return s
	}
	s.Mean = h.Mean() / 1e3
	s.P50 = quantileUs(h, 50)
	s.P90 = quantileUs(h, 90)
	s.P99 = quantileUs(h, 99)
	s.P999 = quantileUs(h, 99.9)
	s.Max = float64(h.Max()) / 1e3
	return s
}

// WriteJSON writes r as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes r as a human-readable table.
func (r *Result) WriteTable(w io.Writer) error {
	c := &r.Config
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	mode := fmt.Sprintf("closed loop, pipeline %d", c.Pipeline)
	if c.Rate > 0 {
		mode = fmt.Sprintf("open loop at %.0f req/s", c.Rate)
	}
	fmt.Fprintf(tw, "target\t%s (%s protocol)\n", r.Target, r.Protocol)
	fmt.Fprintf(tw, "load\t%d conns (%d per goroutine), %s, set:get %d:%d, multiget %d\n",
		c.Conns, c.ConnsPerWorker, mode, c.Sets, c.Gets, c.MultiGet)
	fmt.Fprintf(tw, "keys\t%d %s, %d-byte keys, values %s bytes\n", c.Keys, r.Dist, c.KeySize, FormatRange(c.ValueMin, c.ValueMax))
	if p := r.Prefill; p != nil {
		fmt.Fprintf(tw, "prefill\t%d stored, %d errors in %.2fs\n", p.Stored, p.Errors, p.Seconds)
	}
	if c.IsPrefillOnly() {
		return tw.Flush()
	}
	fmt.Fprintf(tw, "duration\t%.2fs\n", r.Seconds)
	fmt.Fprintf(tw, "requests\t%d (%d gets, %d sets)\n", r.Ops, r.Gets, r.Sets)
	fmt.Fprintf(tw, "throughput\t%.0f req/s, %.0f keys/s\n", r.OpsPerSec, r.KeysPerSec)
	fmt.Fprintf(tw, "get keys\t%d hits, %d misses (hit ratio %.3f)\n", r.Hits, r.Misses, r.HitRatio)
	fmt.Fprintf(tw, "errors\t%d\n", r.Errors)
	l := r.Latency
	fmt.Fprintf(tw, "latency µs\tp50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (mean %s)\n",
		fmtUs(l.P50), fmtUs(l.P90), fmtUs(l.P99), fmtUs(l.P999), fmtUs(l.Max), fmtUs(l.Mean))
	fmt.Fprintf(tw, "client cpu\t%.2fs (%.0f%% of one core)\n", r.ClientCPUSeconds, 100*r.ClientCPUSeconds/max(r.Seconds, 1e-9))
	for _, e := range r.ConnErrors {
		fmt.Fprintf(tw, "conn error\t%s\n", e)
	}
	return tw.Flush()
}

// ProgressLine formats a timeline point as the once-a-second progress line.
func ProgressLine(p TimelinePoint) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%6.1fs] %9.0f req/s  p50 %sµs  p99 %sµs  max %sµs  hits %d  misses %d  errors %d",
		p.T, p.OpsPerSec, fmtUs(p.P50Us), fmtUs(p.P99Us), fmtUs(p.MaxUs), p.Hits, p.Misses, p.Errors)
	return b.String()
}

func fmtUs(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
