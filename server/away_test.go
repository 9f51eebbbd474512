package server

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/testenv"
	"github.com/slabcache/slabcache/proto"
)

// awayPeersOf is fixedPeers with one member away: every key would be its.
type awayPeersOf struct {
	fixedPeers
	away string // "" once it is back
}

func (p awayPeersOf) Away() bool { return p.away != "" }

func (p awayPeersOf) AwayOwner([]byte) (string, bool) { return p.away, p.away != "" }

// Keys written (set, deleted, by text or binary) on a node while the
// member that owns them is away are deleted there once it is back, the
// others left alone; past maxAwayKeys the member gets a flush_all instead.
func TestAwayKeysDeletedWhenTheMemberIsBack(t *testing.T) {
	a := startTestServer(t, nil)
	b := startTestServer(t, nil)
	roundTrip(t, b.Addr(), "set k1 0 0 3\r\nold\r\nset k2 0 0 3\r\nold\r\nset k3 0 0 3\r\nold\r\nset k4 0 0 3\r\nold\r\n", "STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\n")
	away := awayPeersOf{fixedPeers{addrs: []string{a.Addr()}, down: []string{b.Addr()}}, b.Addr()}
	a.SetPeers(away)
	a.refreshAway()
	// k1 set, k2 deleted (it was never here), k3 set by the binary
	// protocol; k4 not written here.
	// k9 is on neither: its delete on b answers NF, which is no failure.
	roundTrip(t, a.Addr(), "set k1 0 0 3\r\nnew\r\ndelete k2\r\ndelete k9\r\n", "STORED\r\nNOT_FOUND\r\nNOT_FOUND\r\n")
	nc, br := dialT(t, a.Addr())
	if resp, err := binRoundTrip(t, nc, br, proto.BinRequest{Opcode: proto.BinOpSet, Key: []byte("k3"), Value: []byte("new")}); err != nil || resp.Status != proto.BinStatusSuccess {
		t.Fatalf("binary set: %+v %v", resp, err)
	}
	nc.Close()
	if st := statLines(t, a.Addr(), "stats warmup"); st["away_members"] != "1" || st["away_keys"] != "4" {
		t.Fatalf("noted: members %s keys %s, want 1 and 4", st["away_members"], st["away_keys"])
	}
	// b answers again but is still down in a's view: the keys go to it
	// within a second all the same (a partition heals before gossip
	// says so).
	waitFor(t, 5*time.Second, func() bool { return getValue(t, b.Addr(), "k1") == "" })
	for k, want := range map[string]string{"k1": "", "k2": "", "k3": "", "k4": "old"} {
		if got := getValue(t, b.Addr(), k); got != want {
			t.Errorf("b: %s = %q, want %q", k, got, want)
		}
	}
	// The delivery counts once its round trip is over, which can be
	// after b has applied the deletes.
	var st map[string]string
	delivered := func() bool {
		st = statLines(t, a.Addr(), "stats warmup")
		return st["away_deleted"] != "0"
	}
	for deadline := time.Now().Add(5 * time.Second); !delivered() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if st["away_keys"] != "0" || st["away_deleted"] != "4" || st["away_failures"] != "0" {
		t.Fatalf("after delivery: keys %s deleted %s failures %s", st["away_keys"], st["away_deleted"], st["away_failures"])
	}

	// Too many keys: a flush_all instead. The member does not answer
	// while they are written (a port nothing listens on), so no delivery
	// drains the set before it fills up; then it starts there.
	port := testenv.FreePort(t)
	gone := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	a.SetPeers(awayPeersOf{fixedPeers{addrs: []string{a.Addr()}, down: []string{gone}}, gone})
	var req strings.Builder
	for i := 0; i <= maxAwayKeys; i++ {
		fmt.Fprintf(&req, "set x%d 0 0 1 noreply\r\nx\r\n", i)
	}
	roundTrip(t, a.Addr(), req.String()+"mn\r\n", "MN\r\n")
	c := startTestServer(t, func(s *Settings) { s.Port = port })
	roundTrip(t, c.Addr(), "set k6 0 0 1\r\nx\r\n", "STORED\r\n")
	a.SetPeers(awayPeersOf{fixedPeers: fixedPeers{addrs: []string{a.Addr(), c.Addr()}}}) // back, and seen back
	waitFor(t, 10*time.Second, func() bool { return getValue(t, c.Addr(), "k6") == "" })
	if st := statLines(t, a.Addr(), "stats warmup"); st["away_flushes"] != "1" || st["away_members"] != "0" {
		t.Fatalf("after the flush_all: flushes %s members %s", st["away_flushes"], st["away_members"])
	}
	// Nobody is away: nothing is noted.
	roundTrip(t, a.Addr(), "set k5 0 0 1\r\nx\r\n", "STORED\r\n")
	if st := statLines(t, a.Addr(), "stats warmup"); st["away_members"] != "0" {
		t.Fatalf("noted with nobody away: %s", st["away_members"])
	}
}

// waitFor polls cond until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v", within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
