package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slabcache/slabcache/cluster/discovery"
	"github.com/slabcache/slabcache/cluster/ring"
	"github.com/slabcache/slabcache/proto"
)

func readConfig(t *testing.T, n *Node) discovery.View {
	t.Helper()
	v, err := discovery.ReadConfigCluster(proto.NewReader(strings.NewReader(string(n.AppendConfigCluster(nil)))))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out: " + what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStandaloneNodeAnswersWithItself(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Membership.NodeName = "solo"
	cfg.Membership.MemcachedAddr = "127.0.0.1:11211"
	cfg.Files.McrouterPath = filepath.Join(dir, "mcrouter.json")
	cfg.Files.TwemproxyPath = filepath.Join(dir, "nutcracker.yml")
	n, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Leave()
	want := "CONFIG cluster 0 28\r\n1\n127.0.0.1|127.0.0.1|11211\n\r\nEND\r\n"
	if got := string(n.AppendConfigCluster(nil)); got != want {
		t.Fatalf("config get cluster: %q, want %q", got, want)
	}
	if got := string(n.AppendMembers(nil)); got != "MEMBER solo 127.0.0.1:11211 - alive 1 -\r\nEND\r\n" {
		t.Fatalf("cluster members: %q", got)
	}
	// Files are there from the start.
	data, err := os.ReadFile(cfg.Files.McrouterPath)
	if err != nil || !strings.Contains(string(data), `"127.0.0.1:11211"`) {
		t.Fatalf("mcrouter config: %v\n%s", err, data)
	}
	if data, err := os.ReadFile(cfg.Files.TwemproxyPath); err != nil || !strings.Contains(string(data), "   - 127.0.0.1:11211:1\n") {
		t.Fatalf("twemproxy config: %v\n%s", err, data)
	}
}

func TestStartFailsOnUnwritableFiles(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Membership.NodeName = "solo"
	cfg.Membership.MemcachedAddr = "127.0.0.1:11211"
	cfg.Files.McrouterPath = filepath.Join(t.TempDir(), "no-such-dir", "mcrouter.json")
	if _, err := Start(cfg); err == nil {
		t.Fatal("started with a config path in a missing directory")
	}
	cfg.Files = discovery.ProxyFiles{}
	cfg.Membership.MemcachedAddr = ""
	if _, err := Start(cfg); err == nil {
		t.Fatal("started without a memcached address")
	}
}

func TestAppendReply(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Membership.NodeName = "solo"
	cfg.Membership.MemcachedAddr = "127.0.0.1:11300"
	n, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	// answer parses line as the server does and asks n to answer it.
	answer := func(dst []byte, line string, req *proto.Request) ([]byte, bool) {
		if _, err := proto.Parse([]byte(line+"\r\n"), req); err != nil {
			return dst, false
		}
		return n.AppendReply(dst, req.Command, req.Args())
	}
	var req proto.Request
	for _, line := range []string{"config get cluster", "config  get   cluster ", "cluster members", "cluster  members"} {
		got, ok := answer([]byte("prefix:"), line, &req)
		if !ok {
			t.Errorf("%q not recognised", line)
			continue
		}
		var want []byte
		if strings.Contains(line, "config") {
			want = n.AppendConfigCluster([]byte("prefix:"))
		} else {
			want = n.AppendMembers([]byte("prefix:"))
		}
		if string(got) != string(want) {
			t.Errorf("%q: %q", line, got)
		}
	}
	if got, ok := answer(nil, "config get placement", &req); !ok || string(got) != "CONFIG placement 0 7\r\nketama\n\r\nEND\r\n" {
		t.Errorf("config get placement: %q, %v", got, ok)
	}
	for _, line := range []string{"config get", "config get cluster extra", "config get placement x", "config get foo", "cluster", "cluster members x", "get cluster", "", "a b c d e f"} {
		if got, ok := answer([]byte("p"), line, &req); ok || string(got) != "p" {
			t.Errorf("%q answered: %q", line, got)
		}
	}
	buf := make([]byte, 0, 1024)
	for _, line := range []string{"config get cluster\r\n", "config get placement\r\n"} {
		proto.Parse([]byte(line), &req)
		if a := testing.AllocsPerRun(100, func() { buf, _ = n.AppendReply(buf[:0], req.Command, req.Args()) }); a != 0 {
			t.Errorf("AppendReply(%q) allocates %v times", line, a)
		}
	}
}

// TestPlacementConfig: the node advertises the placement it is started
// with, refuses one it does not know, and places keys by it.
func TestPlacementConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Membership.NodeName = "solo"
	cfg.Membership.MemcachedAddr = "127.0.0.1:11300"
	cfg.Placement = ring.Kind(200)
	if _, err := Start(cfg); !errors.Is(err, ring.ErrUnknownKind) {
		t.Fatalf("unknown placement: %v", err)
	}
	cfg.Placement = ring.KindKetamaMD5
	n, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if got := string(n.AppendConfigPlacement(nil)); got != "CONFIG placement 0 11\r\nketama-md5\n\r\nEND\r\n" || n.kind != ring.KindKetamaMD5 {
		t.Fatalf("advertises %q, placement %s", got, n.kind)
	}
	if r := n.rings.Load(); r == nil || r.ring.Kind() != ring.KindKetamaMD5 {
		t.Fatal("the node's ring is not ketama-md5")
	}
}

// TestClusterFollowsMembership runs two clustered nodes: discovery, the
// version and the proxy files follow a join and a graceful leave.
func TestClusterFollowsMembership(t *testing.T) {
	dir := t.TempDir()
	start := func(ip, name string, join []string) *Node {
		cfg := DefaultConfig()
		cfg.Membership.Enabled = true
		cfg.Membership.NodeName = name
		cfg.Membership.MemcachedAddr = ip + ":11211"
		cfg.Membership.BindAddr = ip
		cfg.Membership.BindPort = 0
		cfg.Membership.Join = join
		cfg.Files.McrouterPath = filepath.Join(dir, name+".json")
		n, err := Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	a := start("127.0.0.71", "a", nil)
	v0 := a.Version()
	b := start("127.0.0.72", "b", []string{a.Membership().GossipAddr()})
	waitFor(t, "a lists two nodes", func() bool { return len(readConfig(t, a).Members) == 2 })
	waitFor(t, "b lists two nodes", func() bool { return len(readConfig(t, b).Members) == 2 })
	if v := readConfig(t, a); v.Version <= v0 {
		t.Fatalf("version %d after a join, was %d", v.Version, v0)
	}
	servers := func() []string {
		var cfg struct {
			Pools map[string]struct{ Servers []string } `json:"pools"`
		}
		data, _ := os.ReadFile(filepath.Join(dir, "a.json"))
		json.Unmarshal(data, &cfg)
		return cfg.Pools[discovery.DefaultPool].Servers
	}
	waitFor(t, "a's mcrouter file lists both", func() bool { return len(servers()) == 2 })
	if s := servers(); s[0] != "127.0.0.71:11211" || s[1] != "127.0.0.72:11211" {
		t.Fatalf("servers %v", s)
	}
	// Both compute the same nodes for a hot key's copies, the owner first.
	for _, key := range []string{"k1", "user:7"} {
		ra, sa := a.Replicas([]byte(key), 3)
		rb, sb := b.Replicas([]byte(key), 3)
		if len(ra) != 2 || !slices.Equal(ra, rb) || sa < 0 || sb < 0 || sa == sb || ra[sa] != "127.0.0.71:11211" {
			t.Fatalf("%s: a places copies on %v (self %d), b on %v (self %d)", key, ra, sa, rb, sb)
		}
	}
	// Exactly one of them owns each key: the first of its replicas.
	for i := range 50 {
		key := []byte(fmt.Sprintf("key:%d", i))
		r, _ := a.Replicas(key, 1)
		if a.Owns(key) == b.Owns(key) || a.Owns(key) != (r[0] == "127.0.0.71:11211") {
			t.Fatalf("%s: a owns it %v, b %v, owner by the ring %v", key, a.Owns(key), b.Owns(key), r)
		}
	}
	// A third node joins: a gave it the keys a owned and c owns now; c,
	// joining, gave nothing up.
	ownedBefore := map[string]bool{}
	for i := range 200 {
		key := fmt.Sprintf("key:%d", i)
		ownedBefore[key] = a.Owns([]byte(key))
	}
	c := start("127.0.0.73", "c", []string{a.Membership().GossipAddr()})
	waitFor(t, "a lists three nodes", func() bool { return len(readConfig(t, a).Members) == 3 })
	waitFor(t, "c lists three nodes", func() bool { return len(readConfig(t, c).Members) == 3 })
	// The ring follows the list a moment later (the same membership
	// event, after the list is published).
	for _, n := range []*Node{a, c} {
		waitFor(t, "the ring has three nodes", func() bool { r, _ := n.Replicas([]byte("k1"), 3); return len(r) == 3 })
	}
	gaveA, gaveC := a.GaveUp(), c.GaveUp()
	moved := 0
	gaveToC := map[string]bool{}
	for key, owned := range ownedBefore {
		k := []byte(key)
		if want := owned && !a.Owns(k); gaveA(k) != want || gaveC(k) {
			t.Fatalf("%s: a gave it up %v (want %v), c %v", key, gaveA(k), want, gaveC(k))
		}
		if gaveA(k) {
			moved++
			gaveToC[key] = true
			if !c.Owns(k) {
				t.Fatalf("%s: given up by a, not owned by c", key)
			}
		}
	}
	if moved == 0 {
		t.Fatal("a gave up no key to c")
	}
	if err := c.Leave(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a drops c", func() bool { return len(readConfig(t, a).Members) == 2 })
	// The keys a gave c at c's join left a at the change before the last.
	waitFor(t, "a's ring drops c", func() bool { r, _ := a.Replicas([]byte("k1"), 3); return len(r) == 2 })
	for key := range ownedBefore {
		if _, gave := a.GaveUpBefore([]byte(key)); gave != gaveToC[key] {
			t.Fatalf("%s: a gave it up at the change before the last: %v, want %v", key, gave, gaveToC[key])
		}
	}

	v1 := a.Version()
	if err := b.Leave(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a drops b from config get cluster", func() bool { return len(readConfig(t, a).Members) == 1 })
	waitFor(t, "a's mcrouter file drops b", func() bool { return len(servers()) == 1 })
	if a.Version() <= v1 {
		t.Fatalf("version %d after a leave, was %d", a.Version(), v1)
	}
	// Taking b's keys, a gave nothing up; the test made before follows
	// the ring: a owns every key again.
	for key := range ownedBefore {
		if k := []byte(key); a.GaveUp()(k) || gaveA(k) {
			t.Fatalf("%s: given up by a after b left", key)
		}
	}
	// cluster members still lists b (and c), as left.
	ms, err := discovery.ReadMembers(proto.NewReader(strings.NewReader(string(a.AppendMembers(nil)))))
	if err != nil || len(ms) != 3 || ms[1].Name != "b" || ms[1].Status != discovery.StatusLeft {
		t.Fatalf("members after leave: %+v, %v", ms, err)
	}
}

// A member that leaves and comes back is reported clean by the others when
// nothing else changed on the ring meanwhile, and changed when something
// did; a node that did not see it leave does not know.
func TestAbsenceOfAMemberThatComesBack(t *testing.T) {
	start := func(ip, name string, join ...string) *Node {
		cfg := DefaultConfig()
		cfg.Membership.Enabled = true
		cfg.Membership.NodeName = name
		cfg.Membership.MemcachedAddr = ip + ":11211"
		cfg.Membership.BindAddr = ip
		cfg.Membership.Join = join
		n, err := Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	onRing := func(n *Node, count int) {
		waitFor(t, fmt.Sprintf("%s's ring has %d nodes", n.Self(), count), func() bool {
			r, _ := n.Replicas([]byte("k"), 5)
			return len(r) == count
		})
	}
	state := func(n *Node, addr string) AbsenceState { return n.Absence(addr).State }
	const cAddr, dAddr = "127.0.0.76:11211", "127.0.0.77:11211"
	a := start("127.0.0.74", "a")
	seed := a.Membership().GossipAddr()
	b := start("127.0.0.75", "b", seed)
	c := start("127.0.0.76", "c", seed)
	onRing(a, 3)
	onRing(b, 3)
	if s := state(a, cAddr); s != AbsenceUnknown {
		t.Fatalf("c never left: a reports %v", s)
	}
	if err := c.Leave(); err != nil {
		t.Fatal(err)
	}
	onRing(a, 2)
	if s := state(a, cAddr); s != AbsenceAway {
		t.Fatalf("c left: a reports %v", s)
	}
	c = start("127.0.0.76", "c", seed)
	onRing(a, 3)
	onRing(b, 3)
	for _, n := range []*Node{a, b} {
		if s := state(n, cAddr); s != AbsenceClean {
			t.Fatalf("c is back and nothing else changed: %s reports %v", n.Self(), s)
		}
	}
	if s := state(c, cAddr); s != AbsenceUnknown {
		t.Fatalf("c about itself: %v", s)
	}

	// c goes again; while it is away d joins: the keys that move to d
	// were noted for c on the others, not on d.
	if err := c.Leave(); err != nil {
		t.Fatal(err)
	}
	onRing(a, 2)
	d := start("127.0.0.77", "d", seed)
	onRing(a, 3)
	start("127.0.0.76", "c", seed)
	onRing(a, 4)
	onRing(d, 4)
	if s := state(a, cAddr); s != AbsenceChanged {
		t.Fatalf("d joined while c was away: a reports %v", s)
	}
	if s := state(d, cAddr); s != AbsenceUnknown && s != AbsenceChanged {
		t.Fatalf("d joined after c left: d reports %v", s)
	}
	if s := state(a, dAddr); s != AbsenceUnknown {
		t.Fatalf("d never left: a reports %v", s)
	}
}

// When a member goes, the others judge whether keys it owned were still
// settling on it by when they last moved to it. Another member's restart
// (it leaves, it comes back) gives a ketama ring's other members nothing
// to keep (they gave back what they took), so a member that goes just
// after it is judged by the change before; the member that came back
// took keys when it came back. With jump, where keys can move between
// the remaining nodes, any change counts. Rings replaced longer than
// AwayLeftFor ago, and past maxEras, are forgotten.
func TestGainedKeysThroughAnotherMembersRestart(t *testing.T) {
	const a, b, c = "10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"
	t0 := time.Now().Add(-time.Minute)
	ringOf := func(kind ring.Kind, addrs ...string) ring.Ring {
		var ns []ring.Node
		for _, x := range addrs {
			ns = append(ns, ring.Node{Addr: x})
		}
		r, err := ring.New(kind, ns)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, kind := range []ring.Kind{ring.KindKetamaMD5, ring.KindJump} {
		mk := func(addrs ...string) ring.Ring { return ringOf(kind, addrs...) }
		n := &Node{}
		n.addEraLocked(mk(a, b), t0)
		n.addEraLocked(mk(a, b, c), t0.Add(10*time.Second)) // c joins
		n.addEraLocked(mk(a, b), t0.Add(20*time.Second))    // c leaves
		n.addEraLocked(mk(a, b, c), t0.Add(30*time.Second)) // c is back
		wantB := t0
		if kind == ring.KindJump {
			wantB = t0.Add(30 * time.Second)
		}
		if got := n.gainedLocked(b); !got.Equal(wantB) {
			t.Errorf("%v: b last took keys it owns at %v, want %v", kind, got.Sub(t0), wantB.Sub(t0))
		}
		if got := n.gainedLocked(c); !got.Equal(t0.Add(30 * time.Second)) {
			t.Errorf("%v: c last took keys at %v, want its return (30s)", kind, got.Sub(t0))
		}
	}

	n := &Node{}
	r := func(addrs ...string) ring.Ring { return ringOf(ring.KindKetamaMD5, addrs...) }
	n.addEraLocked(r(a, b), t0.Add(-time.Hour))
	n.addEraLocked(r(a, b, c), t0.Add(-AwayLeftFor-time.Minute))
	n.addEraLocked(r(a, b, c), t0) // the first ring was replaced 11 minutes before: it goes
	if len(n.eras) != 2 {
		t.Fatalf("%d rings kept, want 2 (the first was replaced more than AwayLeftFor before the last change)", len(n.eras))
	}
	if got := n.gainedLocked(b); !got.Equal(t0.Add(-AwayLeftFor - time.Minute)) {
		t.Errorf("b: %v, want the start of the oldest ring kept", got.Sub(t0))
	}
	for i := range 2 * maxEras {
		n.addEraLocked(r(a, b, c), t0.Add(time.Duration(i+1)*time.Second))
	}
	if len(n.eras) != maxEras {
		t.Errorf("%d rings kept, want at most %d", len(n.eras), maxEras)
	}
}

// A node that leaves is away for the others, not for itself: none of its
// own keys has it as an away owner (its writes of them are not noted for
// it, nor deleted on it before its hand-over push), while a member that
// left is away.
func TestLeavingNodeIsNotAwayForItself(t *testing.T) {
	now := time.Now()
	n := &Node{self: "10.0.0.1:11211", kind: ring.KindKetama, left: map[string]time.Time{"10.0.0.1:11211": now, "10.0.0.2:11211": now}}
	ms := []discovery.Member{
		{Name: "a", Addr: "10.0.0.1:11211", Status: discovery.StatusLeaving},
		{Name: "b", Addr: "10.0.0.2:11211", Status: discovery.StatusLeft},
		{Name: "c", Addr: "10.0.0.3:11211", Status: discovery.StatusAlive},
	}
	r, down, _ := n.awayRing(ms)
	if down[n.self] || !down["10.0.0.2:11211"] || len(down) != 1 {
		t.Fatalf("away: %v, want the member that left only", down)
	}
	n.rings.Store(&placement{away: r, down: down})
	own, theirs := 0, 0
	for i := range 300 {
		key := []byte(fmt.Sprintf("key:%d", i))
		addr, away := n.AwayOwner(key)
		switch o := ownerOf(r, key); {
		case o == n.self && away:
			t.Fatalf("%s: its own key has it (%s) as an away owner", key, addr)
		case o == n.self:
			own++
		case away && addr == "10.0.0.2:11211":
			theirs++
		}
	}
	if own == 0 || theirs == 0 {
		t.Fatalf("%d of its own keys, %d of the member that left: want some of each", own, theirs)
	}
}
