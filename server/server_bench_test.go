package server

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/slabcache/slabcache/internal/testenv"
)

// Benchmarks of the whole request path over loopback: a client that
// allocates nothing (prepared request bytes, a fixed read buffer) drives an
// in-process server, so allocs/op is the server's allocations per request
// (runtime counts every goroutine). Run:
//
//	go test -run '^$' -bench BenchmarkServer -benchmem ./server/
//
// One op is one request; with depth d, d requests go out in one write and
// their d replies are read back before the next batch.

type benchClient struct {
	nc    net.Conn
	req   []byte // one batch of requests
	reply []byte // exactly one batch of replies
	per   int    // requests per batch
}

func newBenchClient(b *testing.B, addr string, setup, one, oneReply []byte, depth int) *benchClient {
	b.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	if len(setup) > 0 {
		nc.Write(setup)
		buf := make([]byte, 8)
		if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != "STORED\r\n" {
			b.Fatalf("setup: %q %v", buf, err)
		}
	}
	c := &benchClient{nc: nc, req: bytes.Repeat(one, depth), reply: make([]byte, len(oneReply)*depth), per: depth}
	// One round trip to check the reply is what the benchmark expects.
	if _, err := nc.Write(c.req); err != nil {
		b.Fatal(err)
	}
	if _, err := io.ReadFull(nc, c.reply); err != nil {
		b.Fatal(err)
	}
	if want := bytes.Repeat(oneReply, depth); !bytes.Equal(c.reply, want) {
		b.Fatalf("reply %q, want %q", c.reply[:min(len(c.reply), 200)], want[:min(len(want), 200)])
	}
	return c
}

func (c *benchClient) run(b *testing.B) {
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for done := 0; done < b.N; done += c.per {
		if _, err := c.nc.Write(c.req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c.nc, c.reply); err != nil {
			b.Fatal(err)
		}
	}
	// CPU time of the whole process (client and in-process server) per
	// op: steadier than wall time on a shared machine.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU returns the process's user and system CPU time in ns.
func processCPU() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// eachServer runs f against an in-process slabcached and, side by side in
// the same run, against Debian's memcached with the same memory and thread
// count (the reference: compare the two, not absolute figures, on a noisy
// machine). The memcached figures' allocs/op count only the client.
func eachServer(b *testing.B, f func(b *testing.B, addr string)) {
	b.Run("slabcached", func(b *testing.B) {
		srv := startTestServer(b, func(s *Settings) { s.MaxBytes = 64 << 20; s.Threads = 1 })
		f(b, srv.Addr())
	})
	b.Run("memcached", func(b *testing.B) {
		f(b, testenv.StartReference(b, "-m", "64", "-t", "1"))
	})
}

var value100 = bytes.Repeat([]byte("v"), 100)

func setupValue(key string) []byte {
	return fmt.Appendf(nil, "set %s 0 0 %d\r\n%s\r\n", key, len(value100), value100)
}

func BenchmarkServerGet(b *testing.B) {
	for _, depth := range []int{1, 16} {
		b.Run(fmt.Sprintf("depth%d", depth), func(b *testing.B) {
			eachServer(b, func(b *testing.B, addr string) {
				reply := fmt.Appendf(nil, "VALUE key:000000001 0 %d\r\n%s\r\nEND\r\n", len(value100), value100)
				c := newBenchClient(b, addr, setupValue("key:000000001"), []byte("get key:000000001\r\n"), reply, depth)
				c.run(b)
			})
		})
	}
}

func BenchmarkServerSet(b *testing.B) {
	for _, depth := range []int{1, 16} {
		b.Run(fmt.Sprintf("depth%d", depth), func(b *testing.B) {
			eachServer(b, func(b *testing.B, addr string) {
				c := newBenchClient(b, addr, nil, setupValue("key:000000001"), []byte("STORED\r\n"), depth)
				c.run(b)
			})
		})
	}
}

func BenchmarkServerMultiGet10(b *testing.B) { eachServer(b, benchMultiGet10) }

func benchMultiGet10(b *testing.B, addr string) {
	var setup, line, reply bytes.Buffer
	line.WriteString("get")
	for i := range 10 {
		key := fmt.Sprintf("key:%09d", i)
		setup.Write(setupValue(key))
		line.WriteString(" " + key)
		fmt.Fprintf(&reply, "VALUE %s 0 %d\r\n%s\r\n", key, len(value100), value100)
	}
	line.WriteString("\r\n")
	reply.WriteString("END\r\n")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	nc.Write(setup.Bytes())
	io.ReadFull(nc, make([]byte, 10*len("STORED\r\n")))
	nc.Close()
	c := newBenchClient(b, addr, nil, line.Bytes(), reply.Bytes(), 1)
	c.run(b) // one op = one 10-key get
}

func BenchmarkServerMetaGet(b *testing.B) { eachServer(b, benchMetaGet) }

func benchMetaGet(b *testing.B, addr string) {
	reply := fmt.Appendf(nil, "VA %d f0 t-1\r\n%s\r\n", len(value100), value100)
	c := newBenchClient(b, addr, setupValue("key:000000001"), []byte("mg key:000000001 v f t\r\n"), reply, 16)
	c.run(b)
}

// BenchmarkServerHotKeyCost runs the same loads with hot-key detection on
// (the default) and off, side by side in one run: the ratio is the cost of
// sampling on the request path.
//
//	go test -run '^$' -bench BenchmarkServerHotKeyCost -count 6 ./server/ | tee /tmp/hk.txt
//	benchstat -col /hotkeys /tmp/hk.txt
func BenchmarkServerHotKeyCost(b *testing.B) {
	get16 := func(b *testing.B, addr string) {
		reply := fmt.Appendf(nil, "VALUE key:000000001 0 %d\r\n%s\r\nEND\r\n", len(value100), value100)
		newBenchClient(b, addr, setupValue("key:000000001"), []byte("get key:000000001\r\n"), reply, 16).run(b)
	}
	set16 := func(b *testing.B, addr string) {
		newBenchClient(b, addr, nil, setupValue("key:000000001"), []byte("STORED\r\n"), 16).run(b)
	}
	for _, load := range []struct {
		name string
		f    func(*testing.B, string)
	}{{"get16", get16}, {"set16", set16}, {"multiget10", benchMultiGet10}} {
		for _, on := range []bool{true, false} {
			b.Run(fmt.Sprintf("load=%s/hotkeys=%v", load.name, on), func(b *testing.B) {
				srv := startTestServer(b, func(s *Settings) { s.MaxBytes = 64 << 20; s.Threads = 1; s.HotKeys = on })
				load.f(b, srv.Addr())
			})
		}
	}
}

// BenchmarkServerFlushedPrefixes runs get and multi-get with no namespace
// flushed and with 1,000 flushed (t0: to t999:, so every read's key
// "key:..." is looked up in the table once), side by side in one run: the
// ratio is what flush_prefix costs the read path.
//
//	go test -run '^$' -bench BenchmarkServerFlushedPrefixes -count 6 ./server/ | tee /tmp/fp.txt
//	benchstat -col /flushed /tmp/fp.txt
func BenchmarkServerFlushedPrefixes(b *testing.B) {
	get16 := func(b *testing.B, addr string) {
		reply := fmt.Appendf(nil, "VALUE key:000000001 0 %d\r\n%s\r\nEND\r\n", len(value100), value100)
		newBenchClient(b, addr, setupValue("key:000000001"), []byte("get key:000000001\r\n"), reply, 16).run(b)
	}
	for _, load := range []struct {
		name string
		f    func(*testing.B, string)
	}{{"get16", get16}, {"multiget10", benchMultiGet10}} {
		for _, n := range []int{0, 1000} {
			b.Run(fmt.Sprintf("load=%s/flushed=%d", load.name, n), func(b *testing.B) {
				// The crawler off keeps the prefixes in the table (a
				// pass would drop them at once: no item is in them).
				srv := startTestServer(b, func(s *Settings) { s.MaxBytes = 64 << 20; s.Threads = 1; s.LRUCrawler = false })
				for i := range n {
					if err := srv.store.FlushPrefix(fmt.Appendf(nil, "t%d:", i)); err != nil {
						b.Fatal(err)
					}
				}
				load.f(b, srv.Addr())
				if got := srv.store.PrefixStats().Pending; got != n {
					b.Fatalf("%d prefixes pending after the run, want %d", got, n)
				}
			})
		}
	}
}
