package client

import (
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slabcache/slabcache/cluster/discovery"
	"github.com/slabcache/slabcache/internal/mctest"
	"github.com/slabcache/slabcache/internal/testenv"
	"github.com/slabcache/slabcache/proto"
)

// fakeDisco is a tiny discovery endpoint (testenv.ServeDiscovery) over a
// table the test changes: it answers `config get cluster` and (unless
// noMembers) `cluster members`, and ERROR to anything else. memcached
// itself knows neither command.
type fakeDisco struct {
	address string
	close   func()
	table   *discovery.Table
	queries atomic.Int64
}

func startFakeDisco(t testing.TB, members []discovery.Member, noMembers bool) *fakeDisco {
	t.Helper()
	f := &fakeDisco{table: discovery.NewTable(members)}
	f.address, f.close = mctest.ServeDiscovery(t, f.table, noMembers, func() { f.queries.Add(1) })
	return f
}

func (f *fakeDisco) addr() string { return f.address }

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

// startFakeNode starts a scripted memcached stand-in (testenv.Serve):
// handle gets each request as proto parsed it and appends the reply.
func startFakeNode(t *testing.T, handle func(req *proto.Request, dst []byte) []byte) string {
	t.Helper()
	addr, _ := mctest.Serve(t, handle)
	return addr
}

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
