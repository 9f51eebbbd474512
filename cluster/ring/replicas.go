package ring

import (
	"cmp"
	"math"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Replicas returns the nodes that serve key when it is replicated on n
// nodes: its owner first, then the next distinct nodes after it on the ring
// (for ketama, the nodes of the following points clockwise; for placements
// without points, the following nodes in Nodes order, wrapping): where the
// key goes when its owner leaves, and the Go client's stand-in. Every
// client and server with the same membership computes the same set. It
// returns at most n indexes into Nodes, fewer when the ring has fewer
// nodes.
func Replicas(r Ring, key []byte, n int) []int {
	owner := r.Owner(key)
	if owner < 0 || n <= 0 {
		return nil
	}
	total := len(r.Nodes())
	n = min(n, total)
	out := make([]int, 1, n)
	out[0] = owner
	if k, ok := r.(*Ketama); ok && len(k.points) > 0 {
		lo := k.pointAt(k.hash(key))
		for i := 0; i < len(k.points) && len(out) < n; i++ {
			idx := int(k.points[(lo+i)%len(k.points)].index)
			if !slices.Contains(out, idx) {
				out = append(out, idx)
			}
		}
		return out
	}
	for i := 1; len(out) < n; i++ {
		out = append(out, (owner+i)%total)
	}
	return out
}

// Spread returns the nodes that serve a hot key copied to n nodes: its
// owner first, then the n-1 other nodes that rank highest for key by
// weighted rendezvous hashing (each node scores -weight/ln(u), u a hash of
// the key and the node's name). Every client and server with the same
// membership computes the same set, as with Replicas, but the copies of
// two keys are placed independently even when the keys sit next to each
// other on the ring: under FNV-1a, keys that differ only in their last
// characters (user:1, user:2, ...) hash to neighbouring ketama points and
// would share their successors, piling the copies of a run of popular keys
// onto the same few nodes. Removing a node moves only the copies it held.
func Spread(r Ring, key []byte, n int) []int {
	owner := r.Owner(key)
	if owner < 0 || n <= 0 {
		return nil
	}
	nodes := r.Nodes()
	n = min(n, len(nodes))
	type ranked struct {
		index int
		score float64
	}
	kh := xxhash.Sum64(key)
	others := make([]ranked, 0, len(nodes)-1)
	for i, node := range nodes {
		if i == owner {
			continue
		}
		h := mix64(kh ^ xxhash.Sum64String(node.ketamaName()))
		u := (float64(h>>11) + 0.5) / (1 << 53) // in (0, 1)
		others = append(others, ranked{i, -float64(node.weight()) / math.Log(u)})
	}
	slices.SortFunc(others, func(a, b ranked) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return a.index - b.index
	})
	out := make([]int, 1, n)
	out[0] = owner
	for _, o := range others[:n-1] {
		out = append(out, o.index)
	}
	return out
}

// mix64 is the finalizer of MurmurHash3: every input bit affects every
// output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
