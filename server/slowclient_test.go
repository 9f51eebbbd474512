package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/slabcache/slabcache/internal/mctest"
)

// statValue asks a fresh connection for `stats` and returns one field.
func statValue(t *testing.T, addr, name string) string {
	t.Helper()
	for _, st := range mctest.Stats(t, addr, "") {
		if st.Name == name {
			return st.Value
		}
	}
	t.Fatalf("stats has no %s", name)
	return ""
}

// A client that keeps sending requests and never reads a reply cannot make
// the server hold unbounded memory: once its unread replies pass the pause
// mark the server stops reading its requests, and once those pass the input
// cap it closes the connection and counts it as read_buf_oom. Another
// client is served the whole time.
func TestClientThatNeverReadsIsClosedAndCounted(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 24 MB")
	}
	srv := startTestServer(t, func(s *Settings) { s.MaxBytes = 64 << 20 })
	good, rg := dialT(t, srv.Addr())
	value := bytes.Repeat([]byte("v"), 256<<10)
	fmt.Fprintf(good, "set big 0 0 %d\r\n%s\r\n", len(value), value)
	expectLine(t, rg, "STORED\r\n")
	if got := statValue(t, srv.Addr(), "read_buf_oom"); got != "0" {
		t.Fatalf("read_buf_oom before: %s", got)
	}
	// Collect garbage eagerly so the high-water mark below is close to
	// what the server holds, not what the collector has yet to free.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	before := heapInUse()
	peak := make(chan uint64)
	stop := make(chan struct{})
	go func() { // the heap's high-water mark while the client floods
		var max uint64
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				peak <- max
				return
			case <-time.After(5 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > max {
				max = ms.HeapInuse
			}
		}
	}()

	bad, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	bad.SetDeadline(time.Now().Add(60 * time.Second))
	// Each request asks for 256 KiB of replies; 24 MB of requests ask for
	// far more than the server may hold for one client.
	line := []byte("get big" + strings.Repeat(" big", 60) + "\r\n")
	chunk := bytes.Repeat(line, (64<<10)/len(line))
	sent := 0
	var werr error
	for sent < 24<<20 {
		var n int
		n, werr = bad.Write(chunk)
		sent += n
		if werr != nil {
			break
		}
	}
	if werr == nil {
		// Everything fitted in buffers: the close must come now.
		bad.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, werr = io.Copy(io.Discard, bad)
		if werr == nil {
			werr = io.EOF
		}
	}
	var ne net.Error
	if errors.As(werr, &ne) && ne.Timeout() {
		t.Fatalf("the server neither closed nor stopped a client that never reads (sent %d bytes)", sent)
	}
	close(stop)
	grown := int64(<-peak) - int64(before)
	t.Logf("heap high-water mark: %d MB over the start while the client sent %d MB", grown>>20, sent>>20)
	// Bounded by the caps, not by what the client sends: the input ring
	// buffer grows in steps and the replies are copied once into gnet's
	// output buffer, so a few times (inputCap + outputPause); measured
	// 24-26 MB alone, up to 66 MB with the race detector and other tests
	// running (the high-water mark includes garbage not yet collected).
	// The bound proper is the close above; this catches a gross leak.
	if grown > 16*(inputCap+outputPause) {
		t.Errorf("server heap grew by %d MB for one client that never reads", grown>>20)
	}
	good.Write([]byte("get big\r\n"))
	expectLine(t, rg, fmt.Sprintf("VALUE big 0 %d\r\n", len(value)))
	if _, err := io.ReadFull(rg, make([]byte, len(value)+2)); err != nil {
		t.Fatal(err)
	}
	expectLine(t, rg, "END\r\n")
	deadline := time.Now().Add(10 * time.Second)
	for statValue(t, srv.Addr(), "read_buf_oom") != "1" {
		if time.Now().After(deadline) {
			t.Fatalf("read_buf_oom = %s, want 1", statValue(t, srv.Addr(), "read_buf_oom"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A 1 MiB value that arrives in 4 KiB pieces, each in its own read, is
// stored intact, and the same connection goes on with the next request.
func TestValueArrivingInManyReads(t *testing.T) {
	srv := startTestServer(t, func(s *Settings) { s.ItemSizeMax = 2 << 20 })
	nc, br := dialT(t, srv.Addr())
	value := make([]byte, 1<<20)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	value[1000] = '\r' // bytes of the terminator inside the value are data
	value[1001] = '\n'
	msg := append([]byte(fmt.Sprintf("set big 7 0 %d\r\n", len(value))), value...)
	msg = append(msg, "\r\nget big\r\n"...)
	tcp := nc.(*net.TCPConn)
	tcp.SetNoDelay(true)
	for off := 0; off < len(msg); off += 4096 {
		if _, err := nc.Write(msg[off:min(off+4096, len(msg))]); err != nil {
			t.Fatal(err)
		}
		if off%(64<<10) == 0 {
			time.Sleep(time.Millisecond) // let the server see a partial value
		}
	}
	expectLine(t, br, "STORED\r\n")
	expectLine(t, br, fmt.Sprintf("VALUE big 7 %d\r\n", len(value)))
	got := make([]byte, len(value)+2)
	if _, err := io.ReadFull(br, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(value)], value) || string(got[len(value):]) != "\r\n" {
		t.Fatal("value read back differs from the value sent")
	}
	expectLine(t, br, "END\r\n")
}

// Bad input on one connection (a key too long, a bad data chunk, unknown
// and malformed commands) is answered on that connection alone; a client
// pipelining on another connection at the same time gets every reply in
// order.
func TestBadInputDoesNotDisturbOtherConnections(t *testing.T) {
	srv := startTestServer(t, nil)
	good, rg := dialT(t, srv.Addr())
	bad, rb := dialT(t, srv.Addr())
	var pipe bytes.Buffer
	for i := range 200 {
		fmt.Fprintf(&pipe, "set k%d 0 0 1\r\n%d\r\nget k%d\r\n", i, i%10, i)
	}
	good.Write(pipe.Bytes())
	// memcached 1.6.45 gives these replies to this batch too (a get with
	// a too-long key goes first: it drops what its read had pending).
	bad.Write([]byte("get " + strings.Repeat("k", 251) + "\r\nset x 0 0 2\r\nabcd\r\nbogus\r\nincr\r\n"))
	for _, want := range []string{
		"CLIENT_ERROR bad command line format\r\n",
		"\r\n",
		"CLIENT_ERROR bad data chunk\r\n",
		"CLIENT_ERROR bad command line format\r\n", // the "\r\n" after "abcd"
		"ERROR\r\n",
		"CLIENT_ERROR bad command line format\r\n", // incr without arguments
	} {
		expectLine(t, rb, want)
	}
	for i := range 200 {
		expectLine(t, rg, "STORED\r\n")
		expectLine(t, rg, fmt.Sprintf("VALUE k%d 0 1\r\n", i))
		expectLine(t, rg, fmt.Sprintf("%d\r\n", i%10))
		expectLine(t, rg, "END\r\n")
	}
}

// wakeGC counts the wake-ups a connection asks gnet for.
type wakeGC struct {
	fuzzGC
	wakes chan struct{}
}

func (g *wakeGC) Wake(gnet.AsyncCallback) error {
	g.wakes <- struct{}{}
	return nil
}

// A connection paused for a client that does not read its replies wakes
// itself to look again, once per pause however often it pauses in between
// (gnet calls nothing when the socket drains, and the server's tick runs
// only once a second when nothing else wants it).
func TestPausedConnectionWakesItself(t *testing.T) {
	c := newTestConn(t)
	g := &wakeGC{wakes: make(chan struct{}, 4)}
	c.gc = g
	c.pause()
	c.pause()
	select {
	case <-g.wakes:
	case <-time.After(5 * time.Second):
		t.Fatal("a paused connection was not woken")
	}
	select {
	case <-g.wakes:
		t.Fatal("two wake-ups for one pause")
	case <-time.After(3 * pauseRetry):
	}
	c.pause() // paused again when woken: another wake-up
	select {
	case <-g.wakes:
	case <-time.After(5 * time.Second):
		t.Fatal("a connection paused again was not woken again")
	}
}

// An idle server ticks once a second, as its clock moves; watchers want
// their eviction lines and notices sooner.
func TestTickIntervalFollowsWork(t *testing.T) {
	srv := startTestServer(t, nil)
	h := &handler{s: srv}
	if d, _ := h.OnTick(); d == tickInterval || d <= 0 || d > time.Second+time.Millisecond {
		t.Errorf("idle server: next tick in %v, want the time to the next second", d)
	}
	w, rw := dialT(t, srv.Addr())
	w.Write([]byte("watch\r\n"))
	expectLine(t, rw, "OK\r\n")
	if d, _ := h.OnTick(); d != tickInterval {
		t.Errorf("with a watcher: next tick in %v, want %v", d, tickInterval)
	}
}
