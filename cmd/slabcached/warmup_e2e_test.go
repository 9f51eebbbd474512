package main

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slabcache/slabcache/cluster/client"
)

// A fourth node joins three that hold 2,000 keys: with warm-up the keys
// that moved to it are filled from their previous owners on first read
// (no miss through the client); keys deleted on the new owner stay
// deleted; with warmup_secs=0 the moved keys miss. With
// --cluster-placement=ketama-md5 the client follows the placement the
// nodes advertise, and the nodes warm up the keys that moved on that ring.
func TestWarmupOnJoin(t *testing.T) {
	if testing.Short() {
		t.Skip("starts twelve slabcached processes")
	}
	for _, tc := range []struct {
		name      string
		base      int
		warmup    string
		placement string
		misses    func(moved, got int) bool
	}{
		{"warm-up", 71, "60", "", func(moved, got int) bool { return got == 0 }},
		{"off", 75, "0", "", func(moved, got int) bool { return got == moved }},
		{"ketama-md5", 86, "60", "ketama-md5", func(moved, got int) bool { return got == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i < 4; i++ {
				if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:11211", tc.base+i)); err != nil {
					t.Skipf("127.0.0.%d:11211 is not free: %v", tc.base+i, err)
				} else {
					l.Close()
				}
			}
			tc2 := &testCluster{t: t, bin: buildBinary(t), dir: t.TempDir(), nodes: map[string]*testNode{}}
			ip := func(i int) string { return fmt.Sprintf("127.0.0.%d", tc.base+i) }
			opts := []string{"-o", "warmup_secs=" + tc.warmup}
			if tc.placement != "" {
				opts = append(opts, "--cluster-placement", tc.placement)
			}
			tc2.start("w1", ip(0), opts...)
			tc2.start("w2", ip(1), append(opts, "--cluster-join", ip(0)+":7946")...)
			tc2.start("w3", ip(2), append(opts, "--cluster-join", ip(0)+":7946")...)
			three := []string{"w1", "w2", "w3"}
			for _, n := range three {
				tc2.waitStatus(three, n, "alive", joinWithin)
			}
			cl, err := client.New(client.Config{Endpoints: []string{ip(0) + ":11211"}, PollInterval: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if want := cmp.Or(tc.placement, "ketama"); cl.Placement().String() != want {
				t.Fatalf("the client routes by %s, want %s", cl.Placement(), want)
			}
			const n = 2000
			for i := range n {
				if err := cl.Set(&client.Item{Key: fmt.Sprintf("user:%d", i), Value: []byte(fmt.Sprintf("v%d", i))}); err != nil {
					t.Fatal(err)
				}
			}
			tc2.start("w4", ip(3), append(opts, "--cluster-join", ip(0)+":7946")...)
			all := append(three, "w4")
			tc2.waitStatus(all, "w4", "alive", joinWithin)
			for len(cl.View().Members) != 4 {
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond) // the new node's warm-up starts at its next tick
			newAddr := ip(3) + ":11211"
			moved, misses := 0, 0
			var deleted []string
			for i := range n {
				k := fmt.Sprintf("user:%d", i)
				if cl.Owner(k) != newAddr {
					continue
				}
				moved++
				if moved%10 == 0 {
					// Deleted on the new owner before any read: must stay gone.
					if err := cl.Delete(k); err != nil && !errors.Is(err, client.ErrCacheMiss) {
						t.Fatal(err)
					}
					deleted = append(deleted, k)
					continue
				}
				it, err := cl.Get(k)
				switch {
				case errors.Is(err, client.ErrCacheMiss):
					misses++
				case err != nil:
					t.Fatal(err)
				case string(it.Value) != fmt.Sprintf("v%d", i):
					t.Fatalf("%s: %q", k, it.Value)
				}
			}
			moved -= len(deleted)
			t.Logf("%d of %d keys moved to the new node; %d missed", moved, n, misses)
			if moved < n/8 || !tc.misses(moved, misses) {
				t.Fatalf("%d keys moved, %d missed", moved, misses)
			}
			for _, k := range deleted {
				if _, err := cl.Get(k); !errors.Is(err, client.ErrCacheMiss) {
					t.Fatalf("%s, deleted on the new owner, reads %v", k, err)
				}
			}
			if tc.warmup == "0" || tc.placement != "" {
				return
			}
			// A graceful leave: w2 leaves, serves on while the others
			// fill its keys from it, then stops.
			leaving := ip(1) + ":11211"
			var its []string
			for i := range n {
				if k := fmt.Sprintf("user:%d", i); cl.Owner(k) == leaving {
					its = append(its, k)
				}
			}
			w2 := tc2.nodes["w2"]
			w2.cmd.Process.Signal(syscall.SIGTERM)
			for cl.View().Members != nil && len(cl.View().Members) != 3 {
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond)
			lost := 0
			for _, k := range its {
				if _, err := cl.Get(k); errors.Is(err, client.ErrCacheMiss) {
					lost++
				} else if err != nil {
					t.Fatalf("%s after w2 left: %v", k, err)
				}
			}
			t.Logf("w2 left: %d of its %d keys missed afterwards", lost, len(its))
			if lost != 0 {
				t.Fatalf("%d of %d keys of the node that left were lost", lost, len(its))
			}
			select {
			case err := <-w2.done:
				w2.done <- err
				t.Fatalf("w2 stopped before the others could fill from it: %v", err)
			default:
			}
			start := time.Now()
			err = <-w2.done
			w2.done <- err
			if err != nil {
				t.Fatalf("w2 exit: %v\n%s", err, w2.log)
			}
			t.Logf("w2 stopped %v after the reads ended", time.Since(start).Round(10*time.Millisecond))
		})
	}
}

// After a join, the previous owners push the items whose keys moved to the
// new node without waiting for reads; keys deleted on the new node before
// the push arrives stay deleted.
func TestHandoverPushOnJoin(t *testing.T) {
	tc, ip := newTestCluster(t, 111, 4)
	tc.start("h1", ip(0))
	tc.start("h2", ip(1), "--cluster-join", ip(0)+":7946")
	tc.start("h3", ip(2), "--cluster-join", ip(0)+":7946")
	three := []string{"h1", "h2", "h3"}
	for _, n := range three {
		tc.waitStatus(three, n, "alive", joinWithin)
	}
	cl, err := client.New(client.Config{Endpoints: []string{ip(0) + ":11211"}, PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 3000
	for i := range n {
		if err := cl.Set(&client.Item{Key: fmt.Sprintf("item:%d", i), Value: []byte(fmt.Sprintf("v%d", i)), Expiration: 3600}); err != nil {
			t.Fatal(err)
		}
	}
	tc.start("h4", ip(3), "--cluster-join", ip(0)+":7946")
	all := append(three, "h4")
	tc.waitStatus(all, "h4", "alive", joinWithin)
	for len(cl.View().Members) != 4 {
		time.Sleep(20 * time.Millisecond)
	}
	newAddr := ip(3) + ":11211"
	var moved, deleted []string
	for i := range n {
		if k := fmt.Sprintf("item:%d", i); cl.Owner(k) == newAddr {
			moved = append(moved, k)
		}
	}
	// Deleted on the new owner at once (the push starts a second after
	// the change): must stay gone.
	for i, k := range moved {
		if i%10 == 0 {
			if err := cl.Delete(k); err != nil && !errors.Is(err, client.ErrCacheMiss) {
				t.Fatal(err)
			}
			deleted = append(deleted, k)
		}
	}
	start := time.Now()
	want := int64(len(moved) - len(deleted))
	for statValue(t, newAddr, "curr_items") < want {
		if time.Since(start) > 15*time.Second {
			t.Fatalf("the new node holds %d items 15 s after joining, %d moved to it (without reads)", statValue(t, newAddr, "curr_items"), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var pushed int64
	for _, name := range three {
		pushed += warmStat(t, tc.nodes[name].addr(), "warmup_pushed")
	}
	t.Logf("%d keys moved to the new node; it held them all %v after joining, unread (%d pushed)", len(moved), time.Since(start).Round(time.Millisecond), pushed)
	for _, k := range deleted {
		if v := rawGet(t, newAddr, k); v != "" {
			t.Fatalf("%s, deleted on the new owner before the push, reads %q", k, v)
		}
	}
	for _, k := range moved[1:20] {
		if rawGet(t, newAddr, k) == "" && !slices.Contains(deleted, k) {
			t.Fatalf("%s was not pushed", k)
		}
	}
	// h2 leaves gracefully: it pushes its items to the nodes that take
	// its keys over, without any read.
	leaving := ip(1) + ":11211"
	var its []string
	for i := range n {
		if k := fmt.Sprintf("item:%d", i); cl.Owner(k) == leaving {
			its = append(its, k)
		}
	}
	tc.nodes["h2"].cmd.Process.Signal(syscall.SIGTERM)
	for len(cl.View().Members) != 3 {
		time.Sleep(20 * time.Millisecond)
	}
	start = time.Now()
	for {
		missing := 0
		for _, k := range its {
			// me: a read that does not fill from the previous owner.
			if talk(t, cl.Owner(k), "me "+k+"\r\n", "\r\n") == "EN\r\n" {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("%d of h2's %d keys are on no node 15 s after it left (without reads)", missing, len(its))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// (h2 may be gone by now: its push done and no reads, it stops.)
	t.Logf("h2 left: its %d keys were on their new owners %v after, unread", len(its), time.Since(start).Round(time.Millisecond))
}

// warmStat reads one number of `stats warmup`.
func warmStat(t *testing.T, addr, name string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(warmWord(t, addr, name), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// warmWord reads one field of `stats warmup` ("" when absent).
func warmWord(t *testing.T, addr, name string) string {
	t.Helper()
	for _, line := range strings.Split(talk(t, addr, "stats warmup\r\n", "END\r\n"), "\r\n") {
		if v, ok := strings.CutPrefix(line, "STAT "+name+" "); ok {
			return v
		}
	}
	return ""
}
