package bench

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestUniformCoversTheSpace(t *testing.T) {
	const n, draws = 1000, 50000
	d, err := NewKeyDist("uniform", n, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	counts := make([]int, n)
	for range draws {
		k := d.Next(r)
		if k >= n {
			t.Fatalf("key %d outside [0,%d)", k, n)
		}
		counts[k]++
	}
	// Every key drawn, and the spread is what chance gives: a chi-square
	// statistic far above its n-1 degrees of freedom means a skew.
	chi := 0.0
	exp := float64(draws) / n
	for k, c := range counts {
		if c == 0 {
			t.Fatalf("key %d never drawn in %d draws", k, draws)
		}
		chi += (float64(c) - exp) * (float64(c) - exp) / exp
	}
	if chi > 1.2*(n-1) {
		t.Fatalf("chi-square %.0f for %d degrees of freedom: not uniform", chi, n-1)
	}
}

func TestGaussianIsCentred(t *testing.T) {
	const n, draws = 100000, 200000
	for _, sd := range []float64{0, 0.05} { // 0 means the default 1/6
		d, err := NewKeyDist("gaussian", n, sd)
		if err != nil {
			t.Fatal(err)
		}
		want := sd
		if want == 0 {
			want = 1.0 / 6
		}
		r := rand.New(rand.NewPCG(3, 4))
		var sum, sum2 float64
		for range draws {
			k := d.Next(r)
			if k >= n {
				t.Fatalf("key %d outside [0,%d)", k, n)
			}
			x := float64(k)
			sum += x
			sum2 += x * x
		}
		mean := sum / draws
		std := math.Sqrt(sum2/draws - mean*mean)
		if math.Abs(mean-n/2) > 0.01*n {
			t.Errorf("sd %v: mean %.0f, want about %d", sd, mean, n/2)
		}
		// Redrawing outside the space trims the tails a little at 1/6.
		if got := std / n; math.Abs(got-want)/want > 0.05 {
			t.Errorf("sd %v: standard deviation %.4f of the space, want %.4f", sd, got, want)
		}
	}
}

// zipfFit draws from a Zipf distribution and returns the exponent fitted by
// least squares on log(count) against log(rank) over the top ranks, and
// the observed share of the most popular key.
func zipfFit(t *testing.T, n uint64, s float64, draws int) (fitted, top float64) {
	t.Helper()
	d, err := NewKeyDist("zipf", n, s)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	counts := make([]int, n)
	for range draws {
		k := d.Next(r)
		if k >= n {
			t.Fatalf("key %d outside [0,%d)", k, n)
		}
		counts[k]++
	}
	const ranks = 100
	var sx, sy, sxx, sxy float64
	for k := 0; k < ranks; k++ {
		x, y := math.Log(float64(k+1)), math.Log(float64(counts[k]))
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	slope := (ranks*sxy - sx*sy) / (ranks*sxx - sx*sx)
	return -slope, float64(counts[0]) / float64(draws)
}

func TestZipfSkewMatchesExponent(t *testing.T) {
	const n = 10000
	draws := 1000000
	if testing.Short() {
		draws = 300000
	}
	for _, s := range []float64{0.5, 0.99, 1.0, 1.2} {
		fitted, top := zipfFit(t, n, s, draws)
		if math.Abs(fitted-s) > 0.05 {
			t.Errorf("s=%v: fitted exponent %.3f", s, fitted)
		}
		// P(first key) = 1 / H(n, s), the generalized harmonic number.
		h := 0.0
		for k := 1; k <= n; k++ {
			h += math.Pow(float64(k), -s)
		}
		if want := 1 / h; math.Abs(top-want)/want > 0.03 {
			t.Errorf("s=%v: most popular key drawn %.4f of the time, want %.4f", s, top, want)
		}
	}
}

func TestZipfTinySpaces(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []uint64{1, 2, 3} {
		d, err := NewZipf(n, 0.99)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[uint64]bool{}
		for range 10000 {
			k := d.Next(r)
			if k >= n {
				t.Fatalf("n=%d: key %d", n, k)
			}
			seen[k] = true
		}
		if uint64(len(seen)) != n {
			t.Errorf("n=%d: drew %d distinct keys", n, len(seen))
		}
	}
}

func TestKeyDistErrors(t *testing.T) {
	bad := []struct {
		name  string
		n     uint64
		param float64
	}{
		{"uniform", 0, 0},
		{"zipf", 10, -1},
		{"zipf", 10, math.Inf(1)},
		{"zipf", 10, math.NaN()},
		{"gaussian", 10, -0.1},
		{"pareto", 10, 0},
	}
	for _, b := range bad {
		if _, err := NewKeyDist(b.name, b.n, b.param); err == nil {
			t.Errorf("NewKeyDist(%q, %d, %v) succeeded", b.name, b.n, b.param)
		}
	}
}

func TestKeyDistAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, name := range []string{"uniform", "gaussian", "zipf"} {
		d, _ := NewKeyDist(name, 1000, 0)
		if a := testing.AllocsPerRun(1000, func() { d.Next(r) }); a != 0 {
			t.Errorf("%s: %v allocations per draw", name, a)
		}
	}
}

func BenchmarkZipfNext(b *testing.B) {
	d, _ := NewZipf(1000000, 0.99)
	r := rand.New(rand.NewPCG(1, 1))
	b.ReportAllocs()
	for b.Loop() {
		d.Next(r)
	}
}
