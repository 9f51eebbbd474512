package proto

import (
	"math"
	"testing"
)

// ParseDouble reads what glibc's strtod reads and refuses what
// memcached's safe_strtod refuses; the expectations are memcached 1.6.45's
// answers to `extstore max_frag <v>` and the value stats settings then
// printed.
func TestParseDouble(t *testing.T) {
	for _, c := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"0.5", 0.5, true}, {"x", 0, false}, {"1e400", 0, false}, {"0x10", 16, true},
		{"1e-400", 0, false}, {"1e-310", 0, false}, {"4.9e-324", 0, false},
		{"2.225073858507201e-308", 0, false}, {"2.2250738585072014e-308", 0x1p-1022, true},
		{"0x1p-1023", 0x1p-1023, true}, {"0e-400", 0, true}, {"0x0p-2000", 0, true},
		{"inf", math.Inf(1), true}, {"-Infinity", math.Inf(-1), true}, {"infin", 0, false},
		{"+1", 1, true}, {"0x1p-2", 0.25, true}, {"0X1A", 26, true}, {"0x.8", 0.5, true}, {"0x1.8p1", 3, true},
		{"-0.5", -0.5, true}, {"5.", 5, true}, {".5", 0.5, true}, {".", 0, false},
		{"1e", 0, false}, {"1e+", 0, false}, {"1e+5", 1e5, true}, {"0x", 0, false},
		{"1_0", 0, false}, {"0x_1p0", 0, false}, {"", 0, false}, {"1.5\tjunk", 1.5, true}, {"1.5x", 0, false},
	} {
		got, ok := ParseDouble([]byte(c.in))
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("ParseDouble(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	for _, in := range []string{"nan", "NAN(123)", "-nan"} {
		got, ok := ParseDouble([]byte(in))
		if !ok || !math.IsNaN(got) || math.Signbit(got) != (in[0] == '-') {
			t.Errorf("ParseDouble(%q) = %v, %v; want a NaN with the sign given", in, got, ok)
		}
	}
	if _, ok := ParseDouble([]byte("nan(")); ok {
		t.Error(`ParseDouble("nan(") accepted; strtod stops before "("`)
	}
	long := "0.5000000000000000000000000000001" // 33 bytes: mc_toktod refuses it
	if _, ok := TokDouble([]byte(long)); ok {
		t.Errorf("TokDouble accepted %d bytes", len(long))
	}
	if _, ok := ParseDouble([]byte(long)); !ok {
		t.Errorf("ParseDouble refused %q", long)
	}
}
