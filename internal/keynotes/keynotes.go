// Package keynotes keeps the keys written while their owner could not be
// told, to delete them on it later: a node's notes for a member that is
// away (server), a client's for a node it writes around (cluster/client).
// A Set is bounded; past its bound, or for a key no delete can name, it
// is full, and the owner must be flushed instead. A Set is not safe for
// concurrent use: its user holds a lock.
package keynotes

// Set is the keys noted for one owner, each with the number of its last
// note, so that a key noted again while a delivery runs is kept for the
// next one.
type Set struct {
	keys map[string]uint64
	seq  uint64
	full bool
	max  int
}

// New returns an empty set of at most max keys.
func New(max int) *Set { return &Set{keys: map[string]uint64{}, max: max} }

// Note notes key; nameable false means no delete can name it. It reports
// whether the set became full with this note.
func (s *Set) Note(key string, nameable bool) (becameFull bool) {
	if s.full {
		return false
	}
	if len(s.keys) >= s.max || !nameable {
		s.full, s.keys = true, map[string]uint64{}
		return true
	}
	s.seq++
	s.keys[key] = s.seq
	return false
}

// Full reports whether the set is past its bound: the owner is to be
// flushed rather than sent deletes.
func (s *Set) Full() bool { return s.full }

// Len returns the number of keys noted.
func (s *Set) Len() int { return len(s.keys) }

// Empty reports whether there is nothing to deliver.
func (s *Set) Empty() bool { return !s.full && len(s.keys) == 0 }

// Batch is a snapshot of a set, to deliver.
type Batch struct {
	Keys []string
	seqs []uint64
	Full bool
}

// Take returns what is noted now; the set keeps it until Done.
func (s *Set) Take() Batch {
	b := Batch{Keys: make([]string, 0, len(s.keys)), seqs: make([]uint64, 0, len(s.keys)), Full: s.full}
	for k, n := range s.keys {
		b.Keys, b.seqs = append(b.Keys, k), append(b.seqs, n)
	}
	return b
}

// Done forgets the first n keys of b, delivered, except those noted again
// since Take; with flushed, the owner was flushed: the set is no longer
// full.
func (s *Set) Done(b Batch, n int, flushed bool) {
	for i, k := range b.Keys[:n] {
		if s.keys[k] == b.seqs[i] {
			delete(s.keys, k)
		}
	}
	if flushed {
		s.full = false
	}
}
