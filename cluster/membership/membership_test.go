package membership

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/slabcache/slabcache/cluster/discovery"
)

// node is one in-process cluster member for tests, bound to its own
// loopback address (all of 127.0.0.0/8 is local on Linux).
type node struct {
	m     *Membership
	ip    string
	table *discovery.Table
	calls atomic.Int64
}

type nodeOpt func(*Config)

func startNode(t *testing.T, ip, name string, join []string, opts ...nodeOpt) (*node, error) {
	t.Helper()
	n := &node{ip: ip}
	cfg := DefaultConfig()
	cfg.Enabled = true
	cfg.NodeName = name
	cfg.MemcachedAddr = ip + ":11211"
	cfg.BindAddr = ip
	cfg.BindPort = 0
	cfg.Join = join
	cfg.RetryJoinInterval = 0
	cfg.Region = "test"
	n.table = discovery.NewTable(nil)
	cfg.OnChange = func(ms []discovery.Member) {
		n.calls.Add(1)
		n.table.Update(ms)
	}
	for _, o := range opts {
		o(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		return nil, err
	}
	n.m = m
	t.Cleanup(func() { m.Close() })
	return n, nil
}

func mustStart(t *testing.T, ip, name string, join []string, opts ...nodeOpt) *node {
	t.Helper()
	n, err := startNode(t, ip, name, join, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// statusOf returns the status n sees for the member called name, or 0.
func statusOf(n *node, name string) discovery.Status {
	for _, m := range n.m.Members() {
		if m.Name == name {
			return m.Status
		}
	}
	return 0
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func aliveNames(n *node) string {
	var s []string
	for _, m := range n.m.Members() {
		if m.Status == discovery.StatusAlive {
			s = append(s, m.Name)
		}
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

func TestDisabledIsJustSelf(t *testing.T) {
	var got [][]discovery.Member
	var mu sync.Mutex
	cfg := DefaultConfig()
	cfg.NodeName = "solo"
	cfg.MemcachedAddr = "127.0.0.1:11211"
	cfg.Weight = 3
	cfg.OnChange = func(ms []discovery.Member) { mu.Lock(); got = append(got, ms); mu.Unlock() }
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []discovery.Member{{Name: "solo", Addr: "127.0.0.1:11211", Status: discovery.StatusAlive, Weight: 3}}
	if ms := m.Members(); len(ms) != 1 || ms[0] != want[0] {
		t.Fatalf("Members() = %+v, want %+v", ms, want)
	}
	waitFor(t, 2*time.Second, "OnChange called with self", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 })
	if m.GossipAddr() != "" {
		t.Errorf("GossipAddr %q with clustering off", m.GossipAddr())
	}
	if _, err := m.Join("127.0.0.1:7946"); err == nil {
		t.Error("Join succeeded with clustering off")
	}
	if err := m.Leave(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Join("x"); err == nil {
		t.Error("Join after Leave succeeded")
	}
}

// TestJoinLeaveFailRejoin walks a three-node cluster through its life:
// join, a graceful leave, a failure (shutdown without leave), and a
// restart of the failed node under the same name and address.
func TestJoinLeaveFailRejoin(t *testing.T) {
	n1 := mustStart(t, "127.0.0.11", "n1", nil)
	seed := []string{n1.m.GossipAddr()}
	n2 := mustStart(t, "127.0.0.12", "n2", seed, func(c *Config) { c.Weight = 2; c.Region = "eu" })
	n3 := mustStart(t, "127.0.0.13", "n3", seed)
	nodes := []*node{n1, n2, n3}

	for _, n := range nodes {
		waitFor(t, 5*time.Second, n.m.cfg.NodeName+" sees n1,n2,n3 alive", func() bool { return aliveNames(n) == "n1,n2,n3" })
	}
	// Tags travel: n1 sees n2's memcached address, weight and region.
	var seen discovery.Member
	for _, m := range n1.m.Members() {
		if m.Name == "n2" {
			seen = m
		}
	}
	want := discovery.Member{Name: "n2", Addr: "127.0.0.12:11211", IP: "127.0.0.12", GossipAddr: n2.m.GossipAddr(), Status: discovery.StatusAlive, Weight: 2, Region: "eu"}
	if seen != want {
		t.Fatalf("n1 sees n2 as %+v, want %+v", seen, want)
	}
	if n2.m.Local() != want {
		t.Fatalf("n2.Local() = %+v, want %+v", n2.m.Local(), want)
	}
	// Every node's discovery table followed: three alive members, and a
	// version that moved past the initial one.
	for _, n := range nodes {
		waitFor(t, 2*time.Second, "table shows three members", func() bool {
			return len(discovery.Alive(n.table.View().Members)) == 3
		})
		if n.table.Version() < 2 {
			t.Errorf("%s: table version %d after joins", n.m.cfg.NodeName, n.table.Version())
		}
	}

	// Graceful leave: the others see "left", not "failed".
	v1 := n1.table.Version()
	if err := n3.m.Leave(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{n1, n2} {
		waitFor(t, 5*time.Second, "n3 left", func() bool { return statusOf(n, "n3") == discovery.StatusLeft })
	}
	waitFor(t, 2*time.Second, "n1's version increments on the leave", func() bool { return n1.table.Version() > v1 })

	// Failure: n2 stops without leaving.
	v1 = n1.table.Version()
	n2port := n2.m.GossipAddr()
	start := time.Now()
	n2.m.Close()
	d := waitFor(t, 10*time.Second, "n1 marks n2 failed", func() bool { return statusOf(n1, "n2") == discovery.StatusFailed })
	t.Logf("n1 marked n2 failed %v after it stopped", d.Round(time.Millisecond))
	waitFor(t, 2*time.Second, "n1's version increments on the failure", func() bool { return n1.table.Version() > v1 })
	if got := discovery.Alive(n1.table.View().Members); len(got) != 1 || got[0].Name != "n1" {
		t.Fatalf("alive after leave and failure: %+v", got)
	}
	_ = start

	// Rejoin: n2 restarts on the same address and port.
	v1 = n1.table.Version()
	_, port, _ := strings.Cut(n2port, ":")
	var portN int
	fmt.Sscan(port, &portN)
	n2b := mustStart(t, "127.0.0.12", "n2", seed, func(c *Config) { c.BindPort = portN })
	waitFor(t, 5*time.Second, "n1 sees n2 alive again", func() bool { return statusOf(n1, "n2") == discovery.StatusAlive })
	waitFor(t, 5*time.Second, "n2 sees n1", func() bool { return statusOf(n2b, "n1") == discovery.StatusAlive })
	waitFor(t, 2*time.Second, "n1's version increments on the rejoin", func() bool { return n1.table.Version() > v1 })
}

// TestFailureDetectionTime stops a node of four without leaving (as kill -9
// does: its sockets close) and measures how long until every other node
// marks it failed. The goal is under 2 s on loopback with the default
// timings; the figure is logged (go test -run FailureDetection -v).
func TestFailureDetectionTime(t *testing.T) {
	trials := 3
	if testing.Short() {
		trials = 1
	}
	var times []time.Duration
	for trial := 0; trial < trials; trial++ {
		base := 20 + 10*trial
		ip := func(i int) string { return fmt.Sprintf("127.0.0.%d", base+i) }
		first := mustStart(t, ip(0), "f0", nil)
		nodes := []*node{first}
		for i := 1; i < 4; i++ {
			nodes = append(nodes, mustStart(t, ip(i), fmt.Sprintf("f%d", i), []string{first.m.GossipAddr()}))
		}
		for _, n := range nodes {
			waitFor(t, 5*time.Second, "four alive", func() bool { return aliveNames(n) == "f0,f1,f2,f3" })
		}
		// Let the cluster settle so no probe is in flight from the join.
		time.Sleep(300 * time.Millisecond)
		victim := nodes[3]
		start := time.Now()
		victim.m.Close()
		var wg sync.WaitGroup
		var worst atomic.Int64
		for _, n := range nodes[:3] {
			wg.Add(1)
			go func(n *node) {
				defer wg.Done()
				deadline := start.Add(10 * time.Second)
				for statusOf(n, "f3") != discovery.StatusFailed {
					if time.Now().After(deadline) {
						return
					}
					time.Sleep(2 * time.Millisecond)
				}
				d := int64(time.Since(start))
				for {
					w := worst.Load()
					if d <= w || worst.CompareAndSwap(w, d) {
						break
					}
				}
			}(n)
		}
		wg.Wait()
		for _, n := range nodes[:3] {
			if statusOf(n, "f3") != discovery.StatusFailed {
				t.Fatalf("trial %d: %s does not mark f3 failed after 10s", trial, n.m.cfg.NodeName)
			}
		}
		d := time.Duration(worst.Load())
		times = append(times, d)
		for _, n := range nodes[:3] {
			n.m.Close()
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	t.Logf("failure detection, 4 nodes, time until all 3 others mark the stopped node failed: min %v, median %v, max %v over %d trials",
		times[0].Round(time.Millisecond), times[len(times)/2].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond), len(times))
}

func writeKey(t *testing.T, keys ...[]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyring.json")
	if err := WriteKeyring(path, keys...); err != nil {
		t.Fatal(err)
	}
	return path
}

func newKey(t *testing.T) []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyringJoin(t *testing.T) {
	keyA, keyB := newKey(t), newKey(t)
	withKeyring := func(path string) nodeOpt { return func(c *Config) { c.KeyringFile = path } }
	fileA := writeKey(t, keyA)

	n1 := mustStart(t, "127.0.0.41", "k1", nil, withKeyring(fileA))
	seed := []string{n1.m.GossipAddr()}

	// Same key: joins.
	mustStart(t, "127.0.0.42", "k2", seed, withKeyring(writeKey(t, keyA)))
	waitFor(t, 5*time.Second, "k1 sees k2", func() bool { return aliveNames(n1) == "k1,k2" })

	// Wrong key, no key, and the right key only as a secondary (it
	// encrypts with its primary): none can join.
	for name, opt := range map[string]nodeOpt{
		"wrong-key":       withKeyring(writeKey(t, keyB)),
		"no-key":          func(c *Config) {},
		"key-a-secondary": withKeyring(writeKey(t, keyB, keyA)),
	} {
		_, err := startNode(t, "127.0.0.43", name, seed, opt)
		if err == nil {
			t.Errorf("%s: joined an encrypted cluster", name)
		}
	}
	// A node holding key A as primary and B as secondary joins.
	mustStart(t, "127.0.0.44", "k3", seed, withKeyring(writeKey(t, keyA, keyB)))
	waitFor(t, 5*time.Second, "k1 sees k3", func() bool { return aliveNames(n1) == "k1,k2,k3" })
	time.Sleep(200 * time.Millisecond)
	if got := aliveNames(n1); got != "k1,k2,k3" {
		t.Fatalf("k1 sees %s: a node without the key got in", got)
	}
	// An explicit Join with a wrong key fails too.
	other := mustStart(t, "127.0.0.45", "stranger", nil, withKeyring(writeKey(t, keyB)))
	if _, err := other.m.Join(seed...); err == nil {
		t.Fatal("Join with the wrong key succeeded")
	}
}

func TestLoadKeyring(t *testing.T) {
	k := newKey(t)
	path := writeKey(t, k, newKey(t))
	kr, err := LoadKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(kr.GetPrimaryKey()) != string(k) || len(kr.GetKeys()) != 2 {
		t.Fatal("primary key is not the first of the file")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("keyring mode %v, want 0600", st.Mode().Perm())
	}
	dir := t.TempDir()
	for name, content := range map[string]string{
		"notjson": "hello",
		"empty":   "[]",
		"base64":  `["!!!"]`,
		"length":  `["YWJj"]`,
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		if _, err := LoadKeyring(p); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	if _, err := LoadKeyring(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file loaded")
	}
	if err := WriteKeyring(filepath.Join(dir, "x"), []byte("short")); err == nil {
		t.Error("wrote a 5-byte key")
	}
	// A node with an unreadable keyring does not start.
	cfg := DefaultConfig()
	cfg.Enabled, cfg.NodeName, cfg.MemcachedAddr, cfg.BindAddr, cfg.BindPort = true, "x", "127.0.0.1:1", "127.0.0.46", 0
	cfg.KeyringFile = filepath.Join(dir, "empty")
	if _, err := New(cfg); err == nil {
		t.Error("started with an empty keyring")
	}
}

func TestConfigValidation(t *testing.T) {
	base := DefaultConfig()
	base.NodeName = "n"
	base.MemcachedAddr = "127.0.0.1:11211"
	bad := map[string]func(*Config){
		"no memcached addr": func(c *Config) { c.MemcachedAddr = "" },
		"addr without port": func(c *Config) { c.MemcachedAddr = "127.0.0.1" },
		"name with space":   func(c *Config) { c.NodeName = "a b" },
		"region with pipe":  func(c *Config) { c.Region = "a|b" },
		"bind not an IP":    func(c *Config) { c.BindAddr = "localhost" },
		"advertise not IP":  func(c *Config) { c.AdvertiseAddr = "host" },
		"port out of range": func(c *Config) { c.BindPort = 70000 },
		"timeout>=interval": func(c *Config) { c.ProbeTimeout = c.ProbeInterval },
		"negative weight":   func(c *Config) { c.Weight = -2 },
		"empty seed":        func(c *Config) { c.Join = []string{""} },
	}
	for name, mut := range bad {
		c := base
		mut(&c)
		if _, err := New(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: New error %v, want ErrConfig", name, err)
		}
	}
	// Zero timings take the defaults.
	c := base
	c.ProbeInterval, c.ProbeTimeout, c.SuspicionMult, c.GossipInterval = 0, 0, 0, 0
	got, err := c.withDefaults()
	if err != nil || got.ProbeInterval != DefaultProbeInterval || got.ProbeTimeout != DefaultProbeTimeout || got.SuspicionMult != DefaultSuspicionMult {
		t.Errorf("zero timings: %+v, %v", got, err)
	}
}

func TestJoinFailureAndRetry(t *testing.T) {
	// Nobody listens at the seed: without retry New fails.
	if _, err := startNode(t, "127.0.0.51", "lonely", []string{"127.0.0.52:1"}); err == nil {
		t.Fatal("joined a seed that does not exist")
	}
	// With retry New succeeds and the node joins once the seed is up.
	seedAddr := "127.0.0.53:17946"
	n := mustStart(t, "127.0.0.51", "patient", []string{seedAddr}, func(c *Config) { c.RetryJoinInterval = 50 * time.Millisecond })
	if got := aliveNames(n); got != "patient" {
		t.Fatalf("before the seed is up: %s", got)
	}
	mustStart(t, "127.0.0.53", "seed", nil, func(c *Config) { c.BindPort = 17946 })
	waitFor(t, 5*time.Second, "retry joins the seed", func() bool { return aliveNames(n) == "patient,seed" })
}

func TestOnChangeIsSerialAndCoalesced(t *testing.T) {
	var inflight, maxInflight, calls atomic.Int32
	slow := func(c *Config) {
		c.OnChange = func([]discovery.Member) {
			if v := inflight.Add(1); v > maxInflight.Load() {
				maxInflight.Store(v)
			}
			calls.Add(1)
			time.Sleep(30 * time.Millisecond)
			inflight.Add(-1)
		}
	}
	n1 := mustStart(t, "127.0.0.61", "s1", nil, slow)
	seed := []string{n1.m.GossipAddr()}
	for i := 2; i <= 5; i++ {
		mustStart(t, fmt.Sprintf("127.0.0.%d", 60+i), fmt.Sprintf("s%d", i), seed)
	}
	waitFor(t, 5*time.Second, "five alive", func() bool { return aliveNames(n1) == "s1,s2,s3,s4,s5" })
	time.Sleep(100 * time.Millisecond)
	if maxInflight.Load() != 1 {
		t.Fatalf("OnChange ran %d at a time", maxInflight.Load())
	}
	if calls.Load() < 2 {
		t.Fatalf("OnChange called %d times", calls.Load())
	}
}

func TestZapWriterLevels(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	w := &zapWriter{log: zap.New(core)}
	for _, l := range []string{"[DEBUG] memberlist: a", "[INFO] serf: b", "[WARN] serf: c", "[ERR] memberlist: d", "plain e"} {
		w.Write([]byte(l + "\n"))
	}
	got := logs.AllUntimed()
	want := []struct {
		lvl string
		msg string
	}{{"debug", "memberlist: a"}, {"info", "serf: b"}, {"warn", "serf: c"}, {"error", "memberlist: d"}, {"info", "plain e"}}
	if len(got) != len(want) {
		t.Fatalf("%d entries", len(got))
	}
	for i, e := range got {
		if e.Level.String() != want[i].lvl || e.Message != want[i].msg {
			t.Errorf("entry %d: %s %q, want %s %q", i, e.Level, e.Message, want[i].lvl, want[i].msg)
		}
	}
}
