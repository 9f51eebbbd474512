package clock

import (
	"testing"
	"time"
)

func TestExpiry(t *testing.T) {
	f := NewFake(1_000_000_000)
	f.Set(100)
	cases := []struct {
		in   int64
		want uint32
	}{
		{0, 0},
		{-1, 1},
		{10, 110},
		{MaxRelativeExptime, 100 + MaxRelativeExptime},
		{MaxRelativeExptime + 1, 1}, // a Unix time before the epoch: expired
		{1_000_000_000 + 500, 500},  // a Unix time after the epoch
		{1_000_000_000, 1},          // exactly the epoch: expired
		{1 << 40, ^uint32(0)},       // far future saturates
	}
	for _, c := range cases {
		if got := Expiry(f, c.in); got != c.want {
			t.Errorf("Expiry(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestFakeAdvances(t *testing.T) {
	f := NewFake(0)
	if f.Now() != Start {
		t.Fatalf("fake starts at %d, want %d", f.Now(), Start)
	}
	f.Advance(5)
	if f.Now() != Start+5 || Uptime(f) != 7 {
		t.Fatalf("after Advance(5) Now = %d, uptime %d, want %d and 7", f.Now(), Uptime(f), Start+5)
	}
}

// The real clock starts where memcached's does, 62 seconds after its
// epoch, with an uptime of 2.
func TestRealStartsAtStart(t *testing.T) {
	c := NewReal()
	defer c.Stop()
	if n := c.Now(); n < 62 || n > 63 || Uptime(c) > 3 {
		t.Fatalf("real clock starts at %d (uptime %d), want 62 (2)", n, Uptime(c))
	}
}

// The real clock wakes once a second, just after the second turns.
func TestUntilNextSecond(t *testing.T) {
	base := time.Unix(1_700_000_000, 0)
	for _, c := range []struct{ at, want time.Duration }{
		{0, time.Second + time.Millisecond},
		{300 * time.Millisecond, 701 * time.Millisecond},
		{999 * time.Millisecond, 2 * time.Millisecond},
	} {
		if got := UntilNextSecond(base.Add(c.at)); got != c.want {
			t.Errorf("at +%v: %v, want %v", c.at, got, c.want)
		}
	}
}

// The real clock never goes back, even when a late update reads an
// earlier second than one already stored.
func TestRealNeverGoesBack(t *testing.T) {
	c := &Real{epoch: time.Now().Unix() - 100}
	c.now.Store(500)
	c.Refresh()
	if got := c.Now(); got != 500 {
		t.Fatalf("clock at %d after a refresh that read about 100, want 500", got)
	}
	c.now.Store(50)
	c.Refresh()
	if got := c.Now(); got < 100 || got > 102 {
		t.Fatalf("clock at %d after a refresh, want about 100", got)
	}
}
