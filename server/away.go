package server

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/slabcache/slabcache/internal/keynotes"
	"github.com/slabcache/slabcache/proto"
)

// The keys of a member that is away (docs/cluster.md, "A member that comes
// back"). While a member is failed (cut off by a partition, paused,
// crashed) or gone (it left, to restart warm from its memory file) its
// keys are read and written on the others, and when it comes back it
// still holds its old copies of them: of a key set meanwhile, the old
// value; of a key deleted meanwhile, the item itself. So each node notes
// the keys written here whose owner would be a member that is away
// (cluster.Node.AwayOwner), and as soon as that member answers, deletes
// them there; past maxAwayKeys per member it sends a flush_all instead.

// awayPeers is what the away log needs from the cluster (cluster.Node).
type awayPeers interface {
	Away() bool
	AwayOwner(key []byte) (addr string, ok bool)
}

// maxAwayKeys bounds the keys noted for one member.
const maxAwayKeys = 1 << 16

// awayBatch is how many deletes go to a member in one round trip.
const awayBatch = 512

// awayLog is the keys written here for members that are away.
type awayLog struct {
	on      atomic.Bool // some member is away: writes are checked (one load per write)
	mu      sync.Mutex
	members map[string]*awaySet // by member address
	// full is the members past maxAwayKeys (a flush_all awaits them),
	// read without the lock: a member that stays away long gets there,
	// and its writes then take no lock.
	full atomic.Pointer[map[string]bool]

	deleted  atomic.Uint64 // keys deleted on members that came back
	flushed  atomic.Uint64 // members sent a flush_all instead (too many keys)
	failures atomic.Uint64 // deliveries that failed (tried again the next second)
	noted    atomic.Uint64 // writes noted
	sweeping atomic.Int32  // sweeps for writes just before a member went (noteAheadForAway)
}

type awaySet struct {
	keys    *keynotes.Set // more than maxAwayKeys: full, a flush_all instead
	sending bool          // a delivery is under way
	last    time.Time     // the last key noted
}

// awayKeep is how long the keys of a member that is neither alive nor
// failed (it left) are kept after the last one was noted: the cluster
// notes them for cluster.AwayLeftFor after it starts to leave.
const awayKeep = 10 * time.Minute

// awayPeers returns the cluster as the away log sees it, or nil.
func (s *Server) awayPeers() awayPeers {
	ap, _ := peersAs[awayPeers](s)
	return ap
}

// refreshAway turns the noting of writes on while some member is away
// (the tick and ring changes call it).
func (s *Server) refreshAway() {
	ap := s.awayPeers()
	s.away.on.Store(ap != nil && ap.Away())
}

// noteAway records a write of key (a client's or a member's) when its
// owner would be a member that is away.
func (s *Server) noteAway(key []byte) {
	ap := s.awayPeers()
	if ap == nil {
		return
	}
	addr, ok := ap.AwayOwner(key)
	if !ok {
		return
	}
	s.noteAwayFor(addr, key)
}

// noteAwayFor notes key for member addr: also a delete forwarded to a
// key's new owner that did not answer (movedOwner), which it gets as soon
// as it does.
func (s *Server) noteAwayFor(addr string, key []byte) {
	a := &s.away
	a.noted.Add(1)
	if f := a.full.Load(); f != nil && (*f)[addr] {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.members == nil {
		a.members = map[string]*awaySet{}
	}
	m := a.members[addr]
	if m == nil {
		m = &awaySet{keys: keynotes.New(maxAwayKeys)}
		a.members[addr] = m
	}
	m.last = time.Now()
	if m.keys.Note(string(key), proto.QuietDeletable(string(key))) {
		// Too many, or a binary key with no text form: a flush_all.
		a.publishFullLocked()
		s.log.Warn("too many keys written for a member that is away, or one a delete cannot name: it will be sent a flush_all when it comes back",
			zap.String("member", addr), zap.Int("max_keys", maxAwayKeys))
	}
}

// publishFullLocked publishes the members that are full (a.mu held).
func (a *awayLog) publishFullLocked() {
	f := map[string]bool{}
	for addr, m := range a.members {
		if m.keys.Full() {
			f[addr] = true
		}
	}
	a.full.Store(&f)
}

// catchUpNow sends the members that came back what they missed at once,
// rather than at the next tick: the keys written here while they were
// away, and the recent invalidations (invlog.go). A ring change calls it:
// a member may have come back, and clients route its keys to it from
// their next poll.
func (s *Server) catchUpNow() {
	if p := s.inv.peers(); p != nil {
		alive, down := p.Others()
		s.deliverAway(alive, down)
		s.inv.catchUp(alive, p.Returns())
	}
}

// deliverAway sends the members that came back the deletes of their keys
// written here meanwhile, and forgets the members that left long ago
// (every second, from the invalidator's goroutine, and at once on a ring
// change; each delivery runs on its own). A member not alive here is tried
// too: when a partition heals, gossip may take many seconds to mark it
// alive here, while it already serves clients that reach it, and a node
// restarted warm whose seeds did not answer serves alone until it joins.
func (s *Server) deliverAway(alive, down []string) {
	a := &s.away
	a.mu.Lock()
	defer a.mu.Unlock()
	for addr, m := range a.members {
		back := slices.Contains(alive, addr)
		switch {
		case m.sending:
		case !back && !slices.Contains(down, addr) && time.Since(m.last) > awayKeep:
			delete(a.members, addr) // left long ago: it comes back, if ever, without its items
			a.publishFullLocked()
		default:
			m.sending = true
			go s.sendAway(addr, m, !back)
		}
	}
}

// sendAway delivers member addr's set: the deletes in batches, or a
// flush_all; on a failure what is left is tried again the next second
// (quietly while the member is down: it is expected not to answer).
func (s *Server) sendAway(addr string, m *awaySet, down bool) {
	a := &s.away
	a.mu.Lock()
	b := m.keys.Take()
	a.mu.Unlock()
	full, keys := b.Full, b.Keys
	var err error
	sent := 0
	if full {
		if err = s.inv.pool.FlushAll(addr); err == nil {
			a.flushed.Add(1)
		}
	} else {
		for sent < len(keys) && err == nil {
			batch := keys[sent:min(sent+awayBatch, len(keys))]
			if err = s.inv.pool.DeleteMany(addr, batch); err == nil {
				sent += len(batch)
				a.deleted.Add(uint64(len(batch)))
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	m.sending = false
	if err != nil {
		m.keys.Done(b, sent, false)
		if down && sent == 0 {
			return
		}
		a.failures.Add(1)
		s.log.Warn("a member that came back was not sent all the keys written meanwhile; trying again",
			zap.String("member", addr), zap.Int("sent", sent), zap.Int("left", m.keys.Len()), zap.Error(err))
		return
	}
	// Keys noted again while this ran stay for the next delivery.
	m.keys.Done(b, len(keys), full)
	if full {
		a.publishFullLocked()
	}
	if m.keys.Empty() {
		delete(a.members, addr)
	}
	s.log.Info("deleted, on a member that came back, the keys written here while it was away",
		zap.String("member", addr), zap.Int("keys", len(keys)), zap.Bool("flush_all", full))
}

// counts returns the members with keys noted and the keys.
func (a *awayLog) counts() (members, keys int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range a.members {
		keys += m.keys.Len()
	}
	return len(a.members), keys
}

// appendStatsAway appends the away log's lines of `stats warmup`.
func (s *Server) appendStatsAway(dst []byte) []byte {
	a := &s.away
	members, keys := a.counts()
	dst = proto.AppendStat(dst, "away_members", strconv.Itoa(members)) // members away (or back, not yet sent) with keys written here
	dst = proto.AppendStat(dst, "away_keys", strconv.Itoa(keys))       // their keys waiting
	dst = proto.AppendStat(dst, "away_writes", strconv.FormatUint(a.noted.Load(), 10))
	dst = proto.AppendStat(dst, "away_deleted", strconv.FormatUint(a.deleted.Load(), 10))
	dst = proto.AppendStat(dst, "away_flushes", strconv.FormatUint(a.flushed.Load(), 10))
	return proto.AppendStat(dst, "away_failures", strconv.FormatUint(a.failures.Load(), 10))
}
