package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slabcache/slabcache/cluster/client"
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

// A partition cuts one node of three off while clients, on the other side,
// go on writing and deleting its keys on the other two. When it heals, the
// node that was cut off must serve none of the values it held from before
// (each was overwritten or deleted meanwhile): the other two delete those
// keys there as soon as they can reach it, before gossip has marked it
// alive again, and clients that come back to it miss them (they are
// loaded again) instead of reading stale values or deleted keys.
func TestPartitionHealsWithoutStaleValues(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three slabcached processes")
	}
	ns := newNetns(t, 2)
	tc := &testCluster{t: t, bin: buildBinary(t), dir: t.TempDir(), nodes: map[string]*testNode{}}
	a, b := ns.hostIPs[0], ns.hostIPs[1]
	// ketama-md5: the keys below are short and sequential, which ketama's
	// fnv1a_64 would place unevenly (the client follows the nodes).
	md5 := []string{"--cluster-placement", "ketama-md5"}
	tc.start("pa", a, md5...)
	tc.start("pb", b, append(md5, "--cluster-join", a+":7946")...)
	tc.startIn(ns.name, "pc", ns.nsIP, append(md5, "--cluster-join", a+":7946")...)
	all := []string{"pa", "pb", "pc"}
	for _, n := range all {
		tc.waitStatus(all, n, "alive", joinWithin)
	}
	cl, err := client.New(client.Config{Endpoints: []string{a + ":11211"}, PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 600
	key := func(i int) string { return fmt.Sprintf("user:%d", i) }
	for i := range n {
		if err := cl.Set(&client.Item{Key: key(i), Value: []byte("old")}); err != nil {
			t.Fatal(err)
		}
	}
	cAddr := ns.nsIP + ":11211"
	var cKeys []int
	for i := range n {
		if cl.Owner(key(i)) == cAddr {
			cKeys = append(cKeys, i)
		}
	}
	if len(cKeys) < n/8 {
		t.Fatalf("the cut-off node owns %d of %d keys; the client sees %v", len(cKeys), n, cl.View().Members)
	}

	ns.cut()
	deadline := time.Now().Add(10 * time.Second)
	for len(cl.View().Members) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the client still sees %d members 10 s into the partition", len(cl.View().Members))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Its keys are served by the other two now: every fifth is deleted,
	// the others get a new value.
	for _, i := range cKeys {
		if i%5 == 0 {
			if err := cl.Delete(key(i)); err != nil && !errors.Is(err, client.ErrCacheMiss) {
				t.Fatal(err)
			}
		} else if err := cl.Set(&client.Item{Key: key(i), Value: []byte("new")}); err != nil {
			t.Fatal(err)
		}
	}
	noted := groupStatInt(t, a+":11211", "warmup", "away_keys") + groupStatInt(t, b+":11211", "warmup", "away_keys")
	if noted != len(cKeys) {
		t.Fatalf("%d keys of the cut-off node noted, %d written", noted, len(cKeys))
	}

	ns.heal()
	healed := time.Now()
	// The node that was cut off, read directly (any client that reaches
	// it does so), holds none of its old values once the others reach it.
	stale := func() (old, resurrected int) {
		for _, i := range cKeys {
			switch v := rawGet(t, cAddr, key(i)); {
			case v == "old" && i%5 == 0:
				resurrected++
			case v == "old":
				old++
			}
		}
		return old, resurrected
	}
	for {
		old, res := stale()
		if old == 0 && res == 0 {
			break
		}
		if time.Since(healed) > 10*time.Second {
			t.Fatalf("10 s after the partition healed the node that was cut off serves %d old values and %d deleted keys", old, res)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cleared := time.Since(healed)
	tc.waitStatus(all, "pc", "alive", joinWithin)
	back := time.Since(healed)
	deadline = time.Now().Add(5 * time.Second)
	for len(cl.View().Members) != 3 {
		if time.Now().After(deadline) {
			t.Fatal("the client does not see the third member again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var missed, fresh int
	for _, i := range cKeys {
		it, err := cl.Get(key(i))
		switch {
		case errors.Is(err, client.ErrCacheMiss):
			missed++
		case err != nil:
			t.Fatal(err)
		case i%5 == 0 || string(it.Value) != "new":
			t.Fatalf("%s reads %q after the partition (deleted: %v)", key(i), it.Value, i%5 == 0)
		default:
			fresh++
		}
	}
	t.Logf("%d keys of the cut-off node written while it was away; its old copies gone %v after the link came back, gossip saw it alive after %v; then %d read the new value, %d missed",
		len(cKeys), cleared.Round(time.Millisecond), back.Round(time.Millisecond), fresh, missed)
}

// A node restarted warm (SIGUSR1, -e) serves none of the values that
// were set or deleted on the others while it was down: they delete those
// keys there as soon as it answers.
func TestWarmRestartInClusterServesNoStaleValues(t *testing.T) {
	tc, ip := newTestCluster(t, 121, 3)
	md5 := []string{"--cluster-placement", "ketama-md5"}
	memFile := filepath.Join(tc.dir, "w3.mem")
	w3args := append(md5, "--cluster-join", ip(0)+":7946", "-e", memFile, "-o", "drain_secs=0")
	tc.start("w1", ip(0), md5...)
	tc.start("w2", ip(1), append(md5, "--cluster-join", ip(0)+":7946")...)
	tc.start("w3", ip(2), w3args...)
	all := []string{"w1", "w2", "w3"}
	for _, n := range all {
		tc.waitStatus(all, n, "alive", joinWithin)
	}
	cl, err := client.New(client.Config{Endpoints: []string{ip(0) + ":11211"}, PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 600
	key := func(i int) string { return fmt.Sprintf("user:%d", i) }
	for i := range n {
		if err := cl.Set(&client.Item{Key: key(i), Value: []byte("old")}); err != nil {
			t.Fatal(err)
		}
	}
	w3 := tc.nodes["w3"]
	var wKeys []int
	for i := range n {
		if cl.Owner(key(i)) == w3.addr() {
			wKeys = append(wKeys, i)
		}
	}
	w3.cmd.Process.Signal(syscall.SIGUSR1)
	select {
	case err := <-w3.done:
		w3.done <- err
	case <-time.After(20 * time.Second):
		t.Fatal("w3 did not stop on SIGUSR1")
	}
	tc.waitStatus([]string{"w1", "w2"}, "w3", "left", 15*time.Second)
	for len(cl.View().Members) != 2 {
		time.Sleep(20 * time.Millisecond)
	}
	for _, i := range wKeys {
		if i%5 == 0 {
			if err := cl.Delete(key(i)); err != nil && !errors.Is(err, client.ErrCacheMiss) {
				t.Fatal(err)
			}
		} else if err := cl.Set(&client.Item{Key: key(i), Value: []byte("new")}); err != nil {
			t.Fatal(err)
		}
	}
	w3 = tc.start("w3", ip(2), w3args...)
	started := time.Now()
	if got := statValue(t, w3.addr(), "curr_items"); got < int64(len(wKeys)) {
		t.Fatalf("w3 restarted warm with %d items", got)
	}
	for {
		old, resurrected := 0, 0
		for _, i := range wKeys {
			if rawGet(t, w3.addr(), key(i)) == "old" {
				if i%5 == 0 {
					resurrected++
				} else {
					old++
				}
			}
		}
		if old+resurrected == 0 {
			break
		}
		if time.Since(started) > 10*time.Second {
			t.Fatalf("10 s after its warm restart w3 serves %d old values and %d deleted keys", old, resurrected)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d keys of w3 written while it was down; its old copies gone %v after it started", len(wKeys), time.Since(started).Round(time.Millisecond))
	for len(cl.View().Members) != 3 {
		time.Sleep(20 * time.Millisecond)
	}
	for _, i := range wKeys {
		it, err := cl.Get(key(i))
		if err == nil && (i%5 == 0 || string(it.Value) != "new") {
			t.Fatalf("%s reads %q after w3 came back (deleted: %v)", key(i), it.Value, i%5 == 0)
		} else if err != nil && !errors.Is(err, client.ErrCacheMiss) {
			t.Fatal(err)
		}
	}
}

// startIn starts a node inside network namespace ns.
func (tc *testCluster) startIn(ns, name, ip string, extra ...string) *testNode {
	tc.t.Helper()
	tc.prefix = []string{"ip", "netns", "exec", ns}
	defer func() { tc.prefix = nil }()
	return tc.start(name, ip, extra...)
}
