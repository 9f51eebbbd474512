package proto

import (
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Client side: reading replies from a stream.

// ErrReplyTooLarge is returned by Reader.Read for a reply longer than the
// reader's limit (SetLimit). The stream cannot be read further.
var ErrReplyTooLarge = errors.New("proto: reply longer than the reader's limit")

// DefaultReplyLimit is a Reader's default bound on one reply.
const DefaultReplyLimit = 256 << 20

const defaultReaderSize = 16 << 10

// Reader reads whole replies from a stream (a net.Conn, a bufio.Reader,
// ...): it buffers what arrives and hands each complete reply to
// ParseReply, so every reply kind ParseReply knows is read here too. The
// Reply's slices point into the Reader's buffer and are valid until the
// next call of Read or ReadList. Once its buffer has grown to the largest
// reply seen, a Reader allocates nothing.
//
//	rd := proto.NewReader(conn)
//	var rp proto.Reply
//	conn.Write(proto.AppendGetRequest(nil, key))
//	if err := rd.Read(&rp); err != nil { ... } // I/O or ErrBadReply: close
//	if err := rp.Err(); err != nil { ... }     // an error reply: stream in step
type Reader struct {
	src     io.Reader
	buf     []byte
	r, w    int // buf[r:w] is read and not yet consumed
	pending int // length of the reply handed out last, consumed by the next call
	limit   int
}

// NewReader returns a Reader of replies from src.
func NewReader(src io.Reader) *Reader {
	return &Reader{src: src, buf: make([]byte, defaultReaderSize), limit: DefaultReplyLimit}
}

// Reset discards any buffered bytes and reads from src from now on.
func (rd *Reader) Reset(src io.Reader) {
	rd.src = src
	rd.r, rd.w, rd.pending = 0, 0, 0
	if rd.limit == 0 {
		rd.limit = DefaultReplyLimit
	}
}

// SetLimit bounds the length of one reply (DefaultReplyLimit by default).
func (rd *Reader) SetLimit(n int) { rd.limit = n }

// Buffered returns how many bytes after the last reply read are buffered.
func (rd *Reader) Buffered() int { return rd.w - rd.r - rd.pending }

// Read reads the next reply into rp. An error other than a reply's own
// (see Reply.Err) means the stream is out of step or closed: io.EOF when it
// ended between replies, io.ErrUnexpectedEOF inside one, ErrBadReply for
// bytes that are not a reply.
func (rd *Reader) Read(rp *Reply) error {
	return rd.read(rp, ParseReply)
}

// ReadList reads a reply made of lines through END, the form of admin
// replies ParseReply does not know (lru_crawler metadump, stats detail
// dump, slabcache's cluster members): rp.Kind is ReplyList and rp.Lines
// holds the lines before END. An error line instead is a ReplyError.
func (rd *Reader) ReadList(rp *Reply) error {
	return rd.read(rp, ParseListReply)
}

func (rd *Reader) read(rp *Reply, parse func([]byte, *Reply) (int, error)) error {
	rd.r += rd.pending
	rd.pending = 0
	for {
		need := 1
		if rd.w > rd.r {
			n, err := parse(rd.buf[rd.r:rd.w], rp)
			if err == nil {
				rd.pending = n
				return nil
			}
			if err != ErrIncomplete {
				return err
			}
			need = rd.w - rd.r + max(rp.Need, 1)
		}
		if need > rd.limit {
			return ErrReplyTooLarge
		}
		if err := rd.fill(need); err != nil {
			return err
		}
	}
}

// fill reads until at least need unconsumed bytes are buffered.
func (rd *Reader) fill(need int) error {
	if rd.r > 0 && len(rd.buf)-rd.r < need {
		rd.w = copy(rd.buf, rd.buf[rd.r:rd.w])
		rd.r = 0
	}
	if len(rd.buf)-rd.r < need {
		nb := make([]byte, max(need, 2*len(rd.buf)))
		rd.w = copy(nb, rd.buf[rd.r:rd.w])
		rd.r = 0
		rd.buf = nb
	}
	for rd.w-rd.r < need {
		n, err := rd.src.Read(rd.buf[rd.w:])
		rd.w += n
		if err != nil {
			if rd.w-rd.r >= need {
				return nil
			}
			if err == io.EOF && rd.w > rd.r {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// ServerError is an error reply (ERROR, CLIENT_ERROR ..., SERVER_ERROR
// ...) as a Go error. The stream is still in step after one.
type ServerError struct {
	// Line is the reply line without its line ending.
	Line string
}

func (e *ServerError) Error() string { return "memcached: " + strconv.Quote(e.Line) }

// Is lets errors.Is match a ServerError against the Error values of this
// package by their reply line (errors.Is(err, proto.ErrTooLarge)).
func (e *ServerError) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.text == e.Line && t.reply != ""
}

// Err returns a *ServerError for an error reply, nil for any other.
func (rp *Reply) Err() error {
	if rp.Kind != ReplyError {
		return nil
	}
	return &ServerError{Line: string(rp.Line)}
}

// StatMap returns the STAT lines of a stats reply as name → value.
func (rp *Reply) StatMap() map[string]string {
	m := make(map[string]string, len(rp.Stats))
	for _, s := range rp.Stats {
		m[string(s.Name)] = string(s.Value)
	}
	return m
}

// Conn is a blocking request-reply exchange over one stream, for tools,
// tests and node-to-node calls that send a request and wait for its reply.
// A Conn is not safe for concurrent use.
type Conn struct {
	rw  io.ReadWriter
	rd  *Reader
	out []byte
	req Request
}

// NewConn returns a Conn over rw (a net.Conn, say).
func NewConn(rw io.ReadWriter) *Conn { return &Conn{rw: rw, rd: NewReader(rw)} }

// Reader returns the Conn's reply reader, to read further replies of a
// pipeline.
func (c *Conn) Reader() *Reader { return c.rd }

// Send writes the requests without waiting for their replies.
func (c *Conn) Send(reqs ...*Request) error {
	c.out = c.out[:0]
	for _, r := range reqs {
		c.out = AppendRequest(c.out, r)
	}
	_, err := c.rw.Write(c.out)
	return err
}

// Do writes req and reads its reply into rp. The error is an I/O or
// framing error; an error reply is in rp (rp.Err()).
func (c *Conn) Do(req *Request, rp *Reply) error {
	if err := c.Send(req); err != nil {
		return err
	}
	return c.rd.Read(rp)
}

// Admin sends the admin command cmd with args (each one token) and reads
// its reply: a list (ReplyList) when list is set, any ParseReply kind
// otherwise. An error reply is returned as a *ServerError.
func (c *Conn) Admin(rp *Reply, list bool, cmd Command, args ...string) error {
	c.req.Reset()
	c.req.Command = cmd
	for _, a := range args {
		if !c.req.AddArg([]byte(a)) {
			return errors.New("proto: too many arguments")
		}
	}
	if err := c.Send(&c.req); err != nil {
		return err
	}
	var err error
	if list {
		err = c.rd.ReadList(rp)
	} else {
		err = c.rd.Read(rp)
	}
	if err != nil {
		return err
	}
	return rp.Err()
}

// Stats sends "stats [args...]" and returns the STAT lines as name →
// value (an empty map for a bare END).
func (c *Conn) Stats(args ...string) (map[string]string, error) {
	var rp Reply
	if err := c.Admin(&rp, false, CmdStats, args...); err != nil {
		return nil, err
	}
	if rp.Kind != ReplyStats && !(rp.Kind == ReplyValues && len(rp.Values) == 0) {
		return nil, fmt.Errorf("%w: %q in reply to stats", ErrBadReply, rp.Line)
	}
	return rp.StatMap(), nil
}
