package server

import (
	"bufio"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/testenv"
)

// watchScript exercises every command that looks an item up, stores or
// deletes: memcached logs each lookup as an item_get line (storage, incr,
// touch and delete included), each store with the item as stored (an
// append's combined length and time to live) and each deletion.
var watchScript = []string{
	"set b 0 0 1\r\n1\r\n",
	"set b 0 0 2\r\n22\r\n",
	"add b 0 0 1\r\n3\r\n",
	"add c 0 0 1\r\n3\r\n",
	"replace d 0 0 1\r\n3\r\n",
	"replace c 0 0 1\r\n4\r\n",
	"append c 0 0 1\r\n5\r\n",
	"prepend e 0 0 1\r\n5\r\n",
	"cas c 0 0 1 999\r\n6\r\n",
	"cas e 0 0 1 999\r\n6\r\n",
	"gets c\r\n",
	"incr c 1\r\n",
	"incr zz 1\r\n",
	"decr c 1\r\n",
	"touch c 1000\r\n",
	"touch zz 1000\r\n",
	"gat 1000 c zz\r\n",
	"delete c\r\n",
	"delete c\r\n",
	"mg b v\r\n",
	"mg nn v N30\r\n",
	"mg nn v\r\n",
	"ms m 1\r\nx\r\n",
	"ms m 1 MA\r\nx\r\n",
	"ms q 1 MA\r\nx\r\n",
	"ms q 1 MA N1000\r\nx\r\n",
	"ms cz 1 C5\r\nx\r\n",
	"ms q 1 MR C5\r\nx\r\n",
	"ms q 1 MA C5\r\nx\r\n",
	"ms q 1 MP C5 N500 T20\r\nx\r\n", // exists: the line has N's ttl, not T's
	"ms q 1 MA C5 T20\r\nx\r\n",
	"md m\r\n",
	"md m\r\n",
	"md b I\r\n",
	"ma ct\r\n",
	"ma ct N30\r\n",
	"ma ct\r\n",
	"me b\r\n",
	"set t 0 1000 1\r\n1\r\n",
	"set t2 0 -1 1\r\n1\r\n",
	"append t 0 0 1\r\n1\r\n",
	"prepend t2 0 0 1\r\n1\r\n",
	"md t x\r\n",
	"set tx 0 0 1\r\n1\r\n",
	"md tx x I T30\r\n",
	"md t I\r\n",
	"md t\r\n",
	"flush_all\r\n",
	"get b\r\n",
	"get watch-end\r\n",
}

var watchVolatile = regexp.MustCompile(`^ts=\S+ gid=\d+ | cfd=\d+`)

// runWatchScript runs watchScript on addr with a watcher attached and returns
// the watcher's lines without their timestamps, ids and descriptors.
func runWatchScript(t *testing.T, addr string) []string {
	t.Helper()
	w, rw := dialT(t, addr)
	w.Write([]byte("watch fetchers mutations deletions\r\n"))
	expectLine(t, rw, "OK\r\n")
	c, rc := dialT(t, addr)
	for _, cmd := range watchScript {
		c.Write([]byte(cmd + "mn\r\n"))
		for {
			line, err := rc.ReadString('\n')
			if err != nil {
				t.Fatalf("%q: %v", cmd, err)
			}
			if line == "MN\r\n" {
				break
			}
		}
	}
	var lines []string
	for {
		line, err := rw.ReadString('\n')
		if err != nil {
			t.Fatalf("watcher: %v after %q", err, lines)
		}
		line = watchVolatile.ReplaceAllString(strings.TrimSuffix(line, "\n"), "")
		lines = append(lines, line)
		if strings.Contains(line, "key=watch-end") {
			return lines
		}
	}
}

// sameWatchLine compares two normalised watch lines, allowing the ttl of
// a store to differ by the second that may tick between the servers' runs,
// an expired item's ttl (memcached prints a wrapped negative number that
// depends on its uptime) to be any such number, and a lookup of an expired
// item to find it expired or already gone (either server's background
// crawler may reclaim it first).
func sameWatchLine(a, b string) bool {
	a = strings.Replace(a, " status=expired ", " status=not_found ", 1)
	b = strings.Replace(b, " status=expired ", " status=not_found ", 1)
	ttl := regexp.MustCompile(` ttl=(\d+)`)
	ma, mb := ttl.FindStringSubmatch(a), ttl.FindStringSubmatch(b)
	if ma == nil || mb == nil {
		return a == b
	}
	if ttl.ReplaceAllString(a, "") != ttl.ReplaceAllString(b, "") {
		return false
	}
	x, _ := strconv.ParseUint(ma[1], 10, 32)
	y, _ := strconv.ParseUint(mb[1], 10, 32)
	if x > 1<<31 && y > 1<<31 {
		return true
	}
	return x == y || x == y+1 || y == x+1
}

// TestWatchLinesMatchMemcached runs the same commands on memcached and on
// slabcached, each with a watcher of fetchers, mutations and deletions, and
// compares what the watchers see, line by line.
func TestWatchLinesMatchMemcached(t *testing.T) {
	ref := testenv.StartReference(t)
	srv := startTestServer(t, nil)
	want := runWatchScript(t, ref)
	got := runWatchScript(t, srv.Addr())
	for _, i := range watchMismatches(want, got) {
		t.Errorf("line %d:\n memcached  %s\n slabcached %s", i+1, lineAt(want, i), lineAt(got, i))
	}
}

// watchMismatches returns the indexes of the lines of two watchers that
// are not the same (sameWatchLine), a missing line counting as "".
func watchMismatches(want, got []string) []int {
	var bad []int
	for i := range max(len(want), len(got)) {
		if !sameWatchLine(lineAt(want, i), lineAt(got, i)) {
			bad = append(bad, i)
		}
	}
	return bad
}

// lineAt returns lines[i], or "" past the end.
func lineAt(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return ""
}

// `watch connevents` logs every connection opened and closed, with the
// reason of the close, in memcached's format.
func TestWatchConnEvents(t *testing.T) {
	srv := startTestServer(t, nil)
	w, rw := dialT(t, srv.Addr())
	w.Write([]byte("watch connevents\r\n"))
	expectLine(t, rw, "OK\r\n")
	newRE := regexp.MustCompile(`^ts=\d+\.\d+ gid=\d+ type=conn_new rip=127\.0\.0\.1 rport=\d+ transport=tcp cfd=\d+\n$`)
	closeRE := regexp.MustCompile(`^ts=\d+\.\d+ gid=\d+ type=conn_close rip=127\.0\.0\.1 rport=\d+ transport=tcp reason=(\w+) cfd=\d+\n$`)
	for _, c := range []struct {
		send, reason string
		reset        bool // the client resets the connection after its reply
	}{
		{"quit\r\n", "normal", false}, {"GET / HTTP/1.1\r\n", "error", false},
		{"version\r\n", "error", true},
	} {
		nc, rc := dialT(t, srv.Addr())
		nc.Write([]byte(c.send))
		if c.reset {
			if _, err := rc.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			nc.(*net.TCPConn).SetLinger(0)
			nc.Close()
		}
		if line, err := rw.ReadString('\n'); err != nil || !newRE.MatchString(line) {
			t.Fatalf("%q: %q %v, want conn_new", c.send, line, err)
		}
		line, err := rw.ReadString('\n')
		if m := closeRE.FindStringSubmatch(line); err != nil || m == nil || m[1] != c.reason {
			t.Fatalf("%q: %q %v, want conn_close reason=%s", c.send, line, err, c.reason)
		}
	}
}

// A watcher that does not keep up loses lines beyond watcher_logbuf_size
// and is told how many with "skipped=N" before the next line it gets; the
// counts show in stats.
func TestWatchSkipsWhenBehind(t *testing.T) {
	_, rw, nc, rb := floodWatcher(t)
	skipped := false
	for n := 0; n < 100000 && !skipped; n++ {
		if n%100 == 0 {
			nc.Write([]byte("get x\r\n"))
			expectLine(t, rb, "END\r\n")
		}
		line, err := rw.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		skipped = strings.HasPrefix(line, "skipped=")
	}
	if !skipped {
		t.Fatal("no skipped= line")
	}
	nc.Write([]byte("stats\r\n"))
	for {
		line, _ := rb.ReadString('\n')
		if line == "END\r\n" {
			t.Fatal("no log_watcher_skipped")
		}
		if strings.HasPrefix(line, "STAT log_watcher_skipped ") {
			if line == "STAT log_watcher_skipped 0\r\n" {
				t.Fatalf("%q", line)
			}
			break
		}
	}
}

// A watcher that dropped lines is told how many once its output has room
// again, even when no new line comes to carry the notice: memcached's
// t/watcher.t reads until it sees "skipped=" and only now and then causes
// a new line, and would wait forever if the notice waited for one.
func TestWatchAnnouncesSkippedWithoutNewLines(t *testing.T) {
	w, rw, _, _ := floodWatcher(t)
	w.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		line, err := rw.ReadString('\n')
		if err != nil {
			t.Fatalf("no skipped= line once the watcher had read everything: %v", err)
		}
		if strings.HasPrefix(line, "skipped=") {
			return
		}
	}
}

// floodWatcher starts a server whose watchers may hold 8 KiB, attaches a
// fetchers watcher (w, rw) and sends 40,000 gets from another connection
// (nc, rb) without reading the watcher: its socket buffers fill, then lines
// are skipped.
func floodWatcher(t *testing.T) (w net.Conn, rw *bufio.Reader, nc net.Conn, rb *bufio.Reader) {
	srv := startTestServer(t, func(s *Settings) { s.WatcherLogbufSize = 8 << 10 })
	w, rw = dialT(t, srv.Addr())
	w.Write([]byte("watch fetchers\r\n"))
	expectLine(t, rw, "OK\r\n")
	nc, rb = dialT(t, srv.Addr())
	// The 40,000 round trips take about 6 s here, more when the machine
	// is busy: with the watcher's reads after them, more than dialT's
	// 10 s allow.
	nc.SetDeadline(time.Now().Add(time.Minute))
	w.SetDeadline(time.Now().Add(time.Minute))
	key := strings.Repeat("k", 200)
	for i := 0; i < 40000; i++ {
		nc.Write([]byte("get " + key + strconv.Itoa(i) + "\r\n"))
		expectLine(t, rb, "END\r\n")
	}
	return w, rw, nc, rb
}

// `watch sysevents` shows the automover's page moves as memcached's
// slab_move lines. As memcached's, the automover gives a class's spare
// pages back to the global pool only once all the memory is in use and
// the class has neither evicted nor grown for slab_automove_window looks:
// free chunks after deletes in a cache that is not full stay where they
// are. With memcached 1.6.45 at hand the same steps run there too, and
// the moves and the pages left must be the same.
func TestWatchSysEventsSlabMoves(t *testing.T) {
	srv := startTestServer(t, func(s *Settings) {
		s.MaxBytes = 8 << 20
		s.SlabAutomoveWindow = 3
	})
	want := slabMoveSteps(t, srv.Addr())
	if len(want.moves) == 0 {
		t.Fatalf("no slab_move after deleting everything in a full cache; %s", want.pages)
	}
	for _, m := range want.moves {
		if m != "type=slab_move src=12 dst=0 state=ok" {
			t.Fatalf("slab_move line %q", m)
		}
	}
	if want.pagesBefore != "6" {
		t.Errorf("a cache that is not full gave pages back: class 12 has %s pages after its deletes, want 6", want.pagesBefore)
	}
	if testenv.FindReference() != "" {
		mc := slabMoveSteps(t, testenv.StartReference(t, "-m", "8", "-o", "slab_automove_window=3"))
		if fmt.Sprint(mc) != fmt.Sprint(want) {
			t.Errorf("memcached: %+v\nslabcached: %+v", mc, want)
		}
	}
}

type slabMoves struct {
	pagesBefore string   // class 12's pages after deletes in a cache not yet full
	moves       []string // slab_move lines after deletes in a full one
	pages       string   // class 12's pages then
}

// slabMoveSteps stores 1000-byte values (class 12) in an 8 MiB cache and
// deletes them, first before the cache is full and then after, and
// returns what a sysevents watcher saw and the pages class 12 kept.
func slabMoveSteps(t *testing.T, addr string) slabMoves {
	t.Helper()
	w, wr := dialT(t, addr)
	w.Write([]byte("watch sysevents\r\n"))
	expectLine(t, wr, "OK\r\n")
	nc, rc := dialT(t, addr)
	nc.SetDeadline(time.Now().Add(60 * time.Second))
	value := strings.Repeat("x", 1000)
	store := func(from, to int, verb string) {
		var b strings.Builder
		for i := from; i < to; i++ {
			if verb == "set" {
				fmt.Fprintf(&b, "set k%d 0 0 1000 noreply\r\n%s\r\n", i, value)
			} else {
				fmt.Fprintf(&b, "delete k%d noreply\r\n", i)
			}
		}
		b.WriteString("mn\r\n")
		nc.Write([]byte(b.String()))
		expectLine(t, rc, "MN\r\n")
	}
	pages := func() string {
		nc.Write([]byte("stats slabs\r\n"))
		return readStats(t, rc)["12:total_pages"]
	}
	var got slabMoves
	store(0, 5000, "set") // 6 of the 8 pages
	store(0, 5000, "delete")
	time.Sleep(4500 * time.Millisecond) // more than the window of looks
	got.pagesBefore = pages()
	store(0, 12000, "set") // full: evictions
	store(0, 12000, "delete")
	// The moves come once the window is clean, a second apart at most.
	w.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		if len(got.moves) > 0 {
			w.SetReadDeadline(time.Now().Add(3 * time.Second))
		}
		line, err := wr.ReadString('\n')
		if err != nil {
			break
		}
		if i := strings.Index(line, " type=slab_move "); i >= 0 {
			got.moves = append(got.moves, strings.TrimSpace(line[i+1:]))
		}
	}
	got.pages = pages()
	return got
}

// `watch sysevents` shows the crawler's schedule as memcached's
// lru_crawler lines: after the first autocrawl, at the start, every class
// and LRU (255 of them) is scheduled a minute and 5 seconds later, having
// seen nothing. With memcached 1.6.45 at hand its lines must be the same
// (since_run is 1 there; here 1, or 2 when the server started late in a
// second).
func TestWatchSysEventsCrawlerSchedule(t *testing.T) {
	lines := func(addr string) []string {
		w, wr := dialT(t, addr)
		w.Write([]byte("watch sysevents\r\n"))
		expectLine(t, wr, "OK\r\n")
		var got []string
		w.SetReadDeadline(time.Now().Add(5 * time.Second))
		for len(got) < 255 {
			line, err := wr.ReadString('\n')
			if err != nil {
				t.Fatalf("after %d lru_crawler lines: %v", len(got), err)
			}
			if i := strings.Index(line, " type=lru_crawler "); i >= 0 {
				got = append(got, strings.Replace(strings.TrimSpace(line[i+1:]), " since_run=2 ", " since_run=1 ", 1))
			}
		}
		return got
	}
	got := lines(startTestServer(t, nil).Addr())
	for i, l := range got {
		id := i + 1
		want := fmt.Sprintf("type=lru_crawler crawler=%d lru=%s low_mark=1 next_reclaims=0 since_run=1 next_run=65 elapsed=0 examined=0 reclaimed=0",
			id&63, [...]string{"hot", "warm", "cold", "temp"}[id>>6])
		if l != want {
			t.Fatalf("line %d:\n got  %s\n want %s", i+1, l, want)
		}
	}
	if testenv.FindReference() != "" {
		mc := lines(testenv.StartReference(t))
		if strings.Join(mc, "\n") != strings.Join(got, "\n") {
			t.Errorf("memcached's lines differ:\n%s", strings.Join(mc[:3], "\n"))
		}
	}
}
