package server

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/slabcache/slabcache/lru"
)

// Hand-over after a ring change (docs/cluster.md). The new owner of a key
// fills it on its first miss (warm-up, warmup.go); on top of that the
// previous owner pushes the items whose keys moved, HOT and WARM first,
// then COLD, at most WarmupRate MB/s, with add semantics (`ms ... ME`): a
// value written on the new owner meanwhile is never overwritten. A newer
// ring change stops a push under way and starts another.

// handoverPeers is what the hand-over needs from the cluster (cluster.Node).
type handoverPeers interface {
	MovedTo(key []byte) (addr string, ok bool)
	RingChanged() time.Time
}

// handover is the state of the push.
type handover struct {
	mu     sync.Mutex
	since  time.Time          // the ring change pushed for
	cancel context.CancelFunc // stops the push under way
}

// stop ends a push under way (server shutdown).
func (h *handover) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cancel != nil {
		h.cancel()
	}
}

// refreshHandover starts a push when the ring changed (the transport's
// tick calls it).
func (s *Server) refreshHandover() {
	if s.set.WarmupRate <= 0 || s.set.WarmupSecs <= 0 {
		return // off, or warm-up off altogether
	}
	b := s.rep.peers.Load()
	if b == nil {
		return
	}
	mp, ok := b.p.(handoverPeers)
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
	go s.pushMoved(ctx, mp)
}

// pushMoved walks memory twice, HOT and WARM items first, and pushes those
// whose keys moved to their new owner.
func (s *Server) pushMoved(ctx context.Context, mp handoverPeers) {
	w := &s.warm
	rate := float64(s.set.WarmupRate) * (1 << 20) // bytes/s
	start, sent := time.Now(), 0.0
	pushed0 := w.pushed.Load()
	var keys [][]byte
	for _, hot := range []bool{true, false} {
		for cur := (lru.DumpCursor{}); !cur.Done(); {
			keys = keys[:0]
			cur = s.store.Dump(cur, 4096, func(d *lru.DumpItem) {
				if (d.Segment == lru.Hot || d.Segment == lru.Warm) == hot {
					keys = append(keys, append([]byte(nil), d.Key...))
				}
			})
			for _, k := range keys {
				if ctx.Err() != nil {
					return
				}
				addr, ok := mp.MovedTo(k)
				if !ok {
					continue
				}
				h := copyHit{}
				if s.store.Get(k, &lru.GetArgs{NoBump: true}, &h).Result != lru.Found || h.ttl == 0 {
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
