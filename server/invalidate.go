package server

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/slabcache/slabcache/cluster/peers"
	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
)

// Invalidations that reach every node (docs/invalidation.md).
// `flush_prefix <prefix>` (and `md <prefix> A`) make every item stored
// before it whose key starts with prefix a miss, in O(1)
// (lru.Store.FlushPrefix); the prefix must end with the key delimiter (-D,
// default ':'). `md <key> G`, and every client delete under
// -o invalidation_broadcast, delete a key in every region.
//
// With clustering on, the node that receives one applies it, relays it to
// the members concerned (every other member for a namespace flush, the
// members of other regions for a delete) and answers only when all have
// acknowledged: as usual, or a SERVER_ERROR naming the members that have
// not (unreachable within the timeout, or known to be down). Relays are
// `flush_prefix <prefix> relay <stamp> <seq>` and `delete <key> relay
// <stamp> <seq>`, applied by the member without relaying further; the
// stamp names the invalidation (invlog.go), seq counts this origin's
// relays to that member, so the member can tell a retry (already applied)
// from a gap (relays it missed); seq 0 is a catch-up, outside any
// sequence. A member that did not acknowledge keeps the relays in a
// backlog of its own here, in order, retried every second until it
// acknowledges; past maxBacklog the backlog becomes one flush_all, since
// the member can no longer be brought up to date relay by relay. A member
// that left the cluster is dropped from the backlogs.

const (
	relayTimeout = time.Second
	maxBacklog   = 1024
)

// relay kinds
const (
	relayPrefix = 'p' // flush_prefix
	relayDelete = 'd' // delete
)

type invalidator struct {
	s    *Server
	pool peers.Pool
	id   string // this node's origin name: process id and start time

	// sendMu orders this node's relays: one at a time, so every member
	// receives this origin's relays in sequence.
	sendMu sync.Mutex

	mu      sync.Mutex
	next    map[string]uint64   // member address -> the sequence number of its last relay from here
	queued  map[string]*backlog // member address -> relays it has not acknowledged
	seen    map[string]uint64   // origin -> the last of its relays applied here
	oseq    uint64              // this node's invalidations (the stamps it makes)
	log     invLog              // recent invalidations applied here, for members catching up (invlog.go)
	logged  map[string]struct{} // the stamps in log
	returns map[string]uint64   // Peers.Returns at the last tick (catch-up of members that came back)
	behind  map[string]bool     // members that came back and are not caught up yet
	// tryingDown: members down here whose backlog is being tried (retry)
	tryingDown map[string]bool

	relayed   atomic.Uint64 // relays received from other members
	dups      atomic.Uint64 // relays received again (acknowledged, not applied)
	caughtUp  atomic.Uint64 // invalidations applied from another member's log
	gaps      atomic.Uint64 // relays that showed others missed here (answered with a local flush_all)
	forwarded atomic.Uint64 // relays this node sent and the member acknowledged
	failures  atomic.Uint64 // relays that failed (queued for retry)

	stop, done chan struct{}
}

type relayEntry struct {
	kind  byte
	key   []byte
	stamp string // the invalidation's identity (invlog.go)
	seq   uint64 // this relay's place in the origin's sequence to the member
}

type backlog struct {
	entries []relayEntry
	all     bool // overflowed: a flush_all replaces the backlog
}

func (iv *invalidator) init(s *Server) {
	iv.s = s
	iv.next = map[string]uint64{}
	iv.queued = map[string]*backlog{}
	iv.seen = map[string]uint64{}
	iv.logged = map[string]struct{}{}
	iv.behind = map[string]bool{}
	iv.tryingDown = map[string]bool{}
	iv.pool = peers.Pool{Timeout: relayTimeout, DialTimeout: relayTimeout / 2, Auth: s.peerCredentials, TLS: s.MemberTLS}
}

func (iv *invalidator) start() {
	iv.id = strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	iv.stop, iv.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(iv.done)
		every(iv.stop, time.Second, iv.retry)
	}()
}

// every calls fn every d until stop is closed.
func every(stop <-chan struct{}, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		fn()
	}
}

func (iv *invalidator) close() {
	if iv.stop != nil {
		close(iv.stop)
		<-iv.done
		iv.stop = nil
	}
	iv.pool.Close()
}

// queueLocked adds one relay to member addr's backlog.
func (iv *invalidator) queueLocked(addr string, e relayEntry) {
	q := iv.queued[addr]
	if q == nil {
		q = &backlog{}
		iv.queued[addr] = q
	}
	if q.all {
		return
	}
	if len(q.entries) >= maxBacklog {
		q.entries, q.all = nil, true
		return
	}
	q.entries = append(q.entries, e)
}

// send delivers one relay to member addr.
func (iv *invalidator) send(addr string, e relayEntry) error {
	if e.kind == relayDelete {
		return iv.pool.DeleteRelay(addr, e.key, e.stamp, e.seq)
	}
	return iv.pool.FlushPrefix(addr, e.key, e.stamp, e.seq)
}

// peers returns the cluster, or nil when clustering is off.
func (iv *invalidator) peers() Peers {
	if b := iv.s.rep.peers.Load(); b != nil {
		return b.p
	}
	return nil
}

// relay sends an invalidation applied here (kind, key) to the members
// alive and down, and returns those that have not acknowledged it (queued
// for retry), sorted.
func (iv *invalidator) relay(kind byte, key []byte, alive, down, departed []string) []string {
	iv.sendMu.Lock()
	defer iv.sendMu.Unlock()
	iv.mu.Lock()
	iv.oseq++
	st := makeStamp(iv.id, iv.oseq, iv.region())
	iv.recordLocked(st, kind, key)
	entry := func(a string) relayEntry {
		iv.next[a]++
		return relayEntry{kind: kind, key: key, stamp: st, seq: iv.next[a]}
	}
	var missed, try []string
	var tries []relayEntry
	for _, a := range departed {
		// Best effort: one that does not answer has stopped (and is
		// caught up if it comes back, catchUp), so it is not missed.
		try = append(try, a)
		tries = append(tries, entry(a))
	}
	for _, a := range alive {
		if iv.queued[a] != nil {
			// Behind its backlog, to keep the order.
			iv.queueLocked(a, entry(a))
			missed = append(missed, a)
		} else {
			try = append(try, a)
			tries = append(tries, entry(a))
		}
	}
	for _, a := range down {
		iv.queueLocked(a, entry(a))
		missed = append(missed, a)
	}
	iv.mu.Unlock()
	errs := make([]error, len(try))
	var wg sync.WaitGroup
	for i, a := range try {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = iv.send(a, tries[i])
		}()
	}
	wg.Wait()
	iv.mu.Lock()
	for i, a := range try {
		if errs[i] == nil {
			iv.forwarded.Add(1)
			continue
		}
		if i < len(departed) {
			continue
		}
		iv.failures.Add(1)
		iv.queueLocked(a, tries[i])
		missed = append(missed, a)
		iv.s.log.Warn("invalidation not relayed; queued for retry", zap.String("member", a),
			zap.String("kind", string(kind)), zap.ByteString("key", key), zap.Error(errs[i]))
	}
	iv.mu.Unlock()
	slices.Sort(missed)
	return missed
}

// broadcast relays a namespace flush to every other member.
func (iv *invalidator) broadcast(prefix []byte) []string {
	p := iv.peers()
	if p == nil {
		return nil
	}
	alive, down := p.Others()
	return iv.relay(relayPrefix, prefix, alive, down, p.Departed())
}

// deleteRemote relays a delete to the members of the other regions.
func (iv *invalidator) deleteRemote(key []byte) []string {
	p := iv.peers()
	if p == nil {
		return nil
	}
	alive, down := p.Remote()
	if len(alive)+len(down) == 0 {
		return nil
	}
	return iv.relay(relayDelete, key, alive, down, nil)
}

// retry sends each backlog in order, member by member, stopping at a
// member's first failure. Backlogs of members no longer in the cluster are
// dropped.
func (iv *invalidator) retry() {
	p := iv.peers()
	if p == nil {
		return
	}
	alive, down := p.Others()
	iv.s.deliverAway(alive, down)
	iv.catchUp(alive, p.Returns())
	iv.mu.Lock()
	var todo []string
	for a := range iv.queued {
		switch {
		case iv.tryingDown[a]:
			// Being tried on the side (below): one drain at a time, so
			// that the member gets the relays in order.
		case slices.Contains(alive, a):
			todo = append(todo, a)
		case !slices.Contains(down, a):
			delete(iv.queued, a)
			iv.s.log.Info("invalidation backlog dropped: the member left", zap.String("member", a))
		default:
			// Down here, but it may answer already: after a partition
			// heals, gossip can take many seconds to see it alive while
			// it serves the clients that reach it. Tried on the side, so
			// that a member that does not answer holds up nothing.
			iv.tryingDown[a] = true
			go func() {
				iv.drain(a)
				iv.mu.Lock()
				delete(iv.tryingDown, a)
				iv.mu.Unlock()
			}()
		}
	}
	iv.mu.Unlock()
	for _, a := range todo {
		iv.drain(a)
	}
}

// drain sends member addr its backlog.
func (iv *invalidator) drain(addr string) {
	for {
		iv.mu.Lock()
		q := iv.queued[addr]
		if q == nil {
			iv.mu.Unlock()
			return
		}
		if !q.all && len(q.entries) == 0 {
			delete(iv.queued, addr)
			iv.mu.Unlock()
			iv.s.log.Info("invalidation backlog delivered", zap.String("member", addr))
			return
		}
		all := q.all
		var e relayEntry
		if !all {
			e = q.entries[0]
		}
		iv.mu.Unlock()
		var err error
		if all {
			err = iv.pool.FlushAll(addr)
		} else {
			err = iv.send(addr, e)
		}
		if err != nil {
			return
		}
		iv.mu.Lock()
		if all {
			q.all = false
		} else if len(q.entries) > 0 && q.entries[0].seq == e.seq {
			q.entries = q.entries[1:]
		}
		iv.mu.Unlock()
		iv.forwarded.Add(1)
	}
}

// receive decides what to do with relay seq of origin: apply it (false
// for one already applied: a retry whose first answer was lost), and
// whether relays of that origin were missed (a gap in its sequence: its
// backlog for this node overflowed, or this node lost track), in which case
// nothing here can be proven current and the caller flushes everything.
// The caller reports an applied relay with applied.
func (iv *invalidator) receive(st string, seq uint64) (apply, gap bool) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	if _, ok := iv.logged[st]; ok {
		iv.dups.Add(1) // applied already (a retry, or a catch-up)
		if seq != 0 {
			// Still its place in the origin's sequence: a relay a
			// catch-up delivered first must not make the next one look
			// like a gap.
			origin := stampOrigin(st)
			iv.seen[origin] = max(iv.seen[origin], seq)
		}
		return false, false
	}
	if seq == 0 {
		iv.caughtUp.Add(1) // a catch-up: no place in a sequence
		return true, false
	}
	origin := stampOrigin(st)
	last, known := iv.seen[origin]
	switch {
	case known && seq <= last:
		iv.dups.Add(1)
		return false, false
	case known && seq > last+1:
		iv.gaps.Add(1)
		return true, true
	}
	return true, false
}

// applied records that relay seq with stamp st (kind, key) took effect
// here.
func (iv *invalidator) applied(st string, seq uint64, kind byte, key []byte) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	if seq != 0 {
		// A catch-up (seq 0) says nothing of where the origin's
		// sequence to this node stands: were it to count as 0, the
		// origin's next relay would look like a gap, and flush
		// everything (a node restarted warm is caught up first).
		origin := stampOrigin(st)
		iv.seen[origin] = max(iv.seen[origin], seq)
	}
	iv.recordLocked(st, kind, key)
}

// backlog returns the number of members with relays waiting, and the
// relays waiting in all.
func (iv *invalidator) backlog() (members, relays int) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	for _, q := range iv.queued {
		members++
		relays += len(q.entries)
	}
	return members, relays
}

// relayOf returns the stamp and sequence number of a relay from another
// member (`relay <stamp> <seq>` after the key, in Args); ok is false for
// a request that is not one, or whose sequence number is not a number.
func relayOf(r *proto.Request) (st string, seq uint64, ok bool) {
	args := r.Args()
	if len(args) != 2 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(string(args[1]), 10, 64)
	if err != nil || !validStamp(string(args[0])) {
		return "", 0, false
	}
	return string(args[0]), seq, true
}

// acceptRelay checks a relay's place in its origin's sequence: it reports
// whether to apply it (false for a relay already applied) and, when the
// sequence shows relays this node missed, flushes everything first.
func (c *conn) acceptRelay(st string, seq uint64) bool {
	apply, gap := c.s.inv.receive(st, seq)
	c.s.inv.relayed.Add(1)
	switch {
	case gap && !c.s.set.FlushEnabled:
		// -F: no flush_all, not even this one (relays come from any
		// connection that may send requests).
		c.s.log.Warn("invalidation relays were missed; flush_all is disabled (-F), so nothing more is flushed", zap.String("stamp", st), zap.Uint64("seq", seq))
	case gap:
		c.s.log.Warn("invalidation relays were missed: flushing everything", zap.String("stamp", st), zap.Uint64("seq", seq))
		c.s.flushAll(0)
	}
	return apply
}

// relayAndReply answers a request whose invalidation was applied here once
// fn has relayed it to the members concerned: done (built now, while r is
// valid) when all acknowledged, else a SERVER_ERROR naming the others. The
// connection is parked meanwhile (conn.parkWith); a datagram's reply does
// not wait (its relay runs in the background, failures queued all the
// same).
func (c *conn) relayAndReply(what string, done []byte, noReply bool, fn func() []string) {
	if c.udp != nil {
		go fn()
		c.out = append(c.out, done...)
		return
	}
	c.held = c.held[:0]
	c.parkWith(func() {
		if missed := fn(); len(missed) > 0 && !noReply {
			c.held = append(c.held, "SERVER_ERROR "+what+" pending on "+strings.Join(missed, " ")+"\r\n"...)
		} else {
			c.held = append(c.held, done...)
		}
	})
}

// flushPrefix runs flush_prefix and md A: the local flush, then, with
// clustering on, the relay to the other members before the reply.
func (c *conn) flushPrefix(r *proto.Request) {
	meta := r.Command == proto.CmdMetaDelete
	quiet := r.NoReply || (meta && r.HasFlag('q'))
	c.st[cCmdFlushPrefix]++
	fail := func(e *proto.Error) {
		if !r.NoReply {
			c.out = proto.AppendError(c.out, e)
		}
	}
	st, seq, relay := relayOf(r)
	if !meta && !relay && len(r.Args()) != 0 {
		fail(proto.ErrBadFormat) // a relay with a bad sequence number
		return
	}
	if !relay && !c.s.set.FlushEnabled {
		fail(proto.ErrFlushPrefixDisabled)
		return
	}
	prefix := r.Key
	if len(prefix) == 0 || prefix[len(prefix)-1] != c.s.set.PrefixDelimiter {
		fail(proto.ErrBadFormat)
		return
	}
	if relay && !c.acceptRelay(st, seq) {
		c.out = proto.AppendOK(c.out)
		return
	}
	if err := c.s.store.FlushPrefix(prefix); err != nil {
		if errors.Is(err, lru.ErrPrefixTableFull) {
			fail(proto.ErrPrefixTableFull)
		} else {
			fail(proto.ErrBadFormat)
		}
		return
	}
	c.s.noteFlush(prefix)
	if relay {
		c.s.inv.applied(st, seq, relayPrefix, prefix)
	}
	var done []byte
	switch {
	case quiet:
	case meta:
		done = proto.AppendMetaReply(nil, proto.StatusHD, 0, r, nil)
	default:
		done = proto.AppendOK(nil)
	}
	if relay || c.s.inv.peers() == nil {
		c.out = append(c.out, done...)
		return
	}
	p := bytes.Clone(prefix)
	c.relayAndReply("flush_prefix", done, r.NoReply, func() []string { return c.s.inv.broadcast(p) })
}

// clientDelete reports whether r deletes a key at a client's request: a
// delete that is not a member's relay, or an md that is not a namespace
// flush (md A).
func clientDelete(r *proto.Request) bool {
	switch r.Command {
	case proto.CmdDelete:
		_, _, relay := relayOf(r)
		return !relay
	case proto.CmdMetaDelete:
		return !r.HasFlag('A')
	}
	return false
}

// broadcastDelete reports whether a client's delete (clientDelete) is to
// reach every region: md with G, or any delete under
// -o invalidation_broadcast; only with clustering on.
func (c *conn) broadcastDelete(r *proto.Request) bool {
	return (c.s.set.InvalidationBroadcast || r.Command == proto.CmdMetaDelete && r.HasFlag('G')) && c.s.inv.peers() != nil
}

// deleteEverywhere follows a delete applied here whose reply (from mark
// on) must wait until the others it concerns have applied it: the members
// of the other regions (remote: md G, -o invalidation_broadcast), and the
// key's new owner when it moved away from here lately (owner, see
// movedOwner; there any other write is a delete too). Those that did not
// acknowledge are named in the reply.
func (c *conn) deleteEverywhere(r *proto.Request, mark int, remote bool, owner string) {
	if line, _, _ := bytes.Cut(c.out[mark:], []byte("\r\n")); proto.LookupError(line) != nil {
		return // an error: nothing was deleted, nothing to relay
	}
	done := bytes.Clone(c.out[mark:])
	c.out = c.out[:mark]
	k := bytes.Clone(r.Key)
	what := "delete"
	if r.Command != proto.CmdDelete && r.Command != proto.CmdMetaDelete {
		what = "write" // a store, arithmetic or touch: the new owner's older copy goes
	}
	c.relayAndReply(what, done, r.NoReply, func() []string {
		if rep := &c.s.rep; rep.has(k) {
			rep.push(string(k)) // its hot-key copies in this region go first
		}
		var missed []string
		if owner != "" && c.s.forwardMovedDelete(owner, k) != nil {
			missed = append(missed, owner)
		}
		if remote {
			missed = append(missed, c.s.inv.deleteRemote(k)...)
		}
		slices.Sort(missed)
		return missed
	})
}

// acceptDeleteRelay is acceptRelay for a delete from another member.
func (c *conn) acceptDeleteRelay(st string, seq uint64) bool {
	if seq == 0 && stampRegion(st) == c.s.inv.region() {
		// A catch-up of a delete made in this region: there it acted
		// on the key's owner only.
		return false
	}
	return c.acceptRelay(st, seq)
}
