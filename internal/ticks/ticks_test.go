package ticks

import (
	"testing"
	"time"
)

// A span measured in ticks and converted agrees with the runtime's clock.
func TestNanosAgreesWithTheRuntimeClock(t *testing.T) {
	t.Logf("time-stamp counter: %v, %.4f ns per tick", Counter(), nsPerTick)
	for _, d := range []time.Duration{time.Millisecond, 20 * time.Millisecond} {
		start, t0 := time.Now(), Now()
		time.Sleep(d)
		t1, elapsed := Now(), time.Since(start)
		got := time.Duration(Nanos(t1 - t0))
		// The two pairs of readings are a few instructions apart; allow
		// for a preemption between them, not for a wrong rate.
		if diff := got - elapsed; diff < -elapsed/50-50*time.Microsecond || diff > elapsed/50+50*time.Microsecond {
			t.Errorf("slept %v: ticks say %v, the runtime's clock %v", d, got, elapsed)
		}
		if back := FromNanos(int64(got)); back < (t1-t0)*99/100 || back > (t1-t0)*101/100 {
			t.Errorf("FromNanos(Nanos(%d)) = %d", t1-t0, back)
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
