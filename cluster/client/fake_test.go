package client

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slabcache/slabcache/cluster/discovery"
	"github.com/slabcache/slabcache/internal/testenv"
	"github.com/slabcache/slabcache/proto"
)

// fakeDisco is a tiny discovery endpoint: it answers `config get cluster`
// and (unless noMembers) `cluster members` from a discovery.Table, and
// ERROR to anything else. memcached itself knows neither command.
type fakeDisco struct {
	ln        net.Listener
	table     *discovery.Table
	noMembers bool
	queries   atomic.Int64
	mu        sync.Mutex
	conns     []net.Conn
}

func startFakeDisco(t *testing.T, members []discovery.Member, noMembers bool) *fakeDisco {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeDisco{ln: ln, table: discovery.NewTable(members), noMembers: noMembers}
	go f.serve()
	t.Cleanup(f.close)
	return f
}

func (f *fakeDisco) addr() string { return f.ln.Addr().String() }

func (f *fakeDisco) close() {
	f.ln.Close()
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
}

func (f *fakeDisco) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns = append(f.conns, c)
		f.mu.Unlock()
		go f.handle(c)
	}
}

func (f *fakeDisco) handle(c net.Conn) {
	defer c.Close()
	serveRequests(c, func(req *proto.Request, w net.Conn) {
		out, ok := f.table.AppendConfigCluster(nil), false
		switch {
		case req.Command == proto.CmdConfig && len(req.Args()) == 2 && string(req.Args()[1]) == "cluster":
			f.queries.Add(1)
			ok = true
		case req.Command == proto.CmdCluster && len(req.Args()) == 1 && string(req.Args()[0]) == "members" && !f.noMembers:
			out, ok = f.table.AppendMembers(nil), true
		}
		if !ok {
			out = proto.AppendError(nil, proto.ErrUnknownCommand)
		}
		w.Write(out)
	})
}

// serveRequests reads requests from c with proto's parser and hands each to
// handle, until c fails.
func serveRequests(c net.Conn, handle func(req *proto.Request, w net.Conn)) {
	var buf []byte
	var req proto.Request
	chunk := make([]byte, 4096)
	for {
		n, err := c.Read(chunk)
		if err != nil {
			return
		}
		buf = append(buf, chunk[:n]...)
		for {
			used, err := proto.Parse(buf, &req)
			if err == proto.ErrIncomplete {
				break
			}
			if e, ok := err.(*proto.Error); ok {
				c.Write(proto.AppendError(nil, e))
			} else {
				handle(&req, c)
			}
			buf = buf[used:]
		}
	}
}

// memcachedProc is a memcached process the test can kill and restart on
// the same port.
type memcachedProc struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func (p *memcachedProc) addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

func startMemcachedProc(t *testing.T) *memcachedProc {
	t.Helper()
	p := &memcachedProc{t: t, port: testenv.FreePort(t)}
	p.start()
	t.Cleanup(p.kill)
	return p
}

func (p *memcachedProc) start() {
	p.t.Helper()
	bin := testenv.LookPath(p.t, "memcached")
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(p.port), "-U", "0", "-m", "16"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root")
	}
	p.cmd = exec.Command(bin, args...)
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	if err := testenv.WaitListening(p.addr(), 5*time.Second); err != nil {
		p.t.Fatal(err)
	}
}

// kill is kill -9.
func (p *memcachedProc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		p.cmd = nil
	}
}

// fakeNode is a scripted memcached stand-in: handler gets each request as
// proto parsed it and writes the reply.
type fakeNode struct {
	ln net.Listener
}

func startFakeNode(t *testing.T, handler func(req *proto.Request, w net.Conn)) *fakeNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			conns.Add(1)
			go func() {
				defer conns.Done()
				defer c.Close()
				serveRequests(c, handler)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		conns.Wait()
	})
	return &fakeNode{ln: ln}
}

func (f *fakeNode) addr() string { return f.ln.Addr().String() }

func members(addrs []string, weights ...int) []discovery.Member {
	ms := make([]discovery.Member, len(addrs))
	for i, a := range addrs {
		w := 1
		if i < len(weights) {
			w = weights[i]
		}
		ms[i] = discovery.Member{Name: "m" + strconv.Itoa(i), Addr: a, Status: discovery.StatusAlive, Weight: w}
	}
	return ms
}
