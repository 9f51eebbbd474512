package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slabcache/slabcache/cluster/client"
	"github.com/slabcache/slabcache/proto"
)

// netns is a network namespace joined to this one by a veth pair: hostIPs
// on the host's end, nsIP on the namespace's. Cut and Heal take the link
// down and up: a partition between the namespace and everything else.
type netns struct {
	t       *testing.T
	name    string
	hostEnd string
	hostIPs []string
	nsIP    string
}

// newNetns creates the namespace and its link, or skips the test where
// that cannot be done (not root, no ip command); both go with the test.
func newNetns(t *testing.T, hosts int) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating a network namespace needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command (iproute2) to create a network namespace")
	}
	id := os.Getpid() % 100000
	subnet := fmt.Sprintf("10.213.%d", id%250)
	n := &netns{t: t, name: fmt.Sprintf("slabpt%d", id), hostEnd: fmt.Sprintf("spr%d", id), nsIP: subnet + ".2"}
	for i := 0; i < hosts; i++ {
		n.hostIPs = append(n.hostIPs, fmt.Sprintf("%s.%d", subnet, 10+i))
	}
	if out, err := exec.Command("ip", "netns", "add", n.name).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", n.hostEnd).Run()
		exec.Command("ip", "netns", "del", n.name).Run()
	})
	nsEnd := fmt.Sprintf("spc%d", id)
	steps := [][]string{
		{"ip", "link", "add", n.hostEnd, "type", "veth", "peer", "name", nsEnd},
		{"ip", "link", "set", nsEnd, "netns", n.name},
		{"ip", "netns", "exec", n.name, "ip", "addr", "add", n.nsIP + "/24", "dev", nsEnd},
		{"ip", "netns", "exec", n.name, "ip", "link", "set", nsEnd, "up"},
		{"ip", "netns", "exec", n.name, "ip", "link", "set", "lo", "up"},
	}
	for _, ip := range n.hostIPs {
		steps = append(steps, []string{"ip", "addr", "add", ip + "/24", "dev", n.hostEnd})
	}
	steps = append(steps, []string{"ip", "link", "set", n.hostEnd, "up"})
	for _, s := range steps {
		n.run(s...)
	}
	return n
}

func (n *netns) run(args ...string) {
	n.t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		n.t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func (n *netns) cut()  { n.run("ip", "link", "set", n.hostEnd, "down") }
func (n *netns) heal() { n.run("ip", "link", "set", n.hostEnd, "up") }

// awayKeys is a comeback test's data: n keys stored through the client
// as "old", and those of the node that goes away.
type awayKeys struct {
	t    *testing.T
	cl   *client.Client
	addr string // the node that goes away
	mine []int  // its keys
}

func awayKey(i int) string { return fmt.Sprintf("user:%d", i) }

// storeAwayKeys stores 600 keys through a client of the cluster at
// endpoint (which must see all three nodes) and picks those of addr.
func storeAwayKeys(t *testing.T, endpoint, addr string) *awayKeys {
	t.Helper()
	cl, err := client.New(client.Config{Endpoints: []string{endpoint}, PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	const n = 600
	k := &awayKeys{t: t, cl: cl, addr: addr}
	for i := range n {
		if err := cl.Set(&client.Item{Key: awayKey(i), Value: []byte("old")}); err != nil {
			t.Fatal(err)
		}
		if cl.Owner(awayKey(i)) == addr {
			k.mine = append(k.mine, i)
		}
	}
	if len(k.mine) < n/8 {
		t.Fatalf("%s owns %d of %d keys; the client sees %v", addr, len(k.mine), n, cl.View().Members)
	}
	return k
}

// waitMembers waits until the client sees n members.
func (k *awayKeys) waitMembers(n int, within time.Duration) {
	k.t.Helper()
	deadline := time.Now().Add(within)
	for len(k.cl.View().Members) != n {
		if time.Now().After(deadline) {
			k.t.Fatalf("the client sees %d members after %v, want %d", len(k.cl.View().Members), within, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rewrite, while the node is away (its keys are served by the others),
// deletes every fifth of its keys and gives the others a new value. A
// write answered `pending on` the node away (a member that has not seen
// it fail yet forwards it there, as to a key's new owner) was applied
// where it was sent; the node gets it when it answers.
func (k *awayKeys) rewrite() {
	k.t.Helper()
	ok := func(err error) bool {
		var se *client.ServerError
		return err == nil || errors.Is(err, client.ErrCacheMiss) ||
			errors.As(err, &se) && strings.HasSuffix(se.Line, " pending on "+k.addr)
	}
	for _, i := range k.mine {
		var err error
		if i%5 == 0 {
			err = k.cl.Delete(awayKey(i))
		} else {
			err = k.cl.Set(&client.Item{Key: awayKey(i), Value: []byte("new")})
		}
		if !ok(err) {
			k.t.Fatal(err)
		}
	}
}

// waitClean reads the node's keys from it directly (any client that
// reaches it does so) until it serves none of its old values, and returns
// how long that took from since; it fails the test after 10 s.
func (k *awayKeys) waitClean(since time.Time, what string) time.Duration {
	k.t.Helper()
	for {
		old, resurrected := 0, 0
		for _, i := range k.mine {
			if rawGet(k.t, k.addr, awayKey(i)) == "old" {
				if i%5 == 0 {
					resurrected++
				} else {
					old++
				}
			}
		}
		if old+resurrected == 0 {
			return time.Since(since)
		}
		if time.Since(since) > 10*time.Second {
			k.t.Fatalf("10 s after %s the node serves %d old values and %d deleted keys", what, old, resurrected)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rawSet stores key=value on the node at addr, whoever owns the key.
func rawSet(t *testing.T, addr, key, value string) {
	t.Helper()
	if rp, err := rawDo(t, addr, &proto.Request{Command: proto.CmdSet, Key: []byte(key), Value: []byte(value)}); err != nil || string(rp.Line) != "STORED" {
		t.Fatalf("set %s on %s: %q, %v", key, addr, rp.Line, err)
	}
}

// firstAnswer reads all the node's keys from it in one multi-get as soon as
// it accepts a connection (it is about to start) and sends how many of
// them it served with their old values.
func (k *awayKeys) firstAnswer() <-chan int {
	req := &proto.Request{Command: proto.CmdGet}
	for _, i := range k.mine {
		req.Keys = append(req.Keys, []byte(awayKey(i)))
	}
	out := make(chan int, 1)
	go func() {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			nc, err := net.DialTimeout("tcp", k.addr, 50*time.Millisecond)
			if err != nil {
				time.Sleep(time.Millisecond)
				continue
			}
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			var rp proto.Reply
			err = proto.NewConn(nc).Do(req, &rp)
			nc.Close()
			old := 0
			for _, v := range rp.Values {
				if string(v.Data) == "old" {
					old++
				}
			}
			if err != nil {
				old = len(k.mine) // no answer counts as none clean
			}
			out <- old
			return
		}
		out <- len(k.mine)
	}()
	return out
}

// readBack reads the node's keys through the client: each must miss or
// read its new value; it returns how many did each.
func (k *awayKeys) readBack() (fresh, missed int) {
	k.t.Helper()
	for _, i := range k.mine {
		it, err := k.cl.Get(awayKey(i))
		switch {
		case errors.Is(err, client.ErrCacheMiss):
			missed++
		case err != nil:
			k.t.Fatal(err)
		case i%5 == 0 || string(it.Value) != "new":
			k.t.Fatalf("%s reads %q after the node came back (deleted: %v)", awayKey(i), it.Value, i%5 == 0)
		default:
			fresh++
		}
	}
	return fresh, missed
}

// md5 places the tests' short sequential keys evenly, where ketama's
// fnv1a_64 would not (the client follows the nodes).
var md5 = []string{"--cluster-placement", "ketama-md5"}

// A partition cuts one node of three off while clients, on the other side,
// go on writing and deleting its keys on the other two. When it heals, the
// node that was cut off must serve none of the values it held from before
// (each was overwritten or deleted meanwhile): the other two delete those
// keys there as soon as they can reach it, before gossip has marked it
// alive again, and clients that come back to it miss them (they are
// loaded again) instead of reading stale values or deleted keys.
func TestPartitionHealsWithoutStaleValues(t *testing.T) {
	tc, ns, pc := partitionCluster(t, md5...)
	a, b := ns.hostIPs[0], ns.hostIPs[1]
	all := []string{"pa", "pb", "pc"}
	k := storeAwayKeys(t, a+":11211", pc.addr())

	// A namespace on every node, flushed while the third is cut off.
	fillNamespace(t, pc.addr(), "ns:", 50)
	ns.cut()
	k.waitMembers(2, 10*time.Second)
	k.rewrite()
	var se *client.ServerError
	if err := k.cl.FlushPrefix("ns:"); !errors.As(err, &se) || !strings.Contains(se.Line, pc.addr()) {
		t.Fatalf("flush_prefix with a node cut off: %v, want it named pending", err)
	}
	noted := groupStatInt(t, a+":11211", "warmup", "away_keys") + groupStatInt(t, b+":11211", "warmup", "away_keys")
	if noted != len(k.mine) {
		t.Fatalf("%d keys of the cut-off node noted, %d written", noted, len(k.mine))
	}

	ns.heal()
	healed := time.Now()
	cleared := k.waitClean(healed, "the partition healed")
	for countNamespace(t, pc.addr(), "ns:", 50) != 0 {
		if time.Since(healed) > 10*time.Second {
			t.Fatal("10 s after the partition healed the node serves a namespace flushed meanwhile")
		}
		time.Sleep(50 * time.Millisecond)
	}
	flushed := time.Since(healed)
	tc.waitStatus(all, "pc", "alive", joinWithin)
	back := time.Since(healed)
	k.waitMembers(3, 5*time.Second)
	fresh, missed := k.readBack()
	t.Logf("%d keys of the cut-off node written while it was away; its old copies gone %v after the link came back, the namespace flushed meanwhile %v, gossip saw it alive after %v; then %d read the new value, %d missed",
		len(k.mine), cleared.Round(time.Millisecond), flushed.Round(time.Millisecond), back.Round(time.Millisecond), fresh, missed)
}

// A node restarted warm (SIGUSR1, -e) serves none of the values that
// were set or deleted on the others while it was down: they delete those
// keys there as soon as it answers.
func TestWarmRestartInClusterServesNoStaleValues(t *testing.T) {
	tc, ip := newTestCluster(t, 121, 3)
	memFile := filepath.Join(tc.dir, "w3.mem")
	w3args := append(md5, "--cluster-join", ip(0)+":7946", "-e", memFile, "-o", "drain_secs=0")
	tc.start("w1", ip(0), md5...)
	tc.start("w2", ip(1), append(md5, "--cluster-join", ip(0)+":7946")...)
	w3 := tc.start("w3", ip(2), w3args...)
	all := []string{"w1", "w2", "w3"}
	for _, n := range all {
		tc.waitStatus(all, n, "alive", joinWithin)
	}
	k := storeAwayKeys(t, ip(0)+":11211", w3.addr())
	// An item of a key w3 does not own, as a stand-in holds: neither the
	// others nor w3's warm-up touch it, so w3 holds it after a warm
	// restart.
	kept := ""
	for i := 600; kept == ""; i++ {
		if k.cl.Owner(awayKey(i)) != w3.addr() {
			kept = awayKey(i)
		}
	}
	rawSet(t, w3.addr(), kept, "kept")

	tc.stopWarm("w3", "w1", "w2")
	k.waitMembers(2, 10*time.Second)
	k.rewrite()

	first := k.firstAnswer()
	w3 = tc.start("w3", ip(2), w3args...)
	started := time.Now()
	if old := <-first; old > 0 {
		// It listens only once it has joined, with its warm-up on: from
		// its first answer, a key written while it was down is fetched
		// from the node that held it meanwhile, not served from before.
		t.Errorf("w3's first answer after its warm restart: %d old values", old)
	}
	if got := rawGet(t, w3.addr(), kept); got != "kept" {
		t.Fatalf("w3 restarted without the item it held of %s: %q", kept, got)
	}
	cleared := k.waitClean(started, "its warm restart")
	k.waitMembers(3, joinWithin)
	fresh, missed := k.readBack()
	t.Logf("%d keys of w3 written while it was down; its old copies gone %v after it started; then %d read the new value, %d missed",
		len(k.mine), cleared.Round(time.Millisecond), fresh, missed)
}

// A node restarted warm in a cluster keeps the items of its memory file
// that nobody wrote while it was down, once the others vouch that they
// noted every write of its keys meanwhile and nothing else changed on the
// ring: none of the others holds those keys (nothing read them while it
// was away), so a warm-up that fetched them would lose them all. A flush
// it missed takes that away: it then keeps none of them.
func TestWarmRestartInClusterKeepsItsUnwrittenItems(t *testing.T) {
	tc, ip := newTestCluster(t, 161, 3)
	memFile := filepath.Join(tc.dir, "r3.mem")
	opts := append(slices.Clip(md5), "-o", "warmup_secs=2")
	r3args := append(slices.Clip(opts), "--cluster-join", ip(0)+":7946", "-e", memFile, "-o", "drain_secs=0")
	tc.start("r1", ip(0), opts...)
	tc.start("r2", ip(1), append(slices.Clip(opts), "--cluster-join", ip(0)+":7946")...)
	r3 := tc.start("r3", ip(2), r3args...)
	all := []string{"r1", "r2", "r3"}
	for _, n := range all {
		tc.waitStatus(all, n, "alive", joinWithin)
	}
	k := storeAwayKeys(t, ip(0)+":11211", r3.addr())
	// A node that goes away during the warm-up of a change may hold
	// copies of keys that had just moved to it, not confirmed yet: the
	// others do not vouch for such an absence. r3 goes after its join's.
	time.Sleep(2 * time.Second)
	restart := func(between func()) {
		t.Helper()
		tc.stopWarm("r3", "r1", "r2")
		k.waitMembers(2, 10*time.Second)
		between()
		r3 = tc.start("r3", ip(2), r3args...)
	}
	confirmed := func() bool { return restoreConfirmed(t, r3.addr()) }

	// While r3 is down, a quarter of its keys are deleted and a quarter
	// set again; the other half is neither written nor read.
	written := 0
	restart(func() {
		for _, i := range k.mine {
			var err error
			switch i % 4 {
			case 0:
				err = k.cl.Delete(awayKey(i))
			case 1:
				err = k.cl.Set(&client.Item{Key: awayKey(i), Value: []byte("new")})
			default:
				continue
			}
			if err != nil && !errors.Is(err, client.ErrCacheMiss) { // (the others do not hold its keys)
				t.Fatal(err)
			}
			written++
		}
	})
	if !confirmed() {
		t.Fatalf("r3 restarted warm did not keep its items: stats warmup %q", talk(t, r3.addr(), "stats warmup\r\n", "END\r\n"))
	}
	kept, fresh, gone := 0, 0, 0
	for _, i := range k.mine {
		got := rawGet(t, r3.addr(), awayKey(i))
		switch {
		case i%4 == 0 && got == "":
			gone++
		case i%4 == 1 && got == "new":
			fresh++
		case i%4 > 1 && got == "old":
			kept++
		default:
			t.Errorf("%s on r3 after its warm restart: %q", awayKey(i), got)
		}
	}
	t.Logf("r3 owns %d keys; %d written while it was down (%d deleted on it by the check); after its warm restart %d unwritten ones kept, %d read their new value, %d deleted ones missed",
		len(k.mine), written, warmStat(t, r3.addr(), "warmup_restore_deleted"), kept, fresh, gone)

	// r3 goes again, and a client flushes the other two meanwhile: r3
	// missed the flush, and keeps none of its values.
	time.Sleep(2 * time.Second) // the warm-up of its return is over
	restart(func() {
		for _, a := range []string{ip(0), ip(1)} {
			if rp, err := rawDo(t, a+":11211", &proto.Request{Command: proto.CmdFlushAll}); err != nil || string(rp.Line) != "OK" {
				t.Fatalf("flush_all on %s: %q, %v", a, rp.Line, err)
			}
		}
	})
	if confirmed() {
		t.Fatal("r3 kept its items after missing a flush_all")
	}
	for _, i := range k.mine {
		if got := rawGet(t, r3.addr(), awayKey(i)); got != "" {
			t.Errorf("%s on r3 after a flush_all it missed: %q", awayKey(i), got)
		}
	}
}

// restoreConfirmed waits for the end of the check of a node's memory
// file after its warm restart and returns whether it kept the items.
func restoreConfirmed(t *testing.T, addr string) bool {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		switch st := warmWord(t, addr, "warmup_restore"); st {
		case "confirmed":
			return true
		case "unconfirmed":
			return false
		case "checking":
		default:
			t.Fatalf("stats warmup on %s: warmup_restore %q after a warm restart", addr, st)
		}
	}
	t.Fatalf("%s's check of its memory file did not end within 10 s", addr)
	return false
}

// A rolling restart: one node stops warm and starts again, and the next
// one stops as soon as it is back, well within warmup_secs of that
// change. On a ketama ring a node's return gives keys to that node only
// (the others give back what they took when it went), so the next one
// had no key still settling when it went: the others vouch for its
// absence too, and it keeps what nobody wrote while it was down. Before,
// it went within warmup_secs of a change and kept none of its keys.
func TestRollingWarmRestartKeepsTheCache(t *testing.T) {
	tc, ip := newTestCluster(t, 181, 3)
	const warmup = 10
	opts := append(slices.Clip(md5), "-o", fmt.Sprintf("warmup_secs=%d", warmup), "-o", "drain_secs=0")
	args := func(i int) []string {
		a := append(slices.Clip(opts), "-e", filepath.Join(tc.dir, fmt.Sprintf("q%d.mem", i)))
		if i > 0 {
			a = append(a, "--cluster-join", ip(0)+":7946")
		}
		return a
	}
	names := []string{"q1", "q2", "q3"}
	for i, name := range names {
		tc.start(name, ip(i), args(i)...)
	}
	for _, n := range names {
		tc.waitStatus(names, n, "alive", joinWithin)
	}
	q2, q3 := ip(1)+":11211", ip(2)+":11211"
	k := storeAwayKeys(t, ip(0)+":11211", q3)
	var of2 []int
	for i := range 600 {
		if k.cl.Owner(awayKey(i)) == q2 {
			of2 = append(of2, i)
		}
	}
	// The joins are changes that gave q2 and q3 their keys.
	time.Sleep(warmup * time.Second)

	// restart stops node i warm, deletes every fourth of keys while it
	// is down, starts it again and checks what it kept.
	restart := func(i int, addr string, keys []int) time.Time {
		t.Helper()
		others := slices.Delete(slices.Clone(names), i, i+1)
		tc.stopWarm(names[i], others...)
		k.waitMembers(2, 10*time.Second)
		for _, j := range keys {
			if j%4 == 0 {
				if err := k.cl.Delete(awayKey(j)); err != nil && !errors.Is(err, client.ErrCacheMiss) {
					t.Fatal(err)
				}
			}
		}
		tc.start(names[i], ip(i), args(i)...)
		if !restoreConfirmed(t, addr) {
			t.Fatalf("%s restarted warm did not keep its items: stats warmup %q\n%s", names[i], talk(t, addr, "stats warmup\r\n", "END\r\n"), tc.nodes[names[i]].log)
		}
		back := time.Now()
		kept := 0
		for _, j := range keys {
			got := rawGet(t, addr, awayKey(j))
			switch {
			case j%4 == 0 && got == "":
			case j%4 != 0 && got == "old":
				kept++
			default:
				t.Errorf("%s on %s after its warm restart: %q", awayKey(j), names[i], got)
			}
		}
		t.Logf("%s: kept %d of its %d keys (a quarter deleted while it was down)", names[i], kept, len(keys))
		k.waitMembers(3, 10*time.Second)
		return back
	}
	q3back := restart(2, q3, k.mine)
	if since := time.Since(q3back); since > (warmup-2)*time.Second {
		t.Fatalf("q2 would go %v after q3 was back: this test needs it to go well within warmup_secs (%d s)", since, warmup)
	}
	restart(1, q2, of2)
}

// stopWarm stops node name with SIGUSR1 (a graceful stop that keeps its
// memory file) and waits until the others see it left.
func (tc *testCluster) stopWarm(name string, others ...string) {
	tc.t.Helper()
	n := tc.nodes[name]
	n.cmd.Process.Signal(syscall.SIGUSR1)
	select {
	case err := <-n.done:
		n.done <- err
	case <-time.After(20 * time.Second):
		tc.t.Fatalf("%s did not stop on SIGUSR1", name)
	}
	tc.waitStatus(others, name, "left", 15*time.Second)
}

// partitionCluster starts three nodes with the extra flags, pa and pb on
// the host and pc in a network namespace the test can cut off (ns.cut),
// and waits until each sees the others alive. It skips in short mode and
// where no namespace can be made (newNetns).
func partitionCluster(t *testing.T, extra ...string) (*testCluster, *netns, *testNode) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts three slabcached processes")
	}
	ns := newNetns(t, 2)
	tc := &testCluster{t: t, bin: buildBinary(t), dir: t.TempDir(), nodes: map[string]*testNode{}}
	a, b := ns.hostIPs[0], ns.hostIPs[1]
	join := append(slices.Clip(extra), "--cluster-join", a+":7946")
	tc.start("pa", a, extra...)
	tc.start("pb", b, join...)
	pc := tc.startIn(ns.name, "pc", ns.nsIP, join...)
	all := []string{"pa", "pb", "pc"}
	for _, n := range all {
		tc.waitStatus(all, n, "alive", joinWithin)
	}
	return tc, ns, pc
}

// startIn starts a node inside network namespace ns.
func (tc *testCluster) startIn(ns, name, ip string, extra ...string) *testNode {
	tc.t.Helper()
	tc.prefix = []string{"ip", "netns", "exec", ns}
	defer func() { tc.prefix = nil }()
	return tc.start(name, ip, extra...)
}
