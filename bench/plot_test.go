package bench

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestPlotsAreWrittenEvenWhenEmpty(t *testing.T) {
	dir := t.TempDir()
	full := &Result{Protocol: "text", Config: DefaultConfig(),
		Curve:    []PercentilePoint{{0, 10}, {50, 20}, {90, 40}, {99, 90}, {99.9, 300}, {100, 900}},
		Timeline: []TimelinePoint{{T: 1, OpsPerSec: 1000}, {T: 2, OpsPerSec: 1200}}}
	for name, r := range map[string]*Result{"full": full, "empty": {Protocol: "text", Config: DefaultConfig()}} {
		files, err := WritePlots(r, filepath.Join(dir, name), "memcached")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := png.DecodeConfig(fh); err != nil {
				t.Errorf("%s: %v", f, err)
			}
			fh.Close()
		}
	}
	if got := percentileLabel(1000); got != "99.9%" {
		t.Errorf("label for 1/(1-p) = 1000: %q, want 99.9%%", got)
	}
}

func TestPlotHitRatio(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hit.png")
	tl := []TimelinePoint{{T: 1, Hits: 90, Misses: 10}, {T: 2, Hits: 0, Misses: 0}, {T: 3, Hits: 80, Misses: 20}}
	if err := PlotHitRatio(path, "hit ratio", []TimelineSeries{{Name: "cluster", Timeline: tl}, {Name: "empty"}}); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if cfg, err := png.DecodeConfig(fh); err != nil || cfg.Width == 0 {
		t.Fatalf("%v %+v", err, cfg)
	}
}
