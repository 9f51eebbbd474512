package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/slabcache/slabcache/cluster"
	"github.com/slabcache/slabcache/cluster/discovery"
	"github.com/slabcache/slabcache/cluster/membership"
	"github.com/slabcache/slabcache/cluster/ring"
	"github.com/slabcache/slabcache/server"
)

// clusterOptions are slabcached's long options for clustering
// (docs/cluster.md has the table). Each records into command.cluster.
var clusterOptions = []option{
	{long: "cluster", arg: noArg, apply: func(p *parser, _ string, _ bool) error {
		p.cmd.cluster.Membership.Enabled = true
		return nil
	}},
	{long: "cluster-name", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		if v == "" || strings.ContainsAny(v, " \t|") {
			return fmt.Errorf("--cluster-name: %q: want a name without spaces or '|'", v)
		}
		p.cmd.cluster.Membership.NodeName = v
		return nil
	}},
	{long: "cluster-advertise", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		if _, err := hostPort("--cluster-advertise", v, false); err != nil {
			return err
		}
		p.cmd.cluster.Membership.MemcachedAddr = v
		return nil
	}},
	{long: "cluster-bind", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		hp, err := hostPort("--cluster-bind", v, true)
		if err != nil {
			return err
		}
		p.cmd.cluster.Membership.BindAddr, p.cmd.cluster.Membership.BindPort = hp.host, hp.port
		return nil
	}},
	{long: "cluster-gossip-advertise", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		hp, err := hostPort("--cluster-gossip-advertise", v, true)
		if err != nil {
			return err
		}
		p.cmd.cluster.Membership.AdvertiseAddr, p.cmd.cluster.Membership.AdvertisePort = hp.host, hp.port
		return nil
	}},
	{long: "cluster-join", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		for _, a := range strings.Split(v, ",") {
			if a == "" {
				return fmt.Errorf("--cluster-join: empty address in %q", v)
			}
			if strings.Contains(a, ":") {
				if _, err := hostPort("--cluster-join", a, false); err != nil {
					return err
				}
			}
			p.cmd.cluster.Membership.Join = append(p.cmd.cluster.Membership.Join, a)
		}
		return nil
	}},
	{long: "cluster-retry-join", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("--cluster-retry-join: %q is not a duration such as 1s or 500ms", v)
		}
		p.cmd.cluster.Membership.RetryJoinInterval = d
		return nil
	}},
	{long: "cluster-weight", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000000 {
			return fmt.Errorf("--cluster-weight: %q: want a whole number from 1 to 1000000", v)
		}
		p.cmd.cluster.Membership.Weight = n
		return nil
	}},
	{long: "cluster-region", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		if strings.ContainsAny(v, " \t|") {
			return fmt.Errorf("--cluster-region: %q: want a label without spaces or '|'", v)
		}
		p.cmd.cluster.Membership.Region = v
		return nil
	}},
	{long: "cluster-keyring", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		if _, err := membership.LoadKeyring(v); err != nil {
			return fmt.Errorf("--cluster-keyring: %v", err)
		}
		p.cmd.cluster.Membership.KeyringFile = v
		return nil
	}},
	{long: "cluster-placement", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		k, err := ring.ParseKind(v)
		if err != nil {
			return fmt.Errorf("--cluster-placement: %q: want ketama, ketama-md5, ch3 or jump", v)
		}
		p.cmd.cluster.Placement, p.cmd.placementSet = k, true
		return nil
	}},
	{long: "cluster-mcrouter-config", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		p.cmd.cluster.Files.McrouterPath = v
		return nil
	}},
	{long: "cluster-twemproxy-config", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		p.cmd.cluster.Files.TwemproxyPath = v
		return nil
	}},
	{long: "cluster-twemproxy-listen", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		if _, err := hostPort("--cluster-twemproxy-listen", v, false); err != nil {
			return err
		}
		p.cmd.cluster.Files.TwemproxyListen = v
		return nil
	}},
}

type hostAndPort struct {
	host string
	port int
}

// hostPort parses host:port strictly; port 0 is allowed only when zeroOK.
func hostPort(flag, v string, zeroOK bool) (hostAndPort, error) {
	h, p, err := net.SplitHostPort(v)
	if err != nil {
		return hostAndPort{}, fmt.Errorf("%s: %q: want host:port", flag, v)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 || n == 0 && !zeroOK {
		return hostAndPort{}, fmt.Errorf("%s: %q: bad port", flag, v)
	}
	return hostAndPort{h, n}, nil
}

// startCluster starts the node's cluster features for a server listening on
// memcachedAddr: gossip when --cluster is given, and in any case discovery
// (`config get cluster`) answering with the members (or this node alone).
func startCluster(cmd *command, memcachedAddr string, log *zap.Logger) (*cluster.Node, error) {
	cfg := cmd.cluster
	m := &cfg.Membership
	if m.MemcachedAddr == "" {
		host, _, _ := net.SplitHostPort(memcachedAddr)
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() && m.Enabled {
			return nil, errors.New("--cluster with -l " + host + ": give --cluster-advertise=HOST:PORT, the address clients should use")
		}
		m.MemcachedAddr = memcachedAddr
	}
	if m.Enabled {
		m.Logger = log.Named("cluster")
	}
	choosePlacement(&cfg, cmd.placementSet, log)
	node, err := cluster.Start(cfg)
	if err != nil {
		return nil, err
	}
	if m.Enabled {
		ms := node.Membership()
		log.Info("cluster started", zap.String("node", ms.Local().Name), zap.String("gossip", ms.GossipAddr()),
			zap.String("advertise", m.MemcachedAddr), zap.Int("members", len(node.View().Members)),
			zap.String("placement", cfg.Placement.String()))
	}
	return node, nil
}

// startMember starts a cluster member for srv before it listens: it joins
// (its address is the one srv will listen on, or --cluster-advertise),
// answers discovery, and gives srv the ring, so that the warm-up of the
// join is on (Server.SetPeers) before the first client request.
func startMember(cmd *command, srv *server.Server, log *zap.Logger) (*cluster.Node, error) {
	addr := srv.Addr()
	if _, port, err := net.SplitHostPort(addr); cmd.cluster.Membership.MemcachedAddr == "" && (err != nil || port == "0") {
		return nil, fmt.Errorf("--cluster needs a TCP port to announce (-p), or --cluster-advertise=HOST:PORT; listening on %q", addr)
	}
	node, err := startCluster(cmd, addr, log)
	if err != nil {
		return nil, err
	}
	srv.SetDiscovery(node)
	node.OnRingChanging(srv.RingChanging)
	// The owner of a hot key copies it to the next nodes of the ring
	// (docs/hotkeys.md); the warm-up and the rest follow the ring too.
	srv.SetPeers(node)
	return node, nil
}

// choosePlacement settles the key placement and the twemproxy file's hash:
// without --cluster-placement, Ch3 when the only proxy file is mcrouter's
// (mcrouter routes by Ch3) and ketama otherwise; the twemproxy pool hashes
// as the placement. A proxy file that routes keys differently from the
// node's ring is written all the same, with a warning: its routing works,
// but warm-up and hot-key copies follow the ring, not the proxy.
func choosePlacement(cfg *cluster.Config, set bool, log *zap.Logger) {
	f := &cfg.Files
	if !set && f.McrouterPath != "" && f.TwemproxyPath == "" {
		cfg.Placement = ring.KindCh3
	}
	k := cfg.Placement
	if f.McrouterPath != "" {
		if m := discovery.RoutingMismatch("mcrouter", k); m != "" {
			log.Warn(m+" (--cluster-placement=ch3 makes them agree)", zap.String("placement", k.String()))
		}
	}
	if f.TwemproxyPath != "" {
		if m := discovery.RoutingMismatch("twemproxy", k); m != "" {
			log.Warn(m, zap.String("placement", k.String()))
		} else {
			f.TwemproxyHash, _ = discovery.TwemproxyHash(k)
		}
	}
}
