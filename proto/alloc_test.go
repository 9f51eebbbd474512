package proto

import (
	"testing"
)

// TestParseAllocatesNothing parses every request of the table (accepted,
// refused and incomplete alike, the 100-key get included) with one warm
// Request and asserts zero allocations.
func TestParseAllocatesNothing(t *testing.T) {
	bufs := make([][]byte, len(parseCases))
	for i, c := range parseCases {
		bufs[i] = []byte(c.in)
	}
	var r Request
	for _, b := range bufs { // warm: let Keys grow
		_, _ = Parse(b, &r)
	}
	allocs := testing.AllocsPerRun(50, func() {
		for _, b := range bufs {
			_, _ = Parse(b, &r)
		}
	})
	if allocs != 0 {
		t.Fatalf("Parse allocated %.1f times per pass over %d requests", allocs, len(bufs))
	}
}

// TestEncodeAllocatesNothing runs every reply encoder into a buffer with
// room and asserts zero allocations.
func TestEncodeAllocatesNothing(t *testing.T) {
	var r Request
	if _, err := Parse([]byte("mg Zm9v b s t c f l h k v Oab q\r\n"), &r); err != nil {
		t.Fatal(err)
	}
	var ma Request
	if _, err := Parse([]byte("ma n v t c k O9 N0\r\n"), &ma); err != nil {
		t.Fatal(err)
	}
	it := &MetaItem{Size: 3, TTL: -1, CAS: 99, ClientFlags: 5, LastAccess: 2, Fetched: true, Won: true, Stale: true}
	dbg := &MetaDebug{Key: []byte("foo"), KeyBinary: true, Exp: -1, CAS: 5, Class: 1, Size: 70}
	key, val := []byte("some:key:12345"), []byte("0123456789")
	buf := make([]byte, 0, 64<<10)
	allocs := testing.AllocsPerRun(100, func() {
		b := buf[:0]
		b = AppendValueHeader(b, key, 5, len(val))
		b = AppendValueHeaderCAS(b, key, 5, len(val), 1234567)
		b = AppendValue(b, val)
		b = AppendEnd(b)
		b = AppendStored(b)
		b = AppendNotStored(b)
		b = AppendExists(b)
		b = AppendNotFound(b)
		b = AppendDeleted(b)
		b = AppendTouched(b)
		b = AppendOK(b)
		b = AppendStatus(b, StatusHD)
		b = AppendNumber(b, 18446744073709551615)
		b = AppendVersion(b, "1.6.45")
		b = AppendStat(b, "version", "1.6.45")
		b = AppendStatBytes(b, "x", val)
		b = AppendStatUint(b, "curr_items", 12345)
		b = AppendStatInt(b, "x", -5)
		b = AppendStatMicros(b, "rusage_user", 1234567)
		b = AppendStatClass(b, "items:", 3, "number", 7)
		b = AppendError(b, ErrBadFormat)
		b = AppendStatID(b, 3, "addr", "tcp:127.0.0.1:1")
		b = AppendServerError(b, "x")
		b = AppendError(b, ErrReassignBusy)
		b = AppendConfig(b, "cluster", val)
		b = AppendMetaReply(b, StatusVA, 3, &r, it)
		b = AppendMetaReply(b, StatusEN, 0, &r, nil)
		b = AppendMetaReply(b, StatusVA, 2, &ma, it)
		b = AppendMetaDebug(b, dbg)
		b = AppendMetaNoop(b)
		_ = b
	})
	if allocs != 0 {
		t.Fatalf("encoders allocated %.1f times", allocs)
	}
}

// TestClientSideAllocatesNothing: request encoding and reply parsing.
func TestClientSideAllocatesNothing(t *testing.T) {
	var reqs []Request
	for _, c := range parseCases {
		var r Request
		if _, err := Parse([]byte(c.in), &r); err == nil {
			reqs = append(reqs, r)
		}
	}
	replies := make([][]byte, 0, len(replyCases))
	for _, c := range replyCases {
		replies = append(replies, []byte(c.in))
	}
	buf := make([]byte, 0, 64<<10)
	var rp Reply
	for _, b := range replies {
		_, _ = ParseReply(b, &rp)
	}
	allocs := testing.AllocsPerRun(50, func() {
		b := buf[:0]
		for i := range reqs {
			b = AppendRequest(b, &reqs[i])
		}
		b = AppendGetRequest(b, []byte("k"))
		_ = AppendSetRequest(b, []byte("k"), 1, 2, []byte("v"), false)
		for _, in := range replies {
			_, _ = ParseReply(in, &rp)
		}
	})
	if allocs != 0 {
		t.Fatalf("client side allocated %.1f times", allocs)
	}
}
