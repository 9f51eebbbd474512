package proto

import (
	"bytes"
	"testing"
)

func TestPeekRequest(t *testing.T) {
	for _, c := range []struct {
		in, key string
		n       int
	}{
		{"get foo\r\nget bar\r\n", "foo", 9},
		{"get foo bar\r\n", "foo", 13},
		{"gets foo\n", "foo", 9},
		{"mg foo v f\r\nmn\r\n", "foo", 12},
		{"set foo 0 0 3\r\nbar\r\nget x\r\n", "foo", 20},
		{"set foo 1 2 3 noreply\r\nbar\r\n", "foo", 28},
		{"set foo 0 0 3\r\nba", "foo", 0}, // the data is not all here
		{"set foo 0 0 x\r\nbar\r\n", "foo", 0},
		{"set foo 0 0\r\n", "foo", 0},
		{"ms foo 3 T0\r\nbar\r\nmn\r\n", "foo", 18},
		{"ms foo 3\r\nbar\r\n", "foo", 15},
		{"get foo", "", 0},       // the key may go on in the next read
		{"get foo ba", "foo", 0}, // the line is not all here
		{"get  foo\r\n", "", 0},
		{"gat 0 foo\r\n", "", 0},
		{"getx foo\r\n", "", 0},
		{"delete foo\r\n", "", 0},
		{"mn\r\n", "", 0},
		{"\x80\x00\x00\x03", "", 0},
		{"", "", 0},
		{"get " + string(make([]byte, MaxKeyLen+1)) + "\r\n", "", 0},
	} {
		key, n := PeekRequest([]byte(c.in))
		if string(key) != c.key || n != c.n {
			t.Errorf("PeekRequest(%q) = %q, %d; want %q, %d", c.in, key, n, c.key, c.n)
		}
	}
}

func TestPeekBinaryRequest(t *testing.T) {
	get := AppendBinRequest(nil, &BinRequest{Opcode: BinOpGet, Key: []byte("foo")})
	set := AppendBinRequest(nil, &BinRequest{Opcode: BinOpSet, Key: []byte("bar"), Value: []byte("value")})
	noop := AppendBinRequest(nil, &BinRequest{Opcode: BinOpNoop})
	batch := bytes.Join([][]byte{get, set, noop}, nil)
	for _, c := range []struct {
		name string
		in   []byte
		key  string
		n    int
	}{
		{"get", batch, "foo", len(get)},
		{"set", batch[len(get):], "bar", len(set)},
		{"set without its value", set[:len(set)-2], "bar", 0},
		{"set without its whole key", set[:BinHeaderLen+8+2], "", 0},
		{"noop", noop, "", 0},
		{"header only", get[:BinHeaderLen-1], "", 0},
		{"text", []byte("get foo\r\n"), "", 0},
	} {
		key, n := PeekBinaryRequest(c.in)
		if string(key) != c.key || n != c.n {
			t.Errorf("%s: %q, %d; want %q, %d", c.name, key, n, c.key, c.n)
		}
	}
}

// peekAgrees checks a peek (key, n) against the parser's reading of the
// same buf (the first key, the length, its error): a length within buf,
// and, where both read a request, the same key and length. (Where they
// differ the look-ahead only loses a prefetch, but a wrong length would
// send it off the request boundaries for the rest of a batch.)
func peekAgrees(t *testing.T, buf, key []byte, n int, parsedKey []byte, parsedN int, err error) {
	t.Helper()
	if n < 0 || n > len(buf) || n > 0 && key == nil {
		t.Fatalf("peek at %q: %q, %d", buf, key, n)
	}
	if err == nil && n > 0 && (parsedN != n || !bytes.Equal(parsedKey, key)) {
		t.Fatalf("%q: the peek says key %q, %d bytes; the parser %q, %d bytes", buf, key, n, parsedKey, parsedN)
	}
}

func FuzzPeekRequest(f *testing.F) {
	for _, s := range []string{
		"get foo\r\n", "gets a b c\r\n", "mg foo v f t\r\n", "set foo 1 2 3\r\nbar\r\n",
		"set foo 1 2 3 noreply\r\nbar\r\n", "ms foo 3 T0 F5\r\nbar\r\n", "get foo", "set foo 0 0 10\r\nab",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		key, n := PeekRequest(buf)
		var r Request
		pn, err := Parse(buf, &r)
		first := r.Key
		if len(r.Keys) > 0 {
			first = r.Keys[0]
		}
		peekAgrees(t, buf, key, n, first, pn, err)
	})
}

func FuzzPeekBinaryRequest(f *testing.F) {
	f.Add(AppendBinRequest(nil, &BinRequest{Opcode: BinOpGet, Key: []byte("foo")}))
	f.Add(AppendBinRequest(nil, &BinRequest{Opcode: BinOpSetQ, Key: []byte("bar"), Value: []byte("value")}))
	f.Add(AppendBinRequest(nil, &BinRequest{Opcode: BinOpIncrement, Key: []byte("n"), Delta: 1}))
	f.Fuzz(func(t *testing.T, buf []byte) {
		key, n := PeekBinaryRequest(buf)
		var r BinRequest
		pn, err := ParseBinary(buf, &r)
		peekAgrees(t, buf, key, n, r.Key, pn, err)
	})
}
