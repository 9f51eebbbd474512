package server

import (
	"math"
	"sync"
	"time"

	"github.com/slabcache/slabcache/lru"
)

// Writes ahead of this node's ring. Clients learn of a membership change
// from the members that saw it first, and this node may see it some time
// after them: meanwhile a client that follows the new ring writes here a
// key this node does not own yet. When the change reaches this node the
// key has moved here, and its warm-up would take the previous owner's
// older copy over that write (a read fetches over a copy not written in
// the warm-up, a hand-over push replaces it, and the warm-up's end drops
// it). So the store's CAS floor is sampled a few times a second while a
// warm-up can happen, and a warm-up takes an item whose CAS this store
// drew at most aheadWindow before the change as written here (settled):
// it is neither fetched over, nor replaced by a push, nor dropped. With -C
// there is no CAS to tell it by, and the warm-up goes as before.

// aheadWindow is how long before this node's ring change a write of a key
// that moves here counts as a client's ahead of the ring. Longer would take
// more writes of clients behind the ring, which a key that left this node
// and came back within the window may have had, for this node's own.
const aheadWindow = time.Second

// casSampleEvery is how often the CAS floor is sampled (each sample locks
// every index shard once).
const casSampleEvery = 250 * time.Millisecond

// maxCASSamples is how many samples are kept: a few seconds' worth.
const maxCASSamples = 16

// casSample is the store's CAS floor at a moment: every CAS drawn after it
// is at least floor.
type casSample struct {
	at    time.Time
	floor uint64
}

// aheadLog is the recent samples, oldest first.
type aheadLog struct {
	mu      sync.Mutex
	samples []casSample
}

// sampleCASFloor records the CAS floor (the transport's tick), while this
// node is a cluster member with warm-up on.
func (s *Server) sampleCASFloor() {
	if s.warmPeers() == nil {
		return
	}
	a := &s.ahead
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	if n := len(a.samples); n > 0 && now.Sub(a.samples[n-1].at) < casSampleEvery {
		return
	}
	f := s.store.CASFloor()
	if f == 0 {
		return // -C
	}
	if len(a.samples) >= maxCASSamples {
		a.samples = append(a.samples[:0], a.samples[1:]...)
	}
	a.samples = append(a.samples, casSample{at: now, floor: f})
}

// aheadFloor returns the CAS floor aheadWindow (or a little more) before
// since: an item whose CAS this store drew is at least that was written
// at most that long before the change. MaxUint64 when no sample is that
// old (the node has just started: nothing was written ahead).
func (s *Server) aheadFloor(since time.Time) uint64 {
	a := &s.ahead
	a.mu.Lock()
	defer a.mu.Unlock()
	floor := uint64(math.MaxUint64)
	for _, c := range a.samples {
		if c.at.After(since.Add(-aheadWindow)) {
			break
		}
		floor = c.floor
	}
	return floor
}

// casHit reads an item's CAS for writtenAheadLocked.
type casHit struct {
	cas   uint64
	given bool
}

func (h *casHit) Hit(it *lru.Item) { h.cas, h.given = it.CAS, it.GivenCAS }

// keptLocked reports whether this node's item of key stays this node's in
// the current warm-up (w.mu held): written here by a client ahead of the
// ring change, or an item of a warm restart's memory file that the other
// members confirmed current (restore.go).
func (s *Server) keptLocked(key []byte) bool {
	var h casHit
	if s.store.Peek(key, &h).Result != lru.Found {
		return false
	}
	return s.trustedLocked() || s.writtenAhead(key, h.cas, h.given, s.warm.ahead, s.warm.since)
}

// writtenAhead reports whether an item of key (its CAS, and whether it was
// given) was written here ahead of the ring change at since, whose floor
// is ahead: its CAS drawn here since, and the key not one that left this
// node just before (leftJustBefore).
func (s *Server) writtenAhead(key []byte, cas uint64, given bool, ahead uint64, since time.Time) bool {
	return drawnSince(cas, given, ahead) && !s.leftJustBefore(key, since)
}

// gaveUpBeforePeers is what leftJustBefore needs from the cluster
// (cluster.Node).
type gaveUpBeforePeers interface {
	GaveUpBefore(key []byte) (time.Time, bool)
}

// leftJustBefore reports whether key moved away from this node in the ring
// change before the one at since, within warmup_secs of it. A client's
// write of it here since then was forwarded to its owner as a delete
// (movedOwner), whether the client was behind that change or ahead of the
// one at since: the window cannot tell them apart, and the owner has
// either nothing of the key from before the write or a newer value. So
// such a key is fetched from the owner as any other (a miss at worst),
// not taken as written ahead.
func (s *Server) leftJustBefore(key []byte, since time.Time) bool {
	gp, ok := peersAs[gaveUpBeforePeers](s)
	if !ok {
		return false
	}
	at, gave := gp.GaveUpBefore(key)
	return gave && since.Sub(at) <= time.Duration(s.set.WarmupSecs)*time.Second
}

// drawnSince reports whether an item's CAS was drawn by this store (not
// given) at or after floor.
func drawnSince(cas uint64, given bool, floor uint64) bool { return !given && cas >= floor }
