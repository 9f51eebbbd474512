package membership

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/slabcache/slabcache/cluster/discovery"
)

// Config configures a node's membership. Build one with DefaultConfig and
// change what you need; New validates it.
type Config struct {
	// Enabled turns clustering on. When false no socket is opened and the
	// membership is just this node, alive. Default false.
	Enabled bool

	// NodeName is the node's unique name in the cluster: printable, no
	// spaces, no '|'. Default: the host name. Empty means the host name.
	NodeName string

	// MemcachedAddr is the memcached address ("host:port") this node
	// advertises to clients and proxies; it is gossiped as the "addr" tag.
	// Required: when the server listens on a wildcard address it must name
	// a reachable one. No default.
	MemcachedAddr string

	// Weight is the node's relative capacity on a ketama ring, gossiped as
	// the "weight" tag. Default 1; 0 means 1.
	Weight int

	// Region is a free-form placement label gossiped as the "region" tag.
	// Default empty (no region).
	Region string

	// BindAddr is the IP address gossip binds (TCP and UDP). Default
	// "0.0.0.0"; empty means the default.
	BindAddr string

	// BindPort is the gossip port (TCP and UDP). Default 7946. 0 lets the
	// operating system pick a free port (tests use it; GossipAddr reports
	// the port chosen).
	BindPort int

	// AdvertiseAddr is the IP address other nodes use to reach this node's
	// gossip. Default empty: BindAddr, or when that is a wildcard the
	// first private address of the machine.
	AdvertiseAddr string

	// AdvertisePort is the gossip port other nodes use. Default 0: the
	// bound port.
	AdvertisePort int

	// Join lists seed gossip addresses ("host:port", or "host" for port
	// 7946) to join at start. Default none: the node starts a cluster of
	// its own and waits for others to join it.
	Join []string

	// RetryJoinInterval is how long to wait between attempts to join the
	// seeds when none could be reached. Default 1s. 0 means no retry: New
	// fails when Join is not empty and no seed can be joined.
	RetryJoinInterval time.Duration

	// KeyringFile is a serf keyring file: a JSON list of base64-encoded
	// AES keys (16, 24 or 32 bytes), the first being the primary, as `serf
	// keygen` and the serf agent's -keyring-file write it. Gossip is then
	// encrypted and a node without one of the keys cannot join. Default
	// empty: gossip in the clear.
	KeyringFile string

	// ProbeInterval is the failure detector's probe period: each node
	// probes one random member per interval. Default 200ms (memberlist's
	// LAN default is 1s). 0 means the default.
	ProbeInterval time.Duration

	// ProbeTimeout is how long a probe waits for an ack before asking other
	// nodes to probe indirectly; it must exceed the network round trip.
	// Default 150ms (memberlist's LAN default is 500ms). 0 means the
	// default.
	ProbeTimeout time.Duration

	// SuspicionMult sets how long a suspected node has to refute before it
	// is declared failed: SuspicionMult * ProbeInterval * max(1, log10(N)).
	// Default 3 (600ms with the default interval, up to 10 nodes). 0 means
	// the default. Suspicion is not lengthened while waiting for
	// confirmations (memberlist's SuspicionMaxTimeoutMult is 1), so the
	// failure time is predictable.
	SuspicionMult int

	// GossipInterval is the period of gossip to random members; it bounds
	// how fast news of a failure spreads. Default 50ms (memberlist's LAN
	// default is 200ms). 0 means the default.
	GossipInterval time.Duration

	// ReconnectTimeout is how long a failed member stays listed (as
	// failed) before it is forgotten. Default 24h (serf's default). 0
	// means the default.
	ReconnectTimeout time.Duration

	// LeaveTimeout bounds how long Leave waits for the leave message to go
	// out. Default 2s. 0 means the default.
	LeaveTimeout time.Duration

	// OnChange, if not nil, is called with the member list (sorted by name,
	// every status) after each membership change, and once at start. It is
	// called from one goroutine, never concurrently with itself, and may
	// block: events that arrive meanwhile are coalesced into one later
	// call with the newest list. It must not call Leave or Close. The slice
	// is the callee's to keep.
	OnChange func(members []discovery.Member)

	// Logger receives serf's and memberlist's logs and membership events.
	// Default nil: no logs.
	Logger *zap.Logger
}

// Defaults.
const (
	DefaultBindAddr          = "0.0.0.0"
	DefaultBindPort          = 7946
	DefaultProbeInterval     = 200 * time.Millisecond
	DefaultProbeTimeout      = 150 * time.Millisecond
	DefaultSuspicionMult     = 3
	DefaultGossipInterval    = 50 * time.Millisecond
	DefaultReconnectTimeout  = 24 * time.Hour
	DefaultLeaveTimeout      = 2 * time.Second
	DefaultRetryJoinInterval = time.Second
)

// DefaultConfig returns the defaults: clustering off, gossip on
// 0.0.0.0:7946, the host name as node name, weight 1, and timings tuned to
// detect a failed node within about a second and a half on a LAN.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		NodeName:          host,
		Weight:            1,
		BindAddr:          DefaultBindAddr,
		BindPort:          DefaultBindPort,
		RetryJoinInterval: DefaultRetryJoinInterval,
		ProbeInterval:     DefaultProbeInterval,
		ProbeTimeout:      DefaultProbeTimeout,
		SuspicionMult:     DefaultSuspicionMult,
		GossipInterval:    DefaultGossipInterval,
		ReconnectTimeout:  DefaultReconnectTimeout,
		LeaveTimeout:      DefaultLeaveTimeout,
	}
}

// ErrConfig wraps every configuration error New returns.
var ErrConfig = errors.New("membership: bad config")

// withDefaults fills zero fields that have a default and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.NodeName == "" {
		c.NodeName, _ = os.Hostname()
	}
	orDefault(&c.Weight, 1)
	orDefault(&c.BindAddr, DefaultBindAddr)
	orDefault(&c.ProbeInterval, DefaultProbeInterval)
	orDefault(&c.ProbeTimeout, DefaultProbeTimeout)
	orDefault(&c.SuspicionMult, DefaultSuspicionMult)
	orDefault(&c.GossipInterval, DefaultGossipInterval)
	orDefault(&c.ReconnectTimeout, DefaultReconnectTimeout)
	orDefault(&c.LeaveTimeout, DefaultLeaveTimeout)
	self := discovery.Member{Name: c.NodeName, Addr: c.MemcachedAddr, Status: discovery.StatusAlive, Weight: c.Weight, Region: c.Region}
	if err := self.Validate(); err != nil {
		return c, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if c.Weight < 0 {
		return c, fmt.Errorf("%w: negative weight %d", ErrConfig, c.Weight)
	}
	if net.ParseIP(c.BindAddr) == nil {
		return c, fmt.Errorf("%w: bind address %q is not an IP address", ErrConfig, c.BindAddr)
	}
	if c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil {
		return c, fmt.Errorf("%w: advertise address %q is not an IP address", ErrConfig, c.AdvertiseAddr)
	}
	if c.BindPort < 0 || c.BindPort > 65535 || c.AdvertisePort < 0 || c.AdvertisePort > 65535 {
		return c, fmt.Errorf("%w: gossip port out of range", ErrConfig)
	}
	if c.ProbeTimeout >= c.ProbeInterval {
		return c, fmt.Errorf("%w: probe timeout %v must be shorter than the probe interval %v", ErrConfig, c.ProbeTimeout, c.ProbeInterval)
	}
	if c.ProbeInterval < 0 || c.ProbeTimeout < 0 || c.GossipInterval < 0 || c.SuspicionMult < 1 || c.RetryJoinInterval < 0 {
		return c, fmt.Errorf("%w: negative timing", ErrConfig)
	}
	for _, s := range c.Join {
		if s == "" {
			return c, fmt.Errorf("%w: empty join address", ErrConfig)
		}
	}
	return c, nil
}

// orDefault sets *p to def when it is the zero value.
func orDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// tags returns the serf tags that carry the discovery fields.
func (c Config) tags() map[string]string {
	t := map[string]string{
		tagAddr:   c.MemcachedAddr,
		tagWeight: strconv.Itoa(c.Weight),
	}
	if c.Region != "" {
		t[tagRegion] = c.Region
	}
	return t
}

// Serf tag names.
const (
	tagAddr   = "addr"
	tagWeight = "weight"
	tagRegion = "region"
)
