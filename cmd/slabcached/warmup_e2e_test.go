package main

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/slabcache/slabcache/cluster/client"
)

// A fourth node joins three that hold 2,000 keys: with warm-up the keys
// that moved to it are filled from their previous owners on first read
// (no miss through the client); keys deleted on the new owner stay
// deleted; with warmup_secs=0 the moved keys miss.
func TestWarmupOnJoin(t *testing.T) {
	if testing.Short() {
		t.Skip("starts eight slabcached processes")
	}
	for _, tc := range []struct {
		name   string
		base   int
		warmup string
		misses func(moved, got int) bool
	}{
		{"warm-up", 71, "60", func(moved, got int) bool { return got == 0 }},
		{"off", 75, "0", func(moved, got int) bool { return got == moved }},
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
			tc2.start("w1", ip(0), opts...)
			tc2.start("w2", ip(1), append(opts, "--cluster-join", ip(0)+":7946")...)
			tc2.start("w3", ip(2), append(opts, "--cluster-join", ip(0)+":7946")...)
			three := []string{"w1", "w2", "w3"}
			for _, n := range three {
				tc2.waitStatus(three, n, "alive", 10*time.Second)
			}
			cl, err := client.New(client.Config{Endpoints: []string{ip(0) + ":11211"}, PollInterval: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			const n = 2000
			for i := range n {
				if err := cl.Set(&client.Item{Key: fmt.Sprintf("user:%d", i), Value: []byte(fmt.Sprintf("v%d", i))}); err != nil {
					t.Fatal(err)
				}
			}
			tc2.start("w4", ip(3), append(opts, "--cluster-join", ip(0)+":7946")...)
			all := append(three, "w4")
			tc2.waitStatus(all, "w4", "alive", 10*time.Second)
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
			if tc.warmup == "0" {
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
