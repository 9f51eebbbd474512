package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/slabcache/slabcache/lru"
)

// Hand-over after a ring change (docs/cluster.md). The new owner of a key
// fills it on its first miss (warm-up, warmup.go); on top of that the
// previous owner pushes the items whose keys moved, HOT and WARM first,
// then COLD, at most WarmupRate MB/s, as `ms ... ME H` (add semantics, and
// refused for a key written on the new owner since the change: its value
// wins). A newer ring change stops a push under way and starts another.

// handoverPeers is what the hand-over needs from the cluster (cluster.Node).
type handoverPeers interface {
	MovedTo(key []byte) (addr string, ok bool)
	RingChanged() time.Time
}

// handover is the state of the push.
type handover struct {
	mu      sync.Mutex
	since   time.Time                                       // the ring change pushed for
	cancel  context.CancelFunc                              // stops the push under way
	leaveTo atomic.Pointer[func(key []byte) (string, bool)] // where keys go once this node has left (Leaving)
}

// stop ends a push under way (server shutdown).
func (h *handover) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cancel != nil {
		h.cancel()
	}
}

// pushOn reports whether this node pushes moved items: the push is on and
// so is warm-up (the new owners accept pushes during theirs).
func (s *Server) pushOn() bool { return s.set.WarmupRate > 0 && s.set.WarmupSecs > 0 }

// refreshHandover starts a push when the ring changed (the transport's
// tick calls it).
func (s *Server) refreshHandover() {
	if !s.pushOn() {
		return
	}
	mp, ok := peersAs[handoverPeers](s)
	if !ok {
		return
	}
	since := mp.RingChanged()
	h := &s.hand
	h.mu.Lock()
	defer h.mu.Unlock()
	// A second after the change, so that the new owners' warm-ups (which
	// accept pushes) have started.
	if since.IsZero() || since.Equal(h.since) || time.Since(since) < time.Second {
		return
	}
	if h.cancel != nil {
		h.cancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.since, h.cancel = since, cancel
	go s.pushMoved(ctx, mp.MovedTo)
}

// leavePeers is what a leaving node's hand-off needs (cluster.Node).
type leavePeers interface {
	Handoff() func(key []byte) (addr string, ok bool)
}

// Leaving notes where this node's keys go once it has left; cmd calls it
// just before leaving the cluster (the ring still has this node). From
// then on a client's write of such a key deletes it at its new owner
// before it is answered (movedOwner), and Drain pushes the items there.
func (s *Server) Leaving() {
	if lp, ok := peersAs[leavePeers](s); ok {
		to := lp.Handoff()
		s.hand.leaveTo.Store(&to)
		s.forward.Or(fwdLeaving)
	}
}

// handoffOnLeave pushes, for a node that has just left the cluster, every
// item it owned to the node that takes its key over, until done or
// deadline (Drain). It returns nil when there is nothing to push.
func (s *Server) handoffOnLeave(deadline time.Time) (done <-chan struct{}) {
	p := s.hand.leaveTo.Load()
	if p == nil || !s.pushOn() {
		return nil
	}
	to := *p
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		defer cancel()
		// The others accept pushes once their warm-up of this change has
		// started: when they see this node leave.
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
		s.pushMoved(ctx, to)
	}()
	return ch
}

// pushMoved walks memory twice, HOT and WARM items first, and pushes those
// that movedTo says went to another node.
func (s *Server) pushMoved(ctx context.Context, movedTo func(key []byte) (string, bool)) {
	w := &s.warm
	rate := float64(s.set.WarmupRate) * (1 << 20) // bytes/s
	start, sent := time.Now(), 0.0
	pushed0 := w.pushed.Load()
	type moved struct {
		key  []byte
		addr string
	}
	var batch []moved
	var h copyHit
	for _, hot := range []bool{true, false} {
		for cur := (lru.DumpCursor{}); !cur.Done(); {
			batch = batch[:0]
			// Only the keys that moved are copied out (a ring lookup:
			// quick enough under the dump's shard lock).
			cur = s.store.Dump(cur, 4096, func(d *lru.DumpItem) {
				if (d.Segment == lru.Hot || d.Segment == lru.Warm) != hot {
					return
				}
				if addr, ok := movedTo(d.Key); ok {
					batch = append(batch, moved{append([]byte(nil), d.Key...), addr})
				}
			})
			for _, m := range batch {
				if ctx.Err() != nil {
					return
				}
				k, addr := m.key, m.addr
				if s.store.Get(k, &lru.GetArgs{NoBump: true, Disowned: true}, &h).Result != lru.Found || h.ttl == 0 {
					continue
				}
				ttl := int32(0)
				if h.ttl > 0 {
					ttl = int32(h.ttl)
				}
				if err := s.rep.pool.Add(addr, k, h.flags, ttl, h.cas, h.buf); err != nil {
					w.pushFailures.Add(1)
					continue
				}
				w.pushed.Add(1)
				w.pushBytes.Add(uint64(len(h.buf)))
				// Keep under the rate: sleep until the bytes sent so far
				// are due.
				sent += float64(len(k) + len(h.buf))
				if ahead := time.Duration(sent/rate*float64(time.Second)) - time.Since(start); ahead > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(ahead):
					}
				}
			}
		}
	}
	if n := w.pushed.Load() - pushed0; n > 0 {
		s.log.Info("pushed the items whose keys moved to their new owners", zap.Uint64("items", n), zap.Duration("took", time.Since(start)))
	}
}

// movedOwner returns, for a client's write (a delete, a store, arithmetic,
// a touch) of a key this node owned before the last ring change and
// another node owns since, within warmup_secs of the change, or of a key
// this node owns while it leaves the cluster (Leaving), that node's
// address; "" otherwise. A client that has not polled the new membership
// yet still sends the key's writes here, while the new owner may already
// hold the key (its warm-up's copy, fetched from here, or the
// hand-over's), so a delete of the key goes there before the write is
// answered: the new owner's copy, older than this write, goes, and the
// new owner takes no copy of it from elsewhere for a while (the delete
// settles the key there: noteWrite, or noteForeignDelete before its ring
// has changed). A
// member's own writes (its hot-key copies and invalidations, pushes,
// deletes forwarded here) are not forwarded: two members whose rings
// disagree would pass them back and forth.
func (c *conn) movedOwner(key []byte) string {
	if c.peer {
		return ""
	}
	changing := false
	if f := c.s.forward.Load(); f != 0 {
		changing = f&fwdRing != 0
		if to := c.s.hand.leaveTo.Load(); f&fwdLeaving != 0 && to != nil {
			if addr, ok := (*to)(key); ok {
				return addr
			}
		}
		if f&fwdFetched != 0 {
			if addr := c.s.fetched.fetchedBy(key, time.Duration(c.s.set.WarmupSecs)*time.Second); addr != "" {
				return addr // a member took it over ahead of this node's ring (fetched.go)
			}
		}
	}
	if u := c.s.movedUntil.Load(); !changing && (u == 0 || c.s.clk.Now() >= u) {
		return "" // (two loads of one line for the writes outside the windows)
	}
	mp, ok := peersAs[handoverPeers](c.s)
	if !ok {
		return ""
	}
	if time.Since(mp.RingChanged()) > time.Duration(c.s.set.WarmupSecs)*time.Second {
		return ""
	}
	addr, ok := mp.MovedTo(key)
	if !ok {
		return ""
	}
	return addr
}

// forwardMovedDelete deletes key at owner, its new owner, for a write of
// it here (movedOwner). A failure is logged and counted
// (warmup_forward_failures), and the owner gets the delete as soon as it
// answers (away.go).
func (s *Server) forwardMovedDelete(owner string, key []byte) error {
	if err := s.rep.pool.Delete(owner, key); err != nil {
		s.warm.forwardFailures.Add(1)
		s.noteAwayFor(owner, key)
		s.log.Warn("delete not forwarded to the key's new owner", zap.String("member", owner), zap.ByteString("key", key), zap.Error(err))
		return err
	}
	s.warm.forwarded.Add(1)
	return nil
}
