package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"go.uber.org/zap"

	"github.com/slabcache/slabcache/internal/clock"
	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
	"github.com/slabcache/slabcache/slab"
)

// Version is the version the `version` command and `stats` report. It starts
// with the memcached version whose protocol slabcached follows, so clients
// and tools that compare versions treat it as that memcached.
const Version = "1.6.18-slabcached-0.1.0"

// Discovery answers the admin commands the cluster package serves
// (proto.CmdConfig: `config get cluster`; proto.CmdCluster: `cluster
// members`). AppendReply is given the command and its arguments; it appends
// the reply and returns true, or returns false for arguments it does not
// serve (the client then gets ERROR). It is called on event-loop
// goroutines, concurrently, and must not block. *cluster.Node implements it.
type Discovery interface {
	AppendReply(dst []byte, cmd proto.Command, args [][]byte) ([]byte, bool)
}

// Options are the parts of a server that are not memcached settings.
type Options struct {
	// Logger receives the server's logs. nil means no logs.
	Logger *zap.Logger
	// Clock is the store's and the server's time. nil means a real clock
	// owned by the server.
	Clock clock.Clock
	// Discovery answers cluster discovery commands. nil means `config get
	// cluster` is answered with ERROR, as memcached does. SetDiscovery
	// changes it after Start.
	Discovery Discovery
	// LogLevel, when set, is the level of Logger: the `verbosity` command
	// changes it as -v does.
	LogLevel *zap.AtomicLevel
}

// Server is a slabcached server: the store and the gnet event loops serving
// the memcached protocol on it.
type Server struct {
	set   Settings
	opts  Options
	log   *zap.Logger
	clk   clock.Clock
	own   *clock.Real // the clock when the server made it
	store *lru.Store
	addrs []string // gnet addresses: tcp://host:port, unix://path

	started   time.Time
	startErr  chan error
	done      chan struct{}
	stopOnce  sync.Once
	engMu     sync.Mutex
	eng       gnet.Engine
	booted    bool
	stopping  atomic.Bool
	verbosity atomic.Int32

	// Connections.
	currConns     atomic.Int64
	totalConns    atomic.Uint64
	rejectedConns atomic.Uint64
	outputClosed  atomic.Uint64 // connections closed for not reading their replies
	idleKicks     atomic.Uint64 // connections closed by idle_timeout
	lineTooLong   atomic.Uint64 // connections closed for an over-long request line

	loopsMu sync.Mutex
	loops   map[gnet.EventLoop]*loopStats
	all     []*loopStats // every loop's counters, in creation order (grows only)
	conns   map[*conn]struct{}

	disc atomic.Value // discoveryBox

	// Settings changed at run time (lru tune, lru_crawler, slabs automove,
	// verbosity is separate): what `stats settings` reports.
	liveMu   sync.Mutex
	live     Settings
	crawling atomic.Bool // an lru_crawler crawl pass is running

	lnOnce sync.Once
	ln     []listener

	obs observers // watchers and `stats detail`

	// oldestLive is the relative time of the last flush_all (stats settings).
	oldestLive atomic.Uint32
}

// New builds a server from s (validated here) and o. It allocates the store
// but does not listen: call Start.
func New(s Settings, o Options) (*Server, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	srv := &Server{set: s, opts: o, log: o.Logger, clk: o.Clock,
		loops: make(map[gnet.EventLoop]*loopStats), conns: make(map[*conn]struct{}),
		startErr: make(chan error, 1), done: make(chan struct{})}
	if srv.log == nil {
		srv.log = zap.NewNop()
	}
	if srv.clk == nil {
		srv.own = clock.NewReal()
		srv.clk = srv.own
	}
	srv.verbosity.Store(int32(s.Verbosity))
	srv.live = s
	srv.obs.evictCap = s.WatcherLogbufSize
	if s.DetailEnabled { // -D: prefix statistics on from the start
		srv.obs.detailOn = true
		srv.obs.detail = map[string]*[4]uint64{}
		srv.obs.refreshLocked()
	}
	srv.disc.Store(discoveryBox{o.Discovery})
	cfg := s.StoreConfig()
	cfg.OnEvict = srv.obs.evicted
	st, err := lru.New(cfg, srv.clk)
	if err != nil {
		srv.stopClock()
		return nil, fmt.Errorf("server: %w", err)
	}
	srv.store = st
	if s.SocketPath != "" {
		srv.addrs = []string{"unix://" + s.SocketPath}
	} else {
		hosts, err := s.ListenAddrs()
		if err != nil {
			st.Close()
			srv.stopClock()
			return nil, err
		}
		for _, h := range hosts {
			if host, port, err := net.SplitHostPort(h); err == nil && port == "0" {
				// Port 0: pick a free port now, so Addr can name it
				// (gnet does not report the port it was given).
				l, err := net.Listen("tcp", h)
				if err != nil {
					st.Close()
					srv.stopClock()
					return nil, fmt.Errorf("server: %w", err)
				}
				h = net.JoinHostPort(host, fmt.Sprint(l.Addr().(*net.TCPAddr).Port))
				l.Close()
			}
			srv.addrs = append(srv.addrs, "tcp://"+h)
		}
	}
	return srv, nil
}

func (s *Server) stopClock() {
	if s.own != nil {
		s.own.Stop()
	}
}

// memlimitReserve is how far cache_memlimit may raise a smaller -m.
const memlimitReserve = 4 << 30

// StoreConfig maps the settings onto the store's configuration.
func (s *Settings) StoreConfig() lru.Config {
	c := lru.DefaultConfig()
	c.MemoryLimit = s.MaxBytes
	// cache_memlimit may raise the limit at run time up to this much:
	// reserved address space, resident only once used.
	c.MemoryLimitMax = min(max(s.MaxBytes, memlimitReserve), slab.MaxMemLimit)
	c.NoEvict = !s.EvictToFree
	c.ItemSizeMax = s.ItemSizeMax
	c.GrowthFactor = s.Factor
	c.MinChunkSpace = s.ChunkSize
	c.NoCAS = !s.CASEnabled
	c.SlabChunkMax = s.SlabChunkMax
	c.SlabReassign = s.SlabReassign
	c.SlabAutomove = s.SlabAutomove
	if !s.SlabReassign {
		c.SlabAutomove = 0
	}
	c.LRUCrawler = s.LRUCrawler
	c.LRUMaintainer = s.LRUMaintainer
	c.HotLRUPct = s.HotLRUPct
	c.WarmLRUPct = s.WarmLRUPct
	c.HotMaxFactor = s.HotMaxFactor
	c.WarmMaxFactor = s.WarmMaxFactor
	c.TempLRU = s.TempLRU
	c.TemporaryTTL = uint32(s.TemporaryTTL)
	c.HashPower = s.HashPower
	return c
}

// discoveryBox lets an atomic.Value hold a nil Discovery.
type discoveryBox struct{ d Discovery }

// SetDiscovery sets (or, with nil, removes) the discovery responder. Safe to
// call while serving.
func (s *Server) SetDiscovery(d Discovery) {
	s.disc.Store(discoveryBox{d})
}

func (s *Server) discovery() Discovery {
	return s.disc.Load().(discoveryBox).d
}

// Settings returns the settings the server runs with.
func (s *Server) Settings() Settings { return s.set }

// Store returns the server's item store.
func (s *Server) Store() *lru.Store { return s.store }

// Clock returns the server's clock.
func (s *Server) Clock() clock.Clock { return s.clk }

// Addr returns the first listen address as host:port (or the Unix socket
// path).
func (s *Server) Addr() string {
	a := s.addrs[0]
	if len(a) > 7 && a[:7] == "unix://" {
		return a[7:]
	}
	return a[6:]
}

// Done is closed when the server has stopped (Shutdown, or the shutdown
// command).
func (s *Server) Done() <-chan struct{} { return s.done }

// Start starts the store's background work and the event loops, and returns
// once the listeners are open (or failed to open).
func (s *Server) Start() error {
	if s.set.SocketPath != "" {
		if fi, err := os.Lstat(s.set.SocketPath); err == nil && fi.Mode()&os.ModeSocket != 0 {
			os.Remove(s.set.SocketPath)
		}
	}
	s.started = time.Now()
	s.store.Start()
	threads := s.set.Threads
	if threads < 1 {
		threads = 1
	}
	opts := []gnet.Option{
		gnet.WithMulticore(threads > 1),
		gnet.WithNumEventLoop(threads),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithReuseAddr(true),
		gnet.WithTicker(true),
		gnet.WithLogger(gnetLogger{s.log.Sugar()}),
	}
	if s.set.Backlog > 0 {
		// gnet takes the kernel's somaxconn; nothing to set.
		_ = s.set.Backlog
	}
	h := &handler{s: s}
	if s.set.SocketPath != "" {
		// As memcached: the socket is created with the -a mask already
		// applied (no window in which it has the default mode).
		old := syscall.Umask(int(^s.set.SocketMask & 0o777))
		defer syscall.Umask(old)
	}
	go func() {
		err := gnet.Rotate(h, s.addrs, opts...)
		if !s.isBooted() {
			if err == nil {
				err = errors.New("server: event loops ended before listening")
			}
			s.startErr <- err
		} else if err != nil {
			s.log.Error("event loops ended", zap.Error(err))
		}
		s.store.Stop()
		s.finish()
	}()
	if err := <-s.startErr; err != nil {
		return fmt.Errorf("server: listen on %v: %w", s.addrs, err)
	}
	if s.set.SocketPath != "" {
		os.Chmod(s.set.SocketPath, os.FileMode(s.set.SocketMask&0o777))
	}
	return nil
}

func (s *Server) isBooted() bool {
	s.engMu.Lock()
	defer s.engMu.Unlock()
	return s.booted
}

// finish runs once the event loops are gone.
func (s *Server) finish() {
	s.stopOnce.Do(func() {
		s.store.Close()
		s.stopClock()
		if s.set.SocketPath != "" {
			os.Remove(s.set.SocketPath)
		}
		close(s.done)
	})
}

// Shutdown stops accepting connections, closes the open ones, stops the
// event loops and releases the store. Replies already written are flushed by
// the kernel; requests not yet read are dropped.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.isBooted() {
		s.finish()
		return nil
	}
	if s.stopping.CompareAndSwap(false, true) {
		s.engMu.Lock()
		eng := s.eng
		s.engMu.Unlock()
		if err := eng.Stop(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			s.log.Warn("stopping event loops", zap.Error(err))
		}
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// shutdownAsync is the shutdown command: stop from a goroutine of its own,
// never from inside an event-loop callback.
func (s *Server) shutdownAsync() {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	}()
}

// loopFor returns the counters of the event loop el, creating them on first
// use.
func (s *Server) loopFor(el gnet.EventLoop) *loopStats {
	s.loopsMu.Lock()
	defer s.loopsMu.Unlock()
	ls := s.loops[el]
	if ls == nil {
		ls = &loopStats{}
		s.loops[el] = ls
		s.all = append(s.all, ls)
	}
	return ls
}

// loopStatsAll returns every loop's counters.
func (s *Server) loopStatsAll() []*loopStats {
	s.loopsMu.Lock()
	defer s.loopsMu.Unlock()
	return append([]*loopStats(nil), s.all...)
}

// handler is the gnet event handler.
type handler struct {
	gnet.BuiltinEventEngine
	s *Server
}

func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	s := h.s
	s.engMu.Lock()
	s.eng = eng
	s.booted = true
	s.engMu.Unlock()
	s.startErr <- nil
	s.log.Info("listening", zap.Strings("addrs", s.addrs))
	return gnet.None
}

func (h *handler) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	s := h.s
	if s.stopping.Load() {
		return nil, gnet.Close
	}
	if n := s.currConns.Load(); n >= int64(s.set.MaxConns) {
		s.rejectedConns.Add(1)
		return []byte("ERROR Too many open connections\r\n"), gnet.Close
	}
	s.currConns.Add(1)
	s.totalConns.Add(1)
	c := newConn(s, gc)
	gc.SetContext(c)
	s.loopsMu.Lock()
	s.conns[c] = struct{}{}
	s.loopsMu.Unlock()
	if s.verbosity.Load() > 1 {
		s.log.Debug("new client connection", zap.Stringer("remote", addrStringer{gc.RemoteAddr()}))
	}
	return nil, gnet.None
}

func (h *handler) OnClose(gc gnet.Conn, err error) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok || c == nil {
		return gnet.None
	}
	h.s.currConns.Add(-1)
	h.s.loopsMu.Lock()
	delete(h.s.conns, c)
	h.s.loopsMu.Unlock()
	if c.watching.Load() {
		h.s.stopWatch(c)
	}
	c.release()
	gc.SetContext(nil)
	return gnet.None
}

func (h *handler) OnTraffic(gc gnet.Conn) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok || c == nil {
		return gnet.Close
	}
	return c.onTraffic()
}

// tickInterval is how often OnTick looks at idle and paused connections.
const tickInterval = 100 * time.Millisecond

// OnTick runs on its own goroutine: it may only Close and Wake connections.
func (h *handler) OnTick() (time.Duration, gnet.Action) {
	s := h.s
	now := s.clk.Now()
	idle := uint32(s.set.IdleTimeout)
	s.loopsMu.Lock()
	for c := range s.conns {
		if c.paused.Load() {
			c.gc.Wake(nil)
			continue
		}
		if idle > 0 && now-c.lastActive.Load() > idle {
			if c.kicked.CompareAndSwap(false, true) {
				s.idleKicks.Add(1)
				c.gc.Close()
			}
		}
	}
	s.loopsMu.Unlock()
	if s.obs.on.Load() {
		s.obs.flushEvictions()
	}
	return tickInterval, gnet.None
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
