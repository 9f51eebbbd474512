package proto

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/testenv"
)

// TestServerErrorsAgainstMemcached checks the texts of the errors a server
// raises itself against memcached 1.6.45.
func TestServerErrorsAgainstMemcached(t *testing.T) {
	addr := testenv.StartReference(t, "-F", "-t", "1", "-c", "30")
	big := strings.Repeat("x", 1<<20+1)
	cases := []struct {
		in   string
		want *Error
	}{
		{"flush_all\r\n", ErrFlushDisabled},
		{"flush_all x\r\n", ErrFlushDisabled}, // -F is checked before the delay
		{"set big 0 0 1048577\r\n" + big + "\r\n", ErrTooLarge},
		{"ms big 1048577 T0\r\n" + big + "\r\n", ErrTooLarge},
		{"set n 0 0 1\r\nx\r\nincr n 1\r\n", ErrNonNumeric},
		{"set n 0 0 1\r\nx\r\nma n\r\n", ErrNonNumeric},
		{"shutdown\r\n", ErrShutdownDisabled},
	}
	for _, c := range cases {
		out, closed := exchange(t, addr, c.in, false)
		if closed || !bytes.HasSuffix(out, []byte(c.want.Reply()+"MN\r\n")) {
			t.Errorf("%.40q: memcached %q, want it to end with %q", c.in, out, c.want.Reply())
		}
	}

	// Connections over -c get the error, then the connection closes.
	if !overConnLimit(t, addr) {
		t.Fatal("100 connections accepted with -c 30")
	}

	addrA := testenv.StartReference(t, "-A")
	if out, _ := exchange(t, addrA, "shutdown foo\r\n", false); string(out) != ErrShutdownMode.Reply()+"MN\r\n" {
		t.Errorf("shutdown foo: %q", out)
	}
}

// overConnLimit opens connections until one is refused with
// ErrTooManyConnections and checks that it is then closed.
func overConnLimit(t *testing.T, addr string) bool {
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	buf := make([]byte, 100)
	for i := 0; i < 100; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		_, _ = c.Write([]byte("version\r\n"))
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, _ := c.Read(buf)
		if strings.HasPrefix(string(buf[:n]), "VERSION") {
			continue
		}
		if string(buf[:n]) != ErrTooManyConnections.Reply() {
			t.Fatalf("connection %d: %q", i, buf[:n])
		}
		if m, err := c.Read(buf); m != 0 || err == nil {
			t.Fatalf("connection over the limit stayed open")
		}
		return true
	}
	return false
}
