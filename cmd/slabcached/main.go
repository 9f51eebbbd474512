// Command slabcached is the memcached-compatible cache server.
//
// It takes memcached's command-line flags with memcached's meanings (see
// docs/flags.md), starts the server and, when asked, the cluster features
// (docs/cluster.md). This package must not be imported by anything.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"

	"github.com/slabcache/slabcache/cluster"
	"github.com/slabcache/slabcache/server"
)

// Exit codes, as memcached's: 1 for an option it cannot read (unknown
// option or suboption, missing argument), 64 (EX_USAGE) for a bad value,
// 1 for a failure to start.
const (
	exitOK    = 0
	exitUsage = 64
	exitFail  = 1
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Geteuid() == 0))
}

// run is main without the process: it parses args, serves until a signal or
// the shutdown command, and returns the exit code.
func run(args []string, stdout, stderr io.Writer, isRoot bool) int {
	cmd, err := parseArgs(args, isRoot)
	if err != nil {
		fmt.Fprintf(stderr, "slabcached: %v\n", err)
		var ue *usageError
		if errors.As(err, &ue) {
			if !strings.HasPrefix(ue.msg, "Illegal suboption") {
				fmt.Fprintln(stderr, `Illegal argument "?"`) // memcached's line after getopt's
			}
			return exitFail
		}
		return exitUsage
	}
	switch {
	case cmd.help:
		printUsage(stdout)
		return exitOK
	case cmd.version:
		printVersion(stdout)
		return exitOK
	case cmd.license:
		// memcached prints its BSD licence and libevent's; slabcached
		// bundles neither.
		printVersion(stdout)
		fmt.Fprintln(stdout, "slabcached contains no memcached or libevent code; see the slabcache source for its licence.")
		return exitOK
	}
	if cmd.coredumps {
		// As memcached -r: allow core files as large as the hard limit.
		var rl unix.Rlimit
		if unix.Getrlimit(unix.RLIMIT_CORE, &rl) == nil {
			rl.Cur = rl.Max
			unix.Setrlimit(unix.RLIMIT_CORE, &rl)
		}
	}
	if cmd.settings.Daemonize && os.Getenv(daemonEnv) == "" {
		return daemonize(stderr)
	}
	return serve(cmd, stderr)
}

// verbosityLevel maps memcached's -v count to a zap level: without -v the
// server logs its start, stop and problems (info); -v adds nothing more in
// slabcached; -vv and -vvv log connection events (debug).
func verbosityLevel(v int) zapcore.Level {
	if v >= 2 {
		return zap.DebugLevel
	}
	return zap.InfoLevel
}

// procsFor returns the GOMAXPROCS for threads event loops on a machine
// (or CPU set) of cpus CPUs: one per loop and one for the background work
// (maintainer, crawler, gossip, warm-up, replication), at most cpus. Each
// further P only adds idle threads that the scheduler wakes to look for
// work: with two loops, 8 Ps cost 6% more CPU per request and 45% more
// context switches than 2 (docs/benchmarks.md, "Multi-core"). ok is false
// when the GOMAXPROCS environment variable (env) decides.
func procsFor(threads, cpus int, env string) (n int, ok bool) {
	if env != "" || threads <= 0 {
		return 0, false
	}
	return max(1, min(cpus, threads+1)), true
}

// serve runs the server in this process.
func serve(cmd *command, stderr io.Writer) int {
	set := cmd.settings
	level := zap.NewAtomicLevelAt(verbosityLevel(set.Verbosity))
	log := newLogger(stderr, level)
	defer log.Sync()
	for _, n := range cmd.notices {
		log.Warn(n)
	}
	if stop := startCPUProfile(os.Getenv(cpuProfileEnv), log); stop != nil {
		defer stop()
	}
	if stop := startTrace(os.Getenv(traceEnv), log); stop != nil {
		defer stop()
	}
	if set.LockMemory {
		if err := lockMemory(); err != nil {
			log.Warn("-k: locking memory failed; continuing without", zap.Error(err))
		}
	}
	if err := dropPrivileges(set.User); err != nil {
		log.Error("-u: cannot assume the identity", zap.String("user", set.User), zap.Error(err))
		return exitFail
	}
	if n, ok := procsFor(set.Threads, runtime.NumCPU(), os.Getenv("GOMAXPROCS")); ok {
		runtime.GOMAXPROCS(n)
	}
	srv, err := server.New(set, server.Options{Logger: log, LogLevel: &level})
	if err != nil {
		log.Error("cannot start", zap.Error(err))
		return exitFail
	}
	// Signals are caught from here on: a SIGTERM that comes while the
	// server finishes starting (or right after -d returned) still stops
	// it cleanly, removing the pid file and the Unix socket, instead of
	// killing it with the default action.
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1)
	signal.Ignore(syscall.SIGPIPE)
	// A server on a Unix socket (-s) has no network address to announce:
	// no discovery, as memcached (`config get cluster` answers ERROR).
	var node *cluster.Node
	member := set.SocketPath == "" && cmd.cluster.Membership.Enabled
	if member {
		// A member joins before it listens: the others list it to
		// their clients from its join on, and its first answer must
		// already follow the ring, with the warm-up on (a node
		// restarted warm holds values older than those written on the
		// others while it was down; the warm-up fetches them from
		// there instead of serving its own).
		if node, err = startMember(cmd, srv, log); err != nil {
			log.Error("cannot start clustering", zap.Error(err))
			shutdown(srv, log)
			return exitFail
		}
	}
	if err := srv.Start(); err != nil {
		log.Error("cannot listen", zap.Error(err))
		if node != nil {
			node.Leave() // it joined: the others drop it at once
		}
		return exitFail
	}
	if member {
		// Warm-up starts with each ring change, not at the next tick:
		// a write in between must be known to it.
		node.OnRingChange(srv.RingChanged)
		srv.RingChanged()
	} else if set.SocketPath == "" {
		node, err = startCluster(cmd, srv.Addr(), log)
		if err != nil {
			log.Error("cannot start clustering", zap.Error(err))
			shutdown(srv, log)
			return exitFail
		}
		srv.SetDiscovery(node)
	}
	if stop := startMetrics(cmd.metricsListen, srv, log); stop != nil {
		defer stop()
	}
	if set.PidFile != "" {
		if err := os.WriteFile(set.PidFile, fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644); err != nil {
			log.Error("cannot write the pid file", zap.String("path", set.PidFile), zap.Error(err))
		} else {
			defer os.Remove(set.PidFile)
		}
	}
	m := cmd.cluster.Membership
	log.Info("slabcached started", zap.String("version", server.Version), zap.Any("settings", set),
		zap.String("metrics_listen", cmd.metricsListen), zap.Int("gomaxprocs", runtime.GOMAXPROCS(0)),
		zap.Bool("cluster", m.Enabled), zap.String("cluster_name", m.NodeName),
		zap.Strings("cluster_join", m.Join), zap.String("cluster_advertise", m.MemcachedAddr))
	daemonReady()

wait:
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				// As memcached: SIGHUP reloads the -Y auth file.
				if err := srv.LoadAuthFile(); err != nil {
					log.Warn("reloading the auth file", zap.Error(err))
				}
				continue
			}
			if s == syscall.SIGUSR1 {
				// As memcached: a graceful stop, which keeps the items
				// of a memory file (-e) for the next start.
				srv.StopGracefully()
			}
			log.Info("signal received; shutting down", zap.String("signal", s.String()))
			break wait
		case <-srv.Done():
			log.Info("shut down by the shutdown command")
			break wait
		}
	}
	signal.Stop(sig)
	if node != nil {
		srv.Leaving()
		if err := node.Leave(); err != nil {
			log.Warn("leaving the cluster", zap.Error(err))
		}
		if m.Enabled {
			// Serve on while the nodes that take over this node's keys
			// fill them from it (docs/cluster.md, warm-up).
			srv.Drain(time.Duration(set.DrainSecs) * time.Second)
		}
	}
	shutdown(srv, log)
	srv.PrintExit()
	log.Info("slabcached stopped")
	return exitOK
}

func shutdown(srv *server.Server, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("shutdown", zap.Error(err))
	}
}
