package codec

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/testenv"
)

func reader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

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
		{string(Text{}.AppendGet(nil, keys("a"))), "get a\r\n"},
		{string(Text{}.AppendGet(nil, keys("a", "bb", "c"))), "get a bb c\r\n"},
		{string(Text{}.AppendSet(nil, []byte("k"), []byte("hello"), 7, -1)), "set k 7 -1 5\r\nhello\r\n"},
		{string(Meta{}.AppendGet(nil, keys("a"))), "mg a v\r\n"},
		{string(Meta{}.AppendGet(nil, keys("a", "b"))), "mg a v q\r\nmg b v q\r\nmn\r\n"},
		{string(Meta{}.AppendSet(nil, []byte("k"), []byte("hello"), 0, 0)), "ms k 5\r\nhello\r\n"},
		{string(Meta{}.AppendSet(nil, []byte("k"), []byte(""), 3, 60)), "ms k 0 F3 T60\r\n\r\n"},
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
		codec    Codec
		reply    string
		nkeys    int
		hits     int
		wantErr  string // "" none, "server", "protocol", or "eof"
		leftover string // bytes that must remain unread
	}{
		{"text miss", Text{}, "END\r\nNEXT", 1, 0, "", "NEXT"},
		{"text hit", Text{}, "VALUE k 0 3\r\nabc\r\nEND\r\nNEXT", 1, 1, "", "NEXT"},
		{"text hit with cas", Text{}, "VALUE k 5 3 99\r\nabc\r\nEND\r\n", 1, 1, "", ""},
		{"text multi", Text{}, "VALUE a 0 1\r\nx\r\nVALUE c 0 2\r\nyz\r\nEND\r\n", 3, 2, "", ""},
		{"text value holding END", Text{}, "VALUE a 0 5\r\nEND\r\n\r\nEND\r\n", 1, 1, "", ""},
		{"text bare newlines", Text{}, "VALUE a 0 1\nx\nEND\n", 1, 1, "", ""},
		{"text client error", Text{}, "CLIENT_ERROR bad command line format\r\nNEXT", 1, 0, "server", "NEXT"},
		{"text server error", Text{}, "SERVER_ERROR out of memory\r\n", 1, 0, "server", ""},
		{"text garbage", Text{}, "HELLO\r\n", 1, 0, "protocol", ""},
		{"text bad length", Text{}, "VALUE a 0 x\r\n", 1, 0, "protocol", ""},
		{"text bad terminator", Text{}, "VALUE a 0 1\r\nxyEND\r\n", 1, 0, "protocol", ""},
		{"text too many values", Text{}, "VALUE a 0 1\r\nx\r\nVALUE a 0 1\r\nx\r\nEND\r\n", 1, 2, "protocol", ""},
		{"text truncated", Text{}, "VALUE a 0 10\r\nabc", 1, 0, "eof", ""},
		{"meta hit", Meta{}, "VA 3\r\nabc\r\nNEXT", 1, 1, "", "NEXT"},
		{"meta hit with flags", Meta{}, "VA 3 f0 s3\r\nabc\r\n", 1, 1, "", ""},
		{"meta miss", Meta{}, "EN\r\nNEXT", 1, 0, "", "NEXT"},
		{"meta error", Meta{}, "CLIENT_ERROR bad command line format\r\nNEXT", 1, 0, "server", "NEXT"},
		{"meta multi", Meta{}, "VA 1\r\nx\r\nVA 2\r\nyz\r\nMN\r\nNEXT", 3, 2, "", "NEXT"},
		{"meta multi all miss", Meta{}, "MN\r\n", 3, 0, "", ""},
		{"meta multi error in the middle", Meta{}, "VA 1\r\nx\r\nCLIENT_ERROR bad command line format\r\nMN\r\nNEXT", 3, 1, "server", "NEXT"},
		{"meta garbage", Meta{}, "HD\r\n", 1, 0, "protocol", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := reader(c.reply)
			hits, err := c.codec.ReadGet(r, c.nkeys)
			checkErr(t, err, c.wantErr)
			if hits != c.hits {
				t.Errorf("hits = %d, want %d", hits, c.hits)
			}
			if c.wantErr == "" || c.wantErr == "server" {
				rest, _ := r.Peek(r.Buffered())
				if string(rest) != c.leftover {
					t.Errorf("left %q unread, want %q", rest, c.leftover)
				}
			}
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	var se *ServerError
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
		if !errors.Is(err, ErrProtocol) {
			t.Fatalf("error %v, want ErrProtocol", err)
		}
	case "eof":
		if err == nil || errors.As(err, &se) || errors.Is(err, ErrProtocol) {
			t.Fatalf("error %v, want an I/O error", err)
		}
	}
}

func TestReadSet(t *testing.T) {
	cases := []struct {
		codec   Codec
		reply   string
		wantErr string
	}{
		{Text{}, "STORED\r\n", ""},
		{Text{}, "NOT_STORED\r\n", "server"},
		{Text{}, "SERVER_ERROR object too large for cache\r\n", "server"},
		{Text{}, "CLIENT_ERROR bad data chunk\r\n", "server"},
		{Text{}, "ERROR\r\n", "server"},
		{Text{}, "VALUE a 0 1\r\n", "protocol"},
		{Text{}, "STOR", "eof"},
		{Meta{}, "HD\r\n", ""},
		{Meta{}, "HD O123\r\n", ""},
		{Meta{}, "NS\r\n", "server"},
		{Meta{}, "SERVER_ERROR out of memory storing object\r\n", "server"},
		{Meta{}, "STORED\r\n", "protocol"},
	}
	for _, c := range cases {
		err := c.codec.ReadSet(reader(c.reply))
		t.Run(c.codec.Name()+" "+strings.TrimSpace(c.reply), func(t *testing.T) { checkErr(t, err, c.wantErr) })
	}
}

func TestLongLineIsProtocolError(t *testing.T) {
	r := bufio.NewReaderSize(strings.NewReader(strings.Repeat("x", 100)+"\r\n"), 16)
	if _, err := (Text{}).ReadGet(r, 1); !errors.Is(err, ErrProtocol) {
		t.Fatalf("got %v, want ErrProtocol for a line longer than the buffer", err)
	}
}

func TestByName(t *testing.T) {
	for _, n := range []string{"text", "meta"} {
		c, err := ByName(n)
		if err != nil || c.Name() != n {
			t.Errorf("ByName(%q) = %v, %v", n, c, err)
		}
	}
	if _, err := ByName("binary"); err == nil {
		t.Error("ByName(binary) succeeded")
	}
}

// TestZeroAllocs: the request encoders and reply readers are on the load
// generator's hot path and must not allocate.
func TestZeroAllocs(t *testing.T) {
	ks := keys("key:00000000001", "key:00000000002")
	value := bytes.Repeat([]byte("v"), 100)
	buf := make([]byte, 0, 4096)
	for _, c := range []Codec{Text{}, Meta{}} {
		var getReply, setReply string
		if c.Name() == "text" {
			getReply = "VALUE key:00000000001 0 100\r\n" + string(value) + "\r\nEND\r\n"
			setReply = "STORED\r\n"
		} else {
			getReply = "VA 100\r\n" + string(value) + "\r\nMN\r\n"
			setReply = "HD\r\n"
		}
		replies := getReply + setReply
		src := strings.NewReader("")
		r := bufio.NewReader(src)
		allocs := testing.AllocsPerRun(200, func() {
			buf = c.AppendGet(buf[:0], ks)
			buf = c.AppendSet(buf[:0], ks[0], value, 1, 2)
			src.Reset(replies)
			r.Reset(src)
			if hits, err := c.ReadGet(r, 2); err != nil || hits != 1 {
				t.Fatalf("ReadGet = %d, %v", hits, err)
			}
			if err := c.ReadSet(r); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per request, want 0", c.Name(), allocs)
		}
	}
}

// TestAgainstMemcached checks both codecs against the real server.
func TestAgainstMemcached(t *testing.T) {
	for _, c := range []Codec{Text{}, Meta{}} {
		t.Run(c.Name(), func(t *testing.T) {
			addr := testenv.StartMemcached(t)
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(nc)
			p := c.Name() + ":"
			var out []byte
			out = c.AppendSet(out, []byte(p+"a"), []byte("alpha"), 5, 0)
			out = c.AppendSet(out, []byte(p+"b"), make([]byte, 2<<20), 0, 0) // too large: refused
			out = c.AppendGet(out, keys(p+"a"))
			out = c.AppendGet(out, keys(p+"zz"))
			out = c.AppendGet(out, keys(p+"a", p+"zz", p+"a", p+"b"))
			if _, err := nc.Write(out); err != nil {
				t.Fatal(err)
			}
			if err := c.ReadSet(r); err != nil {
				t.Fatalf("set: %v", err)
			}
			var se *ServerError
			if err := c.ReadSet(r); !errors.As(err, &se) || !strings.Contains(se.Line, "too large") {
				t.Fatalf("oversized set: %v, want SERVER_ERROR object too large", err)
			}
			for _, want := range []struct{ n, hits int }{{1, 1}, {1, 0}, {4, 2}} {
				hits, err := c.ReadGet(r, want.n)
				if err != nil || hits != want.hits {
					t.Fatalf("get of %d keys: %d hits, %v; want %d", want.n, hits, err, want.hits)
				}
			}
			st, err := Stats(nc, "")
			if err != nil {
				t.Fatal(err)
			}
			if st["curr_items"] != "1" || st["version"] == "" {
				t.Fatalf("stats: curr_items %q version %q", st["curr_items"], st["version"])
			}
		})
	}
}
