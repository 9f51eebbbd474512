package server

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/mctest"
)

// readLoad sends multi-gets until stop is set: each names the hot key once
// among cold ones, so the hot key has 1/keys of the reads.
func readLoad(t *testing.T, addr, hot string, keys int, stop *atomic.Bool) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	for i := 0; !stop.Load(); i++ {
		var b strings.Builder
		b.WriteString("get " + hot)
		for j := 1; j < keys; j++ {
			fmt.Fprintf(&b, " cold:%d", (i*keys+j)%100_000)
		}
		b.WriteString("\r\nmg " + hot + " v\r\n")
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		nc.Write([]byte(b.String()))
		for _, end := range []string{"END\r\n", "EN\r\n"} {
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Error(err)
					return
				}
				if line == end || strings.HasPrefix(line, "VA ") {
					break
				}
			}
		}
	}
}

func hotKeyStats(t *testing.T, addr string) map[string]string {
	m := map[string]string{}
	for _, st := range mctest.Stats(t, addr, "hotkeys") {
		m[st.Name] = st.Value
	}
	return m
}

// A key that takes a tenth of a node's reads shows up in `stats hotkeys`
// and `watch hotkeys` within a couple of windows, and leaves both once its
// reads stop; other keys do not turn hot.
func TestHotKeyDetectedOverTheWire(t *testing.T) {
	srv := startTestServer(t, func(s *Settings) {
		s.HotKeySampleRate = 10
		s.HotKeyMinRate = 200
		s.HotKeyThreshold = 0.05
	})
	addr := srv.Addr()
	w, wr := dialT(t, addr)
	w.SetDeadline(time.Now().Add(30 * time.Second))
	w.Write([]byte("watch hotkeys\r\n"))
	expectLine(t, wr, "OK\r\n")

	var stop atomic.Bool
	done := make(chan struct{})
	go func() { defer close(done); readLoad(t, addr, "user:42", 9, &stop) }()
	line, err := wr.ReadString('\n')
	if err != nil || !strings.Contains(line, "type=hotkey event=enter key=user%3A42 ") {
		t.Fatalf("watch hotkeys: %q %v, want an enter event for user:42", line, err)
	}
	st := hotKeyStats(t, addr)
	if st["hotkey:0:key"] != "user%3A42" || st["hotkey:1:key"] != "" {
		t.Fatalf("stats hotkeys: %v, want user:42 alone", st)
	}
	for _, f := range []string{"reads_per_sec", "share", "writes_per_sec", "since", "replicas"} {
		if _, ok := st["hotkey:0:"+f]; !ok {
			t.Errorf("stats hotkeys lacks hotkey:0:%s", f)
		}
	}
	if got := st["hotkey:0:share"]; got < "0.1" || got > "0.3" {
		t.Errorf("share of user:42 = %s, want about 0.2 (2 of 10 reads)", got)
	}
	mfs := gather(t, srv)
	for _, m := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"slabcached_hotkeys", nil, 1},
		{"slabcached_hotkey_changes_total", map[string]string{"event": "enter"}, 1},
		{"slabcached_hotkey_changes_total", map[string]string{"event": "leave"}, 0},
	} {
		if v, ok := metricValue(mfs, m.name, m.labels); !ok || v != m.want {
			t.Errorf("%s%v = %v (%v), want %v", m.name, m.labels, v, ok, m.want)
		}
	}
	if v, _ := metricValue(mfs, "slabcached_hotkey_sampled_reads_total", nil); v == 0 {
		t.Error("no sampled reads counted")
	}
	stop.Store(true)
	<-done
	line, err = wr.ReadString('\n')
	if err != nil || !strings.Contains(line, "type=hotkey event=leave key=user%3A42 ") {
		t.Fatalf("watch hotkeys: %q %v, want a leave event for user:42", line, err)
	}
	if st := hotKeyStats(t, addr); st["hotkey:0:key"] != "" {
		t.Fatalf("stats hotkeys after the load: %v", st)
	}
}

// With hotkeys=off nothing is sampled and stats hotkeys is empty.
func TestHotKeysOff(t *testing.T) {
	srv := startTestServer(t, func(s *Settings) { s.HotKeys = false })
	if srv.hot != nil {
		t.Fatal("a detector runs with hotkeys=off")
	}
	if st := hotKeyStats(t, srv.Addr()); len(st) != 0 {
		t.Fatalf("stats hotkeys: %v", st)
	}
}
