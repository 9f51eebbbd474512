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

// Namespace flushes (docs/invalidation.md). `flush_prefix <prefix>` (and
// `md <prefix> A`) make every item stored before it whose key starts with
// prefix a miss, in O(1) (lru.Store.FlushPrefix). The prefix must end with
// the key delimiter (-D, default ':').
//
// With clustering on, the node that receives the flush applies it, relays
// it to every other member (`flush_prefix <prefix> relay <origin> <seq>`,
// applied there without relaying further) and answers only when all have
// acknowledged: OK, or a SERVER_ERROR naming the members that have not
// (unreachable within the timeout, or known to be down). Those keep the
// flush in a queue of their own, in order, retried every second until the
// member acknowledges; past maxQueuedFlushes the member is sent a flush_all
// instead, since it can no longer be brought up to date flush by flush.
// A member that left the cluster is dropped from the queues.

const (
	relayTimeout     = time.Second
	maxQueuedFlushes = 1024
)

type invalidator struct {
	s    *Server
	pool peers.Pool
	id   string // this node's origin name: process id and start time

	// sendMu orders this node's relays: one broadcast at a time, so every
	// member receives this origin's flushes in sequence.
	sendMu sync.Mutex

	mu     sync.Mutex
	seq    uint64                   // this node's flushes
	queued map[string]*flushBacklog // member address -> flushes it has not acknowledged
	seen   map[string]uint64        // origin -> the last of its flushes applied here

	relayed   atomic.Uint64 // flushes received from other members
	dups      atomic.Uint64 // relays received again (acknowledged, not applied)
	gaps      atomic.Uint64 // relays that showed flushes missed here (answered with a local flush_all)
	forwarded atomic.Uint64 // flushes this node relayed and the member acknowledged
	failures  atomic.Uint64 // relays that failed (queued for retry)

	stop, done chan struct{}
}

type flushBacklog struct {
	prefixes [][]byte
	seqs     []uint64
	all      bool // overflowed: a flush_all replaces the backlog
}

func (iv *invalidator) init(s *Server) {
	iv.s = s
	iv.queued = map[string]*flushBacklog{}
	iv.seen = map[string]uint64{}
	iv.pool = peers.Pool{Timeout: relayTimeout, DialTimeout: relayTimeout / 2, Auth: s.peerCredentials}
}

func (iv *invalidator) start() {
	iv.id = strconv.Itoa(os.Getpid()) + "/" + strconv.FormatInt(time.Now().UnixNano(), 36)
	iv.stop, iv.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(iv.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-iv.stop:
				return
			case <-t.C:
			}
			iv.retry()
		}
	}()
}

func (iv *invalidator) close() {
	if iv.stop != nil {
		close(iv.stop)
		<-iv.done
		iv.stop = nil
	}
	iv.pool.Close()
}

// queueLocked adds one flush to member addr's backlog.
func (iv *invalidator) queueLocked(addr string, prefix []byte, seq uint64) {
	q := iv.queued[addr]
	if q == nil {
		q = &flushBacklog{}
		iv.queued[addr] = q
	}
	if q.all {
		return
	}
	if len(q.seqs) >= maxQueuedFlushes {
		q.prefixes, q.seqs, q.all = nil, nil, true
		return
	}
	q.prefixes = append(q.prefixes, bytes.Clone(prefix))
	q.seqs = append(q.seqs, seq)
}

// broadcast relays a flush applied here to every other member and returns
// those that have not acknowledged it (queued for retry), sorted.
func (iv *invalidator) broadcast(prefix []byte) []string {
	b := iv.s.rep.peers.Load()
	if b == nil || b.p == nil {
		return nil
	}
	alive, down := b.p.Others()
	iv.sendMu.Lock()
	defer iv.sendMu.Unlock()
	iv.mu.Lock()
	iv.seq++
	seq := iv.seq
	var missed, try []string
	for _, a := range alive {
		if iv.queued[a] != nil {
			// Behind its backlog, to keep the order.
			iv.queueLocked(a, prefix, seq)
			missed = append(missed, a)
		} else {
			try = append(try, a)
		}
	}
	for _, a := range down {
		iv.queueLocked(a, prefix, seq)
		missed = append(missed, a)
	}
	iv.mu.Unlock()
	errs := make([]error, len(try))
	var wg sync.WaitGroup
	for i, a := range try {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = iv.pool.FlushPrefix(a, prefix, iv.id, seq)
		}()
	}
	wg.Wait()
	iv.mu.Lock()
	for i, a := range try {
		if errs[i] == nil {
			iv.forwarded.Add(1)
			continue
		}
		iv.failures.Add(1)
		iv.queueLocked(a, prefix, seq)
		missed = append(missed, a)
		iv.s.log.Warn("flush_prefix not relayed; queued for retry", zap.String("member", a), zap.ByteString("prefix", prefix), zap.Error(errs[i]))
	}
	iv.mu.Unlock()
	slices.Sort(missed)
	return missed
}

// retry sends each backlog in order, member by member, stopping at a
// member's first failure. Backlogs of members no longer in the cluster are
// dropped.
func (iv *invalidator) retry() {
	b := iv.s.rep.peers.Load()
	if b == nil || b.p == nil {
		return
	}
	alive, down := b.p.Others()
	iv.mu.Lock()
	var todo []string
	for a := range iv.queued {
		switch {
		case slices.Contains(alive, a):
			todo = append(todo, a)
		case !slices.Contains(down, a):
			delete(iv.queued, a)
			iv.s.log.Info("flush_prefix backlog dropped: the member left", zap.String("member", a))
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
		if !q.all && len(q.seqs) == 0 {
			delete(iv.queued, addr)
			iv.mu.Unlock()
			iv.s.log.Info("flush_prefix backlog delivered", zap.String("member", addr))
			return
		}
		all := q.all
		var prefix []byte
		var seq uint64
		if !all {
			prefix, seq = q.prefixes[0], q.seqs[0]
		}
		iv.mu.Unlock()
		var err error
		if all {
			err = iv.pool.FlushAll(addr)
		} else {
			err = iv.pool.FlushPrefix(addr, prefix, iv.id, seq)
		}
		if err != nil {
			return
		}
		iv.mu.Lock()
		if all {
			q.all = false
		} else if len(q.seqs) > 0 && q.seqs[0] == seq {
			q.prefixes, q.seqs = q.prefixes[1:], q.seqs[1:]
		}
		iv.mu.Unlock()
		iv.forwarded.Add(1)
	}
}

// receive decides what to do with relay seq of origin: apply it (false
// for one already applied: a retry whose first answer was lost), and
// whether flushes of that origin were missed (a gap in its sequence: its
// backlog for this node overflowed, or this node lost track), in which case
// nothing here can be proven current and the caller flushes everything.
// The caller reports an applied relay with applied.
func (iv *invalidator) receive(origin string, seq uint64) (apply, gap bool) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
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

// applied records that relay seq of origin took effect here.
func (iv *invalidator) applied(origin string, seq uint64) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	iv.seen[origin] = max(iv.seen[origin], seq)
}

// backlog returns the number of members with flushes waiting, and the
// flushes waiting in all.
func (iv *invalidator) backlog() (members, flushes int) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	for _, q := range iv.queued {
		members++
		flushes += len(q.seqs)
	}
	return members, flushes
}

// relayArgs reports whether the flush_prefix request r is a relay from
// another member (`relay <origin> <seq>` after the prefix, in Args), and
// whether its sequence number is well formed.
func relayArgs(r *proto.Request) (relay, ok bool) {
	args := r.Args()
	if len(args) == 0 {
		return false, true
	}
	_, err := strconv.ParseUint(string(args[1]), 10, 64)
	return true, err == nil
}

// flushPrefix runs flush_prefix and md A: the local flush, then, with
// clustering on, the relay to the other members with the connection parked
// until they answer (a datagram's reply does not wait: its relay runs in
// the background, failures queued all the same).
func (c *conn) flushPrefix(r *proto.Request) {
	meta := r.Command == proto.CmdMetaDelete
	quiet := r.NoReply || (meta && r.HasFlag('q'))
	c.st[cCmdFlushPrefix]++
	fail := func(e *proto.Error) {
		if !r.NoReply {
			c.out = proto.AppendError(c.out, e)
		}
	}
	relay := false
	if !meta {
		var ok bool
		if relay, ok = relayArgs(r); !ok {
			fail(proto.ErrBadFormat)
			return
		}
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
	var origin string
	var seq uint64
	if relay {
		args := r.Args()
		origin = string(args[0])
		seq, _ = strconv.ParseUint(string(args[1]), 10, 64)
		apply, gap := c.s.inv.receive(origin, seq)
		c.s.inv.relayed.Add(1)
		if gap {
			c.s.log.Warn("flush_prefix relays were missed: flushing everything", zap.ByteString("origin", args[0]), zap.Uint64("seq", seq))
			c.s.store.Flush(0)
			c.s.flushedAt.Store(c.s.clk.Now())
		}
		if !apply {
			c.out = proto.AppendOK(c.out)
			return
		}
	}
	if err := c.s.store.FlushPrefix(prefix); err != nil {
		if errors.Is(err, lru.ErrPrefixTableFull) {
			fail(proto.ErrPrefixTableFull)
		} else {
			fail(proto.ErrBadFormat)
		}
		return
	}
	if relay {
		c.s.inv.applied(origin, seq)
	}
	ok := func(dst []byte) []byte {
		if quiet {
			return dst
		}
		if meta {
			return proto.AppendMetaReply(dst, proto.StatusHD, 0, r, nil)
		}
		return proto.AppendOK(dst)
	}
	if relay || c.s.rep.peers.Load() == nil {
		c.out = ok(c.out)
		return
	}
	p := bytes.Clone(prefix)
	if c.udp != nil {
		go c.s.inv.broadcast(p)
		c.out = ok(c.out)
		return
	}
	// The reply waits for the other members (conn.parkWith); it is built
	// now, while r is valid.
	done := ok(nil)
	noReply := r.NoReply
	c.held = c.held[:0]
	c.parkWith(func() {
		if missed := c.s.inv.broadcast(p); len(missed) > 0 && !noReply {
			c.held = append(c.held, "SERVER_ERROR flush_prefix pending on "+strings.Join(missed, " ")+"\r\n"...)
		} else {
			c.held = append(c.held, done...)
		}
	})
}
