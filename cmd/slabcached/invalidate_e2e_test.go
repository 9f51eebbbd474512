package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slabcache/slabcache/cluster/client"
)

// send writes req to addr on a new connection and returns the first reply
// line.
func sendLine(t *testing.T, addr, req string, timeout time.Duration) string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(timeout))
	if _, err := nc.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(nc).ReadString('\n')
	if err != nil {
		t.Fatalf("%q to %s: %v", req, addr, err)
	}
	return line
}

// countPresent returns how many of keys addr serves.
func countPresent(t *testing.T, addr string, keys []string) int {
	t.Helper()
	n := 0
	for _, k := range keys {
		if rawGet(t, addr, k) != "" {
			n++
		}
	}
	return n
}

// A flush_prefix sent to one node of five leaves no item of the namespace
// readable on any of them when it answers OK; a node that cannot be
// reached during a flush is named in the reply and, once it answers again,
// serves none of the namespace's items either.
func TestFlushPrefixAcrossCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five slabcached processes")
	}
	const base = 81
	ip := func(i int) string { return fmt.Sprintf("127.0.0.%d", base+i) }
	for i := 0; i < 5; i++ {
		if l, err := net.Listen("tcp", ip(i)+":11211"); err != nil {
			t.Skipf("%s:11211 is not free: %v", ip(i), err)
		} else {
			l.Close()
		}
	}
	tc := &testCluster{t: t, bin: buildBinary(t), dir: t.TempDir(), nodes: map[string]*testNode{}}
	var names []string
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("f%d", i+1)
		var extra []string
		if i > 0 {
			extra = []string{"--cluster-join", ip(0) + ":7946"}
		}
		tc.start(name, ip(i), extra...)
		names = append(names, name)
	}
	for _, n := range names {
		tc.waitStatus(names, n, "alive", 15*time.Second)
	}
	// Every node holds items of three namespaces.
	keys := func(ns string) []string {
		var ks []string
		for i := range 50 {
			ks = append(ks, fmt.Sprintf("%s%d", ns, i))
		}
		return ks
	}
	for _, n := range names {
		addr := tc.nodes[n].addr()
		var b strings.Builder
		for _, ns := range []string{"tenant:1:", "tenant:2:", "tenant:10:"} {
			for _, k := range keys(ns) {
				fmt.Fprintf(&b, "set %s 0 0 1 noreply\r\nx\r\n", k)
			}
		}
		if got := sendLine(t, addr, b.String()+"mn\r\n", 5*time.Second); got != "MN\r\n" {
			t.Fatalf("filling %s: %q", n, got)
		}
	}
	if got := sendLine(t, tc.nodes["f1"].addr(), "flush_prefix tenant:1:\r\n", 5*time.Second); got != "OK\r\n" {
		t.Fatalf("flush_prefix: %q", got)
	}
	for _, n := range names {
		addr := tc.nodes[n].addr()
		if got := countPresent(t, addr, keys("tenant:1:")); got != 0 {
			t.Errorf("%s serves %d items of tenant:1: after OK", n, got)
		}
		if got := countPresent(t, addr, keys("tenant:10:")); got != 50 {
			t.Errorf("%s serves %d of 50 items of tenant:10:", n, got)
		}
	}
	// f5 stops answering (its memory kept): the next flush names it.
	f5 := tc.nodes["f5"]
	if err := f5.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	got := sendLine(t, tc.nodes["f2"].addr(), "flush_prefix tenant:2:\r\n", 10*time.Second)
	if got != "SERVER_ERROR flush_prefix pending on "+f5.addr()+"\r\n" {
		t.Fatalf("flush_prefix with f5 stopped: %q", got)
	}
	for _, n := range names[:4] {
		if got := countPresent(t, tc.nodes[n].addr(), keys("tenant:2:")); got != 0 {
			t.Errorf("%s serves %d items of tenant:2:", n, got)
		}
	}
	start := time.Now()
	if err := f5.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	for countPresent(t, f5.addr(), keys("tenant:2:")) != 0 {
		if time.Since(start) > 15*time.Second {
			t.Fatal("f5 still serves tenant:2: 15 s after it came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("f5 applied the missed flush %v after it came back", time.Since(start).Round(time.Millisecond))
	if got := countPresent(t, f5.addr(), keys("tenant:10:")); got != 50 {
		t.Errorf("f5 serves %d of 50 items of tenant:10:", got)
	}
	// The Go client's FlushPrefix, once every member answers again.
	tc.waitStatus(names, "f5", "alive", 15*time.Second)
	cl, err := client.New(client.Config{Endpoints: []string{tc.nodes["f3"].addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.FlushPrefix("tenant:10:"); err != nil {
		t.Fatalf("client FlushPrefix: %v", err)
	}
	for _, n := range names {
		if got := countPresent(t, tc.nodes[n].addr(), keys("tenant:10:")); got != 0 {
			t.Errorf("%s serves %d items of tenant:10: after the client's flush", n, got)
		}
	}
	var se *client.ServerError
	if err := cl.FlushPrefix("tenant:10"); !errors.As(err, &se) || !strings.Contains(err.Error(), "bad command line format") {
		t.Errorf("FlushPrefix without the delimiter: %v", err)
	}
}
