package difftest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/slabcache/slabcache/internal/testenv"
)

// TestRunMemcachedAgainstItself runs the whole text corpus through Run with
// memcached on both sides: two processes with different pids, start times and
// connection counts must compare equal, so the normalisation is sufficient.
func TestRunMemcachedAgainstItself(t *testing.T) {
	if testing.Short() {
		t.Skip("plays the whole corpus twice; skipped in -short")
	}
	Run(t, Memcached, Memcached, &Options{Parallel: true, RefName: "memcached A", TestName: "memcached B"}, Files(t, "text")...)
}

// mutatingProxy forwards connections to target, passing every server reply
// through mutate.
func mutatingProxy(t *testing.T, target string, mutate func([]byte) []byte) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(s, c); s.(*net.TCPConn).CloseWrite() }()
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 1<<20)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						if _, werr := c.Write(mutate(buf[:n])); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestRunCatchesABrokenServer puts a proxy in front of memcached that breaks
// replies in small ways and checks the harness reports each one, at the
// right step, with a readable diff.
func TestRunCatchesABrokenServer(t *testing.T) {
	conv, err := ParseFile(filepath.Join(Dir(), "text", "storage.conv"))
	if err != nil {
		t.Fatal(err)
	}
	mutations := []struct {
		name   string
		mutate func([]byte) []byte
		want   []string // in the diff
	}{
		{"NOT_STORED for the first set", func(b []byte) []byte {
			return bytes.Replace(b, []byte("STORED\r\n"), []byte("NOT_STORED\r\n"), 1)
		}, []string{"storage.conv:7", `- STORED\r\n`, `+ NOT_STORED\r\n`}},
		{"one value byte", func(b []byte) []byte {
			return bytes.Replace(b, []byte("bazz"), []byte("bazy"), 1)
		}, []string{"storage.conv:12", `- bazz\r\n`, `+ bazy\r\n`}},
		{"flags", func(b []byte) []byte {
			return bytes.Replace(b, []byte("VALUE newkey 7 2"), []byte("VALUE newkey 0 2"), 1)
		}, []string{"storage.conv:22", `+ VALUE newkey 0 2\r\n`}},
		{"version string only", func(b []byte) []byte {
			return bytes.ReplaceAll(b, []byte("VERSION 1.6.18"), []byte("VERSION 9.9.9"))
		}, nil}, // the sentinel's VERSION is not part of any reply; nothing to report
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			ref := Memcached(t, nil)
			test := mutatingProxy(t, Memcached(t, nil), m.mutate)
			diff, err := compareOn(conv, ref, test, &Options{})
			if err != nil {
				t.Fatal(err)
			}
			if m.want == nil && diff != "" {
				t.Fatalf("a harmless change was reported:\n%s", diff)
			}
			for _, w := range m.want {
				if !strings.Contains(diff, w) {
					t.Errorf("diff lacks %q:\n%s", w, diff)
				}
			}
		})
	}
}

// TestRunGoldenWithBinary checks RunGolden and the Binary starter (the way
// the server's tests start slabcached) on a few conversations, with
// memcached's binary in slabcached's place.
func TestRunGoldenWithBinary(t *testing.T) {
	var extra []string
	if os.Geteuid() == 0 {
		extra = []string{"-u", "root"} // memcached refuses to run as root without -u
	}
	files := []string{
		filepath.Join(Dir(), "text", "cas.conv"),
		filepath.Join(Dir(), "text", "item_max_small.conv"), // needs its flags
		filepath.Join(Dir(), "text", "http.conv"),
	}
	RunGolden(t, Binary(testenv.ReferenceMemcached(t), extra...), nil, files...)
}

func TestBinaryReportsAServerThatDoesNotStart(t *testing.T) {
	ft := &fakeT{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { recover() }() // fakeT.Fatalf ends the goroutine
		Binary("/bin/sh", "-c", "echo refusing to start; exit 3")(ft, nil)
	}()
	<-done
	if !strings.Contains(ft.msg, "exited before listening") || !strings.Contains(ft.msg, "refusing to start") {
		t.Fatalf("message %q", ft.msg)
	}
}

// fakeT records Fatalf instead of failing the real test.
type fakeT struct {
	testing.TB
	msg string
}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic("fatal")
}

func (f *fakeT) Helper() {}
