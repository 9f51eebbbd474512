package server

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// 50 connections miss the same key with N30 at the same moment: exactly one
// wins the right to recache (W), every other one sees Z.
func TestStampedeProtectionOneWinner(t *testing.T) {
	srv := startTestServer(t, nil)
	const n = 50
	conns := make([]net.Conn, n)
	for i := range conns {
		nc, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		conns[i] = nc
	}
	for round := range 3 {
		key := fmt.Sprintf("hot:%d", round)
		var start, done sync.WaitGroup
		start.Add(1)
		replies := make([]string, n)
		for i, nc := range conns {
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				nc.Write([]byte("mg " + key + " c v N30\r\n"))
				line, err := bufio.NewReader(nc).ReadString('\n')
				if err != nil {
					replies[i] = err.Error()
					return
				}
				replies[i] = line
				// The empty value's terminator follows VA 0.
				nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			}()
		}
		start.Done()
		done.Wait()
		winners, others := 0, 0
		for _, r := range replies {
			switch {
			case strings.HasPrefix(r, "VA 0 ") && strings.HasSuffix(r, " W\r\n"):
				winners++
			case strings.HasPrefix(r, "VA 0 ") && strings.HasSuffix(r, " Z\r\n"):
				others++
			default:
				t.Fatalf("round %d: unexpected reply %q", round, r)
			}
		}
		if winners != 1 || others != n-1 {
			t.Fatalf("round %d: %d W and %d Z, want 1 and %d", round, winners, others, n-1)
		}
		// Drain each connection's empty value line before the next round.
		for _, nc := range conns {
			nc.Write([]byte("mn\r\n"))
		}
		for _, nc := range conns {
			br := bufio.NewReader(nc)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if line == "MN\r\n" {
					break
				}
			}
		}
	}
}
