package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/testenv"
	"github.com/slabcache/slabcache/proto"
)

// statsReply sends cmd (a `stats` form) on a fresh connection and returns
// the reply.
func statsReply(t *testing.T, addr, cmd string) *proto.Reply {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	var rp proto.Reply
	if err := proto.NewConn(nc).Admin(&rp, false, proto.CmdStats, strings.Fields(cmd)[1:]...); err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return &rp
}

// statLines sends cmd and returns the STAT lines of the reply as
// name -> value, keeping the names as printed.
func statLines(t *testing.T, addr, cmd string) map[string]string {
	t.Helper()
	rp := statsReply(t, addr, cmd)
	out := map[string]string{}
	for _, st := range rp.Stats {
		if _, dup := out[string(st.Name)]; dup {
			t.Fatalf("%s: %s printed twice", cmd, st.Name)
		}
		if len(st.Value) == 0 || strings.Contains(string(st.Value), " ") {
			t.Fatalf("%s: line STAT %s %s is not STAT <name> <value>", cmd, st.Name, st.Value)
		}
		out[string(st.Name)] = string(st.Value)
	}
	return out
}

// send runs requests on a fresh connection and reads n reply lines.
func sendLines(t *testing.T, addr, req string, n int) []string {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(nc, req)
	br := bufio.NewReader(nc)
	var lines []string
	for range n {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", lines, err)
		}
		lines = append(lines, l)
	}
	return lines
}

// traffic is the same requests for memcached and slabcached: every class
// counter of `stats slabs` and `stats items` gets a reason to move.
const traffic = "set a 0 0 1\r\n1\r\nset big 0 0 300\r\n" +
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" +
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" +
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n" +
	"get a\r\nget a\r\ngets big\r\nincr a 1\r\ndecr a 1\r\ntouch a 100\r\ncas a 0 0 1 1\r\n2\r\n" +
	"set d 0 0 1\r\n1\r\ndelete d\r\n"

const trafficReplies = 17

// classless strips the class id or fd from "items:1:number" or "7:get_hits".
var classPart = regexp.MustCompile(`^(items:)?[0-9]+:`)

func classless(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[classPart.ReplaceAllString(k, "$1")] = v
	}
	return out
}

// Every field memcached prints in each `stats` form, slabcached prints too,
// with a value of the same type (integer, or seconds.microseconds for
// rusage); and the per-class counters the exporter needs move with traffic.
func TestStatsFormsHaveMemcachedsFields(t *testing.T) {
	mc := testenv.StartReference(t)
	srv := startTestServer(t, nil)
	for _, addr := range []string{mc, srv.Addr()} {
		sendLines(t, addr, traffic, trafficReplies)
	}
	number := regexp.MustCompile(`^-?[0-9]+$`)
	seconds := regexp.MustCompile(`^[0-9]+\.[0-9]{6}$`)
	for _, form := range []string{"stats", "stats items", "stats slabs", "stats settings", "stats conns"} {
		want := classless(statLines(t, mc, form))
		got := classless(statLines(t, srv.Addr(), form))
		for name, mv := range want {
			sv, ok := got[name]
			if !ok {
				t.Errorf("%s: slabcached lacks %s (memcached: %s)", form, name, mv)
				continue
			}
			switch {
			case number.MatchString(mv) && !number.MatchString(sv):
				t.Errorf("%s: %s = %q, memcached prints an integer (%s)", form, name, sv, mv)
			case seconds.MatchString(mv) && !seconds.MatchString(sv):
				t.Errorf("%s: %s = %q, memcached prints seconds.microseconds (%s)", form, name, sv, mv)
			}
		}
	}
	// The class counters carry the traffic: summed over classes they equal
	// memcached's, class layouts aside.
	sum := func(addr, form, field string) uint64 {
		var n uint64
		for k, v := range statLines(t, addr, form) {
			if strings.HasSuffix(k, ":"+field) {
				x, _ := strconv.ParseUint(v, 10, 64)
				n += x
			}
		}
		return n
	}
	for _, f := range []string{"get_hits", "cmd_set", "delete_hits", "incr_hits", "decr_hits", "cas_hits", "cas_badval", "touch_hits"} {
		m, s := sum(mc, "stats slabs", f), sum(srv.Addr(), "stats slabs", f)
		if m != s || s == 0 && f != "cas_hits" {
			t.Errorf("stats slabs %s: slabcached %d, memcached %d", f, s, m)
		}
	}
	if m, s := sum(mc, "stats items", "number"), sum(srv.Addr(), "stats items", "number"); m != s {
		t.Errorf("stats items number: slabcached %d, memcached %d", s, m)
	}
	var hs uint64
	for _, f := range []string{"hits_to_hot", "hits_to_warm", "hits_to_cold", "hits_to_temp"} {
		hs += sum(srv.Addr(), "stats items", f)
	}
	if hs != 3 { // get a, get a, gets big
		t.Errorf("stats items hits_to_*: %d hits, want 3", hs)
	}
	if got := statLines(t, srv.Addr(), "stats sizes"); got["sizes_status"] != "disabled" {
		t.Errorf("stats sizes: %v", got)
	}
}

// statNames returns the names of cmd's STAT lines in the order printed,
// class ids stripped.
func statNames(t *testing.T, addr, cmd string) []string {
	t.Helper()
	var names []string
	for _, st := range statsReply(t, addr, cmd).Stats {
		names = append(names, classPart.ReplaceAllString(string(st.Name), "$1"))
	}
	return names
}

// `stats` and `stats items` print exactly memcached's fields in memcached's
// order, with the LRU maintainer and without it (-o no_lru_maintainer,
// where memcached leaves out the segmented LRU's counters).
func TestStatsFieldsFollowTheMaintainer(t *testing.T) {
	for _, maint := range []bool{true, false} {
		t.Run(fmt.Sprintf("maintainer=%v", maint), func(t *testing.T) {
			var args []string
			if !maint {
				args = []string{"-o", "no_lru_maintainer"}
			}
			mc := testenv.StartReference(t, args...)
			srv := startTestServer(t, func(s *Settings) { s.LRUMaintainer, s.LRUSegmented = maint, maint })
			for _, addr := range []string{mc, srv.Addr()} {
				sendLines(t, addr, traffic, trafficReplies)
			}
			for _, form := range []string{"stats", "stats items"} {
				want, got := statNames(t, mc, form), statNames(t, srv.Addr(), form)
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("%s:\n memcached  %v\n slabcached %v", form, want, got)
				}
			}
		})
	}
}

// `stats conns` names the listening socket and every client connection
// with memcached's states.
func TestStatsConns(t *testing.T) {
	srv := startTestServer(t, nil)
	other, _ := dialT(t, srv.Addr())
	_ = other
	w, rw := dialT(t, srv.Addr())
	w.Write([]byte("watch\r\n"))
	expectLine(t, rw, "OK\r\n")
	st := statLines(t, srv.Addr(), "stats conns")
	states := map[string]int{}
	for k, v := range st {
		if strings.HasSuffix(k, ":state") {
			states[v]++
		}
		if strings.HasSuffix(k, ":addr") && !strings.HasPrefix(v, "tcp:127.0.0.1:") {
			t.Errorf("%s = %s", k, v)
		}
	}
	for k, v := range st {
		// The listening socket's idle time counts from its opening, as
		// in memcached (not from the clock's start, 62 s before).
		if strings.HasSuffix(k, ":state") && v == "conn_listening" {
			secs := st[strings.TrimSuffix(k, "state")+"secs_since_last_cmd"]
			if n, err := strconv.Atoi(secs); err != nil || n > 5 {
				t.Errorf("listening socket idle for %q seconds just after the start", secs)
			}
		}
	}
	want := map[string]int{"conn_listening": 1, "conn_watch": 1, "conn_parse_cmd": 1, "conn_new_cmd": 1}
	for s, n := range want {
		if states[s] != n {
			t.Errorf("stats conns: %d connections in %s, want %d (all: %v)", states[s], s, n, st)
		}
	}
}

// A watcher sees fetches and stores of other connections in memcached's
// log format, evictions when memory runs out, and nothing it did not ask for.
func TestWatch(t *testing.T) {
	srv := startTestServer(t, func(s *Settings) { s.MaxBytes = 2 << 20; s.SlabChunkMax = 512 << 10 })
	bad, rb := dialT(t, srv.Addr())
	bad.Write([]byte("watch bogus\r\n"))
	expectLine(t, rb, "ERROR\r\n") // memcached's reply
	fw, rf := dialT(t, srv.Addr())
	fw.Write([]byte("watch fetchers\r\n"))
	expectLine(t, rf, "OK\r\n")
	mw, rm := dialT(t, srv.Addr())
	mw.Write([]byte("watch mutations evictions\r\n"))
	expectLine(t, rm, "OK\r\n")
	sendLines(t, srv.Addr(), "set k:1 5 0 3\r\nabc\r\nget k:1 nope\r\nadd k:1 0 0 1\r\nx\r\n", 5)
	getRE := regexp.MustCompile(`^ts=[0-9]+\.[0-9]+ gid=[0-9]+ type=item_get key=(\S+) status=(found|not_found) clsid=[0-9]+ cfd=[0-9]+ size=([0-9]+)\n$`)
	// Each lookup is logged, a store's included, as memcached does.
	for _, want := range [][2]string{{"k%3A1", "not_found"}, {"k%3A1", "found"}, {"nope", "not_found"}, {"k%3A1", "found"}} {
		line, err := rf.ReadString('\n')
		m := getRE.FindStringSubmatch(line)
		if err != nil || m == nil || m[1] != want[0] || m[2] != want[1] {
			t.Fatalf("fetchers watcher: %q %v, want item_get key=%s status=%s", line, err, want[0], want[1])
		}
	}
	storeRE := regexp.MustCompile(`^ts=[0-9]+\.[0-9]+ gid=[0-9]+ type=item_store key=(\S+) status=(\S+) cmd=(\S+) ttl=-?[0-9]+ clsid=[0-9]+ cfd=[0-9]+ size=[0-9]+\n$`)
	for _, want := range [][3]string{{"k%3A1", "stored", "set"}, {"k%3A1", "not_stored", "add"}} {
		line, err := rm.ReadString('\n')
		m := storeRE.FindStringSubmatch(line)
		if err != nil || m == nil || m[1] != want[0] || m[2] != want[1] || m[3] != want[2] {
			t.Fatalf("mutations watcher: %q %v, want item_store key=%s status=%s cmd=%s", line, err, want[0], want[1], want[2])
		}
	}
	// Fill 2 MB of memory with 100 KB values: evictions follow.
	var fill strings.Builder
	val := strings.Repeat("v", 100<<10)
	for i := range 60 {
		fmt.Fprintf(&fill, "set fill%d 0 0 %d\r\n%s\r\n", i, len(val), val)
	}
	sendLines(t, srv.Addr(), fill.String(), 60)
	evRE := regexp.MustCompile(`^ts=[0-9]+\.[0-9]+ gid=[0-9]+ type=eviction key=fill[0-9]+ fetch=no ttl=-1 la=[0-9]+ clsid=[0-9]+ size=[0-9]+\n$`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mw.SetReadDeadline(deadline)
		line, err := rm.ReadString('\n')
		if err != nil {
			t.Fatalf("no eviction line: %v", err)
		}
		if strings.Contains(line, "type=eviction") {
			if !evRE.MatchString(line) {
				t.Fatalf("eviction line %q", line)
			}
			break
		}
		if !storeRE.MatchString(line) {
			t.Fatalf("mutations watcher got %q", line)
		}
	}
	// The fetchers watcher saw the stores' lookups only.
	for range 60 {
		if line, err := rf.ReadString('\n'); err != nil || !getRE.MatchString(line) {
			t.Fatalf("fetchers watcher got %q (%v), want an item_get line", line, err)
		}
	}
	fw.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if line, err := rf.ReadString('\n'); err == nil {
		t.Fatalf("fetchers watcher got %q", line)
	}
}

// metadump lists every live item with memcached's fields, filters by class,
// refuses a bad class; mgdump lists mg commands; a dump far larger than the
// output buffer arrives whole.
func TestMetadumpAndMgdump(t *testing.T) {
	srv := startTestServer(t, func(s *Settings) { s.MaxBytes = 128 << 20 })
	const n = 60000
	var req strings.Builder
	for i := range n {
		fmt.Fprintf(&req, "set key:%06d %d %d 1 noreply\r\nv\r\n", i, i%3, 1000*(i%2))
	}
	req.WriteString("get key:000001\r\n")
	sendLines(t, srv.Addr(), req.String(), 3)
	lineRE := regexp.MustCompile(`^key=key%3A([0-9]{6}) exp=(-1|[0-9]+) la=[0-9]+ cas=[0-9]+ fetch=(yes|no) cls=([0-9]+) size=([0-9]+) flags=[0-9]+ \n$`)
	mc, _ := dialT(t, srv.Addr())
	pc := proto.NewConn(mc)
	var rp proto.Reply
	// metadump: OK, one line per item, then END.
	metadump := func(classes string) [][]byte {
		t.Helper()
		if err := pc.Admin(&rp, true, proto.CmdLruCrawler, "metadump", classes); err != nil {
			t.Fatalf("metadump %s: %v", classes, err)
		}
		if len(rp.Lines) == 0 || string(rp.Lines[0]) != "OK" {
			t.Fatalf("metadump %s does not start with OK: %q", classes, rp.Lines[:min(len(rp.Lines), 2)])
		}
		return rp.Lines[1:]
	}
	seen := map[string]bool{}
	classes := map[string]bool{}
	for _, l := range metadump("all") {
		line := string(l) + "\n"
		m := lineRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("metadump line %q", line)
		}
		if seen[m[1]] {
			t.Fatalf("key:%s twice", m[1])
		}
		seen[m[1]] = true
		classes[m[4]] = true
		i, _ := strconv.Atoi(m[1])
		if (m[2] == "-1") != (i%2 == 0) || (m[3] == "yes") != (i == 1) {
			t.Fatalf("key:%s: %q", m[1], line)
		}
	}
	if len(seen) != n {
		t.Fatalf("metadump listed %d of %d items", len(seen), n)
	}
	for cls := range classes {
		for _, line := range metadump(cls) {
			if !strings.Contains(string(line), " cls="+cls+" ") {
				t.Fatalf("metadump %s listed %q", cls, line)
			}
		}
	}
	nc, br := dialT(t, srv.Addr())
	nc.Write([]byte("lru_crawler metadump 0\r\n"))
	expectLine(t, br, "BADCLASS invalid class id\r\n")
	nc.Write([]byte("lru_crawler metadump 1,x\r\n"))
	expectLine(t, br, "BADCLASS invalid class id\r\n")
	// Behind another reply of the same read, a dump does not start.
	nc.Write([]byte("version\r\nlru_crawler metadump all\r\n"))
	expectLine(t, br, "VERSION "+Version+"\r\n")
	expectLine(t, br, "ERROR cannot pipeline other commands before metadump\r\n")
	lines := mgdump(t, nc, br)
	for _, line := range lines {
		if !strings.HasPrefix(line, "mg key:") || !strings.HasSuffix(line, "\r\n") {
			t.Fatalf("mgdump line %q", line)
		}
	}
	if len(lines) != n {
		t.Fatalf("mgdump listed %d of %d items", len(lines), n)
	}
}

// mgdump runs `lru_crawler mgdump all` on nc and returns its lines between
// OK and EN.
func mgdump(t *testing.T, nc net.Conn, br *bufio.Reader) []string {
	t.Helper()
	nc.Write([]byte("lru_crawler mgdump all\r\n"))
	expectLine(t, br, "OK\r\n")
	var lines []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "EN\r\n" {
			return lines
		}
		lines = append(lines, line)
	}
}

// -p -1: each listener gets a port from the system, Addr names the first,
// and `stats conns` shows every listening socket with its bound port.
func TestPortZeroListensOnChosenPorts(t *testing.T) {
	srv := startTestServer(t, func(s *Settings) { s.Port = -1; s.Listen = "127.0.0.1,127.0.0.2" })
	host, port, err := net.SplitHostPort(srv.Addr())
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("Addr() = %q, want 127.0.0.1 with a chosen port", srv.Addr())
	}
	st := statLines(t, srv.Addr(), "stats conns")
	var listening []string
	for k, v := range st {
		if strings.HasSuffix(k, ":state") && v == "conn_listening" {
			listening = append(listening, st[strings.TrimSuffix(k, ":state")+":addr"])
		}
	}
	sort.Strings(listening)
	if len(listening) != 2 || listening[0] != "tcp:"+srv.Addr() || !strings.HasPrefix(listening[1], "tcp:127.0.0.2:") || strings.HasSuffix(listening[1], ":0") {
		t.Fatalf("listening sockets %q, want tcp:%s and tcp:127.0.0.2:<port>", listening, srv.Addr())
	}
	for _, l := range listening {
		nc, err := net.Dial("tcp", strings.TrimPrefix(l, "tcp:"))
		if err != nil {
			t.Fatalf("dial %s: %v", l, err)
		}
		nc.Close()
	}
}

// With UDP, `stats conns` lists each UDP socket once per thread serving
// it, each under a descriptor of its own, as memcached lists its worker
// threads' UDP connections (and curr_connections counts them).
func TestUDPListedOncePerThread(t *testing.T) {
	port := testenv.FreePort(t)
	srv := startTestServer(t, func(s *Settings) { s.UDPPort, s.Threads = port, 3 })
	// Both questions on one connection: a connection closed just before
	// the count may not have been reaped yet.
	nc, br := dialT(t, srv.Addr())
	nc.Write([]byte("stats conns\r\n"))
	st := readStats(t, br)
	var fds []string
	for k, v := range st {
		if fd, ok := strings.CutSuffix(k, ":UDP"); ok && v == "UDP" {
			fds = append(fds, fd)
			if st[fd+":addr"] != "udp:127.0.0.1:"+strconv.Itoa(port) || st[fd+":state"] != "conn_read" {
				t.Errorf("UDP entry %s: addr %q state %q", fd, st[fd+":addr"], st[fd+":state"])
			}
		}
	}
	if len(fds) != 3 {
		t.Fatalf("stats conns lists the UDP socket %d times (%v), want once per thread (3)", len(fds), fds)
	}
	// memcached counts the listening socket, the 3 UDP connections and
	// this client, less one.
	nc.Write([]byte("stats\r\n"))
	if n := readStats(t, br)["curr_connections"]; n != "4" {
		t.Errorf("curr_connections %s, want 4", n)
	}
}

// An item stored with a base64 key (ms with b) is listed by mgdump in
// base64 with b, and left out of stats cachedump, as memcached 1.6.45 does
// with ITEM_KEY_BINARY items; a plain item is listed plainly by both.
func TestBinaryKeysInDumps(t *testing.T) {
	// -o no_lru_maintainer: a flat LRU, every item in COLD, the segment
	// cachedump lists.
	srv := startTestServer(t, func(s *Settings) { s.LRUMaintainer, s.LRUSegmented = false, false })
	sendLines(t, srv.Addr(), "set a 0 0 1\r\nx\r\nms Yg== 1 b\r\ny\r\n", 2)
	nc, br := dialT(t, srv.Addr())
	got := map[string]bool{}
	for _, line := range mgdump(t, nc, br) {
		got[line] = true
	}
	if len(got) != 2 || !got["mg a\r\n"] || !got["mg Yg== b\r\n"] {
		t.Fatalf("mgdump listed %v, want mg a and mg Yg== b", got)
	}
	nc.Write([]byte("stats cachedump 1 0\r\n"))
	expectLine(t, br, "ITEM a [1 b; 0 s]\r\n")
	expectLine(t, br, "END\r\n")
}

// TestBytesReadCountsTheStatsRead: memcached counts bytes_read as it reads,
// so a stats command's reply already counts the bytes of the read it came
// in (its own line, and what came before and after it there). The same
// writes go to memcached 1.6.45 and to slabcached, and bytes_read must
// grow by the same amounts.
func TestBytesReadCountsTheStatsRead(t *testing.T) {
	ref := testenv.StartReference(t)
	srv := startTestServer(t, nil)
	writes := []string{
		"stats\r\n",
		"set a 0 0 1\r\n1\r\nget a\r\nget b\r\nstats\r\n",
		"stats\r\nversion\r\n",
		"stats\r\n",
	}
	field := regexp.MustCompile(`STAT bytes_read (\d+)\r\n`)
	run := func(addr string) []int {
		nc, rb := dialT(t, addr)
		var got []int
		for _, w := range writes {
			if _, err := io.WriteString(nc, w); err != nil {
				t.Fatal(err)
			}
			var reply strings.Builder
			for !strings.Contains(reply.String(), "STAT ") || !strings.HasSuffix(reply.String(), "END\r\n") {
				line, err := rb.ReadString('\n')
				if err != nil {
					t.Fatalf("%s: %v after %q", addr, err, reply.String())
				}
				reply.WriteString(line)
			}
			if strings.Contains(w, "version") {
				if line, _ := rb.ReadString('\n'); !strings.HasPrefix(line, "VERSION ") {
					t.Fatalf("%s: %q, want the version", addr, line)
				}
			}
			m := field.FindStringSubmatch(reply.String())
			if m == nil {
				t.Fatalf("%s: no bytes_read in %q", addr, reply.String())
			}
			n, _ := strconv.Atoi(m[1])
			got = append(got, n)
		}
		for i := len(got) - 1; i > 0; i-- {
			got[i] -= got[0]
		}
		return got[1:]
	}
	want, got := run(ref), run(srv.Addr())
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("bytes_read after each write, less the first: memcached %v, slabcached %v", want, got)
	}
}

// TestDetailPrefixesMatchMemcached: stats detail counts at most 65,536
// prefixes, as memcached does, lists them in memcached's order, and a key
// with a NUL byte before its delimiter (a binary key) has no prefix.
// Compared with memcached 1.6.45.
func TestDetailPrefixesMatchMemcached(t *testing.T) {
	ref := testenv.StartReference(t)
	srv := startTestServer(t, nil)
	run := func(addr string) (lines []string, nul string) {
		nc, rb := dialT(t, addr)
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		dump := func() []string {
			fmt.Fprintf(nc, "stats detail dump\r\n")
			var out []string
			for {
				line, err := rb.ReadString('\n')
				if err != nil {
					t.Fatalf("%s: %v", addr, err)
				}
				if line == "END\r\n" {
					return out
				}
				out = append(out, line)
			}
		}
		fmt.Fprintf(nc, "stats detail on\r\n")
		expectLine(t, rb, "OK\r\n")
		bc, _ := dialT(t, addr)
		bc.Write(proto.AppendBinRequest(nil, &proto.BinRequest{Opcode: proto.BinOpSet, Key: []byte("n\x00x:k"), Value: []byte("v")}))
		if _, err := io.ReadFull(bc, make([]byte, proto.BinHeaderLen)); err != nil {
			t.Fatal(err)
		}
		nul = strings.Join(dump(), "")
		var b strings.Builder
		for i := range maxDetailPrefixes + 5 {
			fmt.Fprintf(&b, "get p%d:k\r\n", i)
		}
		go io.WriteString(nc, b.String())
		for range maxDetailPrefixes + 5 {
			expectLine(t, rb, "END\r\n")
		}
		return dump(), nul
	}
	want, nul := run(ref)
	got, gotNul := run(srv.Addr())
	if len(got) != len(want) || len(want) != maxDetailPrefixes || gotNul != nul || nul != "" {
		t.Fatalf("prefixes listed: slabcached %d, memcached %d (want %d); after a key with a NUL: slabcached %q, memcached %q",
			len(got), len(want), maxDetailPrefixes, gotNul, nul)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d of the dump (memcached's order: its prefix hash table): slabcached %q, memcached %q", i, got[i], want[i])
		}
	}
}

// murmur3 is memcached's MurmurHash3_x86_32 (seed 0).
func TestMurmur3(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint32
	}{{"", 0}, {"hello", 0x248bfa47}, {"The quick brown fox jumps over the lazy dog", 0x2e4ff723}, {"abc", 0xb3dd93fa}, {"ab", 0x9bbfd75f}, {"a", 0x3c2569b2}} {
		if got := murmur3([]byte(c.in)); got != c.want {
			t.Errorf("murmur3(%q) = %#x, want %#x", c.in, got, c.want)
		}
	}
}

// Over a unix socket (-s), `stats conns` lists the listening socket and the
// clients as memcached does: memcached keeps no peer address for them.
func TestStatsConnsOverUnixSocketMatchesMemcached(t *testing.T) {
	dir := t.TempDir()
	refSock, ourSock := filepath.Join(dir, "ref.sock"), filepath.Join(dir, "our.sock")
	args := []string{"-s", refSock, "-t", "1"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root")
	}
	ref := exec.Command(testenv.ReferenceMemcached(t), args...)
	if err := ref.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ref.Process.Kill(); ref.Wait() })
	startTestServer(t, func(s *Settings) { s.SocketPath, s.Threads = ourSock, 1 })
	fd := regexp.MustCompile(`(?m)^STAT \d+:`)
	conns := func(sock string) string {
		var nc net.Conn
		var err error
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if nc, err = net.Dial("unix", sock); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		other, err := net.Dial("unix", sock) // a second client, idle
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		other.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprint(other, "version\r\n") // served: the server has accepted it
		if _, err := bufio.NewReader(other).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(nc)
		fmt.Fprint(nc, "stats conns\r\n")
		var b strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("stats conns over %s: %v after %q", sock, err, b.String())
			}
			if line == "END\r\n" {
				break
			}
			if strings.Contains(line, ":secs_since_last_cmd ") || strings.Contains(line, ":state conn_") && !strings.Contains(line, "conn_listening") {
				continue // timing, and states memcached names more finely (docs/compat.md)
			}
			line = fd.ReplaceAllString(line, "STAT N:")
			if name, ok := strings.CutPrefix(line, "STAT N:addr unix:"); ok {
				// The listening socket: memcached shows the first 26
				// bytes of its path, then whatever its stack holds
				// after them (mostly nothing).
				name = strings.TrimSuffix(name, "\r\n")
				if len(name) < 26 || name[:26] != sock[:26] {
					t.Errorf("listening socket %q: want %q", name, sock[:26])
				}
				if sock == ourSock && name != sock[:26] {
					t.Errorf("our listening socket shown as %q, want %q", name, sock[:26])
				}
				line = "STAT N:addr unix:PREFIX\r\n"
			}
			b.WriteString(strings.ReplaceAll(line, sock, "SOCK"))
		}
		return b.String()
	}
	want, got := conns(refSock), conns(ourSock)
	if got != want {
		t.Errorf("stats conns over a unix socket:\nmemcached\n%s\nslabcached\n%s", want, got)
	}
	if strings.Count(got, "addr ?:<AF 0>\r\n") != 2 {
		t.Errorf("not both clients listed:\n%s", got)
	}
}

// The crawler's own passes follow memcached's schedule: one at the start,
// the next a minute and 5 seconds after it when it saw nothing expiring,
// so items stored after the start are not crawled in the seconds after.
func TestAutoCrawlMatchesMemcached(t *testing.T) {
	ref := testenv.StartReference(t, "-t", "1")
	srv := startTestServer(t, func(s *Settings) { s.Threads = 1 })
	var b strings.Builder
	for i := range 20 {
		fmt.Fprintf(&b, "set k%d 0 %d 1\r\nx\r\n", i, i%2)
	}
	for _, addr := range []string{ref, srv.Addr()} {
		sendLines(t, addr, b.String(), 20)
	}
	time.Sleep(3 * time.Second)
	for _, name := range []string{"lru_crawler_starts", "crawler_items_checked", "crawler_reclaimed"} {
		want, got := statValue(t, ref, name), statValue(t, srv.Addr(), name)
		if got != want {
			t.Errorf("%s 3 s after the start: memcached %s, slabcached %s", name, want, got)
		}
	}
}

// Dumps count as crawls, as memcached counts them: each is a crawler
// start, and a dump by LRU (not by hash table) adds the items it looked at
// to crawler_items_checked, overall and by class; stats reset zeroes both.
func TestCrawlerCountsMatchMemcached(t *testing.T) {
	ref := testenv.StartReference(t, "-t", "1")
	srv := startTestServer(t, func(s *Settings) { s.Threads = 1 })
	counts := func(addr string) string {
		st := statLines(t, addr, "stats")
		it := statLines(t, addr, "stats items")
		return fmt.Sprintf("starts=%s checked=%s class1=%s hot=%s cold=%s", st["lru_crawler_starts"],
			st["crawler_items_checked"], it["items:1:crawler_items_checked"], it["items:1:number_hot"], it["items:1:number_cold"])
	}
	var fill strings.Builder
	for i := range 10 {
		fmt.Fprintf(&fill, "set k%d 0 0 1\r\nx\r\n", i)
	}
	// Both crawl every LRU once at the start; memcached's thread may come
	// to it late and would then count the items set here.
	for _, addr := range []string{ref, srv.Addr()} {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			st := statLines(t, addr, "stats")
			if st["lru_crawler_starts"] != "0" && st["lru_crawler_running"] == "0" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no first crawl ended after 10 s: %v", addr, st)
			}
		}
		sendLines(t, addr, fill.String(), 10)
	}
	// A crawl limited per LRU checks as many items as the LRUs hold, which
	// the maintainers change as each server's clock turns (HOT drains to
	// COLD once its items are older than a fifth of COLD's tail): wait
	// until both have moved every item to COLD, where they stay.
	for _, addr := range []string{ref, srv.Addr()} {
		for deadline := time.Now().Add(10 * time.Second); statLines(t, addr, "stats items")["items:1:number_cold"] != "10"; {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the items are not all in COLD after 10 s: %v", addr, statLines(t, addr, "stats items"))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, step := range []struct{ cmd, end string }{
		{"lru_crawler metadump all", "END\r\n"},
		{"lru_crawler metadump hash", "END\r\n"},
		{"lru_crawler mgdump 1", "EN\r\n"},
		{"lru_crawler mgdump hash", "EN\r\n"},
		{"lru_crawler metadump 2", "END\r\n"},
		{"stats reset", "RESET\r\n"},
		{"lru_crawler metadump all", "END\r\n"},
		// Crawls of class 2 (empty) and of class 1, 3 items of each of
		// its LRUs at most, then all of it.
		{"lru_crawler crawl 2", "OK\r\n"},
		{"lru_crawler tocrawl 3", "OK\r\n"},
		{"lru_crawler crawl 1", "OK\r\n"},
		{"lru_crawler crawl all", "OK\r\n"},
		{"lru_crawler tocrawl 0", "OK\r\n"},
		{"lru_crawler crawl 1,2", "OK\r\n"},
	} {
		var got [2]string
		for i, addr := range []string{ref, srv.Addr()} {
			nc, br := dialT(t, addr)
			fmt.Fprintf(nc, "%s\r\n", step.cmd)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("%s on %s: %v", step.cmd, addr, err)
				}
				if line == step.end {
					break
				}
			}
			nc.Close()
			for deadline := time.Now().Add(5 * time.Second); statLines(t, addr, "stats")["lru_crawler_running"] != "0"; {
				if time.Now().After(deadline) {
					t.Fatalf("%s on %s: the crawler still runs after 5 s", step.cmd, addr)
				}
				time.Sleep(10 * time.Millisecond)
			}
			got[i] = counts(addr)
		}
		if got[0] != got[1] {
			t.Errorf("after %s: memcached %s, slabcached %s", step.cmd, got[0], got[1])
		}
	}
}

// `stats conns` lists everything in the order of its descriptors, as
// memcached walks its table of connections: a UDP socket opened before
// the TCP listener comes first.
func TestStatsConnsInDescriptorOrder(t *testing.T) {
	srv := startTestServer(t, func(s *Settings) { s.UDPPort = testenv.FreePort(t) })
	rp := statsReply(t, srv.Addr(), "stats conns")
	last, kinds := -1, map[string]bool{}
	for _, st := range rp.Stats {
		id, field, _ := strings.Cut(string(st.Name), ":")
		fd, err := strconv.Atoi(id)
		if err != nil {
			t.Fatalf("STAT %s: not <fd>:<field>", st.Name)
		}
		if fd < last {
			t.Fatalf("descriptor %d listed after %d: %v", fd, last, rp.Stats)
		}
		last = fd
		if field == "state" {
			kinds[string(st.Value)] = true
		}
	}
	if !kinds["conn_read"] || !kinds["conn_listening"] || !kinds["conn_parse_cmd"] {
		t.Fatalf("states listed %v, want the UDP socket, the listener and this client", kinds)
	}
}

// A connection between events is listed in the state memcached shows for
// what it waits for: the rest of a value (conn_nread), of a value too
// large that it skips (conn_swallow), more input after a partial command
// line or a served one (conn_read), or its first command (conn_new_cmd).
// Compared with memcached 1.6.45.
func TestStatsConnsWaitingStatesMatchMemcached(t *testing.T) {
	ref := testenv.StartReference(t)
	srv := startTestServer(t, nil)
	states := func(addr string) []string {
		var conns []net.Conn
		for _, part := range []string{"get a", "set s 0 0 20\r\nabc", "set big 0 0 2000000\r\n", "version\r\n", ""} {
			nc, br := dialT(t, addr)
			conns = append(conns, nc)
			if part != "" {
				nc.Write([]byte(part))
			}
			if part == "version\r\n" {
				if _, err := br.ReadString('\n'); err != nil {
					t.Fatal(err)
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
		rp := statsReply(t, addr, "stats conns")
		var out []string
		for _, st := range rp.Stats {
			if strings.HasSuffix(string(st.Name), ":state") {
				out = append(out, string(st.Value))
			}
		}
		for _, nc := range conns {
			nc.Close()
		}
		return out
	}
	// Compared as sets: which descriptor a connection gets depends on
	// which earlier ones each server has closed (memcached's start-up
	// probe's).
	want, got := states(ref), states(srv.Addr())
	if strings.Join(got, " ") != "conn_listening conn_read conn_nread conn_swallow conn_read conn_new_cmd conn_parse_cmd" {
		t.Fatalf("states %v", got)
	}
	sort.Strings(want)
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("states %v, memcached %v", got, want)
	}
}
