package server

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/panjf2000/gnet/v2"
)

// fakeRaw is the socket side of a tlsWire: bytes arrive with feed.
type fakeRaw struct {
	gnet.Conn // not used
	buf       []byte
}

func (f *fakeRaw) InboundBuffered() int { return len(f.buf) }

func (f *fakeRaw) Read(p []byte) (int, error) {
	n := copy(p, f.buf)
	f.buf = f.buf[n:]
	return n, nil
}

func (f *fakeRaw) Peek(n int) ([]byte, error) {
	if n < 0 || n > len(f.buf) {
		return f.buf, nil
	}
	return f.buf[:n], nil
}

// Whatever pieces the records arrive in, the wire says a record is ready
// exactly when the rest of it has arrived, and a read stops at its end:
// crypto/tls then never reads from the connection in vain, and never holds
// bytes of the next record.
func TestTLSWireFramesRecords(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var stream []byte
	var ends []int // offset of the end of each record
	for range 2000 {
		n := r.IntN(300)
		if r.IntN(10) == 0 {
			n = r.IntN(17 << 10)
		}
		stream = append(stream, 23, 3, 3, byte(n>>8), byte(n))
		stream = append(stream, bytes.Repeat([]byte{byte(len(ends))}, n)...)
		ends = append(ends, len(stream))
	}
	raw := &fakeRaw{}
	w := &tlsWire{raw: raw, ready: true}
	fed, read, next := 0, 0, 0 // bytes fed, bytes read, next record
	p := make([]byte, 32<<10)
	for read < len(stream) {
		if fed < len(stream) {
			k := min(1+r.IntN(40), len(stream)-fed)
			if r.IntN(8) == 0 {
				k = min(r.IntN(20<<10), len(stream)-fed)
			}
			raw.buf = append(raw.buf, stream[fed:fed+k]...)
			fed += k
		}
		for w.recordReady() {
			if fed < ends[next] {
				t.Fatalf("record %d said ready with %d of %d bytes fed", next, fed, ends[next])
			}
			n, err := w.Read(p)
			if err != nil || read+n != ends[next] || !bytes.Equal(p[:n], stream[read:ends[next]]) {
				t.Fatalf("record %d: read %d bytes from %d (%v), want up to %d", next, n, read, err, ends[next])
			}
			read += n
			next++
		}
		if next < len(ends) && fed >= ends[next] {
			t.Fatalf("record %d complete (%d bytes fed) but not said ready", next, fed)
		}
		// A read of part of a record (crypto/tls asking for its header
		// first, then the rest) keeps the framing.
		if raw.InboundBuffered() > 0 && r.IntN(4) == 0 {
			k := min(r.IntN(6)+1, raw.InboundBuffered(), ends[next]-read)
			n, _ := w.Read(p[:k])
			if !bytes.Equal(p[:n], stream[read:read+n]) {
				t.Fatalf("partial read at %d differs", read)
			}
			read += n
			if read == ends[next] {
				next++
			}
		}
	}
}
