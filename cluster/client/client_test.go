package client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/slabcache/slabcache/cluster/discovery"
	"github.com/slabcache/slabcache/cluster/ring"
	"github.com/slabcache/slabcache/internal/testenv"
	"github.com/slabcache/slabcache/proto"
)

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
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

// TestClientAgainstMemcached routes keys over three real memcached servers
// found through a fake discovery endpoint, and checks every operation and
// that each key physically sits on the node the ring names.
func TestClientAgainstMemcached(t *testing.T) {
	var addrs []string
	for i := 0; i < 3; i++ {
		addrs = append(addrs, testenv.StartMemcached(t, "-m", "16"))
	}
	disco := startFakeDisco(t, members(addrs, 1, 2, 1), false)
	c := newClient(t, Config{Endpoints: []string{disco.addr()}, PollInterval: -1})

	v := c.View()
	if len(v.Members) != 3 || v.Members[1].Weight != 2 || v.Members[1].Name != "m1" {
		t.Fatalf("view %+v", v)
	}
	r, _ := ring.New(ring.KindKetama, discovery.RingNodes(v.Members))
	direct := map[string]*memcache.Client{}
	for _, a := range addrs {
		direct[a] = memcache.New(a)
	}
	const n = 300
	perNode := map[string]int{}
	for i := 0; i < n; i++ {
		k := "k:" + strconv.Itoa(i) + ":v"
		if err := c.Set(&Item{Key: k, Value: []byte("v" + strconv.Itoa(i)), Flags: uint32(i)}); err != nil {
			t.Fatal(err)
		}
		owner := r.Nodes()[r.OwnerString(k)].Addr
		if c.Owner(k) != owner {
			t.Fatalf("Owner(%s) = %s, ring says %s", k, c.Owner(k), owner)
		}
		perNode[owner]++
		for a, mc := range direct {
			_, err := mc.Get(k)
			if (a == owner) != (err == nil) {
				t.Fatalf("key %s: on %s: %v (owner %s)", k, a, err, owner)
			}
		}
	}
	// The weights of `cluster members` reach the ring: the weight-2 node
	// has twice the points. (The keys end in a constant suffix: twemproxy's
	// fnv1a_64 puts keys that differ only in their last bytes close
	// together on the circle, "k:1".."k:299" mostly on one node; the ring
	// reproduces that faithfully.)
	if st := r.Stats(); st[1].Points != 2*st[0].Points || st[0].Points != st[2].Points {
		t.Errorf("points %+v: weights 1,2,1 not applied", st)
	}
	t.Logf("keys per node: %v", perNode)
	if len(perNode) != 3 || perNode[addrs[1]] < perNode[addrs[0]] || perNode[addrs[1]] < perNode[addrs[2]] {
		t.Errorf("keys per node %v: the weight-2 node %s should hold the most", perNode, addrs[1])
	}

	it, err := c.Get("k:7:v")
	if err != nil || string(it.Value) != "v7" || it.Flags != 7 || it.CAS == 0 {
		t.Fatalf("Get k:7 = %+v, %v", it, err)
	}
	if _, err := c.Get("absent"); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("Get absent: %v", err)
	}

	keys := []string{"absent1"}
	for i := 0; i < n; i++ {
		keys = append(keys, "k:"+strconv.Itoa(i)+":v")
	}
	keys = append(keys, "absent2")
	got, err := c.GetMulti(keys)
	if err != nil || len(got) != n {
		t.Fatalf("GetMulti: %d items, %v", len(got), err)
	}
	for i := 0; i < n; i++ {
		k := "k:" + strconv.Itoa(i) + ":v"
		if string(got[k].Value) != "v"+strconv.Itoa(i) || got[k].Flags != uint32(i) {
			t.Fatalf("GetMulti %s = %+v", k, got[k])
		}
	}

	if err := c.Add(&Item{Key: "k:1:v", Value: []byte("x")}); !errors.Is(err, ErrNotStored) {
		t.Errorf("Add existing: %v", err)
	}
	if err := c.Add(&Item{Key: "new", Value: []byte("x")}); err != nil {
		t.Errorf("Add new: %v", err)
	}
	if err := c.Replace(&Item{Key: "missing", Value: []byte("x")}); !errors.Is(err, ErrNotStored) {
		t.Errorf("Replace missing: %v", err)
	}
	if err := c.Append(&Item{Key: "new", Value: []byte("yz")}); err != nil {
		t.Error(err)
	}
	if err := c.Prepend(&Item{Key: "new", Value: []byte("w")}); err != nil {
		t.Error(err)
	}
	if it, _ := c.Get("new"); it == nil || string(it.Value) != "wxyz" {
		t.Errorf("after append/prepend: %+v", it)
	}

	it, _ = c.Get("k:2:v")
	stale := *it
	it.Value = []byte("swapped")
	if err := c.CompareAndSwap(it); err != nil {
		t.Fatalf("cas: %v", err)
	}
	if err := c.CompareAndSwap(&stale); !errors.Is(err, ErrCASConflict) {
		t.Fatalf("stale cas: %v", err)
	}
	if err := c.CompareAndSwap(&Item{Key: "nope", CAS: 1}); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("cas on missing: %v", err)
	}

	if err := c.Delete("k:3:v"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("k:3:v"); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("second delete: %v", err)
	}
	if err := c.Touch("k:4:v", 100); err != nil {
		t.Fatal(err)
	}
	if err := c.Touch("k:3:v", 100); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("touch missing: %v", err)
	}

	c.Set(&Item{Key: "ctr", Value: []byte("10")})
	if v, err := c.Increment("ctr", 5); err != nil || v != 15 {
		t.Fatalf("incr: %d, %v", v, err)
	}
	if v, err := c.Decrement("ctr", 100); err != nil || v != 0 {
		t.Fatalf("decr below zero: %d, %v", v, err)
	}
	if _, err := c.Increment("k:5:v", 1); err == nil || !strings.Contains(err.Error(), "non-numeric") {
		t.Fatalf("incr non-numeric: %v", err)
	}
	if _, err := c.Increment("absent", 1); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("incr missing: %v", err)
	}

	big := bytes.Repeat([]byte("0123456789"), 50_000)
	if err := c.Set(&Item{Key: "big", Value: big}); err != nil {
		t.Fatal(err)
	}
	if it, err := c.Get("big"); err != nil || !bytes.Equal(it.Value, big) {
		t.Fatalf("big value: %v", err)
	}

	for _, k := range []string{"", "has space", strings.Repeat("x", 251), "ctl\x01"} {
		if err := c.Set(&Item{Key: k}); !errors.Is(err, ErrMalformedKey) {
			t.Errorf("Set(%q): %v", k, err)
		}
		if _, err := c.GetMulti([]string{"ok", k}); !errors.Is(err, ErrMalformedKey) {
			t.Errorf("GetMulti(%q): %v", k, err)
		}
	}
	if err := c.Set(&Item{Key: strings.Repeat("x", 250), Value: []byte("max")}); err != nil {
		t.Errorf("250-byte key: %v", err)
	}
}

// TestClientFollowsMembership changes the membership the discovery
// endpoint reports and checks the client's ring follows within a poll.
func TestClientFollowsMembership(t *testing.T) {
	var addrs []string
	for i := 0; i < 3; i++ {
		addrs = append(addrs, testenv.StartMemcached(t, "-m", "16"))
	}
	disco := startFakeDisco(t, members(addrs[:2]), false)
	c := newClient(t, Config{Endpoints: []string{disco.addr()}, PollInterval: 20 * time.Millisecond})
	if len(c.View().Members) != 2 {
		t.Fatalf("view %+v", c.View())
	}
	disco.table.Update(members(addrs))
	waitFor(t, "client sees the third node", func() bool { return len(c.View().Members) == 3 })
	if c.View().Version != disco.table.Version() {
		t.Errorf("client at version %d, endpoint at %d", c.View().Version, disco.table.Version())
	}
	owned := 0
	for i := 0; i < 200; i++ {
		k := "f:" + strconv.Itoa(i) + ":v"
		if c.Owner(k) == addrs[2] {
			owned++
			if err := c.Set(&Item{Key: k, Value: []byte("x")}); err != nil {
				t.Fatal(err)
			}
			if _, err := memcache.New(addrs[2]).Get(k); err != nil {
				t.Fatalf("key %s not on the new node: %v", k, err)
			}
		}
	}
	if owned == 0 {
		t.Fatal("the new node owns no key")
	}
	// A weight change alone (same addresses) is applied too.
	ms := members(addrs, 1, 1, 5)
	disco.table.Update(ms)
	waitFor(t, "client sees the new weight", func() bool { return c.View().Members[2].Weight == 5 })
	// A node leaves.
	disco.table.Update(members(addrs[1:]))
	waitFor(t, "client drops the first node", func() bool { return len(c.View().Members) == 2 })
	for i := 0; i < 200; i++ {
		if c.Owner("f:"+strconv.Itoa(i)+":v") == addrs[0] {
			t.Fatal("a key still routes to the node that left")
		}
	}
}

// TestClientMarksDeadNodeDown kills one of three memcached servers (kill
// -9): its keys fail, then (without a gutter) fail fast as ErrNodeDown,
// the other nodes keep working, and once membership drops the node its
// keys move.
func TestClientMarksDeadNodeDown(t *testing.T) {
	procs := []*memcachedProc{startMemcachedProc(t), startMemcachedProc(t), startMemcachedProc(t)}
	addrs := []string{procs[0].addr(), procs[1].addr(), procs[2].addr()}
	disco := startFakeDisco(t, members(addrs), false)
	c := newClient(t, Config{Endpoints: []string{disco.addr()}, PollInterval: -1, DialTimeout: 200 * time.Millisecond, GutterTTL: -1})

	var victimKey, otherKey string
	for i := 0; victimKey == "" || otherKey == ""; i++ {
		k := "d:" + strconv.Itoa(i)
		if c.Owner(k) == addrs[2] {
			victimKey = k
		} else {
			otherKey = k
		}
	}
	if err := c.Set(&Item{Key: victimKey, Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	procs[2].kill()

	_, err := c.Get(victimKey)
	if err == nil || errors.Is(err, ErrNodeDown) || errors.Is(err, ErrCacheMiss) {
		t.Fatalf("first get after the kill: %v, want a network error", err)
	}
	if !c.Down(addrs[2]) {
		t.Fatal("node not marked down after a network error")
	}
	start := time.Now()
	for i := 0; i < 100; i++ {
		if _, err := c.Get(victimKey); !errors.Is(err, ErrNodeDown) {
			t.Fatalf("get on a down node: %v, want ErrNodeDown", err)
		}
	}
	t.Logf("100 gets on a down node failed in %v", time.Since(start))
	if err := c.Set(&Item{Key: otherKey, Value: []byte("y")}); err != nil {
		t.Fatalf("other node: %v", err)
	}
	got, err := c.GetMulti([]string{victimKey, otherKey})
	if !errors.Is(err, ErrNodeDown) || got[otherKey] == nil || string(got[otherKey].Value) != "y" {
		t.Fatalf("GetMulti with a down node: %v, %v", got, err)
	}

	// Membership drops the node: its keys move to the others and work.
	disco.table.Update(members(addrs[:2]))
	if err := c.Refresh(); err != nil {
		t.Fatal(err)
	}
	if o := c.Owner(victimKey); o == addrs[2] || o == "" {
		t.Fatalf("key still owned by %q", o)
	}
	if err := c.Set(&Item{Key: victimKey, Value: []byte("z")}); err != nil {
		t.Fatal(err)
	}
}

// TestClientReprobesDownNode: a node marked down that answers again (same
// address, restarted) is marked up by the poller's probe.
func TestClientReprobesDownNode(t *testing.T) {
	p := startMemcachedProc(t)
	disco := startFakeDisco(t, members([]string{p.addr()}), false)
	c := newClient(t, Config{Endpoints: []string{disco.addr()}, PollInterval: 20 * time.Millisecond})
	p.kill()
	if err := c.Set(&Item{Key: "a", Value: []byte("1")}); err == nil {
		t.Fatal("set on a killed node succeeded")
	}
	if !c.Down(p.addr()) {
		t.Fatal("not marked down")
	}
	p.start()
	waitFor(t, "node marked up again", func() bool { return !c.Down(p.addr()) })
	if err := c.Set(&Item{Key: "a", Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
}

// TestClientTimeout: a node that accepts but never answers makes the
// operation fail after Timeout and marks the node down.
func TestClientTimeout(t *testing.T) {
	silent := startFakeNode(t, func(_ *proto.Request, dst []byte) []byte { return dst })
	disco := startFakeDisco(t, members([]string{silent}), false)
	c := newClient(t, Config{Endpoints: []string{disco.addr()}, PollInterval: -1, Timeout: 100 * time.Millisecond})
	start := time.Now()
	_, err := c.Get("k")
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("get on a silent node: %v, want a deadline error", err)
	}
	t.Logf("timed out after %v", time.Since(start))
	if !c.Down(silent) {
		t.Fatal("silent node not marked down")
	}
	if _, err := c.Get("k"); !errors.Is(err, ErrNodeDown) {
		t.Fatalf("second get: %v", err)
	}
}

// TestGetMultiIsParallel: three fake nodes each hold their reply until
// all three have received their request. A client that asked the nodes one
// after the other would never complete the first.
func TestGetMultiIsParallel(t *testing.T) {
	var arrived sync.WaitGroup
	arrived.Add(3)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	requests := make(chan int, 10)
	handler := func(req *proto.Request, dst []byte) []byte {
		if req.Command != proto.CmdGets {
			return proto.AppendError(dst, proto.ErrUnknownCommand)
		}
		requests <- len(req.Keys)
		arrived.Done()
		select {
		case <-all:
		case <-time.After(3 * time.Second):
			return proto.AppendServerError(dst, "not parallel")
		}
		for _, k := range req.Keys {
			dst = proto.AppendValueHeaderCAS(dst, k, 0, 1, 1)
			dst = proto.AppendValue(dst, []byte("x"))
		}
		return proto.AppendEnd(dst)
	}
	var addrs []string
	for i := 0; i < 3; i++ {
		addrs = append(addrs, startFakeNode(t, handler))
	}
	disco := startFakeDisco(t, members(addrs), false)
	c := newClient(t, Config{Endpoints: []string{disco.addr()}, PollInterval: -1, Timeout: 5 * time.Second, Placement: ring.KindKetamaMD5})
	keys := make([]string, 60)
	owners := map[string]bool{}
	for i := range keys {
		keys[i] = "p" + strconv.Itoa(i)
		owners[c.Owner(keys[i])] = true
	}
	if len(owners) != 3 {
		t.Fatalf("keys cover %d nodes, the test needs 3", len(owners))
	}
	got, err := c.GetMulti(keys)
	if err != nil || len(got) != len(keys) {
		t.Fatalf("GetMulti: %d items, %v", len(got), err)
	}
	close(requests)
	n := 0
	for range requests {
		n++
	}
	if n != 3 {
		t.Fatalf("%d requests for 3 nodes, want one per node", n)
	}
}

// TestDiscoveryFailsOver: when the endpoint that answered goes away, the
// client polls the next one.
func TestDiscoveryFailsOver(t *testing.T) {
	a1 := testenv.StartMemcached(t)
	a2 := testenv.StartMemcached(t)
	d1 := startFakeDisco(t, members([]string{a1}), false)
	d2 := startFakeDisco(t, members([]string{a1}), false)
	c := newClient(t, Config{Endpoints: []string{d1.addr(), d2.addr()}, PollInterval: 20 * time.Millisecond})
	d1.close()
	d2.table.Update(members([]string{a1, a2}))
	waitFor(t, "client reads the second endpoint", func() bool { return len(c.View().Members) == 2 })
	if d2.queries.Load() == 0 {
		t.Fatal("second endpoint never asked")
	}
}

func TestNewFailsWithoutDiscovery(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without endpoints succeeded")
	}
	if _, err := New(Config{Endpoints: []string{"127.0.0.1:1"}, Placement: ring.Kind(42)}); !errors.Is(err, ring.ErrUnknownKind) {
		t.Errorf("bad placement: %v", err)
	}
	dead := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	if _, err := New(Config{Endpoints: []string{dead}}); !errors.Is(err, ErrNoDiscovery) {
		t.Errorf("dead endpoint: %v", err)
	}
	// Plain memcached does not know `config get cluster`.
	mc := testenv.StartMemcached(t)
	_, err := New(Config{Endpoints: []string{mc}})
	if !errors.Is(err, ErrNoDiscovery) || !errors.Is(err, discovery.ErrUnsupported) {
		t.Errorf("memcached as endpoint: %v", err)
	}
}

func TestDiscoverElastiCacheEndpoint(t *testing.T) {
	mc := testenv.StartMemcached(t)
	ms := members([]string{mc}, 7)
	disco := startFakeDisco(t, ms, true) // no `cluster members`
	view, all, err := Discover(disco.addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if all != nil || len(view.Members) != 1 || view.Members[0].Weight != 1 || view.Members[0].Addr != mc {
		t.Fatalf("view %+v, all %+v", view, all)
	}
	c := newClient(t, Config{Endpoints: []string{disco.addr()}, PollInterval: -1})
	if err := c.Set(&Item{Key: "e", Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	// With `cluster members`, the weight and all members come through.
	disco2 := startFakeDisco(t, append(ms, discovery.Member{Name: "z", Addr: "10.1.1.1:11211", Status: discovery.StatusFailed}), false)
	view, all, err = Discover(disco2.addr(), time.Second)
	if err != nil || len(view.Members) != 1 || view.Members[0].Weight != 7 || len(all) != 2 || all[1].Status != discovery.StatusFailed {
		t.Fatalf("view %+v, all %+v, %v", view, all, err)
	}
}

func TestReplyResults(t *testing.T) {
	read := func(s string) (*proto.Reply, error) {
		var rp proto.Reply
		err := proto.NewReader(strings.NewReader(s)).Read(&rp)
		return &rp, err
	}
	statuses := map[string]error{
		"STORED\r\n":                     nil,
		"DELETED\r\n":                    nil,
		"TOUCHED\r\n":                    nil,
		"NOT_STORED\r\n":                 ErrNotStored,
		"EXISTS\r\n":                     ErrCASConflict,
		"NOT_FOUND\r\n":                  ErrCacheMiss,
		"SERVER_ERROR out of memory\r\n": &ServerError{},
		"ERROR\r\n":                      &ServerError{},
		"WHAT\r\n":                       errProtocol,
	}
	for in, want := range statuses {
		rp, err := read(in)
		if err == nil {
			err = statusResult(rp)
		}
		switch w := want.(type) {
		case nil:
			if err != nil {
				t.Errorf("%q: %v", in, err)
			}
		case *ServerError:
			var se *ServerError
			if !errors.As(err, &se) || se.Line != strings.TrimSpace(in) {
				t.Errorf("%q: %v", in, err)
			}
		default:
			if !errors.Is(err, w) {
				t.Errorf("%q: %v, want %v", in, err, w)
			}
		}
	}
	for _, bad := range []string{
		"VALUE k 0 3\r\nabcd\r\nEND\r\n",  // wrong length
		"VALUE k x 3\r\nabc\r\nEND\r\n",   // bad flags
		"VALUE k 0\r\nEND\r\n",            // too few fields
		"VALUE k 0 3 z\r\nabc\r\nEND\r\n", // bad cas
		"VALUE k 0 3\r\nab",               // truncated
	} {
		rp, err := read(bad)
		if err == nil {
			err = valuesResult(rp, func(*Item) {})
		}
		if err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	var items []*Item
	rp, err := read("VALUE a 5 1 9\r\nx\r\nVALUE b 0 0\r\n\r\nEND\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := valuesResult(rp, func(it *Item) { items = append(items, it) }); err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].Flags != 5 || items[0].CAS != 9 || string(items[0].Value) != "x" || len(items[1].Value) != 0 {
		t.Fatalf("items %+v %+v", items[0], items[1])
	}
	if rp, err := read("42\r\n"); err != nil {
		t.Fatal(err)
	} else if v, err := arithResult(rp); err != nil || v != 42 {
		t.Errorf("arith: %d %v", v, err)
	}
	var req proto.Request
	storeRequest(&req, proto.CmdCas, &Item{Key: "k", Value: []byte("v"), Flags: 3, Expiration: -1, CAS: 77})
	if got := string(proto.AppendRequest(nil, &req)); got != "cas k 3 -1 1 77\r\nv\r\n" {
		t.Errorf("cas encoding %q", got)
	}
	getsRequest(&req, "a", "b")
	if got := string(proto.AppendRequest(nil, &req)); got != "gets a b\r\n" {
		t.Errorf("gets encoding %q", got)
	}
}

func BenchmarkClientGet(b *testing.B) {
	mc := testenv.StartMemcached(b)
	disco := startFakeDisco(b, members([]string{mc}), false)
	c, err := New(Config{Endpoints: []string{disco.addr()}, PollInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.Set(&Item{Key: "bench", Value: make([]byte, 100)})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Get("bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGomemcacheGet is the same Get with gomemcache, for comparison.
func BenchmarkGomemcacheGet(b *testing.B) {
	mc := memcache.New(testenv.StartMemcached(b))
	mc.Set(&memcache.Item{Key: "bench", Value: make([]byte, 100)})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := mc.Get("bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestClientGutter: while a key's owner is down, its requests go to the
// next node of the ring, and what is stored there expires within
// GutterTTL (the gutter), so it cannot outlive the owner's return by much.
func TestClientGutter(t *testing.T) {
	procs := []*memcachedProc{startMemcachedProc(t), startMemcachedProc(t), startMemcachedProc(t)}
	addrs := []string{procs[0].addr(), procs[1].addr(), procs[2].addr()}
	disco := startFakeDisco(t, members(addrs), false)
	c := newClient(t, Config{Endpoints: []string{disco.addr()}, PollInterval: -1, DialTimeout: 200 * time.Millisecond, GutterTTL: 5 * time.Second})
	var key string
	for i := 0; key == ""; i++ {
		if k := "g:" + strconv.Itoa(i); c.Owner(k) == addrs[2] {
			key = k
		}
	}
	procs[2].kill()
	if _, err := c.Get(key); err == nil || errors.Is(err, ErrCacheMiss) {
		t.Fatalf("first get after the kill: %v, want a network error", err)
	}
	// Now the stand-in answers: a miss, then what is stored there.
	if _, err := c.Get(key); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("get through the gutter: %v, want a miss", err)
	}
	if err := c.Set(&Item{Key: key, Value: []byte("g"), Expiration: 3600}); err != nil {
		t.Fatalf("set through the gutter: %v", err)
	}
	if it, err := c.Get(key); err != nil || string(it.Value) != "g" {
		t.Fatalf("get after a gutter set: %v %v", it, err)
	}
	items, err := c.GetMulti([]string{key})
	if err != nil || items[key] == nil {
		t.Fatalf("GetMulti through the gutter: %v %v", items, err)
	}
	// On the stand-in the item expires within GutterTTL, not in an hour.
	var standIn string
	for _, a := range addrs[:2] {
		if got := rawMG(t, a, key); got != "" {
			standIn = a
			if ttl, _ := strconv.Atoi(strings.TrimPrefix(got, "HD t")); ttl > 5 || ttl < 1 {
				t.Fatalf("TTL on the stand-in: %q, want at most 5 s", got)
			}
		}
	}
	if standIn == "" {
		t.Fatal("the value is on no stand-in")
	}
}

// While a node is down the keys written on stand-ins are noted, and
// before the node is marked up again its copies of them are deleted: a
// node that was only unreachable (here: stopped) serves neither the value
// a key had before it was set meanwhile nor a key deleted meanwhile.
func TestGutterWritesLeaveNoStaleCopies(t *testing.T) {
	procs := []*memcachedProc{startMemcachedProc(t), startMemcachedProc(t), startMemcachedProc(t)}
	addrs := []string{procs[0].addr(), procs[1].addr(), procs[2].addr()}
	disco := startFakeDisco(t, members(addrs), false)
	c := newClient(t, Config{Endpoints: []string{disco.addr()}, PollInterval: 100 * time.Millisecond,
		DialTimeout: 200 * time.Millisecond, Timeout: 300 * time.Millisecond, GutterTTL: 5 * time.Second})
	var keys []string // set, deleted, left alone, incremented, set though never there
	for i := 0; len(keys) < 5; i++ {
		if k := "s:" + strconv.Itoa(i); c.Owner(k) == addrs[2] {
			keys = append(keys, k)
		}
	}
	for _, k := range keys[:4] {
		if err := c.Set(&Item{Key: k, Value: []byte("1")}); err != nil {
			t.Fatal(err)
		}
	}
	stopped := procs[2].cmd.Process
	pause(t, stopped)
	defer stopped.Signal(syscall.SIGCONT)
	if _, err := c.Get(keys[0]); err == nil || !c.Down(addrs[2]) {
		t.Fatalf("get from the stopped node: %v, down %v", err, c.Down(addrs[2]))
	}
	if err := c.Set(&Item{Key: keys[0], Value: []byte("2")}); err != nil {
		t.Fatalf("set through the gutter: %v", err)
	}
	if err := c.Delete(keys[1]); err != nil && !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("delete through the gutter: %v", err)
	}
	if _, err := c.Increment(keys[3], 1); err != nil && !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("incr through the gutter: %v", err)
	}
	// Its delete on the node answers NF: no failure.
	if err := c.Set(&Item{Key: keys[4], Value: []byte("2")}); err != nil {
		t.Fatalf("set through the gutter: %v", err)
	}
	stopped.Signal(syscall.SIGCONT)
	deadline := time.Now().Add(5 * time.Second)
	for c.Down(addrs[2]) {
		if time.Now().After(deadline) {
			t.Fatal("the node answers again but is still marked down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i, want := range []string{"", "", "HD t-1", "", ""} {
		if got := rawMG(t, addrs[2], keys[i]); got != want {
			t.Errorf("%s on the node back: %q, want %q", keys[i], got, want)
		}
	}
	if it, err := c.Get(keys[2]); err != nil || string(it.Value) != "1" {
		t.Fatalf("the key nobody wrote: %v %v", it, err)
	}
	for _, k := range []string{keys[0], keys[1], keys[3]} {
		if it, err := c.Get(k); !errors.Is(err, ErrCacheMiss) {
			t.Fatalf("%s after the node came back: %v %v, want a miss", k, it, err)
		}
	}
}

// rawMG asks addr for key's TTL ("" on a miss).
func rawMG(t *testing.T, addr, key string) string {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(nc, "mg %s t\r\n", key)
	line, err := bufio.NewReader(nc).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(line, "EN") {
		return ""
	}
	return strings.TrimSpace(line)
}

// A stand-in may hold its own item of a down node's key: from a time it
// owned the key, or written by a client whose ring was behind. The owner
// took the key's writes since, so that item is older than what the owner
// held: reads through the stand-in (Get, GetMulti, LeaseGet) do not return
// it and delete it there; a value stored as a stand-in's (within
// GutterTTL) is read.
func TestStandInServesOnlyGutterValues(t *testing.T) {
	procs := []*memcachedProc{startMemcachedProc(t), startMemcachedProc(t), startMemcachedProc(t)}
	addrs := []string{procs[0].addr(), procs[1].addr(), procs[2].addr()}
	disco := startFakeDisco(t, members(addrs), false)
	c := newClient(t, Config{Endpoints: []string{disco.addr()}, PollInterval: -1, DialTimeout: 200 * time.Millisecond, GutterTTL: 5 * time.Second})
	var keys []string
	for i := 0; len(keys) < 4; i++ {
		if k := "s:" + strconv.Itoa(i); c.Owner(k) == addrs[2] {
			keys = append(keys, k)
		}
	}
	// Older items of the keys on every other node, which never expire.
	for _, a := range addrs[:2] {
		nc, err := net.Dial("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(nc)
		for _, k := range keys {
			fmt.Fprintf(nc, "set %s 0 0 3\r\nold\r\n", k)
			if line, err := br.ReadString('\n'); err != nil || line != "STORED\r\n" {
				t.Fatalf("set %s on %s: %q %v", k, a, line, err)
			}
		}
		nc.Close()
	}
	procs[2].kill()
	if _, err := c.Get(keys[0]); err == nil || errors.Is(err, ErrCacheMiss) {
		t.Fatalf("first get after the kill: %v, want a network error", err)
	}
	if it, err := c.Get(keys[0]); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("get through the stand-in: %v %v, want a miss, not its own older item", it, err)
	}
	if items, err := c.GetMulti(keys[1:3]); err != nil || len(items) != 0 {
		t.Fatalf("GetMulti through the stand-in: %v %v, want no item", items, err)
	}
	l, err := c.LeaseGet(keys[3], 30, 0)
	if err != nil || !l.Won || len(l.Value) != 0 {
		t.Fatalf("LeaseGet through the stand-in: %+v %v, want the lease on a miss", l, err)
	}
	// The older items are gone from the stand-in; the other node keeps
	// its own.
	for _, k := range keys {
		n := 0
		for _, a := range addrs[:2] {
			if got := rawMG(t, a, k); got == "HD t-1" {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%s: %d nodes still hold an item that never expires, want 1 (the one not standing in)", k, n)
		}
	}
	// A value stored through the stand-in is read through it.
	if err := c.Set(&Item{Key: keys[0], Value: []byte("g")}); err != nil {
		t.Fatal(err)
	}
	if it, err := c.Get(keys[0]); err != nil || string(it.Value) != "g" {
		t.Fatalf("get after a set through the stand-in: %v %v", it, err)
	}
	if items, err := c.GetMulti(keys[:1]); err != nil || items[keys[0]] == nil || string(items[keys[0]].Value) != "g" {
		t.Fatalf("GetMulti after a set through the stand-in: %v %v", items, err)
	}
}

// A value a client stored on a stand-in while a node was down does not
// outlive the node's return there: when membership drops the node, the
// stand-in's copy is deleted where the key now belongs to another node,
// so if the node comes back and goes down again, the stand-in does not
// serve that older value (placements where the stand-in is not the key's
// next owner: jump, Ch3).
func TestStandInCopyDoesNotOutliveItsOwnersReturn(t *testing.T) {
	procs := []*memcachedProc{startMemcachedProc(t), startMemcachedProc(t), startMemcachedProc(t)}
	addrs := []string{procs[0].addr(), procs[1].addr(), procs[2].addr()}
	disco := startFakeDisco(t, members(addrs), false)
	c := newClient(t, Config{Endpoints: []string{disco.addr()}, PollInterval: -1, DialTimeout: 200 * time.Millisecond,
		Placement: ring.KindJump, FixedPlacement: true})
	nodes := func(as []string) []ring.Node {
		var ns []ring.Node
		for _, a := range as {
			ns = append(ns, ring.Node{Addr: a, Weight: 1})
		}
		return ns
	}
	r3, _ := ring.New(ring.KindJump, nodes(addrs))
	r2, _ := ring.New(ring.KindJump, nodes(addrs[:2]))
	key, standIn := "", ""
	for i := 0; key == ""; i++ {
		k := "g:" + strconv.Itoa(i)
		if c.Owner(k) != addrs[2] {
			continue
		}
		s := addrs[ring.Replicas(r3, []byte(k), 3)[1]]
		if o := r2.Nodes()[r2.Owner([]byte(k))].Addr; o != s {
			key, standIn = k, s
		}
	}
	procs[2].kill()
	c.Set(&Item{Key: key, Value: []byte("old")}) // marks the owner down
	if err := c.Set(&Item{Key: key, Value: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	if got := rawMG(t, standIn, key); got == "" {
		t.Fatalf("the stand-in %s does not hold %s", standIn, key)
	}
	// Membership drops the node; the key's writes go to its new owner.
	disco.table.Update(members(addrs[:2]))
	if err := c.Refresh(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(&Item{Key: key, Value: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	// The node comes back, and goes down again before the stand-in's
	// copy would have expired.
	procs[2].start()
	disco.table.Update(members(addrs))
	if err := c.Refresh(); err != nil {
		t.Fatal(err)
	}
	c.probeDown()
	if err := c.Set(&Item{Key: key, Value: []byte("newer")}); err != nil {
		t.Fatal(err)
	}
	procs[2].kill()
	c.Get(key) // marks it down
	if it, err := c.Get(key); err == nil {
		t.Fatalf("read through the stand-in after the owner went down again: %q, want a miss", it.Value)
	} else if !errors.Is(err, ErrCacheMiss) {
		t.Fatal(err)
	}
}

// The keys a client wrote on stand-ins while a node was down are deleted
// on the node before the client uses it again, also when membership
// dropped the node meanwhile and lists it again later (a node paused or
// cut off that comes back with its items).
func TestStandInNotesSurviveAMembershipDrop(t *testing.T) {
	procs := []*memcachedProc{startMemcachedProc(t), startMemcachedProc(t), startMemcachedProc(t)}
	addrs := []string{procs[0].addr(), procs[1].addr(), procs[2].addr()}
	disco := startFakeDisco(t, members(addrs), false)
	c := newClient(t, Config{Endpoints: []string{disco.addr()}, PollInterval: -1, DialTimeout: time.Second, Timeout: time.Second})
	key := ""
	for i := 0; key == ""; i++ {
		if k := "p:" + strconv.Itoa(i); c.Owner(k) == addrs[2] {
			key = k
		}
	}
	if err := c.Set(&Item{Key: key, Value: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	pause(t, procs[2].cmd.Process)
	defer procs[2].cmd.Process.Signal(syscall.SIGCONT)
	c.Set(&Item{Key: key, Value: []byte("new")}) // times out: marks the owner down
	if err := c.Set(&Item{Key: key, Value: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	disco.table.Update(members(addrs[:2]))
	if err := c.Refresh(); err != nil {
		t.Fatal(err)
	}
	procs[2].cmd.Process.Signal(syscall.SIGCONT)
	disco.table.Update(members(addrs))
	if err := c.Refresh(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c.probeDown()
		if st := c.state.Load(); !st.nodes[st.ring.OwnerString(key)].down.Load() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the owner is still down 5 s after it resumed")
		}
	}
	if it, err := c.Get(key); err == nil {
		t.Fatalf("%s read from its owner back from a pause: %q, want a miss (written on a stand-in meanwhile)", key, it.Value)
	} else if !errors.Is(err, ErrCacheMiss) {
		t.Fatal(err)
	}
}

// pause stops p with SIGSTOP and waits until the signal has taken effect.
func pause(t *testing.T, p *os.Process) {
	t.Helper()
	p.Signal(syscall.SIGSTOP)
	for state := ""; state != "T"; {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid))
		if err != nil {
			t.Fatal(err)
		}
		if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) > 0 {
			state = f[0]
		}
	}
}
