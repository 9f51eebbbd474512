package server

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/slabcache/slabcache/cluster"
	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
)

// A warm restart in a cluster (docs/cluster.md, "A warm restart in a
// cluster"). A node restarted from its memory file comes back with the
// items it held when it stopped; of its own keys, those written on the
// others while it was away are stale, and its warm-up treats every one of
// them as moved to it (a read fetches it from the node that held it
// meanwhile, and the copies nothing read are dropped when the warm-up
// ends). The others noted exactly which of its keys they wrote meanwhile
// (away.go). So once it has joined, the node asks each of them (`cluster
// away <self>`) for those notes and the namespaces flushed there since it
// went, deletes the keys and flushes the namespaces, and, when
// every member vouches that it noted over the whole absence and that
// nothing else changed on the ring (cluster.Absence), keeps the rest of
// its items as current for the warm-up of its join: they are served
// without a fetch, and not dropped at its end. Reads that need a fetch
// wait for that answer (a few milliseconds; at most restoreWait).

// restoreWait bounds the wait for the members to see this node back and
// vouch for its absence.
const restoreWait = 3 * time.Second

// restoreSettle is the pause between the two rounds of questions: a write
// on a member that raced with the first answer is noted by the second.
const restoreSettle = 100 * time.Millisecond

// The states of the check (`stats warmup`: warmup_restore).
const (
	restoreNone        = iota // no warm restart's items to check (not restarted warm, not a cluster member, or warm-up off)
	restoreChecking           // asking the members
	restoreConfirmed          // every member vouched: the items are kept
	restoreUnconfirmed        // the warm-up confirms them as after any ring change
)

var restoreStates = [...]string{"none", "checking", "confirmed", "unconfirmed"}

// restorePeers is what the check needs from the cluster (cluster.Node).
type restorePeers interface {
	Neighbours() (alive, failed []string)
	Self() string
	RingChanged() time.Time
}

// absencePeers is what `cluster away` needs from the cluster
// (cluster.Node).
type absencePeers interface {
	Absence(addr string) cluster.Absence
}

// startRestoreCheck starts the check of a warm restart's items when this
// node has them and is a cluster member with warm-up on (SetPeers, before
// the node listens).
func (s *Server) startRestoreCheck() {
	rp, ok := peersAs[restorePeers](s)
	if !ok || s.warmPeers() == nil || s.store.Restored().Items == 0 || s.warm.restoring.Load() != nil {
		return
	}
	ch := make(chan struct{})
	if !s.warm.restoring.CompareAndSwap(nil, &ch) {
		return
	}
	s.warm.restoreState.Store(restoreChecking)
	go func() {
		defer close(ch)
		st := int32(restoreUnconfirmed)
		if s.confirmRestore(rp) {
			st = restoreConfirmed
		}
		s.warm.restoreState.Store(st)
	}()
}

// waitRestoreCheck waits for the check of a warm restart's items, if one
// is under way.
func (s *Server) waitRestoreCheck() {
	ch := s.warm.restoring.Load()
	if ch == nil {
		return
	}
	select {
	case <-*ch:
		return
	default:
	}
	t := time.NewTimer(restoreWait + 2*time.Second)
	defer t.Stop()
	select {
	case <-*ch:
	case <-t.C:
	}
}

// confirmRestore asks every member of the region for the keys of this
// node written there while it was away, deletes them here, and keeps the
// rest of the memory file's items for the warm-up of the join when every
// member vouches for the absence (it reports whether they did).
func (s *Server) confirmRestore(rp restorePeers) bool {
	fail := func(why string, f ...zap.Field) bool {
		s.log.Info("warm restart: the memory file's items of this node's keys are confirmed by its warm-up as after any ring change: "+why, f...)
		return false
	}
	deadline := time.Now().Add(restoreWait)
	self := rp.Self()
	dropped := 0
	var since time.Time
	var alive []string
	for round := range 2 {
		if round == 1 {
			time.Sleep(restoreSettle)
		}
		// The ring and the members as they are now: while the join's
		// gossip settles, this node may see them in more than one step
		// (a change the members did not see as one; another one, they
		// report as changed).
		since = rp.RingChanged()
		if since.IsZero() {
			return false // alone: no key moved
		}
		s.refreshWarm()
		var failed []string
		if alive, failed = rp.Neighbours(); len(failed) > 0 {
			return fail("a member is failed", zap.Strings("failed", failed))
		}
		for _, addr := range alive {
			notes, err := s.awayNotesOnceBack(addr, self, deadline)
			switch {
			case err != nil || notes.State == cluster.AbsenceAway.String():
				return fail("a member did not answer in time", zap.String("member", addr), zap.String("state", notes.State), zap.Error(err))
			case notes.State == cluster.AbsenceWarming.String() && !s.warm.settledAtStop:
				return fail("a member saw this node go soon after keys moved to it, and its stop did not find them settled", zap.String("member", addr))
			case notes.State != cluster.AbsenceClean.String() && notes.State != cluster.AbsenceWarming.String():
				return fail("a member cannot vouch for the absence", zap.String("member", addr), zap.String("state", notes.State))
			}
			n, err := s.dropWrittenAway(since, notes)
			if err != nil {
				return fail(err.Error())
			}
			dropped += n
		}
	}
	if len(alive) == 0 {
		return false
	}
	w := &s.warm
	w.mu.Lock()
	ok := w.since.Equal(since) && w.written != nil
	if ok {
		w.trusted = since
	}
	w.mu.Unlock()
	if !ok {
		return fail("the ring changed again, or the warm-up ended")
	}
	s.log.Info("warm restart: every member vouched for this node's absence; the memory file's items are kept, but for the keys written on the others meanwhile",
		zap.Int("members", len(alive)), zap.Int("deleted", dropped))
	return true
}

// awayNotesOnceBack asks member addr `cluster away <self>` until it
// answers anything but away (it has not seen this node back yet), or
// deadline passes: the last answer, or the last error.
func (s *Server) awayNotesOnceBack(addr, self string, deadline time.Time) (proto.AwayNotes, error) {
	for {
		notes, err := s.rep.pool.AwayNotes(addr, self)
		if err == nil && notes.State != cluster.AbsenceAway.String() || time.Now().After(deadline) {
			return notes, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dropWrittenAway deletes here the keys a member wrote while this node was
// away, but those written, fetched or pushed here since (the warm-up of
// the join at since, which must still be on), and flushes the namespaces
// it flushed meanwhile.
func (s *Server) dropWrittenAway(since time.Time, notes proto.AwayNotes) (int, error) {
	w := &s.warm
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.since.Equal(since) || w.written == nil {
		return 0, errors.New("the ring changed again, or the warm-up ended")
	}
	for _, p := range notes.Prefixes {
		if err := s.store.FlushPrefix(p); err != nil {
			return 0, fmt.Errorf("a namespace flushed meanwhile cannot be flushed here: %w", err)
		}
	}
	n := 0
	for _, k := range notes.Keys {
		if _, ok := w.written[string(k)]; ok {
			continue
		}
		if s.store.Delete(k, nil).Result == lru.Deleted {
			n++
		}
	}
	w.restoreDropped.Add(uint64(n))
	return n, nil
}

// trustedLocked reports whether the items here are a memory file's
// confirmed current for the current warm-up (w.mu held).
func (s *Server) trustedLocked() bool {
	w := &s.warm
	return !w.trusted.IsZero() && w.trusted.Equal(w.since)
}

// noteSettled names the restart note settledForRestart writes.
const noteSettled = "warmup_settled"

// settledForRestart records, for the warm restart after this graceful
// stop, whether this node holds no copy of a key that moved to it and was
// not confirmed: it last took keys (gained, by its own rings, which go back
// to its join) at least warmup_secs ago, so the warm-up of that change is
// over, and no sweep of an ended warm-up's unconfirmed copies was cut
// short. A member that saw it go soon after a change answers `warming`
// (it may not know what the change gave this node); the restarted node
// then keeps its items only with this note.
func (s *Server) settledForRestart(gained time.Time) {
	w := &s.warm
	w.mu.Lock()
	cut := w.dropCut
	w.mu.Unlock()
	settled := !cut && s.set.WarmupSecs > 0 && time.Since(gained) >= time.Duration(s.set.WarmupSecs)*time.Second
	s.store.SetRestartNote(noteSettled, strconv.FormatBool(settled))
}

// appendAwayReport is the reply to `cluster away <addr>`: how this node saw
// member addr's absence, and when clean (it is back, the ring changed in
// no other way, and it may keep what it held) or warming (the same, if
// it knows the keys that moved to it before it went had settled) the
// keys written here that it owns and the namespaces flushed.
func (s *Server) appendAwayReport(dst []byte, addr string) []byte {
	ap, ok := peersAs[absencePeers](s)
	if !ok || s.warmPeers() == nil {
		// Without warm-up, writes of keys that moved are not forwarded
		// to their new owner (movedOwner).
		return proto.AppendEnd(proto.AppendAwayHead(dst, addr, cluster.AbsenceUnknown.String()))
	}
	ab := ap.Absence(addr)
	state := ab.State
	prefixes, flushedAll := s.flushedSince(ab.Since.Add(-aheadWindow)) // (a client may run ahead of this node's ring)
	keep := time.Duration(s.set.WarmupSecs) * time.Second
	switch {
	case state != cluster.AbsenceClean:
	case s.forward.Load()&fwdRing != 0 || s.away.sweeping.Load() > 0:
		// Its return is not in place here yet, or the writes just
		// before it went are still being looked for (noteAheadForAway).
		state = cluster.AbsenceAway
	case flushedAll:
		// A flush_all here it missed (or flushes past maxFlushed).
		state = cluster.AbsenceChanged
	case !ab.Before.IsZero() && ab.Since.Sub(ab.Before) < keep:
		// It went away soon after keys moved to it, maybe with copies
		// of them not confirmed yet: it knows whether it had any
		// (settledForRestart).
		state = cluster.AbsenceWarming
	}
	var keys []string
	if state == cluster.AbsenceClean || state == cluster.AbsenceWarming {
		var full bool
		keys, full = s.away.notesFor(addr)
		if full {
			state = cluster.AbsenceChanged
		}
	}
	dst = proto.AppendAwayHead(dst, addr, state.String())
	if state == cluster.AbsenceClean || state == cluster.AbsenceWarming {
		for _, k := range keys {
			dst = proto.AppendAwayKey(dst, k)
		}
		for _, p := range prefixes {
			dst = proto.AppendAwayPrefix(dst, p)
		}
	}
	return proto.AppendEnd(dst)
}

// flushedSince returns the namespaces flushed here since t, and whether
// everything was (a flush_all, or more flushes than maxFlushed).
func (s *Server) flushedSince(t time.Time) (prefixes []string, all bool) {
	w := &s.warm
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.flushedLost.IsZero() && !w.flushedLost.Before(t) {
		return nil, true
	}
	for _, f := range w.flushed {
		switch {
		case f.at.Before(t):
		case f.prefix == "":
			return nil, true
		default:
			prefixes = append(prefixes, f.prefix)
		}
	}
	return prefixes, false
}

// noteAheadForAway runs on a ring change at since while a member is away:
// it notes for the away members the keys of theirs written here less than
// aheadWindow before this node saw the change (ahead.go). A client that
// learned of a member's going from another member first wrote them here
// while this node still saw the member alive, and noted nothing; were the
// member to come back with its memory file and be vouched for (`cluster
// away`), it would keep its older copies of them. The store is swept in
// the background; `cluster away` answers away until it is done.
func (s *Server) noteAheadForAway(since time.Time) {
	ap := s.awayPeers()
	if ap == nil || !ap.Away() {
		return
	}
	floor := s.aheadFloor(since)
	if floor == math.MaxUint64 {
		return // no sample that old (or -C): nothing to tell by
	}
	// Items stored from now on are not looked at: writes after the change
	// note themselves, and a hand-over push or a warm-up's fetch is not a
	// write the member missed (its deletes would reach a member that
	// leaves while it still hands its items over).
	upper := s.store.CASFloor()
	w := &s.warm
	w.mu.Lock()
	defer w.mu.Unlock()
	s.away.sweeping.Add(1)
	started := s.sweepLocked(func() {
		defer s.away.sweeping.Add(-1)
		s.sweepStore(func(d *lru.DumpItem) bool {
			if !drawnSince(d.CAS, d.GivenCAS, floor) || d.CAS >= upper {
				return false
			}
			_, ok := ap.AwayOwner(d.Key)
			return ok
		}, func(key []byte) {
			if addr, ok := ap.AwayOwner(key); ok {
				s.noteAwayFor(addr, key)
			}
		})
	})
	if !started {
		s.away.sweeping.Add(-1)
	}
}

// notesFor returns the keys noted for member addr, and whether its notes
// are full (past maxAwayKeys: it is to be flushed instead).
func (a *awayLog) notesFor(addr string) (keys []string, full bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.members[addr]
	if m == nil {
		return nil, false
	}
	b := m.keys.Take()
	return b.Keys, b.Full
}
