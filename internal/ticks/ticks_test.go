package ticks

import (
	"testing"
	"time"
)

// A span measured in ticks and converted agrees with the runtime's clock.
func TestNanosAgreesWithTheRuntimeClock(t *testing.T) {
	t.Logf("time-stamp counter: %v, %.4f ns per tick", tsc, nsPerTick)
	for _, d := range []time.Duration{time.Millisecond, 20 * time.Millisecond} {
		// The two clocks are read a few instructions apart at each end; a
		// preemption between them (a loaded machine) spoils one attempt,
		// a wrong rate every one.
		var got, elapsed time.Duration
		ok := false
		for attempt := 0; attempt < 5 && !ok; attempt++ {
			start, t0 := time.Now(), Now()
			time.Sleep(d)
			t1, e := Now(), time.Since(start)
			got, elapsed = time.Duration(Nanos(t1-t0)), e
			diff := got - elapsed
			ok = diff >= -elapsed/50-50*time.Microsecond && diff <= elapsed/50+50*time.Microsecond
			if back := FromNanos(int64(got)); back < (t1-t0)*99/100 || back > (t1-t0)*101/100 {
				t.Errorf("FromNanos(Nanos(%d)) = %d", t1-t0, back)
			}
		}
		if !ok {
			t.Errorf("slept %v: ticks say %v, the runtime's clock %v", d, got, elapsed)
		}
	}
}

var sink int64

func BenchmarkNow(b *testing.B) {
	for b.Loop() {
		sink += Now()
	}
}

func BenchmarkNanotime(b *testing.B) {
	for b.Loop() {
		sink += nanotime()
	}
}
