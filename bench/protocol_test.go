package bench

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/testenv"
	"github.com/slabcache/slabcache/proto"
)

func reader(s string) *proto.Reader { return proto.NewReader(strings.NewReader(s)) }

func keys(ks ...string) [][]byte {
	out := make([][]byte, len(ks))
	for i, k := range ks {
		out[i] = []byte(k)
	}
	return out
}

func TestAppendRequests(t *testing.T) {
	cases := []struct {
		got, want string
	}{
		{string(textProtocol{}.appendGet(nil, new(proto.Request), keys("a"))), "get a\r\n"},
		{string(textProtocol{}.appendGet(nil, new(proto.Request), keys("a", "bb", "c"))), "get a bb c\r\n"},
		{string(textProtocol{}.appendSet(nil, new(proto.Request), []byte("k"), []byte("hello"), 7, -1)), "set k 7 -1 5\r\nhello\r\n"},
		{string(metaProtocol{}.appendGet(nil, new(proto.Request), keys("a"))), "mg a v\r\n"},
		{string(metaProtocol{}.appendGet(nil, new(proto.Request), keys("a", "b"))), "mg a v q\r\nmg b v q\r\nmn\r\n"},
		{string(metaProtocol{}.appendSet(nil, new(proto.Request), []byte("k"), []byte("hello"), 0, 0)), "ms k 5\r\nhello\r\n"},
		{string(metaProtocol{}.appendSet(nil, new(proto.Request), []byte("k"), []byte(""), 3, 60)), "ms k 0 F3 T60\r\n\r\n"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestReadGet(t *testing.T) {
	cases := []struct {
		name     string
		proto    protocol
		reply    string
		nkeys    int
		hits     int
		wantErr  string // "" none, "server", "protocol", or "eof"
		leftover string // bytes that must remain unread
	}{
		{"text miss", textProtocol{}, "END\r\nNEXT", 1, 0, "", "NEXT"},
		{"text hit", textProtocol{}, "VALUE k 0 3\r\nabc\r\nEND\r\nNEXT", 1, 1, "", "NEXT"},
		{"text hit with cas", textProtocol{}, "VALUE k 5 3 99\r\nabc\r\nEND\r\n", 1, 1, "", ""},
		{"text multi", textProtocol{}, "VALUE a 0 1\r\nx\r\nVALUE c 0 2\r\nyz\r\nEND\r\n", 3, 2, "", ""},
		{"text value holding END", textProtocol{}, "VALUE a 0 5\r\nEND\r\n\r\nEND\r\n", 1, 1, "", ""},
		{"text data without its \\r", textProtocol{}, "VALUE a 0 1\nx\nEND\n", 1, 0, "protocol", ""},
		{"text client error", textProtocol{}, "CLIENT_ERROR bad command line format\r\nNEXT", 1, 0, "server", "NEXT"},
		{"text server error", textProtocol{}, "SERVER_ERROR out of memory\r\n", 1, 0, "server", ""},
		{"text garbage", textProtocol{}, "HELLO\r\n", 1, 0, "protocol", ""},
		{"text bad length", textProtocol{}, "VALUE a 0 x\r\n", 1, 0, "protocol", ""},
		{"text bad terminator", textProtocol{}, "VALUE a 0 1\r\nxyEND\r\n", 1, 0, "protocol", ""},
		{"text too many values", textProtocol{}, "VALUE a 0 1\r\nx\r\nVALUE a 0 1\r\nx\r\nEND\r\n", 1, 2, "protocol", ""},
		{"text truncated", textProtocol{}, "VALUE a 0 10\r\nabc", 1, 0, "eof", ""},
		{"meta hit", metaProtocol{}, "VA 3\r\nabc\r\nNEXT", 1, 1, "", "NEXT"},
		{"meta hit with flags", metaProtocol{}, "VA 3 f0 s3\r\nabc\r\n", 1, 1, "", ""},
		{"meta miss", metaProtocol{}, "EN\r\nNEXT", 1, 0, "", "NEXT"},
		{"meta error", metaProtocol{}, "CLIENT_ERROR bad command line format\r\nNEXT", 1, 0, "server", "NEXT"},
		{"meta multi", metaProtocol{}, "VA 1\r\nx\r\nVA 2\r\nyz\r\nMN\r\nNEXT", 3, 2, "", "NEXT"},
		{"meta multi all miss", metaProtocol{}, "MN\r\n", 3, 0, "", ""},
		{"meta multi error in the middle", metaProtocol{}, "VA 1\r\nx\r\nCLIENT_ERROR bad command line format\r\nMN\r\nNEXT", 3, 1, "server", "NEXT"},
		{"meta garbage", metaProtocol{}, "HD\r\n", 1, 0, "protocol", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := reader(c.reply)
			hits, err := c.proto.readGet(r, new(proto.Reply), c.nkeys)
			checkErr(t, err, c.wantErr)
			if hits != c.hits {
				t.Errorf("hits = %d, want %d", hits, c.hits)
			}
			if c.wantErr == "" || c.wantErr == "server" {
				if r.Buffered() != len(c.leftover) {
					t.Errorf("left %d bytes unread, want %q", r.Buffered(), c.leftover)
				}
			}
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	var se *proto.ServerError
	switch want {
	case "":
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
	case "server":
		if !errors.As(err, &se) {
			t.Fatalf("error %v, want a *ServerError", err)
		}
	case "protocol":
		if !errors.Is(err, errUnexpectedReply) && !errors.Is(err, proto.ErrBadReply) {
			t.Fatalf("error %v, want an unexpected or malformed reply", err)
		}
	case "eof":
		if err == nil || errors.As(err, &se) || errors.Is(err, errUnexpectedReply) {
			t.Fatalf("error %v, want an I/O error", err)
		}
	}
}

func TestReadSet(t *testing.T) {
	cases := []struct {
		proto   protocol
		reply   string
		wantErr string
	}{
		{textProtocol{}, "STORED\r\n", ""},
		{textProtocol{}, "NOT_STORED\r\n", "server"},
		{textProtocol{}, "SERVER_ERROR object too large for cache\r\n", "server"},
		{textProtocol{}, "CLIENT_ERROR bad data chunk\r\n", "server"},
		{textProtocol{}, "ERROR\r\n", "server"},
		{textProtocol{}, "VALUE a 0 1\r\n", "eof"},
		{textProtocol{}, "STOR", "eof"},
		{metaProtocol{}, "HD\r\n", ""},
		{metaProtocol{}, "HD O123\r\n", ""},
		{metaProtocol{}, "NS\r\n", "server"},
		{metaProtocol{}, "SERVER_ERROR out of memory storing object\r\n", "server"},
		{metaProtocol{}, "STORED\r\n", "protocol"},
	}
	for _, c := range cases {
		err := c.proto.readSet(reader(c.reply), new(proto.Reply))
		t.Run(c.proto.name()+" "+strings.TrimSpace(c.reply), func(t *testing.T) { checkErr(t, err, c.wantErr) })
	}
}

func TestProtocolByName(t *testing.T) {
	for _, n := range []string{"text", "meta"} {
		c, err := protocolByName(n)
		if err != nil || c.name() != n {
			t.Errorf("protocolByName(%q) = %v, %v", n, c, err)
		}
	}
	if _, err := protocolByName("binary"); err == nil {
		t.Error("protocolByName(binary) succeeded")
	}
}

// TestProtocolsAllocateNothing: encoding requests and reading their
// replies is the load generator's hot path and must not allocate.
func TestProtocolsAllocateNothing(t *testing.T) {
	ks := keys("key:00000000001", "key:00000000002")
	value := bytes.Repeat([]byte("v"), 100)
	buf := make([]byte, 0, 4096)
	var req proto.Request
	var rp proto.Reply
	for _, c := range []protocol{textProtocol{}, metaProtocol{}} {
		var getReply, setReply string
		if c.name() == "text" {
			getReply = "VALUE key:00000000001 0 100\r\n" + string(value) + "\r\nEND\r\n"
			setReply = "STORED\r\n"
		} else {
			getReply = "VA 100\r\n" + string(value) + "\r\nMN\r\n"
			setReply = "HD\r\n"
		}
		replies := getReply + setReply
		src := strings.NewReader("")
		r := proto.NewReader(src)
		allocs := testing.AllocsPerRun(200, func() {
			buf = c.appendGet(buf[:0], &req, ks)
			buf = c.appendSet(buf[:0], &req, ks[0], value, 1, 2)
			src.Reset(replies)
			r.Reset(src)
			if hits, err := c.readGet(r, &rp, 2); err != nil || hits != 1 {
				t.Fatalf("readGet = %d, %v", hits, err)
			}
			if err := c.readSet(r, &rp); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per request, want 0", c.name(), allocs)
		}
	}
}

// TestProtocolsAgainstMemcached runs both protocols against the real server.
func TestProtocolsAgainstMemcached(t *testing.T) {
	for _, c := range []protocol{textProtocol{}, metaProtocol{}} {
		t.Run(c.name(), func(t *testing.T) {
			addr := testenv.StartMemcached(t)
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
			r := proto.NewReader(nc)
			var req proto.Request
			var rp proto.Reply
			p := c.name() + ":"
			var out []byte
			out = c.appendSet(out, &req, []byte(p+"a"), []byte("alpha"), 5, 0)
			out = c.appendSet(out, &req, []byte(p+"b"), make([]byte, 2<<20), 0, 0) // too large: refused
			out = c.appendGet(out, &req, keys(p+"a"))
			out = c.appendGet(out, &req, keys(p+"zz"))
			out = c.appendGet(out, &req, keys(p+"a", p+"zz", p+"a", p+"b"))
			if _, err := nc.Write(out); err != nil {
				t.Fatal(err)
			}
			if err := c.readSet(r, &rp); err != nil {
				t.Fatalf("set: %v", err)
			}
			if err := c.readSet(r, &rp); !errors.Is(err, proto.ErrTooLarge) {
				t.Fatalf("oversized set: %v, want SERVER_ERROR object too large", err)
			}
			for _, want := range []struct{ n, hits int }{{1, 1}, {1, 0}, {4, 2}} {
				hits, err := c.readGet(r, &rp, want.n)
				if err != nil || hits != want.hits {
					t.Fatalf("get of %d keys: %d hits, %v; want %d", want.n, hits, err, want.hits)
				}
			}
			st, err := proto.NewConn(nc).Stats()
			if err != nil {
				t.Fatal(err)
			}
			if st["curr_items"] != "1" || st["version"] == "" {
				t.Fatalf("stats: curr_items %q version %q", st["curr_items"], st["version"])
			}
		})
	}
}
