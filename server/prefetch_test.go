package server

import (
	"strings"
	"testing"

	"github.com/slabcache/slabcache/proto"
)

// The prefetcher follows a pipelined batch request by request: when each
// request starts, its key's entry is the ring's first, so the item the
// lookup needs next is the one prefetched; a request it cannot read ahead
// of (a command it does not know, a value still arriving) stops the
// look-ahead until that request has executed.
func TestPrefetcherFollowsBatch(t *testing.T) {
	c := newTestConn(t)
	reqs := []string{
		"get a\r\n", "set b 0 0 3\r\nxyz\r\n", "gets c d\r\n", "mg e v\r\n",
		"ms f 2 T0\r\nhi\r\n", "get g\r\n", "get h\r\n", "get i\r\n", "get j\r\n",
		"get k\r\n", "get l\r\n", "delete m\r\n", "get n\r\n", "set o 0 0 5\r\nab",
	}
	buf := []byte(strings.Join(reqs, ""))
	var pf prefetcher
	off, prefetched := 0, 0
	for i, r := range reqs[:len(reqs)-1] {
		next := off + len(r)
		pf.ahead(c.s.store, buf, next, proto.PeekRequest)
		want, _ := proto.PeekRequest(buf[next:])
		e := pf.ring[pf.head]
		switch {
		case pf.n == 0 || e.start != next:
			t.Errorf("before request %d (%q): ring starts at %d (%d entries), want %d", i+1, reqs[i+1], e.start, pf.n, next)
		case e.key != (want != nil):
			t.Errorf("before request %d (%q): key %v, want %v", i+1, reqs[i+1], e.key, want != nil)
		case e.key:
			prefetched++
		}
		off = next
	}
	if prefetched != 12 {
		t.Errorf("%d requests' items prefetched, want 12 (all but the delete)", prefetched)
	}
}
