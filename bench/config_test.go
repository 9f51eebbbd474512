package bench

import (
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestConfigValidateErrors(t *testing.T) {
	cases := []struct {
		edit func(*Config)
		want string // substring of the error
	}{
		{func(c *Config) { c.Addr = "" }, "-addr"},
		{func(c *Config) { c.Protocol = "binary" }, "unknown protocol"},
		{func(c *Config) { c.Conns = 0 }, "-conns"},
		{func(c *Config) { c.Conns = MaxConns + 1 }, "-conns"},
		{func(c *Config) { c.ConnsPerWorker = 0 }, "-conns-per-worker"},
		{func(c *Config) { c.Conns, c.ConnsPerWorker = 2000, 1 }, "goroutines"},
		{func(c *Config) { c.Pipeline = 0 }, "-pipeline"},
		{func(c *Config) { c.MultiGet = 0 }, "-multiget"},
		{func(c *Config) { c.Sets, c.Gets = 0, 0 }, "-ratio"},
		{func(c *Config) { c.Sets = -1 }, "-ratio"},
		{func(c *Config) { c.Keys = 0 }, "-keys"},
		{func(c *Config) { c.Dist = "pareto" }, "unknown key distribution"},
		{func(c *Config) { c.Dist, c.DistParam = "zipf", -1 }, "zipf exponent"},
		{func(c *Config) { c.Keys = 1e12 }, "-key-size"}, // "key:" + 12 digits > 15
		{func(c *Config) { c.KeySize = 251 }, "-key-size"},
		{func(c *Config) { c.KeyPrefix = "a b" }, "-key-prefix"},
		{func(c *Config) { c.ValueMin, c.ValueMax = 10, 5 }, "-value-size"},
		{func(c *Config) { c.ValueMax = MaxValueSize + 1 }, "-value-size"},
		{func(c *Config) { c.Duration, c.Requests = 0, 0 }, "unbounded"},
		{func(c *Config) { c.Duration = -time.Second }, "negative"},
		{func(c *Config) { c.Rate = -1 }, "-rate"},
		{func(c *Config) { c.Rate, c.Pipeline = 1000, 4 }, "closed loop only"},
		{func(c *Config) { c.Timeout = 0 }, "-timeout"},
	}
	for _, tc := range cases {
		c := DefaultConfig()
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error mentioning %q", err, tc.want)
		}
	}
	def := DefaultConfig()
	if err := def.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	// A prefill alone is bounded by the key space.
	p := DefaultConfig()
	p.Duration, p.Prefill = 0, true
	if err := p.Validate(); err != nil || !p.IsPrefillOnly() {
		t.Fatalf("prefill-only config: %v", err)
	}
}

// TestRunRejectsBadConfigWithoutConnecting: argument errors come back
// before any connection is made.
func TestRunRejectsBadConfigWithoutConnecting(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	c := DefaultConfig()
	c.Addr = l.Addr().String()
	c.Pipeline = -3
	if _, err := Run(context.Background(), c, nil); err == nil {
		t.Fatal("Run accepted pipeline -3")
	}
	select {
	case <-accepted:
		t.Fatal("Run connected despite an invalid config")
	case <-time.After(100 * time.Millisecond):
	}
}

func TestFlagsRoundTrip(t *testing.T) {
	want := Config{
		Addr: "[::1]:9999", AllowRemote: true, Protocol: "meta", Conns: 7, ConnsPerWorker: 3,
		Pipeline: 5, MultiGet: 4, Sets: 2, Gets: 9, Keys: 1234, Dist: "zipf", DistParam: 0.7,
		KeySize: 20, KeyPrefix: "x:", ValueMin: 10, ValueMax: 2000, Duration: 1500 * time.Millisecond,
		Requests: 99, Rate: 1234.5, Prefill: true, Seed: 77, Timeout: 3 * time.Second,
	}
	got := DefaultConfig()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	got.RegisterFlags(fs)
	if err := fs.Parse(want.Args()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	// Every Config field has a flag (Sets:Gets share -ratio, ValueMin-Max
	// share -value-size): a new field without one fails here.
	if n := reflect.TypeOf(Config{}).NumField() - 2; n != len(want.Args()) {
		t.Fatalf("Config has %d fields but Args gives %d flags", n, len(want.Args()))
	}
}

func TestFlagParseErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-ratio", "1"}, {"-ratio", "a:b"}, {"-ratio", "0:0"}, {"-ratio", "-1:3"},
		{"-value-size", "x"}, {"-value-size", "10-5"}, {"-value-size", "-5"},
		{"-conns", "many"}, {"-duration", "10"},
	} {
		c := DefaultConfig()
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c.RegisterFlags(fs)
		if err := fs.Parse(args); err == nil {
			t.Errorf("%q parsed without error", args)
		}
	}
	s, g, err := ParseRatio("0:1")
	if err != nil || s != 0 || g != 1 {
		t.Errorf("ParseRatio(0:1) = %d, %d, %v", s, g, err)
	}
	lo, hi, err := ParseRange("64-1024")
	if err != nil || lo != 64 || hi != 1024 || FormatRange(lo, hi) != "64-1024" || FormatRange(5, 5) != "5" {
		t.Errorf("ParseRange(64-1024) = %d, %d, %v", lo, hi, err)
	}
}

func TestKeyFormat(t *testing.T) {
	c := DefaultConfig()
	for idx, want := range map[uint64]string{0: "key:00000000000", 42: "key:00000000042", 99999: "key:00000099999"} {
		if got := c.Key(idx); got != want || len(got) != c.KeySize {
			t.Errorf("Key(%d) = %q, want %q", idx, got, want)
		}
	}
}

func TestCheckTarget(t *testing.T) {
	ok := []string{"127.0.0.1:11211", "127.9.8.7:1", "[::1]:11211", "localhost:11211", "[::ffff:127.0.0.1]:5"}
	for _, a := range ok {
		if err := CheckTarget(a, false); err != nil {
			t.Errorf("CheckTarget(%q) = %v, want nil", a, err)
		}
	}
	refused := []string{"10.0.0.1:11211", "192.168.1.20:11211", "8.8.8.8:11211", "0.0.0.0:11211", "[2001:db8::1]:11211", ":11211"}
	for _, a := range refused {
		if err := CheckTarget(a, false); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("CheckTarget(%q) = %v, want ErrNotLoopback", a, err)
		}
		if err := CheckTarget(a, true); err != nil && a != ":11211" {
			t.Errorf("CheckTarget(%q, allowRemote) = %v, want nil", a, err)
		}
	}
	for _, a := range []string{"127.0.0.1", "nonsense", "127.0.0.1:"} {
		if err := CheckTarget(a, false); err == nil {
			t.Errorf("CheckTarget(%q) accepted a target without a port", a)
		}
	}
}

// TestRunRefusesRemoteTarget: the guard runs before any dial, so no packet
// leaves for the remote address.
func TestRunRefusesRemoteTarget(t *testing.T) {
	c := DefaultConfig()
	c.Addr = "192.0.2.1:11211" // TEST-NET-1, never routed
	c.Duration = time.Second
	start := time.Now()
	_, err := Run(context.Background(), c, nil)
	if !errors.Is(err, ErrNotLoopback) {
		t.Fatalf("Run = %v, want ErrNotLoopback", err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("Run took long to refuse: did it try to connect?")
	}
}
