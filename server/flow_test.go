package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// startTestServer starts an in-process server on a loopback port the
// system picks (-p 0); srv.Addr() names it.
func startTestServer(t testing.TB, edit func(*Settings)) *Server {
	t.Helper()
	set := DefaultSettings()
	set.Port = -1 // a port the system picks
	set.Threads = 2
	if edit != nil {
		edit(&set)
	}
	srv, err := New(set, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// A multi-get whose replies (200 MB) are far larger than what the server
// buffers per connection is served in full to a client that reads slowly,
// while the server's memory stays bounded: it builds replies only as fast as
// the client takes them.
func TestHugeMultiGetIsServedWithBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 200 MB")
	}
	srv := startTestServer(t, func(s *Settings) { s.MaxBytes = 64 << 20 })
	nc, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(60 * time.Second))
	value := bytes.Repeat([]byte("z"), 500_000)
	var req bytes.Buffer
	for i := range 10 {
		fmt.Fprintf(&req, "set k%d 0 0 %d\r\n%s\r\n", i, len(value), value)
	}
	nc.Write(req.Bytes())
	br := bufio.NewReader(nc)
	for range 10 {
		if line, _ := br.ReadString('\n'); line != "STORED\r\n" {
			t.Fatalf("set: %q", line)
		}
	}
	before := heapInUse()
	req.Reset()
	req.WriteString("get")
	const keys = 400 // 400 x 500 kB = 200 MB of replies
	for i := range keys {
		fmt.Fprintf(&req, " k%d", i%10)
	}
	req.WriteString("\r\nversion\r\n")
	nc.Write(req.Bytes())
	time.Sleep(500 * time.Millisecond) // the client reads nothing meanwhile
	if grown := int64(heapInUse()) - int64(before); grown > 64<<20 {
		t.Errorf("server heap grew by %d MB while 200 MB of replies waited for the client", grown>>20)
	}
	for i := range keys {
		line, err := br.ReadString('\n')
		if err != nil || line != "VALUE k"+strconv.Itoa(i%10)+" 0 500000\r\n" {
			t.Fatalf("reply %d: %q %v", i, line, err)
		}
		got := make([]byte, len(value)+2)
		if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got[:len(value)], value) {
			t.Fatalf("value %d: %v", i, err)
		}
	}
	for _, want := range []string{"END\r\n", "VERSION " + Version + "\r\n"} {
		if line, _ := br.ReadString('\n'); line != want {
			t.Fatalf("got %q, want %q", line, want)
		}
	}
}
