package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// ErrNotLoopback is returned for a target outside the loopback range when
// remote targets are not explicitly allowed.
var ErrNotLoopback = errors.New("bench: target is not a loopback address (pass -allow-remote to load another machine)")

// CheckTarget returns nil when addr (host:port) resolves only to loopback
// addresses (127.0.0.0/8, ::1), or when allowRemote is set. A name that
// resolves to any non-loopback address is refused.
func CheckTarget(addr string, allowRemote bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("bench: target %q: %w", addr, err)
	}
	if port == "" {
		return fmt.Errorf("bench: target %q has no port", addr)
	}
	if allowRemote {
		return nil
	}
	if host == "" {
		return fmt.Errorf("%w: %q has no host (it would mean every interface)", ErrNotLoopback, addr)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ips, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return fmt.Errorf("bench: resolving %q: %w", host, err)
		}
	}
	if len(ips) == 0 {
		return fmt.Errorf("bench: %q resolves to no address", host)
	}
	for _, ip := range ips {
		if !ip.Unmap().IsLoopback() {
			return fmt.Errorf("%w: %s is %s", ErrNotLoopback, host, ip)
		}
	}
	return nil
}
