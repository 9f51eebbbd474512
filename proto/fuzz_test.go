package proto

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// result is what a Parse call came to, for comparing two calls.
type result struct {
	n       int
	err     error
	desc    string
	swallow int
}

func parseResult(buf []byte, r *Request) result {
	n, err := Parse(buf, r)
	res := result{n: n, err: err, swallow: r.Swallow}
	if err == nil {
		res.desc = describe(r)
	} else {
		res.desc = errDesc(r)
	}
	return res
}

func addParseSeeds(f *testing.F) {
	for _, c := range parseCases {
		f.Add([]byte(c.in))
	}
	f.Add([]byte("get a\r\nset b 0 0 1\r\nx\r\nmg c v\r\n"))
}

// FuzzParse checks, for any input: no panic; n within the buffer; a
// complete result does not depend on what follows it (the same bytes with
// more appended parse the same way) nor on anything but its own bytes;
// ErrIncomplete holds until Need bytes have come; and an accepted request,
// written back with AppendRequest, parses to the same request.
func FuzzParse(f *testing.F) {
	addParseSeeds(f)
	f.Fuzz(func(t *testing.T, buf []byte) {
		var r, r2 Request
		res := parseResult(buf, &r)
		if res.n < 0 || res.n > len(buf) {
			t.Fatalf("n = %d outside [0, %d]", res.n, len(buf))
		}
		// A request reused from one that filled every token slot parses
		// the same: nothing of the previous parse shows through.
		var used Request
		Parse([]byte("mg k "+strings.Repeat("Oxyz ", MaxTokens)+"\r\n"), &used)
		if got := parseResult(buf, &used); got != res {
			t.Fatalf("in a reused request: %+v, in a new one: %+v", got, res)
		}
		var e *Error
		isErr := errors.As(res.err, &e)
		switch {
		case res.err == ErrIncomplete:
			if res.n != 0 || r.Need < 1 {
				t.Fatalf("incomplete with n=%d need=%d", res.n, r.Need)
			}
			if r.Need > 1 && r.Need < 1<<16 {
				// A data block still short: more bytes, but fewer than
				// Need, change nothing.
				more := append(bytes.Clone(buf), make([]byte, r.Need-1)...)
				if got := parseResult(more, &r2); got.err != ErrIncomplete {
					t.Fatalf("after %d of %d needed bytes: %v", r.Need-1, r.Need, got.err)
				}
			}
			return
		case isErr && e == ErrLineTooLong:
			if bytes.IndexByte(buf, '\n') >= 0 || len(buf) <= MaxLineLen {
				t.Fatalf("ErrLineTooLong with a newline or a short buffer")
			}
			return
		case res.err != nil && !isErr:
			t.Fatalf("unexpected error type %T: %v", res.err, res.err)
		}
		if res.n < 1 {
			t.Fatalf("a complete result consumed nothing")
		}
		// The result depends only on buf[:n] ...
		if got := parseResult(buf[:res.n], &r2); got != res {
			t.Fatalf("on its own bytes: %+v, in the stream: %+v", got, res)
		}
		// ... and not on what follows.
		more := append(bytes.Clone(buf), "\r\nget x\r\n"...)
		if got := parseResult(more, &r2); got != res {
			t.Fatalf("with more bytes: %+v, before: %+v", got, res)
		}
		if res.err != nil {
			return
		}
		// Sanity of the accepted request.
		if r.Command == CmdNone {
			t.Fatal("accepted without a command")
		}
		if r.Command.IsStorage() && len(r.Value) != r.ValueLen {
			t.Fatalf("value of %d bytes, announced %d", len(r.Value), r.ValueLen)
		}
		if len(r.Key) > MaxKeyLen || len(r.Opaque) >= MaxOpaqueLen {
			t.Fatalf("key %d or opaque %d bytes", len(r.Key), len(r.Opaque))
		}
		for _, k := range r.Keys {
			// A get's keys are checked by the server as it reaches them.
			if len(k) == 0 {
				t.Fatalf("empty key")
			}
		}
		// Written back, it parses to the same request.
		enc := AppendRequest(nil, &r)
		n2, err := Parse(enc, &r2)
		if err != nil || n2 != len(enc) {
			t.Fatalf("re-encoded %q: n=%d err=%v", enc, n2, err)
		}
		if a, b := describe(&r), describe(&r2); a != b {
			t.Fatalf("re-encoded %q\n parsed    %s\n reparsed  %s", enc, a, b)
		}
	})
}

// FuzzParseReply: no panic, n within bounds, a complete reply does not
// depend on what follows, and partial input is incomplete.
func FuzzParseReply(f *testing.F) {
	for _, c := range replyCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		var rp, rp2 Reply
		n, err := ParseReply(buf, &rp)
		if n < 0 || n > len(buf) {
			t.Fatalf("n = %d outside [0, %d]", n, len(buf))
		}
		switch err {
		case ErrIncomplete:
			if n != 0 || rp.Need < 1 {
				t.Fatalf("incomplete with n=%d need=%d", n, rp.Need)
			}
			return
		case ErrBadReply:
			return
		case nil:
		default:
			t.Fatalf("unexpected error %v", err)
		}
		desc := describeReply(&rp)
		more := append(bytes.Clone(buf), "END\r\n"...)
		n2, err2 := ParseReply(more, &rp2)
		if n2 != n || err2 != nil || describeReply(&rp2) != desc {
			t.Fatalf("with more bytes: n=%d err=%v %s; before n=%d %s", n2, err2, describeReply(&rp2), n, desc)
		}
	})
}

// gen turns fuzz bytes into choices.
type gen struct{ b []byte }

func (g *gen) byte() byte {
	if len(g.b) == 0 {
		return 0
	}
	c := g.b[0]
	g.b = g.b[1:]
	return c
}

func (g *gen) intn(n int) int { return int(g.byte()) % n }

func (g *gen) u64() uint64 {
	var v uint64
	for i := 0; i < 8; i++ {
		v = v<<8 | uint64(g.byte())
	}
	return v >> g.intn(64)
}

// token returns 1..max bytes that may appear in a token: anything but
// space, newline and NUL.
func (g *gen) token(max int) []byte {
	n := 1 + g.intn(max)
	t := make([]byte, n)
	for i := range t {
		c := g.byte()
		if c == ' ' || c == '\n' || c == 0 {
			c = 'a' + c%26
		}
		t[i] = c
	}
	return t
}

func (g *gen) raw(max int) []byte {
	t := make([]byte, g.intn(max))
	for i := range t {
		t[i] = g.byte()
	}
	return t
}

// genRequest builds a valid request from fuzz bytes.
func genRequest(data []byte) *Request {
	g := &gen{b: data}
	r := &Request{}
	r.Command = Command(1 + g.intn(int(numCommands)-1))
	c := r.Command
	key := func() []byte { return g.token(MaxKeyLen) }
	switch {
	case c.IsRetrieval():
		if c == CmdGat || c == CmdGats {
			r.Exptime = int32(g.u64())
		}
		n := 1 + g.intn(8) // every retrieval needs a key, gat and gats too
		for i := 0; i < n; i++ {
			r.Keys = append(r.Keys, key())
		}
	case c >= CmdSet && c <= CmdCas:
		r.Key = key()
		r.ClientFlags = uint32(g.u64())
		r.Exptime = int32(g.u64())
		if c == CmdCas {
			r.CAS = g.u64()
		}
		r.Value = g.raw(300)
		r.ValueLen = len(r.Value)
		r.NoReply = g.intn(2) == 0
	case c == CmdDelete || c == CmdFlushPrefix:
		r.Key = key()
		r.NoReply = g.intn(2) == 0
	case c == CmdIncr || c == CmdDecr:
		r.Key = key()
		r.Delta = g.u64()
		r.NoReply = g.intn(2) == 0
	case c == CmdTouch:
		r.Key = key()
		r.Exptime = int32(g.u64())
		r.NoReply = g.intn(2) == 0
	case c == CmdFlushAll:
		r.Exptime = int32(g.u64())
		r.NoReply = g.intn(2) == 0
	case c == CmdVerbosity:
		r.Level = uint32(g.u64())
		r.NoReply = g.intn(2) == 0
	case c == CmdCacheMemlimit:
		r.MemLimit = uint32(g.u64())
		r.NoReply = g.intn(2) == 0
	case c == CmdMetaDebug:
		if g.intn(2) == 0 {
			r.KeyBinary = true
			r.Key = g.token(MaxBinaryKeyLen)
		} else {
			r.Key = key()
		}
	case c == CmdMetaGet || c == CmdMetaSet || c == CmdMetaDelete || c == CmdMetaArithmetic:
		genMeta(g, r)
	case c.IsAdmin():
		min := 0
		if c == CmdLru {
			min = 1
		}
		for i, n := 0, min+g.intn(6); i < n; i++ {
			r.AddArg(g.token(20))
		}
		args := r.Args()
		last := len(args) > 0 && string(args[len(args)-1]) == "noreply"
		switch c {
		case CmdLru, CmdWatch, CmdRefreshCerts:
			r.NoReply = last
		case CmdSlabs:
			r.NoReply = last && string(args[0]) == "automove"
		}
	}
	return r
}

func genMeta(g *gen, r *Request) {
	c := r.Command
	letters := "bcfhklOqstuvIPLNTRFCJDM"
	if c == CmdMetaDelete {
		letters += "AG"
	}
	if c == CmdMetaSet {
		letters += "H"
	}
	max := MaxMetaFlags
	if c == CmdMetaSet {
		max--
	}
	for i, n := 0, g.intn(max+1); i < n; i++ {
		f := letters[g.intn(len(letters))]
		if !r.AddFlag(f) {
			continue
		}
		switch f {
		case 'O':
			r.Opaque = g.token(MaxOpaqueLen - 1)
			if g.intn(4) == 0 {
				r.Opaque = r.Opaque[:0]
			}
		case 'T':
			r.Exptime = int32(g.u64())
		case 'N':
			r.VivifyTTL = int32(g.u64())
		case 'R':
			r.RecacheTTL = int32(g.u64())
		case 'F':
			r.ClientFlags = uint32(g.u64())
		case 'C':
			r.CAS = g.u64()
		case 'J':
			r.Initial = g.u64()
		case 'D':
			r.Delta = g.u64()
		case 'M':
			modes := "ISDR+-EAPXz"
			switch c {
			case CmdMetaSet:
				modes = "EAPRS"
			case CmdMetaArithmetic:
				modes = "I+D-"
			}
			r.Mode = modes[g.intn(len(modes))]
		}
	}
	if r.HasFlag('b') {
		r.Key = g.token(MaxBinaryKeyLen)
	} else {
		r.Key = g.token(MaxKeyLen)
	}
	if c == CmdMetaArithmetic && !r.HasFlag('D') {
		r.Delta = 1
	}
	if c == CmdMetaSet {
		r.Value = g.raw(300)
		r.ValueLen = len(r.Value)
	}
}

// FuzzRoundTrip encodes a request built from fuzz bytes with AppendRequest
// and checks that Parse reads back the same request from the whole buffer.
func FuzzRoundTrip(f *testing.F) {
	for i := 0; i < int(numCommands); i++ {
		f.Add([]byte{byte(i), 3, 'k', 'e', 'y', 7, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := genRequest(data)
		enc := AppendRequest(nil, r)
		var p Request
		n, err := Parse(enc, &p)
		if err != nil || n != len(enc) {
			t.Fatalf("Parse(%q) = %d, %v; want %d, nil", enc, n, err, len(enc))
		}
		if a, b := describe(r), describe(&p); a != b {
			t.Fatalf("encoded %q\n built  %s\n parsed %s", enc, a, b)
		}
	})
}

// TestPrefixesAreIncomplete: every proper prefix of every complete table
// request (short enough not to close) is incomplete.
func TestPrefixesAreIncomplete(t *testing.T) {
	var r Request
	for _, c := range parseCases {
		n, err := Parse([]byte(c.in), &r)
		if err == ErrIncomplete || n > MaxLineLen {
			continue
		}
		for i := 0; i < n; i++ {
			if m, err := Parse([]byte(c.in[:i]), &r); err != ErrIncomplete || m != 0 || i+r.Need > n {
				t.Errorf("%s: prefix %q: n=%d err=%v need=%d (whole request %d bytes)", c.name, c.in[:i], m, err, r.Need, n)
				break
			}
		}
	}
}
