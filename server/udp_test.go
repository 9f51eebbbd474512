package server

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/slabcache/slabcache/internal/testenv"
)

// udpExchange sends payload in one request datagram with id to addr and
// returns the reply datagrams that arrive within a short wait.
func udpExchange(t *testing.T, addr string, id uint16, hdr []byte, payload string) [][]byte {
	t.Helper()
	uc, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	if hdr == nil {
		hdr = binary.BigEndian.AppendUint16(nil, id)
		hdr = append(hdr, 0, 0, 0, 1, 0, 0)
	}
	if _, err := uc.Write(append(hdr, payload...)); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	buf := make([]byte, 70000)
	for {
		uc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := uc.Read(buf)
		if err != nil {
			return out
		}
		out = append(out, append([]byte(nil), buf[:n]...))
	}
}

var casInReply = regexp.MustCompile(`(VALUE \S+ \d+ \d+) \d+`)

// TestUDPMatchesMemcached sends the same request datagrams to memcached
// and to slabcached over UDP and compares the reply datagrams byte for
// byte, headers included: one run of datagrams per reply, numbered, at
// most 1400 bytes, an empty lone header for a multi-get key that missed
// before anything else was sent, nothing for noreply, nothing for a malformed frame.
func TestUDPMatchesMemcached(t *testing.T) {
	port := testenv.FreePort(t)
	ref := testenv.StartReference(t, "-U", strconv.Itoa(port))
	refUDP := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	ourPort := testenv.FreePort(t)
	srv := startTestServer(t, func(s *Settings) { s.UDPPort = ourPort })
	ourUDP := net.JoinHostPort("127.0.0.1", strconv.Itoa(ourPort))
	big := strings.Repeat("x", 5000)
	for _, a := range []string{ref, srv.Addr()} {
		nc, rb := dialT(t, a)
		fmt.Fprintf(nc, "set big 0 0 %d\r\n%s\r\nset b 3 0 1\r\n1\r\n", len(big), big)
		expectLine(t, rb, "STORED\r\n")
		expectLine(t, rb, "STORED\r\n")
	}
	cases := []struct {
		name    string
		hdr     []byte
		payload string
	}{
		{"get", nil, "get b\r\n"},
		{"multiget", nil, "get big b nope\r\n"},
		{"miss first", nil, "get nope b\r\n"},
		{"only misses", nil, "get x y z\r\n"},
		{"misses after a hit", nil, "get nope b nope b\r\n"},
		{"miss after a reply", nil, "get nope\r\nget nope b\r\n"},
		{"miss after a skipped reply", nil, "set n 0 0 1 noreply\r\n1\r\nget nope b\r\n"},
		{"miss after mn", nil, "get nope\r\nmn\r\nget nope b\r\n"},
		{"miss after 21 commands", nil, strings.Repeat("get b\r\n", 21) + "get nope b\r\n"},
		{"miss after 41 commands", nil, strings.Repeat("get b\r\n", 41) + "get nope b\r\n"},
		{"miss after 22 commands", nil, strings.Repeat("get b\r\n", 22) + "get nope b\r\n"},
		{"several commands", nil, "set u 0 0 1\r\nz\r\nget u\r\nbogus\r\nincr u 1\r\n"},
		{"noreply", nil, "set n 0 0 1 noreply\r\n1\r\nget n\r\n"},
		{"meta", nil, "mg b v f\r\nmg nope v\r\nmg nope v q\r\nmn\r\n"},
		{"version", nil, "version\r\n"},
		{"error", nil, "get b " + strings.Repeat("k", 251) + "\r\n"},
		{"multi-packet request", []byte{0, 9, 0, 0, 0, 2, 0, 0}, "get b\r\n"},
		{"header only", []byte{0, 9, 0, 0, 0, 1, 0, 0}, ""},
		// quit ends the datagram with an empty reply (after the
		// others: memcached's worker then closes after every write).
		{"quit", nil, "quit\r\n"},
		{"quit after a reply", nil, "get b\r\nquit\r\nget b\r\n"},
		{"quit after a miss", nil, "get nope b\r\nquit\r\n"},
		{"quit first", nil, "quit\r\nget b\r\n"},
		// Last: memcached then waits for the rest of the value in the
		// next datagram, whoever sends it (docs/compat.md).
		{"incomplete", nil, "set i 0 0 10\r\nabc"},
	}
	for i, c := range cases {
		want := udpExchange(t, refUDP, uint16(100+i), c.hdr, c.payload)
		got := udpExchange(t, ourUDP, uint16(100+i), c.hdr, c.payload)
		if c.name == "version" {
			if len(got) != 1 || !bytes.HasPrefix(got[0][8:], []byte("VERSION 1.6.45-slabcached")) {
				t.Errorf("version: %q", got)
			}
			continue // the versions differ
		}
		norm := func(ds [][]byte) string {
			var b strings.Builder
			for _, d := range ds {
				fmt.Fprintf(&b, "%x|%q\n", d[:min(len(d), 8)], casInReply.ReplaceAll(d[min(len(d), 8):], []byte("$1 C")))
			}
			return b.String()
		}
		if norm(got) != norm(want) {
			t.Errorf("%s:\n memcached:\n%s slabcached:\n%s", c.name, norm(want), norm(got))
		}
	}
	// The value of big arrives in order over several datagrams.
	ds := udpExchange(t, ourUDP, 1, nil, "get big\r\n")
	var all []byte
	for i, d := range ds {
		if binary.BigEndian.Uint16(d[2:]) != uint16(i) || binary.BigEndian.Uint16(d[4:]) != uint16(len(ds)) || len(d) > 1400 {
			t.Fatalf("datagram %d: header %x, %d bytes", i, d[:8], len(d))
		}
		all = append(all, d[8:]...)
	}
	if !bytes.Equal(all, []byte(fmt.Sprintf("VALUE big 0 %d\r\n%s\r\nEND\r\n", len(big), big))) {
		t.Fatalf("reassembled reply %q", all)
	}
}

// A multi-get over UDP that asks for more than 4 MiB of replies is answered
// with memcached's error instead of the values.
func TestUDPLargeMultiGetRefused(t *testing.T) {
	port := testenv.FreePort(t)
	srv := startTestServer(t, func(s *Settings) { s.UDPPort = port; s.MaxBytes = 64 << 20 })
	nc, rb := dialT(t, srv.Addr())
	val := strings.Repeat("v", 500<<10)
	var keys []string
	for i := range 10 {
		fmt.Fprintf(nc, "set k%d 0 0 %d\r\n%s\r\n", i, len(val), val)
		expectLine(t, rb, "STORED\r\n")
		keys = append(keys, "k"+strconv.Itoa(i))
	}
	ds := udpExchange(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5, nil, "get "+strings.Join(keys, " ")+"\r\n")
	if len(ds) != 1 || string(ds[0][8:]) != "SERVER_ERROR out of memory writing get response\r\n" {
		t.Fatalf("%d datagrams, first %q", len(ds), ds[0][8:min(len(ds[0]), 80)])
	}
}

// Datagrams from several senders queued on the socket together are each
// answered, once, to their own sender: the event loop reads the ones
// waiting behind the first itself and replies to each one's address.
func TestUDPQueuedDatagramsAnsweredToTheirSenders(t *testing.T) {
	port := testenv.FreePort(t)
	srv := startTestServer(t, func(s *Settings) { s.UDPPort = port })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	nc, rb := dialT(t, srv.Addr())
	const senders, rounds, window = 4, 10, 20
	for s := range senders {
		fmt.Fprintf(nc, "set k%d 0 0 2\r\nv%d\r\n", s, s)
		expectLine(t, rb, "STORED\r\n")
	}
	errs := make(chan error, senders)
	for s := range senders {
		go func() {
			errs <- func() error {
				uc, err := net.Dial("udp", addr)
				if err != nil {
					return err
				}
				defer uc.Close()
				want := fmt.Sprintf("VALUE k%d 0 2\r\nv%d\r\nEND\r\n", s, s)
				buf := make([]byte, 2048)
				for r := range rounds {
					// A window of requests sent at once, then their replies.
					for i := range window {
						id := uint16(r*window + i)
						d := append(binary.BigEndian.AppendUint16(nil, id), 0, 0, 0, 1, 0, 0)
						if _, err := uc.Write(fmt.Appendf(d, "get k%d\r\n", s)); err != nil {
							return err
						}
					}
					seen := map[uint16]bool{}
					for range window {
						uc.SetReadDeadline(time.Now().Add(5 * time.Second))
						n, err := uc.Read(buf)
						if err != nil {
							return fmt.Errorf("sender %d, round %d: %d of %d replies: %v", s, r, len(seen), window, err)
						}
						id := binary.BigEndian.Uint16(buf)
						if got := string(buf[8:n]); got != want || id/window != uint16(r) || seen[id] {
							return fmt.Errorf("sender %d, round %d: reply id %d %q, want %q once per request", s, r, id, got, want)
						}
						seen[id] = true
					}
				}
				return nil
			}()
		}()
	}
	for range senders {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// rawPeer reads a datagram with its sender's address and answers that
// address, over IPv4 and (where the machine has it) IPv6.
func TestRawPeerAnswersTheSender(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "::1"} {
		ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(host)})
		if err != nil {
			t.Logf("%s: %v (skipped)", host, err)
			continue
		}
		defer ln.Close()
		cl, err := net.DialUDP("udp", nil, ln.LocalAddr().(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		p := &rawPeer{}
		rc, _ := ln.SyscallConn()
		rc.Control(func(fd uintptr) { p.fd = int(fd) })
		buf := make([]byte, 100)
		if n, ok := p.recv(buf); ok {
			t.Fatalf("%s: read %q from an empty socket", host, buf[:n])
		}
		cl.Write([]byte("ping"))
		var n int
		ok := false
		for deadline := time.Now().Add(5 * time.Second); !ok && time.Now().Before(deadline); {
			if n, ok = p.recv(buf); !ok {
				time.Sleep(time.Millisecond)
			}
		}
		if !ok || string(buf[:n]) != "ping" {
			t.Fatalf("%s: read %q, %v", host, buf[:n], ok)
		}
		if got, want := p.RemoteAddr().String(), cl.LocalAddr().String(); got != want {
			t.Errorf("%s: RemoteAddr %s, want %s", host, got, want)
		}
		// The copy for sendto from elsewhere names the same sender.
		want := cl.LocalAddr().(*net.UDPAddr)
		switch sa := p.sockaddr().(type) {
		case *unix.SockaddrInet4:
			if sa.Port != want.Port || !net.IP(sa.Addr[:]).Equal(want.IP) {
				t.Errorf("%s: sockaddr %v:%d, want %v", host, net.IP(sa.Addr[:]), sa.Port, want)
			}
		case *unix.SockaddrInet6:
			if sa.Port != want.Port || !net.IP(sa.Addr[:]).Equal(want.IP) {
				t.Errorf("%s: sockaddr %v:%d, want %v", host, net.IP(sa.Addr[:]), sa.Port, want)
			}
		default:
			t.Errorf("%s: sockaddr %T", host, sa)
		}
		if _, err := p.Write([]byte("pong")); err != nil {
			t.Fatal(err)
		}
		cl.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := cl.Read(buf); err != nil || string(buf[:n]) != "pong" {
			t.Fatalf("%s: reply %q, %v", host, buf[:n], err)
		}
	}
}

// A burst of malformed datagrams (random bytes, headers alone, frames
// announcing several datagrams, the largest a datagram can be) neither
// stops the UDP loop nor disturbs a well-formed request behind them.
func TestUDPGarbageBurstDoesNotDisturbOthers(t *testing.T) {
	port := testenv.FreePort(t)
	srv := startTestServer(t, func(s *Settings) { s.UDPPort = port })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	nc, rb := dialT(t, srv.Addr())
	fmt.Fprintf(nc, "set k 5 0 2\r\nhi\r\n")
	expectLine(t, rb, "STORED\r\n")
	uc, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	rng := uint64(1)
	next := func() byte { rng = rng*6364136223846793005 + 1442695040888963407; return byte(rng >> 56) }
	for i := range 400 {
		var d []byte
		switch i % 5 {
		case 0: // random bytes
			d = make([]byte, int(next())*4)
			for j := range d {
				d[j] = next()
			}
		case 1: // a header alone
			d = []byte{0, byte(i), 0, 0, 0, 1, 0, 0}
		case 2: // a request announced as two datagrams
			d = append([]byte{0, byte(i), 0, 0, 0, 2, 0, 0}, "get k\r\n"...)
		case 3: // a text request that never ends
			d = append([]byte{0, byte(i), 0, 0, 0, 1, 0, 0}, bytes.Repeat([]byte("x"), 60000)...)
		case 4: // a binary header with lengths past the datagram
			d = append([]byte{0, byte(i), 0, 0, 0, 1, 0, 0}, 0x80, 0, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff)
		}
		uc.Write(d) // the socket may drop some; the server must not mind
	}
	// Drain whatever the garbage earned (memcached answers some of it).
	buf := make([]byte, 70000)
	for {
		uc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := uc.Read(buf); err != nil {
			break
		}
	}
	got := udpExchange(t, addr, 7, nil, "get k\r\n")
	if len(got) != 1 || string(got[0]) != "\x00\x07\x00\x00\x00\x01\x00\x00VALUE k 5 2\r\nhi\r\nEND\r\n" {
		t.Fatalf("after the burst: %q", got)
	}
	fmt.Fprintf(nc, "get k\r\n")
	expectLine(t, rb, "VALUE k 5 2\r\n")
}
