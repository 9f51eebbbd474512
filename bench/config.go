package bench

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config describes one load-generator run. The zero value is not valid;
// start from DefaultConfig.
type Config struct {
	// Addr is the target, host:port. Default 127.0.0.1:11211.
	Addr string `json:"addr"`
	// AllowRemote permits a target that is not a loopback address. Default
	// false: Run refuses such a target.
	AllowRemote bool `json:"allow_remote"`
	// Protocol is "text" (get/set) or "meta" (mg/ms). Default "text".
	Protocol string `json:"protocol"`
	// Conns is the number of TCP connections. Default 16.
	Conns int `json:"conns"`
	// ConnsPerWorker is how many connections one goroutine drives; 1 means
	// one goroutine per connection. Default 4.
	ConnsPerWorker int `json:"conns_per_worker"`
	// Pipeline is the number of requests written at once on a connection
	// before its replies are read (closed loop only). Default 1.
	Pipeline int `json:"pipeline"`
	// MultiGet is the number of keys one get request asks for. Default 1.
	MultiGet int `json:"multiget"`
	// Sets and Gets give the set:get ratio of requests. Default 1:10.
	Sets int `json:"sets"`
	Gets int `json:"gets"`
	// Keys is the size of the key space. Default 100000.
	Keys uint64 `json:"keys"`
	// Dist is the key distribution: uniform, gaussian or zipf. Default uniform.
	Dist string `json:"dist"`
	// DistParam is zipf's exponent (0 means 0.99) or gaussian's standard
	// deviation as a fraction of Keys (0 means 1/6). Unused for uniform.
	DistParam float64 `json:"dist_param"`
	// KeySize is the length of every key in bytes: KeyPrefix followed by the
	// zero-padded key index. Default 15.
	KeySize int `json:"key_size"`
	// KeyPrefix starts every key. Default "key:".
	KeyPrefix string `json:"key_prefix"`
	// ValueMin and ValueMax bound the value size in bytes, drawn uniformly;
	// equal for fixed-size values. Default 100.
	ValueMin int `json:"value_min"`
	ValueMax int `json:"value_max"`
	// Duration bounds the measured phase. 0 means no time bound (Requests
	// must then be set). Default 10s.
	Duration time.Duration `json:"duration_ns"`
	// Requests bounds the measured phase by the number of requests sent.
	// 0 means no count bound. Whichever bound is reached first ends the run.
	Requests int64 `json:"requests"`
	// Rate, when > 0, switches to open loop: requests are sent at this total
	// rate (requests per second) whatever the replies, and latency is
	// measured from each request's intended send time. 0 means closed loop.
	Rate float64 `json:"rate"`
	// Prefill stores every key of the key space once before measuring. With
	// Duration and Requests both 0 the run is the prefill alone.
	Prefill bool `json:"prefill"`
	// Seed seeds the random draws; the same seed gives the same requests.
	Seed uint64 `json:"seed"`
	// Timeout bounds each wait for a reply (and connecting). Default 5s.
	Timeout time.Duration `json:"timeout_ns"`
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Addr:           "127.0.0.1:11211",
		Protocol:       "text",
		Conns:          16,
		ConnsPerWorker: 4,
		Pipeline:       1,
		MultiGet:       1,
		Sets:           1,
		Gets:           10,
		Keys:           100000,
		Dist:           "uniform",
		KeySize:        15,
		KeyPrefix:      "key:",
		ValueMin:       100,
		ValueMax:       100,
		Duration:       10 * time.Second,
		Seed:           1,
		Timeout:        5 * time.Second,
	}
}

// Limits on Config values, to catch typos before they become a long run.
const (
	MaxConns     = 10000
	MaxWorkers   = 1024 // goroutines: Conns / ConnsPerWorker, rounded up
	MaxPipeline  = 10000
	MaxMultiGet  = 1000
	MaxValueSize = 64 << 20
	MaxKeySize   = 250
)

// Validate checks c and returns every problem found, joined.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("bench: "+format, args...)) }
	if c.Addr == "" {
		bad("-addr is empty")
	}
	if _, err := protocolByName(c.Protocol); err != nil {
		errs = append(errs, err)
	}
	if c.Conns < 1 || c.Conns > MaxConns {
		bad("-conns %d must be in 1..%d", c.Conns, MaxConns)
	}
	if c.ConnsPerWorker < 1 {
		bad("-conns-per-worker %d must be at least 1", c.ConnsPerWorker)
	} else if w := (c.Conns + c.ConnsPerWorker - 1) / c.ConnsPerWorker; w > MaxWorkers {
		bad("-conns %d with -conns-per-worker %d needs %d goroutines, more than %d: raise -conns-per-worker", c.Conns, c.ConnsPerWorker, w, MaxWorkers)
	}
	if c.Pipeline < 1 || c.Pipeline > MaxPipeline {
		bad("-pipeline %d must be in 1..%d", c.Pipeline, MaxPipeline)
	}
	if c.MultiGet < 1 || c.MultiGet > MaxMultiGet {
		bad("-multiget %d must be in 1..%d", c.MultiGet, MaxMultiGet)
	}
	if c.Sets < 0 || c.Gets < 0 || c.Sets+c.Gets == 0 {
		bad("-ratio %d:%d needs non-negative parts, not both 0", c.Sets, c.Gets)
	}
	if c.Keys == 0 {
		bad("-keys must be at least 1")
	} else if _, err := NewKeyDist(c.Dist, c.Keys, c.DistParam); err != nil {
		errs = append(errs, err)
	}
	if c.Keys > 0 {
		need := len(c.KeyPrefix) + len(strconv.FormatUint(c.Keys-1, 10))
		if c.KeySize < need || c.KeySize > MaxKeySize {
			bad("-key-size %d must be in %d..%d (prefix %q plus the digits of %d keys)", c.KeySize, need, MaxKeySize, c.KeyPrefix, c.Keys)
		}
	}
	if strings.ContainsAny(c.KeyPrefix, " \t\r\n") {
		bad("-key-prefix %q must not contain white space", c.KeyPrefix)
	}
	if c.ValueMin < 0 || c.ValueMax < c.ValueMin || c.ValueMax > MaxValueSize {
		bad("-value-size %d-%d must satisfy 0 <= min <= max <= %d", c.ValueMin, c.ValueMax, MaxValueSize)
	}
	if c.Duration < 0 || c.Requests < 0 {
		bad("-duration and -requests must not be negative")
	}
	if c.Duration == 0 && c.Requests == 0 && !c.Prefill {
		bad("the run is unbounded: set -duration or -requests (or -prefill alone)")
	}
	if c.Rate < 0 {
		bad("-rate %v must not be negative", c.Rate)
	}
	if c.Rate > 0 && c.Pipeline != 1 {
		bad("-pipeline applies to the closed loop only; with -rate requests are sent when due")
	}
	if c.Timeout <= 0 {
		bad("-timeout must be positive")
	}
	return errors.Join(errs...)
}

// IsPrefillOnly reports whether the run is a prefill and nothing more.
func (c *Config) IsPrefillOnly() bool {
	return c.Prefill && c.Duration == 0 && c.Requests == 0
}

// RegisterFlags defines one flag per field of c on fs, with c's current
// values as defaults. Parsing stays with the caller (cmd/).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "target server `host:port`")
	fs.BoolVar(&c.AllowRemote, "allow-remote", c.AllowRemote, "allow a target that is not a loopback address")
	fs.StringVar(&c.Protocol, "protocol", c.Protocol, "protocol: text (get/set) or meta (mg/ms)")
	fs.IntVar(&c.Conns, "conns", c.Conns, "number of connections")
	fs.IntVar(&c.ConnsPerWorker, "conns-per-worker", c.ConnsPerWorker, "connections driven by one goroutine (1 = a goroutine per connection)")
	fs.IntVar(&c.Pipeline, "pipeline", c.Pipeline, "requests written at once per connection (closed loop)")
	fs.IntVar(&c.MultiGet, "multiget", c.MultiGet, "keys per get request")
	fs.Func("ratio", "set:get ratio `S:G` (default "+strconv.Itoa(c.Sets)+":"+strconv.Itoa(c.Gets)+")", func(s string) error {
		var err error
		c.Sets, c.Gets, err = ParseRatio(s)
		return err
	})
	fs.Uint64Var(&c.Keys, "keys", c.Keys, "size of the key space")
	fs.StringVar(&c.Dist, "dist", c.Dist, "key distribution: uniform, gaussian or zipf")
	fs.Float64Var(&c.DistParam, "dist-param", c.DistParam, "zipf exponent (0 = 0.99) or gaussian stddev as a fraction of -keys (0 = 1/6)")
	fs.IntVar(&c.KeySize, "key-size", c.KeySize, "key length in bytes")
	fs.StringVar(&c.KeyPrefix, "key-prefix", c.KeyPrefix, "key prefix")
	fs.Func("value-size", "value size in bytes, `N` or MIN-MAX (default "+FormatRange(c.ValueMin, c.ValueMax)+")", func(s string) error {
		var err error
		c.ValueMin, c.ValueMax, err = ParseRange(s)
		return err
	})
	fs.DurationVar(&c.Duration, "duration", c.Duration, "length of the measured phase (0 = bounded by -requests only)")
	fs.Int64Var(&c.Requests, "requests", c.Requests, "number of requests to send (0 = bounded by -duration only)")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "open loop: total requests per second (0 = closed loop)")
	fs.BoolVar(&c.Prefill, "prefill", c.Prefill, "store every key once before measuring")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "random seed")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "bound on each wait for a reply")
}

// Args returns command-line flags that RegisterFlags parses back into c.
func (c *Config) Args() []string {
	return []string{
		"-addr=" + c.Addr,
		"-allow-remote=" + strconv.FormatBool(c.AllowRemote),
		"-protocol=" + c.Protocol,
		"-conns=" + strconv.Itoa(c.Conns),
		"-conns-per-worker=" + strconv.Itoa(c.ConnsPerWorker),
		"-pipeline=" + strconv.Itoa(c.Pipeline),
		"-multiget=" + strconv.Itoa(c.MultiGet),
		"-ratio=" + strconv.Itoa(c.Sets) + ":" + strconv.Itoa(c.Gets),
		"-keys=" + strconv.FormatUint(c.Keys, 10),
		"-dist=" + c.Dist,
		"-dist-param=" + strconv.FormatFloat(c.DistParam, 'g', -1, 64),
		"-key-size=" + strconv.Itoa(c.KeySize),
		"-key-prefix=" + c.KeyPrefix,
		"-value-size=" + FormatRange(c.ValueMin, c.ValueMax),
		"-duration=" + c.Duration.String(),
		"-requests=" + strconv.FormatInt(c.Requests, 10),
		"-rate=" + strconv.FormatFloat(c.Rate, 'g', -1, 64),
		"-prefill=" + strconv.FormatBool(c.Prefill),
		"-seed=" + strconv.FormatUint(c.Seed, 10),
		"-timeout=" + c.Timeout.String(),
	}
}

// ParseRatio parses "S:G" (for example "1:10" or "0:1").
func ParseRatio(s string) (sets, gets int, err error) {
	a, b, ok := strings.Cut(s, ":")
	if ok {
		sets, err = strconv.Atoi(a)
		if err == nil {
			gets, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || sets < 0 || gets < 0 || sets+gets == 0 {
		return 0, 0, fmt.Errorf("bench: ratio %q: want S:G with non-negative integers, not both 0 (e.g. 1:10)", s)
	}
	return sets, gets, nil
}

// ParseRange parses "N" or "MIN-MAX" into an inclusive range.
func ParseRange(s string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(s, "-")
	lo, err = strconv.Atoi(a)
	hi = lo
	if err == nil && isRange {
		hi, err = strconv.Atoi(b)
	}
	if err != nil || lo < 0 || hi < lo {
		return 0, 0, fmt.Errorf("bench: size %q: want N or MIN-MAX with 0 <= MIN <= MAX", s)
	}
	return lo, hi, nil
}

// FormatRange is the inverse of ParseRange.
func FormatRange(lo, hi int) string {
	if lo == hi {
		return strconv.Itoa(lo)
	}
	return strconv.Itoa(lo) + "-" + strconv.Itoa(hi)
}
