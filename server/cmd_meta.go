package server

import (
	"strconv"

	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
)

// The meta commands: mg, ms (whose value comes through the storage path in
// cmd_text.go and conn.go, then metaCommit), md, ma and me; mn is answered
// in exec.

// metaHit is the store's Hit for mg and me: it appends the reply with the
// return flags the request asked for.
type metaHit struct {
	out   *[]byte
	r     *proto.Request
	debug bool // me
	cas   bool // the server keeps CAS values (for me size=)
}

// Hit implements lru.Hit.
func (h *metaHit) Hit(it *lru.Item) {
	*h.out = h.appendReply(*h.out, it)
}

func (h *metaHit) appendReply(out []byte, it *lru.Item) []byte {
	r := h.r
	if h.debug {
		d := proto.MetaDebug{Key: r.Key, KeyBinary: r.KeyBinary, Exp: -1, LastAccess: uint64(it.Idle()),
			CAS: it.CAS, Fetched: it.Fetched, Class: uint32(it.Class),
			Size: uint64(lru.MemcachedItemSize(len(it.Key()), it.Flags, it.Len, h.cas))}
		if it.Exptime != 0 {
			d.Exp = int64(it.Now) - int64(it.Exptime)
		}
		return proto.AppendMetaDebug(out, &d)
	}
	mi := proto.MetaItem{Size: it.Len, TTL: it.TTL(), CAS: it.CAS, ClientFlags: it.Flags,
		LastAccess: uint64(it.Idle()), Fetched: it.Fetched, KeyBinary: r.KeyBinary,
		AlreadyWon: it.TokenSent, Stale: it.Stale, Won: it.Won}
	if r.HasFlag('v') {
		out = proto.AppendMetaReply(out, proto.StatusVA, it.Len, r, &mi)
		out = it.AppendValue(out)
		return append(out, '\r', '\n')
	}
	return proto.AppendMetaReply(out, proto.StatusHD, 0, r, &mi)
}

func (c *conn) metaDebug(r *proto.Request) {
	c.mhit = metaHit{out: &c.out, r: r, debug: true, cas: c.s.set.CASEnabled}
	o := c.s.store.Peek(r.Key, &c.mhit)
	c.mhit = metaHit{}
	if o.Result != lru.Found {
		c.out = proto.AppendMetaReply(c.out, proto.StatusEN, 0, r, nil)
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
	c.mhit = metaHit{out: &c.out, r: r}
	o := c.s.store.Get(r.Key, &args, &c.mhit)
	c.mhit = metaHit{}
	if c.s.obs.on.Load() {
		c.observeGet(r.Key, o)
	}
	c.countRead(o, touch)
	if o.Result != lru.Found && !r.HasFlag('q') {
		c.out = proto.AppendMetaReply(c.out, proto.StatusEN, 0, r, nil)
	}
}

// metaCommit completes an ms whose value is in the reservation.
func (c *conn) metaCommit(r *proto.Request) {
	// protocol.txt documents N as "autovivify on miss" in append mode,
	// but memcached 1.6.18 answers NS (ms_flags.conv): so does
	// slabcached.
	a := lru.SetArgs{Mode: storeMode(r.SetMode()), Invalidate: r.HasFlag('I')}
	if r.HasFlag('C') {
		a.CAS = r.CAS
	}
	o := c.s.store.Commit(&c.up.resv, &a)
	c.countStore(r, o, r.HasFlag('C'))
	code := metaStatus(o.Result)
	if code == proto.StatusHD && r.HasFlag('q') {
		return
	}
	mi := proto.MetaItem{CAS: o.CAS}
	c.out = proto.AppendMetaReply(c.out, code, 0, r, &mi)
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
	o := c.s.store.Delete(r.Key, &a)
	c.countDelete(r, o)
	if o.Result == lru.NoMemory {
		c.out = proto.AppendError(c.out, proto.ErrOutOfMemory)
		return
	}
	code := metaStatus(o.Result)
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
	o := c.s.store.Delta(r.Key, &a)
	c.countDelta(o, incr)
	switch o.Result {
	case lru.Found:
		if r.HasFlag('q') {
			return
		}
		mi := proto.MetaItem{CAS: o.CAS, TTL: o.TTL()}
		if r.HasFlag('v') {
			var num [20]byte
			digits := strconv.AppendUint(num[:0], o.Value, 10)
			c.out = proto.AppendMetaReply(c.out, proto.StatusVA, len(digits), r, &mi)
			c.out = append(c.out, digits...)
			c.out = append(c.out, '\r', '\n')
			return
		}
		c.out = proto.AppendMetaReply(c.out, proto.StatusHD, 0, r, &mi)
	case lru.NonNumeric:
		c.out = proto.AppendError(c.out, proto.ErrNonNumeric)
	case lru.NoMemory:
		c.out = proto.AppendError(c.out, proto.ErrArithNoMemory)
	default:
		c.out = proto.AppendMetaReply(c.out, metaStatus(o.Result), 0, r, nil)
	}
}
