package difftest

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeServer is a tiny line server for testing the player without memcached:
//
//	mn -> MN        version -> VERSION 9.9.9     whoami -> ID <connection number>
//	echo X -> X     gets K -> VALUE K 0 1 <n>\r\nx\r\nEND (n grows per call)
//	close -> closes the connection               mute -> answers nothing more
//	reads -> READS <number of Read calls that returned data on this connection>
type fakeServer struct {
	ln    net.Listener
	conns atomic.Int64
	cas   atomic.Int64
	wg    sync.WaitGroup
}

func startFake(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			id := s.conns.Add(1)
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.serve(c, id) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return ln.Addr().String()
}

// countingReader counts the reads that returned data.
type countingReader struct {
	c     net.Conn
	reads int
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.c.Read(p)
	if n > 0 {
		r.reads++
	}
	return n, err
}

func (s *fakeServer) serve(c net.Conn, id int64) {
	defer c.Close()
	cr := &countingReader{c: c}
	r := bufio.NewReaderSize(cr, 16)
	muted := false
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if muted {
			continue
		}
		var out string
		switch f := strings.Fields(line); {
		case line == "mn":
			out = "MN\r\n"
		case line == "version":
			out = "VERSION 9.9.9\r\n"
		case line == "whoami":
			out = fmt.Sprintf("ID %d\r\n", id)
		case line == "close":
			return
		case line == "mute":
			muted = true
		case line == "reads":
			out = fmt.Sprintf("READS %d\r\n", cr.reads)
		case len(f) == 2 && f[0] == "echo":
			out = f[1] + "\r\n"
		case len(f) == 2 && f[0] == "gets":
			out = fmt.Sprintf("VALUE %s 0 1 %d\r\nx\r\nEND\r\n", f[1], s.cas.Add(5))
		default:
			out = "ERROR\r\n"
		}
		if _, err := c.Write([]byte(out)); err != nil {
			return
		}
	}
}

func play(t *testing.T, addr, src string, opt PlayOptions) *Transcript {
	t.Helper()
	c, err := Parse("fake.conv", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := c.Play(addr, opt)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestPlaySteps(t *testing.T) {
	addr := startFake(t)
	tr := play(t, addr, `
send echo one
send echo two
recv
send bogus
recv
send whoami
recv
conn 2
send whoami
recv
conn 1
send whoami
recv
close
send whoami
recv
send gets k
recv
send echo ${cas:k}
send echo ${cas}
recv
send version
recv
send mn
recv
send mute
wait 100ms
`, PlayOptions{})
	want := []string{
		"one\r\ntwo\r\n", // pipelined, sentinel stripped
		"ERROR\r\n",
		"ID 1\r\n",
		"ID 2\r\n", // conn 2 is another connection
		"ID 1\r\n",
		"ID 3\r\n", // closed and dialled again
		"VALUE k 0 1 5\r\nx\r\nEND\r\n",
		"5\r\n5\r\n", // captured CAS
		"VERSION 9.9.9\r\n",
		"MN\r\n", // a conversation's own mn is kept
		"",       // muted: nothing within the wait
	}
	if len(tr.Steps) != len(want) {
		t.Fatalf("%d steps, want %d: %+v", len(tr.Steps), len(want), tr.Steps)
	}
	for i, w := range want {
		s := tr.Steps[i]
		if string(s.Reply) != w || s.Closed || s.Timeout {
			t.Errorf("step %d (line %d): reply %q closed=%v timeout=%v, want %q", i, s.Line, s.Reply, s.Closed, s.Timeout, w)
		}
	}
	if tr.Steps[3].Conn != 2 || tr.Steps[4].Conn != 1 {
		t.Errorf("connection numbers not recorded: %+v", tr.Steps[3:5])
	}
	if tr.Steps[0].Request != `echo one\r\necho two\r\n` {
		t.Errorf("request summary = %q", tr.Steps[0].Request)
	}
}

func TestPlayCloseAndTimeout(t *testing.T) {
	addr := startFake(t)
	tr := play(t, addr, `
send echo a
send close
expect-close
send echo b
recv
conn 2
send close
recv
conn 3
send mute
recv
conn 4
send echo x
expect-close
`, PlayOptions{ReplyTimeout: 300 * time.Millisecond})
	type st struct {
		reply           string
		closed, timeout bool
	}
	want := []st{
		{"a\r\n", true, false}, // replies before the close are kept
		{"", true, false},      // a step on a closed connection
		{"", true, false},      // closed instead of answering the sentinel
		{"", false, true},      // never answers the sentinel
		{"x\r\n", false, true}, // expected a close that never came
	}
	if len(tr.Steps) != len(want) {
		t.Fatalf("%d steps, want %d", len(tr.Steps), len(want))
	}
	for i, w := range want {
		s := tr.Steps[i]
		if string(s.Reply) != w.reply || s.Closed != w.closed || s.Timeout != w.timeout {
			t.Errorf("step %d: got reply %q closed=%v timeout=%v, want %+v", i, s.Reply, s.Closed, s.Timeout, w)
		}
	}
}

func TestPlayWriteInChunks(t *testing.T) {
	addr := startFake(t)
	tr := play(t, addr, `
raw echo \{200 z}
write 20
raw \r\n
write
send reads
recv
`, PlayOptions{})
	r := string(tr.Steps[0].Reply)
	if !strings.HasPrefix(r, strings.Repeat("z", 200)+"\r\nREADS ") {
		t.Fatalf("reply %q", r)
	}
	var n int
	fmt.Sscanf(r[strings.Index(r, "READS ")+6:], "%d", &n)
	// 10 chunks with 1 ms pauses: the server must have seen the line arrive
	// in several reads (loopback may merge some; one read would mean the
	// chunking did nothing).
	if n < 4 {
		t.Errorf("the server saw the chunked line in %d reads, want several", n)
	}
}

func TestPlayUnsetVariableIsAnError(t *testing.T) {
	addr := startFake(t)
	c, err := Parse("v.conv", []byte("send echo ${cas:never}\nrecv\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Play(addr, PlayOptions{}); err == nil || !strings.Contains(err.Error(), "v.conv:1") {
		t.Fatalf("Play error = %v, want one naming v.conv:1", err)
	}
}

func TestSentinelEnd(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"MN\r\nVERSION 1.6.18\r\n", 0},
		{"STORED\r\nMN\r\nVERSION 1.6.18\r\n", 8},
		{"MN\r\nMN\r\nVERSION x\r\n", 4},
		{"STORED\r\nMN\r\nVERSION 1.6.18\r", -1},
		{"STORED\r\nMN\r\nVERSION 1.6", -1},
		{"xMN\r\nVERSION 1\r\n", -1},
		{"MN\r\nVERSION 1\r\nEND\r\n", -1},
	}
	for _, tc := range tests {
		if got := sentinelEnd([]byte(tc.in)); got != tc.want {
			t.Errorf("sentinelEnd(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
