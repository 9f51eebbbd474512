// Command slabctl inspects a slabcache cluster through any of its nodes.
//
//	slabctl [-addr host:port] [-placement ketama|ketama-md5|ch3|jump] [-timeout 2s] command
//
// Commands:
//
//	members                      every member: name, memcached address, gossip address, status, weight, region
//	ring                         points and share of the key space per node
//	whereis KEY...               the node that owns each key
//	hotkeys                      the hot keys of every member: rates, share, nodes serving them
//	flush-prefix PREFIX...       flush namespaces on every member (sent to -addr, which relays)
//	gen-config mcrouter|twemproxy [-o FILE] [-pool NAME] [-listen ADDR]
//	                             a proxy config for the current members
//
// It reads the membership with `config get cluster` and `cluster members`
// exactly as the Go client (cluster/client) does, so both agree on the
// owner of every key. It imports the cluster packages (never server or lru);
// nothing imports it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/slabcache/slabcache/cluster/client"
	"github.com/slabcache/slabcache/cluster/discovery"
	"github.com/slabcache/slabcache/cluster/ring"
	"github.com/slabcache/slabcache/proto"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: slabctl [-addr host:port] [-placement ketama|ketama-md5|ch3|jump] [-timeout d] command
  (-placement: default the cluster's, as its nodes advertise it; ketama when they do not)

commands:
  members                         list every member with its status, weight and region
  ring                            points and share of the key space per node
  whereis KEY...                  the node that owns each key
  hotkeys                         the hot keys of every member, with the nodes serving each
  flush-prefix PREFIX...          flush namespaces on every member (sent to -addr, which relays them)
  gen-config mcrouter|twemproxy   print (or -o write) a proxy config for the alive members
                                  [-o FILE] [-pool NAME] [-listen ADDR (twemproxy)]
`

// errUsage makes run print the usage and exit with status 2.
var errUsage = errors.New("usage")

// run is main without the process: it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	err := runErr(args, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		if msg := strings.TrimPrefix(err.Error(), errUsage.Error()); msg != "" {
			fmt.Fprintln(stderr, "slabctl"+msg)
		}
		fmt.Fprint(stderr, usage)
		return 2
	default:
		fmt.Fprintln(stderr, "slabctl:", err)
		return 1
	}
}

func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
}

func runErr(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("slabctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", "127.0.0.1:11211", "memcached address of any cluster node")
	placement := fs.String("placement", "", "ring placement: ketama, ketama-md5, ch3 or jump (default: the cluster's, ketama when it names none)")
	timeout := fs.Duration("timeout", 2*time.Second, "connect and read timeout")
	if err := fs.Parse(args); err != nil {
		return usageErr("%v", err)
	}
	kind := ring.KindKetama
	if *placement != "" {
		k, err := ring.ParseKind(*placement)
		if err != nil {
			return usageErr("-placement: %v", err)
		}
		kind = k
	}
	given := *placement != ""
	rest := fs.Args()
	if len(rest) == 0 {
		return usageErr("no command")
	}
	cmd, cargs := rest[0], rest[1:]
	switch cmd {
	case "members":
		if len(cargs) != 0 {
			return usageErr("members takes no arguments")
		}
		return members(*addr, *timeout, stdout, stderr)
	case "ring":
		if len(cargs) != 0 {
			return usageErr("ring takes no arguments")
		}
		return showRing(*addr, *timeout, kind, given, stdout)
	case "whereis":
		if len(cargs) == 0 {
			return usageErr("whereis needs at least one key")
		}
		return whereis(*addr, *timeout, kind, given, cargs, stdout)
	case "gen-config":
		return genConfig(*addr, *timeout, cargs, stdout, stderr)
	case "hotkeys":
		if len(cargs) != 0 {
			return usageErr("hotkeys takes no arguments")
		}
		return hotKeys(*addr, *timeout, stdout, stderr)
	case "flush-prefix":
		if len(cargs) == 0 {
			return usageErr("flush-prefix needs at least one prefix")
		}
		return flushPrefix(*addr, *timeout, cargs, stdout)
	}
	return usageErr("unknown command %q", cmd)
}

// flushPrefix sends `flush_prefix` for each prefix to addr and prints one
// line per prefix; any reply but OK (a member that has not applied it, a
// prefix without the delimiter) is printed and makes the exit status 1.
func flushPrefix(addr string, timeout time.Duration, prefixes []string, stdout io.Writer) error {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer nc.Close()
	pc := proto.NewConn(nc)
	failed := 0
	for _, p := range prefixes {
		// The node answers once every member has applied the flush, or
		// the ones that do not answer have timed out.
		nc.SetDeadline(time.Now().Add(timeout + 2*time.Second))
		var rp proto.Reply
		if err := pc.Do(&proto.Request{Command: proto.CmdFlushPrefix, Key: []byte(p)}, &rp); err != nil {
			return fmt.Errorf("flush_prefix %s: %w", p, err)
		}
		fmt.Fprintf(stdout, "%s\t%s\n", p, rp.Line)
		if rp.Kind != proto.ReplyStatus || rp.Status != proto.StatusOK {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d prefixes not flushed everywhere", failed, len(prefixes))
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func members(addr string, timeout time.Duration, stdout, stderr io.Writer) error {
	view, all, err := client.Discover(addr, timeout)
	if err != nil {
		return err
	}
	if all == nil {
		fmt.Fprintf(stderr, "slabctl: %s does not know `cluster members`; listing the alive nodes of `config get cluster`\n", addr)
		all = view.Members
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tMEMCACHED\tGOSSIP\tSTATUS\tWEIGHT\tREGION")
	for _, m := range all {
		w := m.Weight
		if w == 0 {
			w = 1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", dash(m.Name), m.Addr, dash(m.GossipAddr), m.Status, w, dash(m.Region))
	}
	return tw.Flush()
}

// buildRing reads the membership from addr and builds its ring: with
// placement kind when given, else with the placement the cluster
// advertises (ketama when it names none), as the Go client does.
func buildRing(addr string, timeout time.Duration, kind ring.Kind, given bool) (discovery.View, ring.Ring, error) {
	view, _, err := client.Discover(addr, timeout)
	if err != nil {
		return view, nil, err
	}
	if !given {
		if kind, err = advertisedPlacement(addr, view); err != nil {
			return view, nil, err
		}
	}
	r, err := ring.New(kind, discovery.RingNodes(view.Members))
	return view, r, err
}

// advertisedPlacement is the placement the cluster at addr advertises,
// ketama when it names none (an older node), as the Go client takes it.
func advertisedPlacement(addr string, view discovery.View) (ring.Kind, error) {
	if view.Placement == "" {
		return ring.KindKetama, nil
	}
	k, err := ring.ParseKind(view.Placement)
	if err != nil {
		return k, fmt.Errorf("%s advertises placement %q: %w", addr, view.Placement, err)
	}
	return k, nil
}

func showRing(addr string, timeout time.Duration, kind ring.Kind, given bool, stdout io.Writer) error {
	view, r, err := buildRing(addr, timeout, kind, given)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "placement %s, discovery version %d, %d nodes\n", r.Kind(), view.Version, len(r.Nodes()))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tNAME\tWEIGHT\tPOINTS\tSHARE")
	names := map[string]string{}
	for _, m := range view.Members {
		names[m.Addr] = m.Name
	}
	for i, st := range r.Stats() {
		n := r.Nodes()[i]
		points := "-"
		if st.Points > 0 {
			points = fmt.Sprint(st.Points)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%.2f%%\n", n.Addr, dash(names[n.Addr]), n.Weight, points, 100*st.Share)
	}
	return tw.Flush()
}

func whereis(addr string, timeout time.Duration, kind ring.Kind, given bool, keys []string, stdout io.Writer) error {
	view, r, err := buildRing(addr, timeout, kind, given)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, m := range view.Members {
		names[m.Addr] = m.Name
	}
	for _, k := range keys {
		i := r.OwnerString(k)
		if i < 0 {
			return fmt.Errorf("the cluster has no alive node")
		}
		n := r.Nodes()[i]
		fmt.Fprintf(stdout, "%s\t%s\t%s\n", k, n.Addr, dash(names[n.Addr]))
	}
	return nil
}

func genConfig(addr string, timeout time.Duration, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageErr("gen-config needs mcrouter or twemproxy")
	}
	kind := args[0]
	fs := flag.NewFlagSet("gen-config", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("o", "", "write the config to this file (atomically) instead of stdout")
	pool := fs.String("pool", discovery.DefaultPool, "pool name")
	listen := fs.String("listen", discovery.DefaultTwemproxyListen, "twemproxy listen address")
	if err := fs.Parse(args[1:]); err != nil {
		return usageErr("gen-config: %v", err)
	}
	if fs.NArg() != 0 {
		return usageErr("gen-config: unexpected %q", fs.Arg(0))
	}
	if kind != "mcrouter" && kind != "twemproxy" {
		return usageErr("gen-config: unknown proxy %q (want mcrouter or twemproxy)", kind)
	}
	view, _, err := client.Discover(addr, timeout)
	if err != nil {
		return err
	}
	placement, err := advertisedPlacement(addr, view)
	if err != nil {
		return err
	}
	if m := discovery.RoutingMismatch(kind, placement); m != "" {
		fmt.Fprintf(stderr, "slabctl: warning: %s\n", m)
	}
	var data []byte
	if kind == "mcrouter" {
		data, err = discovery.McrouterConfig(view.Members, *pool)
	} else {
		hash, _ := discovery.TwemproxyHash(placement) // "" (fnv1a_64) when it has none
		data, err = discovery.TwemproxyConfig(view.Members, *pool, *listen, hash)
	}
	if err != nil {
		return err
	}
	if *out != "" {
		return discovery.WriteFileAtomic(*out, data, 0o644)
	}
	_, err = stdout.Write(data)
	return err
}
