package discovery

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"

	"github.com/slabcache/slabcache/cluster/ring"
)

// Status is a member's state as gossip sees it.
type Status uint8

// Member states, as serf names them.
const (
	// StatusAlive: the member is up and serves keys.
	StatusAlive Status = iota + 1
	// StatusLeaving: the member announced a graceful leave.
	StatusLeaving
	// StatusLeft: the member left gracefully.
	StatusLeft
	// StatusFailed: the member stopped answering failure-detector probes.
	StatusFailed
)

var statusNames = [...]string{"", "alive", "leaving", "left", "failed"}

// String returns "alive", "leaving", "left" or "failed".
func (s Status) String() string {
	if int(s) < len(statusNames) && s != 0 {
		return statusNames[s]
	}
	return "unknown"
}

// ParseStatus parses the names String returns.
func ParseStatus(s string) (Status, error) {
	for i := 1; i < len(statusNames); i++ {
		if s == statusNames[i] {
			return Status(i), nil
		}
	}
	return 0, fmt.Errorf("discovery: unknown member status %q", s)
}

// Member is one node of the cluster.
type Member struct {
	// Name is the node's unique name in the cluster.
	Name string
	// Addr is the memcached address clients use, "host:port".
	Addr string
	// IP is the node's IP address, for the ip field of `config get
	// cluster`; empty means the host of Addr.
	IP string
	// GossipAddr is the node's gossip address "ip:port"; empty when the
	// node is not clustered.
	GossipAddr string
	// Status is the member's state.
	Status Status
	// Weight is the member's relative capacity on a ketama ring; 0 means 1.
	Weight int
	// Region is a free-form placement label; may be empty.
	Region string
}

// ErrBadMember is returned for a member that cannot be encoded: an address
// that is not host:port, or a name or region that is empty (name only) or
// holds spaces or control characters.
var ErrBadMember = errors.New("discovery: bad member")

// Validate checks that m can be encoded in the text formats.
func (m Member) Validate() error {
	if m.Name == "" || !isToken(m.Name) {
		return fmt.Errorf("%w: name %q must be non-empty without spaces or control characters", ErrBadMember, m.Name)
	}
	if m.Region != "" && !isToken(m.Region) {
		return fmt.Errorf("%w: region %q has spaces or control characters", ErrBadMember, m.Region)
	}
	if _, _, err := splitAddr(m.Addr); err != nil {
		return fmt.Errorf("%w: address %q: %v", ErrBadMember, m.Addr, err)
	}
	if m.Weight < 0 {
		return fmt.Errorf("%w: negative weight %d", ErrBadMember, m.Weight)
	}
	return nil
}

// isToken reports whether s can be a space-separated token of a protocol
// line: printable, no spaces, no '|' (the discovery field separator).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == 0x7f || c == '|' {
			return false
		}
	}
	return s != ""
}

// splitAddr splits "host:port" and checks the port is a number.
func splitAddr(addr string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil || n <= 0 || n > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if h == "" || !isToken(h) {
		return "", 0, fmt.Errorf("bad host %q", h)
	}
	return h, n, nil
}

func (m Member) weight() int {
	if m.Weight <= 0 {
		return 1
	}
	return m.Weight
}

// Sorted returns a copy of members sorted by name: the order every list in
// this package uses, so that index-based placements (Ch3, Jump) and
// mcrouter's pool agree.
func Sorted(members []Member) []Member {
	out := append([]Member(nil), members...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Alive returns the alive members, keeping their order.
func Alive(members []Member) []Member {
	var out []Member
	for _, m := range members {
		if m.Status == StatusAlive {
			out = append(out, m)
		}
	}
	return out
}

// RingNodes returns the ring nodes of the alive members, in the order
// given. A node's ketama name is derived from its address, exactly as
// twemproxy names the servers of the pool TwemproxyPool writes.
func RingNodes(members []Member) []ring.Node {
	var nodes []ring.Node
	for _, m := range members {
		if m.Status == StatusAlive {
			nodes = append(nodes, ring.Node{Addr: m.Addr, Weight: m.weight()})
		}
	}
	return nodes
}
