package server

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/testenv"
	"github.com/slabcache/slabcache/proto"
)

// startTLSServer starts a server with -Z and the test certificates.
func startTLSServer(t *testing.T, certs testenv.Certs, edit func(*Settings)) *Server {
	t.Helper()
	return startTestServer(t, func(s *Settings) {
		s.TLS = true
		s.SSLChainCert, s.SSLKey = certs.ServerCert, certs.ServerKey
		if edit != nil {
			edit(s)
		}
	})
}

func dialTLS(t *testing.T, addr string, cfg *tls.Config) (*tls.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("TLS dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	return nc, bufio.NewReader(nc)
}

// tlsStats reads "stats <args>" over a TLS connection.
func tlsStats(t *testing.T, addr string, cfg *tls.Config, args ...string) map[string]string {
	t.Helper()
	nc, _ := dialTLS(t, addr, cfg)
	var rp proto.Reply
	if err := proto.NewConn(nc).Admin(&rp, false, proto.CmdStats, args...); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, st := range rp.Stats {
		out[string(st.Name)] = string(st.Value)
	}
	return out
}

// Over TLS a client stores and reads back small, chunked and streamed
// values, pipelines hundreds of requests in one write and uses the binary
// protocol, with the replies it would get in the clear.
func TestTLSServesTextAndBinaryClients(t *testing.T) {
	certs := testenv.WriteCerts(t)
	srv := startTLSServer(t, certs, nil)
	nc, br := dialTLS(t, srv.Addr(), certs.ClientConfig(t, false))

	if got := exchange(t, nc, br, "set small 5 0 5\r\nhello\r\nget small\r\n", "END\r\n"); got != "STORED\r\nVALUE small 5 5\r\nhello\r\nEND\r\n" {
		t.Fatalf("small: %q", got)
	}
	for _, size := range []int{20 << 10, 100 << 10, 600 << 10} { // streamed; sent from slab memory; chunked
		v := bytes.Repeat([]byte{'v'}, size)
		fmt.Fprintf(nc, "set big%d 0 0 %d\r\n%s\r\n", size, size, v)
		if line, _ := br.ReadString('\n'); line != "STORED\r\n" {
			t.Fatalf("set %d bytes: %q", size, line)
		}
		got := exchange(t, nc, br, fmt.Sprintf("get big%d\r\n", size), "END\r\n")
		want := fmt.Sprintf("VALUE big%d 0 %d\r\n%s\r\nEND\r\n", size, size, v)
		if got != want {
			t.Fatalf("get %d bytes: %d bytes back, want %d", size, len(got), len(want))
		}
	}

	var req, want strings.Builder
	for i := range 500 {
		fmt.Fprintf(&req, "set p%d 0 0 %d\r\n%d\r\nget p%d\r\n", i, len(strconv.Itoa(i)), i, i)
		fmt.Fprintf(&want, "STORED\r\nVALUE p%d 0 %d\r\n%d\r\nEND\r\n", i, len(strconv.Itoa(i)), i)
	}
	if _, err := io.WriteString(nc, req.String()); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, want.Len())
	if _, err := io.ReadFull(br, got); err != nil || string(got) != want.String() {
		t.Fatalf("pipelined replies differ (%v)", err)
	}

	// The binary protocol on the same port (-B auto): a GETK.
	bc, bbr := dialTLS(t, srv.Addr(), certs.ClientConfig(t, false))
	key := []byte("small")
	pkt := make([]byte, 24+len(key))
	pkt[0], pkt[1] = proto.BinReqMagic, 0x0c // GETK
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(key)))
	binary.BigEndian.PutUint32(pkt[8:], uint32(len(key)))
	copy(pkt[24:], key)
	bc.Write(pkt)
	hdr := make([]byte, 24)
	if _, err := io.ReadFull(bbr, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint32(hdr[8:]))
	io.ReadFull(bbr, body)
	if status := binary.BigEndian.Uint16(hdr[6:]); status != 0 || !bytes.HasSuffix(body, []byte("smallhello")) {
		t.Fatalf("binary GETK: status %d body %q", status, body)
	}
}

// A client that does not speak TLS gets no byte back on a TLS port: the
// connection is closed and counted as a handshake error.
func TestTLSPortGivesNothingToAPlainClient(t *testing.T) {
	certs := testenv.WriteCerts(t)
	srv := startTLSServer(t, certs, nil)
	nc, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(nc, "set k 0 0 1\r\nx\r\nget k\r\nversion\r\n")
	got, err := io.ReadAll(nc)
	if len(got) != 0 {
		t.Fatalf("a plain client read %q from the TLS port", got)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept the connection open")
	}
	st := tlsStats(t, srv.Addr(), certs.ClientConfig(t, false))
	if st["ssl_handshake_errors"] != "0" || st["ssl_proto_errors"] != "1" {
		t.Fatalf("ssl_handshake_errors %q ssl_proto_errors %q", st["ssl_handshake_errors"], st["ssl_proto_errors"])
	}
	if _, ok := st["ssl_new_sessions"]; ok {
		t.Fatal("ssl_new_sessions shown without ssl_session_cache")
	}
}

// ssl_verify_mode=2 with a CA file: only clients with a certificate that
// CA signed get in. stats settings print memcached's OpenSSL bits.
func TestTLSRequiresClientCertificates(t *testing.T) {
	certs := testenv.WriteCerts(t)
	srv := startTLSServer(t, certs, func(s *Settings) {
		s.SSLVerifyMode, s.SSLCACert, s.SSLMinVersion = 2, certs.CA, 3
	})
	handshake := func(cfg *tls.Config) error {
		nc, err := tls.Dial("tcp", srv.Addr(), cfg)
		if err != nil {
			return err
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(nc, "version\r\n")
		_, err = bufio.NewReader(nc).ReadString('\n')
		return err
	}
	if err := handshake(certs.ClientConfig(t, false)); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	other := certs.ClientConfig(t, false)
	cert, err := tls.LoadX509KeyPair(certs.OtherCert, certs.OtherKey)
	if err != nil {
		t.Fatal(err)
	}
	other.Certificates = []tls.Certificate{cert}
	if err := handshake(other); err == nil {
		t.Fatal("a client whose certificate another CA signed was served")
	}
	old := certs.ClientConfig(t, true)
	old.MaxVersion = tls.VersionTLS12
	if err := handshake(old); err == nil {
		t.Fatal("TLS 1.2 accepted with ssl_min_version=3")
	}
	if err := handshake(certs.ClientConfig(t, true)); err != nil {
		t.Fatalf("a client with a good certificate: %v", err)
	}
	st := tlsStats(t, srv.Addr(), certs.ClientConfig(t, true), "settings")
	want := map[string]string{"ssl_enabled": "yes", "ssl_verify_mode": "3", "ssl_ca_cert": certs.CA,
		"ssl_chain_cert": certs.ServerCert, "ssl_min_version": "tlsv1.3", "ssl_session_cache": "no"}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("stats settings %s = %q, want %q", k, st[k], v)
		}
	}
	if n := tlsStats(t, srv.Addr(), certs.ClientConfig(t, true))["ssl_proto_errors"]; n != "3" {
		t.Errorf("ssl_proto_errors %s, want 3", n)
	}
}

// Listeners may differ as memcached's -l prefixes say: one in the clear
// (notls), one that requires a client certificate (mtls) and one that asks
// for none (btls), whatever ssl_verify_mode says.
func TestTLSListenerPrefixes(t *testing.T) {
	certs := testenv.WriteCerts(t)
	plain, mtls, btls := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	srv := startTLSServer(t, certs, func(s *Settings) {
		s.Listen = fmt.Sprintf("notls:127.0.0.1:%d,mtls:127.0.0.1:%d,btls:127.0.0.1:%d", plain, mtls, btls)
		s.SSLVerifyMode, s.SSLCACert = 2, certs.CA
	})
	_ = srv
	addr := func(p int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)) }

	nc, err := net.Dial("tcp", addr(plain))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if got := exchange(t, nc, bufio.NewReader(nc), "version\r\n", "\r\n"); !strings.HasPrefix(got, "VERSION ") {
		t.Fatalf("notls listener: %q", got)
	}
	if c, err := tls.Dial("tcp", addr(mtls), certs.ClientConfig(t, false)); err == nil {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "version\r\n")
		if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
			t.Fatal("mtls listener served a client without a certificate")
		}
		c.Close()
	}
	c, br := dialTLS(t, addr(mtls), certs.ClientConfig(t, true))
	if got := exchange(t, c, br, "version\r\n", "\r\n"); !strings.HasPrefix(got, "VERSION ") {
		t.Fatalf("mtls listener: %q", got)
	}
	c, br = dialTLS(t, addr(btls), certs.ClientConfig(t, false))
	if got := exchange(t, c, br, "version\r\n", "\r\n"); !strings.HasPrefix(got, "VERSION ") {
		t.Fatalf("btls listener: %q", got)
	}
}

// refresh_certs loads new certificate files: new connections get the new
// certificate, open ones go on; files that do not load leave the current
// certificate in place and the reply says what failed.
func TestTLSRefreshCerts(t *testing.T) {
	certs := testenv.WriteCerts(t)
	srv := startTLSServer(t, certs, nil)
	cfg := certs.ClientConfig(t, false)
	nc, br := dialTLS(t, srv.Addr(), cfg)
	serial := nc.ConnectionState().PeerCertificates[0].SerialNumber

	fresh := testenv.WriteCerts(t) // another CA and server certificate
	for _, f := range [][2]string{{fresh.ServerCert, certs.ServerCert}, {fresh.ServerKey, certs.ServerKey}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(f[1], b, 0o600)
	}
	if got := exchange(t, nc, br, "refresh_certs\r\n", "\r\n"); got != "OK\r\n" {
		t.Fatalf("refresh_certs: %q", got)
	}
	if got := exchange(t, nc, br, "version\r\n", "\r\n"); !strings.HasPrefix(got, "VERSION ") {
		t.Fatalf("the open connection after refresh_certs: %q", got)
	}
	if _, err := tls.Dial("tcp", srv.Addr(), cfg); err == nil {
		t.Fatal("the old CA still verifies new connections after refresh_certs")
	}
	nc2, br2 := dialTLS(t, srv.Addr(), fresh.ClientConfig(t, false))
	if nc2.ConnectionState().PeerCertificates[0].SerialNumber.Cmp(serial) == 0 {
		t.Fatal("the certificate did not change")
	}

	os.WriteFile(certs.ServerCert, []byte("not a certificate"), 0o600)
	got := exchange(t, nc2, br2, "refresh_certs\r\n", "\r\n")
	if !strings.HasPrefix(got, "Error loading the certificate chain: "+certs.ServerCert+" : ") {
		t.Fatalf("refresh_certs with a broken chain file: %q", got)
	}
	dialTLS(t, srv.Addr(), fresh.ClientConfig(t, false)) // still served
}

// refresh_certs without TLS answers as a memcached without -Z.
func TestRefreshCertsWithoutTLS(t *testing.T) {
	srv := startTestServer(t, nil)
	nc, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if got := exchange(t, nc, bufio.NewReader(nc), "refresh_certs\r\n", "\r\n"); got != "Error TLS not enabled\r\n" {
		t.Fatalf("%q", got)
	}
}

// With ssl_session_cache a returning client resumes its session, and
// ssl_new_sessions counts the full handshakes only; without it every
// connection makes a full handshake.
func TestTLSSessionResumption(t *testing.T) {
	certs := testenv.WriteCerts(t)
	for _, cache := range []bool{true, false} {
		srv := startTLSServer(t, certs, func(s *Settings) { s.SSLSessionCache = cache })
		cfg := certs.ClientConfig(t, false)
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
		resumed := 0
		for range 3 {
			nc, br := dialTLS(t, srv.Addr(), cfg)
			exchange(t, nc, br, "version\r\n", "\r\n") // reads the session ticket
			if nc.ConnectionState().DidResume {
				resumed++
			}
			nc.Close()
		}
		st := tlsStats(t, srv.Addr(), certs.ClientConfig(t, false))
		if cache {
			if resumed != 2 || st["ssl_new_sessions"] != "2" { // the first client, and tlsStats's
				t.Fatalf("session cache on: %d resumed, ssl_new_sessions %q", resumed, st["ssl_new_sessions"])
			}
		} else if resumed != 0 {
			t.Fatalf("session cache off: %d connections resumed", resumed)
		}
	}
}

// Start-up errors are memcached's.
func TestTLSSettingsErrors(t *testing.T) {
	certs := testenv.WriteCerts(t)
	cases := []struct {
		edit func(*Settings)
		want string
	}{
		{func(s *Settings) { s.TLS, s.Port = true, 0 }, "ERROR: You cannot enable SSL without a TCP port."},
		{func(s *Settings) { s.Listen = "notls:127.0.0.1" }, "'notls' option is valid only when SSL is enabled"},
		{func(s *Settings) { s.Listen = "mtls:127.0.0.1" }, "'mtls' option is valid only when SSL is enabled"},
		{func(s *Settings) { s.TLS = true }, "Error loading the certificate chain: (null) : "},
		{func(s *Settings) { s.TLS, s.SSLChainCert = true, certs.ServerCert }, "Error loading the key: (null) : "},
		{func(s *Settings) { s.TLS, s.SSLChainCert, s.SSLKey = true, certs.ServerCert, certs.ClientKey }, "Error validating the certificate: "},
		{func(s *Settings) {
			s.TLS, s.SSLChainCert, s.SSLKey, s.SSLCACert = true, certs.ServerCert, certs.ServerKey, certs.ServerKey
		}, "Error loading the CA certificate: " + certs.ServerKey + " : "},
		{func(s *Settings) {
			s.TLS, s.SSLChainCert, s.SSLKey, s.SSLCiphers = true, certs.ServerCert, certs.ServerKey, "NO-SUCH-CIPHER"
		}, "Error setting the provided cipher(s): NO-SUCH-CIPHER"},
	}
	for _, tc := range cases {
		set := DefaultSettings()
		set.Port = -1
		tc.edit(&set)
		srv, err := New(set, Options{})
		if err == nil {
			srv.Shutdown(t.Context())
			t.Errorf("%s: started", tc.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("got %q, want %q...", err, tc.want)
		}
	}
}

// A watcher on a TLS connection receives its log lines encrypted.
func TestTLSWatcher(t *testing.T) {
	certs := testenv.WriteCerts(t)
	srv := startTLSServer(t, certs, nil)
	w, wbr := dialTLS(t, srv.Addr(), certs.ClientConfig(t, false))
	if got := exchange(t, w, wbr, "watch fetchers\r\n", "\r\n"); got != "OK\r\n" {
		t.Fatalf("watch: %q", got)
	}
	nc, br := dialTLS(t, srv.Addr(), certs.ClientConfig(t, false))
	exchange(t, nc, br, "get watched\r\n", "END\r\n")
	line, err := wbr.ReadString('\n')
	if err != nil || !strings.Contains(line, "key=watched") {
		t.Fatalf("watcher read %q (%v)", line, err)
	}
}

// Over TLS the request path allocates nothing per request: what remains is
// crypto/tls's one small allocation each time it reads a record from the
// connection (its atLeastReader escapes), on the server and on this
// client. 200 rounds of 100 pipelined gets, one record each way per round,
// count the mallocs of the whole process.
func TestTLSAllocatesPerRecordNotPerRequest(t *testing.T) {
	certs := testenv.WriteCerts(t)
	srv := startTLSServer(t, certs, func(s *Settings) { s.HotKeys = false })
	nc, br := dialTLS(t, srv.Addr(), certs.ClientConfig(t, false))
	exchange(t, nc, br, "set k 0 0 100\r\n"+strings.Repeat("v", 100)+"\r\n", "STORED\r\n")
	batch := []byte(strings.Repeat("get k\r\n", 100))
	reply := make([]byte, 100*len("VALUE k 0 100\r\n"+strings.Repeat("v", 100)+"\r\nEND\r\n"))
	round := func() {
		if _, err := nc.Write(batch); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(br, reply); err != nil {
			t.Fatal(err)
		}
	}
	for range 50 {
		round()
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 200 {
		round()
	}
	runtime.ReadMemStats(&after)
	perRound := float64(after.Mallocs-before.Mallocs) / 200
	t.Logf("%.2f allocations per round of 100 requests (process-wide)", perRound)
	if perRound > 6 {
		t.Fatalf("%.2f allocations per round of 100 requests over TLS", perRound)
	}
}

// choppy writes what it is given in pieces of 1 to 7 bytes, each its own
// segment, so records and their headers reach the server cut anywhere.
type choppy struct {
	net.Conn
	n int
}

func (c *choppy) Write(p []byte) (int, error) {
	for off := 0; off < len(p); {
		c.n++
		k := min(1+c.n%7, len(p)-off)
		if _, err := c.Conn.Write(p[off : off+k]); err != nil {
			return off, err
		}
		off += k
		if c.n%5 == 0 {
			time.Sleep(20 * time.Microsecond)
		}
	}
	return len(p), nil
}

// Records cut anywhere (in the header, in the payload, several in one
// segment) are read as they complete, during the handshake and after.
func TestTLSRecordsCutAnywhere(t *testing.T) {
	certs := testenv.WriteCerts(t)
	srv := startTLSServer(t, certs, nil)
	raw, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	raw.(*net.TCPConn).SetNoDelay(true)
	nc := tls.Client(&choppy{Conn: raw}, certs.ClientConfig(t, false))
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReader(nc)
	v := bytes.Repeat([]byte("0123456789"), 4000) // three records
	fmt.Fprintf(nc, "set big 0 0 %d\r\n%s\r\n", len(v), v)
	if line, _ := br.ReadString('\n'); line != "STORED\r\n" {
		t.Fatalf("set: %q", line)
	}
	for i := range 50 {
		got := exchange(t, nc, br, fmt.Sprintf("set k%d 0 0 1\r\n%d\r\nget k%d big\r\n", i, i%10, i), "END\r\n")
		want := fmt.Sprintf("STORED\r\nVALUE k%d 0 1\r\n%d\r\nVALUE big 0 %d\r\n%s\r\nEND\r\n", i, i%10, len(v), v)
		if got != want {
			t.Fatalf("request %d: got %d bytes, want %d", i, len(got), len(want))
		}
	}
}

// closeNotifyScript connects over TLS, sends argv[3] (or nothing) and
// reads until the end, refusing a "ragged" end: it prints "clean" only
// when the server sent close_notify before closing.
const closeNotifyScript = `
import socket, ssl, sys
host, port = sys.argv[1].rsplit(":", 1)
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=10),
                    server_hostname=host, suppress_ragged_eofs=False)
if len(sys.argv) > 3:
    s.sendall(sys.argv[3].encode())
try:
    while s.recv(4096):
        pass
    print("clean")
except ssl.SSLEOFError as e:
    print("ragged: %s" % e)
`

// A TLS session the server ends (quit, idle_timeout) ends with a
// close_notify, as memcached's SSL_shutdown sends: clients that insist on
// it (Python's ssl without suppress_ragged_eofs, Perl's IO::Socket::SSL)
// see a clean end.
func TestTLSSessionsEndWithCloseNotify(t *testing.T) {
	py := testenv.LookPath(t, "python3")
	certs := testenv.WriteCerts(t)
	srv := startTLSServer(t, certs, func(s *Settings) { s.IdleTimeout = 1 })
	for _, req := range []string{"quit\r\n", ""} { // "": idle until kicked
		args := []string{"-c", closeNotifyScript, srv.Addr(), certs.CA}
		if req != "" {
			args = append(args, req)
		}
		out, err := exec.Command(py, args...).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "clean" {
			t.Fatalf("%q: %v %s", req, err, out)
		}
	}
}

// TestTLSRecordsAreMemcachedsReads: over TLS memcached reads one record at
// a time and writes the replies it holds before reading the next, so a
// pipeline sent as several records keeps the replies of the records before
// a key over 250 bytes (which drops the replies not yet written), and a
// command line that arrives in several records closes the connection once
// more than 2048 bytes of it are held without its newline. The same records go to memcached 1.6.45 and to slabcached.
func TestTLSRecordsAreMemcachedsReads(t *testing.T) {
	certs := testenv.WriteCerts(t)
	ref := testenv.StartReference(t, "-Z", "-o", "ssl_chain_cert="+certs.ServerCert+",ssl_key="+certs.ServerKey)
	srv := startTLSServer(t, certs, nil)
	cfg := &tls.Config{InsecureSkipVerify: true}
	long := "get " + strings.Repeat("k", 251) + "\r\n"
	cases := []struct {
		name    string
		records []string // each written on its own (one record each, if short)
	}{
		{"error after records", []string{"get a\r\n", "get a\r\n", long, "get a\r\n"}},
		{"error in the same record", []string{"get a\r\nget a\r\n" + long + "get a\r\n"}},
		{"line held in two records", []string{"get a\r\n", "set " + strings.Repeat("k", 1500), strings.Repeat("k", 1500) + " 0 0 1\r\nx\r\n", "get a\r\n"}},
		// The connection closes after the third record: nothing follows
		// it, so that the close is not a reset for unread input.
		{"line held in three records", []string{"get a\r\n", "set " + strings.Repeat("k", 1200), strings.Repeat("k", 1200)}},
		{"short line across records", []string{"get a\r\nget ", "a\r\n", long}},
	}
	exchange := func(addr string, records []string) string {
		nc, rb := dialTLS(t, addr, cfg)
		fmt.Fprintf(nc, "set a 0 0 1\r\n1\r\n")
		expectLine(t, rb, "STORED\r\n")
		for _, r := range records {
			if _, err := nc.Write([]byte(r)); err != nil {
				return "write: " + err.Error()
			}
		}
		if !strings.HasPrefix(records[len(records)-1], "kkk") {
			nc.Write([]byte("mn\r\n"))
		}
		nc.SetReadDeadline(time.Now().Add(3 * time.Second))
		var got bytes.Buffer
		for !bytes.HasSuffix(got.Bytes(), []byte("MN\r\n")) {
			line, err := rb.ReadString('\n')
			got.WriteString(line)
			if err != nil {
				got.WriteString("<closed>")
				break
			}
		}
		return got.String()
	}
	for _, c := range cases {
		want, got := exchange(ref, c.records), exchange(srv.Addr(), c.records)
		if got != want {
			t.Errorf("%s:\n memcached  %q\n slabcached %q", c.name, want, got)
		}
	}
}

// time_since_server_cert_refresh counts as memcached's: from its clock's
// origin (the uptime plus 60 s) until the first refresh_certs, from the
// refresh after it. The same on memcached 1.6.45.
func TestTLSCertRefreshTimeIsMemcached(t *testing.T) {
	certs := testenv.WriteCerts(t)
	ref := testenv.StartReference(t, "-Z", "-o", "ssl_chain_cert="+certs.ServerCert+",ssl_key="+certs.ServerKey)
	srv := startTLSServer(t, certs, nil)
	cfg := &tls.Config{InsecureSkipVerify: true}
	stat := func(addr, cmd string) (since, uptime int) {
		nc, rb := dialTLS(t, addr, cfg)
		defer nc.Close()
		fmt.Fprintf(nc, "%sstats\r\n", cmd)
		if cmd != "" {
			expectLine(t, rb, "OK\r\n")
		}
		since, uptime = -1, -1
		for {
			l, err := rb.ReadString('\n')
			if err != nil || l == "END\r\n" {
				return since, uptime
			}
			fmt.Sscanf(l, "STAT time_since_server_cert_refresh %d", &since)
			fmt.Sscanf(l, "STAT uptime %d", &uptime)
		}
	}
	for _, addr := range []string{ref, srv.Addr()} {
		since, uptime := stat(addr, "")
		if since < uptime+59 || since > uptime+61 {
			t.Errorf("%s: time_since_server_cert_refresh %d at uptime %d, want uptime+60", addr, since, uptime)
		}
		if since, _ := stat(addr, "refresh_certs\r\n"); since < 0 || since > 1 {
			t.Errorf("%s: time_since_server_cert_refresh %d right after refresh_certs", addr, since)
		}
	}
}

// A TLS connection that fails ends as memcached ends it: ssl_proto_errors
// counts it (a reset is not counted), connevents watchers get a conntlserr
// line with OpenSSL's message before its conn_close, whose reason is
// error. With memcached 1.6.45 at hand the same conversation runs there
// too. Each client sends only once the server has surely accepted it:
// memcached reads the first bytes of a connection it finds them on as it
// accepts it, and counts a failure in those as ssl_handshake_errors, with
// no conn_new or conn_close (docs/compat.md).
func TestTLSErrorsAsMemcached(t *testing.T) {
	certs := testenv.WriteCerts(t)
	srv := startTLSServer(t, certs, nil)
	var want []string
	for _, msg := range tlsFailures {
		want = append(want, msg, "close error")
	}
	want = append(want, "close normal") // a session that ends without close_notify is not an error
	check := func(name, addr string) {
		got, proto, hs := tlsErrorConversation(t, addr, certs)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: watch connevents saw\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if proto != len(tlsFailures)-1 || hs != 0 {
			t.Errorf("%s: ssl_proto_errors +%d, ssl_handshake_errors +%d; want +%d, +0", name, proto, hs, len(tlsFailures)-1)
		}
	}
	check("slabcached", srv.Addr())
	if testenv.FindReference() != "" {
		check("memcached", testenv.StartReference(t, "-Z", "-o",
			"ssl_chain_cert="+certs.ServerCert+",ssl_key="+certs.ServerKey))
	}
}

// tlsFailures are the conntlserr messages of tlsErrorConversation's
// connections, in order; all but the reset are counted.
var tlsFailures = []string{
	"error:0A00010B:SSL routines::wrong version number",
	"error:0A00009C:SSL routines::http request",
	"error:0A00009B:SSL routines::https proxy request",
	"error:0A0000F4:SSL routines::unexpected message",
	"error:0A0000C6:SSL routines::packet length too long",
	"error:0A000418:SSL routines::tlsv1 alert unknown ca",
	"error:0A000126:SSL routines::unexpected eof while reading",
	"Connection reset by peer",
	"error:0A000412:SSL routines::sslv3 alert bad certificate",
}

// clientHello returns the first record of a TLS 1.3 handshake from
// crypto/tls's client.
func clientHello(t *testing.T) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go tls.Client(a, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}).Handshake()
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(b, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(b, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr, body...)
}

// tlsErrorConversation opens failing connections to a TLS port and returns
// what a connevents watcher saw of them (conntlserr messages, and the
// reasons of closes other than the stats connections'), and the changes
// of ssl_proto_errors and ssl_handshake_errors.
func tlsErrorConversation(t *testing.T, addr string, certs testenv.Certs) (seen []string, proto, hs int) {
	t.Helper()
	cfg := certs.ClientConfig(t, false)
	counts := func() (int, int) {
		st := tlsStats(t, addr, cfg)
		p, _ := strconv.Atoi(st["ssl_proto_errors"])
		h, _ := strconv.Atoi(st["ssl_handshake_errors"])
		return p, h
	}
	p0, h0 := counts()
	w, wr := dialTLS(t, addr, cfg)
	io.WriteString(w, "watch connevents\r\n")
	if line, err := wr.ReadString('\n'); line != "OK\r\n" {
		t.Fatalf("watch connevents: %q %v", line, err)
	}
	accepted := func() *net.TCPConn {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // accepted (see the test's comment)
		return nc.(*net.TCPConn)
	}
	drain := func(nc net.Conn) {
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, nc)
		nc.Close()
	}
	for _, plain := range []string{
		"version\r\n", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "CONNECT x:1 HTTP/1.1\r\n\r\n",
		"\x17\x03\x01\x00\x05hello", // application data before a handshake
		"\x16\x03\x01\xff\xffabc",   // a record longer than TLS allows
	} {
		nc := accepted()
		io.WriteString(nc, plain)
		drain(nc)
	}
	// A client's alert in the clear after the server's first flight, as
	// OpenSSL's clients send one when they refuse the server's
	// certificate.
	nc := accepted()
	nc.Write(clientHello(t))
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [5]byte
	if _, err := io.ReadFull(nc, hdr[:]); err != nil || hdr[0] != 0x16 {
		t.Fatalf("no ServerHello: % x %v", hdr, err)
	}
	time.Sleep(50 * time.Millisecond)
	nc.Write([]byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 48}) // fatal, unknown_ca
	drain(nc)
	nc = accepted()
	nc.Close() // in the middle of the handshake
	time.Sleep(100 * time.Millisecond)
	nc = accepted()
	nc.SetLinger(0)
	nc.Close() // reset
	time.Sleep(100 * time.Millisecond)
	// A client that does not trust the server's certificate tells it so.
	nc = accepted()
	strict := &tls.Config{ServerName: "localhost", RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS13}
	if err := tls.Client(nc, strict).Handshake(); err == nil {
		t.Fatal("a client that trusts no certificate completed a handshake")
	}
	drain(nc)
	// A session that ends without close_notify.
	nc = accepted()
	tc := tls.Client(nc, cfg)
	io.WriteString(tc, "version\r\n")
	if line, err := bufio.NewReader(tc).ReadString('\n'); !strings.HasPrefix(line, "VERSION ") {
		t.Fatalf("version over TLS: %q %v", line, err)
	}
	nc.Close()

	w.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(seen) < 2*len(tlsFailures)+1 {
		line, err := wr.ReadString('\n')
		if err != nil {
			t.Fatalf("watcher: %v after %q", err, seen)
		}
		switch {
		case strings.Contains(line, " type=conntlserr "):
			seen = append(seen, strings.TrimSpace(line[strings.Index(line, " msg=")+5:]))
		case strings.Contains(line, " type=conn_close "):
			// The close after each failure, and the last session's;
			// the stats connections' closes between them are skipped.
			failed := len(seen) > 0 && !strings.HasPrefix(seen[len(seen)-1], "close")
			if failed || len(seen) == 2*len(tlsFailures) {
				seen = append(seen, "close "+strings.Fields(line[strings.Index(line, " reason="):])[0][len("reason="):])
			}
		}
	}
	p1, h1 := counts()
	return seen, p1 - p0, h1 - h0
}
