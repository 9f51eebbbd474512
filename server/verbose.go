package server

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/slabcache/slabcache/proto"
)

// Diagnostic output on standard error as memcached 1.6.45 prints it with
// -vv (verbosity 2 or more, also set by the verbosity command): the slab
// classes at start, each listening socket, each client connection's
// opening, protocol and closing, and per request what memcached's own
// code paths print (every text command line; the replies it writes
// through out_string and the keys a get sends; binary headers both ways
// and the opcode's line). Some of memcached's verbose lines come from
// code slabcached does not have (-vvv's connection state changes, SASL)
// and are not printed (docs/compat.md). The server's own logs go to its
// logger, not here.

// verboseOut is where the lines go, one write per line as memcached's
// unbuffered stderr does (a line is never split between two writers).
type verboseOut struct {
	mu sync.Mutex
	w  io.Writer
}

func (v *verboseOut) write(b []byte) {
	v.mu.Lock()
	if v.w == nil {
		v.w = os.Stderr
	}
	v.w.Write(b)
	v.mu.Unlock()
}

// verbose reports whether memcached would print its -vv lines now.
func (s *Server) verbose() bool { return s.verbosity.Load() > 1 }

// verboseErrors reports whether memcached would print its -v lines now.
func (s *Server) verboseErrors() bool { return s.verbosity.Load() > 0 }

// vprintf prints one line of memcached's diagnostic output.
func (s *Server) vprintf(format string, a ...any) {
	s.vout.write(fmt.Appendf(nil, format, a...))
}

// printSlabClasses prints the class table memcached prints as its slab
// allocator starts.
func (s *Server) printSlabClasses() {
	for cls := 1; cls <= s.store.NumClasses(); cls++ {
		size, per := s.store.ClassGeometry(cls)
		s.vprintf("slab class %3d: chunk size %9d perslab %7d\n", cls, size, per)
	}
}

// PrintExit prints what memcached prints on standard error as it exits
// after a stop: "Gracefully stopping" after a graceful one (SIGUSR1,
// shutdown graceful), otherwise "Exiting normally" from -v on.
func (s *Server) PrintExit() {
	switch {
	case s.graceful.Load():
		s.vprintf("Gracefully stopping\n")
	case s.verboseErrors():
		s.vprintf("Exiting normally\n")
	}
}

// protocolName is memcached's name of a -B setting.
func protocolName(p string) string {
	switch p {
	case ProtocolASCII:
		return "ascii"
	case ProtocolBinary:
		return "binary"
	}
	return "auto-negotiate"
}

// printListening prints a listening socket as memcached does once it is
// open.
func (s *Server) printListening(fd int) {
	s.vprintf("<%d server listening (%s)\n", fd, protocolName(s.set.Protocol))
}

// printNewConn prints a client connection's opening.
func (s *Server) printNewConn(fd int) {
	switch s.set.Protocol {
	case ProtocolASCII:
		s.vprintf("<%d new ascii client connection.\n", fd)
	case ProtocolBinary:
		s.vprintf("<%d new binary client connection.\n", fd)
	default:
		s.vprintf("<%d new auto-negotiating client connection\n", fd)
	}
}

// fd is the connection's socket as memcached's lines name it.
func (c *conn) fd() int { return c.gc.Fd() }

// vline prints dir (< for what came in, > for what goes out), the
// socket, a space, then text and a newline.
func (c *conn) vline(dir byte, text ...[]byte) {
	b := make([]byte, 0, 64)
	b = append(b, dir)
	b = strconv.AppendInt(b, int64(c.fd()), 10)
	b = append(b, ' ')
	for _, t := range text {
		b = append(b, t...)
	}
	c.s.vout.write(append(b, '\n'))
}

// vCommand echoes a text command line (with its line end) as memcached
// does: its length less two, whatever the line ended with (a line ending
// in a bare newline loses its last character), up to a NUL.
func (c *conn) vCommand(line []byte) {
	line = line[:max(len(line)-2, 0)]
	if i := bytes.IndexByte(line, 0); i >= 0 {
		line = line[:i]
	}
	c.vline('<', line)
}

// vReply prints reply lines memcached writes through out_string: each
// line of out (one, as a rule), prefixed NOREPLY when noreply kept it from
// the client.
func (c *conn) vReply(out []byte, noreply bool) {
	for len(out) > 0 {
		line, rest, _ := bytes.Cut(out, []byte("\r\n"))
		if noreply {
			c.vline('>', []byte("NOREPLY "), line)
		} else {
			c.vline('>', line)
		}
		out = rest
	}
}

// printsReply reports whether memcached 1.6.45 prints the reply of a text
// command (it does for those it answers through out_string; the commands
// its request parser serves, and the get family, print otherwise or not
// at all).
func printsReply(cmd proto.Command) bool {
	switch cmd {
	case proto.CmdGet, proto.CmdGets, proto.CmdGat, proto.CmdGats, // keys and END: get
		proto.CmdSet, proto.CmdAdd, proto.CmdReplace, proto.CmdAppend, proto.CmdPrepend, proto.CmdCas, // commit
		proto.CmdDelete, proto.CmdIncr, proto.CmdDecr, proto.CmdTouch,
		proto.CmdMetaGet, proto.CmdMetaSet, proto.CmdMetaDelete, proto.CmdMetaArithmetic,
		proto.CmdQuit:
		return false
	}
	return true
}

// printsError reports whether memcached prints error e for the command
// line: always for the commands whose replies it prints and for a bad
// data block, and for the others only when its request parser refuses the
// line before the command runs (parserRefuses), or, for ms, when it finds
// the opaque token too long after taking the item (process_mset_command's
// out_errstring).
func printsError(cmd proto.Command, e *proto.Error, line []byte) bool {
	return printsReply(cmd) || e == proto.ErrBadDataChunk || parserRefuses(cmd, line) ||
		cmd == proto.CmdMetaSet && e == proto.ErrOpaqueTooLong
}

// parserRefuses reports whether memcached 1.6.45's request parser
// (process_request) refuses a command line of cmd, which it answers
// through out_string: too short a line, too few tokens, a storage
// command's length that is not a number from 0 up. What the command
// itself finds wrong later (a bad flag, key or number) it writes
// unprinted.
func parserRefuses(cmd proto.Command, line []byte) bool {
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) < 2 {
		return true
	}
	var toks [][]byte
	for _, t := range bytes.Split(line, []byte(" ")) {
		if len(t) > 0 {
			toks = append(toks, t)
		}
	}
	length := func(i int) bool { // a storage length memcached accepts
		n, ok := proto.Tok32(toks[i])
		return ok && n >= 0 && n <= math.MaxInt32-2
	}
	switch cmd {
	case proto.CmdMetaGet, proto.CmdMetaDelete, proto.CmdMetaArithmetic, proto.CmdMetaDebug,
		proto.CmdGet, proto.CmdGets, proto.CmdDelete:
		return len(toks) < 2
	case proto.CmdMetaSet:
		return len(toks) < 3 || !length(2)
	case proto.CmdGat, proto.CmdGats, proto.CmdIncr, proto.CmdDecr, proto.CmdTouch:
		return len(toks) < 3
	case proto.CmdSet, proto.CmdAdd, proto.CmdReplace, proto.CmdAppend, proto.CmdPrepend, proto.CmdCas:
		return len(toks) < 5 || !length(4)
	}
	return true
}

// vExecReply prints what memcached prints of the reply exec appended from
// mark for r (see printsReply). Several lines are a listing (stats, a
// dump), which memcached writes without printing.
func (c *conn) vExecReply(r *proto.Request, mark int) {
	if !c.vv || !printsReply(r.Command) || mark > len(c.out) {
		return
	}
	out := c.out[mark:]
	if i := bytes.Index(out, []byte("\r\n")); i < 0 || i+2 != len(out) || string(out) == "END\r\n" {
		return
	}
	if r.Command == proto.CmdMetaDebug && string(out) != "EN\r\n" {
		return // an item's ME line is written unprinted, a miss's EN printed
	}
	if r.Command == proto.CmdWatch && c.watching.Load() {
		return // the logger writes a watcher's OK, unprinted
	}
	c.vReply(out, r.NoReply && r.Command.IsAdmin())
}

// vNoReply prints, for a command whose noreply kept reply from the
// client, what memcached prints of it (a command that answers otherwise
// is printed by vExecReply).
func (c *conn) vNoReply(r *proto.Request, reply string) {
	if c.vv && r.NoReply {
		c.vReply([]byte(strings.TrimSuffix(reply, "\r\n")), true)
	}
}

// vCASFailure is memcached's line for a cas whose value did not match.
func (c *conn) vCASFailure(have, given uint64) {
	c.s.vprintf("CAS:  failure: expected %d, got %d\n", have, given)
}

// vBinDump prints a binary header as memcached dumps one: dir and the
// socket, then the 24 bytes four to a line.
func (c *conn) vBinDump(dir byte, title string, h []byte) {
	fd := strconv.Itoa(c.fd())
	b := make([]byte, 0, 256)
	b = append(b, dir)
	b = append(b, fd...)
	b = append(b, title...)
	indent := "   " // requests: three spaces, then " 0x.." each
	if dir == '>' {
		indent = "  "
	}
	for i := 0; i < proto.BinHeaderLen && i < len(h); i++ {
		if i%4 == 0 {
			b = append(b, '\n', dir)
			b = append(b, fd...)
			b = append(b, indent...)
		}
		b = fmt.Appendf(b, " 0x%02x", h[i])
	}
	c.s.vout.write(append(b, '\n'))
}

// vBinRequest prints a binary request's header, and the opcode's own
// line, as memcached does when it reads one.
func (c *conn) vBinRequest(head []byte, r *proto.BinRequest, parsed bool) {
	c.vBinDump('<', " Read binary protocol data:", head)
	if !parsed {
		return
	}
	switch r.Base() {
	case proto.BinOpGet, proto.BinOpGetK:
		c.vline('<', []byte("GET "), r.Key)
	case proto.BinOpGAT, proto.BinOpGATK, proto.BinOpTouch:
		c.vline('<', []byte("TOUCH "), r.Key)
	case proto.BinOpSet, proto.BinOpAdd, proto.BinOpReplace:
		name := "SET "
		if r.Base() == proto.BinOpAdd {
			name = "ADD "
		} else if r.Base() == proto.BinOpReplace {
			name = "REPLACE "
		}
		c.vline('<', []byte(name), r.Key, []byte(" Value len is "), strconv.AppendInt(nil, int64(r.ValueLen), 10))
	case proto.BinOpAppend, proto.BinOpPrepend:
		c.s.vprintf("Value len is %d\n", r.ValueLen)
	case proto.BinOpDelete:
		c.s.vprintf("Deleting %s\n", r.Key)
	case proto.BinOpIncrement, proto.BinOpDecrement:
		c.s.vprintf("incr %s %d, %d, %d\n", r.Key, int64(r.Delta), r.Initial, int32(r.Exptime))
	case proto.BinOpStat:
		c.vline('<', []byte("STATS "), r.Key)
	}
}

// vBinReplies prints the responses appended from mark as memcached does
// as it writes each: an error's text, then the header. Statistics
// responses are written without either, and the header of a get's
// response is printed before its CAS is filled in (as 0).
func (c *conn) vBinReplies(mark int) {
	if mark > len(c.out) {
		return
	}
	out := c.out[mark:]
	var resp proto.BinResponse
	for {
		n, err := proto.ParseBinResponse(out, &resp)
		if err != nil {
			return
		}
		if resp.Opcode != proto.BinOpStat || resp.Status != proto.BinStatusSuccess {
			if resp.Status != proto.BinStatusSuccess && resp.KeyLen == 0 {
				c.vline('>', []byte("Writing an error: "), resp.Value)
			}
			var h [proto.BinHeaderLen]byte
			copy(h[:], out)
			switch resp.Opcode.Base() {
			case proto.BinOpGet, proto.BinOpGetK, proto.BinOpGAT, proto.BinOpGATK, proto.BinOpTouch:
				clear(h[16:]) // the CAS
			}
			c.vBinDump('>', " Writing bin response:", h[:])
		}
		out = out[n:]
	}
}
