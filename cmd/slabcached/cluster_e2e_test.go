package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slabcache/slabcache/cluster/client"
	"github.com/slabcache/slabcache/cluster/discovery"
	"github.com/slabcache/slabcache/cluster/membership"
	"github.com/slabcache/slabcache/cluster/ring"
	"github.com/slabcache/slabcache/internal/testenv"
	"github.com/slabcache/slabcache/proto"
)

// A test cluster: slabcached processes, each on its own loopback address
// 127.0.0.(40+i), memcached port 11211 (ketama then names a server by its
// host alone, as twemproxy and libmemcached do) and gossip port 7946.

type testNode struct {
	name, ip string
	cmd      *exec.Cmd
	log      *bytes.Buffer
	done     chan error
}

func (n *testNode) addr() string   { return n.ip + ":11211" }
func (n *testNode) gossip() string { return n.ip + ":7946" }

type testCluster struct {
	t        *testing.T
	bin      string
	dir      string
	keyring  string
	mcrouter string
	twem     string
	twemAddr string
	nodes    map[string]*testNode
	prefix   []string // a command the next start runs the node under (startIn)
}

func (tc *testCluster) start(name string, ip string, extra ...string) *testNode {
	tc.t.Helper()
	n := &testNode{name: name, ip: ip, log: &bytes.Buffer{}, done: make(chan error, 1)}
	args := []string{"-l", ip, "-p", "11211", "-m", "16", "--metrics-listen", "off",
		"--cluster", "--cluster-name", name, "--cluster-bind", n.gossip()}
	if tc.keyring != "" {
		args = append(args, "--cluster-keyring", tc.keyring)
	}
	args = append(args, extra...)
	n.cmd = exec.Command(tc.bin, args...)
	if len(tc.prefix) > 0 {
		n.cmd = exec.Command(tc.prefix[0], append(append(tc.prefix[1:len(tc.prefix):len(tc.prefix)], tc.bin), args...)...)
	}
	n.cmd.Stderr = n.log
	if err := n.cmd.Start(); err != nil {
		tc.t.Fatal(err)
	}
	go func() { n.done <- n.cmd.Wait() }()
	tc.t.Cleanup(func() {
		n.cmd.Process.Kill()
		<-n.done
		n.done <- nil
		if tc.t.Failed() {
			tc.t.Logf("%s (%s) log:\n%s", name, ip, logTail(n.log.Bytes(), 200))
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", n.addr(), 100*time.Millisecond); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-n.done:
			n.done <- err
			tc.t.Fatalf("%s exited at start: %v\n%s", name, err, n.log)
		default:
		}
		if time.Now().After(deadline) {
			tc.t.Fatalf("%s does not serve\n%s", name, n.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tc.nodes[name] = n
	return n
}

// logTail returns the last lines of a node's log (all when fewer).
func logTail(b []byte, lines int) []byte {
	for i := len(b) - 2; i >= 0; i-- {
		if b[i] == '\n' {
			if lines--; lines == 0 {
				return b[i+1:]
			}
		}
	}
	return b
}

// newTestCluster skips in short mode, checks that 127.0.0.(base) to
// 127.0.0.(base+n-1) have port 11211 free (skipping otherwise), and returns
// an empty test cluster and the address of node i.
func newTestCluster(t *testing.T, base, n int) (*testCluster, func(i int) string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("starts %d slabcached processes", n)
	}
	ip := func(i int) string { return fmt.Sprintf("127.0.0.%d", base+i) }
	for i := 0; i < n; i++ {
		if l, err := net.Listen("tcp", ip(i)+":11211"); err != nil {
			t.Skipf("%s:11211 is not free: %v", ip(i), err)
		} else {
			l.Close()
		}
	}
	return &testCluster{t: t, bin: buildBinary(t), dir: t.TempDir(), nodes: map[string]*testNode{}}, ip
}

// members asks addr for `cluster members` and returns name -> status.
func members(addr string) (map[string]string, error) {
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(2 * time.Second))
	pc := proto.NewConn(nc)
	if err := pc.Send(discovery.MembersRequest()); err != nil {
		return nil, err
	}
	ms, err := discovery.ReadMembers(pc.Reader())
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range ms {
		out[m.Name] = m.Status.String()
	}
	return out, nil
}

// waitStatus waits until every node in at reports name in status want, and
// returns how long that took.
// joinWithin bounds the wait for a started node to be seen alive by every
// other: more than one full state exchange (push/pull, every 15 s), which
// repairs a join broadcast that a busy machine dropped. A wait ends as soon
// as all agree.
const joinWithin = 35 * time.Second

func (tc *testCluster) waitStatus(at []string, name, want string, within time.Duration) time.Duration {
	tc.t.Helper()
	start := time.Now()
	for {
		ok := true
		var seen []string
		for _, a := range at {
			m, err := members(tc.nodes[a].addr())
			seen = append(seen, fmt.Sprintf("%s:%v", a, m))
			if err != nil || m[name] != want {
				ok = false
			}
		}
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > within {
			tc.t.Fatalf("after %v, %s is not %s everywhere: %v", within, name, want, seen)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rawGet reads key straight from one node ("" when absent).
func rawGet(t *testing.T, addr, key string) string {
	t.Helper()
	rp, err := rawDo(t, addr, &proto.Request{Command: proto.CmdGet, Keys: [][]byte{[]byte(key)}})
	if err != nil || rp.Kind != proto.ReplyValues || len(rp.Values) > 1 {
		t.Fatalf("get %s from %s: %q, %v", key, addr, rp.Line, err)
	}
	if len(rp.Values) == 0 {
		return ""
	}
	return string(rp.Values[0].Data)
}

// rawDo sends one request to the node at addr on a connection of its own
// and reads the reply.
func rawDo(t *testing.T, addr string, req *proto.Request) (proto.Reply, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(2 * time.Second))
	var rp proto.Reply
	err = proto.NewConn(nc).Do(req, &rp)
	return rp, err
}

func ringOf(t *testing.T, addrs []string) ring.Ring {
	var nodes []ring.Node
	for _, a := range addrs {
		nodes = append(nodes, ring.Node{Addr: a})
	}
	r, err := ring.New(ring.KindKetama, nodes)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Real slabcached processes form a cluster over gossip: they join, the Go
// client and slabctl agree on every key's owner and the value is on that
// node, nutcracker with the generated pool routes every key there too, a
// fourth node moves at most 27% of the keys and rewrites the proxy files,
// a killed node is marked failed quickly, a stopped one has left, a
// restarted one rejoins, and a node with the wrong keyring cannot join.
func TestClusterOfRealNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five slabcached processes")
	}
	dir := t.TempDir()
	tc := &testCluster{t: t, bin: buildBinary(t), dir: dir, nodes: map[string]*testNode{},
		keyring: filepath.Join(dir, "keyring"), mcrouter: filepath.Join(dir, "mcrouter.json"),
		twem: filepath.Join(dir, "twemproxy.yml")}
	if err := membership.WriteKeyring(tc.keyring, []byte("slabcache-test-k")); err != nil {
		t.Fatal(err)
	}
	for i := 41; i <= 45; i++ {
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:11211", i)); err != nil {
			t.Skipf("127.0.0.%d:11211 is not free: %v", i, err)
		} else {
			l.Close()
		}
	}
	tc.twemAddr = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	tc.start("n1", "127.0.0.41", "--cluster-mcrouter-config", tc.mcrouter,
		"--cluster-twemproxy-config", tc.twem, "--cluster-twemproxy-listen", tc.twemAddr)
	tc.start("n2", "127.0.0.42", "--cluster-join", "127.0.0.41:7946")
	tc.start("n3", "127.0.0.43", "--cluster-join", "127.0.0.41:7946")
	all := []string{"n1", "n2", "n3"}
	for _, n := range all {
		tc.waitStatus(all, n, "alive", joinWithin)
	}

	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%d:profile", i)
	}
	t.Run("client and slabctl agree", func(t *testing.T) {
		cl, err := client.New(client.Config{Endpoints: []string{"127.0.0.42:11211"}, PollInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if got := len(cl.View().Members); got != 3 {
			t.Fatalf("client sees %d members", got)
		}
		slabctl := filepath.Join(dir, "slabctl")
		if out, err := exec.Command("go", "build", "-o", slabctl, "../slabctl").CombinedOutput(); err != nil {
			t.Fatalf("build slabctl: %v\n%s", err, out)
		}
		out, err := exec.Command(slabctl, append([]string{"-addr", "127.0.0.43:11211", "whereis"}, keys...)...).Output()
		if err != nil {
			t.Fatalf("slabctl whereis: %v", err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != len(keys) {
			t.Fatalf("slabctl printed %d lines for %d keys", len(lines), len(keys))
		}
		perNode := map[string]int{}
		for i, line := range lines {
			f := strings.Split(line, "\t")
			owner := cl.Owner(keys[i])
			if len(f) < 2 || f[0] != keys[i] || f[1] != owner {
				t.Fatalf("key %s: slabctl says %q, client says %s", keys[i], line, owner)
			}
			perNode[owner]++
			if err := cl.Set(&client.Item{Key: keys[i], Value: []byte("v" + strconv.Itoa(i))}); err != nil {
				t.Fatal(err)
			}
		}
		if len(perNode) != 3 {
			t.Fatalf("keys spread over %d nodes: %v", len(perNode), perNode)
		}
		for i, k := range keys {
			if got := rawGet(t, cl.Owner(k), k); got != "v"+strconv.Itoa(i) {
				t.Fatalf("key %s not on its owner %s: %q", k, cl.Owner(k), got)
			}
		}
		t.Logf("1000 keys per node: %v", perNode)
	})

	t.Run("nutcracker routes where the ring says", func(t *testing.T) {
		bin := testenv.LookPath(t, "nutcracker")
		cfg, err := os.ReadFile(tc.twem)
		if err != nil {
			t.Fatalf("twemproxy pool not written: %v", err)
		}
		if c := bytes.Count(cfg, []byte(":11211:")); c != 3 {
			t.Fatalf("twemproxy pool lists %d servers:\n%s", c, cfg)
		}
		cmd := exec.Command(bin, "-c", tc.twem, "-s", strconv.Itoa(testenv.FreePort(t)), "-o", filepath.Join(dir, "nutcracker.log"))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		if err := testenv.WaitListening(tc.twemAddr, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		nc, err := net.Dial("tcp", tc.twemAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		pc := proto.NewConn(nc)
		var rp proto.Reply
		r := ringOf(t, []string{"127.0.0.41:11211", "127.0.0.42:11211", "127.0.0.43:11211"})
		for i := range keys {
			k := "via-twemproxy:" + strconv.Itoa(i)
			set := proto.Request{Command: proto.CmdSet, Key: []byte(k), Value: []byte("x")}
			if err := pc.Do(&set, &rp); err != nil || rp.Status != proto.StatusStored {
				t.Fatalf("set through nutcracker: %q, %v", rp.Line, err)
			}
			owner := r.Nodes()[r.OwnerString(k)].Addr
			if rawGet(t, owner, k) != "x" {
				t.Fatalf("nutcracker put %s elsewhere than %s", k, owner)
			}
		}
	})

	t.Run("a fourth node moves at most 27% of keys and rewrites the proxy files", func(t *testing.T) {
		before := ringOf(t, []string{"127.0.0.41:11211", "127.0.0.42:11211", "127.0.0.43:11211"})
		tc.start("n4", "127.0.0.44", "--cluster-join", "127.0.0.42:7946")
		all = append(all, "n4")
		tc.waitStatus(all, "n4", "alive", joinWithin)
		after := ringOf(t, []string{"127.0.0.41:11211", "127.0.0.42:11211", "127.0.0.43:11211", "127.0.0.44:11211"})
		moved := 0
		const n = 100000
		for i := range n {
			k := "key:" + strconv.Itoa(i)
			if before.Nodes()[before.OwnerString(k)].Addr != after.Nodes()[after.OwnerString(k)].Addr {
				moved++
			}
		}
		t.Logf("ketama, 3 -> 4 nodes at 127.0.0.41-44:11211: %.1f%% of %d keys moved (ideal 25%%)", 100*float64(moved)/n, n)
		if float64(moved)/n > 0.27 {
			t.Errorf("%.1f%% of keys moved, want at most 27%%", 100*float64(moved)/n)
		}
		// The client follows the membership: it sees the fourth node.
		cl, err := client.New(client.Config{Endpoints: []string{"127.0.0.41:11211"}, PollInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if got := len(cl.View().Members); got != 4 {
			t.Errorf("client sees %d members after the join", got)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			m, _ := os.ReadFile(tc.mcrouter)
			y, _ := os.ReadFile(tc.twem)
			if bytes.Contains(m, []byte("127.0.0.44:11211")) && bytes.Count(y, []byte(":11211:")) == 4 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("proxy files not rewritten:\n%s\n%s", m, y)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("kill -9 is detected", func(t *testing.T) {
		n3 := tc.nodes["n3"]
		n3.cmd.Process.Signal(syscall.SIGKILL)
		<-n3.done
		n3.done <- nil
		took := tc.waitStatus([]string{"n1", "n2", "n4"}, "n3", "failed", 10*time.Second)
		t.Logf("kill -9 of n3: every other node marked it failed after %v", took)
	})

	t.Run("SIGTERM leaves gracefully", func(t *testing.T) {
		n4 := tc.nodes["n4"]
		n4.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-n4.done:
			n4.done <- nil
			if err != nil {
				t.Fatalf("n4 exit: %v\n%s", err, n4.log)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("n4 did not stop")
		}
		took := tc.waitStatus([]string{"n1", "n2"}, "n4", "left", 5*time.Second)
		t.Logf("SIGTERM of n4: the others saw it leave after %v", took)
	})

	t.Run("a restarted node rejoins", func(t *testing.T) {
		tc.start("n3", "127.0.0.43", "--cluster-join", "127.0.0.41:7946")
		took := tc.waitStatus([]string{"n1", "n2", "n3"}, "n3", "alive", 10*time.Second)
		t.Logf("restarted n3 alive everywhere after %v", took)
	})

	t.Run("a node with the wrong keyring cannot join", func(t *testing.T) {
		wrong := filepath.Join(dir, "wrong-keyring")
		if err := membership.WriteKeyring(wrong, []byte("another-key-0123")); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(tc.bin, "-l", "127.0.0.45", "-p", "11211", "--metrics-listen", "off",
			"--cluster", "--cluster-name", "intruder", "--cluster-bind", "127.0.0.45:7946",
			"--cluster-keyring", wrong, "--cluster-join", "127.0.0.41:7946", "--cluster-retry-join", "0")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("the intruder started:\n%s", stderr.String())
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("the intruder neither joined nor gave up:\n%s", stderr.String())
		}
		m, err := members("127.0.0.41:11211")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m["intruder"]; ok {
			t.Fatalf("members list the intruder: %v", m)
		}
	})
}
