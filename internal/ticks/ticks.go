// Package ticks is a cheap monotonic clock for timing requests: the CPU's
// time-stamp counter where it runs at a constant rate and Linux keeps time
// with it too (x86-64 with an invariant TSC, which nearly every server CPU
// of the last fifteen years has), the runtime's monotonic clock elsewhere. A reading of the counter
// costs about a third of runtime.nanotime's, which goes through the vDSO
// on the system stack (`go test -run '^$' -bench . ./internal/ticks/`).
//
// Readings are only for differences over short spans (a request's
// processing time, how long an event loop has run): they are not
// wall-clock time, and a difference may be slightly off, or negative,
// when a goroutine moves between CPUs whose counters disagree.
package ticks

import (
	"bytes"
	"os"
	"runtime"
	"time"
	_ "unsafe" // go:linkname
)

//go:linkname nanotime runtime.nanotime
func nanotime() int64

// tsc: Now reads the time-stamp counter, and nsPerTick converts it.
var (
	tsc       bool
	nsPerTick = 1.0
)

func init() {
	if !haveInvariantTSC() || !kernelTrustsTSC() {
		return
	}
	if r, ok := calibrate(); ok {
		tsc, nsPerTick = true, r
	}
}

// kernelTrustsTSC reports whether Linux keeps time with the counter
// itself (it does only when it found the counter stable and in step across
// CPUs; a VM whose counter it distrusts runs on another clock source). Other
// systems: no.
func kernelTrustsTSC() bool {
	if runtime.GOOS != "linux" {
		return false
	}
	b, err := os.ReadFile("/sys/devices/system/clocksource/clocksource0/current_clocksource")
	return err == nil && string(bytes.TrimSpace(b)) == "tsc"
}

// Now returns the current reading in ticks.
func Now() int64 {
	if tsc {
		return rdtsc()
	}
	return nanotime()
}

// Nanos converts a number of ticks to nanoseconds.
func Nanos(d int64) int64 {
	if !tsc {
		return d
	}
	return int64(float64(d) * nsPerTick)
}

// FromNanos converts nanoseconds to ticks.
func FromNanos(ns int64) int64 {
	if !tsc {
		return ns
	}
	return int64(float64(ns) / nsPerTick)
}

// calibrate measures the counter's rate against the runtime's clock over a
// couple of milliseconds, and reports whether it is plausible (between 100
// MHz and 20 GHz).
func calibrate() (nsPerTick float64, ok bool) {
	n0, t0, ok0 := pair()
	time.Sleep(2 * time.Millisecond)
	n1, t1, ok1 := pair()
	if !ok0 || !ok1 || t1 <= t0 || n1 <= n0 {
		return 0, false
	}
	r := float64(n1-n0) / float64(t1-t0)
	return r, r >= 0.05 && r <= 10
}

// pair reads the runtime's clock and the counter at about the same moment:
// a counter reading between two clock readings less than 2 µs apart, and
// their midpoint.
func pair() (ns, t int64, ok bool) {
	for range 100 {
		a := nanotime()
		t = rdtsc()
		b := nanotime()
		if b-a < 2000 {
			return a + (b-a)/2, t, true
		}
	}
	return 0, 0, false
}
