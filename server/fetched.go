package server

import (
	"sync"
	"time"
)

// Keys a member fetched from here ahead of this node's ring. A node that
// takes keys over (it joined, or another left) fills each on the first
// read of it in its warm-up, from the node that owned it before
// (fetchFrom): an mg on a member's connection. This node may learn of the
// ring change a little after the fetcher, and after the clients that
// follow the fetcher; until it does, a client whose ring is behind still
// writes the key here, and this node, the key's owner by its own ring,
// forwards nothing (movedOwner), while the fetcher, which takes no push of
// a key it filled, would keep the older value it fetched. So such a fetch
// of a key this node owns by its ring is remembered, with the member that
// made it, and a client's write of the key deletes it there before it is
// answered, as for a key this node knows has moved: until this node's
// ring changes (then movedOwner knows, and a member that failed meanwhile
// is not waited for), for warmup_secs at most.

// fetchedLog is the keys members fetched from here ahead of this node's
// ring.
type fetchedLog struct {
	mu sync.RWMutex
	m  map[string]fetchNote // Server.forward has fwdFetched while it holds a key
}

// Server.forward's bits: why a client's write may be forwarded besides a
// ring change of this node's (movedUntil); all 0 outside the short
// windows they cover, so a write loads one word beside movedUntil.
const (
	fwdLeaving = 1 << iota // this node is leaving (Leaving)
	fwdFetched             // members fetched keys from here ahead of this node's ring
	fwdRing                // the ring is changing: movedUntil may not follow it yet (RingChanging)
)

// fetchNote is who fetched a key, and when.
type fetchNote struct {
	addr string
	at   time.Time
}

// maxFetched bounds the keys remembered; past it fetches are not noted
// (their keys miss the forward until this node's ring changes too).
const maxFetched = 1 << 16

// noteFetch runs for an mg on a member's connection: a warm-up's fetch
// when the member named itself (cluster peer <addr>) and this node still
// owns the key by its ring.
func (c *conn) noteFetch(key []byte) {
	if c.peerAddr == "" || c.s.set.WarmupSecs <= 0 {
		return
	}
	if op, ok := peersAs[ownerPeers](c.s); !ok || !op.Owns(key) {
		return // moved here already: movedOwner forwards its writes
	}
	f := &c.s.fetched
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]fetchNote{}
	}
	if _, ok := f.m[string(key)]; !ok && len(f.m) >= maxFetched {
		return
	}
	f.m[string(key)] = fetchNote{addr: c.peerAddr, at: time.Now()}
	c.s.forward.Or(fwdFetched)
}

// fetchedBy returns the member that fetched key from here within keep, or
// "" (the caller checks fwdFetched first).
func (f *fetchedLog) fetchedBy(key []byte, keep time.Duration) string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if e, ok := f.m[string(key)]; ok && time.Since(e.at) <= keep {
		return e.addr
	}
	return ""
}

// expireFetched forgets the fetches older than keep (the transport's
// tick), or all of them (keep 0: this node's ring changed).
func (s *Server) expireFetched(keep time.Duration) {
	if s.forward.Load()&fwdFetched == 0 {
		return
	}
	f := &s.fetched
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, e := range f.m {
		if keep == 0 || time.Since(e.at) > keep {
			delete(f.m, k)
		}
	}
	if len(f.m) == 0 {
		s.forward.And(^uint32(fwdFetched))
	}
}
