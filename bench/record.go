package bench

import (
	"math"
	"sync"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in nanoseconds with 3 significant digits, from
// 1 µs (shorter values are counted as 1 µs; no network round trip is that
// short) to histMax (longer values are clamped). One histogram takes about
// 130 KB.
const (
	histMin     = 1000
	histMax     = int64(100e9) // 100 s
	histSigFigs = 3
)

// NewHistogram returns an empty latency histogram (nanoseconds).
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMin, histMax, histSigFigs)
}

// counters are the per-interval and total tallies of one worker.
type counters struct {
	Ops    int64 // requests answered or failed (gets and sets)
	Gets   int64
	Sets   int64
	Keys   int64 // keys asked for by gets
	Hits   int64
	Misses int64
	Errors int64 // error replies and requests lost with a broken connection
}

func (c *counters) add(o counters) {
	c.Ops += o.Ops
	c.Gets += o.Gets
	c.Sets += o.Sets
	c.Keys += o.Keys
	c.Hits += o.Hits
	c.Misses += o.Misses
	c.Errors += o.Errors
}

// recorder collects the latencies and counters of one worker. The worker
// records under mu; the collector swaps the interval histogram out once a
// second so that merging never holds up the worker, and merges it into the
// run's one total histogram.
type recorder struct {
	mu       sync.Mutex
	interval *hdrhistogram.Histogram
	c        counters

	// owned by the collector
	spare *hdrhistogram.Histogram
	tot   counters
}

func newRecorder() *recorder {
	return &recorder{interval: NewHistogram(), spare: NewHistogram()}
}

// recordLocked adds one answered request; mu must be held.
func (r *recorder) recordLocked(op opKind, nkeys, hits int, failed bool, latencyNs int64) {
	if latencyNs < histMin {
		latencyNs = histMin
	} else if latencyNs > histMax {
		latencyNs = histMax
	}
	_ = r.interval.RecordValue(latencyNs)
	r.c.Ops++
	if failed {
		r.c.Errors++
	}
	if op == opSet {
		r.c.Sets++
		return
	}
	r.c.Gets++
	r.c.Keys += int64(nkeys)
	if !failed {
		r.c.Hits += int64(hits)
		r.c.Misses += int64(nkeys - hits)
	}
}

// lostLocked counts n requests that got no reply; mu must be held.
func (r *recorder) lostLocked(n int) { r.c.Errors += int64(n) }

// collect merges the worker's latencies since the last call into sec (the
// current second, for the timeline) and total (the whole run, shared by all
// workers), adds its counters to r.tot and returns them. Only the collector
// goroutine calls it.
func (r *recorder) collect(sec, total *hdrhistogram.Histogram) counters {
	r.mu.Lock()
	h := r.interval
	r.interval = r.spare
	c := r.c
	r.c = counters{}
	r.mu.Unlock()

	sec.Merge(h)
	total.Merge(h)
	h.Reset()
	r.spare = h
	r.tot.add(c)
	return c
}

// quantileUs returns the latency at quantile q (0..100) in microseconds.
func quantileUs(h *hdrhistogram.Histogram, q float64) float64 {
	if h.TotalCount() == 0 {
		return 0
	}
	return float64(h.ValueAtQuantile(q)) / 1e3
}

// PercentilePoint is one point of a latency percentile curve.
type PercentilePoint struct {
	Percentile float64 `json:"percentile"`
	LatencyUs  float64 `json:"latency_us"`
}

// percentileCurve samples h at percentiles 1-10^(-k/10) for k = 0..50
// (0%, ..., 99.999%) and ends with 100% (the maximum).
func percentileCurve(h *hdrhistogram.Histogram) []PercentilePoint {
	if h.TotalCount() == 0 {
		return nil
	}
	var pts []PercentilePoint
	for k := 0; k <= 50; k++ {
		p := 100 * (1 - math.Pow(10, -float64(k)/10))
		pts = append(pts, PercentilePoint{Percentile: p, LatencyUs: quantileUs(h, p)})
	}
	pts = append(pts, PercentilePoint{Percentile: 100, LatencyUs: float64(h.Max()) / 1e3})
	return pts
}
