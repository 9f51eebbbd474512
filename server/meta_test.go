package server

import (
	"fmt"
	"strings"
	"testing"

	"github.com/slabcache/slabcache/internal/testenv"
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

// An item that mg's N (or T) makes already expired reports in t what
// memcached 1.6.45 reports: its expiry (relative second 1) less the
// server's time, in 32 bits, where the server's time is its uptime plus
// 60. Checked against the reference memcached too when it is present.
func TestMetaTTLOfItemBornExpired(t *testing.T) {
	addrs := []string{startTestServer(t, nil).Addr()}
	if testenv.FindReference() != "" {
		addrs = append(addrs, testenv.StartReference(t))
	}
	for _, addr := range addrs {
		got := sendLines(t, addr, "mg born N-1 t v\r\n", 2)
		var ttl uint64
		if _, err := fmt.Sscanf(got[0], "VA 0 t%d W\r\n", &ttl); err != nil {
			t.Fatalf("%s: mg: %q", addr, got[0])
		}
		uptime := -1
		for _, l := range sendLines(t, addr, "stats\r\n", 12) {
			fmt.Sscanf(l, "STAT uptime %d\r\n", &uptime)
		}
		// uptime is read after the mg: the same second or the next.
		want := uint64(uint32(1 - (uptime + 60)))
		if ttl != want && ttl != want+1 {
			t.Errorf("%s: mg born N-1 t: %q, uptime %d: want t%d", addr, got[0], uptime, want)
		}
	}
}
