package server

import (
	"context"
	"net"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slabcache/slabcache/cluster"
	"github.com/slabcache/slabcache/cluster/peers"
	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
)

// absentPeers is a member's view of another that was away: every key
// would be the away one's, nothing moved here, and Absence says what the
// test set (setAbsence).
type absentPeers struct {
	awayPeersOf
	changed time.Time
	absence *atomic.Pointer[cluster.Absence]
}

func (p absentPeers) PreviousOwner([]byte) (string, time.Time, bool) { return "", time.Time{}, false }
func (p absentPeers) RingChanged() time.Time                         { return p.changed }
func (p absentPeers) Absence(string) cluster.Absence                 { return *p.absence.Load() }

// newAbsence returns what absentPeers reports, set to ab.
func newAbsence(ab cluster.Absence) *atomic.Pointer[cluster.Absence] {
	var p atomic.Pointer[cluster.Absence]
	p.Store(&ab)
	return &p
}

// edit changes what absentPeers reports.
func edit(p *atomic.Pointer[cluster.Absence], change func(*cluster.Absence)) {
	ab := *p.Load()
	change(&ab)
	p.Store(&ab)
}

// deadAddr returns an address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// `cluster away <member>` lists the keys written here for a member that
// was away only when it is back, nothing else changed on the ring and no
// flush happened here since it went; one that went soon after keys moved
// to it is `warming` (it knows whether they had settled).
func TestClusterAwayVouchesOnlyForACleanAbsence(t *testing.T) {
	a := startTestServer(t, nil)
	gone := deadAddr(t)
	since := time.Now().Add(-time.Minute)
	ab := newAbsence(cluster.Absence{State: cluster.AbsenceAway, Since: since})
	a.SetPeers(absentPeers{awayPeersOf{fixedPeers{addrs: []string{a.Addr()}, down: []string{gone}}, gone}, time.Now().Add(-time.Hour), ab})
	a.refreshAway()
	roundTrip(t, a.Addr(), "set k1 0 0 3\r\nnew\r\ndelete k2\r\nset k1 0 0 3\r\nnew\r\n", "STORED\r\nNOT_FOUND\r\nSTORED\r\n")
	pool := &peers.Pool{}
	defer pool.Close()
	var prefixes []string
	ask := func(want string) []string {
		t.Helper()
		n, err := pool.AwayNotes(a.Addr(), gone)
		if err != nil || n.State != want {
			t.Fatalf("cluster away %s: %q, %v; want %s", gone, n.State, err, want)
		}
		var out []string
		for _, k := range n.Keys {
			out = append(out, string(k))
		}
		slices.Sort(out)
		prefixes = prefixes[:0]
		for _, p := range n.Prefixes {
			prefixes = append(prefixes, string(p))
		}
		return out
	}
	if keys := ask("away"); len(keys) != 0 {
		t.Fatalf("keys listed while the member is away: %q", keys)
	}
	edit(ab, func(a *cluster.Absence) { a.State = cluster.AbsenceClean })
	if keys := ask("clean"); !slices.Equal(keys, []string{"k1", "k2"}) {
		t.Fatalf("keys written for the member: %q, want k1 and k2", keys)
	}
	edit(ab, func(a *cluster.Absence) { a.State = cluster.AbsenceChanged })
	ask("changed")
	edit(ab, func(a *cluster.Absence) { a.State = cluster.AbsenceClean })

	// Its return is not in place here yet.
	a.RingChanging()
	ask("away")
	a.forward.And(^uint32(fwdRing))

	// It went 10 s after keys last moved to it, during that change's
	// warm-up (warmup_secs 60): it may hold copies of them not confirmed
	// yet, which it knows and this node does not. The keys are listed.
	edit(ab, func(a *cluster.Absence) { a.Before = since.Add(-10 * time.Second) })
	if keys := ask("warming"); !slices.Equal(keys, []string{"k1", "k2"}) {
		t.Fatalf("keys written for a member that went during a warm-up: %q, want k1 and k2", keys)
	}
	edit(ab, func(a *cluster.Absence) { a.Before = since.Add(-2 * time.Minute) })
	ask("clean")

	// Namespaces flushed here it missed are listed with the keys; a
	// flush_all it missed is not: it cannot be vouched for.
	roundTrip(t, a.Addr(), "flush_prefix ns:\r\n", "\r\n")
	if keys := ask("clean"); len(keys) != 2 || !slices.Equal(prefixes, []string{"ns:"}) {
		t.Fatalf("after a namespace flush: keys %q, namespaces %q", keys, prefixes)
	}
	roundTrip(t, a.Addr(), "flush_all\r\n", "OK\r\n")
	ask("changed")
	if got := roundTrip(t, a.Addr(), "cluster away "+gone+"\r\n", "END\r\n"); got != "member "+gone+" changed\r\nEND\r\n" {
		t.Fatalf("cluster away over text: %q", got)
	}
}

// restoringPeers is the view of a node restarted warm: every key moved
// here from prev at changed; prev is its one neighbour; it names itself
// self.
type restoringPeers struct {
	movedPeers
	self string
}

func (p restoringPeers) Neighbours() (alive, failed []string) { return []string{p.prev}, nil }
func (p restoringPeers) Self() string                         { return p.self }

// A node restarted warm asks its neighbour what was written there of its
// keys while it was away, deletes those keys and flushes the namespaces
// flushed there, and keeps the rest as
// current: a read serves them without fetching them from the neighbour
// (which does not hold them and would take them away), while the keys
// written there are fetched from it.
func TestRestartedNodeKeepsWhatNobodyWrote(t *testing.T) {
	// The neighbour noted, for this node (named self: nothing listens
	// there, so the notes are not delivered while the test runs), k1 set
	// and k2 deleted, and it flushed the namespace ns:.
	m := startTestServer(t, nil)
	self := deadAddr(t)
	ab := newAbsence(cluster.Absence{State: cluster.AbsenceClean, Since: time.Now().Add(-time.Minute)})
	m.SetPeers(absentPeers{awayPeersOf{fixedPeers{addrs: []string{m.Addr()}, down: []string{self}}, self}, time.Now().Add(-time.Hour), ab})
	m.refreshAway()
	roundTrip(t, m.Addr(), "set k1 0 0 3\r\nnew\r\ndelete k2\r\n", "STORED\r\nNOT_FOUND\r\n")
	roundTrip(t, m.Addr(), "flush_prefix ns:\r\n", "\r\n")

	srv := startTestServer(t, nil)
	roundTrip(t, srv.Addr(), "set k1 0 0 3\r\nold\r\nset k2 0 0 3\r\nold\r\nset k3 0 0 3\r\nold\r\nset k4 0 0 3\r\nold\r\nset ns:5 0 0 3\r\nold\r\n", "STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\nSTORED\r\n")
	rp := restoringPeers{movedPeers{fixedPeers: fixedPeers{addrs: []string{self}}, prev: m.Addr(), changed: time.Now()}, self}
	srv.SetPeers(rp)
	if !srv.confirmRestore(rp) {
		t.Fatal("the neighbour's notes were not taken as complete")
	}
	for k, want := range map[string]string{"k1": "new", "k2": "", "k3": "old", "k4": "old", "ns:5": ""} {
		if got := getValue(t, srv.Addr(), k); got != want {
			t.Errorf("%s = %q after the check, want %q", k, got, want)
		}
	}
	if st := statLines(t, srv.Addr(), "stats warmup"); st["warmup_restore_deleted"] != "2" || st["warmup_fetches"] != "3" {
		t.Errorf("stats warmup: restore_deleted %s fetches %s, want 2 and 3 (k1, k2, ns:5: read, not here)", st["warmup_restore_deleted"], st["warmup_fetches"])
	}

	// A neighbour that cannot vouch: the items go through the warm-up
	// as after any change (k4, read, is fetched: the neighbour has none).
	srv2 := startTestServer(t, nil)
	roundTrip(t, srv2.Addr(), "set k4 0 0 3\r\nold\r\n", "STORED\r\n")
	edit(ab, func(a *cluster.Absence) { a.State = cluster.AbsenceChanged })
	srv2.SetPeers(rp)
	if srv2.confirmRestore(rp) {
		t.Fatal("kept the items when the neighbour said the ring changed")
	}
	if got := getValue(t, srv2.Addr(), "k4"); got != "" {
		t.Errorf("k4 = %q, want a miss (fetched from the neighbour, which has none)", got)
	}

	// A neighbour that saw this node go soon after keys moved to it
	// (warming): the items are kept only when the stop that saved them
	// found every moved key settled (its restart note).
	edit(ab, func(a *cluster.Absence) {
		a.State, a.Before = cluster.AbsenceClean, a.Since.Add(-10*time.Second)
	})
	for _, settled := range []bool{false, true} {
		srv3 := startTestServer(t, nil)
		srv3.warm.settledAtStop = settled
		roundTrip(t, srv3.Addr(), "set k4 0 0 3\r\nold\r\n", "STORED\r\n")
		srv3.SetPeers(rp)
		if got := srv3.confirmRestore(rp); got != settled {
			t.Fatalf("a warming absence, settled at the stop %v: kept the items %v", settled, got)
		}
		want := map[bool]string{false: "", true: "old"}[settled]
		if got := getValue(t, srv3.Addr(), "k4"); got != want {
			t.Errorf("k4 = %q with settled %v, want %q", got, settled, want)
		}
	}
}

// changingPeers is leftPeers whose ring change the test makes happen.
type changingPeers struct {
	leftPeers
	at *time.Time
}

func (p changingPeers) RingChanged() time.Time { return *p.at }

// A client's write of a key that moves in a ring change, made after the
// new ring is in place but before the server has caught up with it
// (RingChanged), is forwarded to the key's new owner: nothing else would
// tell it (the ring no longer names the owner as away).
func TestWriteAsTheRingChangesReachesTheNewOwner(t *testing.T) {
	owner := startTestServer(t, nil)
	srv := startTestServer(t, nil)
	roundTrip(t, owner.Addr(), "set a 0 0 1\r\nA\r\n", "STORED\r\n")
	at := time.Now().Add(-time.Hour)
	srv.SetPeers(changingPeers{leftPeers{fixedPeers: fixedPeers{addrs: []string{owner.Addr(), srv.Addr()}, self: 1}, next: owner.Addr()}, &at})
	srv.RingChanging()
	at = time.Now() // the new ring; RingChanged has not run yet
	roundTrip(t, srv.Addr(), "set a 0 0 1\r\nB\r\n", "STORED\r\n")
	if got := getValue(t, owner.Addr(), "a"); got != "" {
		t.Fatalf("the new owner after a write of a at the previous one as the ring changed: %q, want none", got)
	}
}

// A client that learned of a member's going from another member first
// writes the member's keys here while this node still sees it alive:
// nothing notes those writes then. When this node sees it go, it finds
// them (written less than aheadWindow before) and notes them for the
// member, so that `cluster away` names them when it comes back.
func TestWritesJustBeforeAMemberWentAreNoted(t *testing.T) {
	a := startTestServer(t, nil)
	gone := deadAddr(t)
	roundTrip(t, a.Addr(), "set old 0 0 1\r\no\r\n", "STORED\r\n")
	sampleFloorBefore(a)
	roundTrip(t, a.Addr(), "set k 0 0 1\r\nk\r\n", "STORED\r\n") // ahead of this node's ring
	ab := newAbsence(cluster.Absence{State: cluster.AbsenceClean, Since: time.Now()})
	a.SetPeers(absentPeers{awayPeersOf{fixedPeers{addrs: []string{a.Addr()}, down: []string{gone}}, gone}, time.Now(), ab})
	a.RingChanged()
	pool := &peers.Pool{}
	defer pool.Close()
	var n proto.AwayNotes
	for deadline := time.Now().Add(5 * time.Second); n.State != "clean"; time.Sleep(10 * time.Millisecond) {
		var err error
		if n, err = pool.AwayNotes(a.Addr(), gone); err != nil || time.Now().After(deadline) {
			t.Fatalf("cluster away %s: %+v, %v", gone, n, err)
		}
	}
	if len(n.Keys) != 1 || string(n.Keys[0]) != "k" {
		t.Fatalf("keys noted for the member that went: %q, want k (written just before; not old, from long before)", n.Keys)
	}
}

// A graceful stop that keeps the memory file notes, for the restart,
// whether the node had taken keys within warmup_secs (their copies may
// not have settled): the restarted node keeps its items after a `warming`
// answer only when it had not.
func TestGracefulStopNotesWhetherMovedKeysHadSettled(t *testing.T) {
	for _, tc := range []struct {
		gained time.Time
		want   string
	}{
		{time.Now().Add(-10 * time.Second), "false"},
		{time.Now().Add(-2 * time.Minute), "true"},
	} {
		file := filepath.Join(t.TempDir(), "memory")
		srv := startTestServer(t, func(s *Settings) { s.MemoryFile, s.MaxBytes = file, 16<<20 })
		srv.settledForRestart(tc.gained)
		srv.StopGracefully()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		srv.Shutdown(ctx)
		cancel()
		sn, err := lru.ReadSnapshot(file)
		if err != nil || sn == nil {
			t.Fatalf("no metadata after a graceful stop: %v", err)
		}
		if got := sn.Note(noteSettled); got != tc.want {
			t.Errorf("last took keys %v ago: note %q, want %q", time.Since(tc.gained).Round(time.Second), got, tc.want)
		}
	}
}
