package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/slabcache/slabcache/cluster/discovery"
	"github.com/slabcache/slabcache/proto"
)

// Discover asks the node at addr for the cluster membership. It sends
// `config get cluster` and then, on the same connection, `cluster members`
// and, when the node knows that, `config get placement` (view.Placement).
//
// view holds the alive members in the node's order, with the weights
// `cluster members` gives (weight 1 when the node does not know that
// command, as an ElastiCache endpoint). all is every member the node knows,
// whatever its status, or nil when the node does not know `cluster
// members`. This is the membership a Client routes by, so slabctl and the
// client agree on the owner of every key.
func Discover(addr string, timeout time.Duration) (view discovery.View, all []discovery.Member, err error) {
	return discover(addr, dialer{timeout: timeout}, timeout)
}

// DiscoverTLS is Discover over TLS with the configuration cfg.
func DiscoverTLS(addr string, timeout time.Duration, cfg *tls.Config) (view discovery.View, all []discovery.Member, err error) {
	return discover(addr, dialer{timeout: timeout, tls: cfg}, timeout)
}

func discover(addr string, d dialer, timeout time.Duration) (discovery.View, []discovery.Member, error) {
	nc, err := d.dial(addr)
	if err != nil {
		return discovery.View{}, nil, err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(timeout))
	pc := proto.NewConn(nc)
	if err := pc.Send(discovery.ConfigGetClusterRequest()); err != nil {
		return discovery.View{}, nil, err
	}
	view, err := discovery.ReadConfigCluster(pc.Reader())
	if err != nil {
		return discovery.View{}, nil, fmt.Errorf("client: %s: config get cluster: %w", addr, err)
	}
	if err := pc.Send(discovery.MembersRequest()); err != nil {
		return discovery.View{}, nil, err
	}
	all, err := discovery.ReadMembers(pc.Reader())
	if errors.Is(err, discovery.ErrUnsupported) {
		return view, nil, nil
	}
	if err != nil {
		return discovery.View{}, nil, fmt.Errorf("client: %s: cluster members: %w", addr, err)
	}
	if err := pc.Send(discovery.PlacementRequest()); err != nil {
		return discovery.View{}, nil, err
	}
	view.Placement, err = discovery.ReadConfigPlacement(pc.Reader())
	if err != nil && !errors.Is(err, discovery.ErrUnsupported) {
		return discovery.View{}, nil, fmt.Errorf("client: %s: config get placement: %w", addr, err)
	}
	// Fill in what `config get cluster` does not carry.
	byAddr := make(map[string]discovery.Member, len(all))
	for _, m := range all {
		if m.Status == discovery.StatusAlive {
			byAddr[m.Addr] = m
		}
	}
	for i, m := range view.Members {
		if full, ok := byAddr[m.Addr]; ok {
			full.IP = m.IP
			view.Members[i] = full
		}
	}
	return view, all, nil
}
