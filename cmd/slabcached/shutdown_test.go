package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStopDuringWork stops slabcached with SIGTERM, SIGINT and the
// shutdown command while it crawls, dumps, answers a large multi-get and
// receives a large value: every stop must end the process with status 0
// within seconds (background work ends before memory is released).
// SLABCACHED_STOP_LOOPS repeats every case that many times.
func TestStopDuringWork(t *testing.T) {
	loops := 1
	if v := os.Getenv("SLABCACHED_STOP_LOOPS"); v != "" {
		loops, _ = strconv.Atoi(v)
	}
	items := 100000
	if testing.Short() {
		items = 20000
	}
	bin := buildBinary(t)
	works := []struct {
		name  string
		start func(t *testing.T, addr string) net.Conn
	}{
		{"crawl", func(t *testing.T, addr string) net.Conn {
			return sendNoRead(t, addr, "lru_crawler crawl all\r\n")
		}},
		{"metadump", func(t *testing.T, addr string) net.Conn {
			return sendNoRead(t, addr, "lru_crawler metadump all\r\n")
		}},
		{"multiget", func(t *testing.T, addr string) net.Conn {
			var b strings.Builder
			b.WriteString("get")
			for i := 0; i < 400; i++ {
				fmt.Fprintf(&b, " big%d", i)
			}
			b.WriteString("\r\n")
			return sendNoRead(t, addr, b.String())
		}},
		{"streaming-set", func(t *testing.T, addr string) net.Conn {
			return sendNoRead(t, addr, "set huge 0 0 900000\r\n"+strings.Repeat("v", 450000))
		}},
	}
	stops := []string{"SIGTERM", "SIGINT", "shutdown"}
	for _, w := range works {
		for _, stop := range stops {
			t.Run(w.name+"/"+stop, func(t *testing.T) {
				for range loops {
					stopDuring(t, bin, items, w.start, stop)
				}
			})
		}
	}
}

func stopDuring(t *testing.T, bin string, items int, work func(*testing.T, string) net.Conn, stop string) {
	t.Helper()
	p := startPlain(t, bin, "-m", "128", "-A")
	addr := p.addr
	load(t, addr, items)
	nc := work(t, addr)
	defer nc.Close()
	time.Sleep(20 * time.Millisecond)
	switch stop {
	case "SIGTERM":
		p.cmd.Process.Signal(syscall.SIGTERM)
	case "SIGINT":
		p.cmd.Process.Signal(syscall.SIGINT)
	default:
		sendNoRead(t, addr, "shutdown\r\n").Close()
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, p.stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15 s after %s", stop)
	}
}

// load stores n small items and 400 values of 50 KiB (for the large
// multi-get), pipelined, and waits for the last reply.
func load(t *testing.T, addr string, n int) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(60 * time.Second))
	w := bufio.NewWriterSize(nc, 64<<10)
	go func() {
		for i := 0; i < n; i++ {
			fmt.Fprintf(w, "set key:%d 0 0 10 noreply\r\n0123456789\r\n", i)
		}
		big := strings.Repeat("b", 50<<10)
		for i := 0; i < 400; i++ {
			fmt.Fprintf(w, "set big%d 0 0 %d noreply\r\n%s\r\n", i, len(big), big)
		}
		w.WriteString("mn\r\n")
		w.Flush()
	}()
	r := bufio.NewReader(nc)
	line, err := r.ReadString('\n')
	if line != "MN\r\n" {
		t.Fatalf("load: %q %v", line, err)
	}
}

// sendNoRead opens a connection, writes s and leaves the reply unread.
func sendNoRead(t *testing.T, addr, s string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := nc.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	return nc
}
