// Package proto is slabcache's memcached protocol layer: bytes in, requests
// out; reply values in, bytes out. It speaks the text protocol and the meta
// protocol (mg ms md ma mn me) exactly as memcached 1.6.45 does, down to the
// error strings and the order in which errors are found.
//
// Parsing and encoding do no I/O and keep no state between calls; only
// the client side's Reader and Conn read and write, through the io
// interfaces they are given. proto must import only the standard library
// (internal/archtest enforces it): no gnet, no store, nothing of ours. It
// is the one memcached codec of slabcache: the server, the load generator,
// the Go client, discovery and the tools all go through it.
//
// # Server side
//
// Parse reads one request from the front of a buffer into a reusable
// Request and says how many bytes it used:
//
//	var r proto.Request // one per connection
//	for {
//		n, err := proto.Parse(buf, &r)
//		if err == proto.ErrIncomplete {
//			// Wait for r.Need more bytes. If r.HeaderLen > 0 the line of
//			// a storage command is complete and r.ValueLen is known: a
//			// value over the item size limit can be refused now (reply
//			// proto.ErrTooLarge, drop r.HeaderLen bytes, then discard
//			// r.ValueLen+2 more as they arrive).
//			break
//		}
//		if e, ok := err.(*proto.Error); ok {
//			if !r.NoReply {
//				out = proto.AppendError(out, e)
//			}
//			if e.Close() { /* close after writing out */ }
//			buf = buf[n:] // then discard r.Swallow more bytes
//			continue
//		}
//		buf = buf[n:]
//		switch r.Command { ... } // execute, appending replies to out
//	}
//
// The Request's slices (Key, Keys, Value, Opaque, Args) point into buf: use
// them before the buffer is reused, and copy what is kept. Once Keys has
// grown to the widest multi-get seen, Parse allocates nothing.
//
// Error values (ErrBadFormat, ErrDuplicateFlag, ...) are preallocated and
// carry memcached's exact reply line and whether the connection must be
// closed; errors.go is the one place where those texts live. Errors the
// server raises itself (ErrTooLarge, ErrNonNumeric, ...) are there too.
//
// Replies are appended to a per-connection output buffer with the AppendX
// functions (AppendValueHeader, AppendValue, AppendEnd, AppendStored, ...,
// AppendNumber, AppendStat*, AppendMetaReply, AppendMetaDebug, AppendConfig),
// none of which allocates when the buffer has room. AppendMetaReply echoes
// the return flags in the order of the request's flags (Request.MetaFlags).
//
// # Semantics the server must add
//
//   - noreply (classic commands): Request.NoReply suppresses the normal
//     reply and, as in memcached, an error reply too. Meta q is
//     HasFlag('q'); memcached 1.6.45 then hides EN for mg, HD for ms and md,
//     the success reply (HD or VA) for ma, and never an error or another
//     code.
//   - Exptime and the meta TTL tokens are the raw protocol values (convert
//     with internal/clock's Expiry).
//   - flush_all under -F must answer ErrFlushDisabled whenever r.Command
//     is CmdFlushAll, even if Parse found a bad delay (memcached checks -F
//     first); shutdown checks -A before its argument.
//   - Admin commands (stats, slabs, lru, lru_crawler, watch, shutdown,
//     refresh_certs, config, cluster) are only tokenised: Args() holds
//     their arguments.
//   - The binary protocol has its own parser and encoders: ParseBinary,
//     BinRequest, the AppendBin functions (binary.go says what the server
//     adds).
//
// # Client side
//
// AppendRequest writes any Request (AppendGetRequest and AppendSetRequest
// are shortcuts), and ParseReply reads one reply: status lines, numbers,
// VALUE blocks through END, STAT lines through END, VERSION, errors, meta
// replies with their flags and VA data, ME, and CONFIG. ParseListReply
// reads the lines-through-END replies of admin commands. Both return
// ErrIncomplete on partial input and allocate nothing once warm.
//
// A Reader reads whole replies from a stream (a net.Conn, a bufio.Reader)
// with those parsers; Reply.Err turns an error reply into a *ServerError
// (errors.Is matches it against the Error values). A Conn pairs a stream
// with a Reader for request-reply exchanges and stats:
//
//	c := proto.NewConn(netConn)
//	var rp proto.Reply
//	err := c.Do(&proto.Request{Command: proto.CmdGet, Keys: [][]byte{key}}, &rp)
//	st, err := c.Stats("settings")
package proto
