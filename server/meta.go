package server

import (
	"strconv"

	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
)

// metaHit receives mg and me hits from the store (a field of conn, so
// passing it costs no allocation).
type metaHit struct {
	c     *conn
	r     *proto.Request
	debug bool
	class int
	seg   lru.Segment
	size  int
}

// Hit implements lru.Hit for mg (and me when debug is set).
func (h *metaHit) Hit(it *lru.Item) {
	c, r := h.c, h.r
	h.class, h.seg, h.size = it.Class, it.Segment, it.Len
	if h.debug {
		d := proto.MetaDebug{Key: r.Key, KeyBinary: r.KeyBinary, Exp: -1, LastAccess: uint64(it.Idle()),
			CAS: it.CAS, Fetched: it.Fetched, Class: uint32(it.Class), Size: memcachedItemSize(it, c.s.set.CASEnabled)}
		if it.Exptime != 0 {
			d.Exp = int64(it.Now) - int64(it.Exptime)
		}
		c.out = proto.AppendMetaDebug(c.out, &d)
		return
	}
	mi := proto.MetaItem{Size: it.Len, TTL: it.TTL(), CAS: it.CAS, ClientFlags: it.Flags,
		LastAccess: uint64(it.Idle()), Fetched: it.Fetched, KeyBinary: r.KeyBinary,
		AlreadyWon: it.TokenSent, Stale: it.Stale, Won: it.Won}
	if r.HasFlag('v') {
		c.out = proto.AppendMetaReply(c.out, proto.StatusVA, it.Len, r, &mi)
		c.out = it.AppendValue(c.out)
		c.out = append(c.out, '\r', '\n')
		return
	}
	c.out = proto.AppendMetaReply(c.out, proto.StatusHD, 0, r, &mi)
}

// execMeta runs mg, md, ma, mn and me (ms goes through the storage path:
// storeWhole or a streamed value, then metaCommit).
func (c *conn) execMeta(r *proto.Request) {
	switch r.Command {
	case proto.CmdMetaGet:
		c.metaGet(r)
	case proto.CmdMetaDelete:
		c.metaDelete(r)
	case proto.CmdMetaArithmetic:
		c.metaArith(r)
	case proto.CmdMetaNoop:
		c.out = proto.AppendMetaNoop(c.out)
	case proto.CmdMetaDebug:
		c.mh = metaHit{c: c, r: r, debug: true}
		if !c.s.store.Peek(r.Key, &c.mh) {
			c.out = proto.AppendMetaReply(c.out, proto.StatusEN, 0, r, nil)
		}
		c.mh.r = nil
	}
}

func (c *conn) metaGet(r *proto.Request) {
	c.st[cCmdGet]++
	args := lru.GetArgs{NoBump: r.HasFlag('u')}
	touch := r.HasFlag('T')
	if touch {
		args.Touch, args.Exptime = true, int64(r.Exptime)
		c.st[cCmdTouch]++
	}
	if r.HasFlag('N') {
		args.Vivify, args.VivifyExptime = true, int64(r.VivifyTTL)
	}
	if r.HasFlag('R') {
		args.Recache, args.RecacheExptime = true, int64(r.RecacheTTL)
	}
	c.mh = metaHit{c: c, r: r}
	hit := c.s.store.Get(r.Key, &args, &c.mh)
	c.mh.r = nil
	if c.s.obs.on.Load() {
		c.observeGet(r.Key, hit, c.mh.class, c.mh.size)
	}
	switch {
	case hit:
		c.hitAdd(c.mh.class, c.mh.seg, touch)
	case touch:
		c.st[cTouchMisses]++
	default:
		c.st[cGetMisses]++
	}
	if !hit && !r.HasFlag('q') {
		c.out = proto.AppendMetaReply(c.out, proto.StatusEN, 0, r, nil)
	}
}

// metaStatus maps a store result onto a meta return code.
func metaStatus(res lru.Result) proto.Status {
	switch res {
	case lru.Stored, lru.Deleted, lru.Touched, lru.Found:
		return proto.StatusHD
	case lru.NotStored:
		return proto.StatusNS
	case lru.Exists:
		return proto.StatusEX
	}
	return proto.StatusNF
}

// metaCommit completes an ms whose value is in the reservation.
func (c *conn) metaCommit(r *proto.Request) {
	var a lru.SetArgs
	mode := r.SetMode()
	switch mode {
	case proto.CmdAdd:
		a.Mode = lru.ModeAdd
	case proto.CmdAppend, proto.CmdPrepend:
		a.Mode = lru.ModeAppend
		if mode == proto.CmdPrepend {
			a.Mode = lru.ModePrepend
		}
		// protocol.txt documents N as "autovivify on miss" in append
		// mode, but memcached 1.6.18 answers NS (ms_flags.conv): so
		// does slabcached.
	case proto.CmdReplace:
		a.Mode = lru.ModeReplace
	default:
		a.Mode = lru.ModeSet
	}
	if r.HasFlag('C') {
		a.CAS = r.CAS
	}
	a.Invalidate = r.HasFlag('I')
	sr := c.s.store.Commit(&c.resv, &a)
	c.st[cCmdSet]++
	c.classAdd(sr.Class, kCmdSet)
	if c.s.obs.on.Load() {
		c.observeStore(storeCmdName(r), r.Key, sr.Result, int64(r.Exptime), sr.Class, r.ValueLen)
	}
	if r.HasFlag('C') {
		switch sr.Result {
		case lru.Stored:
			c.st[cCasHits]++
			c.classAdd(sr.Class, kCasHits)
		case lru.Exists:
			c.st[cCasBadval]++
			c.classAdd(sr.Class, kCasBadval)
		case lru.NotFound:
			c.st[cCasMisses]++
		}
	}
	code := metaStatus(sr.Result)
	if code == proto.StatusHD && r.HasFlag('q') {
		return
	}
	mi := proto.MetaItem{CAS: sr.CAS}
	c.out = proto.AppendMetaReply(c.out, code, 0, r, &mi)
}

// metaStoreFailed answers an ms whose item could not be allocated: the
// error is sent even with q, and in set mode the old item is removed.
func (c *conn) metaStoreFailed(r *proto.Request, e *proto.Error) {
	c.out = proto.AppendError(c.out, e)
	if r.SetMode() == proto.CmdSet {
		c.s.store.Delete(r.Key, nil)
	}
}

func (c *conn) metaDelete(r *proto.Request) {
	var a lru.DeleteArgs
	if r.HasFlag('C') {
		a.CAS = r.CAS
	}
	a.Invalidate = r.HasFlag('I')
	if r.HasFlag('T') {
		a.Touch, a.Exptime = true, int64(r.Exptime)
	}
	res := c.s.store.Delete(r.Key, &a)
	if res == lru.Deleted {
		c.st[cDeleteHits]++
		c.classAdd(a.Class, kDeleteHits)
	} else {
		c.st[cDeleteMisses]++
	}
	if c.s.obs.on.Load() {
		c.observeDelete(r.Key)
	}
	if res == lru.NoMemory {
		c.out = proto.AppendError(c.out, proto.ErrOutOfMemory)
		return
	}
	code := metaStatus(res)
	if code == proto.StatusHD && r.HasFlag('q') {
		return
	}
	c.out = proto.AppendMetaReply(c.out, code, 0, r, nil)
}

func (c *conn) metaArith(r *proto.Request) {
	incr := !r.Decr()
	a := lru.DeltaArgs{Incr: incr, Delta: r.Delta}
	if r.HasFlag('C') {
		a.CAS = r.CAS
	}
	if r.HasFlag('N') {
		a.Vivify, a.Initial, a.VivifyExptime = true, r.Initial, int64(r.VivifyTTL)
	}
	if r.HasFlag('T') {
		a.Touch, a.Exptime = true, int64(r.Exptime)
	}
	d := c.s.store.Delta(r.Key, &a)
	switch {
	case d.Result == lru.Found && incr:
		c.st[cIncrHits]++
		c.classAdd(d.Class, kIncrHits)
	case d.Result == lru.Found:
		c.st[cDecrHits]++
		c.classAdd(d.Class, kDecrHits)
	case d.Result == lru.NotFound && incr:
		c.st[cIncrMisses]++
	case d.Result == lru.NotFound:
		c.st[cDecrMisses]++
	}
	switch d.Result {
	case lru.Found:
		if r.HasFlag('q') {
			return
		}
		mi := proto.MetaItem{CAS: d.CAS, TTL: d.TTL()}
		if r.HasFlag('v') {
			var num [20]byte
			digits := strconv.AppendUint(num[:0], d.Value, 10)
			c.out = proto.AppendMetaReply(c.out, proto.StatusVA, len(digits), r, &mi)
			c.out = append(c.out, digits...)
			c.out = append(c.out, '\r', '\n')
			return
		}
		c.out = proto.AppendMetaReply(c.out, proto.StatusHD, 0, r, &mi)
	case lru.NonNumeric:
		c.out = proto.AppendError(c.out, proto.ErrNonNumeric)
	case lru.NoMemory:
		c.out = proto.AppendServerError(c.out, "out of memory")
	default:
		c.out = proto.AppendMetaReply(c.out, metaStatus(d.Result), 0, r, nil)
	}
}

// memcachedItemSize is the size memcached 1.6 reports for an item (me
// size=): its 48-byte header, key and NUL, value and "\r\n", 8 bytes of CAS
// when CAS is on, 4 bytes of client flags when they are not 0. Tools compare
// it with -I, so it is reported as memcached counts it, not as slabcached
// stores the item (it.Size, smaller).
func memcachedItemSize(it *lru.Item, cas bool) uint64 {
	n := 48 + len(it.Key()) + 1 + it.Len + 2
	if cas {
		n += 8
	}
	if it.Flags != 0 {
		n += 4
	}
	return uint64(n)
}
