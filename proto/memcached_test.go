package proto

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/testenv"
)

// exchange sends in to the server at addr, followed by "mn\r\n" unless
// bare, and returns what comes back up to and including the "MN\r\n" (or
// until the server closes).
func exchange(t *testing.T, addr, in string, bare bool) (out []byte, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := in
	if !bare {
		msg += "mn\r\n"
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if !bare && bytes.HasSuffix(out, []byte("MN\r\n")) {
			return out, false
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("no answer after %q", out)
			}
			if err == io.EOF || isReset(err) {
				return out, true
			}
			t.Fatal(err)
		}
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout()
}

// serverSideErrors are raised by the server while executing, not by Parse.
var serverSideErrors = map[*Error]bool{
	ErrTooLarge: true, ErrOutOfMemory: true, ErrNonNumeric: true,
	ErrTooManyConnections: true, ErrFlushDisabled: true,
	ErrShutdownDisabled: true, ErrShutdownMode: true,
}

// TestParseAgainstMemcached sends every table case to the reference
// memcached 1.6.45 and checks that it answers each refused request with
// exactly the Error Parse returned (nothing under noreply, a silent close
// for the closing errors), and answers each accepted request with no
// protocol error. Two errors are the server's to give, not Parse's: a key
// of a get over MaxKeyLen (ErrGetKeyTooLong) and the replies of admin
// commands to their arguments. It skips when the reference is absent.
func TestParseAgainstMemcached(t *testing.T) {
	addr := testenv.StartReference(t)
	for _, c := range parseCases {
		if c.noDiff || c.err == ErrIncomplete {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			var r Request
			n, perr := Parse([]byte(c.in), &r)
			var e *Error
			isErr := errors.As(perr, &e)
			closing := isErr && e.Close()
			in := c.in
			if missing := r.Swallow - (len(c.in) - n); isErr && missing >= 2 {
				// Complete the data block memcached swallows.
				in += strings.Repeat("x", missing-2) + "\r\n"
			}
			if perr == nil && r.Command.IsRetrieval() {
				for _, k := range r.Keys {
					if len(k) > MaxKeyLen {
						isErr, e = true, ErrGetKeyTooLong
						break
					}
				}
			}
			out, closed := exchange(t, addr, in, closing)
			switch {
			case closing:
				if !closed || len(out) != 0 {
					t.Fatalf("memcached answered %q (closed %v); want a silent close", out, closed)
				}
			case closed:
				t.Fatalf("memcached closed the connection after %q", out)
			case isErr:
				want := e.Reply()
				if r.NoReply {
					want = ""
				}
				if c.rest == 0 {
					want += "MN\r\n"
					if string(out) != want {
						t.Fatalf("memcached: %q\nParse:     %q", out, want)
					}
				} else if !bytes.HasPrefix(out, []byte(want)) {
					t.Fatalf("memcached: %q\nParse:     %q...", out, want)
				}
			default:
				line, _, _ := bytes.Cut(out, []byte("\r\n"))
				if le := LookupError(line); le != nil && !serverSideErrors[le] && !r.Command.IsAdmin() && r.Command != CmdCacheMemlimit {
					t.Fatalf("memcached refused a request Parse accepts: %q", out)
				}
				if r.NoReply && c.rest == 0 && string(out) != "MN\r\n" {
					t.Fatalf("noreply request answered: %q", out)
				}
			}
		})
	}
}
