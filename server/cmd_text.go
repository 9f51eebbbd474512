package server

import (
	"go.uber.org/zap"

	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
)

// The classic text commands: get, gets, gat, gats, the storage commands,
// delete, incr, decr, touch, flush_all, verbosity, cache_memlimit and
// shutdown.

// valueHit is the store's Hit for one key of get, gets, gat or gats: it
// appends the VALUE block of the found item.
type valueHit struct {
	out *[]byte
	key []byte
	cas bool
	big *bigValue // where a large value goes instead of out (nil: copy)
	c   *conn     // notes the item the reply holds (holdReply)
}

// Hit implements lru.Hit.
func (h *valueHit) Hit(it *lru.Item) {
	out := *h.out
	h.c.holdReply(it, len(out))
	if h.c.vv {
		h.c.vline('>', []byte("sending key "), h.key)
	}
	if h.cas {
		out = proto.AppendValueHeaderCAS(out, h.key, it.Flags, it.Len, it.CAS)
	} else {
		out = proto.AppendValueHeader(out, h.key, it.Flags, it.Len)
	}
	if it.Len >= sendDirectMin && h.big.take(it, crlf) {
		*h.out = out
		return
	}
	out = it.AppendValue(out)
	*h.out = append(out, '\r', '\n')
}

// get serves get, gets, gat and gats. A multi-get whose replies outgrow
// outputPause stops after a key and goes on from there once the client has
// read them (c.more).
func (c *conn) get(r *proto.Request) {
	var args lru.GetArgs
	touch := r.Command == proto.CmdGat || r.Command == proto.CmdGats
	if touch {
		args.Touch = true
		args.Exptime = int64(r.Exptime)
	}
	withCAS := r.Command == proto.CmdGets || r.Command == proto.CmdGats
	if lim := c.s.net.respLimit; lim > 0 && c.udp == nil && c.more.resume == 0 {
		if c.resps+len(r.Keys) > lim {
			c.s.counts.respOOM.Add(1)
			c.out = proto.AppendError(c.out, proto.ErrGetNoMemory)
			if c.vv {
				c.vReply([]byte(proto.ErrGetNoMemory.Reply()), false)
			}
			return
		}
		c.resps += len(r.Keys)
	}
	var hashes [prefetchDepth]uint64 // of the keys being prefetched
	big := c.big()
	for _, k := range r.Keys[c.more.resume:] {
		if len(k) > proto.MaxKeyLen {
			big = nil // replies before the long key are dropped, so none may go out early
			break
		}
	}
	for i := c.more.resume; i < len(r.Keys); i++ {
		if c.udp != nil && i > 0 {
			// Over UDP each key's reply is sent on its own, as memcached
			// does; a datagram cannot ask for more than outputPause of
			// replies (docs/compat.md).
			c.udpMark(true)
			if len(c.out) > outputPause {
				c.udpDropReplies()
				c.out = proto.AppendError(c.out, proto.ErrGetNoMemory)
				return
			}
		} else if i > c.more.resume && c.pendingOut() > outputPause {
			c.more.resume = i
			c.more.suspended = true
			return
		}
		key := r.Keys[i]
		if len(key) > proto.MaxKeyLen {
			// memcached 1.6.45 drops the replies it has not sent yet (those
			// after sentMark), then answers this (ErrGetKeyTooLong) and
			// nothing more.
			if c.udp != nil {
				c.udpDropReplies()
			} else {
				c.dropUnsent()
			}
			if !r.NoReply {
				c.out = proto.AppendError(c.out, proto.ErrGetKeyTooLong)
			}
			if c.vv {
				// memcached prints the line as it sends it, the empty
				// line after it included.
				e := proto.ErrGetKeyTooLong.Reply()
				c.s.vprintf(">%d %s\n", c.fd(), e[:len(e)-2])
			}
			c.more.resume = 0
			return
		}
		if touch {
			c.st[cCmdTouch]++ // memcached 1.6.45 counts gat and gats in cmd_touch only
		} else {
			c.st[cCmdGet]++
		}
		if c.s.net.prefetch {
			c.prefetchKeys(r.Keys, i, i == c.more.resume, &hashes)
		}
		// Field by field, as a literal would be built aside and copied.
		h := &c.hit
		h.out, h.key, h.cas, h.big, h.c = &c.out, key, withCAS, big, c
		o := c.s.store.Get(key, &args, h)
		h.out, h.key, h.big = nil, nil, nil
		c.countRead(&o, touch)
		if c.s.obs.on.Load() {
			c.observeGet(key, o, false)
		}
		if c.bigv.pinned {
			if i == len(r.Keys)-1 {
				// The value's CRLF and END go in the same writev.
				c.bigv.tail = crlfEnd
				c.sendBig()
				c.more.resume = 0
				return
			}
			c.sendBig()
		}
	}
	c.more.resume = 0
	c.out = proto.AppendEnd(c.out)
	if c.vv {
		c.vline('>', []byte("END"))
	}
}

// prefetchKeys is a multi-get's look-ahead: while key i is looked up, the
// next key's item and the index entries of the prefetchDepth-1 keys after
// it load (see prefetcher). first: key i is the first this call of get
// does; hashes keeps the keys' hashes from one step to the next.
func (c *conn) prefetchKeys(keys [][]byte, i int, first bool, hashes *[prefetchDepth]uint64) {
	st := c.s.store
	if first {
		for j := i + 1; j < min(len(keys), i+1+prefetchDepth); j++ {
			hashes[j%prefetchDepth] = st.PrefetchIndex(keys[j])
		}
	} else if j := i + prefetchDepth; j < len(keys) {
		hashes[j%prefetchDepth] = st.PrefetchIndex(keys[j])
	}
	if i+1 < len(keys) {
		st.PrefetchItem(hashes[(i+1)%prefetchDepth])
	}
}

// countRead counts a get (or, with touch, a gat) that found o.
func (c *conn) countRead(o *lru.Outcome, touch bool) {
	switch {
	case o.Result == lru.Found:
		c.hitAdd(o.Class, o.Segment, touch)
	case touch:
		c.st[cTouchMisses]++
	default:
		c.st[cGetMisses]++
	}
}

// storeWhole handles a storage command whose value is in r.Value.
func (c *conn) storeWhole(r *proto.Request) {
	res := c.s.store.Reserve(&c.up.resv, r.Key, r.ClientFlags, int64(r.Exptime), len(r.Value))
	if res != lru.Stored {
		c.storeFailed(r, res)
		return
	}
	c.up.resv.Write(r.Value)
	c.commit(r)
}

// storeFailed answers a storage command whose item could not be allocated,
// and, for set, removes the old item as memcached does (so a failed set
// never leaves stale data behind).
func (c *conn) storeFailed(r *proto.Request, res lru.Result) {
	// Not in cmd_set: memcached counts a store once its item is allocated.
	counted := c.takeCounted() // (by then for its prefix too)
	e := proto.ErrOutOfMemory
	if res == lru.TooLarge {
		e = proto.ErrTooLarge
		c.st[cStoreTooLarge]++
	} else {
		c.st[cStoreNoMemory]++
	}
	if c.s.obs.on.Load() {
		c.observeStore(r, lru.Outcome{Result: res}, !counted)
	}
	if r.Command == proto.CmdMetaSet {
		// The error is sent even with q.
		c.out = proto.AppendError(c.out, e)
	} else if !r.NoReply {
		c.out = proto.AppendError(c.out, e)
	}
	// memcached removes the old item so that a failed store never leaves
	// stale data: for set, and for ms in every mode.
	if r.Command == proto.CmdSet || r.Command == proto.CmdMetaSet {
		c.s.store.Delete(r.Key, nil)
	}
}

// commit publishes the filled reservation for r and answers.
func (c *conn) commit(r *proto.Request) {
	if r.Command == proto.CmdMetaSet {
		if r.HasFlag('H') {
			c.handoverCommit(r)
			return
		}
		if c.peerAddr != "" && c.copyRefused(r.Key) {
			c.s.store.Abort(&c.up.resv)
			c.out = append(c.out, "NS\r\n"...)
			return
		}
		c.metaCommit(r)
		return
	}
	a := lru.SetArgs{Mode: storeMode(r.Command)}
	if r.Command == proto.CmdCas {
		a.CAS = r.CAS
	}
	if c.s.obs.on.Load() {
		c.observeLookup(r.Key)
	}
	o := c.s.store.Commit(&c.up.resv, &a)
	c.countStore(r, &o, r.Command == proto.CmdCas)
	if !r.NoReply {
		c.out = appendResult(c.out, o.Result)
	}
	if c.vv {
		if o.Result == lru.Exists && r.Command == proto.CmdCas {
			c.vCASFailure(o.CAS, r.CAS)
		}
		c.vReply(appendResult(nil, o.Result), r.NoReply)
	}
}

// countStore counts a store (with cas, a compare-and-swap) that ended as o.
func (c *conn) countStore(r *proto.Request, o *lru.Outcome, cas bool) {
	early := c.takeCounted()
	if !early {
		c.st[cCmdSet]++
		c.classAdd(o.Class, kCmdSet)
	}
	if c.s.obs.on.Load() {
		c.observeStore(r, *o, !early)
	}
	if !cas {
		return
	}
	switch o.Result {
	case lru.Stored:
		c.st[cCasHits]++
		c.classAdd(o.Class, kCasHits)
	case lru.Exists:
		c.st[cCasBadval]++
		c.classAdd(o.Class, kCasBadval)
	case lru.NotFound:
		c.st[cCasMisses]++
	}
}

func (c *conn) delete(r *proto.Request) {
	st, seq, relay := relayOf(r)
	if relay && !c.acceptDeleteRelay(st, seq) {
		c.out = proto.AppendNotFound(c.out) // applied already, or not for this node
		return
	}
	if relay {
		c.s.noteRecentDelete(r.Key) // before the delete, as noteWrite
	}
	if c.s.obs.on.Load() {
		c.observeLookup(r.Key)
	}
	o := c.s.store.Delete(r.Key, nil)
	if relay {
		c.s.inv.applied(st, seq, relayDelete, r.Key)
	}
	c.countDelete(r, o)
	if !r.NoReply {
		c.out = appendResult(c.out, o.Result)
	}
}

// countDelete counts a delete that ended as o.
func (c *conn) countDelete(r *proto.Request, o lru.Outcome) {
	switch {
	case o.Result == lru.Deleted && r.Command == proto.CmdMetaDelete && r.HasFlag('I'):
		// Marked stale, not deleted: memcached counts it in neither.
	case o.Result == lru.Exists && r.Command != proto.CmdMetaDelete:
		// A binary DELETE whose CAS does not match: memcached counts it
		// in neither (an md with a C that does not match is a miss).
	case o.Result == lru.Deleted:
		c.st[cDeleteHits]++
		c.classAdd(o.Class, kDeleteHits)
	default:
		c.st[cDeleteMisses]++
	}
	if c.s.obs.on.Load() {
		c.observeDelete(r, o)
	}
}

func (c *conn) delta(r *proto.Request) {
	incr := r.Command == proto.CmdIncr
	if c.s.obs.on.Load() {
		c.observeLookup(r.Key)
	}
	o := c.s.store.Delta(r.Key, &lru.DeltaArgs{Incr: incr, Delta: r.Delta, Held: c})
	c.countDelta(o, incr)
	if r.NoReply {
		return
	}
	switch o.Result {
	case lru.Found:
		c.out = proto.AppendNumber(c.out, o.Value)
	case lru.NoMemory:
		c.out = proto.AppendError(c.out, proto.ErrArithNoMemory)
	default:
		c.out = appendResult(c.out, o.Result)
	}
}

// countDelta counts an incr (or decr) that ended as o. An ma that created
// the item (N) is neither a hit nor a miss, as in memcached.
func (c *conn) countDelta(o lru.Outcome, incr bool) {
	switch {
	case o.Created:
	case o.Result == lru.Found && incr:
		c.st[cIncrHits]++
		c.classAdd(o.Class, kIncrHits)
	case o.Result == lru.Found:
		c.st[cDecrHits]++
		c.classAdd(o.Class, kDecrHits)
	case o.Result == lru.NotFound && incr:
		c.st[cIncrMisses]++
	case o.Result == lru.NotFound:
		c.st[cDecrMisses]++
	}
}

func (c *conn) touch(r *proto.Request) {
	c.st[cCmdTouch]++
	if c.s.obs.on.Load() {
		c.observeLookup(r.Key)
	}
	o := c.s.store.Touch(r.Key, int64(r.Exptime))
	if o.Result == lru.Touched {
		c.st[cTouchHits]++
		c.classAdd(o.Class, kTouchHits)
	} else {
		c.st[cTouchMisses]++
	}
	if !r.NoReply {
		c.out = appendResult(c.out, o.Result)
	}
}

func (c *conn) flushAll(r *proto.Request) {
	c.st[cCmdFlush]++ // counted even when refused, as memcached does
	if !c.s.set.FlushEnabled {
		if !r.NoReply {
			c.out = proto.AppendError(c.out, proto.ErrFlushDisabled)
		}
		c.vNoReply(r, proto.ErrFlushDisabled.Reply())
		return
	}
	c.s.flushAll(int64(r.Exptime))
	if !r.NoReply {
		c.out = proto.AppendOK(c.out)
	}
	c.vNoReply(r, "OK")
}

// flushAll is flush_all with delay (0: now), noted for `stats settings`.
func (s *Server) flushAll(delay int64) {
	s.store.Flush(delay)
	s.flushedAt.Store(s.clk.Now())
	s.noteFlush(nil)
}

func (c *conn) verbosity(r *proto.Request) {
	c.s.verbosity.Store(int32(min(r.Level, 3)))
	c.s.applyVerbosity()
	if !r.NoReply {
		c.out = proto.AppendOK(c.out)
	}
	// memcached prints the reply at the new level: the next lines follow it.
	was := c.vv
	c.vv = c.s.verbose()
	switch {
	case c.vv && !was:
		c.vReply([]byte("OK"), r.NoReply) // exec did not plan to print it
	case c.vv:
		c.vNoReply(r, "OK")
	}
}

func (c *conn) memlimit(r *proto.Request) {
	var e *proto.Error
	switch {
	case r.MemLimit < 8:
		e = proto.ErrMemlimitTooSmall
	case r.MemLimit > 1000000000:
		e = proto.ErrMemlimitNotBytes
	case c.s.store.SetMemoryLimit(int64(r.MemLimit)<<20) != nil:
		// The store reserves address space at start for the most its
		// page references reach (slab.MaxMemLimit, or -m with a memory
		// file): unlike memcached, the limit cannot be raised beyond it.
		e = proto.ErrMemlimitAdjust
	default:
		c.s.setLive(func(l *Settings) { l.MaxBytes = int64(r.MemLimit) << 20 })
		if c.s.verboseErrors() {
			c.s.vprintf("maxbytes adjusted to %dm\n", r.MemLimit)
		}
	}
	reply := "OK\r\n"
	if e != nil {
		reply = e.Reply()
	}
	if !r.NoReply {
		c.out = append(c.out, reply...)
	}
	c.vNoReply(r, reply)
}

func (c *conn) shutdown(r *proto.Request) {
	if !c.s.set.ShutdownCommand {
		if !r.NoReply {
			c.out = proto.AppendError(c.out, proto.ErrShutdownDisabled)
		}
		return
	}
	// shutdown, or shutdown graceful (any prefix of it, as memcached
	// compares).
	if a := r.Args(); len(a) > 1 || len(a) == 1 && !prefixOf(a[0], "graceful") {
		if !r.NoReply {
			c.out = proto.AppendError(c.out, proto.ErrShutdownMode)
		}
		return
	}
	graceful := len(r.Args()) == 1
	if graceful {
		c.s.StopGracefully()
	}
	c.s.log.Info("shutdown command received", zap.Bool("graceful", graceful), zap.Stringer("remote", addrStringer{c.gc.RemoteAddr()}))
	c.closeAfter = true
	c.s.shutdownAsync()
}
