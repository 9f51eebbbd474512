// Package clock is the coarse, injectable time source of slabcache.
//
// Like memcached's rel_time_t, time is kept as whole seconds since an epoch a
// little before the process started, so a timestamp fits in a uint32 and
// reading the time is one atomic load. The store and the server take a Clock;
// tests pass a *Fake and advance it instead of sleeping.
//
// This package imports only the standard library.
package clock

import (
	"sync"
	"sync/atomic"
	"time"
)

// MaxRelativeExptime is memcached's REALTIME_MAXDELTA: an expiry time of at
// most this many seconds is relative to now; a larger one is a Unix time.
const MaxRelativeExptime = 60 * 60 * 24 * 30

// Start is the relative time at which a clock starts: memcached's
// current_time starts there too (it counts from ITEM_UPDATE_INTERVAL + 2
// seconds before the process started), and the differences a client can
// see between an item's expiry and now, which memcached takes in 32 bits
// (the ttl of an item stored already expired, in mg's t flag and in watch
// lines), come out the same. uptime is Now() - Start + 2.
const Start = 62

// Clock gives the current time in seconds.
// Implementations are safe for concurrent use.
type Clock interface {
	// Now returns seconds since Epoch. It is at least Start, so 0 and 1
	// stay free as "never" and "already expired" markers.
	Now() uint32
	// Epoch returns the Unix time (seconds) of relative time 0.
	Epoch() int64
}

// Real is a Clock driven by the wall clock, updated by a goroutine once per
// tick (memcached updates its clock once a second). Create it with NewReal.
type Real struct {
	epoch int64
	now   atomic.Uint32
	stop  chan struct{}
	once  sync.Once
}

// NewReal starts a clock whose epoch is Start seconds before now, so Now
// starts at Start. Call Stop to end its goroutine.
func NewReal() *Real {
	c := &Real{epoch: time.Now().Unix() - Start, stop: make(chan struct{})}
	c.update()
	go c.run()
	return c
}

// Refresh reads the wall clock now rather than at the next tick: work
// that wakes as the second turns, at the same moment as the clock's own
// goroutine, calls it so as not to read the second before.
func (c *Real) Refresh() { c.update() }

// update moves the clock to the wall clock's second, never back: two
// goroutines may read the wall clock on either side of a second's turn and
// store in the other order (and memcached's clock, monotonic, never goes
// back either).
func (c *Real) update() {
	now := uint32(time.Now().Unix() - c.epoch)
	for {
		old := c.now.Load()
		if now <= old || c.now.CompareAndSwap(old, now) {
			return
		}
	}
}

func (c *Real) run() {
	// One wake-up a second, just after the second turns (an idle server's
	// timers wake its threads; memcached's clock also ticks once a second).
	t := time.NewTimer(UntilNextSecond(time.Now()))
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.update()
			t.Reset(UntilNextSecond(time.Now()))
		case <-c.stop:
			return
		}
	}
}

// UntilNextSecond is the time from now to just after the next whole
// second of the wall clock, when the real clock moves: timers of
// background work that runs once a second use it too, so that one
// wake-up of an idle process serves them all.
func UntilNextSecond(now time.Time) time.Duration {
	return now.Truncate(time.Second).Add(time.Second + time.Millisecond).Sub(now)
}

// Now implements Clock.
func (c *Real) Now() uint32 { return c.now.Load() }

// Epoch implements Clock.
func (c *Real) Epoch() int64 { return c.epoch }

// Uptime returns the seconds since c started, as memcached counts them:
// 2 at start.
func Uptime(c Clock) uint32 { return c.Now() - Start + 2 }

// Stop ends the clock's goroutine; Now keeps returning the last value.
func (c *Real) Stop() { c.once.Do(func() { close(c.stop) }) }

// Fake is a Clock for tests: time moves only when Advance or Set is called.
type Fake struct {
	epoch int64
	now   atomic.Uint32
}

// NewFake returns a fake clock at relative time Start with the given epoch
// (Unix seconds); epoch 0 means 1,700,000,000.
func NewFake(epoch int64) *Fake {
	if epoch == 0 {
		epoch = 1_700_000_000
	}
	f := &Fake{epoch: epoch}
	f.now.Store(Start)
	return f
}

// Now implements Clock.
func (f *Fake) Now() uint32 { return f.now.Load() }

// Epoch implements Clock.
func (f *Fake) Epoch() int64 { return f.epoch }

// Advance moves the clock forward by secs seconds.
func (f *Fake) Advance(secs uint32) { f.now.Add(secs) }

// Set moves the clock to the relative time t.
func (f *Fake) Set(t uint32) { f.now.Store(t) }

// Expiry converts a protocol expiry time (as sent by a client: 0 never,
// negative already expired, up to MaxRelativeExptime relative, else a Unix
// time) to a relative deadline: 0 for never, otherwise the relative second
// at which the item stops being valid. A result of 1 means already expired.
// This is memcached's realtime().
func Expiry(c Clock, exptime int64) uint32 {
	switch {
	case exptime == 0:
		return 0
	case exptime < 0:
		return 1
	case exptime > MaxRelativeExptime:
		if exptime <= c.Epoch() {
			return 1
		}
		d := exptime - c.Epoch()
		if d > int64(^uint32(0)) {
			return ^uint32(0)
		}
		return uint32(d)
	default:
		d := int64(c.Now()) + exptime
		if d > int64(^uint32(0)) {
			return ^uint32(0)
		}
		return uint32(d)
	}
}
