package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
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

// Through a join, a graceful leave, a crash and the crashed node's
// return, clients that write, read and delete keys without pause never
// read a value older than the one they last stored or one they deleted:
// a miss is the most a membership change may cost, also to a client that
// learns of each change seconds late. A third of the requests go to a few
// keys, which turn hot: other nodes hold copies of them and serve their
// reads. Each client writes keys of its own, so it knows which version
// each must hold.
//
// SLABCACHED_CHURN_SECONDS=N waits N seconds between the changes
// (default 3).
func TestNoStaleReadsThroughMembershipChanges(t *testing.T) {
	tc, ip := newTestCluster(t, 141, 4)
	step := 3 * time.Second
	if v, err := strconv.Atoi(os.Getenv("SLABCACHED_CHURN_SECONDS")); err == nil && v > 0 {
		step = time.Duration(v) * time.Second
	}
	join := "--cluster-join=" + ip(0) + ":7946"
	tc.start("c1", ip(0))
	tc.start("c2", ip(1), join)
	tc.start("c3", ip(2), join)
	three := []string{"c1", "c2", "c3"}
	for _, n := range three {
		tc.waitStatus(three, n, "alive", joinWithin)
	}
	cl, err := client.New(client.Config{Endpoints: []string{ip(0) + ":11211"}, PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Half of the clients learn of each change seconds late, and meanwhile
	// write to a key's previous owner.
	late, err := client.New(client.Config{Endpoints: []string{ip(0) + ":11211"}, PollInterval: 2 * step / 3})
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()

	var (
		stop                      atomic.Bool
		hits, misses, errs, stale atomic.Int64
		wg                        sync.WaitGroup
		mu                        sync.Mutex
		report                    []string
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := cl
			if w%2 == 1 {
				cl = late
			}
			r := rand.New(rand.NewPCG(uint64(w), 3))
			// last: the version each key holds (-1 deleted); a key
			// whose write or delete failed is unknown until the next
			// one succeeds.
			last := map[string]int{}
			for ver := 1; !stop.Load(); ver++ {
				i := r.IntN(400)
				if r.IntN(3) == 0 {
					i = r.IntN(4) // hot: copied to other nodes, which serve reads of it
				}
				k := fmt.Sprintf("churn:%d:%d", w, i)
				switch x := r.IntN(10); {
				case x < 4:
					err := cl.Set(&client.Item{Key: k, Value: []byte(k + "=" + strconv.Itoa(ver))})
					if err != nil {
						errs.Add(1)
						delete(last, k)
						continue
					}
					last[k] = ver
				case x < 5:
					err := cl.Delete(k)
					if err != nil && !errors.Is(err, client.ErrCacheMiss) {
						errs.Add(1)
						delete(last, k)
						continue
					}
					last[k] = -1
				default:
					it, err := cl.Get(k)
					switch {
					case errors.Is(err, client.ErrCacheMiss):
						misses.Add(1)
						continue
					case err != nil:
						errs.Add(1)
						continue
					}
					hits.Add(1)
					got, ok := strings.CutPrefix(string(it.Value), k+"=")
					v, err := strconv.Atoi(got)
					want, known := last[k]
					if !ok || err != nil || known && v != want {
						stale.Add(1)
						mu.Lock()
						if len(report) < 10 {
							report = append(report, fmt.Sprintf("%s: read %q, last stored %d (-1: deleted) at %s; ring owner %s, listed hot on %v; on each node:%s",
								k, it.Value, want, time.Now().Format("15:04:05.000"), cl.Owner(k), cl.HotKeys()[k], keyOnNodes(k, ip)))
						}
						mu.Unlock()
					}
				}
			}
		}()
	}
	all := []string{"c1", "c2", "c3", "c4"}
	members := func(n int, what string) {
		t.Helper()
		for deadline := time.Now().Add(joinWithin); len(cl.View().Members) != n; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the client sees %d members, want %d", what, len(cl.View().Members), n)
			}
		}
		t.Logf("%s at %s", what, time.Now().Format("15:04:05.000"))
	}
	time.Sleep(step)
	tc.start("c4", ip(3), join)
	tc.waitStatus(all, "c4", "alive", joinWithin)
	members(4, "c4 joined")
	time.Sleep(step)
	c2 := tc.nodes["c2"]
	c2.cmd.Process.Signal(syscall.SIGTERM)
	members(3, "c2 leaves")
	if err := <-c2.done; err != nil {
		t.Fatalf("c2 exit: %v", err)
	}
	c2.done <- nil
	time.Sleep(step)
	c3 := tc.nodes["c3"]
	c3.cmd.Process.Kill()
	<-c3.done
	c3.done <- nil
	members(2, "c3 crashed")
	time.Sleep(step)
	tc.start("c3", ip(2), join)
	members(3, "c3 is back")
	time.Sleep(step)
	hot := hotKeys(t, tc)
	stop.Store(true)
	wg.Wait()
	t.Logf("%d hits, %d misses, %d errors; %d keys hot at the end", hits.Load(), misses.Load(), errs.Load(), hot)
	for _, r := range report {
		t.Error(r)
	}
	if stale.Load() != 0 {
		t.Fatalf("%d reads of a value older than the last write or delete", stale.Load())
	}
	if hits.Load() == 0 {
		t.Fatal("no read hit")
	}
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

// keyOnNodes describes what each node of the test cluster holds for key.
func keyOnNodes(key string, ip func(int) string) string {
	var b strings.Builder
	for i := range 4 {
		nc, err := net.DialTimeout("tcp", ip(i)+":11211", 100*time.Millisecond)
		if err != nil {
			fmt.Fprintf(&b, " %s down;", ip(i))
			continue
		}
		nc.SetDeadline(time.Now().Add(200 * time.Millisecond))
		fmt.Fprintf(nc, "mg %s v t\r\n", key)
		buf := make([]byte, 256)
		n, _ := nc.Read(buf)
		nc.Close()
		fmt.Fprintf(&b, " %s %q;", ip(i), buf[:n])
	}
	return b.String()
}
