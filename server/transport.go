package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/slabcache/slabcache/cluster/hotkeys"
	"github.com/slabcache/slabcache/internal/clock"
	"github.com/slabcache/slabcache/proto"
)

// The transport: gnet's event loops, the listening sockets, the set of open
// connections and the periodic tick that closes idle ones. A connection's
// own input handling is in conn.go.

// transport is the network side of a Server.
type transport struct {
	addrs      []string // gnet addresses: tcp://host:port, unix://path
	socketPath string   // -s, or ""
	socketMask uint32   // -a

	startErr chan error
	done     chan struct{}
	stopOnce sync.Once
	stopping atomic.Bool

	udp     udpTransport // the UDP sockets (-U), on event loops of their own
	udpOnly bool         // -p 0: the event loops serve the UDP sockets alone
	// reqsPerEvent: requests a connection may have served in one event
	// before it yields (-R); -1 for every complete request.
	reqsPerEvent int
	// newSampler gives each event loop its hot-key sampler (nil: off).
	newSampler func() *hotkeys.Sampler
	// tlsModes: how each TCP entry of addrs uses TLS ("", "tls", "btls",
	// "mtls"; Settings.ListenTLS); nil without TLS.
	tlsModes []string
	// respLimit: replies a connection may have waiting in one event under
	// read_buf_mem_limit (0: no limit); see conn.respRoom.
	respLimit int
	// prefetch: look ahead in batches and multi-gets (Settings.Prefetch).
	prefetch bool
	// backlog: the listen queue length of the TCP and unix sockets (-b);
	// the kernel caps it at net.core.somaxconn, as for memcached.
	backlog int
	// cookie: -o sock_cookie_id, the SO_MARK of the TCP and UDP sockets
	// (0: none).
	cookie uint32

	mu        sync.Mutex // guards everything below
	eng       gnet.Engine
	booted    bool
	listeners []listener // once booted
	loops     map[gnet.EventLoop]*loopStats
	all       []*loopStats // every loop's counters, in creation order (grows only)
	conns     map[*conn]struct{}
	// Without maxconns_fast, connections over -c wait here, unserved, in
	// the order they came, as memcached leaves them in the listen backlog
	// while it stops accepting; each close lets the first one in.
	waiting   []*conn
	listenOff bool          // connections are waiting (memcached: not accepting)
	offSince  time.Time     // when listenOff last began
	bootAt    atomic.Uint32 // clock time the listeners were opened (stats conns)
	offNum    uint64        // listen_disabled_num
	offMicros uint64        // time_in_listen_disabled_us, of the periods that ended
}

// unixListenNameMax is how much of a unix socket's path memcached's
// `stats conns` shows for the listening socket.
const unixListenNameMax = 26

// listener is a listening socket as `stats conns` shows it.
type listener struct {
	fd   int    // a duplicate of gnet's listening socket, held while serving
	addr string // host:port with the port actually bound, or the socket path
	unix bool
}

func (l listener) statsAddr() string {
	if l.unix {
		// memcached reads the listening socket's name into an IPv6
		// address's 28 bytes, which hold 26 of the path.
		return "unix:" + l.addr[:min(len(l.addr), unixListenNameMax)]
	}
	return "tcp:" + l.addr
}

func (t *transport) init(addrs []string) {
	t.addrs = addrs
	t.udpOnly = len(addrs) > 0 && strings.HasPrefix(addrs[0], "udp://")
	t.startErr = make(chan error, 1)
	t.done = make(chan struct{})
	t.loops = make(map[gnet.EventLoop]*loopStats)
	t.conns = make(map[*conn]struct{})
}

// gnetAddrs returns the addresses gnet listens on: the Unix socket, or one
// TCP address per -l entry.
func (s *Settings) gnetAddrs() ([]string, error) {
	if s.SocketPath != "" {
		return []string{"unix://" + s.SocketPath}, nil
	}
	if s.Port == 0 {
		// -p 0: no TCP, as in memcached. The event loops then serve UDP
		// alone, or there is nothing to serve.
		return s.udpAddrs() // none with -U 0: memcached then serves nothing
	}
	hosts, err := s.ListenAddrs()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = "tcp://" + h
	}
	return out, nil
}

// addr returns the first listen address: host:port (the bound port once
// the event loops have started) or the Unix socket path.
func (t *transport) addr() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.listeners) > 0 {
		return t.listeners[0].addr
	}
	if len(t.addrs) == 0 {
		return ""
	}
	_, a, _ := strings.Cut(t.addrs[0], "://")
	return a
}

// boundListeners returns the listening sockets (empty before boot).
func (t *transport) boundListeners() []listener {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.listeners
}

func (t *transport) isBooted() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.booted
}

// start runs the event loops and returns once the listeners are open or
// failed to open.
func (t *transport) start(s *Server) error {
	set := &s.set
	t.socketPath, t.socketMask = set.SocketPath, set.SocketMask
	if t.socketPath != "" {
		if fi, err := os.Lstat(t.socketPath); err == nil && fi.Mode()&os.ModeSocket != 0 {
			os.Remove(t.socketPath)
		}
		// As memcached: the socket is created with the -a mask already
		// applied (no window in which it has the default mode).
		old := syscall.Umask(int(^t.socketMask & 0o777))
		defer syscall.Umask(old)
	}
	threads := max(set.Threads, 1)
	// gnet listens with the kernel's somaxconn as backlog; -b is reported
	// by `stats settings` only.
	opts := []gnet.Option{
		gnet.WithMulticore(threads > 1),
		gnet.WithNumEventLoop(threads),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithReuseAddr(true),
		gnet.WithTicker(true),
		gnet.WithLogger(gnetLogger{s.log.Sugar()}),
	}
	if len(t.addrs) == 0 {
		// -p 0 -U 0 without -s: nothing to listen on. memcached runs all
		// the same, serving nobody, until it is stopped.
		return nil
	}
	if t.udpOnly {
		t.udp.addrs = t.addrs
		if set.UDPPort < 0 {
			threads = 1 // one socket for an ephemeral port
		}
		opts = append(opts, gnet.WithNumEventLoop(threads), gnet.WithMulticore(threads > 1),
			gnet.WithReadBufferCap(64<<10))
	} else if err := t.udp.start(s); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	go func() {
		err := gnet.Rotate(&handler{s: s, udp: udpHandler{s: s, u: &t.udp}}, t.addrs, opts...)
		t.udp.stop()
		if !t.isBooted() {
			if err == nil {
				err = errors.New("server: event loops ended before listening")
			}
			t.startErr <- err
		} else if err != nil {
			s.log.Error("event loops ended", zap.Error(err))
		}
		s.store.Stop()
		s.finish()
	}()
	if err := <-t.startErr; err != nil {
		return fmt.Errorf("server: listen on %v: %w", t.addrs, err)
	}
	return nil
}

// boot records the engine and the sockets it listens on (OnBoot).
func (t *transport) boot(eng gnet.Engine, log *zap.Logger) {
	var ls []listener
	for _, a := range t.addrs {
		network, address, _ := strings.Cut(a, "://")
		if network == "udp" {
			continue // t.udp lists the UDP sockets
		}
		l := listener{fd: -1, addr: address, unix: network == "unix"}
		fd, err := eng.DupListener(network, address)
		if err != nil {
			log.Warn("cannot find a listening socket", zap.String("addr", a), zap.Error(err))
		} else {
			l.fd = fd
			// gnet listens with the kernel's largest backlog; listen()
			// again on the same socket sets -b's, as memcached's.
			if err := unix.Listen(fd, t.backlog); err != nil {
				log.Warn("cannot set the listen backlog", zap.String("addr", a), zap.Int("backlog", t.backlog), zap.Error(err))
			}
			if !l.unix {
				setCookie(fd, t.cookie, address, log)
				if sa, err := unix.Getsockname(fd); err == nil {
					host, _, _ := net.SplitHostPort(address)
					switch sa := sa.(type) {
					case *unix.SockaddrInet4:
						l.addr = net.JoinHostPort(host, strconv.Itoa(sa.Port))
					case *unix.SockaddrInet6:
						l.addr = net.JoinHostPort(host, strconv.Itoa(sa.Port))
					}
				}
			}
		}
		ls = append(ls, l)
	}
	t.mu.Lock()
	t.eng, t.booted, t.listeners = eng, true, ls
	t.mu.Unlock()
}

// finish runs release once, after the event loops are gone, then closes
// the listener duplicates, removes the Unix socket and closes done.
func (t *transport) finish(release func()) {
	t.stopOnce.Do(func() {
		release()
		for _, l := range t.boundListeners() {
			if l.fd >= 0 {
				unix.Close(l.fd)
			}
		}
		if t.socketPath != "" {
			os.Remove(t.socketPath)
		}
		close(t.done)
	})
}

func (t *transport) shutdown(ctx context.Context, s *Server) error {
	if !t.isBooted() {
		s.store.Stop()
		s.finish()
		return nil
	}
	if t.stopping.CompareAndSwap(false, true) {
		t.mu.Lock()
		eng := t.eng
		t.mu.Unlock()
		if err := eng.Stop(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			s.log.Warn("stopping event loops", zap.Error(err))
		}
	}
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tlsMode returns how the connection gc, accepted on one of the TCP
// listeners, uses TLS: "" for none (a plain listener or the Unix socket).
func (t *transport) tlsMode(gc gnet.Conn) string {
	if len(t.tlsModes) == 0 {
		return ""
	}
	la, ok := gc.LocalAddr().(*net.TCPAddr)
	if !ok {
		return ""
	}
	same := true
	for _, m := range t.tlsModes[1:] {
		same = same && m == t.tlsModes[0]
	}
	if same {
		return t.tlsModes[0]
	}
	// Listeners differ: the one with this address, else a wildcard one
	// on this port.
	found := ""
	for i, l := range t.boundListeners() {
		host, port, err := net.SplitHostPort(l.addr)
		if l.unix || err != nil || i >= len(t.tlsModes) || port != strconv.Itoa(la.Port) {
			continue
		}
		if ip := net.ParseIP(host); ip != nil && ip.Equal(la.IP) {
			return t.tlsModes[i]
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			found = t.tlsModes[i]
		}
	}
	return found
}

// loopFor returns the counters of the event loop el, creating them on first
// use.
func (t *transport) loopFor(el gnet.EventLoop) *loopStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	ls := t.loops[el]
	if ls == nil {
		ls = &loopStats{}
		if t.newSampler != nil {
			ls.hot = t.newSampler()
		}
		t.loops[el] = ls
		t.all = append(t.all, ls)
	}
	return ls
}

// loopStatsAll returns every loop's counters.
func (t *transport) loopStatsAll() []*loopStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*loopStats(nil), t.all...)
}

// eachConn calls fn for every open connection with the registry locked:
// fn must be quick and must not block.
func (t *transport) eachConn(fn func(*conn)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.conns {
		fn(c)
	}
}

// handler is the gnet event handler.
type handler struct {
	gnet.BuiltinEventEngine
	s   *Server
	udp udpHandler // serves the datagrams when the loops serve UDP alone (-p 0)
}

func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	s := h.s
	s.net.boot(eng, s.log)
	if s.verbose() {
		for _, l := range s.net.boundListeners() {
			if l.fd >= 0 {
				s.printListening(l.fd)
			}
		}
	}
	s.net.bootAt.Store(s.clk.Now())
	if s.net.udpOnly {
		s.net.udp.recordSockets(eng)
		s.net.udp.last.Store(s.clk.Now())
		s.napiUDP()
	}
	s.prepareUDPSockets()
	s.countListening()
	if s.set.SocketPath != "" {
		os.Chmod(s.set.SocketPath, os.FileMode(s.set.SocketMask&0o777))
	}
	s.net.startErr <- nil
	s.log.Info("listening", zap.String("addr", s.Addr()), zap.Strings("addrs", s.net.addrs))
	return gnet.None
}

func (h *handler) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	s := h.s
	if s.net.stopping.Load() {
		return nil, gnet.Close
	}
	mode := s.net.tlsMode(gc)
	if !s.set.MaxConnsFast {
		c := s.newClientConn(gc, mode)
		s.net.mu.Lock()
		// Counted under the lock, so that concurrent opens and admissions
		// never pass -c together.
		if len(s.net.waiting) > 0 || s.counts.curr.Load() >= int64(s.set.MaxConns) {
			c.waiting = true
			s.net.waiting = append(s.net.waiting, c)
			s.net.listenOffLocked()
			s.net.mu.Unlock()
			return nil, gnet.None
		}
		s.counts.curr.Add(1)
		s.net.mu.Unlock()
		s.accepted(c)
		return nil, gnet.None
	}
	if n := s.counts.curr.Load(); n >= int64(s.set.MaxConns) {
		s.counts.rejected.Add(1)
		// In the clear on a TLS listener too, before any handshake, as
		// memcached writes it.
		return proto.AppendError(nil, proto.ErrTooManyConnections), gnet.Close
	}
	s.counts.curr.Add(1)
	s.accepted(s.newClientConn(gc, mode))
	return nil, gnet.None
}

// newClientConn makes the connection state of a client connection.
func (s *Server) newClientConn(gc gnet.Conn, mode string) *conn {
	c := newConn(s, gc)
	if mode != "" {
		c.tls = newTLSConn(s, gc, s.tls.cfgs.Load().forMode(mode))
		c.gc = c.tls
	}
	gc.SetContext(c)
	return c
}

// accepted starts serving a client connection counted in curr: at once,
// or, for one that waited (no maxconns_fast), when a slot came free.
func (s *Server) accepted(c *conn) {
	s.counts.total.Add(1)
	s.counts.fds.add(c.gc.Fd())
	s.napiDispatch(c.gc.Fd())
	c.lastActive.Store(s.clk.Now()) // idle_timeout counts from here
	if s.obs.on.Load() {
		s.obs.connEvent(c, false, "")
	}
	s.net.mu.Lock()
	s.net.conns[c] = struct{}{}
	s.net.mu.Unlock()
	if s.verbose() {
		s.printNewConn(c.fd())
	}
}

// setCookie gives a listening socket (and the connections it accepts
// from then on, which inherit it) memcached's -o sock_cookie_id: the
// socket mark firewall rules and routing can match (SO_MARK; setting it
// needs CAP_NET_ADMIN). A failure is logged, and serving goes on, as in
// memcached.
func setCookie(fd int, id uint32, addr string, log *zap.Logger) {
	if id == 0 {
		return
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(id)); err != nil && log != nil {
		log.Warn("cannot set the socket mark (sock_cookie_id)", zap.String("addr", addr), zap.Uint32("sock_cookie_id", id), zap.Error(err))
	}
}

// listenOffLocked notes that connections wait (t.mu held): memcached's
// listen_disabled_num counts the times it stopped accepting.
func (t *transport) listenOffLocked() {
	if !t.listenOff {
		t.listenOff, t.offSince = true, time.Now()
		t.offNum++
	}
}

// admitWaiting lets waiting connections in while there is room (after a
// close), first come first served, and wakes their event loops.
func (s *Server) admitWaiting() {
	t := &s.net
	if t.stopping.Load() {
		return
	}
	t.mu.Lock()
	if t.listenOff {
		t.listenOff = false
		t.offMicros += uint64(time.Since(t.offSince) / time.Microsecond)
	}
	var in []*conn
	for len(t.waiting) > 0 && s.counts.curr.Load() < int64(s.set.MaxConns) {
		in = append(in, t.waiting[0])
		t.waiting = t.waiting[1:]
		s.counts.curr.Add(1)
	}
	if len(t.waiting) > 0 {
		t.listenOffLocked() // still full: memcached stops accepting again
	}
	t.mu.Unlock()
	for _, c := range in {
		s.accepted(c)
		c.admitted.Store(true)
		c.gc.Wake(nil)
	}
}

// waitingCount returns the connections waiting for a slot.
func (t *transport) waitingCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.waiting)
}

// listenState returns accepting_conns, listen_disabled_num and
// time_in_listen_disabled_us (as in memcached, of the periods that ended).
func (t *transport) listenState() (accepting bool, num, micros uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.listenOff && !t.stopping.Load(), t.offNum, t.offMicros
}

func (h *handler) OnClose(gc gnet.Conn, err error) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok || c == nil {
		return gnet.None
	}
	s := h.s
	if c.waiting && s.net.dropWaiting(c) {
		if c.tls != nil {
			c.tls.closed()
		}
		c.release()
		gc.SetContext(nil)
		return gnet.None // never accepted: nothing was counted
	}
	if c.tls != nil && c.tls.lost(err) || err != nil && !errors.Is(err, io.EOF) {
		// memcached closes for an error when a read or write fails (a
		// reset), or when TLS does.
		c.closeErr = true
	}
	if s.obs.on.Load() {
		reason := "normal"
		switch {
		case c.kicked.Load():
			reason = "idle_timeout"
		case s.net.stopping.Load():
			reason = "shutdown"
		case c.closeErr:
			reason = "error"
		}
		s.obs.connEvent(c, true, reason)
	}
	if s.verbose() {
		if c.watching.Load() {
			// memcached's logger thread hands a watcher back to be closed
			s.vprintf("<%d connection closing from side thread.\n", c.fd())
		}
		s.vprintf("<%d connection closed.\n", c.fd())
	}
	s.counts.curr.Add(-1)
	s.net.mu.Lock()
	delete(s.net.conns, c)
	s.net.mu.Unlock()
	if c.watching.Load() {
		s.obs.stopWatch(c)
	}
	if c.tls != nil {
		c.tls.closed()
	}
	c.release()
	gc.SetContext(nil)
	if !s.set.MaxConnsFast {
		s.admitWaiting()
	}
	return gnet.None
}

// dropWaiting removes a connection that closed while waiting; false when
// it was admitted meanwhile (it is then counted, and closes as any other).
func (t *transport) dropWaiting(c *conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := slices.Index(t.waiting, c)
	if i < 0 {
		return false
	}
	t.waiting = slices.Delete(t.waiting, i, i+1)
	return true
}

func (h *handler) OnTraffic(gc gnet.Conn) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok || c == nil {
		if h.s.net.udpOnly {
			return h.udp.OnTraffic(gc)
		}
		return gnet.Close
	}
	if c.waiting {
		if !c.admitted.Load() {
			// Not accepted yet: its input stays unread (memcached's
			// stays in the kernel, which stops the client; gnet reads
			// on, so one that keeps sending is closed, as a client
			// that does not read its replies is).
			if gc.InboundBuffered() > inputCap {
				return gnet.Close
			}
			return gnet.None
		}
		c.waiting = false
	}
	if t := c.tls; t != nil {
		if action := t.pump(); action != gnet.None {
			c.closeErr = true
			return action
		}
		if !t.w.ready {
			return gnet.None
		}
		if c.kicked.Load() {
			t.closeNotify() // idle_timeout (OnTick woke us)
			return gnet.Close
		}
		action := c.onTraffic()
		if action == gnet.Close || t.eof {
			// As memcached (SSL_shutdown): the client learns the
			// session is over before the socket closes.
			t.closeNotify()
			return gnet.Close
		}
		return action
	}
	return c.onTraffic()
}

// tickInterval is how often OnTick runs while it has work that wants it
// soon (watchers' eviction lines and skip notices, a cluster's warm-up
// and hand-over); otherwise it runs once a second, as
// the clock moves (clock.UntilNextSecond), for idle_timeout (counted in
// whole seconds): an idle server's timers wake its threads.
const tickInterval = 100 * time.Millisecond

// OnTick runs on its own goroutine: it may only Close and Wake connections.
func (h *handler) OnTick() (time.Duration, gnet.Action) {
	s := h.s
	if r, ok := s.clk.(interface{ Refresh() }); ok {
		r.Refresh() // this tick may wake before the clock's as the second turns
	}
	now := s.clk.Now()
	idle := uint32(s.set.IdleTimeout)
	fast := s.obs.on.Load() || s.rep.peers.Load() != nil || s.warmPeers() != nil
	s.net.eachConn(func(c *conn) {
		if c.paused.Load() {
			return // not idle: it wakes itself to send its replies (conn.pause)
		}
		if idle > 0 && now-c.lastActive.Load() > idle && c.kicked.CompareAndSwap(false, true) {
			s.counts.idleKicks.Add(1)
			if s.verbose() {
				s.vprintf("Closing idle fd %d\n", c.fd())
			}
			if c.tls != nil && c.tls.isReady() {
				c.gc.Wake(nil) // its event loop says goodbye (close_notify) and closes
			} else {
				c.gc.Close()
			}
		}
	})
	if s.obs.on.Load() {
		s.obs.flushEvictions()
		s.obs.announceSkipped()
	}
	s.refreshAway()
	s.refreshWarm()
	s.refreshHandover()
	s.expireFetched(time.Duration(s.set.WarmupSecs) * time.Second)
	s.sampleCASFloor()
	if fast {
		return tickInterval, gnet.None
	}
	return clock.UntilNextSecond(time.Now()), gnet.None // with the clock's wake-up
}

// addrStringer prints a net.Addr that may be nil.
type addrStringer struct{ a net.Addr }

func (a addrStringer) String() string {
	if a.a == nil {
		return ""
	}
	return a.a.String()
}

// gnetLogger routes gnet's own logs to zap.
type gnetLogger struct{ l *zap.SugaredLogger }

func (g gnetLogger) Debugf(f string, a ...any) { g.l.Debugf(f, a...) }
func (g gnetLogger) Infof(f string, a ...any)  { g.l.Infof(f, a...) }
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warnf(f, a...) }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Errorf(f, a...) }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Fatalf(f, a...) }

// countListening counts the listening sockets as memcached counts them
// among its connections (connCounts.listening), once they are open.
func (s *Server) countListening() {
	n := 0
	for _, l := range s.net.boundListeners() {
		if l.fd >= 0 {
			n++
		}
	}
	n += len(s.net.udp.boundSockets()) * s.set.threadsPerUDP()
	s.counts.listening.Store(int64(n))
	s.counts.listenInTotal.Store(true)
}

// fdSet is a set of descriptor numbers that only grows.
type fdSet struct {
	mu   sync.Mutex
	bits []uint64
	n    int
}

func (f *fdSet) add(fd int) {
	if fd < 0 {
		return
	}
	f.mu.Lock()
	w := fd / 64
	if w >= len(f.bits) {
		f.bits = append(f.bits, make([]uint64, w+1-len(f.bits))...)
	}
	if b := uint64(1) << (fd % 64); f.bits[w]&b == 0 {
		f.bits[w] |= b
		f.n++
	}
	f.mu.Unlock()
}

func (f *fdSet) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}
