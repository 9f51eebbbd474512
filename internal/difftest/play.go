package difftest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// sentinel follows the bytes of every recv step. mn answers MN and version
// answers VERSION x.y.z; neither changes any counter a conversation could
// observe, and the pair cannot be confused with a conversation that itself
// ends with mn. Everything the server sent before the pair is the step's reply.
const sentinel = "mn\r\nversion\r\n"

// PlayOptions tunes Play. The zero value uses the defaults.
type PlayOptions struct {
	// ReplyTimeout bounds the wait for a recv step's sentinel reply or an
	// expect-close step's close. Default 5s.
	ReplyTimeout time.Duration
	// DialTimeout bounds each connection attempt. Default 2s.
	DialTimeout time.Duration
}

func (o PlayOptions) withDefaults() PlayOptions {
	if o.ReplyTimeout <= 0 {
		o.ReplyTimeout = 5 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 2 * time.Second
	}
	return o
}

// client is one client connection of a conversation.
type client struct {
	c      net.Conn
	closed bool // the server closed it (EOF or reset seen)
}

// player holds the state of one run of a conversation.
type player struct {
	addr    string
	opt     PlayOptions
	conns   map[int]*client
	cur     int
	pending []byte
	req     map[int][]string // per connection: escaped texts sent since its last step
	vars    map[string]string
	tr      *Transcript
}

// Play runs the conversation against the server at addr (host:port) and
// returns what it answered. An error means the harness could not do its job
// (dial failure, bad variable); anything the server does, including closing
// connections or staying silent, is recorded in the transcript instead.
func (c *Conversation) Play(addr string, opt PlayOptions) (*Transcript, error) {
	p := &player{
		addr:  addr,
		opt:   opt.withDefaults(),
		conns: map[int]*client{},
		cur:   1,
		req:   map[int][]string{},
		vars:  map[string]string{},
		tr:    &Transcript{Name: c.Name},
	}
	defer func() {
		for _, cl := range p.conns {
			cl.c.Close()
		}
	}()
	for _, a := range c.actions {
		if err := p.do(a); err != nil {
			return p.tr, fmt.Errorf("%s:%d: %w", c.Name, a.line, err)
		}
	}
	return p.tr, nil
}

func (p *player) lookup(name string) (string, error) {
	v, ok := p.vars[name]
	if !ok {
		return "", fmt.Errorf("variable ${%s} has no value yet (no earlier reply carried it)", name)
	}
	return v, nil
}

func (p *player) conn() (*client, error) {
	if cl, ok := p.conns[p.cur]; ok {
		return cl, nil
	}
	nc, err := net.DialTimeout("tcp", p.addr, p.opt.DialTimeout)
	if err != nil {
		return nil, err
	}
	cl := &client{c: nc}
	p.conns[p.cur] = cl
	return cl, nil
}

func (p *player) do(a action) error {
	switch a.kind {
	case actSend, actRaw:
		b, err := expand(p.pending, a.text, p.lookup, -1)
		if err != nil {
			return err
		}
		p.pending = b
		p.req[p.cur] = append(p.req[p.cur], a.text)
		if a.kind == actSend {
			p.pending = append(p.pending, '\r', '\n')
			p.req[p.cur] = append(p.req[p.cur], `\r\n`)
		}
		return nil
	case actWrite:
		cl, err := p.conn()
		if err != nil {
			return err
		}
		p.write(cl, a.chunk)
		return nil
	case actRecv, actClosed, actWait:
		return p.step(a)
	case actSleep:
		time.Sleep(a.dur)
		return nil
	case actConn:
		p.cur = a.conn
		return nil
	case actClose:
		if cl, ok := p.conns[p.cur]; ok {
			cl.c.Close()
			delete(p.conns, p.cur)
		}
		delete(p.req, p.cur)
		return nil
	}
	return fmt.Errorf("unknown action %d", a.kind)
}

// write sends the pending bytes, in chunks of the given size (0: one write)
// with a 1 ms pause between chunks so the server sees many reads. A write
// error means the server has closed the connection; that shows in the step
// that reads next.
func (p *player) write(cl *client, chunk int) {
	b := p.pending
	p.pending = p.pending[:0]
	if cl.closed {
		return
	}
	if chunk <= 0 {
		chunk = len(b)
	}
	for len(b) > 0 {
		n := min(chunk, len(b))
		if _, err := cl.c.Write(b[:n]); err != nil {
			return
		}
		b = b[n:]
		if len(b) > 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

func (p *player) step(a action) error {
	st := Step{Line: a.line, Conn: p.cur, Request: summary(p.req[p.cur])}
	delete(p.req, p.cur)
	cl, err := p.conn()
	if err != nil {
		return err
	}
	switch a.kind {
	case actRecv:
		st.Kind = KindRecv
		p.pending = append(p.pending, sentinel...)
		p.write(cl, 0)
		st.Reply, st.Closed, st.Timeout = readUntilSentinel(cl, p.opt.ReplyTimeout)
	case actClosed:
		st.Kind = KindClosed
		p.write(cl, 0)
		st.Reply, st.Closed, st.Timeout = readUntilClose(cl, p.opt.ReplyTimeout)
	case actWait:
		st.Kind = KindWait
		p.write(cl, 0)
		st.Reply, st.Closed = readFor(cl, a.dur)
	}
	if st.Closed {
		cl.closed = true
	}
	captureVars(st.Reply, p.vars)
	p.tr.Steps = append(p.tr.Steps, st)
	return nil
}

func summary(texts []string) string {
	var n int
	for _, t := range texts {
		n += len(t)
	}
	b := make([]byte, 0, n)
	for _, t := range texts {
		b = append(b, t...)
	}
	return string(b)
}

// sentinelEnd returns the length of the reply before the sentinel's answer
// "MN\r\nVERSION ...\r\n" if buf ends with it, or -1.
func sentinelEnd(buf []byte) int {
	if !bytes.HasSuffix(buf, []byte("\r\n")) {
		return -1
	}
	i := bytes.LastIndex(buf, []byte("MN\r\nVERSION "))
	if i < 0 {
		return -1
	}
	if i > 0 && buf[i-1] != '\n' {
		return -1
	}
	if bytes.IndexByte(buf[i+4:len(buf)-1], '\n') >= 0 {
		return -1
	}
	return i
}

// isClosed reports whether a read error means the peer closed or reset the
// connection (rather than our deadline passing).
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.EPIPE)
}

func readUntilSentinel(cl *client, timeout time.Duration) (reply []byte, closed, timedOut bool) {
	if cl.closed {
		return nil, true, false
	}
	deadline := time.Now().Add(timeout)
	cl.c.SetReadDeadline(deadline)
	var buf []byte
	tmp := make([]byte, 64<<10)
	for {
		n, err := cl.c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if end := sentinelEnd(buf); end >= 0 {
			return buf[:end], false, false
		}
		if err != nil {
			if isClosed(err) {
				return buf, true, false
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return buf, false, true
			}
			return buf, true, false
		}
	}
}

func readUntilClose(cl *client, timeout time.Duration) (reply []byte, closed, timedOut bool) {
	reply, closed = readFor(cl, timeout)
	return reply, closed, !closed
}

// readFor reads until the server closes the connection or d has passed.
func readFor(cl *client, d time.Duration) (reply []byte, closed bool) {
	if cl.closed {
		return nil, true
	}
	cl.c.SetReadDeadline(time.Now().Add(d))
	var buf []byte
	tmp := make([]byte, 64<<10)
	for {
		n, err := cl.c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return buf, false
			}
			return buf, true
		}
	}
}
