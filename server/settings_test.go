package server

import (
	"fmt"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/mctest"
	"github.com/slabcache/slabcache/internal/testenv"
)

func TestDefaultSettings(t *testing.T) {
	s := DefaultSettings()
	if err := s.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if s.Listen != "127.0.0.1" || s.Port != 11211 || s.UDPPort != 0 || s.MaxBytes != 64<<20 ||
		s.MaxConns != 1024 || s.ItemSizeMax != 1<<20 || s.Factor != 1.25 || s.ChunkSize != 48 ||
		s.Threads != runtime.NumCPU() || !s.CASEnabled || !s.EvictToFree || s.SlabChunkMax != 512<<10 ||
		s.HotLRUPct != 20 || s.WarmLRUPct != 40 || s.TemporaryTTL != 61 || s.IdleTimeout != 0 {
		t.Errorf("unexpected defaults: %+v", s)
	}
	if w := s.Warnings(); len(w) != 0 {
		t.Errorf("defaults warn: %q", w)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(s *Settings)
		want   string // "" = valid
	}{
		{"maxconns 0", func(s *Settings) { s.MaxConns = 0 }, "Maximum connections must be greater than 0"},
		{"reqs per event 0", func(s *Settings) { s.ReqsPerEvent = 0 }, "Number of requests per event must be greater than 0"},
		{"factor 1", func(s *Settings) { s.Factor = 1 }, "Factor must be greater than 1"},
		{"chunk size 0", func(s *Settings) { s.ChunkSize = 0 }, "Chunk size must be greater than 0"},
		{"chunk size negative", func(s *Settings) { s.ChunkSize = -3 }, "Chunk size must be greater than 0"},
		{"threads 0", func(s *Settings) { s.Threads = 0 }, "Number of threads must be greater than 0"},
		{"protocol binary", func(s *Settings) { s.Protocol = "binary" }, ""},
		{"protocol bogus", func(s *Settings) { s.Protocol = "bogus" }, "Invalid value for binding protocol: bogus\n -- should be one of auto, binary, or ascii"},
		{"sasl without binary", func(s *Settings) { s.SASL, s.SASLPasswords = true, "/x" }, "ERROR: You cannot allow the ASCII protocol while using SASL."},
		{"protocol ascii", func(s *Settings) { s.Protocol = ProtocolASCII }, ""},
		{"hashpower 11", func(s *Settings) { s.HashPower = 11 }, "Initial hashtable multiplier of 11 is too low"},
		{"hashpower 33", func(s *Settings) { s.HashPower = 33 }, "Initial hashtable multiplier of 33 is too high\nChoose a value based on \"STAT hash_power_level\" from a running instance"},
		{"hashpower 20", func(s *Settings) { s.HashPower = 20 }, ""},
		{"automove 3", func(s *Settings) { s.SlabAutomove = 3 }, "slab_automove must be between 0 and 2"},
		{"automove ratio 0", func(s *Settings) { s.SlabAutomoveRatio = 0 }, "slab_automove_ratio must be > 0 and < 1"},
		{"automove window 2", func(s *Settings) { s.SlabAutomoveWindow = 2 }, "slab_automove_window must be > 2"},
		{"tail repair 5", func(s *Settings) { s.TailRepairTime = 5 }, "Cannot set tail_repair_time to less than 10 seconds"},
		{"crawler sleep", func(s *Settings) { s.LRUCrawlerSleep = 1000001 }, "LRU crawler sleep must be between 0 and 1 second"},
		{"hot pct 80", func(s *Settings) { s.HotLRUPct = 80 }, "hot_lru_pct must be > 1 and < 80"},
		{"warm pct 0", func(s *Settings) { s.WarmLRUPct = 0 }, "warm_lru_pct must be > 1 and < 80"},
		{"hot factor 0", func(s *Settings) { s.HotMaxFactor = 0 }, "hot_max_factor must be > 0"},
		{"warm factor -1", func(s *Settings) { s.WarmMaxFactor = -1 }, "warm_max_factor must be > 0"},
		{"item size 1000", func(s *Settings) { s.ItemSizeMax = 1000 }, "Item max size cannot be less than 1024 bytes."},
		{"item size over half of -m", func(s *Settings) { s.ItemSizeMax = 33 << 20; s.SlabChunkMax = 1 << 20 }, "Cannot set item size limit higher than 1/2 of memory max."},
		{"item size half of -m", func(s *Settings) { s.ItemSizeMax = 32 << 20 }, ""},
		{"item size over 1g", func(s *Settings) { s.MaxBytes = 4 << 30; s.ItemSizeMax = 1<<30 + 512<<10 }, "Cannot set item size limit higher than a gigabyte."},
		{"item size 1g", func(s *Settings) { s.MaxBytes = 4 << 30; s.ItemSizeMax = 1 << 30 }, ""},
		{"chunk max over -I", func(s *Settings) { s.ItemSizeMax = 1024 }, "slab_chunk_max (bytes: 524288) cannot be larger than -I (item_size_max 1024)"},
		{"-I 1k with chunk max 1k", func(s *Settings) { s.ItemSizeMax = 1024; s.SlabChunkMax = 1024 }, ""},
		{"-I not divisible", func(s *Settings) { s.ItemSizeMax = 1023 << 10 }, "-I (item_size_max: 1047552) must be evenly divisible by slab_chunk_max (bytes: 524288)"},
		{"chunk max not dividing the page", func(s *Settings) { s.ItemSizeMax = 3 << 20; s.SlabChunkMax = 3 << 19 }, "slab_chunk_max (bytes: 1572864) must divide evenly into 1048576 (slab_page_size)"},
		{"chunk max 0", func(s *Settings) { s.SlabChunkMax = 0 }, "slab_chunk_max (bytes: 0) must be greater than 0"},
		{"slab_sizes", func(s *Settings) { s.SlabSizes = "100-200--4000 " }, ""},
		{"slab_sizes under -n", func(s *Settings) { s.SlabSizes = "40-100" }, "slab size 40 is out of valid range"},
		{"slab_sizes -n 8, under 32", func(s *Settings) { s.ChunkSize, s.SlabSizes = 8, "24-100" }, "slab size 24 is out of valid range"},
		{"slab_sizes over slab_chunk_max", func(s *Settings) { s.SlabSizes = "100-600000" }, "slab size 600000 is out of valid range"},
		{"slab_sizes not a number", func(s *Settings) { s.SlabSizes = "100-2x" }, "slab size 0 is out of valid range"},
		{"slab_sizes decreasing", func(s *Settings) { s.SlabSizes = "200-100" }, "slab size 100 cannot be lower than or equal to a previous class size"},
		{"slab_sizes too close", func(s *Settings) { s.SlabSizes = "100-108" }, "slab size 108 must be at least 8 bytes larger than previous class"},
		{"slab_sizes 62", func(s *Settings) { s.SlabSizes = slabSizesList(62) }, ""},
		{"slab_sizes 63", func(s *Settings) { s.SlabSizes = slabSizesList(63) }, "too many slab classes specified"},
		{"slab_sizes before hot+warm", func(s *Settings) { s.SlabSizes, s.HotLRUPct, s.WarmLRUPct = "1", 41, 40 }, "slab size 1 is out of valid range"},
		{"hot+warm over 80", func(s *Settings) { s.HotLRUPct, s.WarmLRUPct = 41, 40 }, "hot_lru_pct + warm_lru_pct cannot be more than 80% combined"},
		{"hot+warm 80", func(s *Settings) { s.HotLRUPct, s.WarmLRUPct = 40, 40 }, ""},
		{"temp lru without maintainer", func(s *Settings) { s.TempLRU, s.LRUMaintainer = true, false }, "temporary_ttl requires lru_maintainer to be enabled"},
		{"port 70000", func(s *Settings) { s.Port = 70000 }, "ERROR: Invalid port number 70000."},
		{"port -2", func(s *Settings) { s.Port = -2 }, "ERROR: Invalid port number -2."},
		{"port -1", func(s *Settings) { s.Port = -1 }, ""},
		{"port 0", func(s *Settings) { s.Port = 0 }, ""},
		{"udp", func(s *Settings) { s.UDPPort = 11211 }, ""},
		{"udp port too high", func(s *Settings) { s.UDPPort = 65536 }, "-U 65536: the UDP port must be -1 (any), 0 (off) or up to 65535"},
		{"-m 0", func(s *Settings) { s.MaxBytes = 0 }, "Cannot set item size limit higher than 1/2 of memory max."},
		{"-m 1 with -I 512k", func(s *Settings) { s.MaxBytes = 1 << 20; s.ItemSizeMax = 512 << 10 }, ""},
		{"-m 1", func(s *Settings) { s.MaxBytes = 1 << 20 }, "Cannot set item size limit higher than 1/2 of memory max."},
		{"mask", func(s *Settings) { s.SocketMask = 0o1777 }, "-a 1777: the unix socket mask must be an octal number no larger than 777"},
		{"idle timeout", func(s *Settings) { s.IdleTimeout = -1 }, "idle_timeout must not be negative (0 disables it)"},
		{"bad listen port", func(s *Settings) { s.Listen = "127.0.0.1:abc" }, `Invalid port number: "abc"`},
		{"bad listen v6", func(s *Settings) { s.Listen = "[::1" }, `Invalid IPV6 address: "[::1"`},
		{"bad listen ignored with a unix socket", func(s *Settings) { s.Listen = "[::1"; s.SocketPath = "/tmp/x.sock" }, ""},
		{"notls", func(s *Settings) { s.Listen = "notls:127.0.0.1" }, "'notls' option is valid only when SSL is enabled"},
		{"detail without delimiter", func(s *Settings) { s.DetailEnabled, s.PrefixDelimiter = true, 0 }, "No delimiter specified"},
	}
	for _, tc := range tests {
		s := DefaultSettings()
		tc.change(&s)
		err := s.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: unexpected error %q", tc.name, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestWarnings(t *testing.T) {
	s := DefaultSettings()
	s.Threads = 65
	w := s.Warnings()
	if len(w) != 1 || !strings.HasPrefix(w[0], "WARNING: Setting a high number of workerthreads is not recommended.") {
		t.Errorf("warnings for -t 65: %q", w)
	}
	if err := s.Validate(); err != nil {
		t.Errorf("-t 65 is refused: %v", err)
	}
}

func TestListenAddrs(t *testing.T) {
	tests := []struct {
		listen string
		port   int
		want   string
	}{
		{"127.0.0.1", 11211, "127.0.0.1:11211"},
		{"", 11211, ":11211"},
		{"*", 5000, ":5000"},
		{"127.0.0.1,10.0.0.1:11311", 11211, "127.0.0.1:11211 10.0.0.1:11311"},
		{"127.0.0.1;127.0.0.2", 7, "127.0.0.1:7 127.0.0.2:7"},
		{"::1", 11211, "[::1]:11211"},
		{"[::1]:11311", 11211, "[::1]:11311"},
		{"[::1]", 11211, "[::1]:11211"},
		{"localhost:0", 11211, "localhost:0"},
	}
	for _, tc := range tests {
		s := DefaultSettings()
		s.Listen, s.Port = tc.listen, tc.port
		got, err := s.ListenAddrs()
		if err != nil {
			t.Errorf("ListenAddrs(%q): %v", tc.listen, err)
			continue
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("ListenAddrs(%q, %d) = %q, want %q", tc.listen, tc.port, got, tc.want)
		}
	}
	for _, bad := range []string{"127.0.0.1:70000", "127.0.0.1:", "[::1]:x", "[::1"} {
		s := DefaultSettings()
		s.Listen = bad
		if got, err := s.ListenAddrs(); err == nil {
			t.Errorf("ListenAddrs(%q) = %q, want an error", bad, got)
		}
	}
}

// statsSettings asks a running server for "stats settings".
func statsSettings(t *testing.T, addr string) []Stat {
	t.Helper()
	var out []Stat
	for _, st := range mctest.Stats(t, addr, "settings") {
		out = append(out, Stat{st.Name, st.Value})
	}
	return out
}

// CompareStatsSettings checks ours against memcached's: the same names in
// the same order, and equal values except for the names in differ.
func compareStatsSettings(t *testing.T, mc, ours []Stat, differ map[string]bool) {
	t.Helper()
	// slabcached's own settings (hot keys, warm-up) come after memcached's.
	own := 0
	for own < len(ours) && isOwnSetting(ours[len(ours)-1-own].Name) {
		own++
	}
	if own != 13 {
		t.Errorf("stats settings ends with %d settings of slabcached's own, want 13", own)
	}
	ours = ours[:len(ours)-own]
	if len(mc) != len(ours) {
		t.Errorf("memcached prints %d settings, we print %d", len(mc), len(ours))
	}
	for i := 0; i < min(len(mc), len(ours)); i++ {
		m, o := mc[i], ours[i]
		if m.Name != o.Name {
			t.Fatalf("setting %d: memcached prints %q, we print %q", i, m.Name, o.Name)
		}
		if m.Value != o.Value && !differ[m.Name] {
			t.Errorf("%s: memcached %q, slabcached %q", m.Name, m.Value, o.Value)
		}
	}
}

// TestStatsSettingsMatchesMemcached starts memcached 1.6.45 with some flags
// and compares its "stats settings" with ours for Settings that mean the
// same (the flag parser's own end-to-end comparison is in cmd/slabcached).
func TestStatsSettingsMatchesMemcached(t *testing.T) {
	cases := []struct {
		name   string
		flags  []string
		change func(s *Settings)
		differ map[string]bool // settings that do not mean the same thing
	}{
		{
			name:   "defaults",
			change: func(s *Settings) {},
			differ: map[string]bool{"num_threads": true, "num_threads_per_udp": true, "hash_algorithm": true},
		},
		{
			name: "many",
			flags: []string{"-m", "128", "-c", "100", "-t", "3", "-f", "1.5", "-n", "64", "-C", "-M", "-A", "-F", "-X",
				"-R", "7", "-b", "77", "-I", "2m", "-vv", "-D", "%", "-N", "2",
				"-o", "slab_chunk_max=256,hot_lru_pct=30,warm_lru_pct=30,hot_max_factor=0.5,warm_max_factor=3," +
					"temporary_ttl=30,idle_timeout=9,slab_automove=2,hashpower=20,lru_crawler_tocrawl=5,lru_crawler_sleep=50," +
					"read_buf_mem_limit=3,track_sizes,tail_repair_time=20,no_maxconns_fast,slab_automove_ratio=0.5,slab_automove_window=10"},
			change: func(s *Settings) {
				s.MaxBytes, s.MaxConns, s.Threads, s.Factor, s.ChunkSize = 128<<20, 100, 3, 1.5, 64
				s.CASEnabled, s.EvictToFree, s.ShutdownCommand, s.FlushEnabled, s.DumpEnabled = false, false, true, false, false
				s.ReqsPerEvent, s.Backlog, s.ItemSizeMax, s.Verbosity, s.NapiIDs = 7, 77, 2<<20, 2, 2
				s.DetailEnabled, s.PrefixDelimiter = true, '%'
				s.SlabChunkMax, s.HotLRUPct, s.WarmLRUPct, s.HotMaxFactor, s.WarmMaxFactor = 256<<10, 30, 30, 0.5, 3
				s.TempLRU, s.TemporaryTTL, s.IdleTimeout, s.SlabAutomove, s.HashPower = true, 30, 9, 2, 20
				s.LRUCrawlerToCrawl, s.LRUCrawlerSleep, s.ReadBufMemLimit, s.TrackSizes = 5, 50, 3<<20, true
				s.TailRepairTime, s.MaxConnsFast, s.SlabAutomoveRatio, s.SlabAutomoveWindow = 20, false, 0.5, 10
			},
			differ: map[string]bool{"hash_algorithm": true},
		},
		{
			name:  "no_modern",
			flags: []string{"-o", "no_modern"},
			change: func(s *Settings) {
				s.SlabChunkMax, s.SlabReassign, s.SlabAutomove, s.MaxConnsFast = SlabPageSize, false, 0, false
				s.LRUCrawler, s.LRUMaintainer, s.LRUSegmented = false, false, false
			},
			differ: map[string]bool{"num_threads": true, "num_threads_per_udp": true, "hash_algorithm": true},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := testenv.StartReference(t, tc.flags...)
			_, port, _ := net.SplitHostPort(addr)
			s := DefaultSettings()
			s.Port, _ = strconv.Atoi(port)
			tc.change(&s)
			if err := s.Validate(); err != nil {
				t.Fatalf("our settings do not validate: %v", err)
			}
			compareStatsSettings(t, statsSettings(t, addr), s.StatsSettings(0), tc.differ)
		})
	}
}

func TestStatsSettingsFormat(t *testing.T) {
	s := DefaultSettings()
	s.SocketPath, s.SocketMask, s.Listen, s.EvictToFree = "/tmp/mc.sock", 0o755, "", false
	s.Threads = 8
	got := map[string]string{}
	for _, st := range s.StatsSettings(42) {
		if _, dup := got[st.Name]; dup {
			t.Errorf("%s printed twice", st.Name)
		}
		got[st.Name] = st.Value
	}
	want := map[string]string{
		"domain_socket": "/tmp/mc.sock", "umask": "755", "inter": "NULL", "evictions": "off", "oldest": "42",
		"growth_factor": "1.25", "hot_max_factor": "0.20", "warm_max_factor": "2.00", "slab_automove_ratio": "0.80",
		"num_threads": "8", "num_threads_per_udp": "8", "stat_key_prefix": ":", "maxbytes": fmt.Sprint(64 << 20),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	s.Listen = "127.0.0.1,127.0.0.2"
	for _, st := range s.StatsSettings(0) {
		if st.Name == "num_threads_per_udp" && st.Value != "1" {
			t.Errorf("num_threads_per_udp with two interfaces = %s, want 1 as memcached", st.Value)
		}
	}
}

// isOwnSetting tells slabcached's own stats settings from memcached's.
func isOwnSetting(name string) bool {
	return strings.HasPrefix(name, "hotkey") || name == "warmup_secs" || name == "drain_secs" || name == "invalidation_broadcast" || name == "warmup_rate" || name == "eviction" || name == "lru_stripes"
}

// -o lru_stripes reaches the store (1 by default, memcached's order); 0
// follows -t: one list per class up to 4 event loops, then one per two
// loops, at most 16; stats settings prints the number in use. Other values
// are refused.
func TestLRUStripesSetting(t *testing.T) {
	for _, c := range []struct{ threads, stripes, want int }{
		{1, 0, 1}, {4, 0, 1}, {6, 0, 2}, {8, 0, 4}, {16, 0, 8}, {64, 0, 16}, {2, 8, 8}, {8, 1, 1},
	} {
		set := DefaultSettings()
		if set.LRUStripes != 1 || set.StoreConfig().LRUStripes != 1 {
			t.Fatalf("default lru_stripes %d, want 1 (memcached's order)", set.LRUStripes)
		}
		set.Threads, set.LRUStripes = c.threads, c.stripes
		if got := set.StoreConfig().LRUStripes; got != c.want {
			t.Errorf("-t %d -o lru_stripes=%d: the store gets %d stripes, want %d", c.threads, c.stripes, got, c.want)
		}
	}
	srv := startTestServer(t, func(s *Settings) { s.LRUStripes = 4 })
	if got := statLines(t, srv.Addr(), "stats settings")["lru_stripes"]; got != "4" {
		t.Errorf("lru_stripes=4: stats settings says %q", got)
	}
	if n := srv.store.LRUStripes(); n != 4 {
		t.Errorf("lru_stripes=4: the store has %d", n)
	}
	// Items of one class spread over the stripes; stats items counts them all.
	var req strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&req, "set key:%d 0 0 10 noreply\r\n0123456789\r\n", i)
	}
	req.WriteString("mn\r\n")
	if got := sendLines(t, srv.Addr(), req.String(), 1); got[0] != "MN\r\n" {
		t.Fatalf("sets answered %q", got)
	}
	items := statLines(t, srv.Addr(), "stats items")
	n := 0
	for k, v := range items {
		if strings.HasSuffix(k, ":number") {
			x, _ := strconv.Atoi(v)
			n += x
		}
	}
	if n != 1000 || statLines(t, srv.Addr(), "stats")["curr_items"] != "1000" {
		t.Errorf("stats items counts %d items, curr_items %s; want 1000", n, statLines(t, srv.Addr(), "stats")["curr_items"])
	}
	for _, n := range []int{3, 32, -2} {
		set := DefaultSettings()
		set.LRUStripes = n
		if _, err := New(set, Options{}); err == nil || err.Error() != "lru_stripes must be a power of two up to 16" {
			t.Errorf("lru_stripes=%d: %v", n, err)
		}
	}
}

// -o eviction=lfu reaches the store and stats settings says which policy
// evicts.
func TestEvictionPolicySetting(t *testing.T) {
	for _, policy := range []string{"lru", "lfu"} {
		srv := startTestServer(t, func(s *Settings) { s.Eviction = policy })
		if got := statLines(t, srv.Addr(), "stats settings")["eviction"]; got != policy {
			t.Errorf("eviction=%s: stats settings says %q", policy, got)
		}
		if srv.store.LFU() != (policy == "lfu") {
			t.Errorf("eviction=%s: the store's LFU is %v", policy, srv.store.LFU())
		}
	}
	set := DefaultSettings()
	set.Eviction = "fifo"
	if _, err := New(set, Options{}); err == nil || err.Error() != "eviction must be lru or lfu" {
		t.Errorf("eviction=fifo: %v", err)
	}
}

// Commands that change settings leave stats settings as in memcached
// 1.6.45: the extstore command (built with extstore, started without
// ext_path), lru tune, slabs automove and stats detail; the same commands
// sent to both give the same settings, including C's spelling of
// infinities and NaNs. The extstore replies are also compared by the text
// corpus (extstore.conv).
func TestSettingCommandsMatchMemcached(t *testing.T) {
	cmds := "extstore item_size 100\r\nextstore item_age 9\r\nextstore l 3\r\nextstore recache_rate 7\r\n" +
		"extstore compact_under 2\r\nextstore drop_under 1\r\nextstore max_sleep 11\r\nextstore max_frag 0x1p-2\r\n" +
		"extstore drop_unread 5\r\nextstore item_size 5 noreply\r\nextstore item_size x\r\n" +
		"extstore d 21\r\nextstore m 22\r\nextstore max_ 23\r\nextstore drop_un 24\r\n" +
		"extstore free_memchunks 1 2\r\nlru tune 10 20 -nan inf\r\nslabs automove freeratio 0.125\r\nstats detail on\r\nmn\r\n"
	want := []string{"OK\r\n", "OK\r\n", "OK\r\n", "OK\r\n", "OK\r\n", "OK\r\n", "OK\r\n", "OK\r\n", "OK\r\n",
		"ERROR\r\n", "OK\r\n", "OK\r\n", "OK\r\n", "OK\r\n", "OK\r\n", "OK\r\n", "OK\r\n", "OK\r\n", "MN\r\n"}
	mcAddr := testenv.StartReference(t)
	srv := startTestServer(t, func(s *Settings) {})
	for _, addr := range []string{mcAddr, srv.Addr()} {
		if got := sendLines(t, addr, cmds, len(want)); !slices.Equal(got, want) {
			t.Errorf("%s answered %q, want %q", addr, got, want)
		}
	}
	mc, ours := statsSettings(t, mcAddr), statsSettings(t, srv.Addr())
	differ := map[string]bool{"num_threads": true, "num_threads_per_udp": true, "hash_algorithm": true,
		"tcpport": true, "maxbytes": true, "item_size_max": true, "inter": true, "slab_chunk_max": true}
	compareStatsSettings(t, mc, ours, differ)
	got := map[string]string{}
	for _, st := range ours {
		got[st.Name] = st.Value
	}
	for name, v := range map[string]string{"ext_item_size": "5", "ext_max_frag": "0.25", "ext_drop_unread": "yes",
		"ext_drop_under": "24", "ext_max_sleep": "23",
		"hot_max_factor": "-nan", "warm_max_factor": "inf", "slab_automove_freeratio": "0.125", "detail_enabled": "yes"} {
		if got[name] != v {
			t.Errorf("%s = %q, want %q", name, got[name], v)
		}
	}
}

// cache_memlimit raises the limit far above -m, as memcached allows, and
// the memory is there to use: with -m 64, after cache_memlimit 10000 the
// store keeps 135 MB of values without evicting.
func TestCacheMemlimitRaisesFarAboveM(t *testing.T) {
	srv := startTestServer(t, func(s *Settings) { s.MaxBytes = 64 << 20 })
	if got := sendLines(t, srv.Addr(), "cache_memlimit 10000\r\n", 1); got[0] != "OK\r\n" {
		t.Fatalf("cache_memlimit 10000: %q", got)
	}
	if got := statLines(t, srv.Addr(), "stats")["limit_maxbytes"]; got != strconv.Itoa(10000<<20) {
		t.Errorf("limit_maxbytes %s after cache_memlimit 10000", got)
	}
	value := strings.Repeat("v", 900_000)
	var req strings.Builder
	for i := range 150 {
		fmt.Fprintf(&req, "set big:%d 0 0 %d noreply\r\n%s\r\n", i, len(value), value)
	}
	req.WriteString("mn\r\n")
	if got := sendLines(t, srv.Addr(), req.String(), 1); got[0] != "MN\r\n" {
		t.Fatalf("sets answered %q", got)
	}
	st := statLines(t, srv.Addr(), "stats")
	if st["curr_items"] != "150" || st["evictions"] != "0" {
		t.Errorf("after 135 MB of values: curr_items %s, evictions %s", st["curr_items"], st["evictions"])
	}
}

// slabSizesList returns n slab sizes from 100 up, 16 bytes apart.
func slabSizesList(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(strconv.Itoa(100 + 16*i))
	}
	return b.String()
}

// With -N, round_robin_fallback counts every socket handed to the event
// loops that came with no NAPI id (on loopback: each UDP socket once per
// thread, then each accepted connection), as memcached 1.6.45 counts it.
func TestNapiIDCountsMatchMemcached(t *testing.T) {
	refUDP := testenv.FreePort(t)
	ref := testenv.StartReference(t, "-t", "2", "-N", "2", "-U", strconv.Itoa(refUDP))
	ourUDP := testenv.FreePort(t)
	srv := startTestServer(t, func(s *Settings) { s.Threads, s.NapiIDs, s.UDPPort = 2, 2, ourUDP })
	// The reference was waited for with one connection; so is ours.
	if err := testenv.WaitListening(srv.Addr(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{ref, srv.Addr()} {
		for range 3 {
			nc, _ := dialT(t, addr)
			nc.Close()
		}
	}
	// Each statValue is one more connection.
	want, got := statValue(t, ref, "round_robin_fallback"), statValue(t, srv.Addr(), "round_robin_fallback")
	if got != want || got != "7" {
		t.Errorf("round_robin_fallback: memcached %s, slabcached %s; want 7: one UDP socket on 2 threads and 5 connections", want, got)
	}
	want, got = statValue(t, ref, "unexpected_napi_ids"), statValue(t, srv.Addr(), "unexpected_napi_ids")
	if got != want {
		t.Errorf("unexpected_napi_ids: memcached %s, slabcached %s", want, got)
	}
}

func TestNapiIDTable(t *testing.T) {
	var n napiCounts
	for _, id := range []int{7, 7, 8, 7, 8} { // two ids, two threads
		n.assign(id, 2)
	}
	if got := n.unexpected.Load(); got != 0 {
		t.Fatalf("unexpected_napi_ids %d with as many ids as threads", got)
	}
	n.assign(9, 2) // a third id: the table starts over
	n.assign(7, 2) // 9 holds thread 0, 7 takes thread 1
	n.assign(8, 2) // and again
	if got := n.unexpected.Load(); got != 2 {
		t.Fatalf("unexpected_napi_ids %d, want 2", got)
	}
}
