package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/slabcache/slabcache/cluster/client"
	"github.com/slabcache/slabcache/internal/mctest"
)

// Through a join, a graceful leave, a crash, the crashed node's return
// and a warm restart (the node comes back with its items), clients that
// write, read and delete keys without pause never read a value older than
// the one they last stored or one they deleted:
// a miss is the most a membership change may cost, also to a client that
// learns of each change seconds late. A third of the requests go to a few
// keys, which turn hot: other nodes hold copies of them and serve their
// reads. Each client writes keys of its own, so it knows which version
// each must hold.
//
// SLABCACHED_CHURN_SECONDS=N waits N seconds between the changes
// (default 3); SLABCACHED_CHURN_PLACEMENT sets the nodes' placement (the
// default, ketama, unless given; docs/cluster.md gives its runs with jump
// and ch3, whose rings move keys between the remaining nodes when a node
// in the middle leaves or fails).
func TestNoStaleReadsThroughMembershipChanges(t *testing.T) {
	tc, ip := newTestCluster(t, 141, 4)
	step := churnStep()
	pl := churnPlacement()
	join := append([]string{"--cluster-join=" + ip(0) + ":7946"}, pl...)
	tc.start("c1", ip(0), pl...)
	tc.start("c2", ip(1), join...)
	tc.start("c3", ip(2), join...)
	three := []string{"c1", "c2", "c3"}
	for _, n := range three {
		tc.waitStatus(three, n, "alive", joinWithin)
	}
	ld := startChurn(t, ip(0)+":11211", step, []string{ip(0), ip(1), ip(2), ip(3)})
	all := []string{"c1", "c2", "c3", "c4"}
	time.Sleep(step)
	c4args := append([]string{"-e", filepath.Join(tc.dir, "c4.mem"), "-o", "drain_secs=0"}, join...)
	tc.start("c4", ip(3), c4args...)
	tc.waitStatus(all, "c4", "alive", joinWithin)
	ld.members(4, "c4 joined")
	time.Sleep(step)
	c2 := tc.nodes["c2"]
	c2.cmd.Process.Signal(syscall.SIGTERM)
	ld.members(3, "c2 leaves")
	if err := <-c2.done; err != nil {
		t.Fatalf("c2 exit: %v", err)
	}
	c2.done <- nil
	time.Sleep(step)
	c3 := tc.nodes["c3"]
	c3.cmd.Process.Kill()
	<-c3.done
	c3.done <- nil
	ld.members(2, "c3 crashed")
	time.Sleep(step)
	tc.start("c3", ip(2), join...)
	ld.members(3, "c3 is back")
	time.Sleep(step)
	c4 := tc.nodes["c4"]
	c4.cmd.Process.Signal(syscall.SIGUSR1)
	if err := <-c4.done; err != nil {
		t.Fatalf("c4 exit on SIGUSR1: %v", err)
	}
	c4.done <- nil
	ld.members(2, "c4 stopped to restart warm")
	time.Sleep(step)
	c4 = tc.start("c4", ip(3), c4args...)
	if n := statInt(t, c4.addr(), "curr_items"); n == 0 {
		t.Fatal("c4 restarted warm with no items")
	}
	ld.members(3, "c4 is back with its items")
	time.Sleep(step)
	ld.finish(hotKeys(t, tc))
}

// The same clients through a rolling warm restart of two nodes of three
// (w3, then w2 as soon as w3 is back, well within warmup_secs) that keep
// their items: every member vouches for each absence (nothing else changes
// on the ring, and neither holds a key still settling when it goes: w3
// goes well after the warm-up of the change before, and on a ketama ring
// w3's return gives w2 no key). Each serves the items nobody wrote while
// it was down, and no value older than a write or delete made meanwhile.
// With jump or ch3, w3's return may move keys to w2: w2 then keeps
// only what its warm-up confirms.
func TestNoStaleReadsThroughWarmRestarts(t *testing.T) {
	tc, ip := newTestCluster(t, 171, 3)
	step := churnStep()
	opts := append(churnPlacement(), "-o", "warmup_secs=4")
	join := append([]string{"--cluster-join=" + ip(0) + ":7946"}, opts...)
	warm := func(name string) []string {
		return append([]string{"-e", filepath.Join(tc.dir, name+".mem"), "-o", "drain_secs=0"}, join...)
	}
	tc.start("w1", ip(0), opts...)
	tc.start("w2", ip(1), warm("w2")...)
	tc.start("w3", ip(2), warm("w3")...)
	all := []string{"w1", "w2", "w3"}
	for _, n := range all {
		tc.waitStatus(all, n, "alive", joinWithin)
	}
	ld := startChurn(t, ip(0)+":11211", step, []string{ip(0), ip(1), ip(2)})
	var outcomes []string
	time.Sleep(max(step, 5*time.Second)) // past the joins' warm-up
	for _, i := range []int{2, 1} {
		name := all[i]
		n := tc.nodes[name]
		n.cmd.Process.Signal(syscall.SIGUSR1)
		if err := <-n.done; err != nil {
			t.Fatalf("%s exit on SIGUSR1: %v", name, err)
		}
		n.done <- nil
		ld.members(2, name+" stopped to restart warm")
		time.Sleep(step)
		n = tc.start(name, ip(i), warm(name)...)
		ld.members(3, name+" is back")
		st := "checking"
		for deadline := time.Now().Add(10 * time.Second); st == "checking" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			st = warmWord(t, n.addr(), "warmup_restore")
		}
		outcomes = append(outcomes, name+" "+st)
	}
	time.Sleep(step)
	ld.finish(hotKeys(t, tc))
	t.Logf("memory files after the restarts: %v", outcomes)
	if outcomes[0] != "w3 confirmed" {
		t.Fatalf("w3 did not keep its items: %v", outcomes)
	}
	if len(churnPlacement()) == 0 && outcomes[1] != "w2 confirmed" {
		t.Fatalf("w2, restarted right after w3 on a ketama ring, did not keep its items: %v", outcomes)
	}
}

// The same clients through a partition that cuts one node of three off
// (a network namespace) and heals: while it is away the other two take
// its keys, and when it comes back it serves none of its older values.
func TestNoStaleReadsThroughAPartition(t *testing.T) {
	tc, ns, _ := partitionCluster(t, churnPlacement()...)
	a, b := ns.hostIPs[0], ns.hostIPs[1]
	step := churnStep()
	all := []string{"pa", "pb", "pc"}
	ld := startChurn(t, a+":11211", step, []string{a, b, ns.nsIP})
	time.Sleep(step)
	ns.cut()
	ld.members(2, "pc cut off")
	time.Sleep(step)
	ns.heal()
	tc.waitStatus(all, "pc", "alive", joinWithin)
	ld.members(3, "pc is back")
	time.Sleep(step)
	ld.finish(hotKeys(t, tc))
}

// churnStep is the pause between the membership changes of a churn test:
// SLABCACHED_CHURN_SECONDS, 3 s by default.
func churnStep() time.Duration {
	if v, err := strconv.Atoi(os.Getenv("SLABCACHED_CHURN_SECONDS")); err == nil && v > 0 {
		return time.Duration(v) * time.Second
	}
	return 3 * time.Second
}

// churnPlacement is the nodes' --cluster-placement for the churn tests:
// SLABCACHED_CHURN_PLACEMENT, the default (ketama) when it is not set.
func churnPlacement() []string {
	if p := os.Getenv("SLABCACHED_CHURN_PLACEMENT"); p != "" {
		return []string{"--cluster-placement", p}
	}
	return nil
}

// churnLoad is four goroutines writing, deleting and reading keys of
// their own through two Go clients of the cluster, one polling every
// 100 ms and one every two thirds of step (late to each change); a third
// of the requests go to four keys each, and in two of the goroutines
// (one per client) one in 2,000 flushes the goroutine's namespace
// (flush_prefix), after which none of its keys may read a value from
// before.
type churnLoad struct {
	t                         *testing.T
	cl, late                  *client.Client
	ips                       []string // the nodes' hosts, port 11211
	stop                      atomic.Bool
	wg                        sync.WaitGroup
	hits, misses, errs, stale atomic.Int64
	flushes                   atomic.Int64
	mu                        sync.Mutex
	report                    []string
}

func startChurn(t *testing.T, endpoint string, step time.Duration, ips []string) *churnLoad {
	t.Helper()
	ld := &churnLoad{t: t, ips: ips}
	var err error
	if ld.cl, err = client.New(client.Config{Endpoints: []string{endpoint}, PollInterval: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ld.cl.Close() })
	if ld.late, err = client.New(client.Config{Endpoints: []string{endpoint}, PollInterval: 2 * step / 3}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ld.late.Close() })
	for w := range 4 {
		cl := ld.cl
		if w%2 == 1 {
			cl = ld.late
		}
		ld.wg.Go(func() { ld.run(w, cl) })
	}
	return ld
}

// run is one goroutine of the load, on keys churn:<w>:<i>.
func (ld *churnLoad) run(w int, cl *client.Client) {
	r := rand.New(rand.NewPCG(uint64(w), 3))
	// last: the version each key holds (-1 deleted); a key whose write or
	// delete failed is unknown until the next one succeeds.
	last := map[string]int{}
	// how: how the last write or delete of each key went (for a report).
	how := map[string]string{}
	who := "prompt"
	if cl == ld.late {
		who = "late"
	}
	wrote := func(k, what string) {
		how[k] = fmt.Sprintf("%s by the %s client at %s to %s", what, who, time.Now().Format("15:04:05.000"), cl.Owner(k))
	}
	for ver := 1; !ld.stop.Load(); ver++ {
		i := r.IntN(400)
		if r.IntN(3) == 0 {
			i = r.IntN(4) // hot: copied to other nodes, which serve reads of it
		}
		k := fmt.Sprintf("churn:%d:%d", w, i)
		if w < 2 && r.IntN(2000) == 0 {
			// The namespace of all the goroutine's keys, flushed on
			// every node before the reply.
			err := cl.FlushPrefix(fmt.Sprintf("churn:%d:", w))
			for j := range 400 {
				if k := fmt.Sprintf("churn:%d:%d", w, j); err != nil {
					delete(last, k)
				} else {
					last[k] = -1
				}
			}
			if err != nil {
				ld.errs.Add(1)
			} else {
				ld.flushes.Add(1)
			}
			continue
		}
		switch x := r.IntN(10); {
		case x < 4:
			if err := cl.Set(&client.Item{Key: k, Value: []byte(k + "=" + strconv.Itoa(ver))}); err != nil {
				ld.errs.Add(1)
				delete(last, k)
				continue
			}
			last[k] = ver
			wrote(k, "set "+strconv.Itoa(ver))
		case x < 5:
			if err := cl.Delete(k); err != nil && !errors.Is(err, client.ErrCacheMiss) {
				ld.errs.Add(1)
				delete(last, k)
				continue
			}
			last[k] = -1
			wrote(k, "deleted")
		default:
			it, err := cl.Get(k)
			switch {
			case errors.Is(err, client.ErrCacheMiss):
				ld.misses.Add(1)
				continue
			case err != nil:
				ld.errs.Add(1)
				continue
			}
			ld.hits.Add(1)
			got, ok := strings.CutPrefix(string(it.Value), k+"=")
			v, err := strconv.Atoi(got)
			if want, known := last[k]; !ok || err != nil || known && v != want {
				ld.stale.Add(1)
				ld.mu.Lock()
				if len(ld.report) < 10 {
					ld.report = append(ld.report, fmt.Sprintf("%s: read %q by the %s client at %s, last %s (-1: deleted); ring owner %s, listed hot on %v; on each node:%s",
						k, it.Value, who, time.Now().Format("15:04:05.000"), how[k], cl.Owner(k), cl.HotKeys()[k], ld.keyOnNodes(k)))
				}
				ld.mu.Unlock()
			}
		}
	}
}

// members waits until the prompt client sees n members, and logs when.
func (ld *churnLoad) members(n int, what string) {
	ld.t.Helper()
	for deadline := time.Now().Add(joinWithin); len(ld.cl.View().Members) != n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			ld.t.Fatalf("%s: the client sees %d members, want %d", what, len(ld.cl.View().Members), n)
		}
	}
	ld.t.Logf("%s at %s", what, time.Now().Format("15:04:05.000"))
}

// finish stops the load and fails the test on any stale read.
func (ld *churnLoad) finish(hot int) {
	t := ld.t
	t.Helper()
	ld.stop.Store(true)
	ld.wg.Wait()
	t.Logf("%d hits, %d misses, %d namespace flushes, %d errors; %d keys hot at the end", ld.hits.Load(), ld.misses.Load(), ld.flushes.Load(), ld.errs.Load(), hot)
	for _, r := range ld.report {
		t.Error(r)
	}
	if ld.stale.Load() != 0 {
		t.Fatalf("%d reads of a value older than the last write or delete", ld.stale.Load())
	}
	if ld.hits.Load() == 0 {
		t.Fatal("no read hit")
	}
}

// keyOnNodes describes what each node holds for key.
func (ld *churnLoad) keyOnNodes(key string) string {
	var b strings.Builder
	for _, ip := range ld.ips {
		nc, err := net.DialTimeout("tcp", ip+":11211", 100*time.Millisecond)
		if err != nil {
			fmt.Fprintf(&b, " %s down;", ip)
			continue
		}
		nc.SetDeadline(time.Now().Add(200 * time.Millisecond))
		// The item (with its CAS) and the node's list of the hot key's
		// copies, if it owns it; a read through mg removes nothing a
		// client could read.
		fmt.Fprintf(nc, "mg %s v t c\r\nconfig get hotkeys\r\n", key)
		buf := make([]byte, 4096)
		n := 0
		for n < len(buf) && !strings.HasSuffix(string(buf[:n]), "END\r\n") {
			m, err := nc.Read(buf[n:])
			n += m
			if err != nil {
				break
			}
		}
		nc.Close()
		item, cfg, _ := strings.Cut(string(buf[:n]), "CONFIG")
		var hot string
		for _, l := range strings.Split(cfg, "\n") {
			if strings.HasPrefix(l, key+" ") {
				hot = " hot " + strings.TrimSpace(l)
			}
		}
		fmt.Fprintf(&b, " %s %q%s;", ip, item, hot)
	}
	return b.String()
}

// hotKeys counts the keys the running nodes list as hot.
func hotKeys(t *testing.T, tc *testCluster) int {
	n := 0
	for _, node := range tc.nodes {
		if c, err := net.DialTimeout("tcp", node.addr(), time.Second); err == nil {
			c.Close()
			for _, st := range mctest.Stats(t, node.addr(), "hotkeys") {
				if strings.HasPrefix(st.Name, "hotkey:") && strings.HasSuffix(st.Name, ":key") {
					n++
				}
			}
		}
	}
	return n
}

// Two regions, each caching the same keys, through a crash and return
// and a join in the second: after DeleteEverywhere on the first region
// has answered, no read in the second returns a value from before it
// (the application then reloads the key into both).
func TestNoStaleReadsAcrossRegions(t *testing.T) {
	tc, ip := newTestCluster(t, 151, 5)
	step := churnStep()
	join := "--cluster-join=" + ip(0) + ":7946"
	region := func(r string) []string { return []string{"--cluster-region", r} }
	tc.start("ra1", ip(0), region("A")...)
	tc.start("ra2", ip(1), append(region("A"), join)...)
	tc.start("rb1", ip(2), append(region("B"), join)...)
	tc.start("rb2", ip(3), append(region("B"), join)...)
	four := []string{"ra1", "ra2", "rb1", "rb2"}
	for _, n := range four {
		tc.waitStatus(four, n, "alive", joinWithin)
	}
	newClient := func(endpoint string) *client.Client {
		cl, err := client.New(client.Config{Endpoints: []string{endpoint}, PollInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		return cl
	}
	clA, clB := newClient(ip(0)+":11211"), newClient(ip(2)+":11211")
	var stop atomic.Bool
	var hits, misses, deletes, errs, stale atomic.Int64
	var mu sync.Mutex
	var report []string
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 5))
			// floor: a value of the key older than this version was
			// deleted everywhere; unknown while a delete is pending.
			floor := map[string]int{}
			for ver := 1; !stop.Load(); ver++ {
				k := fmt.Sprintf("region:%d:%d", w, r.IntN(200))
				v := []byte(k + "=" + strconv.Itoa(ver))
				switch x := r.IntN(10); {
				case x < 3: // the database changed: both regions cache the new value
					if clA.Set(&client.Item{Key: k, Value: v}) != nil || clB.Set(&client.Item{Key: k, Value: v}) != nil {
						errs.Add(1)
					}
				case x < 4:
					if err := clA.DeleteEverywhere(k); err != nil && !errors.Is(err, client.ErrCacheMiss) {
						errs.Add(1)
						delete(floor, k)
						continue
					}
					deletes.Add(1)
					floor[k] = ver
				default:
					it, err := clB.Get(k)
					switch {
					case errors.Is(err, client.ErrCacheMiss):
						misses.Add(1)
						continue
					case err != nil:
						errs.Add(1)
						continue
					}
					hits.Add(1)
					got, _ := strings.CutPrefix(string(it.Value), k+"=")
					n, err := strconv.Atoi(got)
					if f, known := floor[k]; err != nil || known && n < f {
						stale.Add(1)
						mu.Lock()
						if len(report) < 10 {
							report = append(report, fmt.Sprintf("%s: region B read %q after it was deleted everywhere at version %d (%s)", k, it.Value, f, time.Now().Format("15:04:05.000")))
						}
						mu.Unlock()
					}
				}
			}
		})
	}
	time.Sleep(step)
	rb2 := tc.nodes["rb2"]
	rb2.cmd.Process.Kill()
	<-rb2.done
	rb2.done <- nil
	tc.waitStatus([]string{"ra1", "rb1"}, "rb2", "failed", joinWithin)
	time.Sleep(step)
	tc.start("rb2", ip(3), append(region("B"), join)...)
	tc.waitStatus(four, "rb2", "alive", joinWithin)
	time.Sleep(step)
	tc.start("rb3", ip(4), append(region("B"), join)...)
	tc.waitStatus(append(four, "rb3"), "rb3", "alive", joinWithin)
	time.Sleep(step)
	stop.Store(true)
	wg.Wait()
	t.Logf("region B: %d hits, %d misses; %d deletes everywhere, %d failed requests", hits.Load(), misses.Load(), deletes.Load(), errs.Load())
	for _, r := range report {
		t.Error(r)
	}
	if stale.Load() != 0 {
		t.Fatalf("%d reads in region B of a value deleted everywhere", stale.Load())
	}
	if hits.Load() == 0 || deletes.Load() == 0 {
		t.Fatal("the load did nothing")
	}
}
