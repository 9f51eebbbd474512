package clock

import "testing"

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
	if f.Now() != 2 {
		t.Fatalf("fake starts at %d, want 2", f.Now())
	}
	f.Advance(5)
	if f.Now() != 7 {
		t.Fatalf("after Advance(5) Now = %d, want 7", f.Now())
	}
}

func TestRealStartsAtTwo(t *testing.T) {
	c := NewReal()
	defer c.Stop()
	if n := c.Now(); n < 2 || n > 3 {
		t.Fatalf("real clock starts at %d, want 2", n)
	}
}
