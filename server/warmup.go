package server

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/slabcache/slabcache/cluster"
	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
)

// Warm-up after a membership change (docs/cluster.md). For WarmupSecs
// after the ring changed, a read of a key that moved to this node and is
// not here yet is filled from the node that owned it before: the
// connection is parked (as for hot-key copies), a goroutine fetches the
// keys (one fetch per key however many clients miss it at once), stores
// what it found with add semantics, and the request runs again. A write to
// a key here during the warm-up makes it this node's: it is never fetched
// afterwards, and a fetch under way when it happens is not stored, so a
// set or delete on the new owner always wins over the old owner's copy.

// warmup holds the warm-up state of a server.
type warmup struct {
	mu      sync.Mutex
	written map[string]struct{} // keys written here during the warm-up; nil outside one
	// flushed is the flushes here (flush_all: prefix ""), oldest first,
	// kept for WarmupSecs (no copy of a key they cover is taken:
	// warmMineLocked) and cluster.AwayLeftFor (a member that comes back is
	// told of them: `cluster away`); flushedLost is when the newest one
	// dropped for room was made.
	flushed     []flushNote
	flushedLost time.Time
	full        bool      // written reached maxWarmWritten: no more fetches this warm-up
	since       time.Time // the ring change the current warm-up follows
	ahead       uint64    // CAS floor aheadWindow before since: items drawn above it were written ahead of the ring (ahead.go)
	active      time.Time // the last fetch of the current warm-up (its start before one)
	trusted     time.Time // the ring change whose warm-up keeps the items here: a warm restart's, confirmed (restore.go)

	restoring      atomic.Pointer[chan struct{}] // closed when the check of a warm restart's items is over (restore.go)
	restoreState   atomic.Int32                  // restoreNone, restoreChecking, restoreConfirmed or restoreUnconfirmed
	restoreDropped atomic.Uint64                 // keys of the memory file deleted: written on the others meanwhile

	// Deletes relayed here from another region, or of keys this node did
	// not own, in the last WarmupSecs (noteRecentDelete): key -> when, and the same in order, oldest
	// first; past maxWarmDeleted of them, blindUntil stops every fetch
	// and push until the oldest one dropped is WarmupSecs old.
	deleted    map[string]time.Time
	delOrder   []deleteNote
	blindUntil time.Time

	flight singleflight.Group

	fetches, hits, misses, failures, bytes atomic.Uint64
	pushed, pushBytes, pushFailures        atomic.Uint64 // hand-over (handover.go)
	forwarded                              atomic.Uint64 // deletes forwarded to a moved key's new owner (movedOwner)
	forwardFailures                        atomic.Uint64 // binary writes' forwards that failed (forwardMovedDelete)
	// sweeps: the sweeps of ended warm-ups under way (dropUnsettled);
	// stopping (set under mu) ends them, and none starts after it.
	sweeps   sync.WaitGroup
	stopping atomic.Bool
	// dropCut (mu): stopSweeps ended a dropUnsettled sweep before it was
	// done: copies of keys that moved here unconfirmed may be left
	// (settledForRestart).
	dropCut bool
	// settledAtStop: the stop that saved the memory file this node
	// restarted from found no copy of a moved key here unconfirmed
	// (settledForRestart; set before the node serves).
	settledAtStop bool
}

// warmSettle: a warm-up ends early once no read has needed a fetch for
// this long (the node's misses on moved keys have settled).
const warmSettle = 10 * time.Second

// maxWarmWritten bounds the keys remembered as written during a warm-up;
// past it the warm-up stops fetching (safe: nothing is fetched that a
// write could have superseded).
const maxWarmWritten = 1 << 20

// maxFlushed bounds the flushes remembered (noteFlush); the oldest go
// first, and past it a member that comes back is not vouched for.
const maxFlushed = 4096

// maxWarmDeleted bounds the deletes remembered (noteRecentDelete).
const maxWarmDeleted = 1 << 16

// warmPeers is what warm-up needs from the cluster (cluster.Node).
type warmPeers interface {
	PreviousOwner(key []byte) (addr string, since time.Time, ok bool)
	RingChanged() time.Time
}

// warmPeers returns the cluster as warm-up sees it, or nil when warm-up is
// off or there is no cluster.
func (s *Server) warmPeers() warmPeers {
	if s.set.WarmupSecs <= 0 {
		return nil
	}
	wp, _ := peersAs[warmPeers](s)
	return wp
}

// RingChanged starts the warm-up of a ring change at once (cmd calls it
// from the cluster's ring change; the transport's tick would see it up to
// a tick later, and a write in between would not be known to the warm-up).
func (s *Server) RingChanged() {
	s.expireFetched(0) // the ring says where keys went now
	s.disownMoved()
	s.refreshAway()
	s.refreshWarm()
	s.forward.And(^uint32(fwdRing)) // movedUntil follows the new ring
	if wp := s.warmPeers(); wp != nil {
		s.noteAheadForAway(wp.RingChanged())
	}
	s.rep.ringChanged()
	go s.catchUpNow()
}

// RingChanging runs just before a change of the ring takes effect (cmd
// calls it from the cluster's OnRingChanging): until RingChanged has run,
// a client's write checks whether its key moved (movedOwner) whatever
// movedUntil says, so a write of a key that moves in this change is
// either noted for its owner while it is away (the ring before) or
// forwarded to it (the ring after).
func (s *Server) RingChanging() { s.forward.Or(fwdRing) }

// gaveUpPeers is what disownMoved needs from the cluster (cluster.Node).
type gaveUpPeers interface {
	GaveUp() func(key []byte) bool
}

// disownMoved runs on a ring change: from now on the items stored here
// before it of the keys this node gave up in it (owned before, another
// member's now) read as absent to clients (lru.Store.Disown). Such an
// item is older than what the key's owner may hold by now: its writes go
// there. A client whose ring is behind, or that reads here because the
// owner is down (the Go client's stand-in, a proxy's failover), would
// otherwise be served it. Members still read them (the new owner's
// warm-up fetches, this node's hand-over pushes) until the warm-up is over
// (refreshWarm), when the crawler removes them. Items of keys this node
// did not own are left alone (a stand-in's, or a client's that does not
// route by the cluster's ring).
func (s *Server) disownMoved() {
	gp, ok := peersAs[gaveUpPeers](s)
	if !ok {
		return
	}
	gaveUp := gp.GaveUp()
	if gaveUp == nil {
		return
	}
	s.store.Disown(gaveUp)
	if s.set.WarmupSecs <= 0 {
		s.store.ReclaimDisowned() // nobody fetches them
	}
}

// refreshWarm sets warmUntil (clock seconds) from the last ring change; the
// transport's tick calls it, so requests test one number to know whether a
// warm-up is on. A new change starts a new warm-up.
func (s *Server) refreshWarm() {
	wp := s.warmPeers()
	if wp == nil {
		return
	}
	since := wp.RingChanged()
	if since.IsZero() {
		return
	}
	left := time.Duration(s.set.WarmupSecs)*time.Second - time.Since(since)
	if left > 0 {
		s.movedUntil.Store(s.clk.Now() + uint32(left/time.Second) + 1)
	} else {
		s.movedUntil.Store(0)
		s.store.ReclaimDisowned() // the new owners' warm-ups are over
	}
	w := &s.warm
	w.mu.Lock()
	if !since.Equal(w.since) {
		w.since, w.written, w.full, w.active = since, map[string]struct{}{}, false, time.Now()
		w.ahead = s.aheadFloor(since)
		s.log.Info("warm-up started", zap.Time("ring_changed", since), zap.Int("warmup_secs", s.set.WarmupSecs))
	}
	// The misses on moved keys have settled when no read needed a fetch
	// for warmSettle: the warm-up ends early.
	settled := w.written != nil && time.Since(w.active) > warmSettle && time.Since(since) > warmSettle
	if (left <= 0 || settled) && w.written != nil {
		if !w.full && !s.trustedLocked() {
			settled, ahead := w.written, w.ahead
			if !s.sweepLocked(func() { s.dropUnsettled(wp, since, settled, ahead) }) {
				w.dropCut = true // the store is closing: not dropped
			}
		}
		w.written = nil
		s.log.Info("warm-up ended", zap.Bool("settled_early", settled), zap.Uint64("fetches", w.fetches.Load()), zap.Uint64("filled", w.hits.Load()))
	}
	if w.written == nil {
		left = 0 // ended (early or not) until the next change
	}
	w.mu.Unlock()
	if left > 0 {
		s.warmUntil.Store(s.clk.Now() + uint32(left/time.Second) + 1)
	} else {
		s.warmUntil.Store(0)
	}
}

// dropUnsettled deletes, once the warm-up of the ring change at since has
// ended, the items whose keys moved here in that change and were neither
// written, fetched nor pushed during it (settled): such an item is a copy
// from an earlier time this node owned the key (it left and came back,
// a node that took it over left), older than what its previous owner
// held, and nothing read it during the warm-up to replace it.
func (s *Server) dropUnsettled(wp warmPeers, since time.Time, settled map[string]struct{}, ahead uint64) {
	dropped := 0
	done := s.sweepStore(func(d *lru.DumpItem) bool {
		if _, ok := settled[string(d.Key)]; ok || s.writtenAhead(d.Key, d.CAS, d.GivenCAS, ahead, since) {
			return false // written, fetched or pushed in it, or written ahead of it
		}
		_, at, ok := wp.PreviousOwner(d.Key)
		return ok && at.Equal(since)
	}, func(key []byte) {
		if s.store.Delete(key, nil).Result == lru.Deleted {
			dropped++
		}
	})
	if !done {
		s.warm.mu.Lock()
		s.warm.dropCut = true
		s.warm.mu.Unlock()
	}
	if dropped > 0 {
		s.log.Info("warm-up dropped the older copies of keys that moved here unread", zap.Int("items", dropped))
	}
}

// sweepLocked runs fn in the background as one of the sweeps stopSweeps
// waits for (w.mu held), and reports whether it did: none starts once the
// store is closing.
func (s *Server) sweepLocked(fn func()) bool {
	w := &s.warm
	if w.stopping.Load() {
		return false
	}
	w.sweeps.Add(1)
	go func() {
		defer w.sweeps.Done()
		fn()
	}()
	return true
}

// sweepStore walks every item and calls act, outside the store's locks,
// with the key of each one pick selects, until the walk ends or the store
// is closing (stopSweeps); it reports whether it walked them all.
func (s *Server) sweepStore(pick func(*lru.DumpItem) bool, act func(key []byte)) bool {
	var cur lru.DumpCursor
	var batch [][]byte
	for !cur.Done() && !s.warm.stopping.Load() {
		batch = batch[:0]
		cur = s.store.Dump(cur, 4096, func(d *lru.DumpItem) {
			if pick(d) {
				batch = append(batch, bytes.Clone(d.Key))
			}
		})
		for _, k := range batch {
			act(k)
		}
	}
	return cur.Done()
}

// stopSweeps stops the sweeps of the store (dropUnsettled,
// noteAheadForAway) and waits for them: the store is about to close.
func (s *Server) stopSweeps() {
	w := &s.warm
	w.mu.Lock()
	w.stopping.Store(true)
	w.mu.Unlock()
	w.sweeps.Wait()
}

// warmOn reports whether a warm-up is on (one atomic load).
func (s *Server) warmOn() bool {
	u := s.warmUntil.Load()
	return u != 0 && s.clk.Now() < u
}

// warming reports whether key is in a warm-up window and returns the node
// that owned it before.
func (s *Server) warming(key []byte) (string, bool) {
	wp := s.warmPeers()
	if wp == nil {
		return "", false
	}
	addr, since, ok := wp.PreviousOwner(key)
	if !ok || time.Since(since) > time.Duration(s.set.WarmupSecs)*time.Second {
		return "", false
	}
	w := &s.warm
	w.mu.Lock()
	if since.After(w.since) {
		// The ring has changed and its warm-up has not started yet
		// (RingChanged runs just after the new ring is in place): start
		// it now, or this read would be served the copy from before.
		w.mu.Unlock()
		s.refreshWarm()
		w.mu.Lock()
	}
	defer w.mu.Unlock()
	if !since.Equal(w.since) {
		return "", false // the warm-up is over
	}
	if s.warmMineLocked(key) {
		s.dropBouncedLocked(key, since)
		return "", false // a write here wins
	}
	return addr, true
}

// dropBouncedLocked deletes this node's copy of a key that left it at the
// change before the one at since and came back, when a namespace flush of
// the warm-up makes the key this node's (w.mu held): the copy is from the
// earlier time the node owned it (the marks of keys it gave up no longer
// hide it, the node owns it again), older than what its owner took since,
// and the fetch that would replace it could bring a value from before the
// flush. A miss is what is left. Writes note themselves before they run
// (noteWrite): one noted here is kept.
func (s *Server) dropBouncedLocked(key []byte, since time.Time) {
	w := &s.warm
	if w.written == nil || w.full {
		return
	}
	if _, ok := w.written[string(key)]; ok || !s.leftJustBefore(key, since) || !s.flushedRecentlyLocked(key) {
		return
	}
	s.settleLocked(string(key))
	s.store.Delete(key, nil)
}

// handoverCommit stores a previous owner's push (ms H, handover.go): only
// during this node's warm-up and only for a key not written or flushed here
// since the ring changed (NS otherwise: this node's value wins). As in fetchFrom, the
// check and the store happen under one lock, and writes note themselves
// before they run, so a write here either comes after the push (and
// overrides it) or is seen by it.
func (c *conn) handoverCommit(r *proto.Request) {
	w := &c.s.warm
	w.mu.Lock()
	defer w.mu.Unlock()
	if c.s.warmMineLocked(r.Key) {
		c.s.store.Abort(&c.up.resv)
		c.out = append(c.out, "NS\r\n"...)
		return
	}
	c.s.settleLocked(string(r.Key)) // here now: never fetched
	w.active = time.Now()           // pushes keep the warm-up from ending early
	// A set, not the push's add: a copy here not written, fetched or
	// pushed in this warm-up is from before the change (this node owned
	// the key once before), older than the pushed value.
	r.Mode = 'S'
	c.metaCommit(r)
}

// noteWrite records a write of key during a warm-up.
func (s *Server) noteWrite(key []byte) {
	w := &s.warm
	w.mu.Lock()
	if w.written != nil && !w.full {
		s.settleLocked(string(key))
	}
	w.mu.Unlock()
}

// flushNote is a flush applied here: of a namespace, or of everything
// (prefix "").
type flushNote struct {
	prefix string
	at     time.Time
}

// noteFlush records a flush of the namespace prefix (empty: flush_all). For
// WarmupSecs after it, no key it covers is fetched or taken from a push:
// the node the copy comes from may not have applied the flush yet (a flush
// relayed from another region reaches members in any order), and the copy,
// stored here after the flush, would outlive it.
func (s *Server) noteFlush(prefix []byte) {
	w := &s.warm
	w.mu.Lock()
	defer w.mu.Unlock()
	keep := max(time.Duration(s.set.WarmupSecs)*time.Second, cluster.AwayLeftFor)
	i := 0
	for i < len(w.flushed) && time.Since(w.flushed[i].at) > keep {
		i++
	}
	if len(w.flushed)-i >= maxFlushed {
		w.flushedLost = w.flushed[i].at
		i++
	}
	w.flushed = append(w.flushed[i:], flushNote{prefix: string(prefix), at: time.Now()})
}

// ownerPeers is what noteForeignDelete needs from the cluster
// (cluster.Node).
type ownerPeers interface {
	Owns(key []byte) bool
}

// noteForeignDelete runs before a client's delete outside a warm-up (a
// delete during one is noted by noteWrite). A delete of a key this node
// does not own by its ring is remembered as a relayed one is
// (noteRecentDelete): the client routed it here by a newer ring than this
// node has seen yet, so the ring change that makes the key this node's
// is on its way, and the warm-up that follows must not take the key back
// from its previous owner, which was not sent the delete.
func (s *Server) noteForeignDelete(key []byte) {
	wp := s.warmPeers()
	if wp == nil {
		return
	}
	if op, ok := wp.(ownerPeers); ok && !op.Owns(key) {
		s.noteRecentDelete(key)
	}
}

// deleteNote is a delete remembered for warm-ups (noteRecentDelete).
type deleteNote struct {
	key string
	at  time.Time
}

// noteRecentDelete records a delete of key relayed from another region
// (md G, -o invalidation_broadcast, a catch-up), or one of a key this node
// does not own yet (noteForeignDelete). For WarmupSecs after it
// the key is neither fetched nor taken from a push, as after a flush: the
// relay reaches the members of this region one by one, so the node a
// copy would come from may not have applied it yet, and the copy, stored
// here after the delete, would outlive it. (A delete made in this region
// acts on the key's owner only, and a write during a warm-up is noted by
// noteWrite.)
func (s *Server) noteRecentDelete(key []byte) {
	keep := time.Duration(s.set.WarmupSecs) * time.Second
	if keep <= 0 {
		return
	}
	w := &s.warm
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	if w.deleted == nil {
		w.deleted = map[string]time.Time{}
	}
	i := 0
	for ; i < len(w.delOrder); i++ {
		d := w.delOrder[i]
		old := now.Sub(d.at) > keep
		if !old && len(w.delOrder)-i < maxWarmDeleted {
			break
		}
		if !old {
			// Too many to remember: no copies at all until this one is
			// old enough to be forgotten.
			w.blindUntil = d.at.Add(keep)
		}
		if w.deleted[d.key].Equal(d.at) {
			delete(w.deleted, d.key)
		}
	}
	w.delOrder = append(w.delOrder[i:], deleteNote{key: string(key), at: now})
	w.deleted[string(key)] = now
}

// warmMineLocked reports whether key is this node's now (w.mu held), so
// that no copy of it from another node may be stored: no warm-up, or key
// written here during it, or flushed here lately, or deleted here lately
// by a relay or ahead of this node's ring (noteRecentDelete), or its item
// here was written by a client ahead of the change or is a warm restart's
// confirmed current (keptLocked).
func (s *Server) warmMineLocked(key []byte) bool {
	w := &s.warm
	if w.written == nil || w.full {
		return true
	}
	if _, ok := w.written[string(key)]; ok {
		return true
	}
	keep := time.Duration(s.set.WarmupSecs) * time.Second
	if at, ok := w.deleted[string(key)]; ok && time.Since(at) <= keep || time.Now().Before(w.blindUntil) {
		return true
	}
	return s.flushedRecentlyLocked(key) || s.keptLocked(key)
}

// flushedRecentlyLocked reports whether a flush here within warmup_secs
// covers key (w.mu held).
func (s *Server) flushedRecentlyLocked(key []byte) bool {
	w := &s.warm
	keep := time.Duration(s.set.WarmupSecs) * time.Second
	for i := len(w.flushed) - 1; i >= 0 && time.Since(w.flushed[i].at) <= keep; i-- {
		if f := &w.flushed[i]; len(key) >= len(f.prefix) && string(key[:len(f.prefix)]) == f.prefix {
			return true
		}
	}
	return false
}

// warmFetch runs before a read: when keys it reads moved here and are not
// here yet, it parks the connection, fetches them, and returns true (the
// request then runs again, with those keys marked tried).
func (c *conn) warmFetch(r *proto.Request) bool {
	switch {
	case r.Command.IsRetrieval():
		return c.warmFetchKeys(r.Keys)
	case r.Command == proto.CmdMetaGet:
		c.key1[0] = r.Key
		return c.warmFetchKeys(c.key1[:])
	}
	return false
}

// warmFetchBinary is warmFetch for a binary request (the GET and GAT
// families).
func (c *conn) warmFetchBinary(r *proto.BinRequest) bool {
	switch r.Base() {
	case proto.BinOpGet, proto.BinOpGetK, proto.BinOpGAT, proto.BinOpGATK:
		c.key1[0] = r.Key
		return c.warmFetchKeys(c.key1[:])
	}
	return false
}

// warmFetchKeys is warmFetch for the keys a read asks for. A datagram has
// no connection to park: its keys are noted, and serveDatagram serves the
// rest of the datagram once they are fetched (udpWarm).
func (c *conn) warmFetchKeys(keys [][]byte) bool {
	var todo []string
	var from []string
	for _, k := range keys {
		if c.warmTried[string(k)] {
			continue
		}
		// Present or not: a key that moved here and was not written,
		// fetched or pushed in this warm-up may be a copy from an
		// earlier time this node owned it, older than its previous
		// owner's (warming is false once it is settled).
		addr, ok := c.s.warming(k)
		if !ok {
			continue
		}
		todo = append(todo, string(k))
		from = append(from, addr)
	}
	if len(todo) == 0 {
		c.warmTried = nil
		return false
	}
	if c.warmTried == nil {
		c.warmTried = map[string]bool{}
	}
	for _, k := range todo {
		c.warmTried[k] = true
	}
	if c.udp != nil {
		c.udp.fetch, c.udp.from = todo, from
		return true
	}
	c.held = c.held[:0]
	c.parkWith(func() { c.s.fetchAll(todo, from) })
	return true
}

// fetchAll fetches keys (fetchFrom) from the nodes that owned them, in
// parallel; concurrent fetches of one key are one.
func (s *Server) fetchAll(keys, from []string) {
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() {
			s.warm.flight.Do(k, func() (any, error) {
				s.fetchFrom(from[i], k)
				return nil, nil
			})
		})
	}
	wg.Wait()
}

// fetchFrom copies key from addr, the node that owned it before, unless a
// write here supersedes it. The key is settled here then (warmMineLocked):
// what this node held of it before, a copy from an earlier time it owned
// the key, is replaced, or deleted when the previous owner has none or
// does not answer.
func (s *Server) fetchFrom(addr, key string) {
	s.waitRestoreCheck()
	w := &s.warm
	k := []byte(key)
	w.mu.Lock()
	mine := s.warmMineLocked(k)
	if !mine {
		w.active = time.Now()
	}
	w.mu.Unlock()
	if mine {
		return // written (here or ahead of the change), pushed or fetched here meanwhile, or the warm-up ended
	}
	w.fetches.Add(1)
	it, ok, err := s.rep.pool.Get(addr, k)
	// Writes note themselves before they run (noteWrite), and the check
	// and the store happen under the same lock: a write either comes
	// after this store (and overrides it) or is seen here.
	w.mu.Lock()
	defer w.mu.Unlock()
	if s.warmMineLocked(k) {
		return // written here meanwhile, or the warm-up ended: that write wins
	}
	s.settleLocked(key)
	switch {
	case err != nil:
		w.failures.Add(1)
	case !ok:
		w.misses.Add(1)
	}
	if err != nil || !ok || it.TTL == 0 { // (0: about to expire)
		s.store.Delete(k, nil)
		return
	}
	exptime := max(it.TTL, 0)
	if o := s.store.Set(k, it.Flags, exptime, it.Value, &lru.SetArgs{Mode: lru.ModeSet, NewCAS: it.CAS}); o.Result == lru.Stored {
		w.hits.Add(1)
		w.bytes.Add(uint64(len(it.Value)))
	}
}

// settleLocked marks key as this node's for the rest of the warm-up
// (w.mu held, a warm-up on and not full): written, pushed or fetched
// here, no copy of it is taken again; past maxWarmWritten keys, none is
// (full).
func (s *Server) settleLocked(key string) {
	w := &s.warm
	if len(w.written) >= maxWarmWritten {
		w.full = true
		return
	}
	w.written[key] = struct{}{}
}

// appendStatsWarmup is `stats warmup`.
func (s *Server) appendStatsWarmup(dst []byte) []byte {
	w := &s.warm
	active := "no"
	if s.warmOn() {
		active = "yes"
	}
	dst = proto.AppendStat(dst, "warmup_active", active)
	dst = proto.AppendStat(dst, "warmup_secs", strconv.Itoa(s.set.WarmupSecs))
	w.mu.Lock()
	elapsed := int64(0)
	if w.written != nil {
		elapsed = int64(time.Since(w.since) / time.Second)
	}
	w.mu.Unlock()
	dst = proto.AppendStat(dst, "warmup_elapsed", strconv.FormatInt(elapsed, 10)) // seconds into the warm-up under way
	dst = proto.AppendStat(dst, "warmup_fetches", strconv.FormatUint(w.fetches.Load(), 10))
	dst = proto.AppendStat(dst, "warmup_filled", strconv.FormatUint(w.hits.Load(), 10))
	dst = proto.AppendStat(dst, "warmup_misses", strconv.FormatUint(w.misses.Load(), 10))
	dst = proto.AppendStat(dst, "warmup_failures", strconv.FormatUint(w.failures.Load(), 10))
	dst = proto.AppendStat(dst, "warmup_bytes", strconv.FormatUint(w.bytes.Load(), 10))
	dst = proto.AppendStat(dst, "warmup_rate", strconv.Itoa(s.set.WarmupRate))
	dst = proto.AppendStat(dst, "warmup_pushed", strconv.FormatUint(w.pushed.Load(), 10))
	dst = proto.AppendStat(dst, "warmup_push_bytes", strconv.FormatUint(w.pushBytes.Load(), 10))
	dst = proto.AppendStat(dst, "warmup_push_failures", strconv.FormatUint(w.pushFailures.Load(), 10))
	dst = proto.AppendStat(dst, "warmup_deletes_forwarded", strconv.FormatUint(w.forwarded.Load(), 10))
	dst = proto.AppendStat(dst, "warmup_forward_failures", strconv.FormatUint(w.forwardFailures.Load(), 10))
	dst = proto.AppendStat(dst, "warmup_restore", restoreStates[w.restoreState.Load()])                    // the check of a warm restart's items (restore.go)
	dst = proto.AppendStat(dst, "warmup_restore_deleted", strconv.FormatUint(w.restoreDropped.Load(), 10)) // of them, keys written on the others meanwhile
	return proto.AppendEnd(s.appendStatsAway(dst))
}

// Drain serves on after this node has left the cluster, so that the nodes
// taking over its keys can fill them from it (their warm-up), while it
// pushes them its items (hand-over, handover.go), and returns once reads
// have stopped for a second and the push is done, or after max, whichever
// is first.
func (s *Server) Drain(max time.Duration) {
	if max <= 0 {
		return
	}
	deadline := time.Now().Add(max)
	pushing := s.handoffOnLeave(deadline)
	last, quiet := s.totals()[cCmdGet], time.Duration(0)
	for time.Now().Before(deadline) {
		if quiet >= time.Second {
			if pushing == nil {
				break
			}
			select {
			case <-pushing:
				pushing = nil
				continue
			default:
			}
		}
		time.Sleep(100 * time.Millisecond)
		if n := s.totals()[cCmdGet]; n != last {
			last, quiet = n, 0
		} else {
			quiet += 100 * time.Millisecond
		}
	}
	s.log.Info("drained after leaving the cluster", zap.Uint64("keys_read", last))
}
