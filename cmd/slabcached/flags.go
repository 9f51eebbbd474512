package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/slabcache/slabcache/cluster"
	"github.com/slabcache/slabcache/server"
)

// command is what the command line asks for.
type command struct {
	settings server.Settings
	help     bool // -h: print usage and exit
	version  bool // -V: print the version and exit
	// notices are options accepted for compatibility that have no effect in
	// slabcached, or warnings memcached would print; main prints them at
	// start so nothing is silently ignored.
	notices []string
	// metricsListen is --metrics-listen (metrics.go): host:port or off.
	metricsListen string
	// cluster is what the --cluster* options ask for (cluster.go).
	cluster cluster.Config
}

// usageError marks a command-line problem after which usage is printed
// (unknown option, missing argument), as opposed to a bad value.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// argKind says whether an option takes an argument.
type argKind int

const (
	noArg       argKind = iota
	requiredArg         // -p 11211, -p11211, --port 11211, --port=11211
	optionalArg         // only --verbose[=N]
)

// option is one entry of the option table: memcached's getopt_long table,
// plus slabcached's reserved long options.
type option struct {
	short byte   // 0 when there is no short form
	long  string // "" when there is no long form
	arg   argKind
	// apply records the option; val is the argument ("" for noArg), hasVal
	// tells an empty optional argument from an absent one. nil means the
	// option is reserved or unsupported: unsupported says why.
	apply       func(p *parser, val string, hasVal bool) error
	unsupported string
}

// parser holds the state of one parse.
type parser struct {
	cmd          command
	isRoot       bool
	listenSet    bool // a -l replaced the default listen address
	chunkChanged bool // -o slab_chunk_max was given (memcached's slab_chunk_size_changed)
}

// options is the option table. Order follows memcached's usage text.
var options []option

func init() {
	options = append(append(baseOptions(), clusterOptions...), metricsOptions...)
}

// intArg parses a decimal integer argument strictly (memcached uses atoi,
// which reads "abc" as 0 and "10g" as 10; slabcached refuses them).
func intArg(flag, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a whole number", flag, v)
	}
	return n, nil
}

func floatArg(flag, v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%s: %q is not a number", flag, v)
	}
	return f, nil
}

func intOption(flag string, dst func(*server.Settings) *int) func(*parser, string, bool) error {
	return func(p *parser, v string, _ bool) error {
		n, err := intArg(flag, v)
		if err != nil {
			return err
		}
		*dst(&p.cmd.settings) = n
		return nil
	}
}

// sizeArg parses -I: bytes, or a number with a k, m or g suffix (either
// case). memcached 1.6.18 knows k and m only.
func sizeArg(flag, v string) (int, error) {
	mult := int64(1)
	num := v
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
		return 0, fmt.Errorf("%s: %q is not a size (bytes, or a number with k, m or g)", flag, v)
	}
	if n > math.MaxInt32/mult+1 {
		return 0, fmt.Errorf("%s: %q is too large", flag, v)
	}
	return int(n * mult), nil
}

func baseOptions() []option {
	S := func(f func(s *server.Settings)) func(*parser, string, bool) error {
		return func(p *parser, _ string, _ bool) error { f(&p.cmd.settings); return nil }
	}
	return []option{
		{short: 'p', long: "port", arg: requiredArg, apply: intOption("-p", func(s *server.Settings) *int { return &s.Port })},
		{short: 'U', long: "udp-port", arg: requiredArg, apply: intOption("-U", func(s *server.Settings) *int { return &s.UDPPort })},
		{short: 's', long: "unix-socket", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
			if v == "" {
				return fmt.Errorf("-s: the unix socket path is empty")
			}
			p.cmd.settings.SocketPath = v
			return nil
		}},
		{short: 'a', long: "unix-mask", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
			m, err := strconv.ParseUint(v, 8, 32)
			if err != nil {
				return fmt.Errorf("-a: %q is not an octal mask such as 700", v)
			}
			p.cmd.settings.SocketMask = uint32(m)
			return nil
		}},
		{short: 'A', long: "enable-shutdown", apply: S(func(s *server.Settings) { s.ShutdownCommand = true })},
		{short: 'l', long: "listen", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
			s := &p.cmd.settings
			switch {
			case v == "":
				return fmt.Errorf("-l: the listen address is empty")
			case !p.listenSet:
				s.Listen, p.listenSet = v, true
			case strings.Contains(s.Listen, v):
				// memcached skips an -l already contained in the list (strstr)
			default:
				s.Listen += "," + v
			}
			return nil
		}},
		{short: 'd', long: "daemon", apply: S(func(s *server.Settings) { s.Daemonize = true })},
		{short: 'r', long: "enable-coredumps", unsupported: "is not supported (raise the core file limit with ulimit -c before starting slabcached)"},
		{short: 'u', long: "user", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
			if !p.isRoot {
				p.cmd.notices = append(p.cmd.notices, fmt.Sprintf("-u %s ignored: slabcached is not running as root", v))
				return nil
			}
			if v == "" {
				return fmt.Errorf("-u: the user name is empty")
			}
			p.cmd.settings.User = v
			return nil
		}},
		{short: 'm', long: "memory-limit", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || n > math.MaxInt64>>20 {
				return fmt.Errorf("-m: %q is not a whole number of megabytes", v)
			}
			p.cmd.settings.MaxBytes = n << 20
			return nil
		}},
		{short: 'M', long: "disable-evictions", apply: S(func(s *server.Settings) { s.EvictToFree = false })},
		{short: 'c', long: "conn-limit", arg: requiredArg, apply: intOption("-c", func(s *server.Settings) *int { return &s.MaxConns })},
		{short: 'k', long: "lock-memory", apply: S(func(s *server.Settings) { s.LockMemory = true })},
		{short: 'v', long: "verbose", arg: optionalArg, apply: func(p *parser, v string, hasVal bool) error {
			if !hasVal {
				p.cmd.settings.Verbosity++
				return nil
			}
			n, err := intArg("--verbose", v)
			if err != nil || n < 0 {
				return fmt.Errorf("--verbose: %q is not a verbosity level (0 to 3)", v)
			}
			p.cmd.settings.Verbosity = n
			return nil
		}},
		{short: 'h', long: "help", apply: func(p *parser, _ string, _ bool) error { p.cmd.help = true; return nil }},
		{short: 'i', long: "license", unsupported: "is not supported: slabcached links no libevent and has no license text to print"},
		{short: 'V', long: "version", apply: func(p *parser, _ string, _ bool) error { p.cmd.version = true; return nil }},
		{short: 'P', long: "pidfile", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
			if v == "" {
				return fmt.Errorf("-P: the pid file name is empty")
			}
			p.cmd.settings.PidFile = v
			return nil
		}},
		{short: 'f', long: "slab-growth-factor", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
			f, err := floatArg("-f", v)
			if err != nil {
				return err
			}
			p.cmd.settings.Factor = f
			return nil
		}},
		{short: 'n', long: "slab-min-size", arg: requiredArg, apply: intOption("-n", func(s *server.Settings) *int { return &s.ChunkSize })},
		{short: 'L', long: "enable-largepages", apply: S(func(s *server.Settings) { s.LargePages = true })},
		{short: 'D', arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
			if v == "" {
				return server.UsageError("No delimiter specified")
			}
			p.cmd.settings.PrefixDelimiter, p.cmd.settings.DetailEnabled = v[0], true
			return nil
		}},
		{short: 't', long: "threads", arg: requiredArg, apply: intOption("-t", func(s *server.Settings) *int { return &s.Threads })},
		{short: 'R', long: "max-reqs-per-event", arg: requiredArg, apply: intOption("-R", func(s *server.Settings) *int { return &s.ReqsPerEvent })},
		{short: 'C', long: "disable-cas", apply: S(func(s *server.Settings) { s.CASEnabled = false })},
		{short: 'b', long: "listen-backlog", arg: requiredArg, apply: intOption("-b", func(s *server.Settings) *int { return &s.Backlog })},
		{short: 'B', long: "protocol", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
			switch v {
			case "auto":
				p.cmd.settings.Protocol = server.ProtocolAuto
			case "ascii":
				p.cmd.settings.Protocol = server.ProtocolASCII
			case "binary":
				return fmt.Errorf("-B binary is not supported: slabcached speaks the text and meta protocols (use -B ascii or -B auto)")
			default:
				return server.UsageError(fmt.Sprintf("Invalid value for binding protocol: %s\n -- should be one of auto, binary, or ascii", v))
			}
			return nil
		}},
		{short: 'I', long: "max-item-size", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
			n, err := sizeArg("-I", v)
			if err != nil {
				return err
			}
			p.cmd.settings.ItemSizeMax = n
			return nil
		}},
		{short: 'S', long: "enable-sasl", unsupported: "is not supported: slabcached has no SASL authentication"},
		{short: 'F', long: "disable-flush-all", apply: S(func(s *server.Settings) { s.FlushEnabled = false })},
		{short: 'X', long: "disable-dumping", apply: S(func(s *server.Settings) { s.DumpEnabled = false })},
		{short: 'W', long: "disable-watch", apply: S(func(s *server.Settings) { s.WatchEnabled = false })},
		{short: 'Y', long: "auth-file", arg: requiredArg, unsupported: "is not supported: slabcached has no ASCII authentication"},
		{short: 'e', long: "memory-file", arg: requiredArg, unsupported: "is not supported: slabcached has no restartable memory file"},
		{short: 'Z', long: "enable-ssl", unsupported: "is not supported: slabcached has no TLS (put a TLS proxy in front of it)"},
		{short: 'N', long: "napi-ids", arg: requiredArg, unsupported: "is not supported: slabcached does not map NAPI ids to threads"},
		{short: 'o', long: "extended", arg: requiredArg, apply: func(p *parser, v string, _ bool) error { return p.extended(v) }},
	}
}

// name renders an option for messages: "-p (--port)".
func (o *option) name() string {
	switch {
	case o.short != 0 && o.long != "":
		return fmt.Sprintf("-%c (--%s)", o.short, o.long)
	case o.short != 0:
		return fmt.Sprintf("-%c", o.short)
	}
	return "--" + o.long
}

// parseArgs parses memcached's command line (without the program name) as
// GNU getopt_long does for memcached: short options may be combined ("-vv",
// "-vd") and take their argument attached or as the next word ("-m64",
// "-m 64"); long options take it after '=' or as the next word and may be
// abbreviated to any unambiguous prefix; "--" ends the options. Unlike
// memcached, words that are not options are refused (getopt would silently
// skip them). isRoot says whether the process runs as root (for -u).
//
// The settings start from server.DefaultSettings and are validated; notices
// list what was accepted without effect.
func parseArgs(args []string, isRoot bool) (*command, error) {
	p := &parser{cmd: command{settings: server.DefaultSettings(), metricsListen: defaultMetricsListen, cluster: cluster.DefaultConfig()}, isRoot: isRoot}
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() (string, bool) {
			if i+1 < len(args) {
				i++
				return args[i], true
			}
			return "", false
		}
		switch {
		case a == "--":
			if i+1 < len(args) {
				return nil, &usageError{fmt.Sprintf("unexpected argument %q (slabcached takes options only)", args[i+1])}
			}
			i = len(args)
		case strings.HasPrefix(a, "--"):
			if err := p.long(a[2:], next); err != nil {
				return nil, err
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			if err := p.shorts(a[1:], next); err != nil {
				return nil, err
			}
		default:
			return nil, &usageError{fmt.Sprintf("unexpected argument %q (slabcached takes options only)", a)}
		}
		if p.cmd.help || p.cmd.version {
			// memcached prints and exits as soon as it reads -h or -V.
			return &p.cmd, nil
		}
	}
	s := &p.cmd.settings
	// memcached: a large -I raises slab_chunk_max to half a page unless it was set.
	if s.ItemSizeMax > 1<<20 && !p.chunkChanged {
		s.SlabChunkMax = server.SlabPageSize / 2
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	p.cmd.notices = append(p.cmd.notices, noEffect(s)...)
	if s.SocketPath != "" && p.cmd.cluster.Membership.Enabled {
		return nil, fmt.Errorf("--cluster needs a network address: -s %s disables network support", s.SocketPath)
	}
	p.cmd.notices = append(p.cmd.notices, s.Warnings()...)
	if isRoot && s.User == "" {
		p.cmd.notices = append(p.cmd.notices, "running as root without -u (memcached refuses this; slabcached allows it)")
	}
	return &p.cmd, nil
}

// shorts handles one word of short options, e.g. "vv", "m64", "vdp11211".
func (p *parser) shorts(word string, next func() (string, bool)) error {
	for j := 0; j < len(word); j++ {
		c := word[j]
		var o *option
		for k := range options {
			if options[k].short == c {
				o = &options[k]
				break
			}
		}
		if o == nil {
			return &usageError{fmt.Sprintf("invalid option -- '%c'", c)}
		}
		if o.arg != requiredArg {
			if err := p.apply(o, "", false); err != nil {
				return err
			}
			if p.cmd.help || p.cmd.version {
				return nil
			}
			continue
		}
		val := word[j+1:]
		if val == "" {
			v, ok := next()
			if !ok {
				return &usageError{fmt.Sprintf("option requires an argument -- '%c'", c)}
			}
			val = v
		}
		return p.apply(o, val, true)
	}
	return nil
}

// long handles "--name", "--name=value" or "--name value".
func (p *parser) long(word string, next func() (string, bool)) error {
	name, val, hasVal := strings.Cut(word, "=")
	var matches []*option
	for k := range options {
		o := &options[k]
		if o.long == "" {
			continue
		}
		if o.long == name {
			matches = []*option{o}
			break
		}
		if strings.HasPrefix(o.long, name) {
			matches = append(matches, o)
		}
	}
	switch len(matches) {
	case 0:
		return &usageError{fmt.Sprintf("unrecognized option '--%s'", word)}
	case 1:
	default:
		var names []string
		for _, m := range matches {
			names = append(names, "'--"+m.long+"'")
		}
		return &usageError{fmt.Sprintf("option '--%s' is ambiguous; possibilities: %s", word, strings.Join(names, " "))}
	}
	o := matches[0]
	switch o.arg {
	case noArg:
		if hasVal {
			return &usageError{fmt.Sprintf("option '--%s' doesn't allow an argument", o.long)}
		}
	case requiredArg:
		if !hasVal {
			v, ok := next()
			if !ok {
				return &usageError{fmt.Sprintf("option '--%s' requires an argument", o.long)}
			}
			val, hasVal = v, true
		}
	}
	return p.apply(o, val, hasVal)
}

func (p *parser) apply(o *option, val string, hasVal bool) error {
	if o.apply == nil {
		return fmt.Errorf("%s %s", o.name(), o.unsupported)
	}
	return o.apply(p, val, hasVal)
}

// subopt is one -o option.
type subopt struct {
	// apply records the option. val is the part after '=' and hasVal says
	// whether there was one.
	apply func(p *parser, val string, hasVal bool) error
}

// missing returns memcached's message for an -o option given without its
// value, or nil.
func missing(hasVal bool, msg string) error {
	if !hasVal {
		return server.UsageError(msg)
	}
	return nil
}

// suboptInt parses the value of an -o option as an integer.
func suboptInt(name, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("-o %s: %q is not a whole number", name, v)
	}
	return n, nil
}

func suboptFloat(name, v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("-o %s: %q is not a number", name, v)
	}
	return f, nil
}

// intSub makes an -o option that takes an integer (memcached's "Missing ..."
// message when the value is absent) and stores it through set.
func intSub(name, missingMsg string, set func(s *server.Settings, n int) error) subopt {
	return subopt{apply: func(p *parser, v string, hasVal bool) error {
		if err := missing(hasVal, missingMsg); err != nil {
			return err
		}
		n, err := suboptInt(name, v)
		if err != nil {
			return err
		}
		return set(&p.cmd.settings, n)
	}}
}

func floatSub(name, missingMsg string, set func(s *server.Settings, f float64)) subopt {
	return subopt{apply: func(p *parser, v string, hasVal bool) error {
		if err := missing(hasVal, missingMsg); err != nil {
			return err
		}
		f, err := suboptFloat(name, v)
		if err != nil {
			return err
		}
		set(&p.cmd.settings, f)
		return nil
	}}
}

// flagSub makes an -o option without a value.
func flagSub(name string, f func(p *parser)) subopt {
	return subopt{apply: func(p *parser, _ string, hasVal bool) error {
		if hasVal {
			return fmt.Errorf("-o %s takes no value", name)
		}
		f(p)
		return nil
	}}
}

// kibSub makes an -o option given in KiB (watcher/worker log buffers).
func kibSub(name string, set func(s *server.Settings, n int)) subopt {
	return subopt{apply: func(p *parser, v string, hasVal bool) error {
		if err := missing(hasVal, "Missing "+name+" argument"); err != nil {
			return err
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n > math.MaxInt32>>10 {
			return server.UsageError("could not parse argument to " + name)
		}
		set(&p.cmd.settings, int(n)<<10)
		return nil
	}}
}

// notice makes an -o option that memcached has but that has no effect in
// slabcached: validated as memcached does, accepted, and reported.
func notice(f func(p *parser, v string, hasVal bool) error, why string) subopt {
	return subopt{apply: func(p *parser, v string, hasVal bool) error {
		if err := f(p, v, hasVal); err != nil {
			return err
		}
		p.cmd.notices = append(p.cmd.notices, why)
		return nil
	}}
}

var subopts map[string]subopt

// refusedSubopts are -o options memcached 1.6.18 has for features slabcached
// does not have; they are refused with the reason.
var refusedSubopts = map[string]string{
	"slab_sizes":              "is not supported: slab classes come from -f and -n",
	"sock_cookie_id":          "is not supported",
	"ext_path":                "is not supported: slabcached has no extstore",
	"ext_page_size":           "is not supported: slabcached has no extstore",
	"ext_wbuf_size":           "is not supported: slabcached has no extstore",
	"ext_threads":             "is not supported: slabcached has no extstore",
	"ext_io_depth":            "is not supported: slabcached has no extstore",
	"ext_item_size":           "is not supported: slabcached has no extstore",
	"ext_item_age":            "is not supported: slabcached has no extstore",
	"ext_low_ttl":             "is not supported: slabcached has no extstore",
	"ext_drop_unread":         "is not supported: slabcached has no extstore",
	"ext_recache_rate":        "is not supported: slabcached has no extstore",
	"ext_compact_under":       "is not supported: slabcached has no extstore",
	"ext_drop_under":          "is not supported: slabcached has no extstore",
	"ext_max_frag":            "is not supported: slabcached has no extstore",
	"ext_max_sleep":           "is not supported: slabcached has no extstore",
	"slab_automove_freeratio": "is not supported: slabcached has no extstore",
	"ssl_chain_cert":          "is not supported: slabcached has no TLS",
	"ssl_key":                 "is not supported: slabcached has no TLS",
	"ssl_keyformat":           "is not supported: slabcached has no TLS",
	"ssl_verify_mode":         "is not supported: slabcached has no TLS",
	"ssl_ciphers":             "is not supported: slabcached has no TLS",
	"ssl_ca_cert":             "is not supported: slabcached has no TLS",
	"ssl_wbuf_size":           "is not supported: slabcached has no TLS",
	"ssl_session_cache":       "is not supported: slabcached has no TLS",
	"ssl_kernel_tls":          "is not supported: slabcached has no TLS",
	"ssl_min_version":         "is not supported: slabcached has no TLS",
	"proxy_config":            "is not supported: slabcached has no built-in proxy",
	"proxy_arg":               "is not supported: slabcached has no built-in proxy",
}

func init() {
	type S = server.Settings
	subopts = map[string]subopt{
		"maxconns_fast":    flagSub("maxconns_fast", func(p *parser) { p.cmd.settings.MaxConnsFast = true }),
		"no_maxconns_fast": flagSub("no_maxconns_fast", func(p *parser) { p.cmd.settings.MaxConnsFast = false }),
		"hashpower": intSub("hashpower", "Missing numeric argument for hashpower", func(s *S, n int) error {
			if n == 0 { // memcached: atoi gives 0, which is "too low"
				return server.UsageError("Initial hashtable multiplier of 0 is too low")
			}
			s.HashPower = n
			return nil
		}),
		"no_hashexpand":    flagSub("no_hashexpand", func(p *parser) { p.cmd.settings.HashExpand = false }),
		"slab_reassign":    flagSub("slab_reassign", func(p *parser) { p.cmd.settings.SlabReassign = true }),
		"no_slab_reassign": flagSub("no_slab_reassign", func(p *parser) { p.cmd.settings.SlabReassign = false }),
		"slab_automove": {apply: func(p *parser, v string, hasVal bool) error {
			if !hasVal {
				p.cmd.settings.SlabAutomove = 1
				return nil
			}
			n, err := suboptInt("slab_automove", v)
			if err != nil {
				return err
			}
			p.cmd.settings.SlabAutomove = n
			return nil
		}},
		"no_slab_automove": flagSub("no_slab_automove", func(p *parser) { p.cmd.settings.SlabAutomove = 0 }),
		"slab_automove_ratio": floatSub("slab_automove_ratio", "Missing slab_automove_ratio argument", func(s *S, f float64) {
			s.SlabAutomoveRatio = f
		}),
		"slab_automove_window": intSub("slab_automove_window", "Missing slab_automove_window argument", func(s *S, n int) error {
			s.SlabAutomoveWindow = n
			return nil
		}),
		"tail_repair_time": notice(intSub("tail_repair_time", "Missing numeric argument for tail_repair_time", func(s *S, n int) error {
			if n < 10 {
				return server.UsageError("Cannot set tail_repair_time to less than 10 seconds")
			}
			s.TailRepairTime = n
			return nil
		}).apply, "-o tail_repair_time has no effect in slabcached: items are never pinned at the LRU tail by a leaked reference"),
		"hash_algorithm": notice(func(p *parser, v string, hasVal bool) error {
			if err := missing(hasVal, "Missing hash_algorithm argument"); err != nil {
				return err
			}
			switch v {
			case "jenkins", "murmur3", "xxh3":
				return nil
			}
			return server.UsageError("Unknown hash_algorithm option (jenkins, murmur3, xxh3)")
		}, "-o hash_algorithm has no effect in slabcached: its index always hashes keys with "+server.HashAlgorithm),
		"lru_crawler":    flagSub("lru_crawler", func(p *parser) { p.cmd.settings.LRUCrawler = true }),
		"no_lru_crawler": flagSub("no_lru_crawler", func(p *parser) { p.cmd.settings.LRUCrawler = false }),
		"lru_crawler_sleep": intSub("lru_crawler_sleep", "Missing lru_crawler_sleep value", func(s *S, n int) error {
			s.LRUCrawlerSleep = n
			return nil
		}),
		"lru_crawler_tocrawl": {apply: func(p *parser, v string, hasVal bool) error {
			if err := missing(hasVal, "Missing lru_crawler_tocrawl value"); err != nil {
				return err
			}
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return server.UsageError("lru_crawler_tocrawl takes a numeric 32bit value")
			}
			p.cmd.settings.LRUCrawlerToCrawl = uint32(n)
			return nil
		}},
		"lru_maintainer": flagSub("lru_maintainer", func(p *parser) {
			p.cmd.settings.LRUMaintainer, p.cmd.settings.LRUSegmented = true, true
		}),
		"no_lru_maintainer": flagSub("no_lru_maintainer", func(p *parser) {
			p.cmd.settings.LRUMaintainer, p.cmd.settings.LRUSegmented = false, false
		}),
		"hot_lru_pct": intSub("hot_lru_pct", "Missing hot_lru_pct argument", func(s *S, n int) error {
			s.HotLRUPct = n
			return nil
		}),
		"warm_lru_pct": intSub("warm_lru_pct", "Missing warm_lru_pct argument", func(s *S, n int) error {
			s.WarmLRUPct = n
			return nil
		}),
		"hot_max_factor":  floatSub("hot_max_factor", "Missing hot_max_factor argument", func(s *S, f float64) { s.HotMaxFactor = f }),
		"warm_max_factor": floatSub("warm_max_factor", "Missing warm_max_factor argument", func(s *S, f float64) { s.WarmMaxFactor = f }),
		"temporary_ttl": intSub("temporary_ttl", "Missing temporary_ttl argument", func(s *S, n int) error {
			s.TempLRU, s.TemporaryTTL = true, n
			return nil
		}),
		"idle_timeout": intSub("idle_timeout", "Missing numeric argument for idle_timeout", func(s *S, n int) error {
			s.IdleTimeout = n
			return nil
		}),
		"watcher_logbuf_size": kibSub("watcher_logbuf_size", func(s *S, n int) { s.WatcherLogbufSize = n }),
		"worker_logbuf_size":  kibSub("worker_logbuf_size", func(s *S, n int) { s.WorkerLogbufSize = n }),
		"slab_chunk_max": {apply: func(p *parser, v string, hasVal bool) error {
			if err := missing(hasVal, "Missing slab_chunk_max argument"); err != nil {
				return err
			}
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil {
				return server.UsageError("could not parse argument to slab_chunk_max")
			}
			p.cmd.settings.SlabChunkMax, p.chunkChanged = int(n), true
			return nil
		}},
		"track_sizes": notice(flagSub("track_sizes", func(p *parser) { p.cmd.settings.TrackSizes = true }).apply,
			"-o track_sizes has no effect in slabcached: it keeps no item size histogram (stats sizes says disabled)"),
		"no_chunked_items": flagSub("no_chunked_items", func(p *parser) { p.cmd.settings.SlabChunkMax = server.SlabPageSize }),
		"read_buf_mem_limit": {apply: func(p *parser, v string, hasVal bool) error {
			if err := missing(hasVal, "Missing read_buf_mem_limit argument"); err != nil {
				return err
			}
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return server.UsageError("could not parse argument to read_buf_mem_limit")
			}
			p.cmd.settings.ReadBufMemLimit = int64(n) << 20
			return nil
		}},
		"resp_obj_mem_limit": notice(func(*parser, string, bool) error { return nil },
			"DEPRECATED: resp_obj_mem_limit no longer used. See read_buf_mem_limit,"),
		"inline_ascii_resp": notice(func(*parser, string, bool) error { return nil },
			"-o inline_ascii_resp has no effect (as in memcached 1.6)"),
		"no_inline_ascii_resp": notice(func(*parser, string, bool) error { return nil },
			"-o no_inline_ascii_resp has no effect (as in memcached 1.6)"),
		"modern": flagSub("modern", func(*parser) {}), // memcached: "currently: nothing"
		"no_modern": flagSub("no_modern", func(p *parser) {
			s := &p.cmd.settings
			if !p.chunkChanged {
				s.SlabChunkMax = server.SlabPageSize
			}
			s.SlabReassign, s.SlabAutomove, s.MaxConnsFast = false, 0, false
			s.LRUCrawler, s.LRUMaintainer, s.LRUSegmented = false, false, false
			p.cmd.notices = append(p.cmd.notices, "-o no_modern: hash_algorithm=jenkins has no effect in slabcached")
		}),
	}
}

// extended handles the value of one -o: comma-separated name[=value] items,
// parsed like getsubopt(3) (names match exactly).
func (p *parser) extended(v string) error {
	if v == "" {
		return nil // memcached: an empty -o does nothing
	}
	for _, item := range strings.Split(v, ",") {
		name, val, hasVal := strings.Cut(item, "=")
		if why, ok := refusedSubopts[name]; ok {
			return fmt.Errorf("-o %s %s", name, why)
		}
		so, ok := subopts[name]
		if !ok {
			return &usageError{fmt.Sprintf("Illegal suboption \"%s\"", item)}
		}
		if err := so.apply(p, val, hasVal); err != nil {
			return err
		}
	}
	return nil
}

// noEffect names the memcached settings given on the command line that
// slabcached accepts but does not act on, so none is silently ignored.
func noEffect(s *server.Settings) []string {
	d := server.DefaultSettings()
	var out []string
	if s.ReqsPerEvent != d.ReqsPerEvent {
		out = append(out, "-R has no effect in slabcached: an event handles every complete request of its connection (other connections of the loop get their turn at the next read)")
	}
	if s.Backlog != d.Backlog {
		out = append(out, "-b has no effect in slabcached: the listen backlog is the kernel's somaxconn")
	}
	if !s.MaxConnsFast {
		out = append(out, "-o no_maxconns_fast has no effect in slabcached: a connection over -c is always answered ERROR Too many open connections and closed")
	}
	if s.WorkerLogbufSize != d.WorkerLogbufSize {
		out = append(out, "-o worker_logbuf_size has no effect in slabcached: watch lines are gathered per connection")
	}
	if s.ReadBufMemLimit != d.ReadBufMemLimit {
		out = append(out, "-o read_buf_mem_limit has no effect in slabcached: each connection's unread input is capped at 4 MiB instead (docs/compat.md)")
	}
	return out
}
