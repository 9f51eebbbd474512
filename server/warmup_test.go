package server

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"

	"github.com/slabcache/slabcache/internal/mctest"
	"github.com/slabcache/slabcache/internal/testenv"
)

// movedPeers says every key moved here from prev at changed.
type movedPeers struct {
	fixedPeers
	prev    string
	changed time.Time
}

func (p movedPeers) PreviousOwner([]byte) (string, time.Time, bool) { return p.prev, p.changed, true }
func (p movedPeers) RingChanged() time.Time                         { return p.changed }

// After a ring change a read of a key that moved here is filled from its
// previous owner, once however many clients miss it, and stored here; a
// write here during the warm-up wins over the previous owner's copy.
func TestWarmupFillsMovedKeys(t *testing.T) {
	old := startTestServer(t, nil)
	srv := startTestServer(t, nil)
	roundTrip(t, old.Addr(), "set a 7 0 1\r\nA\r\nset b 0 0 1\r\nB\r\nset c 0 300 1\r\nC\r\nset many 0 0 1\r\nM\r\n", "STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\n")
	srv.SetPeers(movedPeers{fixedPeers: fixedPeers{addrs: []string{srv.Addr()}, self: 0}, prev: old.Addr(), changed: time.Now()})
	deadline := time.Now().Add(3 * time.Second)
	for !srv.warmOn() {
		if time.Now().After(deadline) {
			t.Fatal("no warm-up after a ring change")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := roundTrip(t, srv.Addr(), "get a\r\n", "END\r\n"); got != "VALUE a 7 1\r\nA\r\nEND\r\n" {
		t.Fatalf("get a during warm-up: %q, want the previous owner's item", got)
	}
	// It is here now: the next read does not go to the previous owner.
	before := statValue(t, old.Addr(), "cmd_get")
	if got := roundTrip(t, srv.Addr(), "get a\r\n", "END\r\n"); got != "VALUE a 7 1\r\nA\r\nEND\r\n" {
		t.Fatalf("second get a: %q", got)
	}
	if after := statValue(t, old.Addr(), "cmd_get"); after != before {
		t.Fatalf("the previous owner was asked again (cmd_get %s -> %s)", before, after)
	}
	// TTL and multi-get, meta.
	if got := roundTrip(t, srv.Addr(), "mg c v t\r\n", "\r\nC\r\n"); got != "VA 1 t300\r\nC\r\n" && got != "VA 1 t299\r\nC\r\n" {
		t.Fatalf("mg c: %q, want the remaining TTL", got)
	}
	// A delete here wins: b is never fetched afterwards.
	roundTrip(t, srv.Addr(), "delete b\r\n", "\r\n")
	if got := roundTrip(t, srv.Addr(), "get b a nothere\r\n", "END\r\n"); got != "VALUE a 7 1\r\nA\r\nEND\r\n" {
		t.Fatalf("get b a nothere after deleting b: %q", got)
	}
	// A namespace flushed here during the warm-up is this node's: its keys
	// are neither fetched nor taken from a push of the previous owner,
	// which may not have applied the flush yet.
	roundTrip(t, old.Addr(), "set ns:1 0 0 1\r\nN\r\n", "STORED\r\n")
	roundTrip(t, srv.Addr(), "flush_prefix ns:\r\n", "OK\r\n")
	if got := roundTrip(t, srv.Addr(), "get ns:1\r\n", "END\r\n"); got != "END\r\n" {
		t.Fatalf("get ns:1 after flush_prefix ns: here: %q, want a miss", got)
	}
	if got := roundTrip(t, srv.Addr(), "ms ns:2 1 T0 ME H\r\nP\r\n", "\r\n"); got != "NS\r\n" {
		t.Fatalf("push of ns:2 after flush_prefix ns:: %q, want NS", got)
	}
	if got := roundTrip(t, srv.Addr(), "ms other 1 T0 ME H\r\nP\r\n", "\r\n"); got != "HD\r\n" {
		t.Fatalf("push of other: %q, want HD", got)
	}
	// Twenty clients missing the same key: one fetch.
	before = statValue(t, old.Addr(), "get_hits")
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := roundTrip(t, srv.Addr(), "get many\r\n", "END\r\n"); got != "VALUE many 0 1\r\nM\r\nEND\r\n" {
				t.Errorf("get many: %q", got)
			}
		}()
	}
	wg.Wait()
	b, _ := strconv.Atoi(before)
	if after := statValue(t, old.Addr(), "get_hits"); after != strconv.Itoa(b+1) {
		t.Fatalf("the previous owner served %s -> %s hits for 20 concurrent misses, want one", before, after)
	}
	st := map[string]string{}
	for _, x := range mctest.Stats(t, srv.Addr(), "warmup") {
		st[x.Name] = x.Value
	}
	if st["warmup_active"] != "yes" || st["warmup_filled"] != "3" {
		t.Fatalf("stats warmup: %v", st)
	}
	mfs := gather(t, srv)
	if v, _ := metricValue(mfs, "slabcached_warmup_active", nil); v != 1 {
		t.Errorf("slabcached_warmup_active = %v", v)
	}
	if v, _ := metricValue(mfs, "slabcached_warmup_fetches_total", map[string]string{"outcome": "filled"}); v != 3 {
		t.Errorf("slabcached_warmup_fetches_total{outcome=filled} = %v, want 3", v)
	}
	// After flush_all here nothing is fetched or taken from a push.
	roundTrip(t, srv.Addr(), "flush_all\r\n", "OK\r\n")
	if got := roundTrip(t, srv.Addr(), "get a\r\n", "END\r\n"); got != "END\r\n" {
		t.Fatalf("get a after flush_all here: %q, want a miss", got)
	}
	if got := roundTrip(t, srv.Addr(), "ms other2 1 T0 ME H\r\nP\r\n", "\r\n"); got != "NS\r\n" {
		t.Fatalf("push after flush_all: %q, want NS", got)
	}
}

// A delete relayed from another region reaches the members of this one in
// any order: for WarmupSecs after it applied here, a warm-up takes no copy
// of the key from a previous owner (which may not have applied it yet),
// neither by a fetch nor from a push, even when the ring changed after the
// delete. Past maxWarmDeleted such deletes, no copy of any key is taken.
func TestWarmupAfterRelayedDelete(t *testing.T) {
	old := startTestServer(t, nil)
	srv := startTestServer(t, nil)
	roundTrip(t, old.Addr(), "set gone 0 0 1\r\nG\r\nset kept 0 0 1\r\nK\r\nset later 0 0 1\r\nL\r\n", "STORED\r\nSTORED\r\nSTORED\r\n")
	roundTrip(t, srv.Addr(), "set gone 0 0 1\r\nG\r\n", "STORED\r\n")
	if got := roundTrip(t, srv.Addr(), "delete gone relay 1-a/1/A 1\r\n", "\r\n"); got != "DELETED\r\n" {
		t.Fatalf("relayed delete: %q", got)
	}
	srv.SetPeers(movedPeers{fixedPeers: fixedPeers{addrs: []string{srv.Addr()}, self: 0}, prev: old.Addr(), changed: time.Now()})
	srv.refreshWarm()
	if !srv.warmOn() {
		t.Fatal("no warm-up after a ring change")
	}
	if got := roundTrip(t, srv.Addr(), "get gone\r\n", "END\r\n"); got != "END\r\n" {
		t.Fatalf("get gone after its relayed delete: %q, want a miss (the previous owner has not applied the delete)", got)
	}
	if got := roundTrip(t, srv.Addr(), "ms gone 1 T0 ME H\r\nP\r\n", "\r\n"); got != "NS\r\n" {
		t.Fatalf("push of gone after its relayed delete: %q, want NS", got)
	}
	if got := roundTrip(t, srv.Addr(), "get kept\r\n", "END\r\n"); got != "VALUE kept 0 1\r\nK\r\nEND\r\n" {
		t.Fatalf("get kept: %q, want the previous owner's item", got)
	}
	for i := range maxWarmDeleted + 1 {
		srv.noteRecentDelete([]byte("k" + strconv.Itoa(i)))
	}
	if got := roundTrip(t, srv.Addr(), "get later\r\n", "END\r\n"); got != "END\r\n" {
		t.Fatalf("get later after %d relayed deletes: %q, want a miss", maxWarmDeleted+1, got)
	}
	if got := roundTrip(t, srv.Addr(), "ms other 1 T0 ME H\r\nP\r\n", "\r\n"); got != "NS\r\n" {
		t.Fatalf("push after %d relayed deletes: %q, want NS", maxWarmDeleted+1, got)
	}
}

// foreignPeers is a cluster whose ring has not changed yet and gives this
// node no key.
type foreignPeers struct{ movedPeers }

func (foreignPeers) Owns([]byte) bool { return false }

// A client that saw a ring change before this node did sends it a delete
// of a key it does not own yet: when the change arrives, the warm-up takes
// no copy of that key from its previous owner, which was not sent the
// delete.
func TestWarmupAfterDeleteAheadOfTheRing(t *testing.T) {
	old := startTestServer(t, nil)
	srv := startTestServer(t, nil)
	roundTrip(t, old.Addr(), "set gone 0 0 1\r\nG\r\nset bgone 0 0 1\r\nB\r\nset kept 0 0 1\r\nK\r\n", "STORED\r\nSTORED\r\nSTORED\r\n")
	srv.SetPeers(foreignPeers{movedPeers{fixedPeers: fixedPeers{addrs: []string{srv.Addr()}, self: 0}, prev: old.Addr()}})
	if got := roundTrip(t, srv.Addr(), "delete gone\r\n", "\r\n"); got != "NOT_FOUND\r\n" {
		t.Fatalf("delete gone: %q", got)
	}
	nc, br := dialT(t, srv.Addr())
	if resp, err := binRoundTrip(t, nc, br, proto.BinRequest{Opcode: proto.BinOpDelete, Key: []byte("bgone")}); err != nil || resp.Status != proto.BinStatusKeyENOENT {
		t.Fatalf("binary DELETE: %+v %v", resp, err)
	}
	srv.SetPeers(movedPeers{fixedPeers: fixedPeers{addrs: []string{srv.Addr()}, self: 0}, prev: old.Addr(), changed: time.Now()})
	srv.refreshWarm()
	if !srv.warmOn() {
		t.Fatal("no warm-up after a ring change")
	}
	for _, k := range []string{"gone", "bgone"} {
		if got := roundTrip(t, srv.Addr(), "get "+k+"\r\n", "END\r\n"); got != "END\r\n" {
			t.Fatalf("get %s deleted here before the ring change: %q, want a miss", k, got)
		}
	}
	if got := roundTrip(t, srv.Addr(), "get kept\r\n", "END\r\n"); got != "VALUE kept 0 1\r\nK\r\nEND\r\n" {
		t.Fatalf("get kept: %q, want the previous owner's item", got)
	}
}

// leftPeers is a cluster whose last ring change, at changed, moved every
// key from this node to next.
type leftPeers struct {
	fixedPeers
	next    string
	changed time.Time
}

func (p leftPeers) MovedTo([]byte) (string, bool)                  { return p.next, true }
func (p leftPeers) RingChanged() time.Time                         { return p.changed }
func (p leftPeers) PreviousOwner([]byte) (string, time.Time, bool) { return "", time.Time{}, false }

// A client that follows a ring change before this node has seen it writes
// here a key that is about to move here. When the change arrives, the
// warm-up takes that write as this node's: a read does not fetch the
// previous owner's older copy over it, and its push does not replace it.
// A copy from well before the change (this node held the key once before)
// is still fetched over.
func TestWritesAheadOfTheRingStayWhenTheKeyMovesHere(t *testing.T) {
	old := startTestServer(t, nil)
	srv := startTestServer(t, func(s *Settings) { s.WarmupSecs = 2 })
	roundTrip(t, old.Addr(), "set k 0 0 3\r\nold\r\nset j 0 0 3\r\nold\r\nset p 0 0 3\r\nold\r\n", "STORED\r\nSTORED\r\nSTORED\r\n")
	// Before the change: j and u are copies from long ago, k, p and q are
	// written by clients already on the new ring, less than a second
	// before it.
	roundTrip(t, srv.Addr(), "set j 0 0 4\r\nlong\r\nset u 0 0 4\r\nlong\r\n", "STORED\r\nSTORED\r\n")
	sampleFloorBefore(srv)
	roundTrip(t, srv.Addr(), "set k 0 0 3\r\nnew\r\nset p 0 0 3\r\nnew\r\nset q 0 0 3\r\nnew\r\n", "STORED\r\nSTORED\r\nSTORED\r\n")
	srv.SetPeers(movedPeers{fixedPeers: fixedPeers{addrs: []string{srv.Addr()}, self: 0}, prev: old.Addr(), changed: time.Now()})
	if !srv.warmOn() {
		t.Fatal("no warm-up after the ring change")
	}
	if got := roundTrip(t, srv.Addr(), "get k j\r\n", "END\r\n"); got != "VALUE k 0 3\r\nnew\r\nVALUE j 0 3\r\nold\r\nEND\r\n" {
		t.Fatalf("get k j in the warm-up: %q, want k as written here ahead of the change and j from the previous owner", got)
	}
	if got := roundTrip(t, srv.Addr(), "ms p 3 T0 ME H\r\nold\r\n", "\r\n"); got != "NS\r\n" {
		t.Fatalf("the previous owner's push of p, written here ahead: %q, want NS", got)
	}
	if got := roundTrip(t, srv.Addr(), "get p\r\n", "END\r\n"); got != "VALUE p 0 3\r\nnew\r\nEND\r\n" {
		t.Fatalf("get p after the push: %q", got)
	}
	// When the warm-up ends, the copy from before that nothing read goes,
	// the write ahead of the change stays (looked at in the store: a read
	// would fetch them).
	for deadline := time.Now().Add(5 * time.Second); srv.store.Peek([]byte("u"), noHit{}).Result == lru.Found; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a copy from before that nothing read is still held 5 s after the ring change")
		}
	}
	if srv.store.Peek([]byte("q"), noHit{}).Result != lru.Found {
		t.Fatal("the warm-up's end dropped q, written here ahead of the change")
	}
}

// leavingPeers is a member about to leave: its ring has not changed yet,
// and every key goes to next once it has left (Handoff).
type leavingPeers struct {
	fixedPeers
	next string
}

func (p leavingPeers) Handoff() func([]byte) (string, bool) {
	return func([]byte) (string, bool) { return p.next, true }
}

// A node that leaves keeps serving while the others take its keys over,
// and clients that have not polled the change yet write them there. From
// the moment it starts to leave (Leaving, before the others hear of it),
// each such write deletes the key at the node that takes it over before
// it is answered: that node may have fetched the key from here already,
// before this write, and would keep the older value (it takes no push of
// a key it holds from its warm-up), while this node's own ring may change
// only after the others'.
func TestWritesWhileLeavingReachTheNewOwner(t *testing.T) {
	owner := startTestServer(t, nil)
	srv := startTestServer(t, nil)
	roundTrip(t, owner.Addr(), "set a 0 0 1\r\nA\r\nset b 0 0 1\r\nB\r\nset c 0 0 1\r\nC\r\n", "STORED\r\nSTORED\r\nSTORED\r\n")
	srv.SetPeers(leavingPeers{fixedPeers: fixedPeers{addrs: []string{owner.Addr(), srv.Addr()}, self: 1}, next: owner.Addr()})
	roundTrip(t, srv.Addr(), "set c 0 0 1\r\nc\r\n", "STORED\r\n")
	if got := roundTrip(t, owner.Addr(), "get c\r\n", "END\r\n"); got != "VALUE c 0 1\r\nC\r\nEND\r\n" {
		t.Fatalf("a write before the node started to leave reached the other: %q", got)
	}
	srv.Leaving()
	roundTrip(t, srv.Addr(), "set a 0 0 1\r\na\r\n", "STORED\r\n")
	roundTrip(t, srv.Addr(), "delete b\r\n", "NOT_FOUND\r\n")
	if got := roundTrip(t, owner.Addr(), "get a b c\r\n", "END\r\n"); got != "VALUE c 0 1\r\nC\r\nEND\r\n" {
		t.Fatalf("the new owner after writes of a and b at the leaving node: %q, want c only", got)
	}
	if got := roundTrip(t, srv.Addr(), "get a\r\n", "END\r\n"); got != "VALUE a 0 1\r\na\r\nEND\r\n" {
		t.Fatalf("the leaving node's own item after the write: %q", got)
	}
}

// owningPeers is a member whose ring has not changed yet: it owns every
// key.
type owningPeers struct{ fixedPeers }

func (owningPeers) Owns([]byte) bool { return true }

// A member that took keys over fetches them from here in its warm-up
// before this node has learnt of the change (gossip reaches members one by
// one). A client write of a fetched key here, from a client whose ring is
// behind, deletes it at the member before it is answered, as if this
// node's ring had changed: the member took the older value and takes no
// push of it. Keys nobody fetched, and fetches by members that did not
// name themselves, are not forwarded.
func TestWritesOfKeysFetchedAheadReachTheFetcher(t *testing.T) {
	fetcher := startTestServer(t, nil)
	srv := startTestServer(t, nil)
	srv.SetPeers(owningPeers{fixedPeers{addrs: []string{srv.Addr(), fetcher.Addr()}, self: 0}})
	roundTrip(t, srv.Addr(), "set a 0 0 1\r\nA\r\nset b 0 0 1\r\nB\r\nset c 0 0 1\r\nC\r\n", "STORED\r\nSTORED\r\nSTORED\r\n")
	// The fetcher's warm-up reads a and c here (as peers.Pool.Get does)
	// and stores what it got.
	if got := roundTrip(t, srv.Addr(), "cluster peer "+fetcher.Addr()+"\r\nmg a v\r\nmn\r\n", "MN\r\n"); got != "OK\r\nVA 1\r\nA\r\nMN\r\n" {
		t.Fatalf("a member's fetch of a: %q", got)
	}
	roundTrip(t, srv.Addr(), "cluster peer\r\nmg c v\r\nmn\r\n", "MN\r\n")
	roundTrip(t, fetcher.Addr(), "set a 0 0 1\r\nA\r\nset b 0 0 1\r\nB\r\nset c 0 0 1\r\nC\r\n", "STORED\r\nSTORED\r\nSTORED\r\n")
	for _, w := range []string{"set a 0 0 1\r\na\r\n", "set b 0 0 1\r\nb\r\n", "set c 0 0 1\r\nc\r\n"} {
		if got := roundTrip(t, srv.Addr(), w, "\r\n"); got != "STORED\r\n" {
			t.Fatalf("%q: %q", w, got)
		}
	}
	if got := roundTrip(t, fetcher.Addr(), "get a b c\r\n", "END\r\n"); got != "VALUE b 0 1\r\nB\r\nVALUE c 0 1\r\nC\r\nEND\r\n" {
		t.Fatalf("the fetcher after writes here of a (it fetched), b and c (a fetch that did not name its member): %q, want b and c", got)
	}
	// Once this node's ring has changed, it goes by the ring alone.
	roundTrip(t, srv.Addr(), "cluster peer "+fetcher.Addr()+"\r\nmg b v\r\nmn\r\n", "MN\r\n")
	srv.RingChanged()
	roundTrip(t, srv.Addr(), "set b 0 0 1\r\n2\r\n", "STORED\r\n")
	if got := roundTrip(t, fetcher.Addr(), "get b\r\n", "END\r\n"); got != "VALUE b 0 1\r\nB\r\nEND\r\n" {
		t.Fatalf("the fetcher after a write of b here once this node's ring changed: %q, want b kept", got)
	}
}

// A client that has not seen a ring change yet sends a moved key's writes
// to its previous owner: a delete of the key is forwarded to the new
// owner, which may hold an older copy already, before the write is
// answered; relays are not, nor writes long after the change.
func TestDeleteOfAMovedKeyReachesItsNewOwner(t *testing.T) {
	owner := startTestServer(t, nil)
	srv := startTestServer(t, nil)
	roundTrip(t, owner.Addr(), "set a 0 0 1\r\nA\r\nset b 0 0 1\r\nB\r\nset c 0 0 1\r\nC\r\nset d 0 0 1\r\nD\r\n",
		"STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\n")
	srv.SetPeers(leftPeers{fixedPeers: fixedPeers{addrs: []string{owner.Addr(), srv.Addr()}, self: 1}, next: owner.Addr(), changed: time.Now()})
	roundTrip(t, srv.Addr(), "set a 0 0 1\r\nA\r\n", "STORED\r\n")
	if got := roundTrip(t, srv.Addr(), "delete a\r\n", "\r\n"); got != "DELETED\r\n" {
		t.Fatalf("delete a: %q", got)
	}
	if got := roundTrip(t, srv.Addr(), "md b q\r\nmn\r\n", "MN\r\n"); got != "NF\r\nMN\r\n" {
		t.Fatalf("md b q (not here): %q", got)
	}
	if got := roundTrip(t, srv.Addr(), "delete c relay 1-a/1/A 1\r\n", "\r\n"); got != "NOT_FOUND\r\n" {
		t.Fatalf("relayed delete of c: %q", got)
	}
	if got := roundTrip(t, owner.Addr(), "get a b c\r\n", "END\r\n"); got != "VALUE c 0 1\r\nC\r\nEND\r\n" {
		t.Fatalf("the new owner after deletes of a and b at the previous one: %q, want c only", got)
	}
	forwarded := ""
	for _, x := range mctest.Stats(t, srv.Addr(), "warmup") {
		if x.Name == "warmup_deletes_forwarded" {
			forwarded = x.Value
		}
	}
	if forwarded != "3" {
		t.Fatalf("stats warmup: warmup_deletes_forwarded %q, want 3 (set a, delete a, md b)", forwarded)
	}
	// Other writes of a moved key delete it at the new owner too: its
	// copy is older than the write.
	roundTrip(t, owner.Addr(), "set f 0 0 1\r\nF\r\nset g 0 0 1\r\n5\r\nset h 0 0 1\r\nH\r\n", "STORED\r\nSTORED\r\nSTORED\r\n")
	roundTrip(t, srv.Addr(), "set g 0 0 1\r\n5\r\nset h 0 0 1\r\nH\r\n", "STORED\r\nSTORED\r\n")
	for _, step := range [][2]string{
		{"set f 0 0 1\r\nG\r\n", "STORED\r\n"},
		{"incr g 1\r\n", "6\r\n"},
		{"touch h 100\r\n", "TOUCHED\r\n"},
		{"ms i 1 T0\r\nI\r\n", "HD\r\n"},
		{"add f 0 0 1\r\nX\r\n", "NOT_STORED\r\n"},
	} {
		if got := roundTrip(t, srv.Addr(), step[0], "\r\n"); got != step[1] {
			t.Fatalf("%q at the previous owner: %q, want %q", step[0], got, step[1])
		}
	}
	if got := roundTrip(t, owner.Addr(), "get f g h i\r\n", "END\r\n"); got != "END\r\n" {
		t.Fatalf("the new owner after writes of f, g, h, i at the previous one: %q, want none", got)
	}
	// Binary writes too, in the background (the binary reply does not
	// wait).
	roundTrip(t, owner.Addr(), "set j 0 0 1\r\nJ\r\nset k 0 0 1\r\nK\r\n", "STORED\r\nSTORED\r\n")
	nc, br := dialT(t, srv.Addr())
	for _, r := range []proto.BinRequest{{Opcode: proto.BinOpSet, Key: []byte("j"), Value: []byte("2")}, {Opcode: proto.BinOpDelete, Key: []byte("k")}} {
		if _, err := binRoundTrip(t, nc, br, r); err != nil {
			t.Fatal(err)
		}
	}
	nc.Close()
	for deadline := time.Now().Add(5 * time.Second); roundTrip(t, owner.Addr(), "get j k\r\n", "END\r\n") != "END\r\n"; {
		if time.Now().After(deadline) {
			t.Fatal("binary writes of j and k at the previous owner left the new owner's copies")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A member's own deletes (its connections say `cluster peer`) are
	// not forwarded: two members whose rings disagree, each taking the
	// other for the key's new owner, do not pass a delete back and forth.
	roundTrip(t, owner.Addr(), "set e 0 0 1\r\nE\r\n", "STORED\r\n")
	if got := roundTrip(t, srv.Addr(), "cluster peer\r\ndelete e\r\nmn\r\n", "MN\r\n"); got != "OK\r\nNOT_FOUND\r\nMN\r\n" {
		t.Fatalf("a member's delete of e: %q", got)
	}
	if got := roundTrip(t, owner.Addr(), "get e\r\n", "END\r\n"); got != "VALUE e 0 1\r\nE\r\nEND\r\n" {
		t.Fatalf("get e at the owner after a member's delete at the previous one: %q, want it kept", got)
	}
	owner.SetPeers(leftPeers{fixedPeers: fixedPeers{addrs: []string{owner.Addr(), srv.Addr()}, self: 0}, next: srv.Addr(), changed: time.Now()})
	if got := roundTrip(t, srv.Addr(), "delete e\r\n", "\r\n"); got != "NOT_FOUND\r\n" {
		t.Fatalf("delete e between two members that each take the other for its owner: %q", got)
	}
	if got := roundTrip(t, owner.Addr(), "get e\r\n", "END\r\n"); got != "END\r\n" {
		t.Fatalf("get e at the other member after the forwarded delete: %q", got)
	}
	// A new owner that does not answer is named in the reply.
	srv.SetPeers(leftPeers{fixedPeers: fixedPeers{addrs: []string{srv.Addr()}, self: 0}, next: "127.0.0.1:1", changed: time.Now()})
	if got := roundTrip(t, srv.Addr(), "delete a\r\n", "\r\n"); got != "SERVER_ERROR delete pending on 127.0.0.1:1\r\n" {
		t.Fatalf("delete a with its new owner down: %q", got)
	}
	if got := roundTrip(t, srv.Addr(), "set a 0 0 1\r\nA\r\n", "\r\n"); got != "SERVER_ERROR write pending on 127.0.0.1:1\r\n" {
		t.Fatalf("set a with its new owner down: %q", got)
	}
	// Long after the change, clients have the new ring: no forward.
	srv.SetPeers(leftPeers{fixedPeers: fixedPeers{addrs: []string{owner.Addr(), srv.Addr()}, self: 1}, next: owner.Addr(),
		changed: time.Now().Add(-time.Duration(srv.set.WarmupSecs+1) * time.Second)})
	roundTrip(t, srv.Addr(), "delete d\r\n", "\r\n")
	if got := roundTrip(t, owner.Addr(), "get d\r\n", "END\r\n"); got != "VALUE d 0 1\r\nD\r\nEND\r\n" {
		t.Fatalf("get d at the owner after a delete at the previous one long after the change: %q", got)
	}
}

// A warm-up ends early once no read has needed a fetch for warmSettle.
func TestWarmupEndsWhenSettled(t *testing.T) {
	old := startTestServer(t, nil)
	srv := startTestServer(t, nil)
	// The ring changed warmSettle and more ago; nothing was fetched since.
	srv.SetPeers(movedPeers{fixedPeers: fixedPeers{addrs: []string{srv.Addr()}, self: 0}, prev: old.Addr(), changed: time.Now().Add(-warmSettle - time.Second)})
	srv.refreshWarm() // starts the warm-up (its last activity: now)
	if !srv.warmOn() {
		t.Fatal("no warm-up after a ring change")
	}
	srv.warm.mu.Lock()
	srv.warm.active = time.Now().Add(-warmSettle - time.Second)
	srv.warm.mu.Unlock()
	srv.refreshWarm()
	if srv.warmOn() {
		t.Fatalf("warm-up still on %v after its last fetch", warmSettle)
	}
	if got := roundTrip(t, srv.Addr(), "stats warmup\r\n", "END\r\n"); !strings.Contains(got, "STAT warmup_active no\r\n") {
		t.Fatalf("stats warmup after it ended: %q", got)
	}
	srv.refreshWarm() // the next tick does not start it again
	if srv.warmOn() {
		t.Fatal("warm-up on again without a ring change")
	}
}

// Binary-protocol reads of moved keys are filled during a warm-up too,
// and a binary delete here wins over the previous owner's copy.
func TestWarmupBinary(t *testing.T) {
	old := startTestServer(t, nil)
	srv := startTestServer(t, nil)
	roundTrip(t, old.Addr(), "set bin-a 3 0 2\r\nAA\r\nset bin-b 0 0 2\r\nBB\r\n", "STORED\r\nSTORED\r\n")
	srv.SetPeers(movedPeers{fixedPeers: fixedPeers{addrs: []string{srv.Addr()}, self: 0}, prev: old.Addr(), changed: time.Now()})
	srv.RingChanged()
	if !srv.warmOn() {
		t.Fatal("no warm-up after a ring change")
	}
	nc, br := dialT(t, srv.Addr())
	resp, err := binRoundTrip(t, nc, br, proto.BinRequest{Opcode: proto.BinOpGet, Key: []byte("bin-a")})
	if err != nil || resp.Status != proto.BinStatusSuccess || string(resp.Value) != "AA" {
		t.Fatalf("binary GET of a moved key: %+v %v, want the previous owner's value", resp, err)
	}
	// A binary DELETE of a key not here yet marks it written: never
	// fetched afterwards, whatever the protocol of the read.
	resp, err = binRoundTrip(t, nc, br, proto.BinRequest{Opcode: proto.BinOpDelete, Key: []byte("bin-b")})
	if err != nil || resp.Status != proto.BinStatusKeyENOENT {
		t.Fatalf("binary DELETE: %+v %v", resp, err)
	}
	if got := roundTrip(t, srv.Addr(), "get bin-b\r\n", "END\r\n"); got != "END\r\n" {
		t.Fatalf("get bin-b after a binary delete here: %q, want a miss", got)
	}
}

// Reads over UDP of keys that moved here are filled during a warm-up as
// TCP ones are: the datagram's commands before the read run once, the
// rest run after the fetch, and every reply reaches the sender.
func TestWarmupUDP(t *testing.T) {
	old := startTestServer(t, nil)
	port := testenv.FreePort(t)
	srv := startTestServer(t, func(s *Settings) { s.UDPPort = port })
	udpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	roundTrip(t, old.Addr(), "set a 7 0 1\r\nA\r\nset b 0 0 2\r\nBB\r\nset c 0 0 1\r\nC\r\nset d 0 0 1\r\nD\r\n", "STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\n")
	roundTrip(t, srv.Addr(), "set n 0 0 1\r\n1\r\n", "STORED\r\n")
	srv.SetPeers(movedPeers{fixedPeers: fixedPeers{addrs: []string{srv.Addr()}, self: 0}, prev: old.Addr(), changed: time.Now()})
	srv.RingChanged()
	if !srv.warmOn() {
		t.Fatal("no warm-up after a ring change")
	}
	var got []string
	for _, d := range udpExchange(t, udpAddr, 7, nil, "incr n 1\r\nget a b nothere\r\nmg c v\r\n") {
		if len(d) < 8 || d[0] != 0 || d[1] != 7 {
			t.Fatalf("reply datagram %q: not for request 7", d)
		}
		got = append(got, string(d[8:]))
	}
	want := []string{"2\r\n", "VALUE a 7 1\r\nA\r\n", "VALUE b 0 2\r\nBB\r\n", "END\r\n", "VA 1\r\nC\r\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("UDP replies during warm-up:\n got %q\nwant %q", got, want)
	}
	if v := roundTrip(t, srv.Addr(), "get n a c\r\n", "END\r\n"); v != "VALUE n 0 1\r\n2\r\nVALUE a 7 1\r\nA\r\nVALUE c 0 1\r\nC\r\nEND\r\n" {
		t.Fatalf("after the UDP reads: %q (incr once, a and c stored here)", v)
	}
	// Binary over UDP: a GET of a moved key is filled too.
	req := proto.AppendBinRequest(nil, &proto.BinRequest{Opcode: proto.BinOpGetK, Key: []byte("d"), Opaque: 5})
	ds := udpExchange(t, udpAddr, 8, nil, string(req))
	if len(ds) != 1 {
		t.Fatalf("binary GETK over UDP: %d datagrams", len(ds))
	}
	var resp proto.BinResponse
	_, err := proto.ParseBinResponse(ds[0][8:], &resp)
	if err != nil || resp.Status != proto.BinStatusSuccess || string(resp.Value) != "D" {
		t.Fatalf("binary GETK of a moved key over UDP: %+v %v", resp, err)
	}
}

// Only a cluster member takes a hand-over push: a node in no cluster
// refuses ms H as memcached refuses any flag it does not know, value
// skipped, and stores nothing.
func TestPushRefusedOutsideACluster(t *testing.T) {
	srv := startTestServer(t, nil)
	if got := roundTrip(t, srv.Addr(), "ms k 1 T0 ME H\r\nP\r\nmg k v\r\n", "EN\r\n"); got != "CLIENT_ERROR invalid flag\r\nEN\r\n" {
		t.Fatalf("ms H on a node in no cluster, then mg: %q, want CLIENT_ERROR invalid flag and a miss", got)
	}
}

// A key that comes back to a node that owned it before is not served from
// the copy the node kept from then: during the warm-up a read fetches the
// previous owner's value even though the key is here, a hand-over push
// replaces it, and a copy nothing read or pushed is dropped when the
// warm-up ends.
func TestWarmupReplacesACopyFromBefore(t *testing.T) {
	old := startTestServer(t, nil)
	srv := startTestServer(t, func(s *Settings) { s.WarmupSecs = 2 })
	roundTrip(t, old.Addr(), "set read 0 0 3\r\nnew\r\nset gone 0 0 3\r\nnew\r\n", "STORED\r\nSTORED\r\n")
	roundTrip(t, srv.Addr(), "set read 0 0 3\r\nold\r\nset pushed 0 0 3\r\nold\r\nset unread 0 0 3\r\nold\r\nset missing 0 0 3\r\nold\r\n",
		"STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\n")
	srv.SetPeers(movedPeers{fixedPeers: fixedPeers{addrs: []string{srv.Addr()}, self: 0}, prev: old.Addr(), changed: time.Now()})
	for deadline := time.Now().Add(3 * time.Second); !srv.warmOn(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no warm-up after a ring change")
		}
	}
	if got := getValue(t, srv.Addr(), "read"); got != "new" {
		t.Fatalf("a read of a key held from before: %q, want the previous owner's value", got)
	}
	if got := getValue(t, srv.Addr(), "missing"); got != "" {
		t.Fatalf("a key the previous owner does not hold: %q, want a miss", got)
	}
	if got := roundTrip(t, srv.Addr(), "ms pushed 3 T0 ME H\r\nnew\r\n", "\r\n"); got != "HD\r\n" {
		t.Fatalf("a push of a key held from before: %q, want HD", got)
	}
	if got := getValue(t, srv.Addr(), "pushed"); got != "new" {
		t.Fatalf("a key pushed over a copy from before: %q", got)
	}
	// (Looked at in the store: a read would fetch it.)
	for deadline := time.Now().Add(5 * time.Second); srv.store.Peek([]byte("unread"), noHit{}).Result == lru.Found; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a copy from before that nothing read is still held 5 s after the ring change")
		}
	}
	if srv.warmOn() {
		t.Fatal("the copy was dropped before the warm-up ended")
	}
	if got := getValue(t, srv.Addr(), "read"); got != "new" {
		t.Fatalf("a key fetched in the warm-up, after it: %q", got)
	}
}

// givenUpPeers is a cluster whose last ring change, at changed, gave the
// keys starting with "their:", which this node owned, to another node.
type givenUpPeers struct {
	fixedPeers
	changed time.Time
}

func (p givenUpPeers) GaveUp() func([]byte) bool {
	return func(k []byte) bool { return strings.HasPrefix(string(k), "their:") }
}
func (p givenUpPeers) RingChanged() time.Time                         { return p.changed }
func (p givenUpPeers) PreviousOwner([]byte) (string, time.Time, bool) { return "", time.Time{}, false }

// Keys a ring change gave to another node are misses here for clients
// from then on (a client whose ring is behind, or one standing in here for
// their failed owner): the new owner takes their writes. A member still
// reads them (the new owner's warm-up fetch) until the warm-up is over,
// when the crawler removes them; a value a client stores here after the
// change is served.
func TestKeysGivenUpAreNotServedToClients(t *testing.T) {
	srv := startTestServer(t, nil)
	roundTrip(t, srv.Addr(), "set their:a 0 0 1\r\nA\r\nset their:b 0 0 1\r\nB\r\nset their:c 0 0 1\r\nC\r\nset mine 0 0 1\r\nM\r\n",
		"STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\n")
	peers := givenUpPeers{fixedPeers: fixedPeers{addrs: []string{srv.Addr(), "127.0.0.1:1"}, self: 0}, changed: time.Now()}
	srv.SetPeers(peers)
	srv.RingChanged()
	member, br := dialT(t, srv.Addr())
	defer member.Close()
	exchange(t, member, br, "cluster peer 127.0.0.1:1\r\n", "OK\r\n")
	if got := exchange(t, member, br, "mg their:a v\r\n", "\r\n"); got != "VA 1\r\n" {
		t.Fatalf("a member's read of a key given up: %q, want the item", got)
	}
	exchange(t, member, br, "", "A\r\n")
	if got := roundTrip(t, srv.Addr(), "get their:a\r\n", "END\r\n"); got != "END\r\n" {
		t.Fatalf("a client's get of a key given up: %q, want a miss", got)
	}
	if got := roundTrip(t, srv.Addr(), "mg their:b v\r\n", "\r\n"); got != "EN\r\n" {
		t.Fatalf("a client's mg of a key given up: %q, want a miss", got)
	}
	if got := roundTrip(t, srv.Addr(), "get mine\r\n", "END\r\n"); got != "VALUE mine 0 1\r\nM\r\nEND\r\n" {
		t.Fatalf("get of a key still owned: %q", got)
	}
	roundTrip(t, srv.Addr(), "set their:a 0 0 1\r\nN\r\n", "STORED\r\n")
	if got := roundTrip(t, srv.Addr(), "get their:a\r\n", "END\r\n"); got != "VALUE their:a 0 1\r\nN\r\nEND\r\n" {
		t.Fatalf("get of a value stored after the change: %q", got)
	}
	if v, _ := metricValue(gather(t, srv), "slabcached_warmup_disowned_removed_total", nil); v != 2 {
		t.Fatalf("slabcached_warmup_disowned_removed_total = %v, want 2", v)
	}
	// The warm-up is over: the crawler removes the rest, members miss them.
	peers.changed = time.Now().Add(-2 * time.Duration(srv.set.WarmupSecs) * time.Second)
	srv.SetPeers(peers)
	srv.refreshWarm()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if got := exchange(t, member, br, "mg their:c v\r\n", "\r\n"); got == "EN\r\n" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("a member's read of a key given up, after the warm-up: %q, want it reclaimed", got)
		} else {
			exchange(t, member, br, "", "C\r\n")
		}
	}
	if got := roundTrip(t, srv.Addr(), "get their:a mine\r\n", "END\r\n"); got != "VALUE their:a 0 1\r\nN\r\nVALUE mine 0 1\r\nM\r\nEND\r\n" {
		t.Fatalf("after the reclaim: %q", got)
	}
}

// cameBackPeers is movedPeers where the keys in left moved away from this
// node at the change before, at leftAt.
type cameBackPeers struct {
	movedPeers
	left   map[string]bool
	leftAt time.Time
}

func (p cameBackPeers) GaveUpBefore(key []byte) (time.Time, bool) {
	return p.leftAt, p.left[string(key)]
}

// cameBack is srv's view of a ring change now that moved every key to it
// from owner, the keys named having left it at the change 2 s before.
func cameBack(srv, owner *Server, keys ...string) cameBackPeers {
	left := map[string]bool{}
	for _, k := range keys {
		left[k] = true
	}
	return cameBackPeers{movedPeers{fixedPeers: fixedPeers{addrs: []string{srv.Addr()}, self: 0}, prev: owner.Addr(), changed: time.Now()},
		left, time.Now().Add(-2 * time.Second)}
}

// A key that left this node at one ring change and comes back at the next
// (Ch3 and jump move keys between the remaining nodes, and back): a client
// behind the first change wrote it here less than a second before the
// second, as a client ahead of the second would have; its owner meanwhile
// got the delete that write forwarded, then newer writes. The write here
// is not taken as ahead of the ring: the key is fetched from its owner.
// A write just as recent of a key that did not leave stays this node's.
func TestWriteBehindAKeyThatLeftIsNotTakenAsAhead(t *testing.T) {
	owner := startTestServer(t, nil)
	srv := startTestServer(t, nil)
	roundTrip(t, owner.Addr(), "set k 0 0 5\r\nnewer\r\nset j 0 0 3\r\nold\r\n", "STORED\r\nSTORED\r\n")
	sampleFloorBefore(srv)
	roundTrip(t, srv.Addr(), "set k 0 0 6\r\nbehind\r\nset j 0 0 5\r\nahead\r\n", "STORED\r\nSTORED\r\n")
	srv.SetPeers(cameBack(srv, owner, "k"))
	if got := roundTrip(t, srv.Addr(), "get k j\r\n", "END\r\n"); got != "VALUE k 0 5\r\nnewer\r\nVALUE j 0 5\r\nahead\r\nEND\r\n" {
		t.Fatalf("get k j in the warm-up: %q, want k from its owner and j as written here", got)
	}
}

// A key that left this node at one ring change and comes back at the
// next, in a namespace flushed here during the warm-up (which makes its
// keys this node's: a fetched copy could be from before the flush): the
// copy here is from the earlier time the node owned it, older than its
// owner's since, and is deleted rather than served (with Ch3, the churn
// clients read such copies through a rolling restart). A key of the same
// namespace that did not leave stays as it is, and so does one written
// here in the warm-up.
func TestCopyOfAKeyThatCameBackInAFlushedNamespaceIsDropped(t *testing.T) {
	owner := startTestServer(t, nil)
	srv := startTestServer(t, nil)
	roundTrip(t, owner.Addr(), "set ns:k 0 0 5\r\nnewer\r\n", "STORED\r\n")
	roundTrip(t, srv.Addr(), "flush_prefix ns:\r\n", "\r\n")
	roundTrip(t, srv.Addr(), "set ns:k 0 0 5\r\nolder\r\nset ns:j 0 0 4\r\nmine\r\n", "STORED\r\nSTORED\r\n")
	srv.SetPeers(cameBack(srv, owner, "ns:k", "ns:w"))
	roundTrip(t, srv.Addr(), "set ns:w 0 0 7\r\nwritten\r\n", "STORED\r\n")
	if got := roundTrip(t, srv.Addr(), "get ns:k ns:j ns:w\r\n", "END\r\n"); got != "VALUE ns:j 0 4\r\nmine\r\nVALUE ns:w 0 7\r\nwritten\r\nEND\r\n" {
		t.Fatalf("get in the warm-up: %q, want ns:k missing (its copy from before it left), ns:j and ns:w as here", got)
	}
	if got := roundTrip(t, srv.Addr(), "get ns:k\r\n", "END\r\n"); got != "END\r\n" {
		t.Fatalf("ns:k read again: %q, want a miss", got)
	}
}

// sampleFloorBefore sets srv's CAS floor as sampled a little more than
// aheadWindow ago (set here rather than waited for: the tick samples too):
// what srv stores from now on counts as written in the second before a
// ring change made now.
func sampleFloorBefore(srv *Server) {
	srv.ahead.mu.Lock()
	defer srv.ahead.mu.Unlock()
	srv.ahead.samples = []casSample{{at: time.Now().Add(-aheadWindow - 100*time.Millisecond), floor: srv.store.CASFloor()}}
}
