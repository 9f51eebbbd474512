package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/slabcache/slabcache/internal/mctest"
	"github.com/slabcache/slabcache/internal/testenv"
	"github.com/slabcache/slabcache/server"
)

// want builds the expected settings from the defaults.
func want(change func(s *server.Settings)) server.Settings {
	s := server.DefaultSettings()
	change(&s)
	return s
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args   string
		change func(s *server.Settings)
	}{
		{"", func(s *server.Settings) {}},
		// network
		{"-p 11311", func(s *server.Settings) { s.Port = 11311 }},
		{"-p11311", func(s *server.Settings) { s.Port = 11311 }},
		{"--port=11311", func(s *server.Settings) { s.Port = 11311 }},
		{"--port 11311", func(s *server.Settings) { s.Port = 11311 }},
		{"--po=11311", func(s *server.Settings) { s.Port = 11311 }}, // unambiguous prefix
		{"-U 0", func(s *server.Settings) {}},
		{"--udp-port=0", func(s *server.Settings) {}},
		{"-U 11311", func(s *server.Settings) { s.UDPPort, s.Port = 11311, 11311 }}, // TCP on it too, as memcached
		{"-U 11311 -p 11312", func(s *server.Settings) { s.UDPPort, s.Port = 11311, 11312 }},
		{"-s /tmp/mc.sock", func(s *server.Settings) { s.SocketPath = "/tmp/mc.sock" }},
		{"--unix-socket=/tmp/mc.sock -a 755", func(s *server.Settings) { s.SocketPath, s.SocketMask = "/tmp/mc.sock", 0o755 }},
		{"--unix-mask=0644", func(s *server.Settings) { s.SocketMask = 0o644 }},
		{"-l 0.0.0.0", func(s *server.Settings) { s.Listen = "0.0.0.0" }},
		{"-l 127.0.0.1 -l 127.0.0.2:11311", func(s *server.Settings) { s.Listen = "127.0.0.1,127.0.0.2:11311" }},
		{"-l 127.0.0.1,127.0.0.2 -l 127.0.0.2", func(s *server.Settings) { s.Listen = "127.0.0.1,127.0.0.2" }},
		{"--listen=[::1]:11311", func(s *server.Settings) { s.Listen = "[::1]:11311" }},
		{"-c 10", func(s *server.Settings) { s.MaxConns = 10 }},
		{"--conn-limit=10", func(s *server.Settings) { s.MaxConns = 10 }},
		{"-t 8", func(s *server.Settings) { s.Threads = 8 }},
		{"--threads=1", func(s *server.Settings) { s.Threads = 1 }},
		{"-R 5", func(s *server.Settings) { s.ReqsPerEvent, s.YieldRequests = 5, true }},
		{"--max-reqs-per-event=5", func(s *server.Settings) { s.ReqsPerEvent, s.YieldRequests = 5, true }},
		{"-b 16", func(s *server.Settings) { s.Backlog = 16 }},
		{"--listen-backlog=16", func(s *server.Settings) { s.Backlog = 16 }},
		{"-B ascii", func(s *server.Settings) { s.Protocol = server.ProtocolASCII }},
		{"-B binary", func(s *server.Settings) { s.Protocol = server.ProtocolBinary }},
		{"-Y /etc/auth", func(s *server.Settings) { s.AuthFile, s.Protocol = "/etc/auth", server.ProtocolASCII }},
		{"--protocol=auto", func(s *server.Settings) { s.Protocol = server.ProtocolAuto }},
		// memory
		{"-m 128", func(s *server.Settings) { s.MaxBytes = 128 << 20 }},
		{"-m128", func(s *server.Settings) { s.MaxBytes = 128 << 20 }},
		{"--memory-limit=4096", func(s *server.Settings) { s.MaxBytes = 4 << 30 }},
		{"-M", func(s *server.Settings) { s.EvictToFree = false }},
		{"--disable-evictions", func(s *server.Settings) { s.EvictToFree = false }},
		{"-I 2m", func(s *server.Settings) { s.ItemSizeMax = 2 << 20 }},
		{"-I 2M", func(s *server.Settings) { s.ItemSizeMax = 2 << 20 }},
		{"-I 512k", func(s *server.Settings) { s.ItemSizeMax = 512 << 10 }},
		{"-I 524288", func(s *server.Settings) { s.ItemSizeMax = 512 << 10 }},
		{"--max-item-size=1g -m 4096", func(s *server.Settings) { s.ItemSizeMax, s.MaxBytes = 1<<30, 4<<30 }},
		{"-I 1k -o slab_chunk_max=1", func(s *server.Settings) { s.ItemSizeMax, s.SlabChunkMax = 1024, 1024 }},
		{"-f 1.5", func(s *server.Settings) { s.Factor = 1.5 }},
		{"--slab-growth-factor=1.08", func(s *server.Settings) { s.Factor = 1.08 }},
		{"-n 64", func(s *server.Settings) { s.ChunkSize = 64 }},
		{"--slab-min-size=96", func(s *server.Settings) { s.ChunkSize = 96 }},
		{"-C", func(s *server.Settings) { s.CASEnabled = false }},
		{"--disable-cas", func(s *server.Settings) { s.CASEnabled = false }},
		{"-k", func(s *server.Settings) { s.LockMemory = true }},
		{"--lock-memory", func(s *server.Settings) { s.LockMemory = true }},
		{"-L", func(s *server.Settings) { s.LargePages = true }},
		{"--enable-largepages", func(s *server.Settings) { s.LargePages = true }},
		// commands
		{"-A", func(s *server.Settings) { s.ShutdownCommand = true }},
		{"--enable-shutdown", func(s *server.Settings) { s.ShutdownCommand = true }},
		{"-F", func(s *server.Settings) { s.FlushEnabled = false }},
		{"--disable-flush-all", func(s *server.Settings) { s.FlushEnabled = false }},
		{"-X", func(s *server.Settings) { s.DumpEnabled = false }},
		{"--disable-dumping", func(s *server.Settings) { s.DumpEnabled = false }},
		{"-W", func(s *server.Settings) { s.WatchEnabled = false }},
		{"--disable-watch", func(s *server.Settings) { s.WatchEnabled = false }},
		{"-D %", func(s *server.Settings) { s.PrefixDelimiter, s.DetailEnabled = '%', true }},
		{"-D:", func(s *server.Settings) { s.DetailEnabled = true }},
		// verbosity, combined short flags
		{"-v", func(s *server.Settings) { s.Verbosity = 1 }},
		{"-vv", func(s *server.Settings) { s.Verbosity = 2 }},
		{"-vvv", func(s *server.Settings) { s.Verbosity = 3 }},
		{"-v -v", func(s *server.Settings) { s.Verbosity = 2 }},
		{"--verbose --verbose", func(s *server.Settings) { s.Verbosity = 2 }},
		{"--verbose=3", func(s *server.Settings) { s.Verbosity = 3 }},
		{"-vdm64", func(s *server.Settings) { s.Verbosity, s.Daemonize, s.MaxBytes = 1, true, 64<<20 }},
		{"-vMCp 5000", func(s *server.Settings) { s.Verbosity, s.EvictToFree, s.CASEnabled, s.Port = 1, false, false, 5000 }},
		// process
		{"-d", func(s *server.Settings) { s.Daemonize = true }},
		{"--daemon", func(s *server.Settings) { s.Daemonize = true }},
		{"-P /tmp/slab.pid", func(s *server.Settings) { s.PidFile = "/tmp/slab.pid" }},
		{"--pidfile=/tmp/slab.pid", func(s *server.Settings) { s.PidFile = "/tmp/slab.pid" }},
		{"--", func(s *server.Settings) {}},
		{"-p 1 -- ", func(s *server.Settings) { s.Port = 1 }},
	}
	for _, tc := range tests {
		cmd, err := parseArgs(strings.Fields(tc.args), false)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if w := want(tc.change); !reflect.DeepEqual(cmd.settings, w) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.args, cmd.settings, w)
		}
	}
}

func TestParseExtendedOptions(t *testing.T) {
	tests := []struct {
		opts   string
		change func(s *server.Settings)
		notice string // a notice that must be given
	}{
		{"maxconns_fast", func(s *server.Settings) {}, ""},
		{"no_maxconns_fast", func(s *server.Settings) { s.MaxConnsFast = false }, ""},
		{"no_maxconns_fast,maxconns_fast", func(s *server.Settings) {}, ""},
		{"hashpower=20", func(s *server.Settings) { s.HashPower = 20 }, ""},
		{"no_hashexpand", func(s *server.Settings) { s.HashExpand = false }, ""},
		{"no_prefetch", func(s *server.Settings) { s.Prefetch = false }, ""},
		{"no_slab_reassign", func(s *server.Settings) { s.SlabReassign = false }, ""},
		{"no_slab_reassign,slab_reassign", func(s *server.Settings) {}, ""},
		{"slab_automove=2", func(s *server.Settings) { s.SlabAutomove = 2 }, ""},
		{"slab_automove=0,slab_automove", func(s *server.Settings) { s.SlabAutomove = 1 }, ""},
		{"no_slab_automove", func(s *server.Settings) { s.SlabAutomove = 0 }, ""},
		{"slab_automove_ratio=0.5", func(s *server.Settings) { s.SlabAutomoveRatio = 0.5 }, ""},
		{"slab_automove_window=10", func(s *server.Settings) { s.SlabAutomoveWindow = 10 }, ""},
		{"slab_chunk_max=256", func(s *server.Settings) { s.SlabChunkMax = 256 << 10 }, ""},
		{"slab_sizes=96-200-400", func(s *server.Settings) { s.SlabSizes = "96-200-400" }, ""},
		{"sock_cookie_id=42", func(s *server.Settings) { s.SockCookieID = 42 }, ""},
		{"sock_cookie_id=x", func(s *server.Settings) {}, ""}, // memcached ignores it: no mark
		{"no_chunked_items", func(s *server.Settings) { s.SlabChunkMax = 1 << 20 }, ""},
		{"no_lru_crawler", func(s *server.Settings) { s.LRUCrawler = false }, ""},
		{"no_lru_crawler,lru_crawler", func(s *server.Settings) {}, ""},
		{"lru_crawler_sleep=50", func(s *server.Settings) { s.LRUCrawlerSleep = 50 }, ""},
		{"lru_crawler_tocrawl=1000", func(s *server.Settings) { s.LRUCrawlerToCrawl = 1000 }, ""},
		{"no_lru_maintainer", func(s *server.Settings) { s.LRUMaintainer, s.LRUSegmented = false, false }, ""},
		{"no_lru_maintainer,lru_maintainer", func(s *server.Settings) {}, ""},
		{"hot_lru_pct=10", func(s *server.Settings) { s.HotLRUPct = 10 }, ""},
		{"warm_lru_pct=50", func(s *server.Settings) { s.WarmLRUPct = 50 }, ""},
		{"hot_max_factor=0.5", func(s *server.Settings) { s.HotMaxFactor = 0.5 }, ""},
		{"warm_max_factor=3", func(s *server.Settings) { s.WarmMaxFactor = 3 }, ""},
		{"temporary_ttl=30", func(s *server.Settings) { s.TempLRU, s.TemporaryTTL = true, 30 }, ""},
		{"idle_timeout=600", func(s *server.Settings) { s.IdleTimeout = 600 }, ""},
		{"hotkeys=off", func(s *server.Settings) { s.HotKeys = false }, ""},
		{"warmup_secs=5", func(s *server.Settings) { s.WarmupSecs = 5 }, ""},
		{"drain_secs=3", func(s *server.Settings) { s.DrainSecs = 3 }, ""},
		{"invalidation_broadcast", func(s *server.Settings) { s.InvalidationBroadcast = true }, ""},
		{"warmup_rate=16", func(s *server.Settings) { s.WarmupRate = 16 }, ""},
		{"eviction=lfu", func(s *server.Settings) { s.Eviction = "lfu" }, ""},
		{"lru_stripes=8", func(s *server.Settings) { s.LRUStripes = 8 }, ""},
		{"lru_stripes=0", func(s *server.Settings) { s.LRUStripes = 0 }, ""},
		{"ssl_chain_cert=/etc/c.pem,ssl_key=/etc/k.der,ssl_keyformat=2,ssl_ca_cert=/etc/ca.pem", func(s *server.Settings) {
			s.SSLChainCert, s.SSLKey, s.SSLKeyFormat, s.SSLCACert = "/etc/c.pem", "/etc/k.der", 2, "/etc/ca.pem"
		}, ""},
		{"ssl_verify_mode=2,ssl_min_version=3,ssl_session_cache,ssl_wbuf_size=32,ssl_ciphers=ECDHE-RSA-AES128-GCM-SHA256", func(s *server.Settings) {
			s.SSLVerifyMode, s.SSLMinVersion, s.SSLSessionCache, s.SSLWbufSize = 2, 3, true, 32<<10
			s.SSLCiphers = "ECDHE-RSA-AES128-GCM-SHA256"
		}, ""},
		{"hotkeys=off,hotkeys=on", func(s *server.Settings) {}, ""},
		{"hotkey_sample_rate=10,hotkey_top_k=128,hotkey_window=2", func(s *server.Settings) {
			s.HotKeySampleRate, s.HotKeyTopK, s.HotKeyWindow = 10, 128, 2
		}, ""},
		{"hotkey_threshold=0.05,hotkey_min_rate=50,hotkey_replicas=5", func(s *server.Settings) {
			s.HotKeyThreshold, s.HotKeyMinRate, s.HotKeyReplicas = 0.05, 50, 5
		}, ""},
		{"hotkey_replicas=all", func(s *server.Settings) { s.HotKeyReplicas = server.HotKeyReplicasAll }, ""},
		{"watcher_logbuf_size=512", func(s *server.Settings) { s.WatcherLogbufSize = 512 << 10 }, ""},
		{"worker_logbuf_size=128", func(s *server.Settings) { s.WorkerLogbufSize = 128 << 10 }, ""},
		{"read_buf_mem_limit=32", func(s *server.Settings) { s.ReadBufMemLimit = 32 << 20 }, ""},
		{"track_sizes", func(s *server.Settings) { s.TrackSizes = true }, ""},
		{"modern", func(s *server.Settings) {}, ""},
		{"no_modern", func(s *server.Settings) {
			s.SlabChunkMax, s.SlabReassign, s.SlabAutomove, s.MaxConnsFast = 1<<20, false, 0, false
			s.LRUCrawler, s.LRUMaintainer, s.LRUSegmented = false, false, false
		}, "jenkins"},
		{"slab_chunk_max=256,no_modern", func(s *server.Settings) {
			s.SlabChunkMax, s.SlabReassign, s.SlabAutomove, s.MaxConnsFast = 256<<10, false, 0, false
			s.LRUCrawler, s.LRUMaintainer, s.LRUSegmented = false, false, false
		}, ""},
		{"tail_repair_time=20", func(s *server.Settings) { s.TailRepairTime = 20 }, "tail_repair_time has no effect"},
		{"hash_algorithm=murmur3", func(s *server.Settings) {}, "hash_algorithm has no effect"},
		{"inline_ascii_resp", func(s *server.Settings) {}, "no effect"},
		{"no_inline_ascii_resp", func(s *server.Settings) {}, "no effect"},
		{"drop_privileges", func(s *server.Settings) {}, "no system-call sandbox"},
		{"no_drop_privileges", func(s *server.Settings) {}, ""},
		{"resp_obj_mem_limit=5", func(s *server.Settings) {}, "DEPRECATED"},
		{"idle_timeout=5,hashpower=16,no_lru_crawler", func(s *server.Settings) { s.IdleTimeout, s.HashPower, s.LRUCrawler = 5, 16, false }, ""},
	}
	for _, tc := range tests {
		for _, form := range [][]string{{"-o", tc.opts}, {"-o" + tc.opts}, {"--extended=" + tc.opts}, {"--extended", tc.opts}} {
			cmd, err := parseArgs(form, false)
			if err != nil {
				t.Errorf("%q: %v", form, err)
				continue
			}
			if w := want(tc.change); !reflect.DeepEqual(cmd.settings, w) {
				t.Errorf("%q:\n got %+v\nwant %+v", form, cmd.settings, w)
			}
			if tc.notice != "" && !strings.Contains(strings.Join(cmd.notices, "\n"), tc.notice) {
				t.Errorf("%q: notices %q lack %q", form, cmd.notices, tc.notice)
			}
		}
	}
	// Every -o option slabcached has is in the table above.
	tested := map[string]bool{}
	for _, tc := range tests {
		for _, item := range strings.Split(tc.opts, ",") {
			name, _, _ := strings.Cut(item, "=")
			tested[name] = true
		}
	}
	for _, o := range options {
		if o.kind == suboption && o.refused == "" && o.noEffect == "" && !tested[o.long] {
			t.Errorf("-o %s has no test case", o.long)
		}
	}
	// Two -o flags add up.
	cmd, err := parseArgs([]string{"-o", "idle_timeout=5", "-o", "hashpower=16"}, false)
	if err != nil || cmd.settings.IdleTimeout != 5 || cmd.settings.HashPower != 16 {
		t.Errorf("two -o flags: %+v, %v", cmd, err)
	}
	// A large -I raises slab_chunk_max back to half a page unless it was set.
	cmd, err = parseArgs([]string{"-I", "2m", "-o", "no_chunked_items"}, false)
	if err != nil || cmd.settings.SlabChunkMax != 512<<10 {
		t.Errorf("-I 2m -o no_chunked_items: %+v, %v", cmd, err)
	}
}

func TestParseErrors(t *testing.T) {
	t.Setenv("MEMCACHED_SASL_PWDB", "")
	tests := []struct {
		args   []string
		err    string
		getopt bool // an option the option loop cannot read: exit 1
	}{
		// getopt's own errors
		{[]string{"-z"}, "invalid option -- 'z'", true},
		{[]string{"-vz"}, "invalid option -- 'z'", true},
		{[]string{"--foo"}, "unrecognized option '--foo'", true},
		{[]string{"--foo=1"}, "unrecognized option '--foo=1'", true},
		{[]string{"-p"}, "option requires an argument -- 'p'", true},
		{[]string{"-vp"}, "option requires an argument -- 'p'", true},
		{[]string{"--port"}, "option '--port' requires an argument", true},
		{[]string{"--daemon=1"}, "option '--daemon' doesn't allow an argument", true},
		{[]string{"--mem=64"}, "option '--mem=64' is ambiguous; possibilities: '--memory-limit' '--memory-file'", true},
		{[]string{"--disable"}, "option '--disable' is ambiguous", true},
		// -o
		{[]string{"-o", "foo"}, `Illegal suboption "foo"`, true},
		{[]string{"-o", "foo=1"}, `Illegal suboption "foo=1"`, true},
		{[]string{"-o", "idle_timeout=5,,hashpower=16"}, `Illegal suboption ""`, true},
		{[]string{"-o", "lru_segmented"}, `Illegal suboption "lru_segmented"`, true},
		{[]string{"-o", "hashpower"}, "Missing numeric argument for hashpower", false},
		{[]string{"-o", "hashpower=5"}, "Initial hashtable multiplier of 5 is too low", false},
		{[]string{"-o", "hashpower=0"}, "Initial hashtable multiplier of 0 is too low", false},
		{[]string{"-o", "hashpower=40"}, "Initial hashtable multiplier of 40 is too high\nChoose a value based on \"STAT hash_power_level\" from a running instance", false},
		{[]string{"-o", "hashpower=abc"}, `-o hashpower: "abc" is not a whole number`, false},
		{[]string{"-o", "slab_automove=3"}, "slab_automove must be between 0 and 2", false},
		{[]string{"-o", "slab_automove=x"}, `-o slab_automove: "x" is not a whole number`, false},
		{[]string{"-o", "slab_automove_ratio"}, "Missing slab_automove_ratio argument", false},
		{[]string{"-o", "ext_item_size"}, "Missing ext_item_size argument", false},
		{[]string{"-o", "ext_item_size=-1"}, "could not parse argument to ext_item_size", false},
		{[]string{"-o", "ext_threads=x"}, "could not parse argument to ext_threads", false},
		{[]string{"-o", "ext_max_frag=1e400"}, "could not parse argument to ext_max_frag", false},
		{[]string{"-o", "slab_automove_freeratio=x"}, "could not parse argument to slab_automove_freeratio", false},
		{[]string{"-o", "ext_path"}, "missing argument to ext_path, ie: ext_path=/d/file:5G", false},
		{[]string{"-o", "slab_automove_ratio=2"}, "slab_automove_ratio must be > 0 and < 1", false},
		{[]string{"-o", "slab_automove_window"}, "Missing slab_automove_window argument", false},
		{[]string{"-o", "slab_automove_window=2"}, "slab_automove_window must be > 2", false},
		{[]string{"-o", "slab_chunk_max"}, "Missing slab_chunk_max argument", false},
		{[]string{"-o", "slab_sizes="}, "slab_sizes needs a list of sizes such as 96-120-200", false},
		{[]string{"-o", "slab_sizes=100-50"}, "slab size 50 cannot be lower than or equal to a previous class size", false},
		{[]string{"-o", "slab_chunk_max=abc"}, "could not parse argument to slab_chunk_max", false},
		{[]string{"-o", "slab_chunk_max=1000"}, "-I (item_size_max: 1048576) must be evenly divisible by slab_chunk_max (bytes: 1024000)", false},
		{[]string{"-o", "slab_chunk_max=2000"}, "slab_chunk_max must be specified in kilobytes.", false},
		{[]string{"-o", "slab_chunk_max=0"}, "slab_chunk_max must be >= 0", false},
		{[]string{"-o", "tail_repair_time"}, "Missing numeric argument for tail_repair_time", false},
		{[]string{"-o", "tail_repair_time=5"}, "Cannot set tail_repair_time to less than 10 seconds", false},
		{[]string{"-o", "hash_algorithm"}, "Missing hash_algorithm argument", false},
		{[]string{"-o", "hash_algorithm=foo"}, "Unknown hash_algorithm option (jenkins, murmur3, xxh3)", false},
		{[]string{"-o", "lru_crawler_sleep"}, "Missing lru_crawler_sleep value", false},
		{[]string{"-o", "lru_crawler_sleep=2000000"}, "LRU crawler sleep must be between 0 and 1 second", false},
		{[]string{"-o", "lru_crawler_sleep=-1"}, "LRU crawler sleep must be between 0 and 1 second", false},
		{[]string{"-o", "hotkey_replicas=0"}, "hotkey_replicas must be between 1 and 16, or all", false},
		{[]string{"-o", "hotkey_replicas=17"}, "hotkey_replicas must be between 1 and 16, or all", false},
		{[]string{"-o", "lru_crawler_tocrawl"}, "Missing lru_crawler_tocrawl value", false},
		{[]string{"-o", "lru_crawler_tocrawl=-1"}, "lru_crawler_tocrawl takes a numeric 32bit value", false},
		{[]string{"-o", "hot_lru_pct"}, "Missing hot_lru_pct argument", false},
		{[]string{"-o", "hot_lru_pct=80"}, "hot_lru_pct must be > 1 and < 80", false},
		{[]string{"-o", "hot_lru_pct=0"}, "hot_lru_pct must be > 1 and < 80", false},
		{[]string{"-o", "warm_lru_pct"}, "Missing warm_lru_pct argument", false},
		{[]string{"-o", "warm_lru_pct=90"}, "warm_lru_pct must be > 1 and < 80", false},
		{[]string{"-o", "warm_lru_pct=79"}, "hot_lru_pct + warm_lru_pct cannot be more than 80% combined", false},
		{[]string{"-o", "hot_max_factor"}, "Missing hot_max_factor argument", false},
		{[]string{"-o", "hot_max_factor=0"}, "hot_max_factor must be > 0", false},
		{[]string{"-o", "warm_max_factor"}, "Missing warm_max_factor argument", false},
		{[]string{"-o", "warm_max_factor=-1"}, "warm_max_factor must be > 0", false},
		{[]string{"-o", "temporary_ttl"}, "Missing temporary_ttl argument", false},
		{[]string{"-o", "temporary_ttl=10,no_lru_maintainer"}, "temporary_ttl requires lru_maintainer to be enabled", false},
		{[]string{"-o", "temporary_ttl=-1"}, "temporary_ttl must not be negative", false},
		{[]string{"-o", "idle_timeout"}, "Missing numeric argument for idle_timeout", false},
		{[]string{"-o", "idle_timeout=abc"}, `-o idle_timeout: "abc" is not a whole number`, false},
		{[]string{"-o", "idle_timeout=-5"}, "idle_timeout must not be negative (0 disables it)", false},
		{[]string{"-o", "watcher_logbuf_size"}, "Missing watcher_logbuf_size argument", false},
		{[]string{"-o", "watcher_logbuf_size=abc"}, "could not parse argument to watcher_logbuf_size", false},
		{[]string{"-o", "worker_logbuf_size=abc"}, "could not parse argument to worker_logbuf_size", false},
		{[]string{"-o", "worker_logbuf_size=0"}, "watcher_logbuf_size and worker_logbuf_size must be greater than 0", false},
		{[]string{"-o", "read_buf_mem_limit"}, "Missing read_buf_mem_limit argument", false},
		{[]string{"-o", "read_buf_mem_limit=x"}, "could not parse argument to read_buf_mem_limit", false},
		{[]string{"-o", "track_sizes=1"}, "-o track_sizes takes no value", false},
		{[]string{"-o", "no_modern=1"}, "-o no_modern takes no value", false},
		{[]string{"-o", "eviction=lifo"}, "eviction must be lru or lfu", false},
		{[]string{"-o", "lru_stripes=3"}, "lru_stripes must be a power of two up to 16", false},
		{[]string{"-o", "ssl_verify_mode=5"}, "Invalid ssl_verify_mode. Use help to see valid options.", false},
		{[]string{"-o", "ssl_verify_mode=x"}, "could not parse argument to ssl_verify_mode", false},
		{[]string{"-o", "ssl_min_version=4"}, "Invalid ssl_min_version. Use help to see valid options.", false},
		{[]string{"-o", "ssl_keyformat=PEM"}, "could not parse argument to ssl_keyformat", false},
		{[]string{"-o", "ssl_wbuf_size=x"}, "could not parse argument to ssl_wbuf_size", false},
		{[]string{"-o", "ssl_chain_cert"}, "Missing ssl_chain_cert argument", false},
		{[]string{"-o", "proxy_config=x"}, "-o proxy_config is not supported", false},
		// bad values and memcached's checks
		{[]string{"-p", "abc"}, `-p: "abc" is not a whole number`, false},
		{[]string{"-p", "70000"}, "ERROR: Invalid port number 70000.", false},
		{[]string{"-U", "70000"}, "ERROR: Invalid port number 70000.", false}, // the TCP port, as memcached
		{[]string{"-p", "1", "-U", "70000"}, "-U 70000: the UDP port must be -1 (any), 0 (off) or up to 65535", false},
		{[]string{"-a", "888"}, `-a: "888" is not an octal mask such as 700`, false},
		{[]string{"-a", "1777"}, "-a 1777: the unix socket mask must be an octal number no larger than 777", false},
		{[]string{"-s", ""}, "-s: the unix socket path is empty", false},
		{[]string{"-l", ""}, "-l: the listen address is empty", false},
		{[]string{"-l", "127.0.0.1:abc"}, `Invalid port number: "abc"`, false},
		{[]string{"-l", "[::1"}, `Invalid IPV6 address: "[::1"`, false},
		{[]string{"-m", "10g"}, `-m: "10g" is not a whole number of megabytes`, false},
		{[]string{"-m", "-1"}, `-m: "-1" is not a whole number of megabytes`, false},
		{[]string{"-m", "0"}, "Cannot set item size limit higher than 1/2 of memory max.", false},
		{[]string{"-m", "1"}, "Cannot set item size limit higher than 1/2 of memory max.", false},
		{[]string{"-m", "200000"}, "-m 200000: at most 131070 megabytes", false},
		{[]string{"-t", "2", "-N", "3"}, "Number of napi_ids(3) cannot be greater than number of threads(2)", false},
		{[]string{"-N", "-1"}, "-N must not be negative", false},
		{[]string{"-N", "x"}, `-N: "x" is not a whole number`, false},
		{[]string{"-c", "0"}, "Maximum connections must be greater than 0", false},
		{[]string{"-c", "abc"}, `-c: "abc" is not a whole number`, false},
		{[]string{"-t", "0"}, "Number of threads must be greater than 0", false},
		{[]string{"-R", "0"}, "Number of requests per event must be greater than 0", false},
		{[]string{"-f", "1"}, "Factor must be greater than 1", false},
		{[]string{"-f", "0.9"}, "Factor must be greater than 1", false},
		{[]string{"-f", "abc"}, `-f: "abc" is not a number`, false},
		{[]string{"-n", "0"}, "Chunk size must be greater than 0", false},
		{[]string{"-n", "-3"}, "Chunk size must be greater than 0", false},
		{[]string{"-b", "abc"}, `-b: "abc" is not a whole number`, false},
		{[]string{"-b", "0"}, "the listen backlog (-b) must be greater than 0", false},
		{[]string{"-B", "foo"}, "Invalid value for binding protocol: foo\n -- should be one of auto, binary, or ascii", false},
		{[]string{"-D", ""}, "No delimiter specified", false},
		{[]string{"-I", "1000"}, "Item max size cannot be less than 1024 bytes.", false},
		{[]string{"-I", "1k"}, "slab_chunk_max (bytes: 524288) cannot be larger than -I (item_size_max 1024)", false},
		{[]string{"-I", "1023k"}, "-I (item_size_max: 1047552) must be evenly divisible by slab_chunk_max (bytes: 524288)", false},
		{[]string{"-I", "33m"}, "Cannot set item size limit higher than 1/2 of memory max.", false},
		{[]string{"-I", "2g", "-m", "8192"}, "Cannot set item size limit higher than a gigabyte.", false},
		{[]string{"-I", "abc"}, `-I: "abc" is not a size (bytes, or a number with k, m or g)`, false},
		{[]string{"-I", "1m1"}, `-I: "1m1" is not a size`, false},
		{[]string{"-I", "99999999g"}, `-I: "99999999g" is too large`, false},
		{[]string{"--verbose=x"}, `--verbose: "x" is not a verbosity level (0 to 3)`, false},
		// unsupported options are named
		{[]string{"-S"}, "-S needs MEMCACHED_SASL_PWDB", false},
		{[]string{"-S", "-B", "auto"}, "ERROR: You cannot allow the ASCII protocol while using SASL.", false},
		{[]string{"-S", "-B", "ascii"}, "ERROR: You cannot allow the ASCII protocol while using SASL.", false},
		{[]string{"-S", "-U", "11211"}, "ERROR: Cannot enable UDP while using binary SASL authentication.", false},
		{[]string{"-Y", "/tmp/auth", "-B", "auto"}, "ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens.", false},
		{[]string{"-Y", "/tmp/auth", "-U", "11211"}, "Cannot use UDP with ascii authentication enabled (-U 0 to disable)", false},
		{[]string{"-Z", "-p", "0"}, "ERROR: You cannot enable SSL without a TCP port.", false},
		{[]string{"-l", "notls:127.0.0.1"}, "'notls' option is valid only when SSL is enabled", false},
		// clustering
		{[]string{"--cluster-join"}, "option '--cluster-join' requires an argument", true},
		{[]string{"--cluster-join=10.0.0.1:x"}, `--cluster-join: "10.0.0.1:x": bad port`, false},
		{[]string{"--cluster-join=a,,b"}, `--cluster-join: empty address in "a,,b"`, false},
		{[]string{"--cluster-name", "n 1"}, `--cluster-name: "n 1": want a name without spaces or '|'`, false},
		{[]string{"--cluster-bind=7946"}, `--cluster-bind: "7946": want host:port`, false},
		{[]string{"--cluster-advertise=10.0.0.1:0"}, `--cluster-advertise: "10.0.0.1:0": bad port`, false},
		{[]string{"--cluster-weight=0"}, `--cluster-weight: "0": want a whole number from 1 to 1000000`, false},
		{[]string{"--cluster-placement=modula"}, `--cluster-placement: "modula": want ketama, ketama-md5, ch3 or jump`, false},
		{[]string{"--cluster-retry-join=soon"}, `--cluster-retry-join: "soon" is not a duration`, false},
		{[]string{"--cluster-keyring=/nonexistent/keyring"}, "--cluster-keyring: ", false},
		{[]string{"--cluster", "-s", "/tmp/mc.sock"}, "--cluster needs a network address: -s /tmp/mc.sock disables network support", false},
		{[]string{"--metrics-listen=9151"}, "--metrics-listen: want host:port (or off), got 9151", false},
	}
	for _, tc := range tests {
		_, err := parseArgs(tc.args, false)
		if err == nil {
			t.Errorf("%q: accepted, want error %q", tc.args, tc.err)
			continue
		}
		if !strings.HasPrefix(err.Error(), tc.err) {
			t.Errorf("%q: error %q, want %q", tc.args, err, tc.err)
		}
		var out, errOut bytes.Buffer
		want, wantOut := exitUsage, "slabcached: "+err.Error()+"\n"
		if tc.getopt {
			want = exitFail
			if !strings.HasPrefix(err.Error(), "Illegal suboption") {
				wantOut += "Illegal argument \"?\"\n"
			}
		}
		if code := run(tc.args, &out, &errOut, false); code != want {
			t.Errorf("%q: exit code %d, want %d", tc.args, code, want)
		}
		if errOut.String() != wantOut {
			t.Errorf("%q: printed %q, want %q", tc.args, errOut.String(), wantOut)
		}
	}
}

// -S turns SASL on, with the binary protocol unless -B says binary
// itself, and the password file from MEMCACHED_SASL_PWDB.
func TestSASLFlag(t *testing.T) {
	t.Setenv("MEMCACHED_SASL_PWDB", "/etc/slabcached/sasl-pwdb")
	for _, args := range [][]string{{"-S"}, {"-S", "-B", "binary"}, {"--enable-sasl"}} {
		cmd, err := parseArgs(args, false)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		s := cmd.settings
		if !s.SASL || s.Protocol != server.ProtocolBinary || s.SASLPasswords != "/etc/slabcached/sasl-pwdb" {
			t.Errorf("%q: SASL %v protocol %q passwords %q", args, s.SASL, s.Protocol, s.SASLPasswords)
		}
	}
}

// TestNoticesAndRefusals: every option of the table with a noEffect text
// gives that notice, once, in each form it can be given in, and every
// refused option is refused with its reason, whatever its value.
func TestNoticesAndRefusals(t *testing.T) {
	// A valid value for the options that take one.
	values := map[string]string{
		"max-reqs-per-event": "5", "listen-backlog": "16", "tail_repair_time": "20", "hash_algorithm": "murmur3",
		"read_buf_mem_limit": "32", "resp_obj_mem_limit": "5", "worker_logbuf_size": "128",
		"memory-file": "/tmp/slabcached.mem", "sock_cookie_id": "3", "slab_automove_freeratio": "0.05",
		"slab_sizes": "96-200-400", "napi-ids": "2", "ext_path": "/tmp/ext:64m",
		"ext_page_size": "4", "ext_wbuf_size": "8", "ext_threads": "2", "ext_io_depth": "3", "ext_item_size": "100",
		"ext_item_age": "5", "ext_low_ttl": "3", "ext_recache_rate": "7", "ext_compact_under": "2", "ext_drop_under": "1",
		"ext_max_frag": "0.5", "ext_max_sleep": "9",
	}
	for _, o := range options {
		if o.noEffect == "" && o.refused == "" {
			continue
		}
		val, hasVal := values[o.long]
		if o.refused != "" {
			val, hasVal = "x", true
		}
		if o.arg == requiredArg && !hasVal {
			t.Errorf("%s: no test value", o.name(false))
			continue
		}
		var forms [][]string
		if o.kind == suboption {
			if o.arg != noArg || o.refused != "" {
				forms = append(forms, []string{"-o", o.long + "=" + val}, []string{"--extended=" + o.long + "=" + val})
			}
			if o.arg != requiredArg || o.refused != "" {
				forms = append(forms, []string{"-o", o.long})
			}
		} else {
			arg := []string{}
			if o.arg == requiredArg {
				arg = []string{val}
			}
			if o.short != 0 {
				forms = append(forms, append([]string{"-" + string(o.short)}, arg...))
			}
			if o.long != "" {
				forms = append(forms, append([]string{"--" + o.long}, arg...))
			}
		}
		for _, args := range forms {
			cmd, err := parseArgs(args, false)
			if o.refused != "" {
				if want := o.name(true) + " " + o.refused; err == nil || err.Error() != want {
					t.Errorf("%q: error %v, want %q", args, err, want)
				}
				continue
			}
			if err != nil {
				t.Errorf("%q: %v", args, err)
				continue
			}
			if !slices.Contains(cmd.notices, o.noEffect) {
				t.Errorf("%q: notices %q lack %q", args, cmd.notices, o.noEffect)
			}
			// Given twice, the option is named once.
			cmd, err = parseArgs(append(slices.Clone(args), args...), false)
			if err != nil || len(slices.DeleteFunc(cmd.notices, func(n string) bool { return n != o.noEffect })) != 1 {
				t.Errorf("%q twice: notices %q, %v", args, cmd.notices, err)
			}
		}
	}
	// no_modern's one notice is its hash; its no_maxconns_fast takes effect.
	cmd, err := parseArgs([]string{"-o", "no_modern"}, false)
	if err != nil || len(cmd.notices) != 1 || cmd.settings.MaxConnsFast {
		t.Errorf("-o no_modern: notices %q, maxconns_fast %v, %v", cmd.notices, cmd.settings.MaxConnsFast, err)
	}
}

func TestUserFlag(t *testing.T) {
	cmd, err := parseArgs([]string{"-u", "memcache"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if cmd.settings.User != "" || len(cmd.notices) != 1 || !strings.Contains(cmd.notices[0], "-u memcache ignored: slabcached is not running as root") {
		t.Errorf("-u as non-root: user %q, notices %q", cmd.settings.User, cmd.notices)
	}
	cmd, err = parseArgs([]string{"--user=memcache"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if cmd.settings.User != "memcache" || len(cmd.notices) != 0 {
		t.Errorf("-u as root: user %q, notices %q", cmd.settings.User, cmd.notices)
	}
	cmd, err = parseArgs(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(cmd.notices) != 1 || !strings.Contains(cmd.notices[0], "running as root without -u") {
		t.Errorf("root without -u: notices %q", cmd.notices)
	}
}

func TestHighThreadCountWarns(t *testing.T) {
	cmd, err := parseArgs([]string{"-t", "100"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(cmd.notices) != 1 || !strings.HasPrefix(cmd.notices[0], "WARNING: Setting a high number of workerthreads") {
		t.Errorf("notices %q", cmd.notices)
	}
}

func TestRunHelpAndVersion(t *testing.T) {
	// As in memcached, -h and -V act as soon as they are read: what follows
	// is not looked at, what precedes must be valid.
	for _, args := range [][]string{{"-h"}, {"--help"}, {"--he"}, {"-h", "-z"}, {"-vh"}, {"-hz"}, {"-h", "-c", "0"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut, false); code != exitOK {
			t.Errorf("%q: exit %d, want 0", args, code)
		}
		if !strings.Contains(out.String(), "-p, --port=<num>") || errOut.Len() != 0 {
			t.Errorf("%q: usage not on stdout:\n%s\n%s", args, out.String(), errOut.String())
		}
	}
	for _, args := range [][]string{{"-V"}, {"--version"}, {"-V", "-z"}, {"-vV"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut, false); code != exitOK || !strings.HasPrefix(out.String(), "slabcached ") {
			t.Errorf("%q: exit %d, output %q", args, code, out.String())
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"-z", "-h"}, &out, &errOut, false); code != exitFail {
		t.Errorf("-z -h: exit %d, want %d", code, exitFail)
	}
}

// TestUsageListsEveryOption keeps the help text in step with the option table.
func TestUsageListsEveryOption(t *testing.T) {
	var b bytes.Buffer
	printUsage(&b)
	u := b.String()
	for _, o := range options {
		switch {
		case o.kind == suboption && strings.HasPrefix(o.long, "ext_"):
			// Tools (memcached's own tests among them) decide that a
			// server has extstore when -h names ext_path.
			if strings.Contains(u, o.long) {
				t.Errorf("usage names -o %s, but there is no extstore", o.long)
			}
		case o.kind == suboption:
			if o.refused == "" && !strings.Contains(u, o.long) && !strings.Contains(u, strings.TrimPrefix(o.long, "no_")) {
				t.Errorf("usage lacks -o %s", o.long)
			}
		case o.long != "" && !strings.Contains(u, "--"+o.long) && o.refused == "":
			t.Errorf("usage lacks --%s", o.long)
		case o.short != 0 && !strings.Contains(u, "-"+string(o.short)):
			t.Errorf("usage lacks -%c", o.short)
		}
	}
}

// TestDocsListEveryOption keeps docs/flags.md in step with the option table.
func TestDocsListEveryOption(t *testing.T) {
	doc, err := os.ReadFile("../../docs/flags.md")
	if err != nil {
		t.Fatal(err)
	}
	d := string(doc)
	for _, o := range options {
		if o.kind == suboption {
			if o.refused == "" && !strings.Contains(d, o.long) {
				t.Errorf("docs/flags.md lacks -o %s", o.long)
			}
			continue
		}
		if o.long != "" && !strings.Contains(d, "--"+o.long) {
			t.Errorf("docs/flags.md lacks --%s", o.long)
		}
		if o.short != 0 && !strings.Contains(d, "`-"+string(o.short)) {
			t.Errorf("docs/flags.md lacks -%c", o.short)
		}
	}
}

// memcachedStatsSettings reads "stats settings" from a running server.
func memcachedStatsSettings(t *testing.T, addr string) []server.Stat {
	t.Helper()
	var out []server.Stat
	for _, st := range mctest.Stats(t, addr, "settings") {
		out = append(out, server.Stat{Name: st.Name, Value: st.Value})
	}
	return out
}

// TestFlagsMatchMemcached starts memcached 1.6.45 with a command line, parses
// the same command line with our parser, and compares memcached's "stats
// settings" with ours: the same names in the same order and equal values,
// except for settings that mean something else in slabcached.
func TestFlagsMatchMemcached(t *testing.T) {
	cases := [][]string{
		{},
		{"-t", "4"},
		{"-m", "128", "-c", "100", "-t", "3", "-f", "1.5", "-n", "64", "-C", "-M", "-A", "-F", "-X", "-R", "7", "-b", "77", "-I", "2m", "-vv", "-D", "%"},
		{"--memory-limit=32", "--conn-limit=50", "--threads=2", "--slab-growth-factor=1.08", "--slab-min-size=32", "--disable-cas",
			"--disable-evictions", "--enable-shutdown", "--disable-flush-all", "--disable-dumping", "--max-reqs-per-event=3",
			"--listen-backlog=9", "--max-item-size=512k", "--verbose", "--protocol=ascii"},
		{"-o", "slab_chunk_max=256,hot_lru_pct=30,warm_lru_pct=30,hot_max_factor=0.5,warm_max_factor=3,temporary_ttl=30," +
			"idle_timeout=9,slab_automove=2,hashpower=20,lru_crawler_tocrawl=5,lru_crawler_sleep=50,read_buf_mem_limit=3," +
			"track_sizes,tail_repair_time=20,no_maxconns_fast,slab_automove_ratio=0.5,slab_automove_window=10," +
			"watcher_logbuf_size=128,worker_logbuf_size=32"},
		{"-o", "no_modern"},
		{"-o", "no_lru_crawler,no_lru_maintainer,no_slab_reassign,no_slab_automove"},
		{"-o", "slab_chunk_max=1", "-I", "1k", "-m", "8"},
		{"-I", "4m", "-o", "no_chunked_items"},
		{"-o", "modern,no_hashexpand,inline_ascii_resp,maxconns_fast,lru_maintainer,lru_crawler,slab_reassign,slab_automove"},
		// extstore's tunables without ext_path: kept and reported.
		{"-o", "ext_item_size=100,ext_item_age=5,ext_low_ttl=3,ext_recache_rate=7,ext_wbuf_size=8,ext_compact_under=2," +
			"ext_drop_under=1,ext_max_sleep=9,ext_max_frag=0x1p-3,ext_drop_unread=x,slab_automove_freeratio=0.05," +
			"ext_page_size=4,ext_threads=2,ext_io_depth=3"},
		{"-o", "ext_wbuf_size=4096,ext_max_frag=-inf,slab_automove_freeratio=nan"},
	}
	for _, extra := range cases {
		t.Run(strings.Join(extra, " "), func(t *testing.T) {
			addr := testenv.StartReference(t, extra...)
			_, port, _ := net.SplitHostPort(addr)
			// The command line testenv gave memcached, plus ours.
			args := append([]string{"-l", "127.0.0.1", "-p", port, "-U", "0"}, extra...)
			if os.Geteuid() == 0 {
				args = append(args, "-u", "root")
			}
			cmd, err := parseArgs(args, os.Geteuid() == 0)
			if err != nil {
				t.Fatalf("memcached accepts %q, we refuse: %v", args, err)
			}
			differ := map[string]bool{"hash_algorithm": true}
			if !strings.Contains(strings.Join(args, " "), "-t") {
				differ["num_threads"], differ["num_threads_per_udp"] = true, true // default: CPUs here, 4 in memcached
			}
			mc, ours := memcachedStatsSettings(t, addr), cmd.settings.StatsSettings(0)
			// slabcached's own settings come after memcached's.
			own := map[string]bool{"warmup_secs": true, "warmup_rate": true, "drain_secs": true, "invalidation_broadcast": true, "eviction": true, "lru_stripes": true}
			for len(ours) > 0 && (strings.HasPrefix(ours[len(ours)-1].Name, "hotkey") || own[ours[len(ours)-1].Name]) {
				ours = ours[:len(ours)-1]
			}
			if len(mc) != len(ours) {
				t.Errorf("memcached prints %d settings, we print %d", len(mc), len(ours))
			}
			for i := 0; i < min(len(mc), len(ours)); i++ {
				if mc[i].Name != ours[i].Name {
					t.Fatalf("setting %d: memcached %q, we %q", i, mc[i].Name, ours[i].Name)
				}
				if mc[i].Value != ours[i].Value && !differ[mc[i].Name] {
					t.Errorf("%s: memcached %q, slabcached %q", mc[i].Name, mc[i].Value, ours[i].Value)
				}
			}
		})
	}
}

// Every option and -o suboption that memcached 1.6.45's -h lists is
// accepted by slabcached (honoured, or accepted with a notice), except the
// TLS ones, refused on purpose (docs/compat.md). The list comes from the
// reference memcached itself.
func TestEveryMemcachedOptionAccepted(t *testing.T) {
	ref := testenv.ReferenceMemcached(t)
	out, _ := exec.Command(ref, "-h").CombinedOutput()
	// (memcached's help spells --napi-ids as --napi_ids; getopt takes the
	// former.)
	longRE := regexp.MustCompile(`(?m)^-([a-zA-Z]),?\s+--([a-z_-]+)(=<[a-z]+>)?`)
	subRE := regexp.MustCompile(`(?m)^   - ([a-z_]+):`)
	// Values that suit each option taking one.
	value := map[string]string{
		"port": "11311", "udp-port": "11311", "unix-socket": "/tmp/slabcached-test.sock", "unix-mask": "700",
		"listen": "127.0.0.1", "user": "nobody", "memory-limit": "128", "conn-limit": "100", "pidfile": "/tmp/p",
		"slab-growth-factor": "1.5", "slab-min-size": "64", "threads": "2", "max-reqs-per-event": "5",
		"listen-backlog": "64", "protocol": "binary", "max-item-size": "2m", "auth-file": "/tmp/auth",
		"memory-file": "/tmp/mem", "napi-ids": "2",
		"hashpower": "16", "tail_repair_time": "20", "hash_algorithm": "murmur3", "lru_crawler_sleep": "50",
		"lru_crawler_tocrawl": "5", "read_buf_mem_limit": "3", "hot_lru_pct": "20", "warm_lru_pct": "40",
		"hot_max_factor": "0.2", "warm_max_factor": "2", "temporary_ttl": "30", "idle_timeout": "9",
		"slab_chunk_max": "256", "watcher_logbuf_size": "128", "worker_logbuf_size": "32",
		"ssl_chain_cert": "/tmp/c.pem", "ssl_key": "/tmp/k.pem", "ssl_keyformat": "1", "ssl_verify_mode": "1",
		"ssl_ciphers": "AES128-SHA", "ssl_ca_cert": "/tmp/ca.pem", "ssl_wbuf_size": "16", "ssl_min_version": "2",
		"sock_cookie_id": "1", "slab_automove_freeratio": "0.05", "ext_path": "/tmp/ext:64m",
		"ext_page_size": "4", "ext_wbuf_size": "8", "ext_threads": "2", "ext_io_depth": "3", "ext_item_size": "100",
		"ext_item_age": "5", "ext_low_ttl": "3", "ext_recache_rate": "7", "ext_compact_under": "2", "ext_drop_under": "1",
		"ext_max_frag": "0.5", "ext_max_sleep": "9",
	}
	checked := 0
	for _, m := range longRE.FindAllStringSubmatch(string(out), -1) {
		short, long := m[1], strings.ReplaceAll(m[2], "_", "-")
		if short == "h" || short == "V" || short == "i" || short == "o" {
			continue // print and exit; -o is the suboptions below
		}
		args := []string{"--" + long}
		if v, ok := value[long]; ok {
			args = append(args, v)
		} else if m[3] != "" {
			t.Errorf("--%s takes a value the test does not know", long)
			continue
		}
		if _, err := parseArgs(args, false); err != nil {
			t.Errorf("memcached takes %q, slabcached refuses it: %v", args, err)
		}
		checked++
	}
	for _, m := range subRE.FindAllStringSubmatch(string(out), -1) {
		name := m[1]
		arg := name
		if v, ok := value[name]; ok {
			arg += "=" + v
		}
		if _, err := parseArgs([]string{"-o", arg}, false); err != nil {
			t.Errorf("memcached takes -o %s, slabcached refuses it: %v", arg, err)
		}
		checked++
	}
	if checked < 60 {
		t.Fatalf("only %d options found in memcached's help", checked)
	}
}

// With -Z and every ssl_* option, stats settings reports the TLS settings
// as memcached 1.6.45 does (read from a notls: listener of each).
func TestTLSFlagsMatchMemcached(t *testing.T) {
	certs := testenv.WriteCerts(t)
	plain := testenv.FreePort(t)
	extra := []string{"-Z", "-o", "ssl_chain_cert=" + certs.ServerCert + ",ssl_key=" + certs.ServerKey +
		",ssl_ca_cert=" + certs.CA + ",ssl_verify_mode=2,ssl_min_version=3,ssl_session_cache,ssl_wbuf_size=32,ssl_kernel_tls" +
		",ssl_ciphers=ECDHE-RSA-AES128-GCM-SHA256",
		"-l", "notls:127.0.0.1:" + strconv.Itoa(plain)}
	addr := testenv.StartReference(t, extra...)
	_, port, _ := net.SplitHostPort(addr)
	cmd, err := parseArgs(append([]string{"-l", "127.0.0.1", "-p", port, "-U", "0"}, extra...), false)
	if err != nil {
		t.Fatal(err)
	}
	mc := map[string]string{}
	for _, st := range memcachedStatsSettings(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(plain))) {
		mc[st.Name] = st.Value
	}
	n := 0
	for _, st := range cmd.settings.StatsSettings(0) {
		if !strings.HasPrefix(st.Name, "ssl_") {
			continue
		}
		n++
		if mc[st.Name] != st.Value {
			t.Errorf("%s: memcached %q, slabcached %q", st.Name, mc[st.Name], st.Value)
		}
	}
	if n != 11 {
		t.Errorf("%d ssl_ settings, want 11", n)
	}
}
