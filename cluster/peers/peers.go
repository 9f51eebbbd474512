// Package peers is the node-to-node client of a slabcached cluster: pooled
// connections to other members by address, for the few requests nodes send
// each other (hot-key copies and their invalidation). Every call is bounded
// by a timeout; a failure closes the connection and is returned, never
// retried here: the caller decides (a replica that does not answer is
// dropped from a key's replica set).
//
// It speaks the text protocol through proto, the one codec.
package peers

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/slabcache/slabcache/proto"
)

// Pool holds idle connections per member address. Safe for concurrent use.
type Pool struct {
	DialTimeout time.Duration // default 200ms
	Timeout     time.Duration // each request's round trip; default 200ms
	MaxIdle     int           // idle connections kept per address; default 4
	// Auth, when set, returns the user and password a new connection
	// authenticates with first (memcached's ASCII authentication, for
	// members started with -Y); ok false means none.
	Auth func() (user, pass string, ok bool)
	// TLS, when set, returns the configuration new connections speak TLS
	// with (members started with -Z); nil means in the clear.
	TLS func() *tls.Config
	// Self, when set, returns this member's address, which new
	// connections name in their `cluster peer` (a member takes copies of
	// a hot key only from the node it sees as the key's owner).
	Self func() string

	mu   sync.Mutex
	idle map[string][]*conn
}

type conn struct {
	nc  net.Conn
	pc  *proto.Conn
	buf []byte
	req proto.Request
	rp  proto.Reply
}

func (p *Pool) get(addr string) (*conn, error) {
	p.mu.Lock()
	if cs := p.idle[addr]; len(cs) > 0 {
		c := cs[len(cs)-1]
		p.idle[addr] = cs[:len(cs)-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	d := &net.Dialer{Timeout: or(p.DialTimeout, 200*time.Millisecond)}
	var nc net.Conn
	var err error
	if cfg := p.tlsConfig(); cfg != nil {
		nc, err = tls.DialWithDialer(d, "tcp", addr, cfg)
	} else {
		nc, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	c := &conn{nc: nc, pc: proto.NewConn(nc)}
	if p.Auth != nil {
		if user, pass, ok := p.Auth(); ok {
			nc.SetDeadline(time.Now().Add(or(p.Timeout, 200*time.Millisecond)))
			cred := user + " " + pass
			c.buf = proto.AppendSetRequest(c.buf[:0], []byte("auth"), 0, 0, []byte(cred), false)
			_, err = nc.Write(c.buf)
			if err == nil {
				err = c.pc.Reader().Read(&c.rp)
			}
			if err == nil && !(c.rp.Kind == proto.ReplyStatus && c.rp.Status == proto.StatusStored) {
				err = fmt.Errorf("%w to authentication: %q", ErrReply, c.rp.Line)
			}
			if err != nil {
				nc.Close()
				return nil, err
			}
		}
	}
	self := ""
	if p.Self != nil {
		self = p.Self()
	}
	if err := c.hello(or(p.Timeout, 200*time.Millisecond), self); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// hello tells the member that this connection is a member's (`cluster
// peer [<self>]`): its deletes are not forwarded again, as a client's are
// while a key's ownership moves, and its copies of hot keys are taken only
// when self owns the key there. Any answer will do (a member without it
// says ERROR).
func (c *conn) hello(timeout time.Duration, self string) error {
	c.nc.SetDeadline(time.Now().Add(timeout))
	c.buf = append(c.buf[:0], "cluster peer"...)
	if self != "" {
		c.buf = append(append(c.buf, ' '), self...)
	}
	c.buf = append(c.buf, "\r\n"...)
	if _, err := c.nc.Write(c.buf); err != nil {
		return err
	}
	return c.pc.Reader().Read(&c.rp)
}

func (p *Pool) tlsConfig() *tls.Config {
	if p.TLS == nil {
		return nil
	}
	return p.TLS()
}

func (p *Pool) put(addr string, c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle == nil {
		p.idle = map[string][]*conn{}
	}
	if len(p.idle[addr]) >= max(p.MaxIdle, 4) {
		c.nc.Close()
		return
	}
	p.idle[addr] = append(p.idle[addr], c)
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// ErrReply is a reply other than the one expected.
var ErrReply = errors.New("peers: unexpected reply")

// ErrRefused is a member's NS to a copy of a hot key (Set): it does not
// see this node as the key's owner (yet), and holds no copy of it.
var ErrRefused = errors.New("peers: copy refused")

// do runs one request written by write on a pooled connection to addr and
// checks its reply with check.
func (p *Pool) do(addr string, write func(c *conn) []byte, check func(rp *proto.Reply) error) error {
	c, err := p.get(addr)
	if err != nil {
		return err
	}
	c.nc.SetDeadline(time.Now().Add(or(p.Timeout, 200*time.Millisecond)))
	c.buf = write(c)
	if _, err = c.nc.Write(c.buf); err == nil {
		if err = c.pc.Reader().Read(&c.rp); err == nil {
			err = check(&c.rp)
		}
	}
	if err != nil {
		c.nc.Close()
		return fmt.Errorf("peer %s: %w", addr, err)
	}
	p.put(addr, c)
	return nil
}

// Set stores key on the member at addr with the given flags, expiry
// (seconds, memcached's exptime), CAS value (meta ms E, so that a copy
// carries its original's CAS; 0 lets the member pick one) and value, and
// waits for HD.
func (p *Pool) Set(addr string, key []byte, flags uint32, exptime int32, cas uint64, value []byte) error {
	return p.set(addr, key, flags, exptime, cas, value, false)
}

// Add is Set for a hand-over push (ms ME H): add semantics, and the member
// refuses a key written there since the ring changed (NS is success too:
// nothing newer is overwritten).
func (p *Pool) Add(addr string, key []byte, flags uint32, exptime int32, cas uint64, value []byte) error {
	return p.set(addr, key, flags, exptime, cas, value, true)
}

func (p *Pool) set(addr string, key []byte, flags uint32, exptime int32, cas uint64, value []byte, add bool) error {
	return p.do(addr, func(c *conn) []byte {
		b := append(c.buf[:0], "ms "...)
		b = append(b, key...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(len(value)), 10)
		b = append(b, " F"...)
		b = strconv.AppendUint(b, uint64(flags), 10)
		b = append(b, " T"...)
		b = strconv.AppendInt(b, int64(exptime), 10)
		if cas != 0 {
			b = append(b, " E"...)
			b = strconv.AppendUint(b, cas, 10)
		}
		if add {
			b = append(b, " ME H"...)
		}
		b = append(b, "\r\n"...)
		b = append(b, value...)
		return append(b, "\r\n"...)
	}, func(rp *proto.Reply) error {
		switch {
		case rp.Kind == proto.ReplyMeta && (rp.Status == proto.StatusHD || add && rp.Status == proto.StatusNS):
			return nil
		case rp.Kind == proto.ReplyMeta && rp.Status == proto.StatusNS:
			return ErrRefused
		}
		return fmt.Errorf("%w: %q", ErrReply, rp.Line)
	})
}

// Delete removes key on the member at addr (DELETED and NOT_FOUND are both
// success: the copy is gone either way).
func (p *Pool) Delete(addr string, key []byte) error {
	return p.do(addr, func(c *conn) []byte {
		c.req.Reset()
		c.req.Command = proto.CmdDelete
		c.req.Key = key
		return proto.AppendRequest(c.buf[:0], &c.req)
	}, deletedReply)
}

// DeleteMany removes keys on the member at addr, pipelined: a quiet meta
// delete per key (proto.AppendQuietDeletes: only NF and failures answer; each key
// must be proto.QuietDeletable) and an `mn` after them, in one write, and
// reads to the MN. A key the member does not hold is deleted all the same.
func (p *Pool) DeleteMany(addr string, keys []string) error {
	c, err := p.get(addr)
	if err != nil {
		return err
	}
	c.nc.SetDeadline(time.Now().Add(or(p.Timeout, 200*time.Millisecond)))
	c.buf = proto.AppendQuietDeletes(c.buf[:0], keys)
	if _, err = c.nc.Write(c.buf); err == nil {
		for done := false; !done && err == nil; {
			if err = c.pc.Reader().Read(&c.rp); err == nil {
				done, err = proto.QuietDeleteReply(&c.rp)
			}
		}
	}
	if err != nil {
		c.nc.Close()
		return fmt.Errorf("peer %s: %w", addr, err)
	}
	p.put(addr, c)
	return nil
}

func deletedReply(rp *proto.Reply) error {
	if rp.Kind == proto.ReplyStatus && (rp.Status == proto.StatusDeleted || rp.Status == proto.StatusNotFound) {
		return nil
	}
	return fmt.Errorf("%w: %q", ErrReply, rp.Line)
}

// FlushPrefix relays a namespace flush to the member at addr:
// `flush_prefix <prefix> relay <stamp> <seq>`, which the member applies
// without relaying further, and waits for OK.
func (p *Pool) FlushPrefix(addr string, prefix []byte, stamp string, seq uint64) error {
	return p.do(addr, relay(proto.CmdFlushPrefix, prefix, stamp, seq), okReply)
}

// relay writes `<cmd> <key> relay <stamp> <seq>`.
func relay(cmd proto.Command, key []byte, stamp string, seq uint64) func(c *conn) []byte {
	return func(c *conn) []byte {
		c.req.Reset()
		c.req.Command = cmd
		c.req.Key = key
		c.req.AddArg([]byte(stamp))
		c.req.AddArg(strconv.AppendUint(nil, seq, 10))
		return proto.AppendRequest(c.buf[:0], &c.req)
	}
}

// DeleteRelay relays a delete to the member at addr: `delete <key> relay
// <stamp> <seq>`, which the member applies without relaying further (and
// memcached reads as a plain delete); DELETED and NOT_FOUND both succeed.
func (p *Pool) DeleteRelay(addr string, key []byte, stamp string, seq uint64) error {
	return p.do(addr, relay(proto.CmdDelete, key, stamp, seq), deletedReply)
}

// A `cluster hotreads` request carries at most hotReadsBatch keys whose
// lengths add up to under hotReadsBytes: a request line holds at most
// proto.MaxTokens tokens and 2048 bytes.
const (
	hotReadsBatch = proto.MaxTokens - 3
	hotReadsBytes = 1800
)

// HotReads asks the member at addr how many reads a second it serves of
// each of keys (its copies of this node's hot keys): `cluster hotreads
// <key>...`, answered with one `STAT <key> <reads/s>` line per key and
// END, in as many requests as the keys need. The member counts them
// exactly from then on. After an error, the map holds the figures of the
// requests before it.
func (p *Pool) HotReads(addr string, keys []string) (map[string]float64, error) {
	out := make(map[string]float64, len(keys))
	for len(keys) > 0 {
		n, size := 0, 0
		for n < len(keys) && n < hotReadsBatch && (n == 0 || size+len(keys[n]) < hotReadsBytes) {
			size += len(keys[n]) + 1
			n++
		}
		batch := keys[:n]
		keys = keys[n:]
		err := p.do(addr, func(c *conn) []byte {
			c.req.Reset()
			c.req.Command = proto.CmdCluster
			c.req.AddArg([]byte("hotreads"))
			for _, k := range batch {
				c.req.AddArg([]byte(k))
			}
			return proto.AppendRequest(c.buf[:0], &c.req)
		}, func(rp *proto.Reply) error {
			if rp.Kind != proto.ReplyStats {
				return fmt.Errorf("%w: %q", ErrReply, rp.Line)
			}
			for k, v := range rp.StatMap() {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return fmt.Errorf("%w: STAT %s %s", ErrReply, k, v)
				}
				out[k] = f
			}
			return nil
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// AwayNotes asks the member at addr what it noted for member about while
// about was away (`cluster away <about>`): the state of about's absence
// as addr saw it (unknown, away, changed or clean) and, when clean, the
// keys written there that about would own and the namespaces flushed
// there. The reply may be long (up to 65,536 keys): it is read within a
// second.
func (p *Pool) AwayNotes(addr, about string) (proto.AwayNotes, error) {
	c, err := p.get(addr)
	if err != nil {
		return proto.AwayNotes{}, err
	}
	c.nc.SetDeadline(time.Now().Add(max(or(p.Timeout, 200*time.Millisecond), time.Second)))
	c.req.Reset()
	c.req.Command = proto.CmdCluster
	c.req.AddArg([]byte("away"))
	c.req.AddArg([]byte(about))
	c.buf = proto.AppendRequest(c.buf[:0], &c.req)
	var n proto.AwayNotes
	if _, err = c.nc.Write(c.buf); err == nil {
		if err = c.pc.Reader().ReadList(&c.rp); err == nil {
			n, err = proto.ParseAwayNotes(&c.rp, about)
		}
	}
	if err != nil {
		c.nc.Close()
		return proto.AwayNotes{}, fmt.Errorf("peer %s: %w", addr, err)
	}
	p.put(addr, c)
	return n, nil
}

// FlushAll sends flush_all to the member at addr and waits for OK.
func (p *Pool) FlushAll(addr string) error {
	return p.do(addr, func(c *conn) []byte {
		c.req.Reset()
		c.req.Command = proto.CmdFlushAll
		return proto.AppendRequest(c.buf[:0], &c.req)
	}, okReply)
}

func okReply(rp *proto.Reply) error {
	if rp.Kind == proto.ReplyStatus && rp.Status == proto.StatusOK {
		return nil
	}
	return fmt.Errorf("%w: %q", ErrReply, rp.Line)
}

// Close closes the idle connections.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, cs := range p.idle {
		for _, c := range cs {
			c.nc.Close()
		}
	}
	p.idle = nil
}

// Item is what Get returns.
type Item struct {
	Value []byte
	Flags uint32
	TTL   int64 // seconds left; -1 for none
	CAS   uint64
}

// Get reads key from the member at addr (meta mg with value, flags, TTL
// and CAS). ok is false on a miss.
func (p *Pool) Get(addr string, key []byte) (it Item, ok bool, err error) {
	err = p.do(addr, func(c *conn) []byte {
		b := append(c.buf[:0], "mg "...)
		b = append(b, key...)
		return append(b, " v f t c\r\n"...)
	}, func(rp *proto.Reply) error {
		if rp.Kind != proto.ReplyMeta {
			return fmt.Errorf("%w: %q", ErrReply, rp.Line)
		}
		switch rp.Status {
		case proto.StatusEN:
			return nil
		case proto.StatusVA:
		default:
			return fmt.Errorf("%w: %q", ErrReply, rp.Line)
		}
		ok = true
		it.Value = append([]byte(nil), rp.Value...)
		f, _ := rp.FlagUint('f')
		it.Flags = uint32(f)
		it.CAS, _ = rp.FlagUint('c')
		it.TTL = -1
		if ttl, has := rp.FlagInt('t'); has {
			it.TTL = ttl
		}
		return nil
	})
	return it, ok, err
}
