package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/slabcache/slabcache/cluster/hotkeys"
	"github.com/slabcache/slabcache/internal/clock"
	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
)

// Version is the version the `version` command and `stats` report. It starts
// with the memcached version whose protocol slabcached follows (1.6.45), so
// clients and tools that compare versions treat it as that memcached; the
// suffix names slabcached's own version.
const Version = "1.6.45-slabcached-0.2.0"

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
	// VerboseOut receives the diagnostic lines memcached prints on
	// standard error at -vv (verbose.go). nil means standard error.
	VerboseOut io.Writer
}

// Server is a slabcached server: the store, the event loops serving the
// memcached protocol on it (transport.go), the observers of its traffic
// (observers.go) and its statistics (counters.go, cmd_stats.go).
type Server struct {
	set   Settings // as started; see live for what admin commands changed
	opts  Options
	log   *zap.Logger
	clk   clock.Clock
	own   *clock.Real // the clock, when the server made it
	store *lru.Store

	net    transport    // listeners, event loops, connections
	counts connCounts   // connections opened, refused and closed
	napi   napiCounts   // -N's NAPI-id counts (napi.go)
	live   live         // settings changed at run time
	obs    observers    // watchers and `stats detail`
	auth   authTable    // users of the -Y auth file
	tls    tlsState     // certificates and counters of -Z (tls.go)
	disc   atomic.Value // discoveryBox

	verbosity  atomic.Int32
	vout       verboseOut        // where -vv's lines go (verbose.go)
	flushedAt  atomic.Uint32     // relative time of the last flush_all (stats settings "oldest")
	graceful   atomic.Bool       // the stop under way keeps the memory file (StopGracefully)
	hot        *hotkeys.Detector // hot-key detection (hotkeys.go); nil when off
	rep        replicator        // hot-key copies on other nodes (replicate.go)
	warm       warmup            // filling moved keys after a ring change (warmup.go)
	inv        invalidator       // flush_prefix relays to the other members (invalidate.go)
	hand       handover          // pushing moved items to their new owners (handover.go)
	fetched    fetchedLog        // keys members fetched from here ahead of this node's ring (fetched.go)
	ahead      aheadLog          // CAS floors of the last seconds, for writes ahead of the ring (ahead.go)
	away       awayLog           // keys written here for members that are away (away.go)
	warmUntil  atomic.Uint32     // clock time a warm-up ends; 0: none (warmup.go)
	movedUntil atomic.Uint32     // clock time writes of moved keys stop being forwarded (movedOwner); 0: none
	forward    atomic.Uint32     // fwdLeaving | fwdFetched | fwdRing: other reasons a client's write may be forwarded (movedOwner; fetched.go)
}

// connCounts counts connections as `stats` and the metrics report them.
type connCounts struct {
	curr  atomic.Int64  // client connections
	total atomic.Uint64 // client connections since start or stats reset
	// listening: what memcached also counts as connections, its listening
	// sockets (one per TCP or unix socket, one per worker thread per UDP
	// socket), set at start: in connection_structures, in curr_connections
	// less one, and in total_connections until stats reset (listenInTotal).
	listening     atomic.Int64
	listenInTotal atomic.Bool
	// fds: the descriptors that have held a client connection
	// (connection_structures: memcached keeps one structure per descriptor
	// number it has used).
	fds          fdSet
	rejected     atomic.Uint64
	outputClosed atomic.Uint64 // closed for not reading their replies
	idleKicks    atomic.Uint64 // closed by idle_timeout
	lineTooLong  atomic.Uint64 // closed for an over-long request line
	connYields   atomic.Uint64 // events ended by the -R budget (conn_yields)
	respOOM      atomic.Uint64 // replies refused by read_buf_mem_limit (response_obj_oom)
}

// live holds the settings admin commands change at run time (lru tune,
// lru_crawler, slabs automove): what `stats settings` reports.
type live struct {
	mu  sync.Mutex
	set Settings
}

// New builds a server from s (validated here) and o. It allocates the store
// but does not listen: call Start.
func New(s Settings, o Options) (*Server, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	srv := &Server{set: s, opts: o, log: o.Logger, clk: o.Clock}
	if srv.log == nil {
		srv.log = zap.NewNop()
	}
	if srv.clk == nil {
		srv.own = clock.NewReal()
		srv.clk = srv.own
	}
	srv.verbosity.Store(int32(s.Verbosity))
	srv.vout.w = o.VerboseOut
	srv.live.set = s
	srv.obs.init(s)
	srv.disc.Store(discoveryBox{o.Discovery})
	addrs, err := s.gnetAddrs()
	if err != nil {
		srv.stopClock()
		return nil, err
	}
	srv.net.init(addrs)
	if s.TLS && s.SocketPath == "" && s.Port != 0 {
		srv.net.tlsModes = s.ListenTLS()
	}
	if err := srv.initTLS(); err != nil {
		srv.stopClock()
		return nil, err
	}
	srv.rep.init(srv)
	srv.inv.init(srv)
	if srv.hot = srv.newHotKeys(); srv.hot != nil {
		srv.net.newSampler = srv.hot.Sampler
	}
	srv.net.respLimit = respLimit(s.ReadBufMemLimit, s.Threads)
	srv.net.reqsPerEvent = -1
	srv.net.backlog = s.Backlog
	srv.net.cookie, srv.net.udp.cookie, srv.net.udp.log = s.SockCookieID, s.SockCookieID, srv.log
	srv.net.prefetch = s.Prefetch
	if s.YieldRequests {
		srv.net.reqsPerEvent = s.ReqsPerEvent
	}
	cfg := s.StoreConfig()
	cfg.OnEvict = srv.obs.evicted
	cfg.OnAutomove = srv.obs.slabMoved
	cfg.OnCrawlerStatus = srv.obs.crawlerStatus
	if s.MemoryFile != "" {
		// A clean stop left this metadata; it is read once and removed,
		// so a crash later leaves none and the next start is empty.
		sn, err := lru.ReadSnapshot(s.MemoryFile)
		if err != nil {
			srv.stopClock()
			return nil, fmt.Errorf("warm restart: %w", err)
		}
		if sn == nil {
			srv.log.Info("warm restart: no metadata saved by a graceful stop; starting with an empty cache",
				zap.String("memory_file", s.MemoryFile))
		}
		cfg.Restore = sn
		if sn != nil {
			srv.warm.settledAtStop, _ = strconv.ParseBool(sn.Note(noteSettled))
		}
	}
	st, err := lru.New(cfg, srv.clk)
	if err != nil {
		srv.stopClock()
		return nil, fmt.Errorf("server: %w", err)
	}
	srv.store = st
	if cfg.Restore != nil {
		if rep := st.Restored(); rep.Restored {
			srv.log.Info("warm restart: serving the items of the memory file",
				zap.Int("items", rep.Items), zap.Int("expired_or_flushed", rep.Dropped))
		} else {
			srv.log.Warn("warm restart: the memory file cannot be trusted; starting with an empty cache",
				zap.String("reason", rep.Reason))
		}
	}
	if err := srv.LoadAuthFile(); err != nil {
		st.Close()
		srv.stopClock()
		return nil, err
	}
	if !s.LRUSegmented {
		// memcached without its LRU maintainer keeps one LRU per class.
		st.SetLRUMode(false)
	}
	return srv, nil
}

func (s *Server) stopClock() {
	if s.own != nil {
		s.own.Stop()
	}
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

// Addr returns the first listen address as host:port (with the port the
// system chose for -p 0, once Start has returned), or the Unix socket path.
func (s *Server) Addr() string { return s.net.addr() }

// Done is closed when the server has stopped (Shutdown, or the shutdown
// command).
func (s *Server) Done() <-chan struct{} { return s.net.done }

// Start starts the store's background work and the event loops, and returns
// once the listeners are open (or failed to open).
func (s *Server) Start() error {
	if s.verbose() {
		s.printSlabClasses()
	}
	s.store.Start()
	s.inv.start()
	if s.hot != nil {
		s.hot.Start()
		s.rep.start()
	}
	if err := s.net.start(s); err != nil {
		return err
	}
	if s.set.PortFile != "" {
		if err := s.writePortFile(); err != nil {
			s.log.Warn("writing the port file", zap.Error(err))
		}
	}
	return nil
}

// writePortFile writes the bound ports as memcached does: into
// PortFile.lck, then renamed to PortFile.
func (s *Server) writePortFile() error {
	var b []byte
	line := func(proto, addr string) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return
		}
		family := "INET"
		if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
			family = "INET6"
		}
		b = fmt.Appendf(b, "%s %s: %s\n", proto, family, port)
	}
	for _, l := range s.net.boundListeners() {
		if !l.unix {
			line("TCP", l.addr)
		}
	}
	for _, l := range s.net.udp.boundSockets() {
		line("UDP", l.addr)
	}
	tmp := s.set.PortFile + ".lck"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.set.PortFile)
}

// finish runs once the event loops are gone.
func (s *Server) finish() {
	s.net.finish(func() {
		s.inv.close()
		s.hand.stop()
		if s.hot != nil {
			s.hot.Stop()
			s.rep.close()
		}
		s.stopSweeps()
		if s.graceful.Load() && s.set.MemoryFile != "" {
			if rp, ok := peersAs[returnPeers](s); ok {
				// The save drops the items of keys given up to others
				// (lru.Store.SaveSnapshot), not those of this node's own
				// keys, given up by its going.
				rp.JudgeGaveUpOnReturn()
				s.settledForRestart(rp.LastGained())
			}
			s.store.Stop()
			if err := s.store.SaveSnapshot(); err != nil {
				s.log.Error("warm restart: saving the metadata failed; the next start will be empty", zap.Error(err))
			} else {
				s.log.Info("warm restart: memory file saved", zap.String("memory_file", s.set.MemoryFile))
			}
		}
		s.store.Close()
		s.stopClock()
	})
}

// returnPeers is what a graceful stop needs from the cluster (cluster.Node).
type returnPeers interface {
	JudgeGaveUpOnReturn()
	LastGained() time.Time
}

// StopGracefully marks the coming stop as graceful (memcached's SIGUSR1 and
// `shutdown graceful`): with a memory file (-e), the items are kept there
// for the next start.
func (s *Server) StopGracefully() { s.graceful.Store(true) }

// Shutdown stops accepting connections, closes the open ones, stops the
// event loops and releases the store. Replies already written are flushed by
// the kernel; requests not yet read are dropped.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.net.shutdown(ctx, s)
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

// setLive changes the run-time settings `stats settings` reports.
func (s *Server) setLive(f func(*Settings)) {
	s.live.mu.Lock()
	f(&s.live.set)
	s.live.mu.Unlock()
}

// liveSettings returns the settings with the values changed at run time.
func (s *Server) liveSettings() *Settings {
	s.live.mu.Lock()
	set := s.live.set
	s.live.mu.Unlock()
	set.Verbosity = int(s.verbosity.Load())
	s.obs.mu.Lock()
	set.DetailEnabled = s.obs.detailOn // stats detail on|off
	s.obs.mu.Unlock()
	return &set
}

// applyVerbosity is called after `verbosity N` changed the level: it moves
// the logger's level as -v would (2 and more: debug, with connection events;
// less: info).
func (s *Server) applyVerbosity() {
	if s.opts.LogLevel == nil {
		return
	}
	if s.verbosity.Load() >= 2 {
		s.opts.LogLevel.SetLevel(zapcore.DebugLevel)
	} else {
		s.opts.LogLevel.SetLevel(zapcore.InfoLevel)
	}
}
