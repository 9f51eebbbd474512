package server

import (
	"os"
	"strings"
	"testing"
)

// With -Y a text connection must authenticate with a set whose value is
// "user password" from the auth file; until then every command answers
// memcached's CLIENT_ERROR, and nothing is stored. SIGHUP's reload
// (LoadAuthFile) takes new users; a malformed file is refused.
func TestASCIIAuth(t *testing.T) {
	f := t.TempDir() + "/auth"
	if err := os.WriteFile(f, []byte("foo:bar\nbaaaz:quux"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startTestServer(t, func(s *Settings) { s.AuthFile, s.Protocol = f, ProtocolASCII })
	nc, rb := dialT(t, srv.Addr())
	for _, c := range []struct{ send, want string }{
		{"get foo\r\n", "CLIENT_ERROR unauthenticated\r\n"},
		{"set foo 0 0 2\r\nhi\r\n", "CLIENT_ERROR bad authentication token format\r\n"},
		{"set foo 0 0 7\r\nfoo bab\r\n", "CLIENT_ERROR authentication failure\r\n"},
		{"set foo 0 0 2147483646\r\n", "CLIENT_ERROR auth token too long\r\n"},
		{"set foo 0 0 7\r\nfoo bar\r\n", "STORED\r\n"},
		{"set toast 0 0 2\r\nhi\r\nget toast\r\n", "STORED\r\n"},
	} {
		nc.Write([]byte(c.send))
		expectLine(t, rb, c.want)
	}
	expectLine(t, rb, "VALUE toast 0 2\r\n")
	// The authentication stored nothing.
	nc.Write([]byte("get foo\r\n"))
	expectLine(t, rb, "hi\r\n")
	expectLine(t, rb, "END\r\n")
	expectLine(t, rb, "END\r\n")

	os.WriteFile(f, []byte("new:user\n"), 0o600)
	if err := srv.LoadAuthFile(); err != nil {
		t.Fatal(err)
	}
	nc2, rb2 := dialT(t, srv.Addr())
	nc2.Write([]byte("set x 0 0 7\r\nfoo bar\r\n"))
	expectLine(t, rb2, "CLIENT_ERROR authentication failure\r\n")
	nc2.Write([]byte("set x 0 0 8\r\nnew user\r\n"))
	expectLine(t, rb2, "STORED\r\n")

	os.WriteFile(f, []byte("no colon here\n"), 0o600)
	if err := srv.LoadAuthFile(); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Fatalf("malformed file: %v", err)
	}
	// A failed reload keeps the users loaded before.
	nc3, rb3 := dialT(t, srv.Addr())
	nc3.Write([]byte("set x 0 0 8\r\nnew user\r\n"))
	expectLine(t, rb3, "STORED\r\n")
	// A value not ended by "\r\n" (here the count is one short).
	nc4, rb4 := dialT(t, srv.Addr())
	nc4.Write([]byte("set foo 0 0 3\r\nfooX\r\n"))
	expectLine(t, rb4, "CLIENT_ERROR bad command line termination\r\n")
}
