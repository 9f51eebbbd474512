package main

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/slabcache/slabcache/proto"
	"github.com/slabcache/slabcache/server"
)

// optionKind tells a command-line option from an -o sub-option.
type optionKind int

const (
	flag      optionKind = iota // -p 11211, --port=11211
	suboption                   // -o hashpower=20
)

// argKind says whether an option takes an argument (a sub-option: a value
// after '=').
type argKind int

const (
	noArg       argKind = iota
	requiredArg         // -p 11211, -p11211, --port 11211, --port=11211; -o hashpower=20
	optionalArg         // --verbose[=N]; -o slab_automove[=N]
)

// option is one entry of the option table.
type option struct {
	kind  optionKind
	short byte   // a flag's short form; 0 when there is none
	long  string // a flag's long form ("" when there is none), or a sub-option's name
	arg   argKind
	// missing is memcached's message for a sub-option given without its
	// value, when it is not "Missing <name> argument".
	missing string
	// apply records the option. val is the argument ("" when there is
	// none); hasVal tells an empty argument from an absent one. A value that
	// does not parse is reported by returning a badValue. nil: there is
	// nothing to record.
	apply func(p *parser, val string, hasVal bool) error
	// noEffect is the notice given when the option is used: memcached acts
	// on it, slabcached accepts it and does not.
	noEffect string
	// refused says why slabcached refuses the option ("is not supported...").
	refused string
}

// options is the option table: memcached's command-line options and -o
// sub-options in the order of memcached's usage text, then slabcached's own
// long options (cluster.go, metrics.go).
var options = slices.Concat(memcachedOptions, clusterOptions, metricsOptions)

const (
	noExtstore = "has no effect in slabcached: there is no extstore (stats settings reports extstore's settings as memcached does without ext_path)"
	noProxy    = "is not supported: slabcached has no built-in proxy"
)

// memcachedOptions are memcached 1.6.45's options.
var memcachedOptions = []option{
	{short: 'p', long: "port", arg: requiredArg, apply: func(p *parser, v string, has bool) error {
		p.portSet = true
		return setInt(func(s *server.Settings) *int { return &s.Port })(p, v, has)
	}},
	{short: 'U', long: "udp-port", arg: requiredArg, apply: func(p *parser, v string, has bool) error {
		p.udpSet = true
		return setInt(func(s *server.Settings) *int { return &s.UDPPort })(p, v, has)
	}},
	{short: 's', long: "unix-socket", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		if v == "" {
			return errors.New("-s: the unix socket path is empty")
		}
		p.cmd.settings.SocketPath = v
		return nil
	}},
	{short: 'a', long: "unix-mask", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		m, err := strconv.ParseUint(v, 8, 32)
		if err != nil {
			return badValue("is not an octal mask such as 700")
		}
		p.cmd.settings.SocketMask = uint32(m)
		return nil
	}},
	{short: 'A', long: "enable-shutdown", apply: set(func(s *server.Settings) { s.ShutdownCommand = true })},
	{short: 'l', long: "listen", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		s := &p.cmd.settings
		switch {
		case v == "":
			return errors.New("-l: the listen address is empty")
		case !p.listenSet:
			s.Listen, p.listenSet = v, true
		case strings.Contains(s.Listen, v):
			// memcached skips an -l already contained in the list (strstr)
		default:
			s.Listen += "," + v
		}
		return nil
	}},
	{short: 'd', long: "daemon", apply: set(func(s *server.Settings) { s.Daemonize = true })},
	{short: 'r', long: "enable-coredumps", apply: func(p *parser, _ string, _ bool) error {
		p.cmd.coredumps = true
		return nil
	}},
	{short: 'u', long: "user", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		switch {
		case !p.isRoot:
			p.notice("-u " + v + " ignored: slabcached is not running as root")
		case v == "":
			return errors.New("-u: the user name is empty")
		default:
			p.cmd.settings.User = v
		}
		return nil
	}},
	{short: 'm', long: "memory-limit", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > math.MaxInt64>>20 {
			return badValue("is not a whole number of megabytes")
		}
		p.cmd.settings.MaxBytes = n << 20
		return nil
	}},
	{short: 'M', long: "disable-evictions", apply: set(func(s *server.Settings) { s.EvictToFree = false })},
	{short: 'c', long: "conn-limit", arg: requiredArg, apply: setInt(func(s *server.Settings) *int { return &s.MaxConns })},
	{short: 'k', long: "lock-memory", apply: set(func(s *server.Settings) { s.LockMemory = true })},
	{short: 'v', long: "verbose", arg: optionalArg, apply: func(p *parser, v string, hasVal bool) error {
		if !hasVal {
			p.cmd.settings.Verbosity++
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("--verbose: %q is not a verbosity level (0 to 3)", v)
		}
		p.cmd.settings.Verbosity = n
		return nil
	}},
	{short: 'h', long: "help", apply: func(p *parser, _ string, _ bool) error { p.cmd.help = true; return nil }},
	{short: 'i', long: "license", apply: func(p *parser, _ string, _ bool) error {
		p.cmd.license = true
		return nil
	}},
	{short: 'V', long: "version", apply: func(p *parser, _ string, _ bool) error { p.cmd.version = true; return nil }},
	{short: 'P', long: "pidfile", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		if v == "" {
			return errors.New("-P: the pid file name is empty")
		}
		p.cmd.settings.PidFile = v
		return nil
	}},
	{short: 'f', long: "slab-growth-factor", arg: requiredArg, apply: setFloat(func(s *server.Settings) *float64 { return &s.Factor })},
	{short: 'n', long: "slab-min-size", arg: requiredArg, apply: setInt(func(s *server.Settings) *int { return &s.ChunkSize })},
	{short: 'L', long: "enable-largepages", apply: set(func(s *server.Settings) { s.LargePages = true })},
	{short: 'D', arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		if v == "" {
			return server.UsageError("No delimiter specified")
		}
		p.cmd.settings.PrefixDelimiter, p.cmd.settings.DetailEnabled = v[0], true
		return nil
	}},
	{short: 't', long: "threads", arg: requiredArg, apply: setInt(func(s *server.Settings) *int { return &s.Threads })},
	{short: 'R', long: "max-reqs-per-event", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		p.cmd.settings.YieldRequests = true
		return setInt(func(s *server.Settings) *int { return &s.ReqsPerEvent })(p, v, false)
	}},
	{short: 'C', long: "disable-cas", apply: set(func(s *server.Settings) { s.CASEnabled = false })},
	{short: 'b', long: "listen-backlog", arg: requiredArg, apply: setInt(func(s *server.Settings) *int { return &s.Backlog })},
	{short: 'B', long: "protocol", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		p.protoSet = true
		switch v {
		case "auto":
			p.cmd.settings.Protocol = server.ProtocolAuto
		case "ascii":
			p.cmd.settings.Protocol = server.ProtocolASCII
		case "binary":
			p.cmd.settings.Protocol = server.ProtocolBinary
		default:
			return server.UsageError("Invalid value for binding protocol: " + v + "\n -- should be one of auto, binary, or ascii")
		}
		return nil
	}},
	{short: 'I', long: "max-item-size", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		n, err := size(v)
		if err != nil {
			return err
		}
		p.cmd.settings.ItemSizeMax = n
		return nil
	}},
	{short: 'S', long: "enable-sasl", apply: set(func(s *server.Settings) { s.SASL = true })},
	{short: 'F', long: "disable-flush-all", apply: set(func(s *server.Settings) { s.FlushEnabled = false })},
	{short: 'X', long: "disable-dumping", apply: set(func(s *server.Settings) { s.DumpEnabled = false })},
	{short: 'W', long: "disable-watch", apply: set(func(s *server.Settings) { s.WatchEnabled = false })},
	{short: 'Y', long: "auth-file", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		p.cmd.settings.AuthFile = v
		return nil
	}},
	{short: 'e', long: "memory-file", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		p.cmd.settings.MemoryFile = v
		return nil
	}},
	{short: 'Z', long: "enable-ssl", apply: set(func(s *server.Settings) { s.TLS = true })},
	{short: 'o', long: "extended", arg: requiredArg, apply: func(p *parser, v string, _ bool) error { return p.extended(v) }},
	// The -o sub-options.
	{kind: suboption, long: "maxconns_fast", apply: set(func(s *server.Settings) { s.MaxConnsFast = true })},
	{kind: suboption, long: "no_maxconns_fast", apply: set(func(s *server.Settings) { s.MaxConnsFast = false })},
	{kind: suboption, long: "hashpower", arg: requiredArg, missing: "Missing numeric argument for hashpower", apply: func(p *parser, v string, _ bool) error {
		n, err := atoi(v)
		switch {
		case err != nil:
			return err
		case n == 0: // the default, automatic sizing; memcached refuses it
			return server.UsageError("Initial hashtable multiplier of 0 is too low")
		}
		p.cmd.settings.HashPower = n
		return nil
	}},
	{kind: suboption, long: "tail_repair_time", arg: requiredArg, missing: "Missing numeric argument for tail_repair_time", apply: func(p *parser, v string, _ bool) error {
		n, err := atoi(v)
		switch {
		case err != nil:
			return err
		case n < 10:
			return server.UsageError("Cannot set tail_repair_time to less than 10 seconds")
		}
		p.cmd.settings.TailRepairTime = n
		return nil
	}, noEffect: "-o tail_repair_time has no effect in slabcached: items are never pinned at the LRU tail by a leaked reference"},
	{kind: suboption, long: "hash_algorithm", arg: requiredArg, apply: func(_ *parser, v string, _ bool) error {
		if v != "jenkins" && v != "murmur3" && v != "xxh3" {
			return server.UsageError("Unknown hash_algorithm option (jenkins, murmur3, xxh3)")
		}
		return nil
	}, noEffect: "-o hash_algorithm has no effect in slabcached: its index always hashes keys with " + server.HashAlgorithm},
	{kind: suboption, long: "lru_crawler", apply: set(func(s *server.Settings) { s.LRUCrawler = true })},
	{kind: suboption, long: "no_lru_crawler", apply: set(func(s *server.Settings) { s.LRUCrawler = false })},
	{kind: suboption, long: "lru_crawler_sleep", arg: requiredArg, missing: "Missing lru_crawler_sleep value",
		apply: setInt(func(s *server.Settings) *int { return &s.LRUCrawlerSleep })},
	{kind: suboption, long: "lru_crawler_tocrawl", arg: requiredArg, missing: "Missing lru_crawler_tocrawl value", apply: func(p *parser, v string, _ bool) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return server.UsageError("lru_crawler_tocrawl takes a numeric 32bit value")
		}
		p.cmd.settings.LRUCrawlerToCrawl = uint32(n)
		return nil
	}},
	{kind: suboption, long: "read_buf_mem_limit", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return server.UsageError("could not parse argument to read_buf_mem_limit")
		}
		p.cmd.settings.ReadBufMemLimit = int64(n) << 20
		return nil
	}},
	{kind: suboption, long: "resp_obj_mem_limit", arg: optionalArg, noEffect: "DEPRECATED: resp_obj_mem_limit no longer used. See read_buf_mem_limit,"},
	{kind: suboption, long: "lru_maintainer", apply: set(func(s *server.Settings) { s.LRUMaintainer, s.LRUSegmented = true, true })},
	{kind: suboption, long: "no_lru_maintainer", apply: set(func(s *server.Settings) { s.LRUMaintainer, s.LRUSegmented = false, false })},
	{kind: suboption, long: "hot_lru_pct", arg: requiredArg, apply: setInt(func(s *server.Settings) *int { return &s.HotLRUPct })},
	{kind: suboption, long: "warm_lru_pct", arg: requiredArg, apply: setInt(func(s *server.Settings) *int { return &s.WarmLRUPct })},
	{kind: suboption, long: "hot_max_factor", arg: requiredArg, apply: setFloat(func(s *server.Settings) *float64 { return &s.HotMaxFactor })},
	{kind: suboption, long: "warm_max_factor", arg: requiredArg, apply: setFloat(func(s *server.Settings) *float64 { return &s.WarmMaxFactor })},
	{kind: suboption, long: "temporary_ttl", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		n, err := atoi(v)
		if err != nil {
			return err
		}
		p.cmd.settings.TempLRU, p.cmd.settings.TemporaryTTL = true, n
		return nil
	}},
	// slabcached's own.
	{kind: suboption, long: "lru_stripes", arg: requiredArg, apply: setInt(func(s *server.Settings) *int { return &s.LRUStripes })},
	// slabcached's hot keys (docs/hotkeys.md).
	{kind: suboption, long: "hotkeys", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		switch v {
		case "on":
			p.cmd.settings.HotKeys = true
		case "off":
			p.cmd.settings.HotKeys = false
		default:
			return server.UsageError("hotkeys must be on or off")
		}
		return nil
	}},
	{kind: suboption, long: "hotkey_sample_rate", arg: requiredArg, apply: setInt(func(s *server.Settings) *int { return &s.HotKeySampleRate })},
	{kind: suboption, long: "hotkey_top_k", arg: requiredArg, apply: setInt(func(s *server.Settings) *int { return &s.HotKeyTopK })},
	{kind: suboption, long: "hotkey_window", arg: requiredArg, apply: setInt(func(s *server.Settings) *int { return &s.HotKeyWindow })},
	{kind: suboption, long: "hotkey_threshold", arg: requiredArg, apply: setFloat(func(s *server.Settings) *float64 { return &s.HotKeyThreshold })},
	{kind: suboption, long: "hotkey_min_rate", arg: requiredArg, apply: setFloat(func(s *server.Settings) *float64 { return &s.HotKeyMinRate })},
	{kind: suboption, long: "hotkey_replicas", arg: requiredArg, apply: func(p *parser, v string, neg bool) error {
		if v == "all" {
			p.cmd.settings.HotKeyReplicas = server.HotKeyReplicasAll
			return nil
		}
		return setInt(func(s *server.Settings) *int { return &s.HotKeyReplicas })(p, v, neg)
	}},
	{kind: suboption, long: "warmup_secs", arg: requiredArg, apply: setInt(func(s *server.Settings) *int { return &s.WarmupSecs })},
	{kind: suboption, long: "warmup_rate", arg: requiredArg, apply: setInt(func(s *server.Settings) *int { return &s.WarmupRate })},
	{kind: suboption, long: "drain_secs", arg: requiredArg, apply: setInt(func(s *server.Settings) *int { return &s.DrainSecs })},
	{kind: suboption, long: "eviction", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		if v != "lru" && v != "lfu" {
			return server.UsageError("eviction must be lru or lfu")
		}
		p.cmd.settings.Eviction = v
		return nil
	}},
	{kind: suboption, long: "invalidation_broadcast", apply: set(func(s *server.Settings) { s.InvalidationBroadcast = true })},
	{kind: suboption, long: "idle_timeout", arg: requiredArg, missing: "Missing numeric argument for idle_timeout",
		apply: setInt(func(s *server.Settings) *int { return &s.IdleTimeout })},
	{kind: suboption, long: "slab_chunk_max", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		// In KiB since memcached 1.6.x: 1 to 1024.
		n, err := strconv.ParseInt(v, 10, 32)
		switch {
		case err != nil:
			return server.UsageError("could not parse argument to slab_chunk_max")
		case n <= 0:
			return server.UsageError("slab_chunk_max must be >= 0")
		case n > 1<<10:
			return server.UsageError("slab_chunk_max must be specified in kilobytes.")
		}
		p.cmd.settings.SlabChunkMax, p.chunkChanged = int(n)<<10, true
		return nil
	}},
	{kind: suboption, long: "no_chunked_items", apply: set(func(s *server.Settings) { s.SlabChunkMax = server.SlabPageSize })},
	{kind: suboption, long: "watcher_logbuf_size", arg: requiredArg, apply: kib("watcher_logbuf_size", func(s *server.Settings) *int { return &s.WatcherLogbufSize })},
	{kind: suboption, long: "worker_logbuf_size", arg: requiredArg, apply: kib("worker_logbuf_size", func(s *server.Settings) *int { return &s.WorkerLogbufSize }),
		noEffect: "-o worker_logbuf_size has no effect in slabcached: watch lines are gathered per connection"},
	{kind: suboption, long: "track_sizes", apply: set(func(s *server.Settings) { s.TrackSizes = true })},
	{kind: suboption, long: "no_hashexpand", apply: set(func(s *server.Settings) { s.HashExpand = false })},
	{kind: suboption, long: "no_prefetch", apply: set(func(s *server.Settings) { s.Prefetch = false })},
	{kind: suboption, long: "modern"}, // memcached: "currently: nothing"
	{kind: suboption, long: "no_modern", apply: func(p *parser, _ string, _ bool) error {
		// memcached 1.4's defaults (and hash_algorithm=jenkins)
		if !p.chunkChanged {
			p.cmd.settings.SlabChunkMax = server.SlabPageSize
		}
		return p.extended("no_slab_reassign,no_slab_automove,no_maxconns_fast,no_lru_crawler,no_lru_maintainer")
	}, noEffect: "-o no_modern: hash_algorithm=jenkins has no effect in slabcached"},
	{kind: suboption, long: "sock_cookie_id", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		// memcached ignores a value safe_strtoul refuses: 0, no mark.
		n, _ := proto.ParseUint32([]byte(v))
		p.cmd.settings.SockCookieID = n
		return nil
	}},
	// extstore's options (memcached built with it, as 1.6.45's packages
	// are): its tunables are kept for stats settings and the extstore
	// command; nothing is stored on flash.
	{kind: suboption, long: "ext_path", arg: requiredArg, missing: "missing argument to ext_path, ie: ext_path=/d/file:5G",
		noEffect: "-o ext_path " + noExtstore},
	extOption("ext_page_size", nil, 1),
	extOption("ext_wbuf_size", func(e *server.ExtstoreSettings) *uint32 { return &e.WbufSize }, 1<<20),
	extOption("ext_threads", nil, 1),
	extOption("ext_io_depth", nil, 1),
	extOption("ext_item_size", func(e *server.ExtstoreSettings) *uint32 { return &e.ItemSize }, 1),
	extOption("ext_item_age", func(e *server.ExtstoreSettings) *uint32 { return &e.ItemAge }, 1),
	extOption("ext_low_ttl", func(e *server.ExtstoreSettings) *uint32 { return &e.LowTTL }, 1),
	{kind: suboption, long: "ext_drop_unread", arg: optionalArg, apply: set(func(s *server.Settings) { s.Extstore.DropUnread = true }),
		noEffect: "-o ext_drop_unread " + noExtstore},
	extOption("ext_recache_rate", func(e *server.ExtstoreSettings) *uint32 { return &e.RecacheRate }, 1),
	extOption("ext_compact_under", func(e *server.ExtstoreSettings) *uint32 { return &e.CompactUnder }, 1),
	extOption("ext_drop_under", func(e *server.ExtstoreSettings) *uint32 { return &e.DropUnder }, 1),
	{kind: suboption, long: "ext_max_frag", arg: requiredArg, apply: cDouble("ext_max_frag", func(s *server.Settings) *float64 { return &s.Extstore.MaxFrag }),
		noEffect: "-o ext_max_frag " + noExtstore},
	extOption("ext_max_sleep", func(e *server.ExtstoreSettings) *uint32 { return &e.MaxSleep }, 1),
	{kind: suboption, long: "slab_automove_freeratio", arg: requiredArg, apply: cDouble("slab_automove_freeratio", func(s *server.Settings) *float64 { return &s.SlabAutomoveFreeRatio }),
		noEffect: "-o slab_automove_freeratio has no effect in slabcached (it tunes memcached's extstore automover)"},
	{kind: suboption, long: "ssl_chain_cert", arg: requiredArg, apply: setString(func(s *server.Settings) *string { return &s.SSLChainCert })},
	{kind: suboption, long: "ssl_key", arg: requiredArg, apply: setString(func(s *server.Settings) *string { return &s.SSLKey })},
	{kind: suboption, long: "ssl_keyformat", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return server.UsageError("could not parse argument to ssl_keyformat")
		}
		p.cmd.settings.SSLKeyFormat = n
		return nil
	}},
	{kind: suboption, long: "ssl_verify_mode", arg: requiredArg, apply: sslChoice("ssl_verify_mode", func(s *server.Settings) *int { return &s.SSLVerifyMode })},
	{kind: suboption, long: "ssl_ciphers", arg: requiredArg, apply: setString(func(s *server.Settings) *string { return &s.SSLCiphers })},
	{kind: suboption, long: "ssl_ca_cert", arg: requiredArg, apply: setString(func(s *server.Settings) *string { return &s.SSLCACert })},
	{kind: suboption, long: "ssl_wbuf_size", arg: requiredArg, apply: kib("ssl_wbuf_size", func(s *server.Settings) *int { return &s.SSLWbufSize })},
	{kind: suboption, long: "ssl_session_cache", apply: set(func(s *server.Settings) { s.SSLSessionCache = true })},
	{kind: suboption, long: "ssl_kernel_tls", apply: set(func(s *server.Settings) { s.SSLKernelTLS = true }),
		noEffect: "-o ssl_kernel_tls has no effect in slabcached: Go's TLS encrypts in user space (OpenSSL too falls back to it when the kernel cannot)"},
	{kind: suboption, long: "ssl_min_version", arg: requiredArg, apply: sslChoice("ssl_min_version", func(s *server.Settings) *int { return &s.SSLMinVersion })},
	// memcached accepts these sub-options without listing them.
	{kind: suboption, long: "slab_reassign", apply: set(func(s *server.Settings) { s.SlabReassign = true })},
	{kind: suboption, long: "no_slab_reassign", apply: set(func(s *server.Settings) { s.SlabReassign = false })},
	{kind: suboption, long: "slab_automove", arg: optionalArg, apply: func(p *parser, v string, hasVal bool) error {
		if !hasVal {
			p.cmd.settings.SlabAutomove = 1
			return nil
		}
		n, err := atoi(v)
		if err != nil {
			return err
		}
		p.cmd.settings.SlabAutomove = n
		return nil
	}},
	{kind: suboption, long: "no_slab_automove", apply: set(func(s *server.Settings) { s.SlabAutomove = 0 })},
	{kind: suboption, long: "slab_automove_ratio", arg: requiredArg, apply: setFloat(func(s *server.Settings) *float64 { return &s.SlabAutomoveRatio })},
	{kind: suboption, long: "slab_automove_window", arg: requiredArg, apply: setInt(func(s *server.Settings) *int { return &s.SlabAutomoveWindow })},
	{kind: suboption, long: "slab_sizes", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		if v == "" {
			// memcached exits (64) without a word
			return server.UsageError("slab_sizes needs a list of sizes such as 96-120-200")
		}
		p.cmd.settings.SlabSizes = v // checked once every option is read, as memcached does
		return nil
	}},
	{kind: suboption, long: "inline_ascii_resp", arg: optionalArg, noEffect: "-o inline_ascii_resp has no effect (as in memcached 1.6)"},
	{kind: suboption, long: "no_inline_ascii_resp", arg: optionalArg, noEffect: "-o no_inline_ascii_resp has no effect (as in memcached 1.6)"},
	// memcached reads these whether or not it was built with its
	// seccomp sandbox (the 1.6.45 build it is compared with was not, and
	// runs unconfined with either).
	{kind: suboption, long: "drop_privileges", noEffect: "-o drop_privileges has no effect in slabcached: there is no system-call sandbox"},
	{kind: suboption, long: "no_drop_privileges"},
	{kind: suboption, long: "proxy_config", refused: noProxy},
	{kind: suboption, long: "proxy_arg", refused: noProxy},
	// memcached lists -N after the sub-options.
	{short: 'N', long: "napi-ids", arg: requiredArg, apply: setInt(func(s *server.Settings) *int { return &s.NapiIDs }),
		noEffect: "-N does not place connections in slabcached: gnet assigns them to event loops; NAPI ids are only counted (round_robin_fallback, unexpected_napi_ids)"},
}

// badValue is what an apply function returns for an argument that does not
// parse; the parser names the option and the argument:
// -p: "abc" is not a whole number.
type badValue string

func (e badValue) Error() string { return string(e) }

// atoi parses a decimal integer strictly (memcached uses atoi, which reads
// "abc" as 0 and "10g" as 10; slabcached refuses them).
func atoi(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badValue("is not a whole number")
	}
	return n, nil
}

func atof(v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, badValue("is not a number")
	}
	return f, nil
}

// size parses -I: bytes, or a number with a k, m or g suffix (either case).
// memcached 1.6.45 knows k and m only.
func size(v string) (int, error) {
	mult, num := int64(1), v
	if n := len(v); n > 0 {
		switch v[n-1] {
		case 'k', 'K':
			mult, num = 1<<10, v[:n-1]
		case 'm', 'M':
			mult, num = 1<<20, v[:n-1]
		case 'g', 'G':
			mult, num = 1<<30, v[:n-1]
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, badValue("is not a size (bytes, or a number with k, m or g)")
	}
	if n > math.MaxInt32/mult+1 {
		return 0, badValue("is too large")
	}
	return int(n * mult), nil
}

// set makes the apply function of an option without an argument.
func set(f func(s *server.Settings)) func(*parser, string, bool) error {
	return func(p *parser, _ string, _ bool) error { f(&p.cmd.settings); return nil }
}

// setInt makes the apply function of an option that stores a whole number.
func setInt(field func(s *server.Settings) *int) func(*parser, string, bool) error {
	return func(p *parser, v string, _ bool) error {
		n, err := atoi(v)
		if err == nil {
			*field(&p.cmd.settings) = n
		}
		return err
	}
}

// sslChoice makes the apply function of ssl_verify_mode and
// ssl_min_version: 0 to 3, with memcached's messages.
func sslChoice(name string, field func(s *server.Settings) *int) func(*parser, string, bool) error {
	return func(p *parser, v string, _ bool) error {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			return server.UsageError("could not parse argument to " + name)
		case n < 0 || n > 3:
			return server.UsageError("Invalid " + name + ". Use help to see valid options.")
		}
		*field(&p.cmd.settings) = n
		return nil
	}
}

// setString makes the apply function of an option that stores its argument.
func setString(field func(s *server.Settings) *string) func(*parser, string, bool) error {
	return func(p *parser, v string, _ bool) error {
		*field(&p.cmd.settings) = v
		return nil
	}
}

func setFloat(field func(s *server.Settings) *float64) func(*parser, string, bool) error {
	return func(p *parser, v string, _ bool) error {
		f, err := atof(v)
		if err == nil {
			*field(&p.cmd.settings) = f
		}
		return err
	}
}

// extU32 makes the apply function of an extstore sub-option holding a 32-bit
// number (memcached's safe_strtoul), multiplied by mult as memcached does
// (ext_wbuf_size is given in MiB; the product wraps at 32 bits there too).
// field nil: the value is checked and not kept.
func extU32(name string, field func(e *server.ExtstoreSettings) *uint32, mult uint32) func(*parser, string, bool) error {
	return func(p *parser, v string, _ bool) error {
		n, ok := proto.ParseUint32([]byte(v))
		if !ok {
			return server.UsageError("could not parse argument to " + name)
		}
		if field != nil {
			*field(&p.cmd.settings.Extstore) = n * mult
		}
		return nil
	}
}

// extOption is the entry of an extstore sub-option holding a 32-bit number
// (extU32), accepted with the extstore notice.
func extOption(name string, field func(e *server.ExtstoreSettings) *uint32, mult uint32) option {
	return option{kind: suboption, long: name, arg: requiredArg, apply: extU32(name, field, mult), noEffect: "-o " + name + " " + noExtstore}
}

// cDouble makes the apply function of a sub-option memcached reads with
// safe_strtod.
func cDouble(name string, field func(s *server.Settings) *float64) func(*parser, string, bool) error {
	return func(p *parser, v string, _ bool) error {
		f, ok := proto.ParseDouble([]byte(v))
		if !ok {
			return server.UsageError("could not parse argument to " + name)
		}
		*field(&p.cmd.settings) = f
		return nil
	}
}

// kib makes the apply function of a sub-option given in KiB (the watcher
// and worker log buffers).
func kib(name string, field func(s *server.Settings) *int) func(*parser, string, bool) error {
	return func(p *parser, v string, _ bool) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n > math.MaxInt32>>10 {
			return server.UsageError("could not parse argument to " + name)
		}
		*field(&p.cmd.settings) = int(n) << 10
		return nil
	}
}
