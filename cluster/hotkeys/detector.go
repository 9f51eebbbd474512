package hotkeys

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slabcache/slabcache/internal/clock"
)

// Config sets how keys are sampled and when a key is hot.
type Config struct {
	// SampleRate: one read in SampleRate (on average) is sampled, and
	// writes alike. Default 100.
	SampleRate int
	// TopK is the number of keys each event loop's summary keeps. Default 64.
	TopK int
	// WindowSecs is the length of a window in seconds. Default 1.
	WindowSecs int
	// Windows is how many windows are summed to smooth the estimates.
	// Default 3.
	Windows int
	// Threshold is the share of this node's reads at which a key turns hot.
	// Default 0.01 (1%).
	Threshold float64
	// MinRate is the node's read rate (reads/s) below which nothing is hot.
	// Default 1000.
	MinRate float64
	// MinSamples is the fewest samples of a key, over the smoothing
	// windows, before it can turn hot: one sample stands for SampleRate
	// reads, so a key seen once or twice is noise, not a hot key.
	// Default 8.
	MinSamples int
	// LeaveWindows: a hot key leaves the hot set after this many windows
	// in a row below half the threshold (or under MinRate). Default 3.
	LeaveWindows int
	// OnChange, when set, is called (from the detector's goroutine) for
	// every key entering or leaving the hot set.
	OnChange func(Change)
	// Now returns the coarse clock in seconds (the server's clock); the
	// detector's windows follow it. Start's goroutine expects it to turn
	// with the wall clock's seconds, as the server's does; default: the
	// wall clock's.
	Now func() uint32
	// Serving, when set, returns how many nodes serve a hot key's reads
	// (the owner and its replicas). A key whose reads are spread over n
	// nodes shows only part of them here; without Remote's figure its
	// reads are scaled by n: otherwise spreading a key would make it leave
	// the hot set, and come back once its reads return. nil counts 1.
	Serving func(key string) int
	// Remote, when set, returns the reads per second of a hot key on the
	// other nodes serving it, as they reported them (ReadsPerSec on their
	// detectors), and whether every one of them did. The key's figures are
	// then this node's reads plus those, however unevenly clients spread
	// them.
	Remote func(key string) (readsPerSec float64, ok bool)
}

// trackWindows: a key ReadsPerSec was asked about is counted exactly for
// this many windows after the last time it was asked about.
const trackWindows = 5

// DefaultConfig returns the defaults above.
func DefaultConfig() Config {
	return Config{SampleRate: 100, TopK: 64, WindowSecs: 1, Windows: 3, Threshold: 0.01, MinRate: 1000, MinSamples: 8, LeaveWindows: 3}
}

// fill gives the counts left at 0 (or below) their default.
func (c *Config) fill() {
	d := DefaultConfig()
	for _, f := range []struct{ v, def *int }{
		{&c.SampleRate, &d.SampleRate}, {&c.TopK, &d.TopK}, {&c.WindowSecs, &d.WindowSecs},
		{&c.Windows, &d.Windows}, {&c.MinSamples, &d.MinSamples}, {&c.LeaveWindows, &d.LeaveWindows},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
}

// Key is a key's figures over the smoothing windows.
type Key struct {
	Key          string
	ReadsPerSec  float64 // estimated reads of the key per second
	Share        float64 // its share of this node's reads
	WritesPerSec float64 // estimated writes of the key per second
	Since        time.Time
}

// Change is a key entering (Hot true) or leaving the hot set.
type Change struct {
	Key
	Hot bool
}

// Detector finds hot keys from the samples of its Samplers (one per event
// loop). Samplers run lock-free on their loops; once a window is over each
// hands its summary to the detector through a slot it owns (see publish),
// and the detector's goroutine merges them.
type Detector struct {
	cfg Config

	mu       sync.Mutex
	samplers []*Sampler
	history  []window // newest last, at most cfg.Windows
	hot      map[string]*hotState
	tracked  map[string]int64 // keys counted exactly for ReadsPerSec: the last window asked
	last     int64            // last window merged
	sampled  atomic.Uint64
	pins     atomic.Pointer[pinSet] // the hot keys, for the samplers to count exactly
	changes  [2]atomic.Uint64       // leave, enter
	view     atomic.Pointer[view]

	// sleeping is set while Start's goroutine waits for traffic (quiet);
	// a sampler beginning a window then wakes it through wake.
	sleeping atomic.Bool
	wake     chan struct{}

	stop chan struct{}
	done chan struct{}
}

type window struct {
	reads, writes uint64            // all reads and writes seen
	keyReads      map[string]uint64 // guaranteed reads of sampled keys (count less error)
	keyWrites     map[string]uint64
	// pinned: reads of the keys that were hot when the window began,
	// counted exactly from the samples (a Space-Saving summary can lose a
	// key whose share is under 1/TopK of the samples).
	pinned map[string]uint64
}

type hotState struct {
	since time.Time
	below int
}

// view is what readers see: the hot set and the best candidates, sorted by
// reads.
type view struct {
	hot, candidates []Key
}

// New returns a detector; call Start to run it.
func New(cfg Config) *Detector {
	cfg.fill()
	if cfg.Now == nil {
		// Seconds of the wall clock, which turn when Start's goroutine
		// expects them to.
		start := time.Now().Unix()
		cfg.Now = func() uint32 { return uint32(time.Now().Unix()-start) + 2 }
	}
	d := &Detector{cfg: cfg, hot: map[string]*hotState{}, tracked: map[string]int64{}, last: -1, wake: make(chan struct{}, 1)}
	d.view.Store(&view{})
	d.pins.Store(&pinSet{})
	return d
}

// Sampler returns a new sampler for one event loop.
func (d *Detector) Sampler() *Sampler {
	s := &Sampler{
		d:      d,
		rate:   d.cfg.SampleRate,
		win:    -1,
		rng:    uint64(time.Now().UnixNano()) | 1,
		reads:  NewTopK(d.cfg.TopK),
		writes: NewTopK(d.cfg.TopK),
	}
	for i := range s.pub {
		s.pub[i].reads = NewTopK(d.cfg.TopK)
		s.pub[i].writes = NewTopK(d.cfg.TopK)
	}
	s.rleft, s.wleft = s.skip(), s.skip()
	d.mu.Lock()
	d.samplers = append(d.samplers, s)
	d.mu.Unlock()
	return s
}

// Start runs the goroutine that closes windows.
func (d *Detector) Start() {
	d.stop, d.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(d.done)
		// The goroutine wakes once a second, closeDelay after the wall
		// clock's second turns (the server's clock moves just after it):
		// by then every busy loop has published the window the clock
		// left, and it is merged. When the clock has not moved since the
		// last wake-up it looks again closeDelay later. (A ticker every
		// closeDelay did the same with ten wake-ups a second, idle or not.)
		t := time.NewTimer(untilAfterSecond(time.Now()))
		defer t.Stop()
		last := d.cfg.Now()
		for {
			select {
			case <-d.stop:
				return
			case <-t.C:
			}
			now := d.cfg.Now()
			if now == last {
				t.Reset(closeDelay)
				continue
			}
			last = now
			d.CloseWindows(d.windowOf(now) - 1)
			if d.quiet() {
				// Nothing read or written for a while and no hot key:
				// sleep until a sampler begins a window (Sampler.Begin).
				// The windows in between were empty: none is merged.
				d.sleeping.Store(true)
				select {
				case <-d.stop:
					return
				case <-d.wake:
				}
				d.sleeping.Store(false)
				last = d.cfg.Now()
				d.skipTo(d.windowOf(last))
			}
			t.Reset(untilAfterSecond(time.Now()))
		}
	}()
}

// quiet reports whether the detector may sleep: its windows held no read
// and no write and no key is hot.
func (d *Detector) quiet() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.hot) != 0 || len(d.history) < d.cfg.Windows {
		return false
	}
	for _, w := range d.history {
		if w.reads != 0 || w.writes != 0 {
			return false
		}
	}
	return true
}

// skipTo marks the windows before w's previous one merged, after a sleep
// during which they were empty.
func (d *Detector) skipTo(w int64) {
	d.mu.Lock()
	d.last = max(d.last, w-2)
	d.mu.Unlock()
}

// closeDelay is how long after the clock moves the detector merges the
// window the clock left.
const closeDelay = 100 * time.Millisecond

// untilAfterSecond is the time from now to closeDelay after the server's
// clock next moves.
func untilAfterSecond(now time.Time) time.Duration {
	return clock.UntilNextSecond(now) + closeDelay
}

// Stop ends the goroutine.
func (d *Detector) Stop() {
	if d.stop != nil {
		close(d.stop)
		<-d.done
		d.stop = nil
	}
}

func (d *Detector) windowOf(now uint32) int64 { return int64(now) / int64(d.cfg.WindowSecs) }

// Sampled returns the number of reads sampled in the windows merged so far.
func (d *Detector) Sampled() uint64 { return d.sampled.Load() }

// Changes returns how many times keys entered and left the hot set.
func (d *Detector) Changes() (enter, leave uint64) {
	return d.changes[1].Load(), d.changes[0].Load()
}

// Hot returns the hot keys, most read first.
func (d *Detector) Hot() []Key { return d.view.Load().hot }

// Candidates returns the most read keys that are not hot, most read first.
func (d *Detector) Candidates() []Key { return d.view.Load().candidates }

// CloseWindows merges every window up to and including w that has not been
// merged yet, and updates the hot set. The detector's goroutine calls it;
// tests call it directly.
func (d *Detector) CloseWindows(w int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last < 0 {
		d.last = w - 1
	}
	for ; d.last < w; d.last++ {
		d.mergeLocked(d.last + 1)
	}
	d.evaluateLocked()
}

// mergeLocked adds the summaries the samplers published for window w.
func (d *Detector) mergeLocked(w int64) {
	m := window{keyReads: map[string]uint64{}, keyWrites: map[string]uint64{}, pinned: map[string]uint64{}}
	rate := uint64(d.cfg.SampleRate)
	for _, s := range d.samplers {
		for i := range s.pub {
			p := &s.pub[i]
			pw := p.win.Load()
			if pw == 0 {
				continue
			}
			if pw-1 == w {
				d.sampled.Add(p.reads.Offered())
				m.reads += p.nreads
				m.writes += p.nwrites
				// A key's guaranteed count (count less its error): a key
				// that took a full summary's smallest slot does not look
				// hot because of what it inherited.
				p.reads.Each(func(k []byte, c, e uint64) { m.keyReads[string(k)] += (c - e) * rate })
				p.writes.Each(func(k []byte, c, e uint64) { m.keyWrites[string(k)] += (c - e) * rate })
				for i := range p.pins.n {
					m.pinned[string(p.pins.key(i))] += p.pins.counts[i] * rate
				}
			}
			if pw-1 <= w {
				p.win.Store(0) // consumed (or too late to count): the loop may reuse it
			}
		}
	}
	d.history = append(d.history, m)
	if len(d.history) > d.cfg.Windows {
		d.history = d.history[len(d.history)-d.cfg.Windows:]
	}
}

// evaluateLocked applies the hot rules to the smoothed figures.
func (d *Detector) evaluateLocked() {
	var reads, writes uint64
	keyReads := map[string]uint64{}
	keyWrites := map[string]uint64{}
	stay := map[string]uint64{}
	for _, w := range d.history {
		reads += w.reads
		writes += w.writes
		for k, n := range w.keyReads {
			keyReads[k] += n
		}
		for k := range d.hot {
			stay[k] += w.exact(k)
		}
		for k, n := range w.keyWrites {
			keyWrites[k] += n
		}
	}
	secs := float64(len(d.history) * d.cfg.WindowSecs)
	if secs == 0 {
		return
	}
	rate := float64(reads) / secs
	now := time.Now()
	fig := func(k string) Key {
		r := keyReads[k]
		share := 0.0
		if reads > 0 {
			share = min(float64(r)/float64(reads), 1)
		}
		return Key{Key: k, ReadsPerSec: float64(r) / secs, Share: share, WritesPerSec: float64(keyWrites[k]) / secs}
	}
	busy := rate >= d.cfg.MinRate
	var changes []Change
	for k, r := range keyReads {
		if _, ok := d.hot[k]; ok || !busy || r == 0 {
			continue
		}
		if r/uint64(d.cfg.SampleRate) < uint64(d.cfg.MinSamples) {
			continue
		}
		if f := fig(k); f.Share >= d.cfg.Threshold {
			d.hot[k] = &hotState{since: now}
			f.Since = now
			changes = append(changes, Change{Key: f, Hot: true})
		}
	}
	// total is a hot key's reads over the windows on every node serving
	// it: its exact count here plus what the others reported, or without
	// their reports its count here times the nodes serving it.
	total := func(k string, count uint64) float64 {
		if d.cfg.Remote != nil {
			if r, ok := d.cfg.Remote(k); ok {
				return float64(count) + r*secs
			}
		}
		n := 1
		if d.cfg.Serving != nil {
			n = max(d.cfg.Serving(k), 1)
		}
		return float64(count) * float64(n)
	}
	for k, st := range d.hot {
		f := fig(k)
		// A hot key stays while its share (of its reads on every node
		// serving it) is at least half the threshold.
		if busy && reads > 0 && total(k, stay[k])/float64(reads) >= d.cfg.Threshold/2 {
			st.below = 0
			continue
		}
		if st.below++; st.below >= d.cfg.LeaveWindows {
			delete(d.hot, k)
			f.Since = st.since
			changes = append(changes, Change{Key: f})
		}
	}
	v := &view{}
	for k, st := range d.hot {
		f := fig(k)
		f.Since = st.since
		// A hot key's figures come from its exact count, over all the
		// nodes serving it.
		count, ok := stay[k]
		if !ok {
			count = keyReads[k] // it entered just now
		}
		t := total(k, count)
		f.ReadsPerSec = t / secs
		if reads > 0 {
			f.Share = min(t/float64(reads), 1)
		}
		v.hot = append(v.hot, f)
	}
	for k := range keyReads {
		if _, ok := d.hot[k]; !ok {
			v.candidates = append(v.candidates, fig(k))
		}
	}
	byReads := func(ks []Key) {
		sort.Slice(ks, func(i, j int) bool {
			if ks[i].ReadsPerSec != ks[j].ReadsPerSec {
				return ks[i].ReadsPerSec > ks[j].ReadsPerSec
			}
			return ks[i].Key < ks[j].Key
		})
	}
	byReads(v.hot)
	byReads(v.candidates)
	if len(v.candidates) > 10 {
		v.candidates = v.candidates[:10]
	}
	d.view.Store(v)
	d.storePinsLocked()
	for _, c := range changes {
		if c.Hot {
			d.changes[1].Add(1)
		} else {
			d.changes[0].Add(1)
		}
		if d.cfg.OnChange != nil {
			d.cfg.OnChange(c)
		}
	}
}

// storePinsLocked hands the samplers the keys to count exactly from their
// next window on: the hot keys, most read first, then the tracked ones
// (maxPins in all). Tracking that has not been asked for lately ends.
func (d *Detector) storePinsLocked() {
	pins := &pinSet{}
	for _, k := range d.view.Load().hot {
		pins.add([]byte(k.Key))
	}
	for k, w := range d.tracked {
		if d.last-w > trackWindows {
			delete(d.tracked, k)
		} else if _, hot := d.hot[k]; !hot {
			pins.add([]byte(k))
		}
	}
	d.pins.Store(pins)
}

// exact is key k's reads in window w: counted exactly when k was pinned
// in it, else its guaranteed count from the summaries.
func (w *window) exact(k string) uint64 {
	if n, ok := w.pinned[k]; ok {
		return n
	}
	return w.keyReads[k]
}

// ReadsPerSec returns, for each of keys, its reads per second on this node
// over the smoothing windows, and counts those keys exactly from the next
// window on for as long as they are asked for again within a few windows.
// The owner of a replicated hot key asks the nodes holding its copies
// (Config.Remote on the owner's detector).
func (d *Detector) ReadsPerSec(keys []string) []float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]float64, len(keys))
	secs := float64(len(d.history) * d.cfg.WindowSecs)
	added := false
	for i, k := range keys {
		if _, ok := d.tracked[k]; !ok {
			added = true
		}
		d.tracked[k] = d.last
		if secs == 0 {
			continue
		}
		var n uint64
		for _, w := range d.history {
			n += w.exact(k)
		}
		out[i] = float64(n) / secs
	}
	if added {
		d.storePinsLocked()
	}
	return out
}

// Sampler samples the reads and writes of one event loop. Its methods must
// be called from that loop only; they take no lock and allocate nothing.
type Sampler struct {
	d             *Detector
	rate          int
	rleft, wleft  int // requests until the next sample
	rng           uint64
	win           int64 // the window being summed
	reads, writes *TopK
	nreads        uint64
	nwrites       uint64
	pins          pinSet
	pub           [2]pubSlot
}

// pubSlot hands a finished window to the detector. win is 0 while the slot
// is free, window+1 once the loop has filled it; the detector frees it after
// reading. The loop writes only a free slot and the detector reads only a
// full one, so the atomic win orders every access.
type pubSlot struct {
	win           atomic.Int64
	reads, writes *TopK
	nreads        uint64
	nwrites       uint64
	pins          pinSet
}

// maxPins bounds the hot keys a sampler counts exactly.
const maxPins = 64

// pinSet is a fixed-size set of keys with a sample count each.
type pinSet struct {
	n      int
	lens   [maxPins]uint8
	counts [maxPins]uint64
	keys   [maxPins * MaxKeyLen]byte
}

func (p *pinSet) key(i int) []byte { return p.keys[i*MaxKeyLen : i*MaxKeyLen+int(p.lens[i])] }

func (p *pinSet) add(k []byte) {
	if p.n < maxPins && len(k) <= MaxKeyLen {
		copy(p.keys[p.n*MaxKeyLen:], k)
		p.lens[p.n] = uint8(len(k))
		p.n++
	}
}

// count adds a sample of k if it is pinned.
func (p *pinSet) count(k []byte) {
	for i := 0; i < p.n; i++ {
		if int(p.lens[i]) == len(k) && string(p.key(i)) == string(k) {
			p.counts[i]++
			return
		}
	}
}

// skip draws the number of requests to the next sample: uniform in
// [1, 2*rate-1], so one in rate on average, without a pattern a client's
// request order could line up with.
func (s *Sampler) skip() int {
	if s.rate <= 1 {
		return 1
	}
	s.rng ^= s.rng << 13
	s.rng ^= s.rng >> 7
	s.rng ^= s.rng << 17
	return 1 + int(s.rng%uint64(2*s.rate-1))
}

// Begin starts an event at clock time now (seconds): when the window has
// changed, the finished one is handed to the detector.
func (s *Sampler) Begin(now uint32) {
	w := s.d.windowOf(now)
	if w == s.win {
		return
	}
	if s.win >= 0 && s.nreads+s.nwrites > 0 {
		p := &s.pub[s.win%2]
		if p.win.Load() == 0 {
			p.reads.CopyFrom(s.reads)
			p.writes.CopyFrom(s.writes)
			p.nreads, p.nwrites = s.nreads, s.nwrites
			p.pins = s.pins
			p.win.Store(s.win + 1)
		}
	}
	s.win = w
	if s.d.sleeping.Load() {
		select {
		case s.d.wake <- struct{}{}:
		default:
		}
	}
	s.reads.Reset()
	s.writes.Reset()
	s.nreads, s.nwrites = 0, 0
	// Count the current hot keys exactly in the new window (one atomic
	// load a window, not a request).
	s.pins = *s.d.pins.Load()
	clear(s.pins.counts[:])
}

// Read counts a read of key.
func (s *Sampler) Read(key []byte) {
	s.nreads++
	if s.rleft--; s.rleft > 0 {
		return
	}
	s.rleft = s.skip()
	s.reads.Offer(key)
	if s.pins.n > 0 {
		s.pins.count(key)
	}
}

// Write counts a write of key.
func (s *Sampler) Write(key []byte) {
	s.nwrites++
	if s.wleft--; s.wleft > 0 {
		return
	}
	s.wleft = s.skip()
	s.writes.Offer(key)
}
