// Package mctest helps tests speak memcached through proto: read a
// server's stats, and stand in for a memcached or a discovery endpoint with
// a scripted handler. Only tests import it.
package mctest

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slabcache/slabcache/cluster/discovery"
	"github.com/slabcache/slabcache/proto"
)

// Stat is one STAT line, in the order the server printed it.
type Stat struct{ Name, Value string }

// Stats sends "stats [args]" (args: "settings", "slabs", ...) to the server
// at addr and returns its STAT lines in order, read with proto.
func Stats(t testing.TB, addr, args string) []Stat {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var rp proto.Reply
	if err := proto.NewConn(c).Admin(&rp, false, proto.CmdStats, strings.Fields(args)...); err != nil {
		t.Fatalf("stats %s on %s: %v", args, addr, err)
	}
	out := make([]Stat, len(rp.Stats))
	for i, s := range rp.Stats {
		out[i] = Stat{string(s.Name), string(s.Value)}
	}
	return out
}

// ServeDiscovery starts a stand-in discovery endpoint on a loopback port
// and returns its address: it answers `config get cluster` and (unless
// elastiCacheOnly, as an ElastiCache endpoint) `cluster members` from table,
// ERROR to anything else, and queries (when not nil) on each `config get cluster`. It stops with
// the test, or earlier when stop is called.
func ServeDiscovery(t testing.TB, table *discovery.Table, elastiCacheOnly bool, queries func()) (addr string, stop func()) {
	t.Helper()
	return serveDiscovery(t, table, elastiCacheOnly, "", queries)
}

// ServeDiscoveryPlacement is ServeDiscovery for a node that also answers
// `config get placement` with placement, as slabcached does.
func ServeDiscoveryPlacement(t testing.TB, table *discovery.Table, placement string) (addr string) {
	t.Helper()
	addr, _ = serveDiscovery(t, table, false, placement, nil)
	return addr
}

func serveDiscovery(t testing.TB, table *discovery.Table, elastiCacheOnly bool, placement string, queries func()) (addr string, stop func()) {
	t.Helper()
	return Serve(t, func(req *proto.Request, dst []byte) []byte {
		a := req.Args()
		switch {
		case req.Command == proto.CmdConfig && len(a) == 2 && string(a[0]) == "get" && string(a[1]) == "cluster":
			if queries != nil {
				queries()
			}
			return table.AppendConfigCluster(dst)
		case req.Command == proto.CmdConfig && len(a) == 2 && string(a[0]) == "get" && string(a[1]) == "placement" && placement != "":
			return discovery.AppendConfigPlacement(dst, placement)
		case req.Command == proto.CmdCluster && len(a) == 1 && string(a[0]) == "members" && !elastiCacheOnly:
			return table.AppendMembers(dst)
		}
		return proto.AppendError(dst, proto.ErrUnknownCommand)
	})
}

// Serve starts a scripted memcached stand-in on a loopback port and returns
// its address: every request, parsed by proto, goes to handle, which appends
// the reply (nothing, to stay silent). A request proto refuses gets
// proto's error. The listener and its connections close with the test, or
// earlier when stop is called.
func Serve(t testing.TB, handle func(req *proto.Request, dst []byte) []byte) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		once  sync.Once
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go serveConn(c, handle)
		}
	}()
	stop = func() {
		once.Do(func() {
			ln.Close()
			<-done
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

func serveConn(c net.Conn, handle func(req *proto.Request, dst []byte) []byte) {
	defer c.Close()
	var buf, out []byte
	var req proto.Request
	chunk := make([]byte, 64<<10)
	for {
		n, err := c.Read(chunk)
		if err != nil {
			return
		}
		buf = append(buf, chunk[:n]...)
		out = out[:0]
		for len(buf) > 0 {
			used, err := proto.Parse(buf, &req)
			if err == proto.ErrIncomplete {
				break
			}
			if e, ok := err.(*proto.Error); ok {
				out = proto.AppendError(out, e)
				if e.Close() {
					c.Write(out)
					return
				}
				buf = buf[used+min(req.Swallow, len(buf)-used):]
				continue
			}
			out = handle(&req, out)
			buf = buf[used:]
		}
		if len(out) > 0 {
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	}
}
