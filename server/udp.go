package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/slabcache/slabcache/proto"
)

// UDP (-U), as memcached serves it. Every datagram starts with an 8-byte
// frame header: request id, sequence number, number of datagrams and a
// reserved field, each 16 bits big-endian. A request must fit in one
// datagram (one whose header says otherwise is dropped); it may hold
// several commands. Each reply (for a multi-get, each key's reply, the
// last one ending with END) goes out as its own run of datagrams of at
// most 1400 bytes, header included, numbered from 0 and carrying the
// request's id; an empty reply is a lone header saying 0 datagrams, and a
// command with noreply sends nothing.
//
// UDP runs on event loops of its own (gnet binds one socket per loop with
// SO_REUSEPORT), so TCP keeps its listeners as they are.

const (
	udpHeaderLen = 8
	udpMaxPacket = 1400 // header included, as memcached's UDP_MAX_PAYLOAD_SIZE
	udpData      = udpMaxPacket - udpHeaderLen
)

// udpTransport is the UDP side of a Server.
type udpTransport struct {
	addrs     []string // udp://host:port
	boot      chan error
	done      chan struct{}
	mu        sync.Mutex
	eng       gnet.Engine
	booted    bool
	sockets   []udpSocket // duplicates of the UDP sockets, for stats conns
	perThread int         // threads serving each socket (Settings.threadsPerUDP)
	cookie    uint32      // -o sock_cookie_id: SO_MARK of the sockets (0: none)
	log       *zap.Logger
	last      atomic.Uint32 // clock time of the last datagram
	conns     sync.Map      // gnet.EventLoop -> *conn: one per loop, reused per datagram
}

// udpSocket is one UDP socket gnet listens on, as stats conns, -vv and
// the port file show it.
type udpSocket struct {
	listener
	// threadFDs: one descriptor per thread serving the socket (the first
	// is fd, the others duplicates), as memcached gives each worker
	// thread its own: stats conns lists them, -vv names them.
	threadFDs []int
}

// udpState is what a conn serving datagrams keeps for the datagram at hand.
type udpState struct {
	id    [2]byte   // the request id, echoed in every reply datagram
	marks []udpMark // ends of the replies in c.out
	pkt   []byte    // one datagram being built
	// push: replicated hot keys this datagram wrote; its replies are held
	// (held) until their copies are updated, then sent from a goroutine
	// (replicate.go).
	push []string
	held [][]byte
	// fetch: keys moved here in a warm-up and missing, with the nodes to
	// fetch them from; the rest of the datagram waits for them (udpWarm).
	fetch, from []string
	// rb and peer: the datagrams OnTraffic reads itself, and their sender.
	rb   []byte
	peer *rawPeer
}

// udpMark ends one reply in c.out; keep sends it even when empty (the
// reply of a key that missed, in the middle of a multi-get); written: the
// replies so far are those memcached would have written by then (conn.wrote).
type udpMark struct {
	end           int
	keep, written bool
}

// udpAddrs returns the UDP addresses to serve: the -U port on every -l
// host, or none (-U 0, or a Unix socket).
func (s *Settings) udpAddrs() ([]string, error) {
	if s.UDPPort == 0 || s.SocketPath != "" {
		return nil, nil
	}
	hosts, err := s.ListenAddrs()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, h := range hosts {
		host, _, err := net.SplitHostPort(h)
		if err != nil {
			return nil, err
		}
		out = append(out, "udp://"+net.JoinHostPort(host, strconv.Itoa(max(s.UDPPort, 0))))
	}
	return out, nil
}

// start opens the UDP sockets, if any, and returns once they are bound.
func (u *udpTransport) start(s *Server) error {
	addrs, err := s.set.udpAddrs()
	if err != nil || len(addrs) == 0 {
		return err
	}
	u.addrs = addrs
	u.perThread = s.set.threadsPerUDP()
	u.boot = make(chan error, 1)
	u.done = make(chan struct{})
	loops := max(s.set.Threads, 1)
	if len(addrs) > 1 || s.set.UDPPort < 0 {
		// memcached: one thread per UDP socket with several interfaces.
		// An ephemeral port (-U -1) is one socket: each loop would get
		// a port of its own.
		loops = 1
	}
	opts := []gnet.Option{
		gnet.WithMulticore(loops > 1),
		gnet.WithNumEventLoop(loops),
		gnet.WithReuseAddr(true),
		gnet.WithReusePort(true),
		gnet.WithReadBufferCap(64 << 10),
		gnet.WithLogger(gnetLogger{s.log.Sugar()}),
	}
	go func() {
		defer close(u.done)
		err := gnet.Rotate(&udpHandler{s: s, u: u}, addrs, opts...)
		u.mu.Lock()
		booted := u.booted
		u.mu.Unlock()
		if !booted {
			if err == nil {
				err = errors.New("event loops ended before listening")
			}
			u.boot <- err
		} else if err != nil {
			s.log.Error("UDP event loops ended", zap.Error(err))
		}
	}()
	if err := <-u.boot; err != nil {
		return fmt.Errorf("failed to listen on UDP port %d: %w", s.set.UDPPort, err)
	}
	return nil
}

// stop ends the UDP event loops, if any, and waits for them.
func (u *udpTransport) stop() {
	if u.done != nil {
		u.mu.Lock()
		eng, booted := u.eng, u.booted
		u.mu.Unlock()
		if booted {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			eng.Stop(ctx)
		}
		<-u.done
	}
	u.mu.Lock()
	for _, sock := range u.sockets {
		for _, fd := range sock.threadFDs {
			unix.Close(fd)
		}
	}
	u.sockets = nil
	u.mu.Unlock()
}

// napiUDP counts the UDP sockets under -N as memcached does: each is
// handed to every worker thread.
func (s *Server) napiUDP() {
	for _, sock := range s.net.udp.boundSockets() {
		for _, fd := range sock.threadFDs {
			s.napiDispatch(fd)
		}
	}
}

// prepareUDPSockets gives each UDP socket the largest send buffer the
// system allows, found as memcached finds it (maximize_sndbuf: a binary
// search of SO_SNDBUF up to 256 MiB), and prints what -vv prints of the
// sockets: the buffer sizes, and the socket once per thread serving it.
func (s *Server) prepareUDPSockets() {
	for _, sock := range s.net.udp.boundSockets() {
		old, now, ok := maximizeSendBuffer(sock.fd)
		if !s.verbose() {
			continue
		}
		if ok {
			s.vprintf("<%d send buffer was %d, now %d\n", sock.fd, old, now)
		}
		for _, fd := range sock.threadFDs {
			s.vprintf("<%d server listening (udp)\n", fd)
		}
	}
}

// maxSendBuffer is the largest send buffer maximizeSendBuffer tries.
const maxSendBuffer = 256 << 20

// maximizeSendBuffer is memcached's maximize_sndbuf.
func maximizeSendBuffer(fd int) (old, now int, ok bool) {
	old, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err != nil {
		return 0, 0, false
	}
	lo, hi := old, maxSendBuffer
	for lo <= hi {
		avg := int(uint(lo+hi) / 2)
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, avg) == nil {
			now, lo = avg, avg+1
		} else {
			hi = avg - 1
		}
	}
	return old, now, true
}

// boundSockets returns the UDP sockets (none before boot or without -U).
func (u *udpTransport) boundSockets() []udpSocket {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.sockets
}

// udpHandler is the gnet handler of the UDP sockets.
type udpHandler struct {
	gnet.BuiltinEventEngine
	s *Server
	u *udpTransport
}

func (h *udpHandler) OnBoot(eng gnet.Engine) gnet.Action {
	h.u.recordSockets(eng)
	h.u.last.Store(h.s.clk.Now()) // a socket's idle time counts from its opening, as memcached's
	h.s.napiUDP()
	h.u.mu.Lock()
	h.u.eng, h.u.booted = eng, true
	h.u.mu.Unlock()
	h.u.boot <- nil
	return gnet.None
}

// recordSockets keeps duplicates of the UDP sockets eng listens on, with
// their bound addresses, for stats conns and the port file.
func (u *udpTransport) recordSockets(eng gnet.Engine) {
	var socks []udpSocket
	for _, a := range u.addrs {
		_, address, _ := strings.Cut(a, "://")
		if fd, err := eng.DupListener("udp", address); err == nil {
			if sa, err := unix.Getsockname(fd); err == nil {
				host, _, _ := net.SplitHostPort(address)
				switch sa := sa.(type) {
				case *unix.SockaddrInet4:
					address = net.JoinHostPort(host, strconv.Itoa(sa.Port))
				case *unix.SockaddrInet6:
					address = net.JoinHostPort(host, strconv.Itoa(sa.Port))
				}
			}
			setCookie(fd, u.cookie, address, u.log)
			fds := []int{fd}
			for len(fds) < u.perThread {
				d, err := unix.Dup(fd)
				if err != nil {
					break
				}
				fds = append(fds, d)
			}
			socks = append(socks, udpSocket{listener{fd: fd, addr: address}, fds})
		}
	}
	u.mu.Lock()
	u.sockets = socks
	u.mu.Unlock()
}

// OnTraffic serves the datagram gnet read, then reads and serves the ones
// waiting behind it on the socket, up to reqs_per_event in all (-R, 20 by
// default), as memcached does: gnet reads one datagram per poll, and a
// poll per datagram cost 10% of the server's CPU under memcaslap's UDP
// load (docs/benchmarks.md, "UDP").
func (h *udpHandler) OnTraffic(gc gnet.Conn) gnet.Action {
	buf, _ := gc.Next(-1)
	el := gc.EventLoop()
	var c *conn
	if v, ok := h.u.conns.Load(el); ok {
		c = v.(*conn)
		c.gc = gc
	} else {
		c = newConn(h.s, gc)
		c.udp = &udpState{}
		h.u.conns.Store(el, c)
	}
	c.serveDatagram(buf)
	c.gc = nil
	c.loop.yieldIfDue()
	u := c.udp
	if u.rb == nil {
		u.rb = make([]byte, 64<<10) // gnet's read buffer's size (WithReadBufferCap)
		u.peer = &rawPeer{el: el}
	}
	p := u.peer
	p.fd = gc.Fd()
	for range h.s.set.ReqsPerEvent - 1 {
		n, ok := p.recv(u.rb)
		if !ok {
			break
		}
		c.gc = p
		c.serveDatagram(u.rb[:n])
		c.gc = nil
		c.loop.yieldIfDue()
	}
	return gnet.None
}

// rawPeer is the sender of a datagram read from the socket by OnTraffic
// itself: it is read and answered with recvfrom and sendto on the raw
// address, so serving it allocates nothing.
type rawPeer struct {
	gnet.Conn // nil: only the methods below are used on a datagram's conn
	fd        int
	el        gnet.EventLoop
	sa        unix.RawSockaddrAny
	salen     uint32
}

// recv reads the next datagram waiting on the socket into b; false when
// there is none (or on an error, which gnet's next read reports).
func (p *rawPeer) recv(b []byte) (int, bool) {
	p.salen = unix.SizeofSockaddrAny
	n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(p.fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
		0, uintptr(unsafe.Pointer(&p.sa)), uintptr(unsafe.Pointer(&p.salen)))
	if errno != 0 {
		return 0, false
	}
	return int(n), true
}

func (p *rawPeer) Write(b []byte) (int, error) {
	_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(p.fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
		0, uintptr(unsafe.Pointer(&p.sa)), uintptr(p.salen))
	if errno != 0 {
		return 0, errno
	}
	return len(b), nil
}

func (p *rawPeer) Fd() int                   { return p.fd }
func (p *rawPeer) EventLoop() gnet.EventLoop { return p.el }

// RemoteAddr returns the sender's address (allocated: only watchers and
// logs ask).
func (p *rawPeer) RemoteAddr() net.Addr {
	switch p.sa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(&p.sa))
		return &net.UDPAddr{IP: net.IP(bytes.Clone(a.Addr[:])), Port: netPort(&a.Port)}
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(&p.sa))
		return &net.UDPAddr{IP: net.IP(bytes.Clone(a.Addr[:])), Port: netPort(&a.Port), Zone: zoneName(a.Scope_id)}
	}
	return nil
}

// netPort reads a port kept in network byte order.
func netPort(p *uint16) int {
	b := (*[2]byte)(unsafe.Pointer(p))
	return int(b[0])<<8 | int(b[1])
}

// zoneName names an IPv6 scope (an interface index), "" for none.
func zoneName(id uint32) string {
	if id == 0 {
		return ""
	}
	if ifi, err := net.InterfaceByIndex(int(id)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(id), 10)
}

// sockaddr returns a copy of the sender's address, for sendto from
// elsewhere (p is reused for the next datagram).
func (p *rawPeer) sockaddr() unix.Sockaddr {
	switch p.sa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(&p.sa))
		return &unix.SockaddrInet4{Port: netPort(&a.Port), Addr: a.Addr}
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(&p.sa))
		return &unix.SockaddrInet6{Port: netPort(&a.Port), ZoneId: a.Scope_id, Addr: a.Addr}
	}
	return nil
}

// serveDatagram answers the commands of one request datagram.
func (c *conn) serveDatagram(buf []byte) {
	c.st[cBytesRead] += uint64(len(buf))
	// memcached ignores datagrams of a header or less, and requests
	// announced as several datagrams.
	if len(buf) <= udpHeaderLen || buf[4] != 0 || buf[5] != 1 {
		c.flushCounters()
		return
	}
	c.udp.id = [2]byte{buf[0], buf[1]}
	c.warmTried = nil
	// As memcached, the first byte of each datagram picks the protocol.
	payload := buf[udpHeaderLen:]
	c.servePayload(payload, payload[0] == proto.BinReqMagic)
}

// servePayload runs the commands of a datagram (or what is left of one
// after a warm-up fetch) and sends their replies.
func (c *conn) servePayload(payload []byte, binary bool) {
	u := c.udp
	u.marks = u.marks[:0]
	now := c.s.clk.Now()
	if c.lastActive.Load() != now { // a locked store only when it changes
		c.lastActive.Store(now)
	}
	if last := &c.s.net.udp.last; last.Load() != now { // shared by the UDP loops
		last.Store(now)
	}
	if h := c.loop.hot; h != nil {
		h.Begin(now)
	}
	c.mcLeft = 0 // each datagram is an event of its own (spend)
	c.vv = c.s.verbose()
	var off int
	if binary {
		off, _ = c.processBinary(payload)
	} else {
		off, _ = c.process(payload)
	}
	// What is left (an incomplete command) ends with the datagram.
	c.in, c.closeAfter, c.more = input{}, false, continuation{}
	c.udpMark(false)
	start, sent := 0, false
	for _, m := range u.marks {
		switch {
		case m.end > start:
			c.sendReply(c.out[start:m.end])
			sent = true
		case m.keep && !sent:
			// memcached sends one datagram per reply, and after each
			// it counts the empty replies that follow (keys that
			// missed) as sent too: only a miss before anything was
			// sent since it last wrote costs an empty datagram.
			c.sendReply(nil)
			sent = true
		}
		if m.written {
			sent = false
		}
		start = m.end
	}
	if len(u.push) > 0 {
		fd, to := udpDest(c.gc)
		c.s.rep.sendAfterPush(fd, to, u.push, u.held)
		u.push, u.held = nil, nil
	}
	if len(u.fetch) > 0 {
		c.udpWarm(payload[off:], binary)
	}
	c.out, c.holds = c.out[:0], c.holds[:0]
	if cap(c.out) > outShrink {
		c.out = nil
	}
	if len(c.wlog.lines) > 0 {
		c.publishWatch()
	}
	c.flushCounters()
}

// udpWarm fetches the keys a datagram's read stopped at (warmFetchKeys)
// on a goroutine, then serves the rest of the datagram, from that read on,
// on this event loop and sends its replies to the datagram's sender.
func (c *conn) udpWarm(rest []byte, binary bool) {
	u := c.udp
	keys, from := u.fetch, u.from
	u.fetch, u.from = nil, nil
	fd, to := udpDest(c.gc)
	peer := &datagramPeer{fd: fd, to: to, raddr: c.gc.RemoteAddr(), el: c.gc.EventLoop()}
	id, tried, rest := u.id, c.warmTried, bytes.Clone(rest)
	go func() {
		c.s.fetchAll(keys, from)
		_ = peer.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			c.gc, c.udp.id, c.warmTried = peer, id, tried
			c.servePayload(rest, binary)
			c.gc = nil
			return nil
		}))
	}()
}

// datagramPeer stands for the sender of a datagram once gnet's handle of it
// is gone (a datagram served again after a warm-up fetch): replies go out
// with sendto on the loop's socket.
type datagramPeer struct {
	gnet.Conn // nil: only the methods below are used on a datagram's conn
	fd        int
	to        unix.Sockaddr
	raddr     net.Addr
	el        gnet.EventLoop
}

func (p *datagramPeer) Write(b []byte) (int, error) {
	if p.to == nil {
		return 0, unix.EDESTADDRREQ
	}
	if err := unix.Sendto(p.fd, b, 0, p.to); err != nil {
		return 0, err
	}
	return len(b), nil
}
func (p *datagramPeer) Fd() int                   { return p.fd }
func (p *datagramPeer) RemoteAddr() net.Addr      { return p.raddr }
func (p *datagramPeer) EventLoop() gnet.EventLoop { return p.el }

// udpDest returns the socket a datagram came in on and its sender, for
// replies sent after OnTraffic returned.
func udpDest(gc gnet.Conn) (int, unix.Sockaddr) {
	if p, ok := gc.(*datagramPeer); ok {
		return p.fd, p.to
	}
	if p, ok := gc.(*rawPeer); ok {
		return p.fd, p.sockaddr()
	}
	a, ok := gc.RemoteAddr().(*net.UDPAddr)
	if !ok {
		return gc.Fd(), nil
	}
	return gc.Fd(), udpSockaddr(a)
}

// udpSockaddr converts a to the form sendto takes.
func udpSockaddr(a *net.UDPAddr) unix.Sockaddr {
	if ip4 := a.IP.To4(); ip4 != nil {
		s4 := &unix.SockaddrInet4{Port: a.Port}
		copy(s4.Addr[:], ip4)
		return s4
	}
	s6 := &unix.SockaddrInet6{Port: a.Port}
	copy(s6.Addr[:], a.IP.To16())
	if a.Zone != "" {
		if ifi, err := net.InterfaceByName(a.Zone); err == nil {
			s6.ZoneId = uint32(ifi.Index)
		} else if n, err := strconv.ParseUint(a.Zone, 10, 32); err == nil {
			s6.ZoneId = uint32(n)
		}
	}
	return s6
}

// udpMark ends the reply being built in c.out (UDP only).
func (c *conn) udpMark(keep bool) {
	c.udp.marks = append(c.udp.marks, udpMark{end: len(c.out), keep: keep})
}

// udpDropReplies forgets the replies memcached would not have sent yet
// (those after the datagram's last write point, conn.wrote), as it does
// before some errors.
func (c *conn) udpDropReplies() {
	u := c.udp
	u.marks = u.marks[:u.lastWritten()+1]
	c.out = c.out[:u.writtenEnd()]
	c.dropHolds(len(c.out))
}

// lastWritten is the index of the datagram's last written mark, -1 when
// there is none.
func (u *udpState) lastWritten() int {
	i := len(u.marks) - 1
	for i >= 0 && !u.marks[i].written {
		i--
	}
	return i
}

// writtenEnd is where the replies memcached would have written by now
// (the last written mark) end in c.out.
func (u *udpState) writtenEnd() int {
	if i := u.lastWritten(); i >= 0 {
		return u.marks[i].end
	}
	return 0
}

// sendReply sends one reply as numbered datagrams.
func (c *conn) sendReply(b []byte) {
	u := c.udp
	total := (len(b) + udpData - 1) / udpData
	if total > 0xffff {
		total = 0xffff
	}
	seq := 0
	for {
		n := min(len(b), udpData)
		u.pkt = append(u.pkt[:0], u.id[0], u.id[1], byte(seq>>8), byte(seq), byte(total>>8), byte(total), 0, 0)
		u.pkt = append(u.pkt, b[:n]...)
		if len(u.push) > 0 {
			u.held = append(u.held, bytes.Clone(u.pkt))
		} else {
			c.gc.Write(u.pkt)
		}
		c.st[cBytesWritten] += uint64(len(u.pkt))
		b = b[n:]
		seq++
		if len(b) == 0 {
			return
		}
	}
}
