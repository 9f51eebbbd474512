package server

import (
	"strings"
	"testing"
)

// mg with T and N applies them in the order sent, as memcached 1.6.45
// does: for an item N creates, the later one sets its TTL.
func TestMetaGetTouchAndVivifyInOrder(t *testing.T) {
	srv := startTestServer(t, nil)
	got := sendLines(t, srv.Addr(), "mg z T50 N10 t\r\nme z\r\nmg y N10 T50 t\r\nme y\r\n", 4)
	for i, want := range []string{"HD t10 W\r\n", " exp=10 ", "HD t50 W\r\n", " exp=50 "} {
		if !strings.Contains(got[i], want) {
			t.Errorf("reply %d: %q, want %q in it", i, got[i], want)
		}
	}
}
