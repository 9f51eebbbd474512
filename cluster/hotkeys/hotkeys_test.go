package hotkeys

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

// zipfKeys returns n draws of keys "k0".."k<m-1>" under Zipf s.
func zipfKeys(seed uint64, s float64, m, n int) []string {
	r := rand.New(rand.NewPCG(seed, seed))
	z := rand.NewZipf(r, s, 1, uint64(m-1))
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("k%d", z.Uint64())
	}
	return out
}

// Space-Saving's guarantees on Zipf streams: every count overestimates its
// key's true count by at most its error, every error is at most N/K, and
// every key seen more than N/K times is in the summary.
func TestTopKBoundsOnZipf(t *testing.T) {
	for _, s := range []float64{1.01, 1.1, 1.5} {
		for _, k := range []int{16, 64} {
			const n = 200_000
			stream := zipfKeys(uint64(k), s, 100_000, n)
			exact := map[string]uint64{}
			tk := NewTopK(k)
			for _, key := range stream {
				exact[key]++
				tk.Offer([]byte(key))
			}
			bound := uint64(n / k)
			seen := map[string]bool{}
			tk.Each(func(key []byte, count, err uint64) {
				kk := string(key)
				seen[kk] = true
				if count < exact[kk] || count-exact[kk] > err || err > bound {
					t.Errorf("s=%v k=%d %s: count %d, true %d, err %d, bound %d", s, k, kk, count, exact[kk], err, bound)
				}
			})
			for key, c := range exact {
				if c > bound && !seen[key] {
					t.Errorf("s=%v k=%d: %s seen %d times (> N/K = %d) is not in the summary", s, k, key, c, bound)
				}
			}
			if tk.Offered() != n {
				t.Errorf("offered %d, want %d", tk.Offered(), n)
			}
		}
	}
}

// fakeClock is the detector's seconds clock in a test.
type fakeClock struct{ now atomic.Uint32 }

func (c *fakeClock) Now() uint32 { return c.now.Load() }

type rig struct {
	t       *testing.T
	clk     *fakeClock
	d       *Detector
	loops   []*Sampler
	changes []Change
}

func newRig(t *testing.T, cfg Config, loops int) *rig {
	r := &rig{t: t, clk: &fakeClock{}}
	r.clk.now.Store(100)
	cfg.Now = r.clk.Now
	cfg.OnChange = func(c Change) { r.changes = append(r.changes, c) }
	r.d = New(cfg)
	for range loops {
		r.loops = append(r.loops, r.d.Sampler())
	}
	return r
}

// second runs one second of traffic: reads per loop, a share of them on
// each hot key, the rest spread over many cold keys; then the next
// second begins on every loop (publishing this one) and the detector closes
// the window.
func (r *rig) second(reads int, hot map[string]float64) {
	now := r.clk.Now()
	for li, l := range r.loops {
		l.Begin(now)
		rng := rand.New(rand.NewPCG(uint64(now), uint64(li)))
		for range reads {
			x := rng.Float64()
			key := ""
			for k, share := range hot {
				if x < share {
					key = k
					break
				}
				x -= share
			}
			if key == "" {
				key = fmt.Sprintf("cold%d", rng.IntN(50_000))
			}
			l.Read([]byte(key))
		}
	}
	r.clk.now.Add(1)
	for _, l := range r.loops {
		l.Begin(r.clk.Now())
	}
	r.d.CloseWindows(int64(now))
}

func (r *rig) hotKeys() []string {
	var ks []string
	for _, k := range r.d.Hot() {
		ks = append(ks, k.Key)
	}
	return ks
}

// A key with a few percent of a busy node's reads turns hot within a
// window or two; keys under the threshold do not; an idle node marks
// nothing; a key that cools down leaves only after the configured number
// of windows under half the threshold.
func TestDetectorHotSetAndHysteresis(t *testing.T) {
	r := newRig(t, DefaultConfig(), 2)
	// 200,000 reads/s on the node: "a" has 5%, "b" 0.3%.
	r.second(100000, map[string]float64{"a": 0.05, "b": 0.003})
	r.second(100000, map[string]float64{"a": 0.05, "b": 0.003})
	if got := r.hotKeys(); len(got) != 1 || got[0] != "a" {
		t.Fatalf("hot set %v, want [a]", got)
	}
	k := r.d.Hot()[0]
	if k.Share < 0.035 || k.Share > 0.07 || k.ReadsPerSec < 7000 || k.ReadsPerSec > 14000 {
		t.Fatalf("figures of a: %+v, want about 5%% and 10,000 reads/s", k)
	}
	if len(r.changes) != 1 || !r.changes[0].Hot || r.changes[0].Key.Key != "a" {
		t.Fatalf("changes %+v", r.changes)
	}
	// "a" drops to 0.8%: between half the threshold and the threshold it
	// stays hot.
	for range 5 {
		r.second(200000, map[string]float64{"a": 0.008})
	}
	if got := r.hotKeys(); len(got) != 1 {
		t.Fatalf("a left the hot set at 0.8%%: %v", got)
	}
	// Then to nothing: it leaves after LeaveWindows windows below half
	// the threshold (the smoothing windows first have to forget it).
	left := -1
	for i := range 10 {
		r.second(20000, nil)
		if len(r.hotKeys()) == 0 {
			left = i
			break
		}
	}
	if left < 2 {
		t.Fatalf("a left after %d windows, want at least LeaveWindows-1 = 2", left)
	}
	if n := len(r.changes); n != 2 || r.changes[1].Hot {
		t.Fatalf("changes %+v", r.changes)
	}
	enter, leave := r.d.Changes()
	if enter != 1 || leave != 1 {
		t.Fatalf("Changes() = %d, %d", enter, leave)
	}
}

// Under MinRate nothing is hot, whatever its share.
func TestDetectorIdleNodeMarksNothing(t *testing.T) {
	r := newRig(t, DefaultConfig(), 1)
	for range 4 {
		r.second(900, map[string]float64{"a": 0.5}) // 900 reads/s < 1000
	}
	if got := r.hotKeys(); len(got) != 0 {
		t.Fatalf("hot set %v on a node under min_rate", got)
	}
	if len(r.d.Candidates()) == 0 || r.d.Candidates()[0].Key != "a" {
		t.Fatalf("candidates %+v, want a first", r.d.Candidates())
	}
}

// Sampling allocates nothing on the request path.
func TestSamplerAllocatesNothing(t *testing.T) {
	d := New(DefaultConfig())
	s := d.Sampler()
	key := []byte("user:42:profile")
	if n := testing.AllocsPerRun(10_000, func() {
		s.Begin(5)
		s.Read(key)
		s.Write(key)
	}); n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}

func BenchmarkSamplerRead(b *testing.B) {
	d := New(DefaultConfig())
	s := d.Sampler()
	keys := zipfKeys(1, 1.1, 100_000, 4096)
	bk := make([][]byte, len(keys))
	for i, k := range keys {
		bk[i] = []byte(k)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Read(bk[i&4095])
	}
}

// A key whose reads are spread over several nodes keeps its place in the
// owner's hot set although the owner now sees only a part of them.
func TestDetectorKeepsSpreadKeys(t *testing.T) {
	cfg := DefaultConfig()
	serving := 1
	cfg.Serving = func(string) int { return serving }
	r := newRig(t, cfg, 2)
	r.second(100000, map[string]float64{"a": 0.05})
	r.second(100000, map[string]float64{"a": 0.05})
	if got := r.hotKeys(); len(got) != 1 {
		t.Fatalf("hot set %v, want [a]", got)
	}
	// Five nodes serve it now: the owner sees a fifth of its reads
	// (0.4%, under half the threshold), and it stays hot.
	serving = 5
	for range 6 {
		r.second(400000, map[string]float64{"a": 0.004})
	}
	if got := r.hotKeys(); len(got) != 1 {
		t.Fatalf("a spread key left the hot set: %v", got)
	}
	if k := r.d.Hot()[0]; k.Share < 0.012 || k.Share > 0.03 {
		t.Fatalf("figures of a spread key: %+v, want its share over its five nodes (about 2%%)", k)
	}
	// Served by its owner alone again, and read less, it leaves.
	serving = 1
	for range 8 {
		r.second(100000, map[string]float64{"a": 0.002})
	}
	if got := r.hotKeys(); len(got) != 0 {
		t.Fatalf("hot set %v, want a gone", got)
	}
}

// When the other nodes serving a hot key report how often they read it,
// the owner's figures are its own reads plus theirs, however few of the
// key's reads reach the owner; without a report it falls back to scaling.
func TestDetectorAddsRemoteReads(t *testing.T) {
	cfg := DefaultConfig()
	var remote float64
	reported := false
	cfg.Serving = func(string) int { return 3 }
	cfg.Remote = func(string) (float64, bool) { return remote, reported }
	r := newRig(t, cfg, 2)
	r.second(100000, map[string]float64{"a": 0.05})
	r.second(100000, map[string]float64{"a": 0.05})
	if got := r.hotKeys(); len(got) != 1 {
		t.Fatalf("hot set %v, want [a]", got)
	}
	// The owner now sees none of a's reads (clients read its copies on
	// the less loaded nodes), which report 8,000 reads/s together.
	remote, reported = 8000, true
	for range 6 {
		r.second(100000, nil)
	}
	if got := r.hotKeys(); len(got) != 1 {
		t.Fatalf("a, read 8,000 times a second elsewhere, left the hot set: %v", got)
	}
	if k := r.d.Hot()[0]; k.ReadsPerSec < 7900 || k.ReadsPerSec > 8100 || k.Share < 0.035 || k.Share > 0.045 {
		t.Fatalf("figures of a: %+v, want 8,000 reads/s, 4%% of the owner's 200,000", k)
	}
	// The copies stop reporting: the owner's own reads (none) times 3
	// are all it has, and a leaves.
	reported = false
	for range 6 {
		r.second(100000, nil)
	}
	if got := r.hotKeys(); len(got) != 0 {
		t.Fatalf("hot set %v, want a gone", got)
	}
}

// ReadsPerSec reports a node's reads of keys it is asked about, and from
// the next window on counts them exactly (the Space-Saving summaries can
// lose a key with a small share).
func TestDetectorReadsPerSecTracksKeys(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SampleRate = 10
	r := newRig(t, cfg, 2)
	r.second(100000, map[string]float64{"c": 0.004})
	first := r.d.ReadsPerSec([]string{"c", "none"})
	if first[1] != 0 {
		t.Fatalf("reads of a key never read: %v", first[1])
	}
	pins := r.d.pins.Load()
	if pins.n != 2 || string(pins.key(0))+string(pins.key(1)) != "cnone" && string(pins.key(0))+string(pins.key(1)) != "nonec" {
		t.Fatalf("samplers do not count the keys asked about exactly: %d pins", pins.n)
	}
	// The samplers take the new pins at their next window; then three
	// windows (the smoothing) counted exactly.
	for range 4 {
		r.second(100000, map[string]float64{"c": 0.004})
	}
	got := r.d.ReadsPerSec([]string{"c"})[0]
	// 0.4% of 200,000 reads/s = 800/s, 240 samples over three windows.
	if got < 650 || got > 950 {
		t.Fatalf("ReadsPerSec(c) = %v after tracking, want about 800", got)
	}
	if len(r.hotKeys()) != 0 {
		t.Fatalf("a tracked key under the threshold turned hot: %v", r.hotKeys())
	}
	// Not asked about again, it stops being counted exactly.
	for range trackWindows + 2 {
		r.second(1000, nil)
	}
	r.d.mu.Lock()
	_, still := r.d.tracked["c"]
	r.d.mu.Unlock()
	if still {
		t.Fatal("c still tracked after nobody asked for it")
	}
}

// With nothing read or written for its windows and no hot key, the
// detector's goroutine sleeps (an idle server's timers wake its threads);
// a loop beginning a window wakes it, and keys turn hot as before.
func TestDetectorSleepsWhileIdle(t *testing.T) {
	d := New(Config{SampleRate: 1, MinRate: 1, MinSamples: 1, Threshold: 0.5})
	s := d.Sampler()
	d.Start()
	defer d.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for !d.sleeping.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the detector did not sleep with no traffic")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for len(d.Hot()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no key hot after traffic resumed (sleeping %v)", d.sleeping.Load())
		}
		s.Begin(d.cfg.Now())
		for range 100 {
			s.Read([]byte("k"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := d.Hot()[0].Key; got != "k" {
		t.Fatalf("hot key %q, want k", got)
	}
	if d.sleeping.Load() {
		t.Fatal("asleep with a hot key")
	}
}
