package client

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slabcache/slabcache/cluster/ring"
	"github.com/slabcache/slabcache/proto"
)

// hotCluster starts three fake nodes that count the keys read from each
// and answer every get with a hit (an mg, as a copy read is, with a copy's
// TTL), and a client that sees one hot key, "hot", served by all three
// (its owner first).
func hotCluster(t *testing.T, cfg Config) (c *Client, owner string, reads func() map[string]int) {
	t.Helper()
	var mu sync.Mutex
	counts := map[string]int{}
	var addrs []string
	for i := 0; i < 3; i++ {
		var self string
		self = startFakeNode(t, func(req *proto.Request, dst []byte) []byte {
			if req.Command == proto.CmdMetaGet {
				mu.Lock()
				counts[self]++
				mu.Unlock()
				return append(dst, "VA 1 f0 t9 c1\r\nx\r\n"...)
			}
			if req.Command != proto.CmdGets {
				return proto.AppendError(dst, proto.ErrUnknownCommand)
			}
			mu.Lock()
			counts[self] += len(req.Keys)
			mu.Unlock()
			for _, k := range req.Keys {
				dst = proto.AppendValueHeaderCAS(dst, k, 0, 1, 1)
				dst = proto.AppendValue(dst, []byte("x"))
			}
			return proto.AppendEnd(dst)
		})
		addrs = append(addrs, self)
	}
	disco := startFakeDisco(t, members(addrs), false)
	cfg.Endpoints, cfg.PollInterval, cfg.Timeout, cfg.Placement = []string{disco.addr()}, -1, 5*time.Second, ring.KindKetamaMD5
	c = newClient(t, cfg)
	owner = c.Owner("hot")
	hs := hotSet{"hot": {owner}}
	for _, a := range addrs {
		if a != owner {
			hs["hot"] = append(hs["hot"], a)
		}
	}
	c.hot.Store(&hs)
	return c, owner, func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for k, v := range counts {
			out[k] = v
			counts[k] = 0
		}
		return out
	}
}

// TestHotKeyReadsGoToLeastLoaded: reads of a hot key fill in around the
// load the client's other keys put on the nodes.
func TestHotKeyReadsGoToLeastLoaded(t *testing.T) {
	c, owner, reads := hotCluster(t, Config{})
	// 300 reads of keys of one node other than the hot key's owner.
	var busy string
	for i := 0; busy == ""; i++ {
		if o := c.Owner("k" + strconv.Itoa(i)); o != owner {
			busy = o
		}
	}
	for i, n := 0, 0; n < 300; i++ {
		k := "k" + strconv.Itoa(i)
		if c.Owner(k) != busy {
			continue
		}
		if _, err := c.Get(k); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if got := reads(); got[busy] != 300 {
		t.Fatalf("reads before the hot key: %v", got)
	}
	for i := 0; i < 600; i++ {
		if _, err := c.Get("hot"); err != nil {
			t.Fatal(err)
		}
	}
	got := reads()
	t.Logf("600 reads of the hot key after 300 of other keys on %s: %v (owner %s)", busy, got, owner)
	if got[busy] > 20 {
		t.Errorf("the node already loaded got %d of 600 hot reads, want about 0", got[busy])
	}
	for a, n := range got {
		if a != busy && n < 240 {
			t.Errorf("%s got %d of 600 hot reads, want about 300", a, n)
		}
	}
}

// TestHotKeyReadsAtRandom: with HotKeyRandom the reads of a hot key are
// spread evenly whatever else the client sends.
func TestHotKeyReadsAtRandom(t *testing.T) {
	c, _, reads := hotCluster(t, Config{HotKeyRandom: true})
	for i := 0; i < 900; i++ {
		if _, err := c.Get("hot"); err != nil {
			t.Fatal(err)
		}
	}
	got := reads()
	if len(got) != 3 {
		t.Fatalf("hot reads reached %d nodes, want 3: %v", len(got), got)
	}
	for a, n := range got {
		if n < 220 || n > 380 {
			t.Errorf("%s got %d of 900 hot reads, want about 300", a, n)
		}
	}
}

// A hot key listed by a node that is not its owner on the client's ring
// (the ring changed since the list was read) is read from the owner only:
// the client writes it there, and that node's copies do not follow.
func TestHotKeyOfAnotherOwnerReadFromTheOwner(t *testing.T) {
	c, owner, reads := hotCluster(t, Config{HotKeyRandom: true})
	hs := *c.hot.Load()
	addrs := hs["hot"]
	addrs[0], addrs[1] = addrs[1], addrs[0] // listed by a node the ring no longer gives it to
	c.hot.Store(&hotSet{"hot": addrs})
	for i := 0; i < 300; i++ {
		if _, err := c.Get("hot"); err != nil {
			t.Fatal(err)
		}
	}
	if got := reads(); got[owner] != 300 {
		t.Fatalf("300 reads of a hot key its ring owner (%s) did not list: %v", owner, got)
	}
}

// hotPair starts three fake nodes answering with handle (owner: the node
// is the hot key's owner) and a client, drawing the node of each hot read
// at random, that sees one hot key, "hot", served by all three.
func hotPair(t *testing.T, handle func(owner bool, req *proto.Request, dst []byte) []byte) *Client {
	t.Helper()
	var owner atomic.Value // the owner's address, once known
	owner.Store("")
	var addrs []string
	for i := 0; i < 3; i++ {
		var self string
		self = startFakeNode(t, func(req *proto.Request, dst []byte) []byte {
			return handle(self == owner.Load().(string), req, dst)
		})
		addrs = append(addrs, self)
	}
	disco := startFakeDisco(t, members(addrs), false)
	c := newClient(t, Config{Endpoints: []string{disco.addr()}, PollInterval: -1, Timeout: 5 * time.Second, HotKeyRandom: true})
	owner.Store(c.Owner("hot"))
	hs := hotSet{"hot": {c.Owner("hot")}}
	for _, a := range addrs {
		if a != c.Owner("hot") {
			hs["hot"] = append(hs["hot"], a)
		}
	}
	c.hot.Store(&hs)
	return c
}

// appendValues answers a gets of keys with value.
func appendValues(dst []byte, keys [][]byte, value string) []byte {
	for _, k := range keys {
		dst = proto.AppendValueHeaderCAS(dst, k, 0, len(value), 9)
		dst = proto.AppendValue(dst, []byte(value))
	}
	return proto.AppendEnd(dst)
}

// A node a hot key's owner lists may hold an item of the key of its own
// (from a time it owned the key, or written by a client whose ring was
// behind), which the owner's writes do not reach: only an item that lives
// at most a copy's lease is read there; any other read of the key, by Get
// or GetMulti, goes to the owner.
func TestHotKeyReadsOnlyCopies(t *testing.T) {
	c := hotPair(t, func(owner bool, req *proto.Request, dst []byte) []byte {
		value := "own" // a node's own item, which never expires
		if owner {
			value = "owner"
		}
		switch req.Command {
		case proto.CmdMetaGet:
			return append(dst, "VA "+strconv.Itoa(len(value))+" f0 t-1 c7\r\n"+value+"\r\n"...)
		case proto.CmdGets:
			return appendValues(dst, req.Keys, value)
		}
		return proto.AppendError(dst, proto.ErrUnknownCommand)
	})
	for range 50 {
		if it, err := c.Get("hot"); err != nil || string(it.Value) != "owner" {
			t.Fatalf("Get of a hot key whose replicas hold items of their own: %v %v", it, err)
		}
		items, err := c.GetMulti([]string{"hot"})
		if err != nil || items["hot"] == nil || string(items["hot"].Value) != "owner" {
			t.Fatalf("GetMulti of a hot key whose replicas hold items of their own: %v %v", items, err)
		}
	}
}

// A replica that did not answer the owner in time is dropped from a hot
// key's copies and keeps its older copy until the lease runs out, listed
// still in the list a client polled before the drop: a client that wrote
// the key reads it from its owner for a lease after, so it reads its own
// writes; before its write its reads spread over the replicas.
func TestHotKeyOwnWritesReadFromTheOwner(t *testing.T) {
	c := hotPair(t, func(owner bool, req *proto.Request, dst []byte) []byte {
		switch req.Command {
		case proto.CmdSet:
			return proto.AppendStatus(dst, proto.StatusStored)
		case proto.CmdMetaGet: // a replica's copy, from before the write
			return append(dst, "VA 3 f0 t9 c7\r\nold\r\n"...)
		case proto.CmdGets:
			if owner {
				return appendValues(dst, req.Keys, "new")
			}
			return appendValues(dst, req.Keys, "old")
		}
		return proto.AppendError(dst, proto.ErrUnknownCommand)
	})
	copies := 0
	for range 50 {
		if it, err := c.Get("hot"); err == nil && string(it.Value) == "old" {
			copies++
		}
	}
	if copies == 0 {
		t.Fatal("no read of the hot key went to a replica before the client wrote it")
	}
	if err := c.Set(&Item{Key: "hot", Value: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if it, err := c.Get("hot"); err != nil || string(it.Value) != "new" {
			t.Fatalf("a read after this client's write of the hot key: %v %v, want the owner's value", it, err)
		}
	}
}
