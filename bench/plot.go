package bench

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// CurveSeries is one named latency percentile curve.
type CurveSeries struct {
	Name  string
	Curve []PercentilePoint
}

// TimelineSeries is one named throughput timeline.
type TimelineSeries struct {
	Name     string
	Timeline []TimelinePoint
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
}

// percentileTicks labels the x axis of a percentile plot, whose values are
// 1/(1-p): 1 is 0%, 10 is 90%, 100 is 99%, ...
type percentileTicks struct{ max float64 }

func (t percentileTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for v := 1.0; v <= hi*1.0001; v *= 10 {
		ts = append(ts, plot.Tick{Value: v, Label: percentileLabel(v)})
	}
	if len(ts) > 0 && lo > 2 {
		ts[0].Label = ""
	}
	return ts
}

func percentileLabel(v float64) string {
	if v <= 1 {
		return "0%"
	}
	p := 100 * (1 - 1/v)
	digits := max(0, int(math.Round(math.Log10(v)))-2)
	return strconv.FormatFloat(p, 'f', digits, 64) + "%"
}

// logTicks125 marks 1, 2 and 5 times each power of ten, so that a log axis
// spanning less than a decade still has labels.
type logTicks125 struct{}

func (logTicks125) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	if lo <= 0 {
		lo = 1e-3
	}
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
		}
	}
	return ts
}

// PlotLatency draws latency percentile curves (x: percentile on the usual
// HdrHistogram 1/(1-p) log scale; y: latency in µs, log scale) to a PNG file.
func PlotLatency(path, title string, series []CurveSeries) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (µs)"
	p.X.Scale = plot.LogScale{}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks125{}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	xmax := 1.0
	for i, s := range series {
		var xys plotter.XYs
		for _, pt := range s.Curve {
			if pt.Percentile >= 100 || pt.LatencyUs <= 0 {
				continue
			}
			x := 1 / (1 - pt.Percentile/100)
			xys = append(xys, plotter.XY{X: x, Y: pt.LatencyUs})
			xmax = math.Max(xmax, x)
		}
		if err := addLine(p, s.Name, xys, i); err != nil {
			return err
		}
	}
	p.X.Min = 1
	p.X.Max = xmax
	if math.IsInf(p.Y.Min, 0) || p.Y.Min <= 0 {
		// No data: a log axis needs a positive range all the same.
		p.Y.Min, p.Y.Max = 1, 10
		p.X.Max = 10
	}
	p.X.Tick.Marker = percentileTicks{max: xmax}
	return p.Save(18*vg.Centimeter, 11*vg.Centimeter, path)
}

// PlotThroughput draws requests per second over time to a PNG file.
func PlotThroughput(path, title string, series []TimelineSeries) error {
	p, err := plotTimeline(title, "requests per second", series, func(pt TimelinePoint) (float64, bool) { return pt.OpsPerSec, true })
	if err != nil {
		return err
	}
	p.Y.Min = 0
	if !math.IsInf(p.Y.Max, 0) {
		p.Y.Max *= 1.1 // headroom above the highest point
	}
	return p.Save(18*vg.Centimeter, 9*vg.Centimeter, path)
}

// PlotHitRatio draws each second's hit ratio (hits over gets) to a PNG
// file: what a client sees when a cluster's membership changes.
func PlotHitRatio(path, title string, series []TimelineSeries) error {
	p, err := plotTimeline(title, "hit ratio", series, func(pt TimelinePoint) (float64, bool) {
		g := pt.Hits + pt.Misses
		return float64(pt.Hits) / float64(max(g, 1)), g > 0
	})
	if err != nil {
		return err
	}
	p.Y.Max = 1
	return p.Save(18*vg.Centimeter, 9*vg.Centimeter, path)
}

// plotTimeline draws y of each point of each series over time.
func plotTimeline(title, ylabel string, series []TimelineSeries, y func(TimelinePoint) (float64, bool)) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = ylabel
	p.X.Min = 0
	p.Legend.Top = false
	p.Legend.Left = false
	p.Add(plotter.NewGrid())
	for i, s := range series {
		var xys plotter.XYs
		for _, pt := range s.Timeline {
			if v, ok := y(pt); ok {
				xys = append(xys, plotter.XY{X: pt.T, Y: v})
			}
		}
		if err := addLine(p, s.Name, xys, i); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// addLine adds the i-th series, named name, to p; an empty one is skipped.
func addLine(p *plot.Plot, name string, xys plotter.XYs, i int) error {
	if len(xys) == 0 {
		return nil
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return fmt.Errorf("bench: plot %s: %w", name, err)
	}
	l.Color = palette[i%len(palette)]
	l.Width = vg.Points(1.5)
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

// WritePlots writes prefix+"-latency.png" and prefix+"-throughput.png" for
// one result and returns their paths.
func WritePlots(r *Result, prefix, name string) ([]string, error) {
	lat, thr := prefix+"-latency.png", prefix+"-throughput.png"
	c := &r.Config
	what := fmt.Sprintf("%s, set:get %d:%d, pipeline %d, %d conns", r.Protocol, c.Sets, c.Gets, c.Pipeline, c.Conns)
	if c.MultiGet > 1 {
		what += fmt.Sprintf(", multiget %d", c.MultiGet)
	}
	if c.Rate > 0 {
		what = fmt.Sprintf("%s, set:get %d:%d, open loop %.0f req/s, %d conns", r.Protocol, c.Sets, c.Gets, c.Rate, c.Conns)
	}
	if err := PlotLatency(lat, "latency percentiles ("+what+")", []CurveSeries{{Name: name, Curve: r.Curve}}); err != nil {
		return nil, err
	}
	if err := PlotThroughput(thr, "throughput ("+what+")", []TimelineSeries{{Name: name, Timeline: r.Timeline}}); err != nil {
		return nil, err
	}
	return []string{lat, thr}, nil
}
