package server

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"os"

	"go.uber.org/zap"

	"github.com/slabcache/slabcache/internal/ticks"
	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
)

// The binary protocol, as memcached 1.6.45 serves it: with -B auto (the
// default) a connection whose first byte is the binary magic speaks it,
// with -B binary every connection does. proto.ParseBinary reads requests
// and checks their lengths; this file executes them and answers with
// memcached's statuses and texts. Counters, watch logs and stats detail see
// binary requests as the text commands they match (c.req is filled in to
// describe them).

// binHit is the store's Hit for a binary GET, GETK, GAT, GATK or TOUCH.
type binHit struct {
	out   *[]byte
	r     *proto.BinRequest
	value bool      // TOUCH answers without the value
	big   *bigValue // where a large value goes (nil: copy)
	c     *conn     // notes the item the reply holds (holdReply)
}

// Hit implements lru.Hit.
func (h *binHit) Hit(it *lru.Item) {
	var key []byte
	if h.r.ReturnsKey() {
		key = h.r.Key
	}
	n := it.Len
	if !h.value {
		n = 0
	}
	h.c.holdReply(it, len(*h.out))
	out := proto.AppendBinGetHeader(*h.out, h.r.Opcode, h.r.Opaque, it.CAS, it.Flags, key, n)
	if h.value && !(it.Len >= sendDirectMin && h.big.take(it, nil)) {
		out = it.AppendValue(out)
	}
	*h.out = out
}

// noteBinFlush marks the replies from mark on as written, as far as a
// later bad header goes, when memcached would have written them at once:
// it sends what it has queued after a NOOP and after any error it answers
// without a key (write_bin_error), except a store's "Too large." or out of
// memory, which first discard the value; hits, GETK misses and other
// successes wait for the end of the batch.
func (c *conn) noteBinFlush(r *proto.BinRequest, mark int) {
	if r.Base() == proto.BinOpNoop {
		c.wrote()
		return
	}
	if len(c.out)-mark < proto.BinHeaderLen {
		return
	}
	h := c.out[mark:]
	status := proto.BinStatus(binary.BigEndian.Uint16(h[6:]))
	keyLen := binary.BigEndian.Uint16(h[2:])
	if status == proto.BinStatusSuccess || keyLen != 0 {
		return
	}
	if (status == proto.BinStatusE2BIG || status == proto.BinStatusENOMEM) && len(r.Value) > 0 {
		return
	}
	c.wrote()
}

// processBinary handles the binary requests at the start of buf, as
// process does the text ones.
func (c *conn) processBinary(buf []byte) (off int, close bool) {
	r := &c.breq
	c.in.need = 0
	// Timed as process times a text request: from the end of the one
	// before it (or the batch's start), one clock read per request.
	start := ticks.Now()
	var pf prefetcher
	wend := c.bufferEnd() // where the input memcached holds ends (pastBuffer)
	for off < len(buf) && !c.closeAfter {
		n, err := proto.ParseBinary(buf[off:], r)
		if err != proto.ErrIncomplete {
			c.pastBuffer(&wend, off+min(proto.BinHeaderLen, len(buf)-off), off) // the header
		}
		if c.s.set.SASL && !c.authed && binNeedsAuth(r, err) {
			// memcached refuses every other request of a connection that
			// has not authenticated, once its header, extras and key are
			// in, and closes.
			c.out = proto.AppendBinError(c.out, r.Opcode, proto.BinStatusAuthError, r.Opaque)
			c.closeAfter, c.closeErr = true, true
			return len(buf), false
		}
		if err == nil {
			if c.vv {
				c.vBinRequest(buf[off:off+proto.BinHeaderLen], r, true)
			}
			if h := c.loop.hot; h != nil {
				sampleBinary(h, r)
			}
			write := isBinWrite(r.Base())
			if c.s.warmOn() {
				if c.warmFetchBinary(r) {
					return off, false // parked; the request runs again after the fetch
				}
				if write {
					c.s.noteWrite(r.Key)
				}
			} else if r.Base() == proto.BinOpDelete && c.s.rep.peers.Load() != nil {
				c.s.noteForeignDelete(r.Key)
			}
			if write && c.s.away.on.Load() {
				c.s.noteAway(r.Key)
			}
			if c.s.net.prefetch && c.udp == nil {
				pf.ahead(c.s.store, buf, off+n, proto.PeekBinaryRequest)
			}
			if c.replicatedBinWrite(r) && !c.udpHold([][]byte{r.Key}) {
				mark := len(c.out)
				c.execBinary(r)
				if c.vv {
					c.vBinReplies(mark)
				}
				c.noteBinFlush(r, mark)
				end := ticks.Now()
				c.observe(binCommand(r.Base()), end-start)
				c.loop.clockAt = end
				c.park([][]byte{r.Key}, mark)
				return off + n, false
			}
			mark := len(c.out)
			c.execBinary(r)
			if c.vv {
				c.vBinReplies(mark)
			}
			if c.udp != nil {
				// memcached starts a reply for every binary request; a
				// quiet one's stays empty, and is sent as an empty
				// datagram as a multi-get's miss is.
				c.udpMark(true)
			}
			c.noteBinFlush(r, mark)
			c.pastBuffer(&wend, off+n, off+n) // extras, key or value read past it
			end := ticks.Now()
			c.observe(binCommand(r.Base()), end-start)
			start, c.loop.clockAt = end, end
			if write {
				if owner := c.movedOwner(r.Key); owner != "" {
					// In the background: the binary reply does not wait,
					// as for the deletes relayed to other regions.
					go c.s.forwardMovedDelete(owner, bytes.Clone(r.Key))
				}
			}
			if r.Base() == proto.BinOpDelete && c.s.set.InvalidationBroadcast && c.s.inv.peers() != nil {
				// Relayed in the background: the binary reply does not
				// wait (failures are queued and retried all the same).
				k := bytes.Clone(r.Key)
				go c.s.inv.deleteRemote(k)
			}
			off += n
			if len(c.out) > outputPause && c.udp == nil || c.spend() {
				return off, false
			}
			continue
		}
		if err == proto.ErrIncomplete {
			if r.HeaderLen > 0 {
				// The value is still coming: a large one streams into a
				// reservation made now (a value too large is refused at
				// once, as memcached does).
				if total := r.HeaderLen + r.ValueLen; total > streamThreshold && c.udp == nil {
					if c.vv {
						c.vBinRequest(buf[off:off+proto.BinHeaderLen], r, true)
					}
					c.startBinStream(r, buf[off:off+r.HeaderLen])
					return off + r.HeaderLen, false
				} else {
					c.in.need = total
					c.reading.Store(true) // conn_nread in stats conns, as a text value
				}
				return off, false
			}
			c.in.need = len(buf) - off + max(r.Need, 1)
			return off, false
		}
		e, ok := err.(*proto.BinError)
		if !ok {
			return off, true
		}
		if c.vv && len(buf)-off >= proto.BinHeaderLen {
			c.vBinRequest(buf[off:off+proto.BinHeaderLen], r, false)
		}
		off += n
		if !e.Silent() {
			mark := len(c.out)
			c.out = proto.AppendBinError(c.out, r.Opcode, e.Status, r.Opaque)
			if c.vv {
				c.vBinReplies(mark)
			}
		}
		if c.s.verboseErrors() {
			switch {
			case e == proto.ErrBinBadMagic && len(buf)-(off-n) >= proto.BinHeaderLen:
				c.s.vprintf("Invalid magic:  %x\n", buf[off-n])
			case e.Close() && e.Status == proto.BinStatusEINVAL:
				c.s.vprintf("Protocol error (opcode %02x), close connection %d\n", byte(r.Opcode), c.fd())
			}
		}
		if c.udp != nil {
			c.udpMark(false)
		}
		if !e.Silent() && r.Swallow == 0 {
			c.wrote()
		}
		if e.Close() {
			if e.Silent() {
				// A bad magic byte, also where a request's trailing
				// bytes were read as the next header.
				c.dropUnsent()
			}
			c.closeAfter, c.closeErr = !e.Silent(), true
			return off, e.Silent()
		}
		if r.Swallow > 0 {
			k := min(len(buf)-off, r.Swallow)
			off += k
			c.in.swallow = r.Swallow - k
			c.pastBuffer(&wend, off, off) // swallowed straight from the socket
		}
	}
	return off, false
}

// binNeedsAuth reports whether a request Parse read (with err) is one
// that only an authenticated connection may make, judged as memcached does:
// once the header, extras and key are in, after the checks of the body
// length, and for every opcode but VERSION and the SASL ones.
func binNeedsAuth(r *proto.BinRequest, err error) bool {
	switch err {
	case nil, proto.ErrBinKeyTooLong, proto.ErrBinInvalidArgs, proto.ErrBinUnknownCommand:
	case proto.ErrIncomplete:
		if r.HeaderLen == 0 {
			return false
		}
	default:
		return false
	}
	switch r.Opcode {
	case proto.BinOpVersion, proto.BinOpSASLListMechs, proto.BinOpSASLAuth, proto.BinOpSASLStep:
		return false
	}
	return true
}

// binCommand is the text command a binary opcode counts as.
func binCommand(op proto.BinOpcode) proto.Command {
	switch op {
	case proto.BinOpGet, proto.BinOpGetK:
		return proto.CmdGet
	case proto.BinOpGAT, proto.BinOpGATK:
		return proto.CmdGat
	case proto.BinOpTouch:
		return proto.CmdTouch
	case proto.BinOpSet:
		return proto.CmdSet
	case proto.BinOpAdd:
		return proto.CmdAdd
	case proto.BinOpReplace:
		return proto.CmdReplace
	case proto.BinOpAppend:
		return proto.CmdAppend
	case proto.BinOpPrepend:
		return proto.CmdPrepend
	case proto.BinOpDelete:
		return proto.CmdDelete
	case proto.BinOpIncrement:
		return proto.CmdIncr
	case proto.BinOpDecrement:
		return proto.CmdDecr
	case proto.BinOpFlush:
		return proto.CmdFlushAll
	case proto.BinOpVersion:
		return proto.CmdVersion
	case proto.BinOpQuit:
		return proto.CmdQuit
	case proto.BinOpStat:
		return proto.CmdStats
	}
	return proto.CmdNone
}

// asText describes r in c.req as the text command it matches, for the
// counters and observers that take a proto.Request.
func (c *conn) asText(r *proto.BinRequest) *proto.Request {
	t := &c.req
	t.Reset()
	t.Command = binCommand(r.Base())
	if r.CAS != 0 && c.s.set.CASEnabled && (t.Command == proto.CmdSet || t.Command == proto.CmdAdd || t.Command == proto.CmdReplace) {
		// Under -C memcached keeps no CAS to ask for: the store stays
		// a set, add or replace.
		t.Command = proto.CmdCas
	}
	t.Key = r.Key
	t.ClientFlags = r.Flags
	t.Exptime = int32(r.Exptime)
	t.ValueLen = r.ValueLen
	t.CAS = r.CAS
	t.NoReply = r.Quiet()
	return t
}

// execBinary executes one complete binary request.
func (c *conn) execBinary(r *proto.BinRequest) {
	switch r.Base() {
	case proto.BinOpGet, proto.BinOpGetK, proto.BinOpGAT, proto.BinOpGATK, proto.BinOpTouch:
		c.binGet(r)
	case proto.BinOpSet, proto.BinOpAdd, proto.BinOpReplace, proto.BinOpAppend, proto.BinOpPrepend:
		res := c.s.store.Reserve(&c.up.resv, r.Key, c.binFlags(r), c.binExptime(r), len(r.Value))
		if res != lru.Stored {
			c.binStoreFailed(r, res)
			return
		}
		c.up.resv.Write(r.Value)
		c.binCommit(r)
	case proto.BinOpDelete:
		c.binDelete(r)
	case proto.BinOpIncrement, proto.BinOpDecrement:
		c.binDelta(r)
	case proto.BinOpFlush:
		if !c.s.set.FlushEnabled {
			c.out = proto.AppendBinError(c.out, r.Opcode, proto.BinStatusAuthError, r.Opaque)
			return
		}
		c.st[cCmdFlush]++
		c.s.flushAll(int64(r.Exptime))
		c.binOK(r, 0)
	case proto.BinOpNoop:
		c.binOK(r, 0)
	case proto.BinOpVersion:
		c.out = proto.AppendBinVersion(c.out, r.Opaque, Version)
	case proto.BinOpQuit:
		c.binOK(r, 0)
		c.closeAfter = true
	case proto.BinOpStat:
		c.binStats(r)
	case proto.BinOpSASLListMechs, proto.BinOpSASLAuth, proto.BinOpSASLStep:
		if !c.s.set.SASL {
			c.out = proto.AppendBinError(c.out, r.Opcode, proto.BinStatusUnknownCommand, r.Opaque)
			return
		}
		c.binSASL(r)
	default:
		// SASL without -S, as a memcached built without SASL answers.
		c.out = proto.AppendBinError(c.out, r.Opcode, proto.BinStatusUnknownCommand, r.Opaque)
	}
}

// binOK answers success with an empty body, unless r is quiet.
func (c *conn) binOK(r *proto.BinRequest, cas uint64) {
	if !r.Quiet() {
		c.out = proto.AppendBinResponse(c.out, r.Opcode, proto.BinStatusSuccess, r.Opaque, cas, nil, nil, nil)
	}
}

// binFlags and binExptime are the item flags and expiry of a store: APPEND
// and PREPEND carry neither (memcached allocates them with 0).
func (c *conn) binFlags(r *proto.BinRequest) uint32 {
	if b := r.Base(); b == proto.BinOpAppend || b == proto.BinOpPrepend {
		return 0
	}
	return r.Flags
}

func (c *conn) binExptime(r *proto.BinRequest) int64 {
	if b := r.Base(); b == proto.BinOpAppend || b == proto.BinOpPrepend {
		return 0
	}
	return int64(r.Exptime)
}

func (c *conn) binGet(r *proto.BinRequest) {
	base := r.Base()
	touch := base == proto.BinOpGAT || base == proto.BinOpGATK || base == proto.BinOpTouch
	var args lru.GetArgs
	if touch {
		args.Touch, args.Exptime = true, int64(r.Exptime)
	}
	c.bhit = binHit{out: &c.out, r: r, value: base != proto.BinOpTouch, big: c.big(), c: c}
	o := c.s.store.Get(r.Key, &args, &c.bhit)
	c.bhit = binHit{}
	if touch {
		c.st[cCmdTouch]++
	} else {
		c.st[cCmdGet]++
	}
	c.countRead(&o, touch)
	if c.s.obs.on.Load() {
		c.observeGet(r.Key, o, false)
	}
	if c.bigv.pinned {
		c.sendBig() // after the counting: a client that has its reply sees it in stats
	}
	if o.Result == lru.Found || r.Quiet() {
		return
	}
	if r.ReturnsKey() {
		c.out = proto.AppendBinKeyMiss(c.out, r.Opcode, r.Opaque, r.Key)
	} else {
		c.out = proto.AppendBinError(c.out, r.Opcode, proto.BinStatusKeyENOENT, r.Opaque)
	}
}

// binStoreFailed answers a store whose item could not be allocated; a SET
// also removes the old item, as memcached does.
func (c *conn) binStoreFailed(r *proto.BinRequest, res lru.Result) {
	t := c.asText(r)
	// Not in cmd_set (memcached counts a store once its value is in), nor
	// in store_too_large and store_no_memory, which memcached 1.6.45
	// counts for text and meta stores only.
	if res == lru.TooLarge {
		c.out = proto.AppendBinError(c.out, r.Opcode, proto.BinStatusE2BIG, r.Opaque)
	} else {
		c.out = proto.AppendBinErrorText(c.out, r.Opcode, proto.BinStatusENOMEM, r.Opaque, proto.BinOOMItem)
	}
	if c.s.obs.on.Load() {
		c.observeBinStoreFailed(r, t, res)
	}
	if r.Base() == proto.BinOpSet {
		if c.s.obs.on.Load() {
			c.observeLookup(r.Key) // memcached looks the old item up to unlink it
		}
		c.s.store.Delete(r.Key, nil)
	}
}

// binCommit publishes the filled reservation of a binary store and
// answers.
func (c *conn) binCommit(r *proto.BinRequest) {
	t := c.asText(r)
	base := r.Base()
	a := lru.SetArgs{Mode: storeMode(t.Command), CAS: r.CAS}
	if !c.s.set.CASEnabled {
		a.CAS = 0 // memcached under -C sets no CAS on the new item to compare
	}
	switch base {
	case proto.BinOpAppend:
		a.Mode = lru.ModeAppend
	case proto.BinOpPrepend:
		a.Mode = lru.ModePrepend
	}
	if c.s.obs.on.Load() {
		c.observeLookup(r.Key)
	}
	o := c.s.store.Commit(&c.up.resv, &a)
	c.countStore(t, &o, t.Command == proto.CmdCas)
	switch o.Result {
	case lru.Stored:
		c.binOK(r, o.CAS)
		return
	case lru.Exists:
		c.out = proto.AppendBinError(c.out, r.Opcode, proto.BinStatusKeyEEXISTS, r.Opaque)
		return
	case lru.NotFound:
		c.out = proto.AppendBinError(c.out, r.Opcode, proto.BinStatusKeyENOENT, r.Opaque)
		return
	}
	status := proto.BinStatusNotStored
	switch base {
	case proto.BinOpAdd:
		status = proto.BinStatusKeyEEXISTS
	case proto.BinOpReplace:
		status = proto.BinStatusKeyENOENT
	}
	c.out = proto.AppendBinError(c.out, r.Opcode, status, r.Opaque)
}

func (c *conn) binDelete(r *proto.BinRequest) {
	t := c.asText(r)
	if c.s.obs.on.Load() {
		c.observeLookup(r.Key)
	}
	o := c.s.store.Delete(r.Key, &lru.DeleteArgs{CAS: r.CAS})
	c.countDelete(t, o)
	switch o.Result {
	case lru.Deleted:
		c.binOK(r, 0)
	case lru.Exists:
		c.out = proto.AppendBinError(c.out, r.Opcode, proto.BinStatusKeyEEXISTS, r.Opaque)
	default:
		c.out = proto.AppendBinError(c.out, r.Opcode, proto.BinStatusKeyENOENT, r.Opaque)
	}
}

// binDelta is INCREMENT and DECREMENT: a miss creates the item with
// Initial unless Exptime is 0xffffffff, answering Initial.
func (c *conn) binDelta(r *proto.BinRequest) {
	incr := r.Base() == proto.BinOpIncrement
	a := lru.DeltaArgs{Incr: incr, Delta: r.Delta, CAS: r.CAS, Held: c}
	if r.Exptime != 0xffffffff {
		a.Vivify, a.Initial, a.VivifyExptime = true, r.Initial, int64(r.Exptime)
	}
	if c.s.obs.on.Load() {
		c.observeLookup(r.Key)
	}
	o := c.s.store.Delta(r.Key, &a)
	c.countDelta(o, incr)
	if o.Created && c.s.obs.on.Load() {
		c.observeVivify(r.Key, o, watchTTL(o.Exptime, o.Now)) // made with its expiry
	}
	switch o.Result {
	case lru.Found:
		if !r.Quiet() {
			c.out = proto.AppendBinCounter(c.out, r.Opcode, r.Opaque, o.CAS, o.Value)
		}
	case lru.NonNumeric:
		c.out = proto.AppendBinError(c.out, r.Opcode, proto.BinStatusDeltaBadval, r.Opaque)
	case lru.NoMemory:
		text := proto.BinOOMIncr
		if a.Vivify {
			text = proto.BinOOMIncrCreate
		}
		c.out = proto.AppendBinErrorText(c.out, r.Opcode, proto.BinStatusENOMEM, r.Opaque, text)
	case lru.Exists: // not in cas_badval: memcached counts a mismatch there only for a store
		c.out = proto.AppendBinError(c.out, r.Opcode, proto.BinStatusKeyEEXISTS, r.Opaque)
	default:
		c.out = proto.AppendBinError(c.out, r.Opcode, proto.BinStatusKeyENOENT, r.Opaque)
	}
}

// binStats answers STAT: the text reply of the same group, each STAT line
// sent as a packet (name as key, value as value), END as the empty packet
// that ends the list. Groups memcached does not serve over binary answer
// "Not found".
func (c *conn) binStats(r *proto.BinRequest) {
	c.flushCounters() // as for text stats: the commands before it count
	var text []byte
	sub := string(r.Key)
	switch {
	case sub == "":
		text = c.s.appendGeneralStats(nil)
	case len(sub) >= 5 && sub[:5] == "reset":
		c.s.resetCounters()
	case len(sub) >= 8 && sub[:8] == "settings":
		for _, st := range c.s.liveSettings().StatsSettings(c.s.flushedAt.Load()) {
			text = proto.AppendStat(text, st.Name, st.Value)
		}
	case len(sub) >= 6 && sub[:6] == "detail":
		if !c.s.set.DumpEnabled {
			c.out = proto.AppendBinError(c.out, r.Opcode, proto.BinStatusKeyENOENT, r.Opaque)
			return
		}
		rest := sub[6:]
		saved := c.out
		c.out = nil
		switch {
		case len(rest) >= 5 && rest[:5] == " dump":
			c.statsDetail([]byte("dump"))
			saved = proto.AppendBinStat(saved, r.Opaque, "detailed", string(c.out))
		case len(rest) >= 3 && rest[:3] == " on":
			c.statsDetail([]byte("on"))
		case len(rest) >= 4 && rest[:4] == " off":
			c.statsDetail([]byte("off"))
		default:
			c.out = proto.AppendBinError(saved, r.Opcode, proto.BinStatusKeyENOENT, r.Opaque)
			return
		}
		c.out = saved
	case sub == "items":
		text = c.s.appendStatsItems(nil)
	case sub == "slabs":
		text = c.s.appendStatsSlabs(nil)
	case sub == "sizes":
		text = c.s.appendStatsSizes(nil)
	default:
		c.out = proto.AppendBinError(c.out, r.Opcode, proto.BinStatusKeyENOENT, r.Opaque)
		return
	}
	for len(text) > 0 {
		line := text
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		rest, ok := bytes.CutPrefix(line, []byte("STAT "))
		if !ok {
			continue // END: the terminator follows
		}
		name, value, _ := bytes.Cut(rest, []byte(" "))
		c.out = proto.AppendBinStat(c.out, r.Opaque, string(name), string(value))
	}
	c.out = proto.AppendBinStat(c.out, r.Opaque, "", "")
}

// startBinStream begins a binary store whose value arrives over several
// events, as startStream does for the text protocol.
func (c *conn) startBinStream(r *proto.BinRequest, head []byte) {
	c.up.hdr = append(c.up.hdr[:0], head...)
	proto.ParseBinary(c.up.hdr, r) // r's slices now point into the copy
	res := c.s.store.Reserve(&c.up.resv, r.Key, c.binFlags(r), c.binExptime(r), r.ValueLen)
	if res != lru.Stored {
		mark := len(c.out)
		c.binStoreFailed(r, res)
		if c.vv {
			c.vBinReplies(mark)
		}
		c.in.swallow = r.ValueLen
		return
	}
	c.up.active, c.up.binary = true, true
	c.reading.Store(true)
	c.in.need = 0
}

// binStreamDone completes a streamed binary store.
func (c *conn) binStreamDone() {
	c.up.active, c.up.binary = false, false
	c.reading.Store(false)
	r := &c.breq
	proto.ParseBinary(c.up.hdr, r)
	if c.replicatedBinWrite(r) {
		mark := len(c.out)
		c.binCommit(r)
		c.park([][]byte{r.Key}, mark)
		return
	}
	c.binCommit(r)
	c.markSent() // read straight from the socket (pastBuffer)
}

// binSASL serves the SASL opcodes (-S). The one mechanism is PLAIN: the
// client's data is "authzid NUL user NUL password"; the user and password
// must be a line of the password file, read at each attempt as memcached
// reads its MEMCACHED_SASL_PWDB.
func (c *conn) binSASL(r *proto.BinRequest) {
	switch r.Opcode {
	case proto.BinOpSASLListMechs:
		c.out = proto.AppendBinResponse(c.out, r.Opcode, proto.BinStatusSuccess, r.Opaque, 0, nil, nil, []byte("PLAIN"))
		return
	case proto.BinOpSASLStep:
		// PLAIN takes no second step.
		c.authFailed(r)
		return
	}
	if len(r.Key) > proto.MaxSASLMechLen {
		c.out = proto.AppendBinError(c.out, r.Opcode, proto.BinStatusEINVAL, r.Opaque)
		return
	}
	if string(r.Key) != "PLAIN" || !c.s.checkPassword(r.Value) {
		c.authFailed(r)
		return
	}
	c.authed = true
	c.st[cAuthCmds]++
	c.out = proto.AppendBinResponse(c.out, r.Opcode, proto.BinStatusSuccess, r.Opaque, 0, nil, nil, []byte(proto.BinSASLAuthenticated))
}

func (c *conn) authFailed(r *proto.BinRequest) {
	c.st[cAuthCmds]++
	c.st[cAuthErrors]++
	c.out = proto.AppendBinError(c.out, r.Opcode, proto.BinStatusAuthError, r.Opaque)
	if c.s.verbosity.Load() > 0 {
		c.s.log.Info("SASL authentication failed", zap.String("mechanism", string(r.Key)))
	}
}

// checkPassword checks a SASL PLAIN message against the password file:
// lines "user:password", optionally followed by ":" and anything.
func (s *Server) checkPassword(msg []byte) bool {
	authz, rest, ok1 := bytes.Cut(msg, []byte{0})
	user, pass, ok2 := bytes.Cut(rest, []byte{0})
	if !ok1 || !ok2 || len(user) == 0 || (len(authz) > 0 && !bytes.Equal(authz, user)) {
		return false
	}
	data, err := os.ReadFile(s.set.SASLPasswords)
	if err != nil {
		s.log.Warn("cannot read the SASL password file", zap.Error(err))
		return false
	}
	ok := false
	for _, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		u, p, found := bytes.Cut(line, []byte(":"))
		if !found || !bytes.Equal(u, user) {
			continue
		}
		if i := bytes.IndexByte(p, ':'); i >= 0 {
			p = p[:i]
		}
		if subtle.ConstantTimeCompare(p, pass) == 1 {
			ok = true
		}
	}
	return ok
}
