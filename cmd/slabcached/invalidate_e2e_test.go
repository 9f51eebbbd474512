package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
	return lineOver(t, nc, addr, req, timeout)
}

// lineOver writes req on nc, returns the first reply line and closes nc.
func lineOver(t *testing.T, nc net.Conn, addr, req string, timeout time.Duration) string {
	t.Helper()
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
	tc, ip := newTestCluster(t, 81, 5)
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
		tc.waitStatus(names, n, "alive", joinWithin)
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
	tc.waitStatus(names, "f5", "alive", joinWithin)
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

// statValue reads one `stats` field.
func statValue(t *testing.T, addr, name string) int64 {
	t.Helper()
	for _, line := range strings.Split(talk(t, addr, "stats\r\n", "END\r\n"), "\r\n") {
		if v, ok := strings.CutPrefix(line, "STAT "+name+" "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("stats %s: %q", name, v)
			}
			return n
		}
	}
	return -1
}

// fillNamespace stores n items prefix0 .. prefix(n-1) with pipelined sets.
func fillNamespace(t *testing.T, addr, prefix string, n int) {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "set %s%d 0 0 10 noreply\r\n0123456789\r\n", prefix, i)
		if b.Len() > 1<<20 || i == n-1 {
			talk(t, addr, b.String()+"mn\r\n", "MN\r\n")
			b.Reset()
		}
	}
}

// countNamespace returns how many of prefix0 .. prefix(n-1) a multi-get
// returns.
func countNamespace(t *testing.T, addr, prefix string, n int) int {
	t.Helper()
	found := 0
	for i := 0; i < n; i += 500 {
		var b strings.Builder
		b.WriteString("get")
		for j := i; j < min(i+500, n); j++ {
			fmt.Fprintf(&b, " %s%d", prefix, j)
		}
		found += strings.Count(talk(t, addr, b.String()+"\r\n", "END\r\n"), "VALUE ")
	}
	return found
}

// flush_prefix on a namespace of many items answers in the time it takes
// on a namespace of one (the figures are logged: the machine decides the
// times, not this test), serves none of them afterwards, leaves other
// namespaces alone, and the crawler reclaims the memory in the background.
// SLABCACHED_FLUSH_ITEMS sets the size of the large namespace (default
// 100,000; docs/invalidation.md quotes 1,000,000).
func TestFlushPrefixLargeNamespace(t *testing.T) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("SLABCACHED_FLUSH_ITEMS")); err == nil && v > 0 {
		n = v
	}
	p := startPlain(t, buildBinary(t), "-m", "1024")
	const large = 3
	for i := range large {
		fillNamespace(t, p.addr, fmt.Sprintf("big%d:", i), n)
	}
	fillNamespace(t, p.addr, "small:", 1)
	fillNamespace(t, p.addr, "other:", 1000)
	nc, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	flush := func(prefix string) time.Duration {
		start := time.Now()
		fmt.Fprintf(nc, "flush_prefix %s\r\n", prefix)
		line, err := br.ReadString('\n')
		d := time.Since(start)
		if err != nil || line != "OK\r\n" {
			t.Fatalf("flush_prefix %s: %q %v", prefix, line, err)
		}
		return d
	}
	// Flushes of the one-item namespace and of the large ones, in turn;
	// the medians are compared.
	bytesBefore := statValue(t, p.addr, "bytes")
	var small, big []time.Duration
	var flushed time.Time
	for i := range large {
		small = append(small, flush("small:"))
		big = append(big, flush(fmt.Sprintf("big%d:", i)))
		flushed = time.Now()
	}
	small = append(small, flush("small:"))
	slices.Sort(small)
	slices.Sort(big)
	t.Logf("flush_prefix of %d items: %v (median of %d); of 1 item: %v (median of %d); ratio %.2f",
		n, big[len(big)/2], len(big), small[len(small)/2], len(small), float64(big[len(big)/2])/float64(small[len(small)/2]))
	// At once: none served (a sample: reads reclaim what they find, and
	// the crawler's share is measured next).
	for i := range large {
		if got := countNamespace(t, p.addr, fmt.Sprintf("big%d:", i), min(n, 2000)); got != 0 {
			t.Fatalf("%d flushed items still served", got)
		}
	}
	// Reclaimed in the background by the crawler.
	for statValue(t, p.addr, "curr_items") > 1001 {
		if time.Since(flushed) > 60*time.Second {
			t.Fatalf("curr_items %d a minute after the flush", statValue(t, p.addr, "curr_items"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("bytes %d before the flushes, %d %v after the last (%d items reclaimed by the crawler)", bytesBefore,
		statValue(t, p.addr, "bytes"), time.Since(flushed).Round(time.Millisecond), statValue(t, p.addr, "crawler_reclaimed"))
	// The prefixes leave the table once a crawler pass has covered them.
	for statValue(t, p.addr, "flush_prefix_pending") != 0 {
		if time.Since(flushed) > 60*time.Second {
			t.Fatalf("flush_prefix_pending %d a minute after the flush", statValue(t, p.addr, "flush_prefix_pending"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("flush_prefix_pending 0 %v after the last flush", time.Since(flushed).Round(time.Millisecond))
	for i := range large {
		if got := countNamespace(t, p.addr, fmt.Sprintf("big%d:", i), n); got != 0 {
			t.Fatalf("%d of %d flushed items served", got, n)
		}
	}
	if got := countNamespace(t, p.addr, "other:", 1000); got != 1000 {
		t.Fatalf("%d of 1000 items of another namespace served", got)
	}
}

// A graceful stop with prefixes still awaiting the crawler (here: the
// crawler is off) reclaims their items before saving, so a warm restart
// never serves them.
func TestFlushPrefixSurvivesWarmRestart(t *testing.T) {
	bin := buildBinary(t)
	file := filepath.Join(t.TempDir(), "slabcached.mem")
	p := startWithMemoryFile(t, bin, file, "-o", "no_lru_crawler")
	fillNamespace(t, p.addr, "gone:", 2000)
	fillNamespace(t, p.addr, "kept:", 2000)
	if got := talk(t, p.addr, "flush_prefix gone:\r\n", "\r\n"); got != "OK\r\n" {
		t.Fatalf("flush_prefix: %q", got)
	}
	if got := statValue(t, p.addr, "curr_items"); got != 4000 {
		t.Fatalf("curr_items %d before the stop: the crawler was meant to be off", got)
	}
	p.cmd.Process.Signal(syscall.SIGUSR1)
	if err := p.wait(t); err != nil {
		t.Fatalf("SIGUSR1: %v", err)
	}
	p = startWithMemoryFile(t, bin, file)
	if got := countNamespace(t, p.addr, "gone:", 2000); got != 0 {
		t.Fatalf("%d flushed items served after the warm restart", got)
	}
	if got := countNamespace(t, p.addr, "kept:", 2000); got != 2000 {
		t.Fatalf("%d of 2000 other items served after the warm restart", got)
	}
	if got := statValue(t, p.addr, "curr_items"); got != 2000 {
		t.Fatalf("curr_items %d after the restart, want 2000", got)
	}
}

// Two regions of three nodes in one gossip cluster: each region is a
// cluster of its own for clients (config get cluster lists its members
// only), and a namespace flush made in one region reaches the other before
// it is acknowledged. With region B stopped for 5 s while region A keeps
// flushing, B applies every flush it missed once it runs again; relays
// received twice change nothing.
func TestFlushPrefixAcrossRegions(t *testing.T) {
	tc, ip := newTestCluster(t, 91, 6)
	var names, regionA, regionB []string
	for i := 0; i < 6; i++ {
		region, name := "A", fmt.Sprintf("a%d", i+1)
		if i >= 3 {
			region, name = "B", fmt.Sprintf("b%d", i-2)
		}
		// Without warm-up: for warmup_secs after each join a delete of a
		// key that moved away from a node would also be forwarded to the
		// key's new owner, and the deletes below are sent to nodes that
		// may not own their keys.
		extra := []string{"--cluster-region", region, "-o", "warmup_secs=0"}
		if region == "B" {
			extra = append(extra, "-o", "invalidation_broadcast")
		}
		if i > 0 {
			extra = append(extra, "--cluster-join", ip(0)+":7946")
		}
		tc.start(name, ip(i), extra...)
		names = append(names, name)
		if region == "A" {
			regionA = append(regionA, name)
		} else {
			regionB = append(regionB, name)
		}
	}
	for _, n := range names {
		tc.waitStatus(names, n, "alive", joinWithin)
	}
	// Clients of a region see that region only.
	for _, n := range names {
		cfg := talk(t, tc.nodes[n].addr(), "config get cluster\r\n", "END\r\n")
		own, other := regionA, regionB
		if n[0] == 'b' {
			own, other = regionB, regionA
		}
		for _, m := range own {
			if !strings.Contains(cfg, tc.nodes[m].ip+"|") {
				t.Fatalf("%s: config get cluster lacks %s of its region:\n%s", n, m, cfg)
			}
		}
		for _, m := range other {
			if strings.Contains(cfg, tc.nodes[m].ip+"|") {
				t.Fatalf("%s: config get cluster lists %s of the other region:\n%s", n, m, cfg)
			}
		}
	}
	// An item no flush or delete covers, of a key each node owns on its
	// region's ring: a node that briefly owned another's keys (region B
	// is stopped below, and its members may see each other fail) gives
	// those keys up again, and its older copies of them with them
	// (docs/cluster.md, "Keys a node gave up").
	keep := map[string]string{}
	for _, region := range [][]string{regionA, regionB} {
		var addrs []string
		for _, n := range region {
			addrs = append(addrs, tc.nodes[n].addr())
		}
		r := ringOf(t, addrs)
		for i, n := range region {
			for j := 0; keep[n] == ""; j++ {
				if k := fmt.Sprintf("keep:%d", j); r.Owner([]byte(k)) == i {
					keep[n] = k
				}
			}
		}
	}
	fill := func(prefix string, count int) {
		for _, n := range names {
			var b strings.Builder
			for i := range count {
				for j := range 5 {
					fmt.Fprintf(&b, "set %s%d:%d 0 0 1 noreply\r\nx\r\n", prefix, i, j)
				}
			}
			talk(t, tc.nodes[n].addr(), b.String()+"set "+keep[n]+" 0 0 1 noreply\r\nk\r\nmn\r\n", "MN\r\n")
		}
	}
	served := func(node, prefix string, count int) int {
		n := 0
		for i := range count {
			for j := range 5 {
				if rawGet(t, tc.nodes[node].addr(), fmt.Sprintf("%s%d:%d", prefix, i, j)) != "" {
					n++
				}
			}
		}
		return n
	}
	// Latency: a flush sent to a node of region A answers once all six
	// apply it; then region B serves none of its items.
	const flushes = 100
	fill("lat", flushes)
	var lat []time.Duration
	for i := range flushes {
		at := tc.nodes[regionA[i%3]].addr()
		start := time.Now()
		if got := sendLine(t, at, fmt.Sprintf("flush_prefix lat%d:\r\n", i), 5*time.Second); got != "OK\r\n" {
			t.Fatalf("flush_prefix lat%d: %q", i, got)
		}
		lat = append(lat, time.Since(start))
		if n := served(regionB[i%3], fmt.Sprintf("lat%d:", i), 1); n != 0 {
			t.Fatalf("%s serves %d items of lat%d: after OK", regionB[i%3], n, i)
		}
	}
	slices.Sort(lat)
	t.Logf("flush_prefix in region A, applied in both regions: p50 %v, p99 %v, max %v (%d flushes)",
		lat[flushes/2], lat[flushes*99/100], lat[flushes-1], flushes)
	// Deletes: md G in region A, and a plain delete in region B (started
	// with -o invalidation_broadcast), reach the other region; a plain
	// delete in region A does not.
	for _, n := range names {
		talk(t, tc.nodes[n].addr(), "set d1 0 0 1 noreply\r\nx\r\nset d2 0 0 1 noreply\r\nx\r\nset d3 0 0 1 noreply\r\nx\r\nmn\r\n", "MN\r\n")
	}
	if got := sendLine(t, tc.nodes["a1"].addr(), "md d1 G\r\n", 5*time.Second); got != "HD\r\n" {
		t.Fatalf("md d1 G: %q", got)
	}
	if got := sendLine(t, tc.nodes["b2"].addr(), "delete d2\r\n", 5*time.Second); got != "DELETED\r\n" {
		t.Fatalf("delete d2 in region B: %q", got)
	}
	if got := sendLine(t, tc.nodes["a2"].addr(), "delete d3\r\n", 5*time.Second); got != "DELETED\r\n" {
		t.Fatalf("delete d3 in region A: %q", got)
	}
	// The Go client's DeleteEverywhere, from region B.
	for _, n := range names {
		talk(t, tc.nodes[n].addr(), "set d4 0 0 1 noreply\r\nx\r\nmn\r\n", "MN\r\n")
	}
	cl, err := client.New(client.Config{Endpoints: []string{tc.nodes["b1"].addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.DeleteEverywhere("d4"); err != nil {
		t.Fatalf("DeleteEverywhere: %v", err)
	}
	owner := cl.Owner("d4")
	for _, n := range names {
		want := "x"
		if n[0] == 'a' || tc.nodes[n].addr() == owner {
			want = ""
		}
		if got := rawGet(t, tc.nodes[n].addr(), "d4"); got != want {
			t.Errorf("after DeleteEverywhere: %s: d4 = %q, want %q", n, got, want)
		}
	}
	// Within a region a delete acts on the node it is sent to (a client
	// sends it to the key's owner); the other region gets it on every node.
	gone := map[string][]string{
		"d1": {"a1", "b1", "b2", "b3"}, // md G on a1
		"d2": {"b2", "a1", "a2", "a3"}, // delete on b2, broadcast on
		"d3": {"a2"},                   // delete on a2, broadcast off
	}
	for k, where := range gone {
		for _, n := range names {
			want := "x"
			if slices.Contains(where, n) {
				want = ""
			}
			if got := rawGet(t, tc.nodes[n].addr(), k); got != want {
				t.Errorf("%s: %s = %q, want %q", n, k, got, want)
			}
		}
	}
	// Region B stops for 5 s while region A flushes 20 namespaces and
	// deletes 20 keys everywhere.
	const parted = 20
	fill("part", parted)
	for _, n := range names {
		var b strings.Builder
		for i := range parted {
			fmt.Fprintf(&b, "set pd%d 0 0 1 noreply\r\nx\r\n", i)
		}
		talk(t, tc.nodes[n].addr(), b.String()+"mn\r\n", "MN\r\n")
	}
	for _, n := range regionB {
		tc.nodes[n].cmd.Process.Signal(syscall.SIGSTOP)
	}
	stopped := time.Now()
	pending := 0
	for i := range parted {
		got := sendLine(t, tc.nodes[regionA[i%3]].addr(), fmt.Sprintf("flush_prefix part%d:\r\n", i), 10*time.Second)
		switch {
		case got == "OK\r\n":
		case strings.HasPrefix(got, "SERVER_ERROR flush_prefix pending on "):
			pending++
		default:
			t.Fatalf("flush_prefix part%d with region B stopped: %q", i, got)
		}
		got = sendLine(t, tc.nodes[regionA[i%3]].addr(), fmt.Sprintf("md pd%d G\r\n", i), 10*time.Second)
		if !strings.HasPrefix(got, "SERVER_ERROR delete pending on ") {
			t.Fatalf("md pd%d G with region B stopped: %q", i, got)
		}
		time.Sleep(time.Until(stopped.Add(time.Duration(i+1) * 5 * time.Second / parted)))
	}
	for _, n := range regionA {
		if c := served(n, "part", parted); c != 0 {
			t.Fatalf("%s serves %d flushed items", n, c)
		}
	}
	for _, n := range regionB {
		tc.nodes[n].cmd.Process.Signal(syscall.SIGCONT)
	}
	resumed := time.Now()
	deletedServed := func(n string) (c int) {
		for i := range parted {
			if rawGet(t, tc.nodes[n].addr(), fmt.Sprintf("pd%d", i)) != "" {
				c++
			}
		}
		return c
	}
	for _, n := range regionB {
		// Flushes may arrive first (any member's log has them: a catch-up);
		// each delete comes from the node that took it, in its order.
		for served(n, "part", parted)+deletedServed(n) != 0 {
			if time.Since(resumed) > 20*time.Second {
				t.Fatalf("%s still serves %d flushed items and %d deleted keys 20 s after region B came back",
					n, served(n, "part", parted), deletedServed(n))
			}
			time.Sleep(50 * time.Millisecond)
		}
		if rawGet(t, tc.nodes[n].addr(), keep[n]) != "k" {
			t.Fatalf("%s lost an item no flush covered", n)
		}
	}
	t.Logf("region B stopped %v; %d of %d flushes answered pending; every flush and delete applied in B %v after it came back",
		resumed.Sub(stopped).Round(time.Millisecond), pending, parted, time.Since(resumed).Round(time.Millisecond))
	var dups, gaps int64
	for _, n := range regionB {
		dups += statValue(t, tc.nodes[n].addr(), "invalidation_relay_duplicates")
		gaps += statValue(t, tc.nodes[n].addr(), "invalidation_relay_gaps")
	}
	t.Logf("region B: %d duplicate relays acknowledged without effect, %d gaps", dups, gaps)
	if gaps != 0 {
		t.Errorf("%d gaps: a relay was lost and region B flushed everything", gaps)
	}
}

// A member that missed a flush catches up from another member's log when
// it comes back, even though the node that accepted the flush (and held
// the backlog for it) is gone; and a member restarted warm (-e) with its
// items catches up on what was flushed while it was down.
func TestFlushPrefixCatchUpAfterOriginDies(t *testing.T) {
	tc, ip := newTestCluster(t, 101, 3)
	names := []string{"c1", "c2", "c3"}
	memFile := filepath.Join(tc.dir, "c3.mem")
	c3args := []string{"--cluster-join", ip(1) + ":7946", "-e", memFile, "-o", "drain_secs=0"}
	for i, n := range names[:2] {
		var extra []string
		if i > 0 {
			extra = []string{"--cluster-join", ip(0) + ":7946"}
		}
		tc.start(n, ip(i), extra...)
	}
	tc.start("c3", ip(2), c3args...)
	for _, n := range names {
		tc.waitStatus(names, n, "alive", joinWithin)
	}
	for _, n := range names {
		fillNamespace(t, tc.nodes[n].addr(), "lost:", 100)
		fillNamespace(t, tc.nodes[n].addr(), "kept:", 100)
	}
	c3 := tc.nodes["c3"]
	c3.cmd.Process.Signal(syscall.SIGSTOP)
	tc.waitStatus([]string{"c1", "c2"}, "c3", "failed", 15*time.Second)
	if got := sendLine(t, tc.nodes["c1"].addr(), "flush_prefix lost:\r\n", 5*time.Second); got != "SERVER_ERROR flush_prefix pending on "+c3.addr()+"\r\n" {
		t.Fatalf("flush with c3 stopped: %q", got)
	}
	// The origin dies with its backlog for c3.
	tc.nodes["c1"].cmd.Process.Kill()
	c3.cmd.Process.Signal(syscall.SIGCONT)
	start := time.Now()
	for countNamespace(t, c3.addr(), "lost:", 100) != 0 {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("c3 still serves the flushed namespace 20 s after it came back:\n%s\nc2:\n%s", c3.log, tc.nodes["c2"].log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("c3 caught up %v after it came back (invalidation_caught_up %d)", time.Since(start).Round(time.Millisecond),
		statValue(t, c3.addr(), "invalidation_caught_up"))
	if got := countNamespace(t, c3.addr(), "kept:", 100); got != 100 {
		t.Fatalf("c3 serves %d of 100 items of a namespace nobody flushed", got)
	}
	// c3 stops gracefully keeping its items (SIGUSR1, memory file), a
	// namespace is flushed meanwhile, c3 starts again with its items: c2
	// sees it come back and catches it up.
	fillNamespace(t, c3.addr(), "warm:", 100)
	c3.cmd.Process.Signal(syscall.SIGUSR1)
	select {
	case err := <-c3.done:
		c3.done <- err
	case <-time.After(20 * time.Second):
		t.Fatal("c3 did not stop on SIGUSR1")
	}
	tc.waitStatus([]string{"c2"}, "c3", "left", 15*time.Second)
	// Answered pending on c1 only (killed above): c3 left, nobody waits
	// for it.
	if got := sendLine(t, tc.nodes["c2"].addr(), "flush_prefix warm:\r\n", 5*time.Second); got != "SERVER_ERROR flush_prefix pending on "+tc.nodes["c1"].addr()+"\r\n" {
		t.Fatalf("flush with c3 gone: %q", got)
	}
	c3 = tc.start("c3", ip(2), c3args...)
	if got := statValue(t, c3.addr(), "curr_items"); got < 100 {
		t.Fatalf("c3 restarted warm with %d items", got)
	}
	start = time.Now()
	for countNamespace(t, c3.addr(), "warm:", 100) != 0 {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("c3 restarted warm still serves the namespace flushed while it was down; c3 caught up %d; c2:\n%s", statValue(t, c3.addr(), "invalidation_caught_up"), tc.nodes["c2"].log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("c3, restarted warm, caught up %v after it started", time.Since(start).Round(time.Millisecond))
	if got := countNamespace(t, c3.addr(), "kept:", 100); got != 100 {
		t.Fatalf("c3 restarted warm serves %d of 100 items of a namespace nobody flushed", got)
	}
}
