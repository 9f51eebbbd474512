package server

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/panjf2000/gnet/v2"

	"github.com/slabcache/slabcache/proto"
)

// fuzzGC stands in for gnet's connection: an input buffer the request
// path reads as gnet's, and the replies it writes. Calls to anything else
// panic, which the fuzzer reports.
type fuzzGC struct {
	gnet.Conn
	in, out []byte
}

func (g *fuzzGC) InboundBuffered() int  { return len(g.in) }
func (g *fuzzGC) OutboundBuffered() int { return 0 } // the client reads everything at once
func (g *fuzzGC) Peek(n int) ([]byte, error) {
	if n < 0 || n > len(g.in) {
		n = len(g.in)
	}
	return g.in[:n], nil
}
func (g *fuzzGC) Discard(n int) (int, error) {
	n = min(n, len(g.in))
	g.in = g.in[n:]
	return n, nil
}
func (g *fuzzGC) Write(b []byte) (int, error) {
	g.out = append(g.out, b...)
	return len(b), nil
}
func (g *fuzzGC) Wake(gnet.AsyncCallback) error               { return nil }
func (g *fuzzGC) Fd() int                                     { return 7 }
func (g *fuzzGC) RemoteAddr() net.Addr                        { return nil }
func (g *fuzzGC) LocalAddr() net.Addr                         { return nil }
func (g *fuzzGC) AsyncWrite([]byte, gnet.AsyncCallback) error { return nil }

// FuzzRequestPath feeds arbitrary bytes through the request path of one
// connection: whatever arrives, the server answers without panicking, and
// the store stays consistent (its full check passes). The seed corpus is
// every request of the differential corpus.
//
//	go test -run '^$' -fuzz FuzzRequestPath -fuzztime 60s ./server/
func FuzzRequestPath(f *testing.F) {
	for _, dir := range []string{"text", "meta"} {
		files, _ := filepath.Glob(filepath.Join("..", "internal", "difftest", "testdata", dir, "*.conv"))
		for _, file := range files {
			raw, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			var conv strings.Builder
			for _, line := range strings.Split(string(raw), "\n") {
				if rest, ok := strings.CutPrefix(line, "send "); ok && !strings.Contains(rest, `\{`) {
					conv.WriteString(rest + "\r\n")
				}
			}
			f.Add([]byte(conv.String()))
		}
	}
	f.Add([]byte("set k 0 0 5\r\nhello\r\nget k\r\nms k 2 T0\r\nhi\r\nmg k v c t s f k O1 q\r\nmn\r\n"))
	// A binary conversation: set, get, getk miss, incr, stat, noop.
	var bin []byte
	for _, r := range []proto.BinRequest{
		{Opcode: proto.BinOpSet, Key: []byte("k"), Value: []byte("hello"), Flags: 3},
		{Opcode: proto.BinOpGet, Key: []byte("k")},
		{Opcode: proto.BinOpGetK, Key: []byte("nope")},
		{Opcode: proto.BinOpIncrement, Key: []byte("n"), Delta: 1, Initial: 5},
		{Opcode: proto.BinOpStat, Key: []byte("items")},
		{Opcode: proto.BinOpNoop},
	} {
		bin = proto.AppendBinRequest(bin, &r)
	}
	f.Add(bin)
	f.Fuzz(func(t *testing.T, in []byte) {
		c := newTestConn(t)
		g := &fuzzGC{in: in}
		c.gc = g
		// As gnet does: call the handler while it makes progress (it
		// stops early on purpose after large replies).
		for len(g.in) > 0 {
			before := len(g.in)
			if c.onTraffic() == gnet.Close || len(g.in) == before {
				break
			}
		}
		c.release() // the connection goes away: an open value is aborted
		if c.watching.Load() {
			c.s.obs.stopWatch(c)
		}
		if c.bin {
			// Binary replies are whole response packets, back to back.
			for rest := g.out; len(rest) > 0; {
				var rp proto.BinResponse
				n, err := proto.ParseBinResponse(rest, &rp)
				if err != nil {
					t.Fatalf("binary reply %q: %v", rest[:min(len(rest), 80)], err)
				}
				rest = rest[n:]
			}
		} else if len(g.out) > 0 && g.out[len(g.out)-1] != '\n' {
			t.Fatalf("reply does not end a line: %q", g.out[max(0, len(g.out)-80):])
		}
		if err := c.s.store.Check(0); err != nil {
			t.Fatalf("after %q: %v", in, err)
		}
	})
}
