// Command gnetnull is a memcached text-protocol server that stores
// nothing, on gnet with the options slabcached uses: every get hits with
// the same 100-byte value, every store answers STORED. It measures the
// floor under slabcached's request path, what gnet and the Go runtime
// cost by themselves, beside memcached and slabcached under the same load
// (docs/benchmarks.md, "The event loop's floor"):
//
//	scripts/ab-bench.sh -C bin/gnetnull bin/slabcached '../shared/memcached-1.6.45/memcached -u root'
//
// With -poller epoll it serves from one loop over epoll of its own instead
// of gnet, and with -raw that loop's non-blocking system calls are raw
// ones ("Without gnet" in the same section).
//
// It takes slabcached's -l, -p and -t; the other flags ab-bench passes
// (-U, -m) are accepted and ignored. It is a benchmark tool, not a cache.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/slabcache/slabcache/internal/ticks"
)

// yieldEvery is slabcached's: a busy loop yields to the scheduler every
// 2 ms, which keeps Go's monitor thread asleep. It reads the same clock.
var yieldEvery = ticks.FromNanos(2e6)

var value = bytes.Repeat([]byte{'x'}, 100)

type handler struct {
	gnet.BuiltinEventEngine
	yieldAt atomic.Int64 // shared by the loops (-t); one in the measurements
}

type conn struct{ out []byte }

func (h *handler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&conn{out: make([]byte, 0, 4096)})
	return nil, gnet.None
}

func (h *handler) OnTraffic(c gnet.Conn) gnet.Action {
	cc := c.Context().(*conn)
	buf, _ := c.Peek(-1)
	off := 0
	for off < len(buf) {
		rest := buf[off:]
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			break
		}
		line := bytes.TrimSuffix(rest[:nl], []byte{'\r'})
		n, ok := cc.handle(line, rest[nl+1:])
		if !ok {
			break // a value still to come
		}
		off += nl + 1 + n
	}
	c.Discard(off)
	if len(cc.out) > 0 {
		c.Write(cc.out)
		cc.out = cc.out[:0]
	}
	if now := ticks.Now(); now-h.yieldAt.Load() > yieldEvery {
		h.yieldAt.Store(now)
		runtime.Gosched()
	}
	return gnet.None
}

// handle answers one command line; after is what follows the line. It
// returns how many bytes of after the command took (a stored value) and
// false when they have not all arrived.
func (cc *conn) handle(line, after []byte) (int, bool) {
	f := bytes.Fields(line)
	if len(f) == 0 {
		cc.out = append(cc.out, "ERROR\r\n"...)
		return 0, true
	}
	switch string(f[0]) {
	case "get", "gets":
		for _, k := range f[1:] {
			cc.out = append(cc.out, "VALUE "...)
			cc.out = append(cc.out, k...)
			cc.out = append(cc.out, " 0 100\r\n"...)
			cc.out = append(cc.out, value...)
			cc.out = append(cc.out, "\r\n"...)
		}
		cc.out = append(cc.out, "END\r\n"...)
	case "set", "add", "replace", "append", "prepend", "cas":
		if len(f) < 5 {
			cc.out = append(cc.out, "ERROR\r\n"...)
			return 0, true
		}
		n, err := strconv.Atoi(string(f[4]))
		if err != nil || n < 0 {
			cc.out = append(cc.out, "CLIENT_ERROR bad data chunk\r\n"...)
			return 0, true
		}
		if len(after) < n+2 {
			return 0, false
		}
		if string(f[len(f)-1]) != "noreply" {
			cc.out = append(cc.out, "STORED\r\n"...)
		}
		return n + 2, true
	case "version":
		cc.out = append(cc.out, "VERSION 1.6.45\r\n"...)
	default:
		cc.out = append(cc.out, "ERROR\r\n"...)
	}
	return 0, true
}

func main() {
	fs := flag.NewFlagSet("gnetnull", flag.ExitOnError)
	addr := fs.String("l", "127.0.0.1", "address to listen on")
	port := fs.Int("p", 11211, "TCP port")
	threads := fs.Int("t", 1, "event loops")
	fs.Int("U", 0, "ignored")
	fs.Int("m", 64, "ignored")
	poller := fs.String("poller", "gnet", "gnet, or epoll: one loop over epoll written here (-t 1 only)")
	raw := fs.Bool("raw", false, "with -poller epoll: non-blocking system calls made raw")
	fs.Parse(os.Args[1:])
	if *poller == "epoll" {
		if err := runEpoll(*addr, *port, *raw); err != nil {
			fmt.Fprintln(os.Stderr, "gnetnull:", err)
			os.Exit(1)
		}
		return
	}
	err := gnet.Run(&handler{}, fmt.Sprintf("tcp://%s:%d", *addr, *port),
		gnet.WithMulticore(*threads > 1),
		gnet.WithNumEventLoop(*threads),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithReuseAddr(true),
		gnet.WithTicker(true))
	if err != nil {
		fmt.Fprintln(os.Stderr, "gnetnull:", err)
		os.Exit(1)
	}
}

// OnTick is gnet's ticker, at slabcached's pace (its idle and paused
// connection checks).
func (h *handler) OnTick() (time.Duration, gnet.Action) { return 100 * time.Millisecond, gnet.None }
