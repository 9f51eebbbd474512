package server

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/testenv"
)

// flush_prefix and md A on one node: the namespace's earlier items are
// misses for every command, other keys are untouched, bad prefixes get
// memcached's format error, and the counters move.
func TestFlushPrefixCommand(t *testing.T) {
	s := startTestServer(t, nil)
	addr := s.Addr()
	for _, k := range []string{"user:1:a", "user:1:b", "user:12:a", "user:2:a"} {
		roundTrip(t, addr, "set "+k+" 0 0 1\r\nx\r\n", "STORED\r\n")
	}
	nc, br := dialT(t, addr)
	for _, c := range []struct{ req, want string }{
		{"flush_prefix user:1\r\n", "CLIENT_ERROR bad command line format\r\n"},
		{"flush_prefix\r\n", "CLIENT_ERROR bad command line format\r\n"},
		{"flush_prefix a: b:\r\n", "CLIENT_ERROR bad command line format\r\n"},
		{"mg user:1: A\r\n", "CLIENT_ERROR invalid flag\r\n"},
		{"flush_prefix user:1:\r\n", "OK\r\n"},
		{"get user:1:a user:1:b user:12:a user:2:a\r\n", "VALUE user:12:a 0 1\r\nx\r\nVALUE user:2:a 0 1\r\nx\r\nEND\r\n"},
		{"gets user:1:a\r\n", "END\r\n"},
		{"touch user:1:a 10\r\n", "NOT_FOUND\r\n"},
		{"incr user:1:a 1\r\n", "NOT_FOUND\r\n"},
		{"append user:1:a 0 0 1\r\ny\r\n", "NOT_STORED\r\n"},
		{"me user:1:b\r\n", "EN\r\n"},
		{"set user:1:a 0 0 3\r\nnew\r\n", "STORED\r\n"},
		{"get user:1:a\r\n", "VALUE user:1:a 0 3\r\nnew\r\nEND\r\n"},
		{"md user: A q O7 k\r\nmn\r\n", "MN\r\n"},
		{"md user: A O7 k\r\n", "HD O7 kuser:\r\n"},
		{"get user:1:a user:2:a\r\n", "END\r\n"},
		{"flush_prefix user: noreply\r\nmn\r\n", "MN\r\n"},
	} {
		end := "\r\n"
		for _, e := range []string{"END\r\n", "MN\r\n"} {
			if strings.HasSuffix(c.want, e) {
				end = e
			}
		}
		if got := exchange(t, nc, br, c.req, end); got != c.want {
			t.Fatalf("%q: %q, want %q", c.req, got, c.want)
		}
	}
	st := statLines(t, addr, "stats")
	// Counted once parsed: the four accepted and the one with a bad prefix.
	if st["cmd_flush_prefix"] != "5" {
		t.Errorf("cmd_flush_prefix %s", st["cmd_flush_prefix"])
	}
	if st["flush_prefix_reclaimed"] == "0" || st["flush_prefix_pending"] == "" {
		t.Errorf("flush_prefix_reclaimed %q, pending %q", st["flush_prefix_reclaimed"], st["flush_prefix_pending"])
	}
	if _, ok := st["invalidation_relays_received"]; ok {
		t.Error("relay counters shown without clustering")
	}
}

// -F refuses flush_prefix as it refuses flush_all; a member's relay is
// applied, but a gap in relays does not flush everything.
func TestFlushPrefixDisabled(t *testing.T) {
	s := startTestServer(t, func(set *Settings) { set.FlushEnabled = false })
	if got := roundTrip(t, s.Addr(), "flush_prefix a:\r\n", "\r\n"); got != "CLIENT_ERROR flush_prefix not allowed\r\n" {
		t.Fatalf("%q", got)
	}
	roundTrip(t, s.Addr(), "set a:1 0 0 1\r\nx\r\nset b:1 0 0 1\r\ny\r\n", "STORED\r\nSTORED\r\n")
	if got := roundTrip(t, s.Addr(), "flush_prefix a: relay n/1/- 1\r\nflush_prefix c: relay n/5/- 5\r\n", "OK\r\nOK\r\n"); got != "OK\r\nOK\r\n" {
		t.Fatalf("relays under -F: %q", got)
	}
	if got := roundTrip(t, s.Addr(), "get a:1 b:1\r\n", "END\r\n"); got != "VALUE b:1 0 1\r\ny\r\nEND\r\n" {
		t.Fatalf("after a relayed flush and a gap under -F: %q, want b:1 kept", got)
	}
}

// A member this node takes for down gets its backlog all the same as soon
// as it answers: after a partition heals, gossip may take many seconds to
// see it alive while it serves the clients that reach it.
func TestFlushPrefixBacklogReachesMemberStillDown(t *testing.T) {
	a := startTestServer(t, nil)
	b := startTestServer(t, nil)
	roundTrip(t, b.Addr(), "set ns:1 0 0 1\r\nx\r\nset other 0 0 1\r\ny\r\n", "STORED\r\nSTORED\r\n")
	a.SetPeers(fixedPeers{addrs: []string{a.Addr()}, down: []string{b.Addr()}})
	if got := roundTrip(t, a.Addr(), "flush_prefix ns:\r\n", "\r\n"); got != "SERVER_ERROR flush_prefix pending on "+b.Addr()+"\r\n" {
		t.Fatalf("flush_prefix with a member down: %q", got)
	}
	waitFor(t, 5*time.Second, func() bool { return getValue(t, b.Addr(), "ns:1") == "" })
	if got := getValue(t, b.Addr(), "other"); got != "y" {
		t.Fatalf("b after the backlog: other = %q", got)
	}
	if st := statLines(t, a.Addr(), "stats"); st["invalidation_backlog"] != "0" {
		t.Fatalf("backlog left: %s", st["invalidation_backlog"])
	}
}

// With clustering on, the node relays the flush to the other members and
// answers OK once all have applied it; a member that does not answer is
// named in a SERVER_ERROR, and gets the flush when it is reachable again.
func TestFlushPrefixRelay(t *testing.T) {
	a := startTestServer(t, nil)
	b := startTestServer(t, nil)
	// A member that is not there yet: a port that refuses connections.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := l.Addr().String()
	l.Close()
	for _, s := range []*Server{a, b} {
		roundTrip(t, s.Addr(), "set ns:1 0 0 1\r\nx\r\nset other 0 0 1\r\ny\r\n", "STORED\r\nSTORED\r\n")
	}
	a.SetPeers(fixedPeers{addrs: []string{a.Addr(), b.Addr()}, self: 0})
	if got := roundTrip(t, a.Addr(), "flush_prefix ns:\r\n", "\r\n"); got != "OK\r\n" {
		t.Fatalf("flush_prefix: %q", got)
	}
	for _, s := range []*Server{a, b} {
		if got := roundTrip(t, s.Addr(), "get ns:1 other\r\n", "END\r\n"); got != "VALUE other 0 1\r\ny\r\nEND\r\n" {
			t.Fatalf("%s after the flush: %q", s.Addr(), got)
		}
	}
	if st := statLines(t, b.Addr(), "stats"); st["cmd_flush_prefix"] != "1" || st["invalidation_relays_received"] != "1" {
		t.Errorf("b: cmd_flush_prefix %q, invalidation_relays_received %q; want 1 and 1", st["cmd_flush_prefix"], st["invalidation_relays_received"])
	}
	// Now a member is down: named in the reply, queued, delivered later.
	a.SetPeers(fixedPeers{addrs: []string{a.Addr(), b.Addr(), gone}, self: 0})
	roundTrip(t, b.Addr(), "set ns:2 0 0 1\r\nx\r\n", "STORED\r\n")
	if got := roundTrip(t, a.Addr(), "md ns: A\r\n", "\r\n"); got != "SERVER_ERROR flush_prefix pending on "+gone+"\r\n" {
		t.Fatalf("md A with a member down: %q", got)
	}
	if got := getValue(t, b.Addr(), "ns:2"); got != "" {
		t.Fatalf("b still serves ns:2 = %q", got)
	}
	st := statLines(t, a.Addr(), "stats")
	if st["invalidation_backlog_members"] != "1" || st["invalidation_backlog"] != "1" || st["invalidation_relay_failures"] != "1" {
		t.Fatalf("backlog stats: members %s flushes %s failures %s", st["invalidation_backlog_members"], st["invalidation_backlog"], st["invalidation_relay_failures"])
	}
	// A later flush queues behind the backlog (named again).
	if got := roundTrip(t, a.Addr(), "flush_prefix ns2:\r\n", "\r\n"); !strings.HasPrefix(got, "SERVER_ERROR flush_prefix pending on "+gone) {
		t.Fatalf("second flush: %q", got)
	}
	// The member comes up (a server on that port) with items of both
	// namespaces: the backlog reaches it within a few seconds.
	set := func(st *Settings) {
		host, port, _ := net.SplitHostPort(gone)
		st.Listen = host
		st.Port, _ = strconv.Atoi(port)
	}
	c := startTestServer(t, set)
	roundTrip(t, c.Addr(), "set ns:3 0 0 1\r\nx\r\nset ns2:3 0 0 1\r\nx\r\nset keep 0 0 1\r\nz\r\n", "STORED\r\nSTORED\r\nSTORED\r\n")
	deadline := time.Now().Add(10 * time.Second)
	for statLines(t, a.Addr(), "stats")["invalidation_backlog_members"] != "0" {
		if time.Now().After(deadline) {
			t.Fatal("backlog not delivered")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := roundTrip(t, c.Addr(), "get ns:3 ns2:3 keep\r\n", "END\r\n"); got != "VALUE keep 0 1\r\nz\r\nEND\r\n" {
		t.Fatalf("returning member after its backlog: %q", got)
	}
	if st := statLines(t, c.Addr(), "stats"); st["cmd_flush_prefix"] != "2" {
		t.Fatalf("returning member applied %s flushes, want 2", st["cmd_flush_prefix"])
	}
}

// Relays carry their origin and sequence number: one received again (a
// retry whose answer was lost) is acknowledged without effect; one that
// skips numbers means flushes were missed, and since nothing here can be
// proven current the member flushes everything.
func TestFlushPrefixRelayDuplicatesAndGaps(t *testing.T) {
	s := startTestServer(t, nil)
	nc, br := dialT(t, s.Addr())
	do := func(req string) string {
		t.Helper()
		if _, err := nc.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "VALUE") {
			data, _ := br.ReadString('\n')
			end, _ := br.ReadString('\n')
			return line + data + end
		}
		return line
	}
	do("set a:1 0 0 1\r\nx\r\n")
	if got := do("flush_prefix a: relay n1/1/- 1\r\n"); got != "OK\r\n" {
		t.Fatalf("relay: %q", got)
	}
	if got := do("get a:1\r\n"); got != "END\r\n" {
		t.Fatalf("after the relay: %q", got)
	}
	do("set a:1 0 0 1\r\ny\r\n")
	if got := do("flush_prefix a: relay n1/1/- 1\r\n"); got != "OK\r\n" {
		t.Fatalf("the same relay again: %q", got)
	}
	if got := do("get a:1\r\n"); got != "VALUE a:1 0 1\r\ny\r\nEND\r\n" {
		t.Fatalf("a duplicate relay flushed again: %q", got)
	}
	// Another origin counts on its own.
	if got := do("flush_prefix b: relay n2/7/- 7\r\n"); got != "OK\r\n" {
		t.Fatalf("relay of another origin: %q", got)
	}
	do("set c:1 0 0 1\r\nz\r\n")
	if got := do("flush_prefix d: relay n1/3/- 3\r\n"); got != "OK\r\n" {
		t.Fatalf("relay after a gap: %q", got)
	}
	if got := do("get a:1\r\n"); got != "END\r\n" {
		t.Fatalf("after a gap, a:1 %q; want everything flushed", got)
	}
	if got := do("get c:1\r\n"); got != "END\r\n" {
		t.Fatalf("after a gap, c:1 %q; want everything flushed", got)
	}
	// A catch-up (relay number 0) of a flush applied already changes
	// nothing; one not applied yet is applied.
	do("set a:1 0 0 1\r\nx\r\n")
	if got := do("flush_prefix a: relay n1/1/- 0\r\n"); got != "OK\r\n" {
		t.Fatalf("catch-up: %q", got)
	}
	if got := do("get a:1\r\n"); got != "VALUE a:1 0 1\r\nx\r\nEND\r\n" {
		t.Fatalf("a catch-up of an applied flush flushed again: %q", got)
	}
	if got := do("flush_prefix a: relay n3/9/- 0\r\n"); got != "OK\r\n" {
		t.Fatalf("catch-up: %q", got)
	}
	if got := do("get a:1\r\n"); got != "END\r\n" {
		t.Fatalf("a catch-up of a missed flush was not applied: %q", got)
	}
	// The first relay in sequence from an origin known here only by a
	// catch-up (a node restarted warm is caught up with what it missed,
	// then gets the live relays) is no gap: where that origin's sequence
	// to this node stood is not known.
	do("set k:1 0 0 1\r\nx\r\n")
	if got := do("flush_prefix j: relay n3/10/- 12\r\n"); got != "OK\r\n" {
		t.Fatalf("relay after a catch-up: %q", got)
	}
	if got := do("get k:1\r\n"); got != "VALUE k:1 0 1\r\nx\r\nEND\r\n" {
		t.Fatalf("the first relay after a catch-up flushed everything: k:1 %q", got)
	}
	// A relay a catch-up delivered first keeps its place in its origin's
	// sequence: the next one is no gap.
	do("set e:1 0 0 1\r\nx\r\n")
	for _, req := range []string{"flush_prefix f: relay n4/1/- 1\r\n", "flush_prefix g: relay n4/2/- 0\r\n",
		"flush_prefix g: relay n4/2/- 2\r\n", "flush_prefix h: relay n4/3/- 3\r\n"} {
		if got := do(req); got != "OK\r\n" {
			t.Fatalf("%q: %q", req, got)
		}
	}
	if got := do("get e:1\r\n"); got != "VALUE e:1 0 1\r\nx\r\nEND\r\n" {
		t.Fatalf("after a relay caught up first and the next in sequence, e:1 %q; want it kept (no gap)", got)
	}
	// The log lists the stamps applied here.
	log := roundTrip(t, s.Addr(), "cluster invalidations\r\n", "END\r\n")
	for _, st := range []string{"n1/1/- p ", "n2/7/- p ", "n1/3/- p ", "n3/9/- p "} {
		if !strings.Contains(log, st) {
			t.Fatalf("cluster invalidations lacks %q:\n%s", st, log)
		}
	}
	st := statLines(t, s.Addr(), "stats")
	if st["invalidation_relays_received"] != "11" || st["invalidation_relay_duplicates"] != "3" || st["invalidation_relay_gaps"] != "1" ||
		st["invalidation_caught_up"] != "2" {
		t.Fatalf("relayed %s, duplicates %s, gaps %s, caught up %s; want 11, 3, 1, 2", st["invalidation_relays_received"],
			st["invalidation_relay_duplicates"], st["invalidation_relay_gaps"], st["invalidation_caught_up"])
	}
}

// md with G deletes the key here and on every member of the other regions
// before its reply; -o invalidation_broadcast does the same for every
// delete. A member of another region that does not answer is named.
func TestDeleteInEveryRegion(t *testing.T) {
	remote1 := startTestServer(t, nil)
	remote2 := startTestServer(t, nil)
	a := startTestServer(t, nil)
	b := startTestServer(t, func(s *Settings) { s.InvalidationBroadcast = true })
	for _, s := range []*Server{a, b, remote1, remote2} {
		roundTrip(t, s.Addr(), "set k1 0 0 1\r\nx\r\nset k2 0 0 1\r\nx\r\nset k3 0 0 1\r\nx\r\n", "STORED\r\nSTORED\r\nSTORED\r\n")
	}
	peers := fixedPeers{addrs: []string{a.Addr(), b.Addr()}, remote: []string{remote1.Addr(), remote2.Addr()}}
	a.SetPeers(peers)
	peers.self = 1
	b.SetPeers(peers)
	if got := roundTrip(t, a.Addr(), "md k1 G\r\n", "\r\n"); got != "HD\r\n" {
		t.Fatalf("md G: %q", got)
	}
	// A plain delete on a stays in its region; on b (broadcast on) it
	// reaches the other region.
	if got := roundTrip(t, a.Addr(), "delete k2\r\n", "\r\n"); got != "DELETED\r\n" {
		t.Fatalf("delete: %q", got)
	}
	if got := roundTrip(t, b.Addr(), "delete k3\r\n", "\r\n"); got != "DELETED\r\n" {
		t.Fatalf("delete under invalidation_broadcast: %q", got)
	}
	for _, r := range []*Server{remote1, remote2} {
		if got := roundTrip(t, r.Addr(), "get k1 k2 k3\r\n", "END\r\n"); got != "VALUE k2 0 1\r\nx\r\nEND\r\n" {
			t.Fatalf("%s after the deletes: %q; want only k2", r.Addr(), got)
		}
	}
	// A key absent here: NOT_FOUND, relayed all the same (another region
	// may hold it).
	roundTrip(t, remote1.Addr(), "set k5 0 0 1\r\ny\r\n", "STORED\r\n")
	if got := roundTrip(t, b.Addr(), "delete k5\r\n", "\r\n"); got != "NOT_FOUND\r\n" {
		t.Fatalf("delete of a key absent here: %q", got)
	}
	if got := getValue(t, remote1.Addr(), "k5"); got != "" {
		t.Fatalf("k5 on the other region after the broadcast delete: %q", got)
	}
	// A member of the other region that does not answer.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := l.Addr().String()
	l.Close()
	a.SetPeers(fixedPeers{addrs: []string{a.Addr(), b.Addr()}, remote: []string{remote1.Addr(), gone}})
	if got := roundTrip(t, a.Addr(), "md k9 G q\r\nmn\r\n", "MN\r\n"); got != "SERVER_ERROR delete pending on "+gone+"\r\nMN\r\n" {
		t.Fatalf("md G with a member down: %q", got)
	}
	// Without regions G changes nothing.
	if got := roundTrip(t, remote1.Addr(), "md k2 G\r\n", "\r\n"); got != "HD\r\n" {
		t.Fatalf("md G without clustering: %q", got)
	}
	st := statLines(t, remote2.Addr(), "stats")
	if st["invalidation_relays_received"] != "3" {
		t.Fatalf("remote2 received %s relays, want 3", st["invalidation_relays_received"])
	}
}

// A member that left lately may still serve while it drains, to clients
// whose view is behind: a namespace flush reaches it where it answers,
// and one that does not answer (stopped) is not reported pending.
func TestFlushPrefixReachesDepartedMembers(t *testing.T) {
	a, b := startTestServer(t, nil), startTestServer(t, nil)
	stopped := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	a.SetPeers(fixedPeers{addrs: []string{a.Addr()}, self: 0, departed: []string{b.Addr(), stopped}})
	roundTrip(t, b.Addr(), "set ns:1 0 0 1\r\nx\r\n", "STORED\r\n")
	if got := roundTrip(t, a.Addr(), "flush_prefix ns:\r\n", "\r\n"); got != "OK\r\n" {
		t.Fatalf("flush_prefix with a departed member stopped: %q, want OK", got)
	}
	if got := getValue(t, b.Addr(), "ns:1"); got != "" {
		t.Fatalf("a departed member still serving serves %q after the flush", got)
	}
}
