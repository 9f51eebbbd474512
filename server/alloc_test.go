package server

import (
	"bytes"
	"testing"

	"github.com/slabcache/slabcache/internal/clock"
	"github.com/slabcache/slabcache/proto"
)

// newTestConn builds a server that does not listen and a connection state
// that is fed bytes directly: the request path without the network.
func newTestConn(t testing.TB) *conn {
	t.Helper()
	return newTestConnWith(t, func(s *Settings) {
		s.MaxBytes = 16 << 20
		s.HotKeySampleRate = 1 // every request goes through the hot-key summary
	})
}

// newTestConnWith is newTestConn with settings edit gives (from the
// defaults).
func newTestConnWith(t testing.TB, edit func(*Settings)) *conn {
	t.Helper()
	set := DefaultSettings()
	edit(&set)
	srv, err := New(set, Options{Clock: clock.NewFake(1_700_000_000)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.store.Close() })
	loop := &loopStats{hot: srv.hot.Sampler()}
	return &conn{s: srv, loop: loop}
}

// run feeds buf through the request path and returns the replies.
func (c *conn) run(buf []byte) []byte {
	c.out = c.out[:0]
	for off := 0; off < len(buf); {
		n, _ := c.process(buf[off:])
		if n == 0 {
			break
		}
		off += n
	}
	return c.out
}

// The get, set, multi-get, incr, delete and touch paths allocate nothing per
// request once the connection's buffers have grown.
func TestRequestPathAllocatesNothing(t *testing.T) {
	c := newTestConn(t)
	value := bytes.Repeat([]byte("v"), 100)
	set := append(append([]byte("set key:000001 0 0 100\r\n"), value...), "\r\n"...)
	cases := []struct {
		name string
		req  []byte
		want string // a part of the reply
	}{
		{"set", set, "STORED\r\n"},
		{"get", []byte("get key:000001\r\n"), "VALUE key:000001 0 100\r\n"},
		{"gets", []byte("gets key:000001\r\n"), "VALUE key:000001 0 100 "},
		{"multiget", []byte("get key:000001 key:000002 key:000001 key:000003 key:000001\r\n"), "END\r\n"},
		{"pipelined", append(append([]byte{}, set...), "get key:000001\r\nget nokey\r\n"...), "STORED\r\nVALUE"},
		{"incr", []byte("set n 0 0 1\r\n1\r\nincr n 5\r\n"), "6\r\n"},
		{"touch", []byte("touch key:000001 100\r\n"), "TOUCHED\r\n"},
		{"delete", []byte("set d 0 0 1\r\nx\r\ndelete d\r\n"), "DELETED\r\n"},
		{"noreply", []byte("set q 0 0 1 noreply\r\nx\r\n"), ""},
	}
	for _, tc := range cases {
		got := string(c.run(tc.req))
		if !bytes.Contains([]byte(got), []byte(tc.want)) {
			t.Fatalf("%s: reply %q does not contain %q", tc.name, got, tc.want)
		}
		if allocs := testing.AllocsPerRun(200, func() { c.run(tc.req) }); allocs != 0 {
			t.Errorf("%s: %.1f allocations per request, want 0", tc.name, allocs)
		}
	}
}

// The binary protocol's get, set, incr and delete allocate nothing per
// request either.
func TestBinaryRequestPathAllocatesNothing(t *testing.T) {
	c := newTestConn(t)
	run := func(buf []byte) []byte {
		c.out = c.out[:0]
		for off := 0; off < len(buf); {
			n, _ := c.processBinary(buf[off:])
			if n == 0 {
				break
			}
			off += n
		}
		return c.out
	}
	value := bytes.Repeat([]byte("v"), 100)
	cases := []struct {
		name string
		req  proto.BinRequest
		size int // the reply's length
	}{
		{"set", proto.BinRequest{Opcode: proto.BinOpSet, Key: []byte("key:000001"), Value: value}, 24},
		{"get", proto.BinRequest{Opcode: proto.BinOpGet, Key: []byte("key:000001")}, 24 + 4 + 100},
		{"getk", proto.BinRequest{Opcode: proto.BinOpGetK, Key: []byte("key:000001")}, 24 + 4 + 10 + 100},
		{"getq miss", proto.BinRequest{Opcode: proto.BinOpGetQ, Key: []byte("nokey")}, 0},
		{"incr", proto.BinRequest{Opcode: proto.BinOpIncrement, Key: []byte("n"), Delta: 1}, 24 + 8},
		{"delete miss", proto.BinRequest{Opcode: proto.BinOpDelete, Key: []byte("nokey")}, 24 + len("Not found")},
	}
	for _, tc := range cases {
		req := proto.AppendBinRequest(nil, &tc.req)
		if got := run(req); len(got) != tc.size {
			t.Fatalf("%s: reply of %d bytes %q, want %d", tc.name, len(got), got, tc.size)
		}
		if allocs := testing.AllocsPerRun(200, func() { run(req) }); allocs != 0 {
			t.Errorf("%s: %.1f allocations per request, want 0", tc.name, allocs)
		}
	}
}
