package server

import (
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
)

// Limits of one connection's buffers.
const (
	// streamThreshold: a storage command whose line and data together are
	// longer than this is not buffered whole: its value is copied into a
	// store reservation piece by piece as it arrives.
	streamThreshold = 16 << 10
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

// conn is one client connection's state. Everything except the atomics is
// used only by the connection's event loop.
type conn struct {
	s    *Server
	gc   gnet.Conn
	loop *loopStats

	req proto.Request
	out []byte
	st  counters // this event's counters, added to loop at its end

	// need is how many bytes must be buffered before parsing is worth
	// trying again (0: try whenever bytes arrive).
	need int
	// swallow is how many more input bytes to discard (the data block of
	// a refused storage command).
	swallow int

	// A storage command whose value streams into resv. hdr holds a copy of
	// its command line, parsed again when the value is complete.
	streaming bool
	resv      lru.Reservation
	hdr       []byte

	// line is the current request's bytes (valid while it is handled).
	line []byte

	// A multi-get whose replies outgrew outputPause stops after a key
	// (suspended) and continues from key resume once they drain.
	suspended bool
	resume    int

	// mg and me hits.
	mh metaHit

	// Hit state for the store's callbacks.
	withCAS  bool
	hitKey   []byte
	hits     int
	hitClass int
	hitSeg   lru.Segment
	hitLen   int

	// An lru_crawler metadump/mgdump in progress (admin.go).
	dumping bool
	dumpCur lru.DumpCursor
	dumpSet map[int]bool

	// Watch log lines gathered during an event (watch.go).
	wlog   []byte
	wkinds int

	lastActive atomic.Uint32 // clock time of the last bytes received
	paused     atomic.Bool   // waiting for the client to read replies
	kicked     atomic.Bool   // closed by idle_timeout
	reading    atomic.Bool   // inside a storage command's value (conn_nread)
	watching   atomic.Bool   // turned into a watcher (conn_watch)
	closeAfter bool          // close once the replies are written (quit, fatal errors)
}

func newConn(s *Server, gc gnet.Conn) *conn {
	c := &conn{s: s, gc: gc, loop: s.loopFor(gc.EventLoop())}
	c.lastActive.Store(s.clk.Now())
	return c
}

// release frees what the connection holds in the store.
func (c *conn) release() {
	if c.streaming {
		c.s.store.Abort(&c.resv)
		c.streaming = false
	}
	c.flushCounters()
}

// onTraffic handles every complete request buffered on the connection and
// writes all their replies at once.
func (c *conn) onTraffic() gnet.Action {
	gc := c.gc
	c.lastActive.Store(c.s.clk.Now())
	if gc.OutboundBuffered() > outputPause {
		// The client is not reading its replies: leave its requests
		// unread until it does (OnTick wakes paused connections), and
		// close it when it keeps sending.
		if gc.InboundBuffered() > inputCap {
			c.s.outputClosed.Add(1)
			return gnet.Close
		}
		c.paused.Store(true)
		return gnet.None
	}
	c.paused.Store(false)
	if c.watching.Load() {
		// A watcher only receives logs; what it sends is ignored.
		gc.Discard(gc.InboundBuffered())
		return gnet.None
	}
	action := gnet.None
	for !c.closeAfter {
		buffered := gc.InboundBuffered()
		if buffered == 0 {
			break
		}
		if c.swallow > 0 {
			n := min(c.swallow, buffered)
			gc.Discard(n)
			c.swallow -= n
			c.st[cBytesRead] += uint64(n)
			continue
		}
		if c.streaming {
			if !c.stream(buffered) {
				break
			}
			continue
		}
		if buffered < c.need {
			break
		}
		buf, _ := gc.Peek(-1)
		n, close := c.process(buf)
		if n > 0 {
			gc.Discard(n)
			c.st[cBytesRead] += uint64(n)
		}
		if close {
			action = gnet.Close
			break
		}
		if n == 0 {
			break
		}
		if len(c.out) > outputPause {
			break // write what we have; the rest waits for a wake-up
		}
	}
	if c.closeAfter {
		action = gnet.Close
	}
	c.flushOut()
	if len(c.wlog) > 0 {
		c.publishWatch()
	}
	if action == gnet.None && gc.InboundBuffered() > 0 && !c.streaming && gc.InboundBuffered() >= c.need {
		// Stopped early on purpose (a large reply): come back for the rest.
		if gc.OutboundBuffered() > outputPause {
			c.paused.Store(true)
		} else {
			gc.Wake(nil)
		}
	}
	c.flushCounters()
	return action
}

// flushOut writes the replies of this event in one write.
func (c *conn) flushOut() {
	if len(c.out) == 0 {
		return
	}
	c.st[cBytesWritten] += uint64(len(c.out))
	// Counters first: a client that has its reply sees them in stats.
	c.flushCounters()
	c.gc.Write(c.out)
	if cap(c.out) > outShrink {
		c.out = nil
	} else {
		c.out = c.out[:0]
	}
}

// process handles the requests at the start of buf and returns the bytes
// consumed and whether to close the connection now.
func (c *conn) process(buf []byte) (off int, close bool) {
	r := &c.req
	c.need = 0
	for off < len(buf) && !c.closeAfter {
		n, err := proto.Parse(buf[off:], r)
		if err == nil {
			c.line = buf[off : off+n]
			start := nanotime()
			c.exec(r)
			c.loop.observe(r.Command, nanotime()-start)
			if c.suspended {
				// A multi-get stopped half-way to let its replies
				// drain: its line stays in the input, to be parsed
				// again and continued from c.resume.
				c.suspended = false
				return off, false
			}
			off += n
			if len(c.out) > outputPause {
				return off, false
			}
			continue
		}
		if err == proto.ErrIncomplete {
			rest := len(buf) - off
			if isStorage(r.Command) && r.HeaderLen > 0 {
				total := r.HeaderLen + r.ValueLen + 2
				if total > streamThreshold {
					c.startStream(r, buf[off:off+r.HeaderLen])
					off += r.HeaderLen
					return off, false
				}
				c.need = total
				return off, false
			}
			if rest > maxPendingLine {
				c.s.lineTooLong.Add(1)
				return off, true
			}
			c.need = rest + max(r.Need, 1)
			return off, false
		}
		e, ok := err.(*proto.Error)
		if !ok {
			return off, true
		}
		c.line = buf[off : off+n]
		off += n
		c.protoError(r, e)
		if e.Close() {
			if e == proto.ErrLineTooLong {
				c.s.lineTooLong.Add(1)
			}
			c.closeAfter = true
			return off, false
		}
		if r.Swallow > 0 {
			k := min(len(buf)-off, r.Swallow)
			off += k
			c.swallow = r.Swallow - k
		}
	}
	return off, false
}

// protoError answers a request Parse refused.
func (c *conn) protoError(r *proto.Request, e *proto.Error) {
	if r.Command == proto.CmdFlushAll && !c.s.set.FlushEnabled {
		// memcached checks -F before the arguments.
		if !r.NoReply {
			c.out = proto.AppendError(c.out, proto.ErrFlushDisabled)
		}
		return
	}
	if r.NoReply {
		return
	}
	c.out = proto.AppendError(c.out, e)
}

// isStorage reports whether cmd carries a data block.
func isStorage(cmd proto.Command) bool {
	switch cmd {
	case proto.CmdSet, proto.CmdAdd, proto.CmdReplace, proto.CmdAppend, proto.CmdPrepend, proto.CmdCas, proto.CmdMetaSet:
		return true
	}
	return false
}

// startStream begins a storage command whose value will arrive over several
// events: reserve the item now and copy the value in as it comes.
func (c *conn) startStream(r *proto.Request, line []byte) {
	if r.Command == proto.CmdMetaSet {
		c.st[cCmdMeta]++
	}
	c.hdr = append(c.hdr[:0], line...)
	// Parse the private copy so r's slices stay valid after the input
	// buffer moves on.
	proto.Parse(c.hdr, r)
	res := c.s.store.Reserve(&c.resv, r.Key, r.ClientFlags, int64(r.Exptime), r.ValueLen)
	if res != lru.Stored {
		c.storeFailed(r, res)
		c.swallow = r.ValueLen + 2
		return
	}
	c.streaming = true
	c.reading.Store(true)
	c.need = 0
}

// stream copies buffered value bytes into the reservation and, once the
// value and its terminator are in, completes the store. It reports whether
// it made progress.
func (c *conn) stream(buffered int) bool {
	gc := c.gc
	if rem := c.resv.Remaining(); rem > 0 {
		buf, _ := gc.Peek(min(rem, buffered))
		w := c.resv.Write(buf)
		gc.Discard(w)
		c.st[cBytesRead] += uint64(w)
		return w > 0
	}
	if buffered < 2 {
		return false
	}
	t, _ := gc.Peek(2)
	ok := t[0] == '\r' && t[1] == '\n'
	gc.Discard(2)
	c.st[cBytesRead] += 2
	c.streaming = false
	c.reading.Store(false)
	r := &c.req
	proto.Parse(c.hdr, r)
	if !ok {
		c.s.store.Abort(&c.resv)
		c.badDataChunk(r)
		return true
	}
	c.commit(r)
	return true
}

// badDataChunk answers a data block without its "\r\n".
func (c *conn) badDataChunk(r *proto.Request) {
	if r.Command == proto.CmdMetaSet || !r.NoReply {
		c.out = proto.AppendError(c.out, proto.ErrBadDataChunk)
	}
}

// flushCounters adds this event's counters to the loop's.
func (c *conn) flushCounters() {
	for i, v := range c.st {
		if v != 0 {
			c.loop.c[i].Add(v)
			c.st[i] = 0
		}
	}
}

// trimLine returns the first line of b without its line ending.
func trimLine(b []byte) []byte {
	for i, ch := range b {
		if ch == '\n' {
			b = b[:i]
			break
		}
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}
