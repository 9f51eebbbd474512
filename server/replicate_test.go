package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slabcache/slabcache/cluster/hotkeys"
	"github.com/slabcache/slabcache/internal/testenv"
	"github.com/slabcache/slabcache/proto"
)

// makeHot marks key hot on srv, as the detector does, and waits for its
// first copy (made in the background).
func makeHot(srv *Server, key string) {
	srv.hotKeyChanged(hotkeys.Change{Key: hotkeys.Key{Key: key}, Hot: true})
	srv.rep.push(key)
}

// fixedPeers places every key on the same nodes, owner first.
type fixedPeers struct {
	addrs []string
	self  int
	down  []string
	// members of other regions, and this node's
	remote, remoteDown []string
	region             string
	departed           []string // members that left lately
}

func (p fixedPeers) Replicas([]byte, int) ([]string, int) { return p.addrs, p.self }

func (p fixedPeers) Remote() (alive, down []string) { return p.remote, p.remoteDown }

func (p fixedPeers) Region() string { return p.region }

func (p fixedPeers) Returns() map[string]uint64 { return nil }

func (p fixedPeers) Self() string { return p.addrs[p.self] }

func (p fixedPeers) Departed() []string { return p.departed }

func (p fixedPeers) Others() (alive, down []string) {
	for i, a := range p.addrs {
		if i != p.self {
			alive = append(alive, a)
		}
	}
	return append(alive, p.remote...), append(p.down, p.remoteDown...)
}

// roundTrip sends req on a fresh connection and returns the reply up to and
// including the line end.
func roundTrip(t *testing.T, addr, req, end string) string {
	t.Helper()
	nc, br := dialT(t, addr)
	defer nc.Close()
	return exchange(t, nc, br, req, end)
}

// exchange sends req on nc and reads the reply up to and including end.
func exchange(t *testing.T, nc net.Conn, br *bufio.Reader, req, end string) string {
	t.Helper()
	if _, err := nc.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for !strings.HasSuffix(b.String(), end) {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("%q: %v after %q", req, err, b.String())
		}
		b.WriteString(line)
	}
	return b.String()
}

func getValue(t *testing.T, addr, key string) string {
	t.Helper()
	r := roundTrip(t, addr, "get "+key+"\r\n", "END\r\n")
	if r == "END\r\n" {
		return ""
	}
	lines := strings.Split(r, "\r\n")
	return lines[1]
}

// The owner of a hot key copies it to its replicas; a write to it is
// acknowledged only once every copy has the new value (or is deleted), so
// every read on any node after the acknowledgement returns it; a replica
// that stops answering is dropped and writes go on.
func TestHotKeyReplication(t *testing.T) {
	a := startTestServer(t, nil)
	b := startTestServer(t, nil)
	c := startTestServer(t, nil)
	a.SetPeers(fixedPeers{addrs: []string{a.Addr(), b.Addr(), c.Addr()}, self: 0})
	roundTrip(t, a.Addr(), "set hot 5 0 2\r\nv0\r\n", "STORED\r\n")
	makeHot(a, "hot")
	for _, r := range []*Server{b, c} {
		if got := roundTrip(t, r.Addr(), "get hot\r\n", "END\r\n"); got != "VALUE hot 5 2\r\nv0\r\nEND\r\n" {
			t.Fatalf("replica %s: %q, want the copy", r.Addr(), got)
		}
		if got := roundTrip(t, r.Addr(), "mg hot t\r\n", "\r\n"); got != "HD t10\r\n" && got != "HD t9\r\n" {
			t.Fatalf("copy's TTL: %q, want the 10 s lease", got)
		}
		// The copy carries the owner's CAS, so a cas on the owner with a
		// token read from a replica works.
		if got, want := roundTrip(t, r.Addr(), "gets hot\r\n", "END\r\n"), roundTrip(t, a.Addr(), "gets hot\r\n", "END\r\n"); got != want {
			t.Fatalf("gets on the replica %q, on the owner %q", got, want)
		}
	}
	if got := roundTrip(t, a.Addr(), "config get hotkeys\r\n", "END\r\n"); !strings.Contains(got, "hot "+a.Addr()+" "+b.Addr()+" "+c.Addr()+"\n") {
		t.Fatalf("config get hotkeys: %q", got)
	}
	// Writes race with refreshes of the copies; after each acknowledged
	// write no node returns an older value.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				a.rep.push("hot")
			}
		}
	}()
	nc, br := dialT(t, a.Addr())
	stale := 0
	for i := 1; i <= 300; i++ {
		v := fmt.Sprintf("v%d", i)
		fmt.Fprintf(nc, "set hot 5 0 %d\r\n%s\r\n", len(v), v)
		expectLine(t, br, "STORED\r\n")
		for _, r := range []*Server{b, c} {
			got := getValue(t, r.Addr(), "hot")
			if got != v {
				stale++
				t.Errorf("round %d: replica %s returned %q after %q was acknowledged", i, r.Addr(), got, v)
			}
		}
	}
	close(stop)
	wg.Wait()
	if stale > 0 {
		t.Fatalf("%d stale reads", stale)
	}
	// Binary writes too, small and large (streamed) values.
	bc, bbr := dialT(t, a.Addr())
	for i, n := range []int{3, 200_000} {
		v := strings.Repeat(string(rune('A'+i)), n)
		bc.Write(proto.AppendBinRequest(nil, &proto.BinRequest{Opcode: proto.BinOpSet, Key: []byte("hot"), Value: []byte(v), ValueLen: n}))
		resp := make([]byte, proto.BinHeaderLen)
		if _, err := io.ReadFull(bbr, resp); err != nil || resp[7] != 0 {
			t.Fatalf("binary set: %x %v", resp, err)
		}
		if n := int(binary.BigEndian.Uint32(resp[8:12])); n > 0 {
			io.ReadFull(bbr, make([]byte, n))
		}
		for _, r := range []*Server{b, c} {
			if got := getValue(t, r.Addr(), "hot"); got != v {
				t.Fatalf("replica %s after a binary set of %d bytes: %.20q", r.Addr(), n, got)
			}
		}
	}
	// Deletes too.
	a.rep.push("hot")
	fmt.Fprintf(nc, "delete hot\r\n")
	expectLine(t, br, "DELETED\r\n")
	for _, r := range []*Server{b, c} {
		if got := getValue(t, r.Addr(), "hot"); got != "" {
			t.Fatalf("replica %s still serves %q after the delete", r.Addr(), got)
		}
	}
	// A replica goes away: the next write is acknowledged anyway, the
	// replica is dropped and counted.
	fmt.Fprintf(nc, "set hot 0 0 1\r\nz\r\n")
	expectLine(t, br, "STORED\r\n")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.Shutdown(ctx)
	start := time.Now()
	fmt.Fprintf(nc, "set hot 0 0 1\r\ny\r\n")
	expectLine(t, br, "STORED\r\n")
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the write waited %v for a dead replica", d)
	}
	if a.rep.failures.Load() == 0 || a.hotReplicas("hot") != 2 {
		t.Fatalf("failures %d, replicas %d; want the dead replica dropped", a.rep.failures.Load(), a.hotReplicas("hot"))
	}
	mfs := gather(t, a)
	for _, name := range []string{"slabcached_hotkey_replication_pushes_total", "slabcached_hotkey_replication_failures_total", "slabcached_hotkey_replication_bytes_total"} {
		if v, ok := metricValue(mfs, name, nil); !ok || v == 0 {
			t.Errorf("%s = %v (%v), want > 0", name, v, ok)
		}
	}
	// Pipelined requests behind a parked write keep their order.
	nc.Write([]byte("set hot 0 0 2\r\np1\r\nget hot\r\nset hot 0 0 2\r\np2\r\nget hot\r\n"))
	for _, want := range []string{"STORED\r\n", "VALUE hot 0 2\r\n", "p1\r\n", "END\r\n", "STORED\r\n", "VALUE hot 0 2\r\n", "p2\r\n", "END\r\n"} {
		expectLine(t, br, want)
	}
}

// Members started with -Y authenticate each other: copies reach replicas
// that refuse unauthenticated clients.
func TestHotKeyReplicationWithAuth(t *testing.T) {
	file := t.TempDir() + "/auth"
	if err := os.WriteFile(file, []byte("node:secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	auth := func(s *Settings) { s.AuthFile, s.Protocol = file, ProtocolASCII }
	a := startTestServer(t, auth)
	b := startTestServer(t, auth)
	a.SetPeers(fixedPeers{addrs: []string{a.Addr(), b.Addr()}, self: 0})
	login := "set auth 0 0 11\r\nnode secret\r\n"
	roundTrip(t, a.Addr(), login+"set hot 0 0 2\r\nv0\r\n", "STORED\r\nSTORED\r\n")
	makeHot(a, "hot")
	if got := roundTrip(t, b.Addr(), login+"get hot\r\n", "END\r\n"); got != "STORED\r\nVALUE hot 0 2\r\nv0\r\nEND\r\n" {
		t.Fatalf("replica with -Y: %q, want the copy", got)
	}
	if n := a.rep.failures.Load(); n != 0 {
		t.Fatalf("%d replication failures", n)
	}
}

// Over UDP there is no connection to park: the reply datagrams of a write
// to a copied key are held until the copies have the new value.
func TestHotKeyReplicationOverUDP(t *testing.T) {
	port := testenv.FreePort(t)
	a := startTestServer(t, func(s *Settings) { s.UDPPort = port })
	b := startTestServer(t, nil)
	a.SetPeers(fixedPeers{addrs: []string{a.Addr(), b.Addr()}, self: 0})
	roundTrip(t, a.Addr(), "set hot 0 0 2\r\nv0\r\n", "STORED\r\n")
	makeHot(a, "hot")
	udp := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for i := 1; i <= 8; i++ {
		v := fmt.Sprintf("u%d", i)
		ds := udpExchange(t, udp, uint16(i), nil, fmt.Sprintf("set hot 0 0 %d\r\n%s\r\n", len(v), v))
		if len(ds) != 1 || string(ds[0][8:]) != "STORED\r\n" {
			t.Fatalf("udp set: %q", ds)
		}
		if got := getValue(t, b.Addr(), "hot"); got != v {
			t.Fatalf("round %d: the replica returned %q after %q was acknowledged over UDP", i, got, v)
		}
	}
}

// Copies take at most 1/64 of the owner's memory limit on another node: a
// hot key too large for that share is served by its owner alone.
func TestHotKeyCopiesBoundedShare(t *testing.T) {
	a := startTestServer(t, func(s *Settings) { s.MaxBytes = 16 << 20 }) // 256 KiB for copies
	b := startTestServer(t, nil)
	a.SetPeers(fixedPeers{addrs: []string{a.Addr(), b.Addr()}, self: 0})
	big := strings.Repeat("b", 300<<10)
	roundTrip(t, a.Addr(), fmt.Sprintf("set big 0 0 %d\r\n%s\r\nset small 0 0 1\r\ns\r\n", len(big), big), "STORED\r\nSTORED\r\n")
	for _, k := range []string{"big", "small"} {
		makeHot(a, k)
	}
	if got := getValue(t, b.Addr(), "big"); got != "" {
		t.Fatalf("a copy of %d bytes beyond the share was made", len(got))
	}
	if got := getValue(t, b.Addr(), "small"); got != "s" {
		t.Fatalf("small: %q, want the copy", got)
	}
	if got := roundTrip(t, a.Addr(), "config get hotkeys\r\n", "END\r\n"); strings.Contains(got, "big ") || !strings.Contains(got, "small ") {
		t.Fatalf("config get hotkeys: %q", got)
	}
	// Growing a copied key beyond the share stops its copies too.
	roundTrip(t, a.Addr(), fmt.Sprintf("set small 0 0 %d\r\n%s\r\n", len(big), big), "STORED\r\n")
	if got := getValue(t, b.Addr(), "small"); got != "" {
		t.Fatalf("small grew past the share and its copy is still there (%d bytes)", len(got))
	}
	if a.rep.held.Load() != 0 {
		t.Fatalf("%d bytes of copies counted, want 0", a.rep.held.Load())
	}
}

// The owner of a copied hot key learns how often its copies are read
// (`cluster hotreads` on each replica, once a window), so the key's figures
// do not depend on how clients split its reads between the nodes.
func TestHotKeyOwnerLearnsReadsOfCopies(t *testing.T) {
	opts := func(s *Settings) { s.HotKeySampleRate = 1 }
	a, b, c := startTestServer(t, opts), startTestServer(t, opts), startTestServer(t, opts)
	a.SetPeers(fixedPeers{addrs: []string{a.Addr(), b.Addr(), c.Addr()}, self: 0})
	roundTrip(t, a.Addr(), "set hot 0 0 1\r\nv\r\n", "STORED\r\n")
	makeHot(a, "hot")
	if got := roundTrip(t, b.Addr(), "cluster hotreads hot other\r\n", "END\r\n"); got != "STAT hot 0.0\r\nSTAT other 0.0\r\nEND\r\n" {
		t.Fatalf("cluster hotreads before any read: %q", got)
	}
	// 200 reads of the copy on b and 100 on c every 50 ms, until the
	// owner's poll has seen both.
	read := func(addr string, n int) {
		roundTrip(t, addr, strings.Repeat("get hot\r\n", n-1)+"mn\r\n", "MN\r\n")
	}
	deadline := time.Now().Add(8 * time.Second)
	for {
		read(b.Addr(), 200)
		read(c.Addr(), 100)
		// Each node's figure changes once a window (1 s).
		a.rep.pollRemote()
		v, ok := a.rep.remoteReads("hot")
		rb, _ := strconv.ParseFloat(strings.Fields(roundTrip(t, b.Addr(), "cluster hotreads hot\r\n", "END\r\n"))[2], 64)
		rc, _ := strconv.ParseFloat(strings.Fields(roundTrip(t, c.Addr(), "cluster hotreads hot\r\n", "END\r\n"))[2], 64)
		if ok && v > 0 && rb > 0 && rc > 0 {
			if rb <= rc {
				t.Fatalf("reads per second of the copies: b %v, c %v; b reads twice as much", rb, rc)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the owner never learned the reads of its copies")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A replica that does not know the command (hot keys off, or
	// memcached) answers ERROR: its keys count as unreported.
	off := startTestServer(t, func(s *Settings) { s.HotKeys = false })
	if got := roundTrip(t, off.Addr(), "cluster hotreads hot\r\n", "\r\n"); got != "ERROR\r\n" {
		t.Fatalf("cluster hotreads with hot keys off: %q", got)
	}
	a.SetPeers(fixedPeers{addrs: []string{a.Addr(), off.Addr()}, self: 0})
	roundTrip(t, a.Addr(), "set hot2 0 0 1\r\nv\r\n", "STORED\r\n")
	makeHot(a, "hot2")
	a.rep.pollRemote()
	if _, ok := a.rep.remoteReads("hot2"); ok {
		t.Fatal("a key whose replica cannot report counts as reported")
	}
	if v, _ := metricValue(gather(t, a), "slabcached_hotkey_read_report_failures_total", nil); v < 1 {
		t.Fatalf("slabcached_hotkey_read_report_failures_total = %v after a replica answered ERROR", v)
	}
}

// A key that is no longer copied has its copies deleted before writes to
// it stop waiting for them: when it turns cold, a write acknowledged
// right after reads the new value or misses on every node, never the
// older copy, whatever list of hot keys a client read before. When the
// ring changes and another node owns the key, the old owner deletes the
// copies too, except the new owner's, which is the key's value there now.
func TestHotKeyCopiesDeletedWhenNoLongerCopied(t *testing.T) {
	a := startTestServer(t, nil)
	b := startTestServer(t, nil)
	c := startTestServer(t, nil)
	a.SetPeers(fixedPeers{addrs: []string{a.Addr(), b.Addr(), c.Addr()}, self: 0})
	for round := range 20 {
		v := fmt.Sprintf("v%d", round)
		roundTrip(t, a.Addr(), fmt.Sprintf("set hot 0 0 %d\r\n%s\r\n", len(v), v), "STORED\r\n")
		makeHot(a, "hot")
		if got := getValue(t, b.Addr(), "hot"); got != v {
			t.Fatalf("round %d: replica before the key turns cold: %q, want %q", round, got, v)
		}
		a.hotKeyChanged(hotkeys.Change{Key: hotkeys.Key{Key: "hot"}, Hot: false})
		roundTrip(t, a.Addr(), "set hot 0 0 3\r\nnew\r\n", "STORED\r\n")
		for _, r := range []*Server{b, c} {
			if got := getValue(t, r.Addr(), "hot"); got != "" && got != "new" {
				t.Fatalf("round %d: replica %s returned %q after the key turned cold and was written", round, r.Addr(), got)
			}
		}
		for deadline := time.Now().Add(5 * time.Second); a.rep.lookup("hot") != nil; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the cold key is still copied after 5 s")
			}
		}
	}

	// The ring changes: b owns the key now.
	roundTrip(t, a.Addr(), "set hot 0 0 3\r\nold\r\n", "STORED\r\n")
	makeHot(a, "hot")
	for _, r := range []*Server{b, c} {
		if got := getValue(t, r.Addr(), "hot"); got != "old" {
			t.Fatalf("replica %s: %q before the ring changes", r.Addr(), got)
		}
	}
	a.SetPeers(fixedPeers{addrs: []string{b.Addr(), a.Addr(), c.Addr()}, self: 1})
	a.RingChanged()
	for deadline := time.Now().Add(5 * time.Second); getValue(t, c.Addr(), "hot") != ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the old owner's copy on c is still there 5 s after the ring changed")
		}
	}
	if got := getValue(t, b.Addr(), "hot"); got != "old" {
		t.Fatalf("the new owner's copy: %q, want it kept", got)
	}
	for deadline := time.Now().Add(5 * time.Second); a.rep.lookup("hot") != nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the old owner still copies the key 5 s after the ring changed")
		}
	}
	if got := roundTrip(t, a.Addr(), "config get hotkeys\r\n", "END\r\n"); strings.Contains(got, "hot ") {
		t.Fatalf("the old owner still lists the key: %q", got)
	}
}

// A key that stays hot here through ring changes is copied again when the
// ring gives it back to this node, though the detector reports no change.
func TestHotKeyCopiedAgainWhenOwnedAgain(t *testing.T) {
	a := startTestServer(t, func(s *Settings) { s.HotKeySampleRate, s.HotKeyMinRate = 1, 10 })
	b, c := startTestServer(t, nil), startTestServer(t, nil)
	owned := fixedPeers{addrs: []string{a.Addr(), b.Addr(), c.Addr()}, self: 0}
	a.SetPeers(owned)
	roundTrip(t, a.Addr(), "set hot 0 0 1\r\nv\r\n", "STORED\r\n")
	stop := make(chan struct{})
	done := make(chan struct{})
	nc, br := dialT(t, a.Addr())
	go func() { // reads that keep the key hot on a
		defer close(done)
		batch := []byte(strings.Repeat("get hot\r\n", 99) + "mn\r\n")
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := nc.Write(batch); err != nil {
				return
			}
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if line == "MN\r\n" {
					break
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	defer func() { close(stop); <-done }()
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 10 s", what)
			}
		}
	}
	wait("the key turns hot and is copied", func() bool { return a.rep.lookup("hot") != nil && getValue(t, c.Addr(), "hot") == "v" })
	a.SetPeers(fixedPeers{addrs: []string{b.Addr(), a.Addr(), c.Addr()}, self: 1})
	a.RingChanged()
	wait("the copies are deleted once b owns the key", func() bool { return a.rep.lookup("hot") == nil && getValue(t, c.Addr(), "hot") == "" })
	a.SetPeers(owned)
	a.RingChanged()
	wait("the key is copied again once a owns it", func() bool { return a.rep.lookup("hot") != nil && getValue(t, c.Addr(), "hot") == "v" })
}

// A touch that leaves a copied key less time than a copy's lease (gat,
// gats, mg T, binary GAT) updates the copies before it is answered: they
// never outlive the item. One that leaves it more time does not wait.
func TestHotKeyTouchShorterThanLease(t *testing.T) {
	a := startTestServer(t, nil)
	b := startTestServer(t, nil)
	a.SetPeers(fixedPeers{addrs: []string{a.Addr(), b.Addr()}, self: 0})
	binGAT := string(proto.AppendBinRequest(nil, &proto.BinRequest{Opcode: proto.BinOpGAT, Key: []byte("hot"), Exptime: 2}))
	for _, tc := range []struct{ name, req, end string }{
		{"gat", "gat 2 other hot\r\n", "END\r\n"},
		{"gats", "gats 2 hot\r\n", "END\r\n"},
		{"mg T", "mg hot T2 v\r\n", "\r\nv\r\n"},
		{"gat, expired", "gat -1 hot\r\n", "END\r\n"},
		{"mg T, expired", "mg hot T-1\r\n", "\r\n"},
		{"binary GAT", binGAT, ""},
	} {
		roundTrip(t, a.Addr(), "set hot 0 0 1\r\nv\r\n", "STORED\r\n")
		makeHot(a, "hot")
		if got := roundTrip(t, b.Addr(), "mg hot t\r\n", "\r\n"); got != "HD t10\r\n" && got != "HD t9\r\n" {
			t.Fatalf("%s: the copy before: %q", tc.name, got)
		}
		if tc.end == "" { // binary: a response header and its body
			nc, br := dialT(t, a.Addr())
			nc.Write([]byte(tc.req))
			resp := make([]byte, proto.BinHeaderLen)
			if _, err := io.ReadFull(br, resp); err != nil || resp[7] != 0 {
				t.Fatalf("%s: %x %v", tc.name, resp, err)
			}
			io.ReadFull(br, make([]byte, binary.BigEndian.Uint32(resp[8:12])))
			nc.Close()
		} else {
			roundTrip(t, a.Addr(), tc.req, tc.end)
		}
		got := roundTrip(t, b.Addr(), "mg hot t\r\n", "\r\n")
		if got != "EN\r\n" && got != "HD t2\r\n" && got != "HD t1\r\n" {
			t.Fatalf("%s: the copy after the touch: %q, want it gone or with the item's TTL", tc.name, got)
		}
	}
	// A longer TTL (or none): the copies run out first, the touch is not
	// held for them.
	now := time.Now().Unix()
	for exptime, want := range map[int64]bool{0: false, 100: false, 9: true, 2: true, -1: true, now + 100: false, now + 3: true, now - 5: true} {
		if got := a.shortensCopies(exptime); got != want {
			t.Errorf("a touch to %d shortens the copies: %v, want %v", exptime, got, want)
		}
	}
}

// A node the ring has just made a hot key's owner, holding a copy of it
// from the previous owner, refuses that node's next copies (its ring is
// behind) and drops its own copy with the first refusal: the previous
// owner took writes since, so the copy is older than what it holds.
func TestHotKeyNewOwnerDropsItsCopyOnRefusal(t *testing.T) {
	a, b, c := startTestServer(t, nil), startTestServer(t, nil), startTestServer(t, nil)
	ring := []string{a.Addr(), b.Addr(), c.Addr()}
	for i, r := range []*Server{a, b, c} {
		r.SetPeers(fixedPeers{addrs: ring, self: i})
	}
	roundTrip(t, a.Addr(), "set hot 0 0 2\r\nv1\r\n", "STORED\r\n")
	makeHot(a, "hot")
	if got := getValue(t, b.Addr(), "hot"); got != "v1" {
		t.Fatalf("b's copy: %q", got)
	}
	// The key moves to b; a has not seen the change and takes a write.
	b.SetPeers(fixedPeers{addrs: []string{b.Addr(), a.Addr(), c.Addr()}, self: 0})
	roundTrip(t, a.Addr(), "set hot 0 0 2\r\nv2\r\n", "STORED\r\n")
	if got := getValue(t, b.Addr(), "hot"); got != "" {
		t.Fatalf("the new owner after refusing the previous owner's copy serves %q, want a miss (its copy is older than v2)", got)
	}
	if got := getValue(t, c.Addr(), "hot"); got != "v2" {
		t.Fatalf("a replica both agree on: %q", got)
	}
}

// A member takes a copy of a hot key only from the node its own ring
// gives the key to: a node that takes itself for the owner (cut off while
// the others moved the key, its partition just healed) overwrites neither
// the owner's value nor a replica's; the copies it sends are refused (NS),
// not failures, and both drop what they held of the key (which ring is
// behind cannot be told there), so reads miss rather than return an older
// value.
func TestHotKeyCopyOnlyFromTheOwner(t *testing.T) {
	a, b, c := startTestServer(t, nil), startTestServer(t, nil), startTestServer(t, nil)
	b.SetPeers(fixedPeers{addrs: []string{b.Addr(), c.Addr(), a.Addr()}, self: 0})
	c.SetPeers(fixedPeers{addrs: []string{b.Addr(), c.Addr(), a.Addr()}, self: 1})
	roundTrip(t, b.Addr(), "set hot 0 0 3\r\nnew\r\n", "STORED\r\n")
	roundTrip(t, c.Addr(), "set hot 0 0 3\r\nnew\r\n", "STORED\r\n") // b's copy, as c holds it
	a.SetPeers(fixedPeers{addrs: []string{a.Addr(), b.Addr(), c.Addr()}, self: 0})
	roundTrip(t, a.Addr(), "set hot 0 0 3\r\nold\r\n", "STORED\r\n")
	makeHot(a, "hot")
	if got := getValue(t, b.Addr(), "hot"); got != "" {
		t.Fatalf("the owner after a copy from a node that is not the owner: %q, want a miss", got)
	}
	if got := getValue(t, c.Addr(), "hot"); got != "" {
		t.Fatalf("a replica after a copy from a node that is not the owner: %q, want a miss", got)
	}
	for _, r := range []*Server{b, c} {
		if v, _ := metricValue(gather(t, r), "slabcached_hotkey_copies_refused_total", nil); v < 1 {
			t.Fatalf("%s: slabcached_hotkey_copies_refused_total = %v, want the refusals counted", r.Addr(), v)
		}
	}
	// Refusals are not failures: the replicas stay, and take the next
	// copy once their ring agrees, but are not named to clients
	// meanwhile (they would read there what another node copies).
	if n := a.rep.failures.Load(); n != 0 || len(a.rep.lookup("hot").replicas) != 2 || a.hotReplicas("hot") != 1 {
		t.Fatalf("refused copies: %d failures, %d replicas, %d nodes named serving the key; want none dropped, none named", n, len(a.rep.lookup("hot").replicas), a.hotReplicas("hot"))
	}
	if cfg := roundTrip(t, a.Addr(), "config get hotkeys\r\n", "END\r\n"); strings.Contains(cfg, b.Addr()) || strings.Contains(cfg, c.Addr()) {
		t.Fatalf("config get hotkeys names the replicas that refused the copy: %q", cfg)
	}
	// Once the rings agree, the copies are taken.
	b.SetPeers(fixedPeers{addrs: []string{a.Addr(), b.Addr(), c.Addr()}, self: 1})
	c.SetPeers(fixedPeers{addrs: []string{a.Addr(), b.Addr(), c.Addr()}, self: 2})
	a.rep.push("hot")
	for _, r := range []*Server{b, c} {
		if got := getValue(t, r.Addr(), "hot"); got != "old" {
			t.Fatalf("replica %s once the rings agree: %q", r.Addr(), got)
		}
	}
	if a.hotReplicas("hot") != 3 {
		t.Fatalf("%d nodes named serving the key once the replicas took the copy, want 3", a.hotReplicas("hot"))
	}
}
