package server

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/slabcache/slabcache/internal/testenv"
)

func dialT(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return nc, bufio.NewReader(nc)
}

// dialServed is dialT for a connection that must be served at once: it
// answers a version request before it is returned.
func dialServed(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, br := dialT(t, addr)
	nc.Write([]byte("version\r\n"))
	expectLine(t, br, "VERSION "+Version+"\r\n")
	return nc, br
}

func expectLine(t *testing.T, br *bufio.Reader, want string) {
	t.Helper()
	if got, err := br.ReadString('\n'); got != want {
		t.Fatalf("got %q (%v), want %q", got, err, want)
	}
}

// -c: one connection over the limit is told so and closed; the others keep
// working.
func TestConnectionLimit(t *testing.T) {
	srv := startTestServer(t, func(s *Settings) { s.MaxConns = 2 })
	a, ra := dialServed(t, srv.Addr())
	dialServed(t, srv.Addr())
	_, rc := dialT(t, srv.Addr())
	expectLine(t, rc, "ERROR Too many open connections\r\n")
	if _, err := rc.ReadByte(); err != io.EOF {
		t.Fatalf("rejected connection not closed: %v", err)
	}
	a.Write([]byte("version\r\n"))
	expectLine(t, ra, "VERSION "+Version+"\r\n")
}

// Without maxconns_fast a connection over -c is not refused: it waits,
// unserved, until another closes, first come first served, as memcached
// leaves it unaccepted; stats shows the listener off meanwhile.
func TestConnectionLimitWaitsWithoutMaxconnsFast(t *testing.T) {
	srv := startTestServer(t, func(s *Settings) { s.MaxConns, s.MaxConnsFast = 2, false })
	a, ra := dialServed(t, srv.Addr())
	b, _ := dialServed(t, srv.Addr())
	waiting := func(nc net.Conn, br *bufio.Reader) {
		t.Helper()
		nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if got, err := br.ReadString('\n'); err == nil || got != "" {
			t.Fatalf("a connection over the limit was served: %q (%v)", got, err)
		}
		nc.SetDeadline(time.Now().Add(10 * time.Second))
	}
	c, rc := dialT(t, srv.Addr())
	c.Write([]byte("version\r\n"))
	waiting(c, rc)
	gone, _ := dialT(t, srv.Addr())
	gone.Write([]byte("set k 0 0 1\r\nx\r\n"))
	d, rd := dialT(t, srv.Addr())
	d.Write([]byte("get k\r\nversion\r\n"))
	waiting(d, rd)
	a.Write([]byte("stats\r\n"))
	st := readStats(t, ra)
	if st["accepting_conns"] != "0" || st["listen_disabled_num"] != "1" || st["curr_connections"] != "2" || st["total_connections"] != "3" {
		t.Fatalf("stats with connections waiting: accepting_conns %s listen_disabled_num %s curr_connections %s total_connections %s",
			st["accepting_conns"], st["listen_disabled_num"], st["curr_connections"], st["total_connections"])
	}
	if _, ok := st["rejected_connections"]; ok {
		t.Fatal("stats has rejected_connections without maxconns_fast")
	}
	mfs := gather(t, srv)
	if v, _ := metricValue(mfs, "slabcached_connections_waiting", nil); v != 3 {
		t.Errorf("slabcached_connections_waiting = %v, want 3", v)
	}
	if v, _ := metricValue(mfs, "slabcached_listen_disabled_total", nil); v != 1 {
		t.Errorf("slabcached_listen_disabled_total = %v, want 1", v)
	}
	// One that leaves while waiting is never served (its set is not
	// stored); a close lets the first waiting one in.
	gone.Close()
	time.Sleep(100 * time.Millisecond)
	b.Close()
	expectLine(t, rc, "VERSION "+Version+"\r\n")
	waiting(d, rd)
	c.Close()
	expectLine(t, rd, "END\r\n")
	expectLine(t, rd, "VERSION "+Version+"\r\n")
	a.Write([]byte("stats\r\n"))
	st = readStats(t, ra)
	if st["accepting_conns"] != "1" || st["total_connections"] != "5" || st["time_in_listen_disabled_us"] == "0" {
		t.Fatalf("stats after the waiting connections got in: accepting_conns %s total_connections %s time_in_listen_disabled_us %s",
			st["accepting_conns"], st["total_connections"], st["time_in_listen_disabled_us"])
	}
}

// readStats reads a stats reply up to END into name -> value.
func readStats(t *testing.T, br *bufio.Reader) map[string]string {
	t.Helper()
	st := map[string]string{}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stats: %v", err)
		}
		if line == "END\r\n" {
			return st
		}
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "STAT" {
			st[f[1]] = f[2]
		}
	}
}

// -b sets the listen backlog, as the kernel reports it (ss's Send-Q of a
// listening socket).
func TestListenBacklog(t *testing.T) {
	ss := testenv.LookPath(t, "ss")
	srv := startTestServer(t, func(s *Settings) { s.Backlog = 77 })
	_, port, _ := net.SplitHostPort(srv.Addr())
	out, err := exec.Command(ss, "-ltnH", "sport = :"+port).Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) < 3 || f[0] != "LISTEN" || f[2] != "77" {
		t.Fatalf("ss -ltn for port %s: %q, want a backlog (Send-Q) of 77", port, out)
	}
}

// -o sock_cookie_id marks the listening socket and the connections it
// accepts (SO_MARK, for firewall rules), as memcached does.
func TestSockCookieID(t *testing.T) {
	ss := testenv.LookPath(t, "ss")
	probe, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = unix.SetsockoptInt(probe, unix.SOL_SOCKET, unix.SO_MARK, 42)
	unix.Close(probe)
	if err != nil {
		t.Skipf("cannot set a socket mark here (needs CAP_NET_ADMIN): %v", err)
	}
	srv := startTestServer(t, func(s *Settings) { s.SockCookieID = 42 })
	nc, br := dialT(t, srv.Addr())
	nc.Write([]byte("version\r\n"))
	expectLine(t, br, "VERSION "+Version+"\r\n")
	_, port, _ := net.SplitHostPort(srv.Addr())
	out, err := exec.Command(ss, "-tanHe", "sport = :"+port).Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		t.Fatalf("ss -tane for port %s: %q, want the listening socket and one connection", port, out)
	}
	for _, l := range lines {
		if !strings.Contains(l, "fwmark:0x2a") {
			t.Fatalf("socket without the mark 42: %q", l)
		}
	}
}

// idle_timeout closes a client that sends nothing, and not one that is
// active.
func TestIdleTimeout(t *testing.T) {
	srv := startTestServer(t, func(s *Settings) { s.IdleTimeout = 1 })
	idle, ri := dialT(t, srv.Addr())
	_ = idle
	if _, err := ri.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want closed", err)
	}
}

// A value over -I: the payload is swallowed, the reply is memcached's, the
// old item under the key is gone, and the connection goes on.
func TestTooLargeValueSwallowedOldItemRemoved(t *testing.T) {
	srv := startTestServer(t, func(s *Settings) { s.ItemSizeMax = 1 << 20 })
	nc, br := dialT(t, srv.Addr())
	nc.Write([]byte("set k 0 0 1\r\nx\r\n"))
	expectLine(t, br, "STORED\r\n")
	big := bytes.Repeat([]byte("y"), 2<<20)
	nc.Write([]byte("set k 0 0 2097152\r\n"))
	nc.Write(big)
	nc.Write([]byte("\r\nget k\r\n"))
	expectLine(t, br, "SERVER_ERROR object too large for cache\r\n")
	expectLine(t, br, "END\r\n")
}

// A line of 2048 bytes without a newline closes the connection; another
// connection is not disturbed.
func TestLongLineClosesOnlyThatConnection(t *testing.T) {
	srv := startTestServer(t, nil)
	bad, rb := dialT(t, srv.Addr())
	good, rg := dialT(t, srv.Addr())
	bad.Write([]byte("set " + strings.Repeat("k", 4096)))
	if _, err := rb.ReadByte(); err != io.EOF {
		t.Fatalf("long line: %v, want closed", err)
	}
	good.Write([]byte("version\r\n"))
	expectLine(t, rg, "VERSION "+Version+"\r\n")
}

// -R: a connection that pipelines more requests than the budget yields
// after each budget's worth (conn_yields, as memcached counts them), still
// answers every request in order, and other connections are served
// meanwhile. Without -R nothing yields.
func TestReqsPerEventYields(t *testing.T) {
	for _, tc := range []struct {
		name  string
		set   func(*Settings)
		yield bool
	}{
		{"-R 1", func(s *Settings) { s.ReqsPerEvent, s.YieldRequests = 1, true }, true},
		{"-R 2", func(s *Settings) { s.ReqsPerEvent, s.YieldRequests = 2, true }, true},
		{"default", func(*Settings) {}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startTestServer(t, tc.set)
			nc, br := dialT(t, srv.Addr())
			var req bytes.Buffer
			const n = 6
			for i := range n {
				req.WriteString("set foobar 0 0 5\r\nBubba\r\n")
				if i == n-1 {
					req.WriteString("get foobar\r\nbogus\r\n")
				}
			}
			nc.Write(req.Bytes())
			for range n {
				expectLine(t, br, "STORED\r\n")
			}
			expectLine(t, br, "VALUE foobar 0 5\r\n")
			expectLine(t, br, "Bubba\r\n")
			expectLine(t, br, "END\r\n")
			expectLine(t, br, "ERROR\r\n")
			got := statValue(t, srv.Addr(), "conn_yields")
			if tc.yield && (got == "0" || got == "") {
				t.Fatalf("conn_yields = %q after %d pipelined requests, want > 0", got, n+2)
			}
			if !tc.yield && got != "0" {
				t.Fatalf("conn_yields = %q without -R, want 0", got)
			}
		})
	}
}

// read_buf_mem_limit bounds the replies a connection may have waiting, as
// memcached's response objects do: a multi-get over the bound gets
// SERVER_ERROR out of memory writing get response, a pipeline over it
// closes the connection, both count in response_obj_oom, and other
// connections are served.
func TestReadBufMemLimit(t *testing.T) {
	srv := startTestServer(t, func(s *Settings) {
		s.Threads = 2
		s.ReadBufMemLimit = 2 * 2 * 16 << 10 // two 16 KiB buffers per loop: 13 replies
	})
	nc, br := dialT(t, srv.Addr())
	keys := func(n int) string { return strings.TrimSpace(strings.Repeat("foo ", n)) }
	nc.Write([]byte("get " + keys(13) + "\r\n"))
	expectLine(t, br, "END\r\n")
	nc.Write([]byte("get " + keys(14) + "\r\n"))
	expectLine(t, br, "SERVER_ERROR out of memory writing get response\r\n")
	if got := statValue(t, srv.Addr(), "response_obj_oom"); got != "1" {
		t.Fatalf("response_obj_oom = %s, want 1", got)
	}
	nc.Write([]byte(strings.Repeat("mg foo v\r\n", 13)))
	for range 13 {
		expectLine(t, br, "EN\r\n")
	}
	stacked, rs := dialT(t, srv.Addr())
	stacked.Write([]byte(strings.Repeat("mg foo v\r\n", 14)))
	if line, err := rs.ReadString('\n'); err != io.EOF {
		t.Fatalf("14 stacked replies: %q %v, want the connection closed", line, err)
	}
	if got := statValue(t, srv.Addr(), "response_obj_oom"); got != "2" {
		t.Fatalf("response_obj_oom = %s, want 2", got)
	}
	nc.Write([]byte("version\r\n"))
	expectLine(t, br, "VERSION "+Version+"\r\n")
}

// memcached counts its listening sockets among its connections (one per
// TCP socket, one per serving thread per UDP socket): in total_connections
// until stats reset, in connection_structures, and in curr_connections
// less one. The same steps against memcached 1.6.45 and slabcached, each
// with two TCP listeners and UDP on two threads, give the same numbers
// (total_connections compared by its changes, as the harnesses dial
// their servers a different number of times while they start).
func TestConnectionStatsCountListenersAsMemcached(t *testing.T) {
	second := "127.0.0.2"
	if ln, err := net.Listen("tcp", second+":0"); err != nil {
		t.Skipf("no %s to listen on: %v", second, err)
	} else {
		ln.Close()
	}
	ref := testenv.StartReference(t, "-t", "2", "-l", second, "-U", strconv.Itoa(testenv.FreePort(t)))
	srv := startTestServer(t, func(s *Settings) {
		s.Threads, s.UDPPort = 2, testenv.FreePort(t)
		s.Listen = "127.0.0.1," + second
	})
	type snap struct{ curr, total, structs int }
	steps := func(addr string) []snap {
		var out []snap
		stats := func(br *bufio.Reader, nc net.Conn) {
			nc.Write([]byte("stats\r\n"))
			st := readStats(t, br)
			n := func(k string) int {
				v, err := strconv.Atoi(st[k])
				if err != nil {
					t.Fatalf("%s: %q", k, st[k])
				}
				return v
			}
			out = append(out, snap{n("curr_connections"), n("total_connections"), n("connection_structures")})
		}
		a, ra := dialT(t, addr)
		stats(ra, a)
		b, rb := dialT(t, addr)
		stats(rb, b)
		b.Write([]byte("stats reset\r\n"))
		expectLine(t, rb, "RESET\r\n")
		stats(rb, b)
		c, rc := dialT(t, addr)
		stats(rc, c)
		return out
	}
	want, got := steps(ref), steps(srv.Addr())
	t.Logf("memcached %v, slabcached %v", want, got)
	for i := range want {
		w, g := want[i], got[i]
		if i > 0 && i != 2 {
			w.total -= want[i-1].total
			g.total -= got[i-1].total
		}
		if i == 0 {
			w.total, g.total = 0, 0 // the start-up dials differ
		}
		if w.curr != g.curr || w.total != g.total {
			t.Errorf("step %d: curr_connections %d, total_connections (change) %d; memcached %d, %d", i, g.curr, g.total, w.curr, w.total)
		}
	}
	// Three connections open on three descriptors, and four listening:
	// two TCP sockets and two UDP ones (one thread each where -l lists
	// several interfaces).
	if last := got[len(got)-1]; last.structs != 4+3 {
		t.Errorf("connection_structures %d, want 7 (memcached %d)", last.structs, want[len(want)-1].structs)
	}
}
