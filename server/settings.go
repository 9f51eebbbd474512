package server

import (
	"cmp"
	"fmt"
	"math"
	"net"
	"runtime"
	"strconv"
	"strings"

	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
	"github.com/slabcache/slabcache/slab"
)

// Settings, the server's configuration with memcached's settings and names;
// StoreConfig maps them onto the store's.

// SlabPageSize is memcached's slab_page_size: the size of one slab page, 1 MiB.
// It is fixed, as in memcached (which has no option for it).
const SlabPageSize = slab.PageSize

// Limits memcached enforces on item_size_max (ITEM_SIZE_MAX_LOWER_LIMIT and
// ITEM_SIZE_MAX_UPPER_LIMIT).
const (
	ItemSizeMaxLowerLimit = 1024
	ItemSizeMaxUpperLimit = 1024 * 1024 * 1024
)

// Binding protocols (-B). slabcached speaks the text and meta protocols only;
// "auto" behaves as "ascii".
const (
	ProtocolAuto   = "auto-negotiate"
	ProtocolASCII  = "ascii"
	ProtocolBinary = "binary"
)

// HashAlgorithm is what "stats settings" reports as hash_algorithm: the key
// hash of slabcached's index (memcached's -o hash_algorithm has no effect).
const HashAlgorithm = "xxhash64"

// Settings is the configuration of a slabcached server. Field comments give
// memcached's name for the setting (as in memcached's "struct settings" and
// "stats settings"), the flag that sets it, the unit, and the default.
// Build one with DefaultSettings, change fields, then call Validate.
type Settings struct {
	// Network.
	Port       int    // port (-p): TCP port; default 11211; 0 picks a free port
	UDPPort    int    // udpport (-U): UDP port on every -l address; 0 (the default) for none
	SocketPath string // socketpath (-s), stats "domain_socket": Unix socket path; "" = none; when set, no TCP listener
	SocketMask uint32 // access (-a), stats "umask": permission bits of the Unix socket; default 0700
	// Listen is inter (-l): a list of interfaces separated by ',' or ';',
	// each "host", "host:port", "[ipv6]:port" or "*"; default "127.0.0.1"
	// (memcached's default is every interface). See ListenAddrs.
	Listen       string
	MaxConns     int    // maxconns (-c): simultaneous connections; default 1024
	MaxConnsFast bool   // maxconns_fast (-o maxconns_fast): answer "ERROR Too many open connections" and close at once; default true
	Backlog      int    // backlog (-b), stats "tcp_backlog": listen queue length; default 1024
	SockCookieID uint32 // sock_cookie_id (-o sock_cookie_id): the SO_MARK of the TCP and UDP sockets, for firewall rules; 0 (default) = none
	// Threads is num_threads (-t): event loops; default the number of CPUs
	// (memcached's default is 4).
	Threads      int
	ReqsPerEvent int // reqs_per_event (-R): requests handled per connection per event before yielding; default 20
	// YieldRequests: -R was given, and a connection yields to the others
	// of its event loop after ReqsPerEvent requests, as memcached does.
	// Without it an event serves every complete request it has read (the
	// loop's other connections still get their turn at the next read, and
	// a connection with a large backlog of replies is paused).
	YieldRequests bool
	Protocol      string // binding_protocol (-B): ProtocolAuto (default), ProtocolASCII or ProtocolBinary
	// SASL (-S): binary connections must authenticate (SASL PLAIN) with a
	// user and password listed in the file SASLPasswords names (memcached's
	// MEMCACHED_SASL_PWDB: "user:password" lines, read at each attempt).
	SASL          bool
	SASLPasswords string
	// PortFile, when set, names a file written once the sockets are bound,
	// one line per socket: "TCP INET: <port>", "UDP INET6: <port>", ...
	// (memcached's MEMCACHED_PORT_FILENAME), for finding ports picked by
	// the system (-p -1, -U -1).
	PortFile string
	// AuthFile (-Y) turns ASCII authentication on: text connections
	// authenticate with a user and password of this file (lines
	// "user:password", at most 8) before anything else; reloaded on SIGHUP.
	AuthFile string
	// MemoryFile (-e) keeps item memory in this file (best on tmpfs, such
	// as /dev/shm) so that a graceful stop (SIGUSR1, shutdown graceful)
	// followed by a start with the same file and memory settings serves
	// the same items: memcached's warm restart.
	MemoryFile string
	// TLS (-Z): TCP listeners speak TLS, except those -l marks notls
	// (docs/tls.md). The SSL fields are memcached's ssl_* sub-options.
	TLS bool
	// SSLChainCert and SSLKey are the PEM certificate chain and private
	// key files (the key may be in the chain file); SSLKeyFormat is
	// memcached's key format: 1 PEM (default), 2 DER.
	SSLChainCert string
	SSLKey       string
	SSLKeyFormat int
	// SSLVerifyMode: 0 no client certificate (default), 1 request one and
	// verify it if sent, 2 require one, 3 require one (memcached's "once";
	// slabcached never renegotiates).
	SSLVerifyMode int
	// SSLCiphers restricts the TLS 1.0-1.2 cipher suites: a list separated
	// by ':' of OpenSSL or IANA names of suites Go implements.
	SSLCiphers string
	// SSLCACert is the PEM file of the CAs client certificates are
	// verified against (and, between nodes, the CAs of the members).
	SSLCACert string
	// SSLWbufSize is memcached's per-connection TLS output buffer (bytes),
	// reported by stats settings; slabcached encrypts each event's replies
	// in records of up to 16 KiB whatever it is.
	SSLWbufSize int
	// SSLSessionCache lets clients resume sessions (session tickets);
	// off, every connection makes a full handshake.
	SSLSessionCache bool
	// SSLKernelTLS is ssl_kernel_tls: accepted and reported, no effect (Go's
	// TLS has no kernel offload).
	SSLKernelTLS bool
	// SSLMinVersion: 0 TLS 1.0, 1 TLS 1.1, 2 TLS 1.2 (default), 3 TLS 1.3.
	SSLMinVersion int
	// Hot keys (docs/hotkeys.md): HotKeys turns detection on (default);
	// reads and writes are sampled one in HotKeySampleRate into
	// Space-Saving summaries of HotKeyTopK keys per event loop, merged
	// every HotKeyWindow seconds; a key is hot at HotKeyThreshold of the
	// node's reads while the node serves HotKeyMinRate reads a second.
	// With clustering, the owner of a hot key copies it to HotKeyReplicas-1
	// more nodes; HotKeyReplicasAll (-1, `hotkey_replicas=all`) means every
	// alive node, at most MaxHotKeyReplicas.
	HotKeys          bool
	HotKeySampleRate int
	HotKeyTopK       int
	HotKeyWindow     int
	HotKeyThreshold  float64
	HotKeyMinRate    float64
	HotKeyReplicas   int
	// WarmupSecs (-o warmup_secs): with clustering, for this long after a
	// ring change a read of a key that moved here and is not here yet is
	// filled from its previous owner (docs/cluster.md); 0 turns it off.
	WarmupSecs int
	// WarmupRate (-o warmup_rate, MB/s): with clustering, after a ring
	// change this node pushes the items it owned whose keys moved to
	// another node (HOT and WARM first) at most this fast; 0 turns it
	// off (the new owners then fill on demand only).
	WarmupRate int
	// DrainSecs (-o drain_secs): with clustering, on SIGTERM the node
	// leaves the cluster, then serves on for up to this long while the
	// nodes taking over its keys fill them from it (their warm-up); 0
	// stops at once.
	DrainSecs int
	// InvalidationBroadcast (-o invalidation_broadcast): with clustering
	// in regions, every client delete also deletes the key in the other
	// regions before its reply, as md with G does (docs/invalidation.md).
	InvalidationBroadcast bool
	// Eviction (-o eviction=lru|lfu) is how a victim is chosen when memory
	// is full: "lru" (default) takes the tail of COLD as memcached does;
	// "lfu" the least frequently read of the items at that tail (lru/lfu.go).
	Eviction    string
	IdleTimeout int // idle_timeout (-o idle_timeout): seconds before an idle client is closed; 0 (default) = never
	// ReadBufMemLimit is read_buf_mem_limit (-o read_buf_mem_limit, given
	// in megabytes): bytes all connections' read and response buffers may
	// use together; 0 (default) = unlimited. As in memcached it bounds the
	// replies one connection may have waiting in an event (respLimit).
	ReadBufMemLimit int64

	// Memory and items.
	MaxBytes     int64   // maxbytes (-m, given in megabytes): item memory in bytes; default 64 MiB
	ItemSizeMax  int     // item_size_max (-I): largest item in bytes, header included; default 1 MiB
	Factor       float64 // factor (-f), stats "growth_factor": chunk size growth factor between slab classes; default 1.25
	ChunkSize    int     // chunk_size (-n): minimum space for key, value and flags in the smallest class; default 48
	SlabChunkMax int     // slab_chunk_size_max (-o slab_chunk_max): largest chunk in bytes; larger items are chained; default SlabPageSize/2
	SlabSizes    string  // slab_sizes (-o slab_sizes): the class chunk sizes, dash-separated ("96-120-200"), instead of -f and -n; "" (default) = from -f and -n
	CASEnabled   bool    // use_cas (-C disables), stats "cas_enabled"; default true
	EvictToFree  bool    // evict_to_free (-M disables), stats "evictions" on/off; default true
	HashPower    int     // hashpower_init (-o hashpower): log2 of the initial index size; 0 (default) = automatic
	HashExpand   bool    // the index may grow (-o no_hashexpand disables); default true
	Prefetch     bool    // start loading the items of the requests and keys that come next (-o no_prefetch disables); default true
	LockMemory   bool    // -k: lock item memory into RAM (mlockall); default false
	LargePages   bool    // -L: back item memory with transparent huge pages where the OS allows; default false

	// Slab rebalancing.
	SlabReassign       bool    // slab_reassign (-o slab_reassign / no_slab_reassign): pages may move between classes; default true
	SlabAutomove       int     // slab_automove (-o slab_automove[=0|1|2]): 0 off, 1 background (default), 2 the same as 1 (as memcached 1.6.45)
	SlabAutomoveRatio  float64 // slab_automove_ratio (-o slab_automove_ratio): age ratio between the classes a page moves between; default 0.8
	SlabAutomoveWindow int     // slab_automove_window (-o slab_automove_window): seconds of history; default 10
	// SlabAutomoveFreeRatio is slab_automove_freeratio (-o
	// slab_automove_freeratio): free chunk ratio a class keeps before its
	// pages are given away; default 0.01.
	SlabAutomoveFreeRatio float64

	// LRU.
	LRUMaintainer     bool    // lru_maintainer_thread (-o lru_maintainer / no_lru_maintainer): background LRU mover; default true
	LRUSegmented      bool    // lru_segmented: HOT/WARM/COLD segments; follows LRUMaintainer; default true
	LRUCrawler        bool    // lru_crawler (-o lru_crawler / no_lru_crawler): background expiry crawler; default true
	LRUCrawlerSleep   int     // lru_crawler_sleep (-o lru_crawler_sleep): microseconds between items; default 100; at most 1000000
	LRUCrawlerToCrawl uint32  // lru_crawler_tocrawl (-o lru_crawler_tocrawl): items per class per run; 0 (default) = all
	HotLRUPct         int     // hot_lru_pct (-o hot_lru_pct): percent of a class for HOT; default 20
	WarmLRUPct        int     // warm_lru_pct (-o warm_lru_pct): percent of a class for WARM; default 40
	HotMaxFactor      float64 // hot_max_factor (-o hot_max_factor): HOT items idle longer than COLD's age × this move on; default 0.2
	WarmMaxFactor     float64 // warm_max_factor (-o warm_max_factor): the same for WARM; default 2.0
	TempLRU           bool    // temp_lru: set by -o temporary_ttl; default false
	TemporaryTTL      int     // temporary_ttl (-o temporary_ttl): items with a TTL at most this (seconds) go to TEMP; default 61
	// LRUStripes is lru_stripes (-o lru_stripes, slabcached's own): LRU
	// lists per class and segment, each with its own lock, so that event
	// loops storing items of one class do not queue on one lock. 1 (the
	// default) keeps memcached's exact eviction order, which its test
	// suite checks; 0 picks from Threads (EffectiveLRUStripes); otherwise
	// a power of two up to 16.
	LRUStripes int

	// Commands.
	ShutdownCommand bool // shutdown_command (-A): the "shutdown" command is allowed; default false
	FlushEnabled    bool // flush_enabled (-F disables): the "flush_all" command is allowed; default true
	DumpEnabled     bool // dump_enabled (-X disables): "stats cachedump" and "lru_crawler metadump" are allowed; default true
	WatchEnabled    bool // watch_enabled (-W disables): the "watch" command is allowed; default true
	DetailEnabled   bool // detail_enabled (-D, or "stats detail on"): per-prefix stats; default false
	PrefixDelimiter byte // prefix_delimiter (-D), stats "stat_key_prefix": key prefix separator for detail stats; default ':'
	TrackSizes      bool // track_sizes (-o track_sizes): keep the item size histogram for "stats sizes"; default false

	// Logging ("watch" buffers and verbosity).
	Verbosity         int // verbose (-v, -vv, -vvv): 0 to 3; default 0
	WatcherLogbufSize int // logger_watcher_buf_size (-o watcher_logbuf_size, given in KiB): bytes per watcher; default 256 KiB
	WorkerLogbufSize  int // logger_buf_size (-o worker_logbuf_size, given in KiB): bytes per worker; default 64 KiB

	// Process.
	PidFile   string // -P: file to write the process id to; "" = none
	User      string // -u: user to run as (only when started as root)
	Daemonize bool   // -d: run in the background

	// Accepted for compatibility, without effect in slabcached (reported as
	// memcached would, so tools that read "stats settings" see the value
	// they configured).
	TailRepairTime      int  // tail_repair_time (-o tail_repair_time): seconds; 0 (default) = off
	InlineASCIIResponse bool // inline_ascii_response (-o inline_ascii_resp): always false in memcached 1.6
	// NapiIDs is -N: with it set, each accepted connection's NAPI id is
	// read and counted in round_robin_fallback and unexpected_napi_ids
	// as memcached counts them; gnet still places the connection.
	NapiIDs int
	// Extstore holds extstore's tunables (-o ext_*, the "extstore"
	// command): there is no extstore, but they are kept and reported as
	// by a memcached 1.6.45 started without ext_path.
	Extstore ExtstoreSettings
}

// ExtstoreSettings are memcached's extstore tunables as "stats settings"
// prints them (ext_item_size, ...).
type ExtstoreSettings struct {
	ItemSize     uint32  // ext_item_size; default 512
	ItemAge      uint32  // ext_item_age; default 4294967295
	LowTTL       uint32  // ext_low_ttl; default 0
	RecacheRate  uint32  // ext_recache_rate; default 2000
	WbufSize     uint32  // ext_wbuf_size in bytes (given in MiB); default 4 MiB
	CompactUnder uint32  // ext_compact_under; default 0
	DropUnder    uint32  // ext_drop_under; default 0
	MaxSleep     uint32  // ext_max_sleep; default 1000000
	MaxFrag      float64 // ext_max_frag; default 0.8
	DropUnread   bool    // ext_drop_unread; default false
}

// DefaultExtstoreSettings are memcached 1.6.45's extstore defaults.
func DefaultExtstoreSettings() ExtstoreSettings {
	return ExtstoreSettings{ItemSize: 512, ItemAge: math.MaxUint32, RecacheRate: 2000, WbufSize: 4 << 20, MaxSleep: 1000000, MaxFrag: 0.8}
}

// DefaultSettings returns memcached 1.6's defaults, except that the server
// listens on 127.0.0.1 only and runs one event loop per CPU. The memory,
// slab and LRU defaults are the store's (lru.DefaultConfig), so they are
// written in one place.
func DefaultSettings() Settings {
	d := lru.DefaultConfig()
	return Settings{
		Port:                  11211,
		UDPPort:               0,
		SocketMask:            0o700,
		Listen:                "127.0.0.1",
		MaxConns:              1024,
		MaxConnsFast:          true,
		Backlog:               1024,
		Threads:               runtime.NumCPU(),
		ReqsPerEvent:          20,
		Eviction:              "lru",
		SSLKeyFormat:          1,
		SSLWbufSize:           16 << 10,
		SSLMinVersion:         2,
		HotKeys:               true,
		HotKeySampleRate:      100,
		HotKeyTopK:            64,
		HotKeyWindow:          1,
		HotKeyThreshold:       0.01,
		HotKeyMinRate:         1000,
		HotKeyReplicas:        3,
		WarmupSecs:            60,
		WarmupRate:            4,
		DrainSecs:             10,
		Protocol:              ProtocolAuto,
		MaxBytes:              d.MemoryLimit,
		ItemSizeMax:           d.ItemSizeMax,
		Factor:                d.GrowthFactor,
		ChunkSize:             d.MinChunkSpace,
		SlabChunkMax:          d.SlabChunkMax,
		CASEnabled:            !d.NoCAS,
		EvictToFree:           !d.NoEvict,
		HashExpand:            true,
		Prefetch:              true,
		SlabReassign:          d.SlabReassign,
		SlabAutomove:          d.SlabAutomove,
		SlabAutomoveRatio:     0.8,
		SlabAutomoveWindow:    10,
		SlabAutomoveFreeRatio: 0.01,
		LRUMaintainer:         d.LRUMaintainer,
		LRUSegmented:          true,
		LRUCrawler:            d.LRUCrawler,
		LRUCrawlerSleep:       100,
		HotLRUPct:             d.HotLRUPct,
		WarmLRUPct:            d.WarmLRUPct,
		HotMaxFactor:          d.HotMaxFactor,
		WarmMaxFactor:         d.WarmMaxFactor,
		TempLRU:               d.TempLRU,
		TemporaryTTL:          int(d.TemporaryTTL),
		LRUStripes:            1,
		FlushEnabled:          true,
		DumpEnabled:           true,
		WatchEnabled:          true,
		PrefixDelimiter:       ':',
		WatcherLogbufSize:     256 << 10,
		WorkerLogbufSize:      64 << 10,
		Extstore:              DefaultExtstoreSettings(),
	}
}

// memlimitReserve is how far cache_memlimit may raise a smaller -m where
// item memory is Go heap memory (builds with the slabheap tag).
const memlimitReserve = 4 << 30

// StoreConfig maps the settings onto the store's configuration.
func (s *Settings) StoreConfig() lru.Config {
	c := lru.DefaultConfig()
	c.MemoryLimit = s.MaxBytes
	// cache_memlimit may raise the limit at run time up to this much:
	// reserved address space, opened for use only as pages are needed.
	c.MemoryLimitMax = slab.MaxMemLimit
	if !slab.OffHeap {
		c.MemoryLimitMax = min(max(s.MaxBytes, memlimitReserve), slab.MaxMemLimit)
	}
	if s.MemoryFile != "" {
		// The memory file is sized for -m; cache_memlimit cannot raise it.
		c.MemoryLimitMax = s.MaxBytes
		c.MemoryFile = s.MemoryFile
	}
	c.NoEvict = !s.EvictToFree
	c.HugePages = s.LargePages
	c.LFU = s.Eviction == "lfu"
	c.TrackSizes = s.TrackSizes
	c.ItemSizeMax = s.ItemSizeMax
	c.GrowthFactor = s.Factor
	c.MinChunkSpace = s.ChunkSize
	if s.SlabSizes != "" {
		c.ClassSizes, _ = ParseSlabSizes(s.SlabSizes, s.ChunkSize, s.SlabChunkMax)
	}
	c.NoCAS = !s.CASEnabled
	c.SlabChunkMax = s.SlabChunkMax
	c.SlabReassign = s.SlabReassign
	c.SlabAutomove = s.SlabAutomove
	c.SlabAutomoveWindow = s.SlabAutomoveWindow
	c.SlabAutomoveRatio = s.SlabAutomoveRatio
	if !s.SlabReassign {
		c.SlabAutomove = 0
	}
	c.LRUCrawler = s.LRUCrawler
	c.CrawlerToCrawl = s.LRUCrawlerToCrawl
	c.LRUMaintainer = s.LRUMaintainer
	c.HotLRUPct = s.HotLRUPct
	c.WarmLRUPct = s.WarmLRUPct
	c.HotMaxFactor = s.HotMaxFactor
	c.WarmMaxFactor = s.WarmMaxFactor
	c.TempLRU = s.TempLRU
	c.TemporaryTTL = uint32(s.TemporaryTTL)
	c.HashPower = s.HashPower
	c.LRUStripes = s.EffectiveLRUStripes()
	return c
}

// EffectiveLRUStripes is LRUStripes, or for 0 what the event loops call
// for: one list per class up to 4 loops (where one lock holds up), then
// one stripe for every two loops, rounded down to a power of two, at most
// lru.MaxLRUStripes.
func (s *Settings) EffectiveLRUStripes() int {
	if s.LRUStripes != 0 {
		return s.LRUStripes
	}
	n := 1
	if s.Threads <= 4 {
		return n
	}
	for n*2 <= s.Threads/2 && n*2 <= lru.MaxLRUStripes {
		n *= 2
	}
	return n
}

// UsageError is a configuration problem, worded as memcached words it (so
// its text may start with a capital letter or end with a period).
type UsageError string

func (e UsageError) Error() string { return string(e) }

func usagef(format string, args ...any) error { return UsageError(fmt.Sprintf(format, args...)) }

// Validate checks the settings as memcached's main() does, with memcached's
// messages: first the checks memcached makes while reading each option, in
// the order of its option switch, then the checks it makes afterwards. It
// returns the first problem found. A few checks are slabcached's own (marked
// below): values memcached would silently misread.
func (s *Settings) Validate() error {
	e := func(msg string) error { return UsageError(msg) }
	var sizesErr error // -o slab_sizes, checked in memcached's order below
	if s.SlabSizes != "" {
		_, sizesErr = ParseSlabSizes(s.SlabSizes, s.ChunkSize, s.SlabChunkMax)
	}
	switch {
	// While parsing (memcached exits 1).
	case s.MaxConns <= 0:
		return e("Maximum connections must be greater than 0")
	case s.ReqsPerEvent <= 0:
		return e("Number of requests per event must be greater than 0")
	case s.HotKeySampleRate < 1 || s.HotKeySampleRate > 1<<20:
		return e("hotkey_sample_rate must be between 1 and 1048576")
	case s.HotKeyTopK < 1 || s.HotKeyTopK > 4096:
		return e("hotkey_top_k must be between 1 and 4096")
	case s.HotKeyWindow < 1 || s.HotKeyWindow > 3600:
		return e("hotkey_window must be between 1 and 3600 seconds")
	case !(s.HotKeyThreshold > 0 && s.HotKeyThreshold <= 1):
		return e("hotkey_threshold must be above 0 and at most 1")
	case s.HotKeyMinRate < 0:
		return e("hotkey_min_rate must not be negative")
	case (s.HotKeyReplicas < 1 && s.HotKeyReplicas != HotKeyReplicasAll) || s.HotKeyReplicas > MaxHotKeyReplicas:
		return e("hotkey_replicas must be between 1 and 16, or all")
	case s.WarmupRate < 0:
		return e("warmup_rate must not be negative")
	case s.WarmupSecs < 0:
		return e("warmup_secs must not be negative")
	case s.DrainSecs < 0:
		return e("drain_secs must not be negative")
	case s.Factor <= 1.0:
		return e("Factor must be greater than 1")
	case s.ChunkSize <= 0: // memcached refuses only 0
		return e("Chunk size must be greater than 0")
	case s.Threads <= 0:
		return e("Number of threads must be greater than 0")
	case s.Protocol != ProtocolAuto && s.Protocol != ProtocolASCII && s.Protocol != ProtocolBinary:
		return usagef("Invalid value for binding protocol: %s\n -- should be one of auto, binary, or ascii", s.Protocol)
	case s.DetailEnabled && s.PrefixDelimiter == 0:
		return e("No delimiter specified")
	case s.HashPower != 0 && s.HashPower < 12:
		return usagef("Initial hashtable multiplier of %d is too low", s.HashPower)
	case s.HashPower > 32:
		return usagef("Initial hashtable multiplier of %d is too high\n"+
			"Choose a value based on \"STAT hash_power_level\" from a running instance", s.HashPower)
	case s.SlabAutomove < 0 || s.SlabAutomove > 2:
		return e("slab_automove must be between 0 and 2")
	case s.SlabAutomoveRatio <= 0 || s.SlabAutomoveRatio > 1:
		return e("slab_automove_ratio must be > 0 and < 1")
	case s.SlabAutomoveWindow < 3:
		return e("slab_automove_window must be > 2")
	case s.TailRepairTime != 0 && s.TailRepairTime < 10:
		return e("Cannot set tail_repair_time to less than 10 seconds")
	case s.LRUCrawlerSleep < 0 || s.LRUCrawlerSleep > 1000000:
		return e("LRU crawler sleep must be between 0 and 1 second")
	case s.HotLRUPct < 1 || s.HotLRUPct >= 80:
		return e("hot_lru_pct must be > 1 and < 80")
	case s.WarmLRUPct < 1 || s.WarmLRUPct >= 80:
		return e("warm_lru_pct must be > 1 and < 80")
	case s.HotMaxFactor <= 0:
		return e("hot_max_factor must be > 0")
	case s.WarmMaxFactor <= 0:
		return e("warm_max_factor must be > 0")

	// After parsing (memcached exits 64, EX_USAGE).
	case s.NapiIDs > s.Threads:
		return usagef("Number of napi_ids(%d) cannot be greater than number of threads(%d)", s.NapiIDs, s.Threads)
	case s.ItemSizeMax < ItemSizeMaxLowerLimit:
		return e("Item max size cannot be less than 1024 bytes.")
	case int64(s.ItemSizeMax) > s.MaxBytes/2:
		return e("Cannot set item size limit higher than 1/2 of memory max.")
	case s.ItemSizeMax > ItemSizeMaxUpperLimit:
		return e("Cannot set item size limit higher than a gigabyte.")
	case s.SlabChunkMax <= 0: // slabcached's own: memcached would divide by zero
		return usagef("slab_chunk_max (bytes: %d) must be greater than 0", s.SlabChunkMax)
	case s.SlabChunkMax > s.ItemSizeMax:
		return usagef("slab_chunk_max (bytes: %d) cannot be larger than -I (item_size_max %d)", s.SlabChunkMax, s.ItemSizeMax)
	case s.ItemSizeMax%s.SlabChunkMax != 0:
		return usagef("-I (item_size_max: %d) must be evenly divisible by slab_chunk_max (bytes: %d)", s.ItemSizeMax, s.SlabChunkMax)
	case SlabPageSize%s.SlabChunkMax != 0:
		return usagef("slab_chunk_max (bytes: %d) must divide evenly into %d (slab_page_size)", s.SlabChunkMax, SlabPageSize)
	case sizesErr != nil:
		return sizesErr
	case s.HotLRUPct+s.WarmLRUPct > 80:
		return e("hot_lru_pct + warm_lru_pct cannot be more than 80% combined")
	case s.TempLRU && !s.LRUMaintainer:
		return e("temporary_ttl requires lru_maintainer to be enabled")
	case s.AuthFile != "" && s.Protocol != ProtocolASCII:
		return e("ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens.")
	case s.SASL && s.Protocol != ProtocolBinary:
		return e("ERROR: You cannot allow the ASCII protocol while using SASL.")
	case s.SASL && s.UDPPort != 0:
		return e("ERROR: Cannot enable UDP while using binary SASL authentication.")
	case s.Port < -1 || s.Port > 65535: // memcached checks only the upper bound
		return usagef("ERROR: Invalid port number %d.", s.Port)
	case s.Eviction != "" && s.Eviction != "lru" && s.Eviction != "lfu":
		return e("eviction must be lru or lfu")
	case s.LRUStripes < 0 || s.LRUStripes > lru.MaxLRUStripes || s.LRUStripes&(s.LRUStripes-1) != 0:
		return e(fmt.Sprintf("lru_stripes must be a power of two up to %d", lru.MaxLRUStripes))
	case s.TLS && s.Port == 0:
		return e("ERROR: You cannot enable SSL without a TCP port.")
	case s.SSLVerifyMode < 0 || s.SSLVerifyMode > 3:
		return e("Invalid ssl_verify_mode. Use help to see valid options.")
	case s.SSLMinVersion < 0 || s.SSLMinVersion > 3:
		return e("Invalid ssl_min_version. Use help to see valid options.")

	// slabcached's own.
	case s.MaxBytes <= 0:
		return usagef("-m must be a positive number of megabytes")
	case s.MaxBytes > slab.MaxMemLimit:
		return usagef("-m %d: at most %d megabytes (the most the store's 32-bit page references reach)",
			s.MaxBytes>>20, int64(slab.MaxMemLimit)>>20)
	case s.NapiIDs < 0:
		return e("-N must not be negative")
	case s.AuthFile != "" && s.UDPPort != 0:
		return e("Cannot use UDP with ascii authentication enabled (-U 0 to disable)")
	case s.SASL && s.SASLPasswords == "":
		return usagef("-S needs MEMCACHED_SASL_PWDB: the path of a file of user:password lines")
	case s.UDPPort < -1 || s.UDPPort > 65535:
		return usagef("-U %d: the UDP port must be -1 (any), 0 (off) or up to 65535", s.UDPPort)
	case s.SocketMask > 0o777:
		return usagef("-a %o: the unix socket mask must be an octal number no larger than 777", s.SocketMask)
	case s.Backlog <= 0:
		return e("the listen backlog (-b) must be greater than 0")
	case s.IdleTimeout < 0:
		return e("idle_timeout must not be negative (0 disables it)")
	case s.TemporaryTTL < 0:
		return e("temporary_ttl must not be negative")
	case s.Verbosity < 0:
		return e("verbosity must not be negative")
	case s.ReadBufMemLimit < 0:
		return e("read_buf_mem_limit must not be negative")
	case s.WatcherLogbufSize <= 0 || s.WorkerLogbufSize <= 0:
		return e("watcher_logbuf_size and worker_logbuf_size must be greater than 0")
	}
	if s.SocketPath == "" {
		if _, err := s.ListenAddrs(); err != nil {
			return err
		}
	}
	return nil
}

// Warnings returns what memcached prints as a warning but accepts.
func (s *Settings) Warnings() []string {
	var w []string
	if s.Threads > 64 {
		w = append(w, "WARNING: Setting a high number of workerthreads is not recommended.\n"+
			" Set this value to the number of cores in your machine or less.")
	}
	return w
}

// ListenAddrs returns the TCP addresses to listen on, as host:port, from
// Listen and Port with memcached's rules: entries are separated by ',' or
// ';'; an entry may carry its own port ("10.0.0.1:11311", "[::1]:11311");
// an IPv6 address without brackets has no port; "*" or an empty Listen means
// every interface (host ""). Errors carry memcached's messages. With TLS an
// entry may start with "notls:", "btls:" or "mtls:" (ListenTLS).
func (s *Settings) ListenAddrs() ([]string, error) {
	return s.listenAddrs(s.Port)
}

// ListenTLS returns, for each address of ListenAddrs, how its connections
// use TLS: "" (not at all), "tls" (-Z, verified per ssl_verify_mode),
// "btls" (TLS, no client certificate asked) or "mtls" (a client
// certificate required), as memcached's -l prefixes say.
func (s *Settings) ListenTLS() []string {
	def := ""
	if s.TLS {
		def = "tls"
	}
	if strings.TrimSpace(s.Listen) == "" {
		return []string{def}
	}
	var out []string
	for _, p := range strings.FieldsFunc(s.Listen, listenSep) {
		mode, _ := listenPrefix(p)
		switch mode {
		case "":
			mode = def
		case "notls":
			mode = ""
		}
		out = append(out, mode)
	}
	return out
}

func listenSep(r rune) bool { return r == ',' || r == ';' }

// listenPrefix splits memcached's TLS prefix off a -l entry.
func listenPrefix(p string) (mode, rest string) {
	for _, m := range []string{"notls", "btls", "mtls"} {
		if strings.HasPrefix(p, m) {
			return m, strings.TrimPrefix(p[len(m):], ":")
		}
	}
	return "", p
}

// listenAddrs is ListenAddrs for the given port (-1: one the system picks).
func (s *Settings) listenAddrs(defPort int) ([]string, error) {
	defPort = max(defPort, 0)
	if strings.TrimSpace(s.Listen) == "" {
		return []string{net.JoinHostPort("", strconv.Itoa(defPort))}, nil
	}
	var out []string
	for _, p := range strings.FieldsFunc(s.Listen, listenSep) {
		mode, rest := listenPrefix(p)
		if mode != "" && !s.TLS {
			return nil, UsageError("'" + mode + "' option is valid only when SSL is enabled")
		}
		p = rest
		port := defPort
		host := p
		bracketed := false
		if strings.HasPrefix(p, "[") {
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return nil, usagef("Invalid IPV6 address: \"%s\"", p)
			}
			host, p = p[1:end], p[end+1:]
			bracketed = true
		}
		if i := strings.IndexByte(p, ':'); i >= 0 && (bracketed || !strings.Contains(p[i+1:], ":")) {
			n, err := strconv.Atoi(p[i+1:])
			if err != nil || n < 0 || n > 65535 {
				return nil, usagef("Invalid port number: \"%s\"", p[i+1:])
			}
			port = n
			if !bracketed {
				host = p[:i]
			}
		} else if !bracketed {
			host = p
		}
		if host == "*" {
			host = ""
		}
		out = append(out, net.JoinHostPort(host, strconv.Itoa(port)))
	}
	return out, nil
}

// formatFixed is C's printf("%.Nf"): Go's 'f' format, except that
// infinities and NaNs print as "inf", "-inf", "nan" and "-nan".
func formatFixed(v float64, prec int) string {
	switch {
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	case math.IsNaN(v) && math.Signbit(v):
		return "-nan"
	case math.IsNaN(v):
		return "nan"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

// Stat is one "STAT name value" line.
type Stat struct {
	Name, Value string
}

// StatsSettings returns the lines of "stats settings" in memcached 1.6.45's
// order and format. oldest is memcached's oldest_live: the relative time of
// the last flush_all (0 if none), which only the running server knows; the
// server passes a copy of its Settings with the live verbosity.
//
// Every name memcached 1.6.45 prints is printed. Settings slabcached does not
// have (extstore, TLS, napi ids) are reported with the
// values memcached reports when they are off, so tools that read them keep
// working; hash_algorithm reports slabcached's own hash.
func (s *Settings) StatsSettings(oldest uint32) []Stat {
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	d := strconv.Itoa
	f2 := func(v float64) string { return formatFixed(v, 2) }
	u := func(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
	ext := &s.Extstore
	orNull := func(v string) string {
		if v == "" {
			return "NULL"
		}
		return v
	}
	evictions := "on"
	if !s.EvictToFree {
		evictions = "off"
	}
	perUDP := s.threadsPerUDP()
	return []Stat{
		{"maxbytes", strconv.FormatInt(s.MaxBytes, 10)},
		{"maxconns", d(s.MaxConns)},
		{"tcpport", d(s.Port)},
		{"udpport", d(s.UDPPort)},
		{"inter", orNull(s.Listen)},
		{"verbosity", d(s.Verbosity)},
		{"oldest", strconv.FormatUint(uint64(oldest), 10)},
		{"evictions", evictions},
		{"domain_socket", orNull(s.SocketPath)},
		{"umask", strconv.FormatUint(uint64(s.SocketMask), 8)},
		{"shutdown_command", yes(s.ShutdownCommand)},
		{"growth_factor", f2(s.Factor)},
		{"chunk_size", d(s.ChunkSize)},
		{"num_threads", d(s.Threads)},
		{"num_threads_per_udp", d(perUDP)},
		{"stat_key_prefix", string(rune(s.PrefixDelimiter))},
		{"detail_enabled", yes(s.DetailEnabled)},
		{"reqs_per_event", d(s.ReqsPerEvent)},
		{"cas_enabled", yes(s.CASEnabled)},
		{"tcp_backlog", d(s.Backlog)},
		{"binding_protocol", s.Protocol},
		{"auth_enabled_sasl", yes(s.SASL)},
		{"auth_enabled_ascii", cmp.Or(s.AuthFile, "no")},
		{"item_size_max", d(s.ItemSizeMax)},
		{"maxconns_fast", yes(s.MaxConnsFast)},
		{"hashpower_init", d(s.HashPower)},
		{"slab_reassign", yes(s.SlabReassign)},
		{"slab_automove", d(s.SlabAutomove)},
		{"slab_automove_ratio", f2(s.SlabAutomoveRatio)},
		{"slab_automove_window", d(s.SlabAutomoveWindow)},
		{"slab_chunk_max", d(s.SlabChunkMax)},
		{"lru_crawler", yes(s.LRUCrawler)},
		{"lru_crawler_sleep", d(s.LRUCrawlerSleep)},
		{"lru_crawler_tocrawl", strconv.FormatUint(uint64(s.LRUCrawlerToCrawl), 10)},
		{"tail_repair_time", d(s.TailRepairTime)},
		{"flush_enabled", yes(s.FlushEnabled)},
		{"dump_enabled", yes(s.DumpEnabled)},
		{"hash_algorithm", HashAlgorithm},
		{"lru_maintainer_thread", yes(s.LRUMaintainer)},
		{"lru_segmented", yes(s.LRUSegmented)},
		{"hot_lru_pct", d(s.HotLRUPct)},
		{"warm_lru_pct", d(s.WarmLRUPct)},
		{"hot_max_factor", f2(s.HotMaxFactor)},
		{"warm_max_factor", f2(s.WarmMaxFactor)},
		{"temp_lru", yes(s.TempLRU)},
		{"temporary_ttl", d(s.TemporaryTTL)},
		{"idle_timeout", d(s.IdleTimeout)},
		{"watcher_logbuf_size", d(s.WatcherLogbufSize)},
		{"worker_logbuf_size", d(s.WorkerLogbufSize)},
		{"read_buf_mem_limit", strconv.FormatInt(s.ReadBufMemLimit, 10)},
		{"track_sizes", yes(s.TrackSizes)},
		{"inline_ascii_response", yes(s.InlineASCIIResponse)},
		{"ext_item_size", u(ext.ItemSize)},
		{"ext_item_age", u(ext.ItemAge)},
		{"ext_low_ttl", u(ext.LowTTL)},
		{"ext_recache_rate", u(ext.RecacheRate)},
		{"ext_wbuf_size", u(ext.WbufSize)},
		{"ext_compact_under", u(ext.CompactUnder)},
		{"ext_drop_under", u(ext.DropUnder)},
		{"ext_max_sleep", u(ext.MaxSleep)},
		{"ext_max_frag", f2(ext.MaxFrag)},
		{"slab_automove_freeratio", formatFixed(s.SlabAutomoveFreeRatio, 3)},
		{"ext_drop_unread", yes(ext.DropUnread)},
		{"ssl_enabled", yes(s.TLS)},
		{"ssl_chain_cert", cmp.Or(s.SSLChainCert, "(null)")},
		{"ssl_key", cmp.Or(s.SSLKey, "(null)")},
		{"ssl_verify_mode", strconv.Itoa(sslVerifyBits(s.SSLVerifyMode))},
		{"ssl_keyformat", strconv.Itoa(s.SSLKeyFormat)},
		{"ssl_ciphers", cmp.Or(s.SSLCiphers, "NULL")},
		{"ssl_ca_cert", cmp.Or(s.SSLCACert, "NULL")},
		{"ssl_wbuf_size", strconv.Itoa(s.SSLWbufSize)},
		{"ssl_session_cache", yes(s.SSLSessionCache)},
		{"ssl_kernel_tls", yes(s.SSLKernelTLS)},
		{"ssl_min_version", sslVersionName(s.SSLMinVersion)},
		{"num_napi_ids", strconv.Itoa(s.NapiIDs)},
		{"memory_file", nullString(s.MemoryFile)},
		{"client_flags_size", "4"},
		// slabcached's own, after memcached's.
		{"hotkeys", yes(s.HotKeys)},
		{"hotkey_sample_rate", strconv.Itoa(s.HotKeySampleRate)},
		{"hotkey_top_k", strconv.Itoa(s.HotKeyTopK)},
		{"hotkey_window", strconv.Itoa(s.HotKeyWindow)},
		{"hotkey_threshold", strconv.FormatFloat(s.HotKeyThreshold, 'f', -1, 64)},
		{"hotkey_min_rate", strconv.FormatFloat(s.HotKeyMinRate, 'f', -1, 64)},
		{"hotkey_replicas", hotKeyReplicasString(s.HotKeyReplicas)},
		{"lru_stripes", strconv.Itoa(s.EffectiveLRUStripes())},
		{"warmup_secs", strconv.Itoa(s.WarmupSecs)},
		{"warmup_rate", strconv.Itoa(s.WarmupRate)},
		{"drain_secs", strconv.Itoa(s.DrainSecs)},
		{"invalidation_broadcast", yes(s.InvalidationBroadcast)},
		{"eviction", cmp.Or(s.Eviction, "lru")},
	}
}

// nullString prints an unset string setting as memcached's printf does.
func nullString(s string) string {
	if s == "" {
		return "(null)"
	}
	return s
}

// HotKeyReplicasAll is Settings.HotKeyReplicas for `hotkey_replicas=all`:
// a hot key is served by every alive node, at most MaxHotKeyReplicas.
const (
	HotKeyReplicasAll = -1
	MaxHotKeyReplicas = 16
)

func hotKeyReplicasString(n int) string {
	if n == HotKeyReplicasAll {
		return "all"
	}
	return strconv.Itoa(n)
}

// hotKeyCopies is the number of nodes that serve a hot key, the owner
// included, as Replicas is asked for it.
func (s *Settings) hotKeyCopies() int {
	if s.HotKeyReplicas == HotKeyReplicasAll {
		return MaxHotKeyReplicas
	}
	return s.HotKeyReplicas
}

// ParseSlabSizes parses -o slab_sizes as memcached does once every option
// is read: dash-separated chunk sizes, each at least chunkSize (-n) and at
// most chunkMax (slab_chunk_max), each more than 8 bytes over the one
// before, at most 62 of them (63 classes with slab_chunk_max's); the
// errors are memcached's. A size under 32 bytes, which memcached takes
// with a small -n, is out of range here: a slab page holds at most 32,768
// chunks.
func ParseSlabSizes(spec string, chunkSize, chunkMax int) ([]int, error) {
	if spec == "" {
		return nil, usagef("slab_sizes needs a list of sizes such as 96-120-200") // memcached exits without a word
	}
	sizes := []int{} // "-" alone: no sizes, one class (slab_chunk_max), as in memcached
	last := 0
	for _, tok := range strings.Split(spec, "-") {
		if tok == "" {
			continue // strtok_r skips empty tokens
		}
		n, ok := proto.ParseUint32([]byte(tok))
		size := int(n)
		if !ok || size < chunkSize || size > chunkMax || size < slab.MinChunkSize {
			if !ok {
				size = 0
			}
			return nil, usagef("slab size %d is out of valid range", size)
		}
		if last >= size {
			return nil, usagef("slab size %d cannot be lower than or equal to a previous class size", size)
		}
		if size <= last+slab.ChunkAlign {
			return nil, usagef("slab size %d must be at least %d bytes larger than previous class", size, slab.ChunkAlign)
		}
		sizes = append(sizes, size)
		last = size
		if len(sizes) >= slab.MaxClasses { // memcached: MAX_NUMBER_OF_SLAB_CLASSES-1
			return nil, usagef("too many slab classes specified")
		}
	}
	return sizes, nil
}

// threadsPerUDP is memcached's num_threads_per_udp: the worker threads that
// serve each UDP socket, each through a connection of its own (one when -l
// lists several interfaces, as a ',' in memcached's list tells).
func (s *Settings) threadsPerUDP() int {
	if strings.Contains(s.Listen, ",") {
		return 1
	}
	return max(s.Threads, 1)
}
