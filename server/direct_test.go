package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/slabcache/slabcache/proto"
)

type gotValue struct {
	key   string
	flags string
	value []byte
}

// readValues reads one get or gets reply: its VALUE blocks up to END.
func readValues(t *testing.T, br *bufio.Reader) []gotValue {
	t.Helper()
	var vs []gotValue
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "END\r\n" {
			return vs
		}
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != "VALUE" {
			t.Fatalf("reply line %q", line)
		}
		n, _ := strconv.Atoi(f[3])
		b := make([]byte, n+2)
		if _, err := io.ReadFull(br, b); err != nil || string(b[n:]) != "\r\n" {
			t.Fatalf("value of %s: %v, ends %q", f[1], err, b[n:])
		}
		vs = append(vs, gotValue{f[1], f[2], b[:n]})
	}
}

// Large values are sent from the store's memory: replies stay whole and in
// order in a pipeline of large and small gets, and a value being
// overwritten, deleted and stored again by other clients meanwhile arrives
// as one complete version, never a mix.
func TestLargeValuesSentWholeWhileOverwritten(t *testing.T) {
	srv := startTestServer(t, nil)
	const size = 200 << 10
	version := func(v int) []byte { return bytes.Repeat([]byte{byte('a' + v%26)}, size) }
	w, wr := dialT(t, srv.Addr())
	fmt.Fprintf(w, "set big 3 0 %d\r\n%s\r\nset small 0 0 2\r\nhi\r\n", size, version(0))
	expectLine(t, wr, "STORED\r\n")
	expectLine(t, wr, "STORED\r\n")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, br := dialT(t, srv.Addr())
			for v := 1 + g; ; v += 2 {
				select {
				case <-stop:
					return
				default:
				}
				if v%7 == 0 {
					fmt.Fprintf(nc, "delete big\r\n")
				} else {
					fmt.Fprintf(nc, "set big 3 0 %d\r\n%s\r\n", size, version(v))
				}
				if _, err := br.ReadString('\n'); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	checkBig := func(round int, v gotValue) {
		if v.key != "big" || v.flags != "3" || len(v.value) != size || bytes.Count(v.value, v.value[:1]) != size {
			t.Fatalf("round %d: %s flags %s, %d bytes, %d of them %q", round, v.key, v.flags, len(v.value), bytes.Count(v.value, v.value[:1]), v.value[:1])
		}
	}
	r, br := dialT(t, srv.Addr())
	bigs := 0
	for n := 0; n < 300; n++ {
		r.Write([]byte("get big\r\nget small\r\ngets big small\r\n"))
		for j := range 3 {
			vs := readValues(t, br)
			if j != 1 && len(vs) > 0 && vs[0].key == "big" {
				checkBig(n, vs[0])
				vs = vs[1:]
				bigs++
			}
			if want := min(j, 1); len(vs) != want || want == 1 && (vs[0].key != "small" || string(vs[0].value) != "hi") {
				t.Fatalf("round %d, reply %d: %d more values, want %d small", n, j, len(vs), want)
			}
		}
	}
	close(stop)
	wg.Wait()
	if bigs == 0 {
		t.Fatal("never got the large value")
	}
}

// mg and binary GET send large values the same way, a value kept in
// several chunks too: the value and what follows it arrive whole and in
// order.
func TestLargeValuesMetaAndBinary(t *testing.T) {
	srv := startTestServer(t, nil)
	const size = 700 << 10 // kept in two chunks
	value := bytes.Repeat([]byte("q"), size)
	nc, br := dialT(t, srv.Addr())
	fmt.Fprintf(nc, "set big 7 0 %d\r\n%s\r\n", size, value)
	expectLine(t, br, "STORED\r\n")

	nc.Write([]byte("mg big v f s\r\nmg big k v\r\nmn\r\n"))
	for _, hdr := range []string{"VA 716800 f7 s716800\r\n", "VA 716800 kbig\r\n"} {
		expectLine(t, br, hdr)
		got := make([]byte, size+2)
		if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got[:size], value) || string(got[size:]) != "\r\n" {
			t.Fatalf("mg value after %q: %v", hdr, err)
		}
	}
	expectLine(t, br, "MN\r\n")

	bc, bbr := dialT(t, srv.Addr())
	for _, op := range []proto.BinOpcode{proto.BinOpGet, proto.BinOpGetK} {
		resp, err := binRoundTrip(t, bc, bbr, proto.BinRequest{Opcode: op, Key: []byte("big"), Opaque: 9})
		if err != nil || resp.Status != proto.BinStatusSuccess || resp.Flags != 7 || resp.Opaque != 9 || !bytes.Equal(resp.Value, value) {
			t.Fatalf("%v: %v, status %v flags %d, %d bytes", op, err, resp.Status, resp.Flags, len(resp.Value))
		}
		if op == proto.BinOpGetK && string(resp.Key) != "big" {
			t.Fatalf("GETK key %q", resp.Key)
		}
	}
	resp, err := binRoundTrip(t, bc, bbr, proto.BinRequest{Opcode: proto.BinOpVersion})
	if err != nil || string(resp.Value) != Version {
		t.Fatalf("version after the large values: %v %q", err, resp.Value)
	}
}

// A multi-get with a key that is too long answers only the error, as
// memcached 1.6.45 does, even when a large value came before it.
func TestLargeValueBeforeLongKeyIsDropped(t *testing.T) {
	srv := startTestServer(t, nil)
	nc, br := dialT(t, srv.Addr())
	fmt.Fprintf(nc, "set big 0 0 %d\r\n%s\r\n", 100<<10, bytes.Repeat([]byte("b"), 100<<10))
	expectLine(t, br, "STORED\r\n")
	fmt.Fprintf(nc, "get big %s\r\nversion\r\n", strings.Repeat("k", 251))
	expectLine(t, br, "CLIENT_ERROR bad command line format\r\n")
	expectLine(t, br, "\r\n") // as memcached 1.6.45 answers
	expectLine(t, br, "VERSION "+Version+"\r\n")
}
