package server

import (
	"bytes"
	"strconv"

	"github.com/slabcache/slabcache/internal/clock"
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
	debug bool      // me
	cas   bool      // the server keeps CAS values (for me size=)
	viv   uint32    // the expiry N asks for (relative), when given
	big   *bigValue // where a large value goes (nil: copy)
	c     *conn     // notes the item the reply holds (holdReply); nil for me
}

// Hit implements lru.Hit.
func (h *metaHit) Hit(it *lru.Item) {
	if h.c != nil {
		h.c.holdReply(it, len(*h.out))
	}
	*h.out = h.appendReply(*h.out, it)
}

// ttl converts a relative expiry to the seconds left that mg and ma's t
// flag reports (-1: never). As memcached, the difference is taken in 32
// bits: an item already expired when the request made it (N or T with a
// negative time) reports 2^32 less what it is past its expiry.
func ttl(exp, now uint32) int64 {
	if exp == 0 {
		return -1
	}
	return int64(exp - now)
}

func (h *metaHit) appendReply(out []byte, it *lru.Item) []byte {
	r := h.r
	if h.debug {
		d := proto.MetaDebug{Key: it.Key(), KeyBinary: it.KeyBinary, Exp: -1, LastAccess: uint64(it.Idle()),
			CAS: it.CAS, Fetched: it.Fetched, Class: uint32(it.Class),
			Size: uint64(lru.MemcachedItemSize(len(it.Key()), it.Flags, it.Len, h.cas))}
		if it.Exptime != 0 {
			d.Exp = int64(it.Exptime) - int64(it.Now)
		}
		return proto.AppendMetaDebug(out, &d)
	}
	var mi proto.MetaItem // filled field by field, as in Get
	mi.Size, mi.CAS, mi.ClientFlags = it.Len, it.CAS, it.Flags
	mi.LastAccess, mi.Fetched, mi.KeyBinary = uint64(it.Idle()), it.Fetched, it.KeyBinary
	mi.AlreadyWon, mi.Stale, mi.Won = it.TokenSent, it.Stale, it.Won
	mi.TTL, mi.TouchTTL, mi.Created = ttl(it.PrevExptime, it.Now), ttl(it.Exptime, it.Now), it.Created
	mi.VivifyTTL = ttl(h.viv, it.Now)
	// mg with C answers HD, without the value, when the CAS matches.
	if r.HasFlag('v') && !(r.HasFlag('C') && r.CAS == it.CAS) {
		out = proto.AppendMetaReply(out, proto.StatusVA, it.Len, r, &mi)
		if it.Len >= sendDirectMin && h.big.take(it, crlf) {
			return out
		}
		out = it.AppendValue(out)
		return append(out, '\r', '\n')
	}
	return proto.AppendMetaReply(out, proto.StatusHD, 0, r, &mi)
}

// metaDebug is me: the item's metadata without touching it.
func (c *conn) metaDebug(r *proto.Request) {
	c.st[cCmdMeta]++ // memcached 1.6.45 counts cmd_meta for me only
	if c.s.obs.on.Load() {
		c.observeLookup(r.Key)
	}
	c.mhit = metaHit{out: &c.out, r: r, debug: true, cas: c.s.set.CASEnabled}
	o := c.s.store.Peek(r.Key, &c.mhit)
	c.mhit = metaHit{}
	if o.Result != lru.Found {
		c.out = proto.AppendStatus(c.out, proto.StatusEN)
	}
}

func (c *conn) metaGet(r *proto.Request) {
	if c.peer {
		c.noteFetch(r.Key) // before the read: a later write here is forwarded
	}
	args := lru.GetArgs{NoBump: r.HasFlag('u'), StaleWins: true, Disowned: c.peer}
	if r.HasFlag('T') {
		args.Touch, args.Exptime = true, int64(r.Exptime)
	}
	var viv uint32
	if r.HasFlag('N') {
		args.Vivify, args.VivifyExptime = true, int64(r.VivifyTTL)
		viv = clock.Expiry(c.s.clk, int64(r.VivifyTTL))
		if args.Touch {
			args.VivifyLast = bytes.IndexByte(r.MetaFlags(), 'N') > bytes.IndexByte(r.MetaFlags(), 'T') // each flag once
		}
	}
	if r.HasFlag('R') {
		args.Recache, args.RecacheExptime = true, int64(r.RecacheTTL)
		if args.Touch {
			args.RecacheAfterTouch = bytes.IndexByte(r.MetaFlags(), 'R') > bytes.IndexByte(r.MetaFlags(), 'T')
		}
	}
	if r.HasFlag('E') {
		args.NewCAS, args.HasNewCAS = r.CASIn, true
	}
	// Field by field, as a literal would be built aside and copied.
	h := &c.mhit
	h.out, h.r, h.debug, h.cas, h.viv, h.big, h.c = &c.out, r, false, false, viv, c.big(), c
	o := c.s.store.Get(r.Key, &args, h)
	h.out, h.r, h.big, h.c = nil, nil, nil, nil
	if c.s.obs.on.Load() {
		c.observeGet(r.Key, o, true)
	}
	// As memcached 1.6.45: a hit with T counts as a touch, anything else
	// (a miss with T too) as a get.
	touch := r.HasFlag('T') && o.Result == lru.Found
	if touch {
		c.st[cCmdTouch]++
	} else {
		c.st[cCmdGet]++
	}
	c.countRead(&o, touch)
	if c.bigv.pinned {
		c.sendBig() // after the counting: a client that has its reply sees it in stats
	}
	if o.Result != lru.Found && !r.HasFlag('q') {
		c.out = proto.AppendMetaReply(c.out, proto.StatusEN, 0, r, nil)
	}
}

// metaCommit completes an ms whose value is in the reservation.
func (c *conn) metaCommit(r *proto.Request) {
	a := lru.SetArgs{Mode: storeMode(r.SetMode()), Invalidate: r.HasFlag('I'), KeyBinary: r.KeyBinary}
	if r.HasFlag('C') {
		a.CAS = r.CAS
		if a.Mode == lru.ModeSet || a.Mode == lru.ModeReplace {
			// As memcached: C makes a set or replace a CAS store, which
			// C0 never passes.
			a.Mode = lru.ModeCAS
		}
	}
	if r.HasFlag('E') {
		a.NewCAS = r.CASIn // E0 generates one, as memcached's ms
	}
	if r.HasFlag('N') && (a.Mode == lru.ModeAppend || a.Mode == lru.ModePrepend) {
		// Append and prepend with N store the value as a new item on a
		// miss, expiring as N says.
		a.Vivify, a.VivifyExptime = true, int64(r.VivifyTTL)
	}
	if c.s.obs.on.Load() {
		c.observeLookup(r.Key)
	}
	o := c.s.store.Commit(&c.up.resv, &a)
	c.countStore(r, &o, storeCmd(r) == proto.CmdCas)
	if c.vv && o.Result == lru.Exists && a.Mode == lru.ModeCAS {
		c.vCASFailure(o.CAS, a.CAS)
	}
	code := metaStatus(o.Result)
	if code == proto.StatusHD && r.HasFlag('q') {
		return
	}
	mi := proto.MetaItem{CAS: o.CAS, Size: o.Len}
	if o.Result != lru.Stored {
		mi.CAS, mi.Size = 0, r.ValueLen
	}
	c.out = proto.AppendMetaReply(c.out, code, 0, r, &mi)
}

func (c *conn) metaDelete(r *proto.Request) {
	var a lru.DeleteArgs
	if r.HasFlag('C') {
		a.CAS, a.HasCAS = r.CAS, true
	}
	if r.HasFlag('E') {
		a.NewCAS, a.HasNewCAS = r.CASIn, true
	}
	a.Invalidate = r.HasFlag('I')
	if r.HasFlag('T') {
		a.Touch, a.Exptime = true, int64(r.Exptime)
	}
	if r.HasFlag('x') {
		a.RemoveValue, a.Flags = true, r.ClientFlags
	}
	var seen lru.Outcome
	if c.s.obs.on.Load() {
		seen = c.observeLookup(r.Key)
	}
	o := c.s.store.Delete(r.Key, &a)
	if a.RemoveValue && o.Result == lru.Deleted && seen.Result == lru.Found {
		// memcached looks the item up again to store the empty one.
		c.logFetch(r.Key, true, lru.Absent, seen.Class, seen.Len)
	}
	c.countDelete(r, o)
	if o.Result == lru.NoMemory {
		c.out = proto.AppendError(c.out, proto.ErrArithNoMemory)
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
	a := lru.DeltaArgs{Incr: incr, Delta: r.Delta, Held: c}
	if r.HasFlag('C') {
		a.CAS = r.CAS
	}
	if r.HasFlag('N') {
		a.Vivify, a.Initial, a.VivifyExptime = true, r.Initial, int64(r.VivifyTTL)
	}
	if r.HasFlag('T') {
		a.Touch, a.Exptime = true, int64(r.Exptime)
		a.VivifyLast = a.Vivify && bytes.IndexByte(r.MetaFlags(), 'N') > bytes.IndexByte(r.MetaFlags(), 'T') // each flag once
	}
	if r.HasFlag('E') {
		a.NewCAS, a.HasNewCAS = r.CASIn, true
	}
	if c.s.obs.on.Load() {
		c.observeLookup(r.Key)
	}
	o := c.s.store.Delta(r.Key, &a)
	if o.Created && c.s.obs.on.Load() {
		c.observeVivify(r.Key, o, 0)
	}
	c.countDelta(o, incr)
	switch o.Result {
	case lru.Found:
		if r.HasFlag('q') {
			return
		}
		mi := proto.MetaItem{CAS: o.CAS, TTL: ttl(o.PrevExptime, o.Now), TouchTTL: ttl(o.Exptime, o.Now),
			Created: o.Created, VivifyTTL: ttl(clock.Expiry(c.s.clk, int64(r.VivifyTTL)), o.Now)}
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
