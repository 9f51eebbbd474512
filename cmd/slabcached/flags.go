package main

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/slabcache/slabcache/cluster"
	"github.com/slabcache/slabcache/server"
)

// command is what the command line asks for.
type command struct {
	settings server.Settings
	help     bool // -h: print usage and exit
	version  bool // -V: print the version and exit
	license  bool // -i: print the license note and exit
	// coredumps is -r: raise the core file size limit to its maximum.
	coredumps bool
	// notices are options accepted for compatibility that have no effect in
	// slabcached, or warnings memcached would print; main prints them at
	// start so nothing is silently ignored.
	notices []string
	// metricsListen is --metrics-listen (metrics.go): host:port or off.
	metricsListen string
	// cluster is what the --cluster* options ask for (cluster.go).
	cluster cluster.Config
	// placementSet: --cluster-placement was given (else startCluster
	// picks the placement the proxy files route by).
	placementSet bool
}

// usageError marks an option memcached's option loop cannot read (getopt's
// unknown option or missing argument, an unknown -o suboption): memcached
// exits 1 for those, and 64 for bad values.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// parser holds the state of one parse.
type parser struct {
	// table is the option table (options). The parser carries it because
	// -o looks its sub-options up in it: a reference from the table's own
	// apply functions to the package variable would be an initialization
	// cycle.
	table        []option
	cmd          command
	isRoot       bool
	listenSet    bool // a -l replaced the default listen address
	chunkChanged bool // -o slab_chunk_max was given (memcached's slab_chunk_size_changed)
	portSet      bool // -p was given
	udpSet       bool // -U was given
	protoSet     bool // -B was given
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
	p := &parser{
		table:  options,
		cmd:    command{settings: server.DefaultSettings(), metricsListen: defaultMetricsListen, cluster: cluster.DefaultConfig()},
		isRoot: isRoot,
	}
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
			for _, rest := range args[i+1:] {
				p.notice(fmt.Sprintf("argument %q ignored: it is not an option (as memcached ignores it)", rest))
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
			p.notice(fmt.Sprintf("argument %q ignored: it is not an option (as memcached ignores it)", a))
		}
		if p.cmd.help || p.cmd.version || p.cmd.license {
			// memcached prints and exits as soon as it reads -h or -V.
			return &p.cmd, nil
		}
	}
	s := &p.cmd.settings
	// memcached: a large -I raises slab_chunk_max to half a page unless it was set.
	// memcached: -S without -B speaks the binary protocol only; the
	// passwords are in the file MEMCACHED_SASL_PWDB names.
	s.PortFile = os.Getenv("MEMCACHED_PORT_FILENAME")
	if s.AuthFile != "" && !p.protoSet {
		s.Protocol = server.ProtocolASCII // memcached: -Y speaks ASCII only
	}
	if s.SASL {
		if !p.protoSet {
			s.Protocol = server.ProtocolBinary
		}
		s.SASLPasswords = os.Getenv("MEMCACHED_SASL_PWDB")
	}
	// memcached: -U without -p serves TCP on the UDP port too.
	if p.udpSet && s.UDPPort != 0 && !p.portSet {
		s.Port = s.UDPPort
	}
	if s.ItemSizeMax > 1<<20 && !p.chunkChanged {
		s.SlabChunkMax = server.SlabPageSize / 2
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.SocketPath != "" && p.cmd.cluster.Membership.Enabled {
		return nil, fmt.Errorf("--cluster needs a network address: -s %s disables network support", s.SocketPath)
	}
	for _, w := range s.Warnings() {
		p.notice(w)
	}
	if isRoot && s.User == "" {
		p.notice("running as root without -u (memcached refuses this; slabcached allows it)")
	}
	return &p.cmd, nil
}

// shorts handles one word of short options, e.g. "vv", "m64", "vdp11211".
func (p *parser) shorts(word string, next func() (string, bool)) error {
	for j := 0; j < len(word); j++ {
		c := word[j]
		i := slices.IndexFunc(p.table, func(o option) bool { return o.kind == flag && o.short == c })
		if i < 0 {
			return &usageError{fmt.Sprintf("invalid option -- '%c'", c)}
		}
		o := &p.table[i]
		if o.arg != requiredArg {
			if err := p.apply(o, "", false); err != nil {
				return err
			}
			if p.cmd.help || p.cmd.version || p.cmd.license {
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
	for i := range p.table {
		o := &p.table[i]
		if o.kind != flag || o.long == "" {
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

// extended handles the value of one -o: comma-separated name[=value] items,
// parsed like getsubopt(3) (names match exactly).
func (p *parser) extended(v string) error {
	if v == "" {
		return nil // memcached: an empty -o does nothing
	}
	for _, item := range strings.Split(v, ",") {
		name, val, hasVal := strings.Cut(item, "=")
		i := slices.IndexFunc(p.table, func(o option) bool { return o.kind == suboption && o.long == name })
		if i < 0 {
			return &usageError{fmt.Sprintf("Illegal suboption \"%s\"", item)}
		}
		o := &p.table[i]
		switch {
		case o.refused != "":
			// refused by apply, whatever the value
		case o.arg == noArg && hasVal:
			return fmt.Errorf("-o %s takes no value", name)
		case o.arg == requiredArg && !hasVal:
			return server.UsageError(cmp.Or(o.missing, "Missing "+name+" argument"))
		}
		if err := p.apply(o, val, hasVal); err != nil {
			return err
		}
	}
	return nil
}

// apply acts on an option given with its argument: it refuses it, gives its
// notice or records it.
func (p *parser) apply(o *option, val string, hasVal bool) error {
	if o.refused != "" {
		return fmt.Errorf("%s %s", o.name(true), o.refused)
	}
	p.notice(o.noEffect)
	if o.apply == nil {
		return nil
	}
	err := o.apply(p, val, hasVal)
	if bad, ok := err.(badValue); ok {
		return fmt.Errorf("%s: %q %s", o.name(false), val, bad)
	}
	return err
}

// notice adds msg to the notices printed at start, once.
func (p *parser) notice(msg string) {
	if msg != "" && !slices.Contains(p.cmd.notices, msg) {
		p.cmd.notices = append(p.cmd.notices, msg)
	}
}

// name renders an option for messages: "-p", "--cluster", "-o hashpower";
// withLong adds the long form of a flag that has both: "-p (--port)".
func (o *option) name(withLong bool) string {
	switch {
	case o.kind == suboption:
		return "-o " + o.long
	case o.short != 0 && o.long != "" && withLong:
		return fmt.Sprintf("-%c (--%s)", o.short, o.long)
	case o.short != 0:
		return fmt.Sprintf("-%c", o.short)
	}
	return "--" + o.long
}
