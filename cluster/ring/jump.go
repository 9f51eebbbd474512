package ring

import "github.com/cespare/xxhash/v2"

// Jump is jump consistent hash (Lamping and Veach, 2014) over xxhash64 of
// the key. Build it with New(KindJump, nodes). Node order matters: adding a
// node at the end moves only the keys it takes over.
type Jump struct {
	nodes []Node
}

// Kind implements Ring.
func (j *Jump) Kind() Kind { return KindJump }

// Nodes implements Ring.
func (j *Jump) Nodes() []Node { return j.nodes }

// Stats implements Ring.
func (j *Jump) Stats() []NodeStats { return uniformStats(len(j.nodes)) }

// Owner implements Ring.
func (j *Jump) Owner(key []byte) int {
	if len(j.nodes) == 0 {
		return -1
	}
	return int(JumpHash(xxhash.Sum64(key), len(j.nodes)))
}

// OwnerString implements Ring.
func (j *Jump) OwnerString(key string) int {
	if len(j.nodes) == 0 {
		return -1
	}
	return int(JumpHash(xxhash.Sum64String(key), len(j.nodes)))
}

// JumpHash maps a 64-bit key to a bucket in [0, buckets).
func JumpHash(key uint64, buckets int) int32 {
	var b, j int64 = -1, 0
	for j < int64(buckets) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int32(b)
}
