package ring

import (
	"crypto/md5"
	"encoding/binary"
	"math"
	"sort"
	"strconv"
)

// Ketama constants, as twemproxy's nc_ketama.c and libmemcached name them.
const (
	ketamaPointsPerServer = 160 // KETAMA_POINTS_PER_SERVER
	ketamaPointsPerHash   = 4   // KETAMA_POINTS_PER_HASH: one MD5 gives 4 points
)

type ketamaPoint struct {
	value uint32
	index uint32 // into Ketama.nodes
}

// Ketama is the ketama ring of twemproxy and libmemcached's
// KETAMA_WEIGHTED. Build it with New(KindKetama or KindKetamaMD5, nodes).
type Ketama struct {
	nodes  []Node
	hash   KeyHash
	kind   Kind
	points []ketamaPoint // sorted by value
	counts []int         // points per node
}

// KetamaPoints returns how many points a server of the given weight gets on
// a ring of nservers servers whose weights sum to totalWeight. It mirrors
// twemproxy exactly, single-precision float rounding included:
//
//	floorf((float)(pct * 160 / 4 * (float)nservers + 0.0000000001)) * 4
//
// where pct = (float)weight / (float)totalWeight. With equal weights this is
// 156 rather than 160 for some server counts (25, 47, 50, ...).
func KetamaPoints(weight, totalWeight, nservers int) int {
	// Each step is rounded to float32 explicitly, as the C code computes
	// in float; the conversions also forbid a fused multiply-add.
	pct := float32(weight) / float32(totalWeight)
	x := float32(pct * ketamaPointsPerServer)
	x = float32(x / 4)
	x = float32(x * float32(nservers))
	// The + 0.0000000001 is done in double, then cast back to float.
	y := float32(float64(x) + 0.0000000001)
	return int(math.Floor(float64(y))) * 4
}

func newKetama(nodes []Node, kind Kind) *Ketama {
	return newKetamaWith(nodes, kind, KetamaPoints)
}

// newKetamaWith builds a ketama ring whose points per server come from
// points (tests use it to show the float rounding matters).
func newKetamaWith(nodes []Node, kind Kind, points func(weight, totalWeight, nservers int) int) *Ketama {
	k := &Ketama{nodes: nodes, hash: FNV1a64, kind: kind, counts: make([]int, len(nodes))}
	if kind == KindKetamaMD5 {
		k.hash = MD5
	}
	total := 0
	for _, n := range nodes {
		total += n.weight()
	}
	var buf []byte
	for i, n := range nodes {
		pts := points(n.weight(), total, len(nodes))
		k.counts[i] = pts
		name := n.ketamaName()
		for j := 0; j < pts/ketamaPointsPerHash; j++ {
			buf = append(buf[:0], name...)
			buf = append(buf, '-')
			buf = strconv.AppendUint(buf, uint64(j), 10)
			d := md5.Sum(buf)
			for x := 0; x < ketamaPointsPerHash; x++ {
				v := binary.LittleEndian.Uint32(d[4*x:])
				k.points = append(k.points, ketamaPoint{value: v, index: uint32(i)})
			}
		}
	}
	// twemproxy sorts with qsort on the value only; ties (two equal 32-bit
	// points) are vanishingly rare. A stable sort keeps node order for them.
	sort.SliceStable(k.points, func(a, b int) bool { return k.points[a].value < k.points[b].value })
	return k
}

// Kind implements Ring.
func (k *Ketama) Kind() Kind { return k.kind }

// Nodes implements Ring.
func (k *Ketama) Nodes() []Node { return k.nodes }

// Owner implements Ring: the node of the first point at or after the key's
// hash, wrapping to the first point.
func (k *Ketama) Owner(key []byte) int {
	if len(k.points) == 0 {
		return -1
	}
	return k.ownerOfHash(k.hash(key))
}

// OwnerString implements Ring.
func (k *Ketama) OwnerString(key string) int { return k.Owner(bytesOf(key)) }

// ownerOfHash is twemproxy's ketama_dispatch.
func (k *Ketama) ownerOfHash(h uint32) int { return int(k.points[k.pointAt(h)].index) }

// pointAt returns the index of the first point at or after hash h,
// wrapping to the first point (the ring has points).
func (k *Ketama) pointAt(h uint32) int {
	lo, hi := 0, len(k.points)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if k.points[mid].value < h {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == len(k.points) {
		lo = 0
	}
	return lo
}

// Stats implements Ring. A point owns the arc from the previous point
// (exclusive) to itself (inclusive); the first point also owns the wrap.
func (k *Ketama) Stats() []NodeStats {
	st := make([]NodeStats, len(k.nodes))
	for i, c := range k.counts {
		st[i].Points = c
	}
	n := len(k.points)
	if n == 0 {
		return st
	}
	const circle = float64(1 << 32)
	for i, p := range k.points {
		var arc uint64
		if i == 0 {
			arc = uint64(p.value) + (1 << 32) - uint64(k.points[n-1].value)
		} else {
			arc = uint64(p.value - k.points[i-1].value)
		}
		st[p.index].Share += float64(arc) / circle
	}
	return st
}
