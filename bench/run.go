package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/slabcache/slabcache/proto"
)

type opKind uint8

const (
	opGet opKind = iota
	opSet
)

// prefillBatch is how many sets a prefill writes at once per connection.
const prefillBatch = 64

// maxConnErrors bounds how many connection failures a Result lists.
const maxConnErrors = 8

// conn is one connection and its reusable buffers.
type conn struct {
	nc   net.Conn
	rd   *proto.Reader
	rp   proto.Reply
	req  proto.Request
	out  []byte
	keys [][]byte // MultiGet scratch keys of KeySize bytes
	ops  []pending
	sent int64 // closed loop: when the batch was written (ns since start)
	dead atomic.Bool

	// open loop: requests written and not yet answered, in order
	q chan pending
}

// pending is a request written and not yet answered.
type pending struct {
	kind     opKind
	nkeys    int32
	hits     int32
	failed   bool
	intended int64 // open loop: intended send time (ns since start)
	latency  int64
}

// engine holds the state shared by the workers of one run.
type engine struct {
	cfg    Config
	proto  protocol
	dist   KeyDist
	values []byte
	start  time.Time
	budget *atomic.Int64 // remaining requests; nil when unbounded by count

	errMu    sync.Mutex
	connErrs []string
}

func (e *engine) now() int64 { return int64(time.Since(e.start)) }

func (e *engine) connFailed(c *conn, err error) {
	if c.dead.Swap(true) {
		return
	}
	_ = c.nc.Close()
	e.errMu.Lock()
	if len(e.connErrs) < maxConnErrors {
		e.connErrs = append(e.connErrs, err.Error())
	}
	e.errMu.Unlock()
}

// claim takes up to n requests from the budget and returns how many it got.
func (e *engine) claim(n int) int {
	if e.budget == nil {
		return n
	}
	for {
		cur := e.budget.Load()
		if cur <= 0 {
			return 0
		}
		take := min(cur, int64(n))
		if e.budget.CompareAndSwap(cur, cur-take) {
			return int(take)
		}
	}
}

// Progress receives one line per second while a run measures; nil for none.
type Progress func(TimelinePoint)

// Run dials cfg.Conns connections to cfg.Addr, prefills if asked, runs the
// measured phase until its duration or request count is reached (or ctx is
// done) and returns the result. It refuses a non-loopback target unless
// cfg.AllowRemote is set.
func Run(ctx context.Context, cfg Config, progress Progress) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := CheckTarget(cfg.Addr, cfg.AllowRemote); err != nil {
		return nil, err
	}
	pr, _ := protocolByName(cfg.Protocol)
	dist, _ := NewKeyDist(cfg.Dist, cfg.Keys, cfg.DistParam)
	e := &engine{cfg: cfg, proto: pr, dist: dist, values: makeValues(cfg.ValueMax)}

	conns := make([]*conn, cfg.Conns)
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.nc.Close()
			}
		}
	}()
	d := net.Dialer{Timeout: cfg.Timeout}
	for i := range conns {
		nc, err := d.DialContext(ctx, "tcp", cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("bench: connecting to %s: %w", cfg.Addr, err)
		}
		c := &conn{nc: nc, rd: proto.NewReader(nc)}
		c.keys = make([][]byte, cfg.MultiGet)
		for k := range c.keys {
			c.keys[k] = make([]byte, cfg.KeySize)
		}
		conns[i] = c
	}

	res := &Result{Config: cfg, Target: cfg.Addr, Protocol: pr.name(), Dist: dist.String(), StartedAt: time.Now().UTC()}
	if cfg.Prefill {
		p, err := e.prefill(ctx, conns)
		res.Prefill = p
		if err != nil {
			return res, err
		}
	}
	if cfg.IsPrefillOnly() {
		return res, nil
	}
	if cfg.Requests > 0 {
		e.budget = new(atomic.Int64)
		e.budget.Store(cfg.Requests)
	}

	workers := make([]*recorder, 0, (len(conns)+cfg.ConnsPerWorker-1)/cfg.ConnsPerWorker)
	cpu0 := cpuTime()
	e.start = time.Now()
	var deadline int64
	if cfg.Duration > 0 {
		deadline = int64(cfg.Duration)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w*cfg.ConnsPerWorker < len(conns); w++ {
		group := conns[w*cfg.ConnsPerWorker : min(len(conns), (w+1)*cfg.ConnsPerWorker)]
		rec := newRecorder()
		workers = append(workers, rec)
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(w)+1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cfg.Rate > 0 {
				e.runOpen(runCtx, group, w*cfg.ConnsPerWorker, rec, rng, deadline)
			} else {
				e.runClosed(runCtx, group, rec, rng, deadline)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	// The collector: one timeline point per second, and a last partial one.
	sec, total := NewHistogram(), NewHistogram()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := time.Duration(0)
	point := func(final bool) {
		now := time.Since(e.start)
		var c counters
		for _, r := range workers {
			c.add(r.collect(sec, total))
		}
		span := (now - last).Seconds()
		if final && span < 0.25 && len(res.Timeline) > 0 {
			// A short tail after the last full second is folded into the
			// previous point rather than shown as a noisy point of its own.
			prev := &res.Timeline[len(res.Timeline)-1]
			prev.T, prev.Span = now.Seconds(), prev.Span+span
			prev.Ops += c.Ops
			prev.OpsPerSec = float64(prev.Ops) / prev.Span
			prev.Hits, prev.Misses, prev.Errors = prev.Hits+c.Hits, prev.Misses+c.Misses, prev.Errors+c.Errors
			if c.Ops > 0 {
				prev.MaxUs = max(prev.MaxUs, float64(sec.Max())/1e3)
			}
			sec.Reset()
			return
		}
		pt := TimelinePoint{
			T: now.Seconds(), Span: span, Ops: c.Ops,
			OpsPerSec: float64(c.Ops) / span,
			Hits:      c.Hits, Misses: c.Misses, Errors: c.Errors,
			P50Us: quantileUs(sec, 50), P99Us: quantileUs(sec, 99), MaxUs: float64(sec.Max()) / 1e3,
		}
		if c.Ops == 0 {
			pt.MaxUs = 0
		}
		sec.Reset()
		last = now
		res.Timeline = append(res.Timeline, pt)
		if progress != nil {
			progress(pt)
		}
	}
loop:
	for {
		select {
		case <-tick.C:
			point(false)
		case <-done:
			break loop
		}
	}
	elapsed := time.Since(e.start)
	point(true)
	res.ClientCPUSeconds = cpuTime() - cpu0

	var tot counters
	for _, r := range workers {
		tot.add(r.tot)
	}
	res.fill(tot, total, elapsed)
	res.ConnErrors = e.connErrs
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if res.Ops == 0 && len(e.connErrs) > 0 {
		return res, fmt.Errorf("bench: no request answered: %s", e.connErrs[0])
	}
	return res, nil
}

// makeValues returns n bytes of printable filler that values are cut from.
func makeValues(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(42, 42))
	for i := range b {
		b[i] = 'a' + byte(r.IntN(26))
	}
	return b
}

// putKey writes the key of index idx into dst (len KeySize): the prefix,
// then idx in decimal, zero-padded to fill the rest.
func putKey(dst []byte, prefix string, idx uint64) {
	n := copy(dst, prefix)
	for i := len(dst) - 1; i >= n; i-- {
		dst[i] = byte('0' + idx%10)
		idx /= 10
	}
}

// Key returns the key of index idx as the generator spells it.
func (c *Config) Key(idx uint64) string {
	b := make([]byte, c.KeySize)
	putKey(b, c.KeyPrefix, idx)
	return string(b)
}

func (e *engine) valueSize(rng *rand.Rand) int {
	if e.cfg.ValueMax == e.cfg.ValueMin {
		return e.cfg.ValueMin
	}
	return e.cfg.ValueMin + rng.IntN(e.cfg.ValueMax-e.cfg.ValueMin+1)
}

// appendOp draws one request, appends it to c.out and returns what to expect.
func (e *engine) appendOp(c *conn, rng *rand.Rand) pending {
	cfg := &e.cfg
	if cfg.Sets > 0 && (cfg.Gets == 0 || rng.IntN(cfg.Sets+cfg.Gets) < cfg.Sets) {
		putKey(c.keys[0], cfg.KeyPrefix, e.dist.Next(rng))
		c.out = e.proto.appendSet(c.out, &c.req, c.keys[0], e.values[:e.valueSize(rng)], 0, 0)
		return pending{kind: opSet, nkeys: 1}
	}
	for _, k := range c.keys {
		putKey(k, cfg.KeyPrefix, e.dist.Next(rng))
	}
	c.out = e.proto.appendGet(c.out, &c.req, c.keys)
	return pending{kind: opGet, nkeys: int32(len(c.keys))}
}

// readReply reads the reply to p. fatal is set when the connection is lost.
func (e *engine) readReply(c *conn, p *pending) (fatal error) {
	var err error
	if p.kind == opSet {
		err = e.proto.readSet(c.rd, &c.rp)
	} else {
		var hits int
		hits, err = e.proto.readGet(c.rd, &c.rp, int(p.nkeys))
		p.hits = int32(hits)
	}
	if err == nil {
		return nil
	}
	p.failed = true
	var se *proto.ServerError
	if errors.As(err, &se) {
		return nil
	}
	return err
}

// runClosed drives conns in a closed loop: write a batch of Pipeline
// requests on every connection, then read every reply, and again. Latency
// runs from the batch's write to the reply's arrival.
func (e *engine) runClosed(ctx context.Context, conns []*conn, rec *recorder, rng *rand.Rand, deadline int64) {
	cfg := &e.cfg
	for ctx.Err() == nil && (deadline == 0 || e.now() < deadline) {
		active := 0
		for _, c := range conns {
			if c.dead.Load() {
				continue
			}
			n := e.claim(cfg.Pipeline)
			if n == 0 {
				break
			}
			c.out, c.ops = c.out[:0], c.ops[:0]
			for range n {
				c.ops = append(c.ops, e.appendOp(c, rng))
			}
			c.sent = e.now()
			_ = c.nc.SetDeadline(e.start.Add(time.Duration(c.sent) + cfg.Timeout))
			if _, err := c.nc.Write(c.out); err != nil {
				e.connFailed(c, err)
				rec.mu.Lock()
				rec.lostLocked(n)
				rec.mu.Unlock()
				c.ops = c.ops[:0]
				continue
			}
			active++
		}
		if active == 0 {
			return
		}
		for _, c := range conns {
			if len(c.ops) == 0 {
				continue
			}
			answered := len(c.ops)
			var fatal error
			for i := range c.ops {
				if fatal = e.readReply(c, &c.ops[i]); fatal != nil {
					answered = i
					break
				}
				c.ops[i].latency = e.now() - c.sent
			}
			rec.mu.Lock()
			for _, p := range c.ops[:answered] {
				rec.recordLocked(p.kind, int(p.nkeys), int(p.hits), p.failed, p.latency)
			}
			rec.lostLocked(len(c.ops) - answered)
			rec.mu.Unlock()
			c.ops = c.ops[:0]
			if fatal != nil {
				e.connFailed(c, fatal)
			}
		}
	}
}

// openQueue bounds the requests in flight on one connection in open loop.
const openQueue = 1 << 14

// runOpen drives conns in an open loop: each connection sends a request
// every Conns/Rate seconds, on schedule, whether or not earlier ones were
// answered; a reader goroutine per connection takes the replies. Latency
// runs from the request's intended send time, so a stalled server or a
// late sender shows in the figures instead of hiding (no coordinated
// omission).
// first is the index of conns[0] among all the run's connections.
func (e *engine) runOpen(ctx context.Context, conns []*conn, first int, rec *recorder, rng *rand.Rand, deadline int64) {
	cfg := &e.cfg
	interval := float64(cfg.Conns) / cfg.Rate * 1e9 // ns between requests on one connection
	var readers sync.WaitGroup
	next := make([]float64, len(conns))
	for i, c := range conns {
		// Stagger all the run's connections evenly across one interval.
		next[i] = interval * float64(first+i) / float64(cfg.Conns)
		c.q = make(chan pending, openQueue)
		readers.Add(1)
		go func() {
			defer readers.Done()
			e.readOpen(c, rec)
		}()
	}
	defer readers.Wait()
	defer func() {
		for _, c := range conns {
			close(c.q)
		}
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for ctx.Err() == nil {
		now := e.now()
		if deadline > 0 && now >= deadline {
			return
		}
		soonest := -1.0
		alive := 0
		for i, c := range conns {
			if c.dead.Load() {
				continue
			}
			alive++
			c.out = c.out[:0]
			for next[i] <= float64(now) && (deadline == 0 || next[i] < float64(deadline)) {
				if e.claim(1) == 0 {
					if len(c.out) > 0 {
						e.writeOpen(c, rec)
					}
					return
				}
				p := e.appendOp(c, rng)
				p.intended = int64(next[i])
				c.q <- p
				next[i] += interval
			}
			if len(c.out) > 0 {
				e.writeOpen(c, rec)
			}
			if soonest < 0 || next[i] < soonest {
				soonest = next[i]
			}
		}
		if alive == 0 {
			return
		}
		if wait := time.Duration(soonest - float64(e.now())); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
	}
}

func (e *engine) writeOpen(c *conn, rec *recorder) {
	_ = c.nc.SetWriteDeadline(time.Now().Add(e.cfg.Timeout))
	if _, err := c.nc.Write(c.out); err != nil {
		e.connFailed(c, err)
	}
}

// readOpen reads the replies of one open-loop connection in order.
func (e *engine) readOpen(c *conn, rec *recorder) {
	for p := range c.q {
		if c.dead.Load() {
			rec.mu.Lock()
			rec.lostLocked(1)
			rec.mu.Unlock()
			continue
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(e.cfg.Timeout))
		if fatal := e.readReply(c, &p); fatal != nil {
			e.connFailed(c, fatal)
			rec.mu.Lock()
			rec.lostLocked(1)
			rec.mu.Unlock()
			continue
		}
		lat := e.now() - p.intended
		rec.mu.Lock()
		rec.recordLocked(p.kind, int(p.nkeys), int(p.hits), p.failed, lat)
		rec.mu.Unlock()
	}
}

// prefill stores every key once, the key space split in contiguous ranges
// over the connections, Pipeline-independent batches of prefillBatch sets.
func (e *engine) prefill(ctx context.Context, conns []*conn) (*PrefillResult, error) {
	cfg := &e.cfg
	start := time.Now()
	var stored, failed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	n := uint64(len(conns))
	for i, c := range conns {
		lo := cfg.Keys * uint64(i) / n
		hi := cfg.Keys * uint64(i+1) / n
		rng := rand.New(rand.NewPCG(cfg.Seed, 1<<32+uint64(i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := make([]byte, cfg.KeySize)
			for k := lo; k < hi && ctx.Err() == nil; {
				c.out = c.out[:0]
				m := 0
				for ; m < prefillBatch && k < hi; m, k = m+1, k+1 {
					putKey(key, cfg.KeyPrefix, k)
					c.out = e.proto.appendSet(c.out, &c.req, key, e.values[:e.valueSize(rng)], 0, 0)
				}
				_ = c.nc.SetDeadline(time.Now().Add(cfg.Timeout))
				if _, err := c.nc.Write(c.out); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				for range m {
					err := e.proto.readSet(c.rd, &c.rp)
					var se *proto.ServerError
					switch {
					case err == nil:
						stored.Add(1)
					case errors.As(err, &se):
						failed.Add(1)
					default:
						errOnce.Do(func() { firstErr = err })
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	p := &PrefillResult{Stored: stored.Load(), Errors: failed.Load(), Seconds: time.Since(start).Seconds()}
	if firstErr != nil {
		return p, fmt.Errorf("bench: prefill: %w", firstErr)
	}
	if err := ctx.Err(); err != nil {
		return p, err
	}
	return p, nil
}

// cpuTime returns this process's user+system CPU seconds so far.
func cpuTime() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
