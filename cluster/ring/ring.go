package ring

import (
	"errors"
	"fmt"
	"net"
	"unsafe"
)

// Node is one server on a ring.
type Node struct {
	// Name is the identity hashed onto a ketama ring. Empty means
	// KetamaName(Addr), which is what twemproxy and libmemcached use when a
	// server has no configured name. Ch3 and Jump ignore it.
	Name string
	// Addr is the memcached address ("host:port") clients connect to.
	Addr string
	// Weight is the node's relative capacity on a ketama ring; 0 means 1.
	// Ch3 and Jump are unweighted and ignore it.
	Weight int
}

// ketamaName is the name hashed onto a ketama ring for n.
func (n Node) ketamaName() string {
	if n.Name != "" {
		return n.Name
	}
	return KetamaName(n.Addr)
}

func (n Node) weight() int {
	if n.Weight <= 0 {
		return 1
	}
	return n.Weight
}

// KetamaName returns the name twemproxy and libmemcached hash for a server
// at addr when it has no configured name: "host:port", or just "host" when
// the port is memcached's default 11211.
func KetamaName(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if port == "11211" {
		return host
	}
	return addr
}

// NodeStats describes how much of the key space one node owns.
type NodeStats struct {
	// Points is the number of points the node has on a ketama ring; 0 for
	// placements without points (Ch3, Jump).
	Points int
	// Share is the fraction of the key space the node owns, in [0, 1]. For
	// ketama it is exact (the arcs of the 2^32 circle ending at its points);
	// for Ch3 and Jump, which spread keys uniformly by construction, it is
	// the expected share 1/n.
	Share float64
}

// Ring places keys on nodes. Implementations are immutable and safe for
// concurrent use; Owner and OwnerString allocate nothing.
type Ring interface {
	// Kind names the placement.
	Kind() Kind
	// Owner returns the index in Nodes of the node that owns key, or -1
	// when the ring has no nodes.
	Owner(key []byte) int
	// OwnerString is Owner for a string key.
	OwnerString(key string) int
	// Nodes returns the ring's nodes in the order given to New. The caller
	// must not modify the slice.
	Nodes() []Node
	// Stats returns, for each node of Nodes, its points and share.
	Stats() []NodeStats
}

// Kind is a placement algorithm.
type Kind uint8

// The placements.
const (
	// KindKetama is ketama with twemproxy's default key hash fnv1a_64
	// (really 32-bit FNV-1a over sign-extended bytes).
	KindKetama Kind = iota
	// KindKetamaMD5 is ketama with the md5 key hash, as libmemcached's
	// KETAMA_WEIGHTED and twemproxy's "hash: md5".
	KindKetamaMD5
	// KindCh3 is mcrouter's Ch3: furc_hash over MurmurHash64A of the
	// routing key. Node order matters: keep it the same everywhere.
	KindCh3
	// KindJump is jump consistent hash over xxhash64. Node order matters.
	KindJump
)

var kindNames = [...]string{"ketama", "ketama-md5", "ch3", "jump"}

// String returns the name ParseKind accepts.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// ErrUnknownKind is returned by ParseKind and New for a placement name or
// value they do not know.
var ErrUnknownKind = errors.New("ring: unknown placement (want ketama, ketama-md5, ch3 or jump)")

// ParseKind parses "ketama", "ketama-md5", "ch3" or "jump".
func ParseKind(s string) (Kind, error) {
	for i, n := range kindNames {
		if s == n {
			return Kind(i), nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownKind, s)
}

// New builds a ring of the given kind over nodes. The nodes slice is copied.
// An empty node list gives a ring whose Owner is always -1.
func New(kind Kind, nodes []Node) (Ring, error) {
	nodes = append([]Node(nil), nodes...)
	switch kind {
	case KindKetama:
		return newKetama(nodes, KindKetama), nil
	case KindKetamaMD5:
		return newKetama(nodes, KindKetamaMD5), nil
	case KindCh3:
		return &Ch3{nodes: nodes}, nil
	case KindJump:
		return &Jump{nodes: nodes}, nil
	}
	return nil, fmt.Errorf("%w: %v", ErrUnknownKind, kind)
}

// bytesOf views s as a byte slice without copying; the result must not be
// modified.
func bytesOf(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// uniformStats is Stats for the placements without points.
func uniformStats(n int) []NodeStats {
	st := make([]NodeStats, n)
	for i := range st {
		st[i].Share = 1 / float64(n)
	}
	return st
}
