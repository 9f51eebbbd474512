package hotkeys

import (
	"bytes"
	"hash/maphash"
)

// MaxKeyLen is the longest key a TopK keeps (memcached's key limit).
const MaxKeyLen = 250

// TopK is a Space-Saving summary (Metwally, Agrawal, El Abbadi 2005) of the
// most frequent keys of a stream, in at most k slots: a key already in the
// summary has its count raised; a new key takes the slot of the smallest
// count, inheriting that count as its error. Every count overestimates the
// key's true count by at most its error, and the error is at most N/k for a
// stream of N offers, so any key offered more than N/k times is in the
// summary. A TopK allocates only in NewTopK; it is not safe for concurrent
// use.
type TopK struct {
	seed    maphash.Seed
	slots   []slot
	keys    []byte // k keys of MaxKeyLen bytes
	used    int
	offered uint64
}

type slot struct {
	hash  uint64
	count uint64
	err   uint64
	klen  uint8
}

// NewTopK returns an empty summary of k slots.
func NewTopK(k int) *TopK {
	k = max(k, 1)
	return &TopK{seed: maphash.MakeSeed(), slots: make([]slot, k), keys: make([]byte, k*MaxKeyLen)}
}

// K is the number of slots.
func (t *TopK) K() int { return len(t.slots) }

// Offered is the number of offers since the last Reset.
func (t *TopK) Offered() uint64 { return t.offered }

func (t *TopK) key(i int) []byte {
	return t.keys[i*MaxKeyLen : i*MaxKeyLen+int(t.slots[i].klen)]
}

// Offer counts one occurrence of key (n occurrences with OfferN). Keys
// longer than MaxKeyLen are ignored.
func (t *TopK) Offer(key []byte) { t.OfferN(key, 1) }

// OfferN counts n occurrences of key.
func (t *TopK) OfferN(key []byte, n uint64) {
	if len(key) == 0 || len(key) > MaxKeyLen {
		return
	}
	t.offered += n
	h := maphash.Bytes(t.seed, key)
	minAt := -1
	for i := 0; i < t.used; i++ {
		s := &t.slots[i]
		if s.hash == h && bytes.Equal(t.key(i), key) {
			s.count += n
			return
		}
		if minAt < 0 || s.count < t.slots[minAt].count {
			minAt = i
		}
	}
	if t.used < len(t.slots) {
		t.set(t.used, key, h, n, 0)
		t.used++
		return
	}
	m := t.slots[minAt].count
	t.set(minAt, key, h, m+n, m)
}

func (t *TopK) set(i int, key []byte, h, count, err uint64) {
	t.slots[i] = slot{hash: h, count: count, err: err, klen: uint8(len(key))}
	copy(t.keys[i*MaxKeyLen:], key)
}

// Reset empties the summary.
func (t *TopK) Reset() {
	t.used = 0
	t.offered = 0
}

// Each calls fn for every key in the summary with its estimated count and
// the most that count may overestimate. key is valid only during the call.
func (t *TopK) Each(fn func(key []byte, count, err uint64)) {
	for i := 0; i < t.used; i++ {
		fn(t.key(i), t.slots[i].count, t.slots[i].err)
	}
}

// CopyFrom makes t a copy of u (same size; no allocation).
func (t *TopK) CopyFrom(u *TopK) {
	t.seed = u.seed
	copy(t.slots, u.slots[:u.used])
	for i := 0; i < u.used; i++ {
		copy(t.keys[i*MaxKeyLen:], u.key(i))
	}
	t.used = u.used
	t.offered = u.offered
}
