package server

import (
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/slabcache/slabcache/internal/ticks"
	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
)

// Limits of one connection's buffers.
const (
	// mcReadBuffer is memcached's READ_BUFFER_SIZE: it reads a
	// connection's input that much at a time and writes the replies it
	// holds whenever it needs more input (pastBuffer). sentMark follows
	// those points, so that the replies dropped for bad input later in the
	// same read are the ones memcached had not written yet.
	mcReadBuffer = 16384
	// streamThreshold: a storage command whose line and data together are
	// longer than this is not buffered whole: its value is copied into a
	// store reservation piece by piece as it arrives.
	streamThreshold = 16 << 10
	// sendDirectMin: a value this large is sent from slab memory, not
	// copied into the output buffer (bigValue). At 16 KiB copying still
	// wins when gets are pipelined; from 32 KiB sending wins pipelined or
	// not (docs/benchmarks.md, "Large values").
	sendDirectMin = 32 << 10
	// maxPendingLine: a request line (a multi-get can be long) still
	// without its newline after this many bytes closes the connection.
	// proto itself closes other lines past 2048 bytes, as memcached does.
	maxPendingLine = 1 << 20
	// outputPause: while more than this many reply bytes wait for the
	// client to read them, no further requests of that client are handled
	// (its requests stay unread in the input buffer).
	outputPause = 4 << 20
	// inputCap: a paused client whose unread input grows past this is
	// closed (counted as read_buf_oom). Small, because gnet keeps reading
	// a paused client into a ring buffer that grows in steps: the heap
	// such a client costs is a few times this (TestClientThatNeverReads…).
	inputCap = 4 << 20
	// outShrink: a reply buffer that grew past this is dropped after use.
	outShrink = 1 << 20
)

// crlf ends a value block; crlfEnd the last one of a get's reply.
var (
	crlf    = []byte("\r\n")
	crlfEnd = []byte("\r\nEND\r\n")
)

// conn is one client connection's state. Everything except the atomics is
// used only by the connection's event loop.
type conn struct {
	s    *Server
	gc   gnet.Conn // the socket, or tls on a TLS listener
	tls  *tlsConn  // the TLS session (tls.go); nil for plain connections
	loop *loopStats

	req  proto.Request
	out  []byte   // the replies of this event, written at its end
	st   counters // this event's counters, added to loop at its end
	pend pending  // this event's per-class counts and latencies (counters.go)

	in   input        // what the input loop waits for or skips
	up   upload       // a storage command whose value streams into the store
	more continuation // a reply that stopped half-way, to go on with

	// The store's Hit for the current request: kept here only so that
	// passing it to the store costs no allocation; each request sets it
	// afresh.
	hit  valueHit
	mhit metaHit
	// holds: the items this event's unsent replies would hold in
	// memcached (holds.go).
	holds []heldReply
	bigv  bigValue // a large value being sent (sendBig)
	iov   [][]byte // sendBig's pieces

	breq proto.BinRequest // the binary protocol's request (binary.go)
	bhit binHit
	bin  bool // the connection speaks the binary protocol
	// authed: the connection has authenticated (SASL with -S, or the
	// auth file with -Y); authLen is the length of the "user password"
	// value of an ASCII authentication under way.
	authed  bool
	authLen int
	// protoSet: bin is decided (by -B, or the first byte under -B auto).
	protoSet bool
	// vv: memcached's -vv diagnostic lines are printed (verbose.go); read
	// once per event.
	vv bool

	wlog watchLog  // watch log lines gathered during an event (observers.go)
	udp  *udpState // serving UDP datagrams (udp.go); nil for a connection

	lastActive atomic.Uint32 // clock time of the last bytes received
	paused     atomic.Bool   // waiting for the client to read replies
	pauseWake  atomic.Bool   // a wake-up of the paused connection is scheduled
	kicked     atomic.Bool   // closed by idle_timeout
	reading    atomic.Bool   // inside a storage command's value (conn_nread)
	// between: what the connection waits for between events, when not a
	// value (stateName): input, as memcached's conn_read after its first
	// command, or the rest of a value being skipped (conn_swallow); 0
	// before the first event (conn_new_cmd).
	between    atomic.Uint32
	watching   atomic.Bool // turned into a watcher (conn_watch)
	closeAfter bool        // close once the replies are written (quit, fatal errors)
	closeErr   bool        // closed for an error (reason=error in connevents)
	// yielded: this event used up its -R budget (spend); the rest of the
	// input waits for the next turn.
	yielded bool
	// resps: replies waiting in out, counted against respLimit.
	resps int
	// sentMark: how much of out memcached would have written already,
	// were it serving this batch: it writes its queued replies only at
	// the batch's end and at a few commands (mn; binary NOOP and keyless
	// errors, noteBinFlush), so a connection it closes at once for bad
	// input (a line too long, an HTTP request, a bad binary header) gets
	// only that much.
	sentMark int
	// stacked: memcached holds the reply of an earlier command of this
	// batch, unwritten (resp_has_stack: every command line gets a response
	// object, a noreply one too, until the next point where it writes).
	stacked bool
	// inSeen: input bytes already counted in bytes_read (onTraffic).
	inSeen int
	// mcLeft: commands memcached would still serve in its current event
	// before writing its replies and yielding (reqs_per_event: R+1 in an
	// event that began by reading, R in one that went on after a yield
	// with input left in its buffer); 0 when its next event begins by
	// reading.
	mcLeft int
	// parked: a write to a replicated hot key waits for its copies to be
	// invalidated; held is its reply, parkDone says the wait is over
	// (replicate.go).
	parked   bool
	parkDone atomic.Bool
	held     []byte
	// waiting: over -c without maxconns_fast, the connection is not
	// served (not even read) until admitted says a slot came free
	// (transport.admitWaiting).
	waiting  bool
	admitted atomic.Bool
	// peer: another member's connection (`cluster peer`); its deletes of
	// keys that moved away from here are not forwarded (movedOwner).
	// peerAddr: the member's address when it gave it (its hot-key copies
	// are checked against the ring, copyRefused).
	peer     bool
	peerAddr string
	// warmTried: keys of the request being retried after a warm-up fetch
	// (warmup.go).
	warmTried map[string]bool
	key1      [1][]byte // one key for warmFetchKeys, without an allocation
}

// input is what the input loop waits for or skips.
type input struct {
	// need is how many bytes must be buffered before parsing is worth
	// trying again (0: try whenever bytes arrive).
	need int
	// swallow is how many more input bytes to discard (the data block of
	// a refused storage command).
	swallow int
	// counted: the text or meta store whose value is awaited was
	// counted when its line was read (storeLine).
	counted bool
}

// upload is a storage command whose value is copied into a store
// reservation as it arrives, over several events. hdr holds a copy of its
// command line, parsed again when the value is complete.
type upload struct {
	active bool
	binary bool // a binary store: no "\r\n" after the value
	resv   lru.Reservation
	hdr    []byte
}

// continuation is a reply that stopped half-way to let the client read
// what was written: a multi-get goes on from key resume; a dump from its
// cursor. The request's line stays in the input and is parsed again.
type continuation struct {
	suspended bool
	resume    int
	dump      dumpState
}

func newConn(s *Server, gc gnet.Conn) *conn {
	c := &conn{s: s, gc: gc, loop: s.net.loopFor(gc.EventLoop())}
	c.lastActive.Store(s.clk.Now())
	return c
}

// release frees what the connection holds in the store.
func (c *conn) release() {
	if c.up.active {
		c.s.store.Abort(&c.up.resv)
		c.up.active = false
	}
	c.flushCounters()
}

// onTraffic handles every complete request buffered on the connection and
// writes all their replies at once.
func (c *conn) onTraffic() gnet.Action {
	gc := c.gc
	// memcached counts bytes_read as it reads, so a stats command sees
	// the bytes of its own read: the input that arrived since the last
	// event is counted now, before any of it is handled.
	if in := gc.InboundBuffered(); in != c.inSeen {
		if in > c.inSeen {
			c.st[cBytesRead] += uint64(in - c.inSeen)
		}
		c.inSeen = in
	}
	now := c.s.clk.Now()
	// Atomic stores only when the value changes: each is a locked
	// instruction, and these run on every event.
	if c.lastActive.Load() != now {
		c.lastActive.Store(now)
	}
	if h := c.loop.hot; h != nil {
		h.Begin(now)
	}
	if c.parked {
		if !c.parkDone.Load() {
			return gnet.None // the invalidation's goroutine wakes us
		}
		c.parked = false
		c.out = append(c.out, c.held...)
	}
	if gc.OutboundBuffered() > outputPause {
		// The client is not reading its replies: leave its requests
		// unread until it does (pause wakes it to look again), and
		// close it when it keeps sending.
		if gc.InboundBuffered() > inputCap {
			c.s.counts.outputClosed.Add(1)
			return gnet.Close
		}
		c.pause()
		return gnet.None
	}
	if c.paused.Load() {
		c.paused.Store(false)
	}
	if c.watching.Load() {
		// A watcher only receives logs; what it sends is ignored.
		gc.Discard(gc.InboundBuffered())
		c.inSeen = 0
		return gnet.None
	}
	action := gnet.None
	c.yielded = false
	c.vv = c.s.verbose()
	for !c.closeAfter && !c.yielded && !c.parked {
		buffered := gc.InboundBuffered()
		if buffered == 0 {
			break
		}
		if c.in.swallow > 0 {
			n := min(c.in.swallow, buffered)
			gc.Discard(n)
			c.in.swallow -= n
			continue
		}
		if c.up.active {
			if !c.stream(buffered) {
				break
			}
			continue
		}
		if buffered < c.in.need {
			break
		}
		buf, _ := gc.Peek(-1)
		if !c.protoSet {
			c.protoSet = true
			switch c.s.set.Protocol {
			case ProtocolBinary:
				c.bin = true
			case ProtocolAuto:
				c.bin = buf[0] == proto.BinReqMagic
				if c.vv {
					name := "ascii"
					if c.bin {
						name = "binary"
					}
					c.s.vprintf("%d: Client using the %s protocol\n", c.fd(), name)
				}
			}
		}
		if c.reading.Load() {
			c.reading.Store(false) // the value that was awaited is here
		}
		var n int
		var close bool
		switch {
		case c.s.set.AuthFile != "" && !c.authed:
			n, close = c.processAuth(buf)
		case c.bin:
			n, close = c.processBinary(buf)
		default:
			n, close = c.process(buf)
		}
		if n > 0 {
			gc.Discard(n)
		}
		if close {
			action, c.closeErr = gnet.Close, true
			break
		}
		if n == 0 || c.parked {
			break
		}
		if len(c.out) > outputPause {
			break // write what we have; the rest waits for a wake-up
		}
	}
	if c.closeAfter {
		action = gnet.Close
	}
	if c.holdsReplies(action) {
		// memcached writes nothing while it reads a request's value or
		// skips one (conn_nread, conn_swallow): what it holds goes out
		// with the reply of that request, or after the value skipped.
		// What it wrote before (at an mn) is written.
		c.flushWritten()
	} else {
		if len(c.out) > c.sentMark && c.s.net.reqsPerEvent >= 0 && c.tls == nil {
			// memcached writes the replies it still holds where its
			// input ends, and coming back from the write takes one more
			// step of its -R budget: a yield (conn_yields) when it runs
			// out there.
			if c.budgetStep() {
				c.s.counts.connYields.Add(1)
			}
		}
		c.flushOut()
	}
	// With the replies written: a loop that always finds more events never
	// returns to the scheduler by itself (see yieldEvery).
	c.loop.yieldIfDue()
	if len(c.wlog.lines) > 0 {
		c.publishWatch()
	}
	rest := gc.InboundBuffered()
	c.inSeen = rest // counted already (above)
	wait := uint32(waitRead)
	if c.in.swallow > 0 {
		wait = waitSwallow
	}
	if c.between.Load() != wait {
		c.between.Store(wait)
	}
	if rest == 0 || rest < c.in.need {
		// memcached's buffer holds no whole command: its next event
		// begins by reading (even after a yield, which then finds
		// nothing to parse and waits for input).
		c.mcLeft = 0
	} else if action == gnet.None && !c.parked && !c.up.active {
		// Stopped early on purpose (a large reply): come back for the rest.
		if gc.OutboundBuffered() > outputPause {
			c.pause()
		} else {
			gc.Wake(nil)
		}
	}
	c.flushCounters()
	return action
}

// bigValue is a large value a Hit pinned in slab memory instead of copying
// it into the output buffer: sendBig writes it from there. The copy would
// cost more than the system call it saves (docs/benchmarks.md, "Large
// values").
type bigValue struct {
	pinned bool
	pieces [][]byte // the value in slab memory: one piece per chunk
	tail   []byte   // what follows the value in the reply
	pin    lru.Pin
}

// big returns where a Hit may put a large value for sendBig: nil over UDP,
// where every reply is copied into its datagrams, and while -vv's lines
// are printed (they are read from the replies in out).
func (c *conn) big() *bigValue {
	if c.udp != nil || c.vv {
		return nil
	}
	return &c.bigv
}

// take pins it for sendBig (callers check it.Len >= sendDirectMin first,
// so small values cost no call); tail follows the value. It reports
// whether it did; if not (b is nil, or the pin is refused), the Hit copies
// the value.
func (b *bigValue) take(it *lru.Item, tail []byte) bool {
	if b == nil {
		return false
	}
	pieces, pn, ok := it.Pin(b.pieces[:0])
	if ok {
		b.pinned, b.pieces, b.tail, b.pin = true, pieces, tail, pn
	}
	return ok
}

// sendBig, after a store read whose Hit took the value, writes the replies
// so far, the value and its tail in one writev, and releases the pin.
func (c *conn) sendBig() {
	b := &c.bigv
	c.iov = append(c.iov[:0], c.out)
	c.iov = append(c.iov, b.pieces...)
	c.iov = append(c.iov, b.tail)
	n := 0
	for _, p := range c.iov {
		n += len(p)
	}
	c.st[cBytesWritten] += uint64(n)
	c.allSent()
	c.flushCounters()
	c.gc.Writev(c.iov)
	c.s.store.Unpin(b.pin)
	clear(c.iov)
	clear(b.pieces)
	c.out = c.out[:0]
	b.pinned, b.pieces, b.tail, b.pin = false, b.pieces[:0], nil, lru.Pin{}
	c.loop.clockAt = ticks.Now() // the write may be long, and a multi-get makes one per large value
	c.loop.yieldIfDue()
}

// pendingOut is how many reply bytes wait: in the output buffer, and
// those a write left in the connection's outbound buffer (large values go
// straight there, see sendBig).
func (c *conn) pendingOut() int {
	n := len(c.out)
	if c.gc != nil {
		n += c.gc.OutboundBuffered()
	}
	return n
}

// pastBuffer follows memcached's reads of the input a batch is parsed
// from: it reads mcReadBuffer bytes at a time (over TLS, at most one
// record at a time) into a buffer that holds the input up to wend, and when
// it needs the input up to end beyond that (a command line or packet header
// past it, a value or swallowed bytes it reads straight from the socket)
// it first writes the replies it holds, and its buffer starts again at
// from.
func (c *conn) pastBuffer(wend *int, end, from int) {
	if end > *wend { // kept small enough to inline: most requests stop here
		c.readPast(wend, end, from)
	}
}

// readPast is pastBuffer past the input memcached holds.
func (c *conn) readPast(wend *int, end, from int) {
	c.refill(wend, end, from)
	for c.tls != nil && end > *wend {
		c.refill(wend, end, from) // the records it reads on
	}
}

// bufferEnd is where the input memcached holds at the start of a batch
// ends (pastBuffer).
func (c *conn) bufferEnd() int {
	if c.tls != nil {
		return c.tls.recordEnd(0, mcReadBuffer)
	}
	return mcReadBuffer
}

// refill is one read of memcached's past the input it holds (pastBuffer),
// for the input up to end: the replies it holds are written first.
func (c *conn) refill(wend *int, end, from int) {
	c.markSent()
	if c.tls == nil {
		// memcached's event ends where it waits for more input: the
		// next begins by reading, with a fresh budget (spend).
		c.mcLeft = 0
		*wend = from + mcReadBuffer
		return
	}
	// Over TLS memcached reads the next record in the same event, after
	// one more step of its budget of commands (spend); the replies were
	// just written, whether or not the budget ran out there.
	c.budgetStep()
	next := c.tls.recordEnd(*wend, from+mcReadBuffer)
	if next <= *wend {
		next = end // records not told apart (tlsConn.ends)
	}
	*wend = next
}

// lineCut follows memcached's reads of a command line that runs past the
// input it holds (pastBuffer) to end: holding more than proto.MaxLineLen
// bytes of it without the newline, memcached closes the connection unless
// the line is a multi-get; holding less, it writes what it holds and reads
// on.
func (c *conn) lineCut(wend *int, buf []byte, off, end int) bool {
	if c.udp != nil || proto.MultiGetLine(buf[off:end]) {
		return false
	}
	for end > *wend {
		if *wend-off > proto.MaxLineLen {
			return true
		}
		c.refill(wend, end, off)
	}
	return false
}

// dropUnsent forgets the replies of this batch that memcached would not
// have written yet (those after sentMark), when it closes the connection
// at once for bad input. UDP replies stay: each datagram is answered on
// its own.
func (c *conn) dropUnsent() {
	if c.udp == nil {
		c.out, c.resps = c.out[:min(c.sentMark, len(c.out))], 0
		c.dropHolds(len(c.out))
	}
}

// flushOut writes the replies of this event in one write.
func (c *conn) flushOut() {
	if len(c.out) == 0 {
		return
	}
	c.st[cBytesWritten] += uint64(len(c.out))
	c.allSent()
	// Counters first: a client that has its reply sees them in stats.
	c.flushCounters()
	c.gc.Write(c.out)
	if cap(c.out) > outShrink {
		c.out = nil
	} else {
		c.out = c.out[:0]
	}
}

// holdsReplies reports whether the replies in out stay unwritten at the end
// of an event: a text connection waits for the rest of a value (to store
// or to skip) and is not closing, and they are not so many that the
// client must read them first. (memcached's binary protocol writes what
// it holds before it waits for a request's body.)
func (c *conn) holdsReplies(action gnet.Action) bool {
	return (c.in.swallow > 0 || c.reading.Load()) && !c.bin && action == gnet.None &&
		c.udp == nil && len(c.out) <= outputPause
}

// What a connection waits for between events (conn.between).
const (
	waitFirst = iota
	waitRead
	waitSwallow
)

// flushWritten writes the replies memcached would have written already
// (out up to sentMark) and keeps the rest in out.
func (c *conn) flushWritten() {
	n := min(c.sentMark, len(c.out))
	if n == 0 {
		return
	}
	c.st[cBytesWritten] += uint64(n)
	c.flushCounters()
	c.gc.Write(c.out[:n])
	c.out = append(c.out[:0], c.out[n:]...)
	c.sentMark = 0
	k := 0
	for _, h := range c.holds {
		if h.off >= n {
			h.off -= n
			c.holds[k] = h
			k++
		}
	}
	c.holds = c.holds[:k]
}

// process handles the requests at the start of buf and returns the bytes
// consumed and whether to close the connection now.
func (c *conn) process(buf []byte) (off int, close bool) {
	r := &c.req
	r.AcceptPush = c.s.rep.peers.Load() != nil // ms H: only a cluster member takes pushes
	c.in.need = 0
	// A request's processing time runs from the end of the one before it in
	// this batch (or the batch's start) to its reply: parsing included, and
	// one clock read per request.
	start := ticks.Now()
	var pf prefetcher
	wend := c.bufferEnd() // where the input memcached holds ends (pastBuffer)
	for off < len(buf) && !c.closeAfter {
		n, err := proto.Parse(buf[off:], r)
		if end := off + r.HeaderLen; end > wend && c.lineCut(&wend, buf, off, end) {
			c.s.counts.lineTooLong.Add(1)
			c.dropUnsent()
			c.closeAfter, c.closeErr = true, true
			return off, false
		}
		if err == nil {
			c.pastBuffer(&wend, off+r.HeaderLen, off) // the line
			if c.vv && !c.in.counted {
				c.vCommand(buf[off : off+r.HeaderLen]) // (a store's, when its value came later)
			}
			if c.s.net.respLimit > 0 && !c.respRoom(r) {
				// As memcached when it cannot allocate a response
				// object for a command: the connection is closed, its
				// waiting replies unsent.
				c.out, c.resps = c.out[:0], 0
				return off, true
			}
			if h := c.loop.hot; h != nil {
				sample(h, r)
			}
			client := clientDelete(r)
			write := isWrite(r.Command)
			push := r.Command == proto.CmdMetaSet && r.HasFlag('H') // a hand-over push (handover.go)
			if c.s.warmOn() {
				if c.warmFetch(r) {
					return off, false // parked; the request runs again after the fetch
				}
				// A hand-over push notes itself once accepted (commit); a
				// member's md removes a copy it knows is stale (away.go),
				// which the push of the key's value may then replace; a
				// member's copy of a hot key (ms) is not this node's
				// write: refused (copyRefused) when the key is this
				// node's, it must not settle the key either, which its
				// previous owner may hold newer.
				if write && !push && !(c.peer && (r.Command == proto.CmdMetaDelete || r.Command == proto.CmdMetaSet)) {
					c.s.noteWrite(r.Key)
				}
			} else if client && c.s.rep.peers.Load() != nil {
				c.s.noteForeignDelete(r.Key) // a relay notes itself when applied
			}
			if write && !push && c.s.away.on.Load() {
				c.s.noteAway(r.Key) // not a hand-over push: it brings the member's own item
			}
			if c.s.net.prefetch && c.udp == nil {
				pf.ahead(c.s.store, buf, off+n, proto.PeekRequest)
			}
			var everywhere bool // its hot-key copies are updated on the way
			var owner string
			if client {
				everywhere = c.broadcastDelete(r)
			}
			if client || write && r.Command != proto.CmdDelete && r.Command != proto.CmdMetaDelete {
				owner = c.movedOwner(r.Key) // a relayed delete is not a client's
			}
			if keys := c.copiedKeys(r); keys != nil && !everywhere && owner == "" && !c.udpHold(keys) {
				mark := len(c.out)
				c.exec(r)
				end := ticks.Now()
				c.observe(r.Command, end-start)
				c.loop.clockAt = end
				c.park(keys, mark)
				return off + n, false
			}
			mark := len(c.out)
			c.exec(r)
			c.stacked = true
			switch r.Command {
			case proto.CmdMetaNoop:
				c.wrote() // mn flushes (memcached's conn_mwrite)
			case proto.CmdWatch:
				if c.watching.Load() {
					// The connection is the logger's now: memcached
					// reads nothing more from it, and the rest of this
					// input goes unanswered.
					return len(buf), false
				}
			}
			c.pastBuffer(&wend, off+n, off+n) // a value read past it, straight into the item
			end := ticks.Now()
			c.observe(r.Command, end-start)
			start, c.loop.clockAt = end, end
			if everywhere || owner != "" {
				c.deleteEverywhere(r, mark, everywhere, owner)
			}
			if c.parked {
				return off + n, false // waiting for the other members
			}
			if c.udp != nil {
				// quit's reply is empty, but memcached sends it (as an
				// empty datagram when nothing went before it).
				c.udpMark(r.Command == proto.CmdQuit)
			}
			if c.more.suspended && c.udp == nil {
				// The reply stopped half-way to let the client read
				// it: the request stays in the input, to be parsed
				// again and continued (c.more).
				c.more.suspended = false
				return off, false
			}
			off += n
			if len(c.out) > outputPause && c.udp == nil || c.spend() {
				return off, false
			}
			continue
		}
		if err == proto.ErrIncomplete {
			rest := len(buf) - off
			if r.Command.IsStorage() && r.HeaderLen > 0 {
				total := r.HeaderLen + r.ValueLen + 2
				if total > streamThreshold && c.udp == nil {
					if h := c.loop.hot; h != nil {
						h.Write(r.Key)
					}
					if c.vv {
						c.vCommand(buf[off : off+r.HeaderLen])
					}
					c.startStream(r, buf[off:off+r.HeaderLen])
					off += r.HeaderLen
					return off, false
				}
				if c.vv && !c.in.counted {
					c.vCommand(buf[off : off+r.HeaderLen]) // once, as the line is read
				}
				if c.storeLine(r) {
					return off + r.HeaderLen, false // refused: its value is skipped
				}
				c.in.need = total
				c.reading.Store(true) // conn_nread in stats conns
				return off, false
			}
			if rest > maxPendingLine {
				c.s.counts.lineTooLong.Add(1)
				return off, true
			}
			c.in.need = rest + max(r.Need, 1)
			return off, false
		}
		e, ok := err.(*proto.Error)
		if !ok {
			return off, true
		}
		if c.vv && r.HeaderLen > 0 && off+r.HeaderLen <= len(buf) && !c.in.counted {
			c.vCommand(buf[off : off+r.HeaderLen])
		}
		if e == proto.ErrLineTooLong {
			// memcached reads again first if it held no more than
			// MaxLineLen bytes of the line.
			c.pastBuffer(&wend, off+proto.MaxLineLen+1, off)
		}
		c.pastBuffer(&wend, off+n, off)
		off += n
		if e != proto.ErrBadDataChunk || !c.allocFails(r) {
			c.protoError(r, e, buf[off-n:off-n+min(r.HeaderLen, n)])
		}
		c.stacked = true
		if c.udp != nil {
			c.udpMark(false)
		}
		if e.Close() {
			if e == proto.ErrLineTooLong {
				c.s.counts.lineTooLong.Add(1)
			}
			if e.Reply() == "" {
				c.dropUnsent() // closed at once, without a word
			}
			c.closeAfter, c.closeErr = true, true
			return off, false
		}
		if r.Swallow > 0 {
			k := min(len(buf)-off, r.Swallow)
			off += k
			c.in.swallow = r.Swallow - k
			c.pastBuffer(&wend, off, off) // swallowed straight from the socket
		}
		if c.spend() {
			return off, false
		}
	}
	return off, false
}

// Under read_buf_mem_limit memcached gives each worker thread limit/threads
// bytes of 16 KiB buffers: one reads a connection's input, each other holds
// a bundle of 13 response objects (one per reply, one per key of a
// multi-get). A connection whose replies of one event need more response
// objects than that gets SERVER_ERROR out of memory writing get response
// for a multi-get, and is closed for anything else; response_obj_oom counts
// both. slabcached applies the same bound per event loop.
const (
	readBufferSize = 16 << 10
	respsPerBundle = 13
)

// respLimit is the number of replies a connection may have waiting in one
// event for read_buf_mem_limit limit (bytes) and threads event loops, or 0
// for no limit.
func respLimit(limit int64, threads int) int {
	if limit <= 0 {
		return 0
	}
	bufs := limit / int64(max(threads, 1)) / readBufferSize
	return int(max(bufs-1, 1)) * respsPerBundle
}

// respRoom reserves room for r's replies and reports whether there was
// room; a multi-get reserves (or refuses) its keys itself (get).
func (c *conn) respRoom(r *proto.Request) bool {
	switch r.Command {
	case proto.CmdGet, proto.CmdGets, proto.CmdGat, proto.CmdGats:
		return true
	}
	if c.resps >= c.s.net.respLimit {
		c.s.counts.respOOM.Add(1)
		return false
	}
	c.resps++
	return true
}

// spend counts one request served and reports whether the connection
// must yield to the loop's other connections: memcached serves R+1
// commands (reqs_per_event, -R) in an event that begins by reading, R in
// one that goes on after a yield, and writes what it holds when they run
// out (sentMark). slabcached yields there too when -R was given
// (conn_yields); without it, it goes on and only counts the point.
func (c *conn) spend() bool {
	if c.mcLeft > 1 { // kept small enough to inline: most requests stop here
		c.mcLeft--
		return false
	}
	return c.budgetSpent()
}

// budgetSpent is spend when the count is fresh (0) or at its last command.
func (c *conn) budgetSpent() bool {
	if !c.budgetStep() {
		return false
	}
	c.wrote()
	if c.udp != nil || c.s.net.reqsPerEvent < 0 {
		return false // a datagram is served whole; without -R no yield
	}
	c.s.counts.connYields.Add(1)
	c.yielded = true
	return true
}

// budgetStep takes one step of memcached's budget of commands per event
// (spend) and reports whether it ran out there; the count then starts
// again at R, as in an event that goes on after a yield.
func (c *conn) budgetStep() bool {
	if c.mcLeft == 0 {
		c.mcLeft = c.s.set.ReqsPerEvent + 1
	}
	if c.mcLeft--; c.mcLeft > 0 {
		return false
	}
	c.mcLeft = c.s.set.ReqsPerEvent
	return true
}

// wrote notes a point where memcached writes the replies it holds: over
// TCP the replies before it count as sent (sentMark); over UDP a key that
// misses first after it costs an empty datagram again (servePayload).
func (c *conn) wrote() {
	if c.udp != nil {
		c.udp.marks = append(c.udp.marks, udpMark{end: len(c.out), written: true})
		return
	}
	c.markSent()
}

// markSent notes, over TCP, a point where memcached writes what it holds:
// the replies so far count as sent (sentMark) and it holds none (stacked).
func (c *conn) markSent() { c.sentMark, c.stacked = len(c.out), false }

// allSent forgets what out held once it is written: its replies (resps),
// the marks into it and the items its replies held.
func (c *conn) allSent() { c.resps, c.sentMark, c.stacked, c.holds = 0, 0, false, c.holds[:0] }

// protoError answers a request Parse refused.
func (c *conn) protoError(r *proto.Request, e *proto.Error, line []byte) {
	if r.Command == proto.CmdFlushAll {
		c.st[cCmdFlush]++ // counted before anything is checked
	}
	if r.Command == proto.CmdFlushAll && !c.s.set.FlushEnabled {
		// memcached checks -F before the arguments.
		mark := len(c.out)
		c.out = proto.AppendError(c.out, proto.ErrFlushDisabled)
		if c.vv {
			c.vReply(c.out[mark:], r.NoReply)
		}
		if r.NoReply {
			c.out = c.out[:mark]
		}
		return
	}
	if r.NoReply {
		if c.vv && printsError(r.Command, e, line) {
			c.vReply([]byte(e.Reply()), true)
		}
		return
	}
	mark := len(c.out)
	c.out = proto.AppendError(c.out, e)
	if c.vv && printsError(r.Command, e, line) {
		c.vReply(c.out[mark:], false)
	}
}

// startStream begins a storage command whose value will arrive over several
// events: reserve the item now and copy the value in as it comes.
func (c *conn) startStream(r *proto.Request, line []byte) {
	c.up.hdr = append(c.up.hdr[:0], line...)
	// Parse the private copy so r's slices stay valid after the input
	// buffer moves on.
	proto.Parse(c.up.hdr, r)
	if !c.allocate(r) {
		c.in.swallow = r.ValueLen + 2
		return
	}
	c.up.active = true
	c.reading.Store(true)
	c.in.need = 0
}

// stream copies buffered value bytes into the reservation and, once the
// value and its terminator are in, completes the store. It reports whether
// it made progress.
func (c *conn) stream(buffered int) bool {
	gc := c.gc
	if rem := c.up.resv.Remaining(); rem > 0 {
		buf, _ := gc.Peek(min(rem, buffered))
		w := c.up.resv.Write(buf)
		gc.Discard(w)
		if c.up.binary && c.up.resv.Remaining() == 0 {
			c.binStreamDone() // a binary value has no terminator
		}
		return w > 0
	}
	if buffered < 2 {
		return false
	}
	t, _ := gc.Peek(2)
	ok := t[0] == '\r' && t[1] == '\n'
	gc.Discard(2)
	c.up.active = false
	c.reading.Store(false)
	r := &c.req
	proto.Parse(c.up.hdr, r)
	if !ok {
		c.in.counted = false // counted when its line was read (allocate)
		c.s.store.Abort(&c.up.resv)
		c.badDataChunk(r)
		c.markSent() // read straight from the socket (pastBuffer)
		return true
	}
	if keys := c.copiedKeys(r); keys != nil {
		mark := len(c.out)
		c.commit(r)
		c.park(keys, mark)
		return false // the loop stops here: the connection is parked
	}
	c.commit(r)
	c.markSent() // read straight from the socket (pastBuffer)
	return true
}

// allocFails makes the allocation memcached makes for a storage command
// before it reads the value, for one whose data block turned out bad: when
// it fails (too large, no memory) memcached answers that and skips the value
// without looking at its end, and allocFails answers the same.
func (c *conn) allocFails(r *proto.Request) bool {
	if !c.allocate(r) {
		return true
	}
	c.s.store.Abort(&c.up.resv)
	c.in.counted = false // the store ends here
	return false
}

// allocate makes the allocation memcached makes for a text or meta store
// when it reads the command line, into c.up.resv, and counts the store as
// memcached does then (countSetLine), once: c.in.counted says it was, until
// the store ends (takeCounted). When the allocation fails (too large, no
// memory) it answers that (storeFailed) and reports false.
func (c *conn) allocate(r *proto.Request) bool {
	res := c.s.store.Reserve(&c.up.resv, r.Key, r.ClientFlags, int64(r.Exptime), r.ValueLen)
	if res != lru.Stored {
		c.storeFailed(r, res)
		return false
	}
	if !c.in.counted {
		c.countSetLine(r, c.up.resv.Class())
		c.in.counted = true
	}
	return true
}

// countSetLine counts a store in cmd_set, in its class's set_cmds and,
// with stats detail on, in its key prefix's sets (not an ms: memcached
// counts no meta command per prefix): what memcached counts when it
// allocates a text or meta store's item, before the value.
func (c *conn) countSetLine(r *proto.Request, cls int) {
	c.st[cCmdSet]++
	c.classAdd(cls, kCmdSet)
	if c.s.obs.on.Load() && !r.Command.IsMeta() {
		c.detailSet(r.Key)
	}
}

// storeLine does for a text or meta store whose value has not all arrived
// what memcached does when it reads the line, once: it allocates the item,
// so the store counts already (a stats command on another connection, or
// this one closing, sees it), or it answers that it cannot and skips the
// value (storeLine then reports true). The item is made again when the
// value is in.
func (c *conn) storeLine(r *proto.Request) bool {
	if c.in.counted {
		return false
	}
	if !c.allocate(r) {
		c.in.swallow = r.ValueLen + 2
		return true
	}
	c.s.store.Abort(&c.up.resv)
	return false
}

// takeCounted reports whether the store being completed was counted when
// its line was read (allocate), and clears the mark.
func (c *conn) takeCounted() bool {
	v := c.in.counted
	c.in.counted = false
	return v
}

// badDataChunk answers a data block without its "\r\n".
func (c *conn) badDataChunk(r *proto.Request) {
	if r.Command == proto.CmdMetaSet || !r.NoReply {
		c.out = proto.AppendError(c.out, proto.ErrBadDataChunk)
	}
}

// pipelined reports whether memcached would still hold the replies of
// earlier commands of this batch (resp_has_stack): watch, metadump and
// mgdump refuse to start behind them, noreply ones included, but not
// behind an mn, where memcached writes.
func (c *conn) pipelined() bool { return c.stacked }

// prefetchDepth is how many requests ahead of the one executing the
// prefetcher starts loading index entries.
const prefetchDepth = 8

// prefetcher hides the cache misses of a pipelined batch's lookups: while
// a request executes, the index entries (shard lock, control bytes, item
// references) of the next prefetchDepth requests are loading, and the item
// of the next one. Each of those is a miss that a lookup would otherwise
// wait for in turn. It only looks at the input (proto.PeekRequest, or
// PeekBinaryRequest) and hints the CPU: what it gets wrong costs a useless
// prefetch.
type prefetcher struct {
	pos int // the end of the requests seen so far
	// stuck: the request at pos could not be read ahead of (unknown
	// command, incomplete); look-ahead resumes after it executes
	stuck bool
	head  int // ring index of the oldest entry
	n     int // entries in the ring
	ring  [prefetchDepth]struct {
		start int    // where the request starts in the batch
		hash  uint64 // its key's hash, when it has a key
		key   bool
	}
}

// ahead is called when the request before next starts executing.
func (pf *prefetcher) ahead(st *lru.Store, buf []byte, next int, peek func([]byte) ([]byte, int)) {
	if pf.pos <= next {
		// Caught up (or at the request the look-ahead stopped at): start
		// again from next.
		pf.pos, pf.head, pf.n, pf.stuck = next, 0, 0, false
	}
	for pf.n > 0 && pf.ring[pf.head].start < next {
		pf.head = (pf.head + 1) % prefetchDepth
		pf.n--
	}
	for pf.n < prefetchDepth && pf.pos < len(buf) && !pf.stuck {
		k, m := peek(buf[pf.pos:])
		e := &pf.ring[(pf.head+pf.n)%prefetchDepth]
		e.start, e.key = pf.pos, k != nil
		if e.key {
			e.hash = st.PrefetchIndex(k)
		}
		pf.n++
		if m == 0 {
			pf.stuck = true // pos stays at its start
			break
		}
		pf.pos += m
	}
	if e := &pf.ring[pf.head]; pf.n > 0 && e.start == next && e.key {
		st.PrefetchItem(e.hash)
	}
}

// pauseRetry is how soon a paused connection looks again whether its
// client has read enough of its replies.
const pauseRetry = 100 * time.Millisecond

// pause leaves the connection's requests unread until its client has read
// its replies: gnet does not call OnTraffic when the socket drains, so the
// connection is woken pauseRetry later to look again (and again while it
// stays paused).
func (c *conn) pause() {
	c.paused.Store(true)
	if c.pauseWake.CompareAndSwap(false, true) {
		time.AfterFunc(pauseRetry, func() {
			c.pauseWake.Store(false)
			c.gc.Wake(nil)
		})
	}
}
