package server

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"go.uber.org/zap"
)

// TLS (-Z): crypto/tls on the same event loops as plain connections. The
// handshake runs on a goroutine of its own (crypto/tls cannot resume a
// handshake that ran out of input), fed by the connection's event loop;
// once it is done the event loop decrypts what arrives and encrypts each
// event's replies into records written with one write, and the goroutine
// is gone. See docs/tls.md.

// tlsState is a server's TLS: its configurations (replaced as a whole by
// refresh_certs) and memcached's TLS counters.
type tlsState struct {
	cfgs      atomic.Pointer[tlsConfigs]
	ticketKey [32]byte
	refreshed atomic.Uint32 // clock time of the last certificate load
	mu        sync.Mutex    // serialises loads

	protoErrors atomic.Uint64 // ssl_proto_errors
	newSessions atomic.Uint64 // ssl_new_sessions
}

// tlsConfigs are the configurations built from one load of the
// certificates: one per listener mode, and the one this node dials other
// members with.
type tlsConfigs struct {
	tls, btls, mtls *tls.Config
	client          *tls.Config
}

func (c *tlsConfigs) forMode(mode string) *tls.Config {
	switch mode {
	case "btls":
		return c.btls
	case "mtls":
		return c.mtls
	}
	return c.tls
}

// initTLS loads the certificates at start; the error is memcached's message.
func (s *Server) initTLS() error {
	if !s.set.TLS {
		return nil
	}
	if _, err := rand.Read(s.tls.ticketKey[:]); err != nil {
		return err
	}
	if msg := s.loadCerts(); msg != "" {
		return UsageError(msg)
	}
	// memcached loads them before its clock first ticks, at its time 0,
	// so time_since_server_cert_refresh counts from there until the first
	// refresh_certs.
	s.tls.refreshed.Store(0)
	return nil
}

// RefreshCerts reloads the certificate chain, key and CA file as
// refresh_certs does; connections already open keep their session. It
// returns memcached's error message, or "" on success.
func (s *Server) RefreshCerts() string {
	if !s.set.TLS {
		return "Error TLS not enabled"
	}
	return s.loadCerts()
}

func (s *Server) loadCerts() string {
	s.tls.mu.Lock()
	defer s.tls.mu.Unlock()
	cfgs, msg := buildTLS(&s.set, s.tls.ticketKey)
	if msg != "" {
		s.log.Warn("TLS certificates not loaded", zap.String("error", msg))
		return msg
	}
	s.tls.cfgs.Store(cfgs)
	s.tls.refreshed.Store(s.clk.Now())
	return ""
}

// tlsVersions are ssl_min_version's values.
var tlsVersions = [...]uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13}

func sslVersionName(v int) string {
	if v < 0 || v >= len(tlsVersions) {
		return "unknown"
	}
	return fmt.Sprintf("tlsv1.%d", v)
}

// sslVerifyBits is ssl_verify_mode as memcached prints it: OpenSSL's
// SSL_VERIFY_* bits.
func sslVerifyBits(mode int) int {
	switch mode {
	case 1:
		return 1 // PEER
	case 2:
		return 1 | 2 // PEER | FAIL_IF_NO_PEER_CERT
	case 3:
		return 1 | 2 | 4 // ... | CLIENT_ONCE
	}
	return 0
}

// buildTLS reads the certificate files of set and builds the
// configurations, or returns memcached's message for what failed.
func buildTLS(set *Settings, ticketKey [32]byte) (*tlsConfigs, string) {
	chainName := nullString(set.SSLChainCert)
	chain, err := os.ReadFile(set.SSLChainCert)
	if err == nil && !hasPEM(chain, "CERTIFICATE") {
		err = errors.New("no PEM certificate in the file")
	}
	if err != nil {
		return nil, fmt.Sprintf("Error loading the certificate chain: %s : %v", chainName, err)
	}
	keyFile := set.SSLKey
	if keyFile == "" {
		keyFile = set.SSLChainCert // the key may follow the chain in one file
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err == nil {
		keyPEM, err = keyAsPEM(keyPEM, set.SSLKeyFormat)
	}
	if err != nil {
		return nil, fmt.Sprintf("Error loading the key: %s : %v", nullString(set.SSLKey), err)
	}
	cert, err := tls.X509KeyPair(chain, keyPEM)
	if err != nil {
		return nil, fmt.Sprintf("Error validating the certificate: %v", err)
	}
	var pool *x509.CertPool
	if set.SSLCACert != "" {
		ca, err := os.ReadFile(set.SSLCACert)
		pool = x509.NewCertPool()
		if err == nil && !pool.AppendCertsFromPEM(ca) {
			err = errors.New("no PEM certificate in the file")
		}
		if err != nil {
			return nil, fmt.Sprintf("Error loading the CA certificate: %s : %v", set.SSLCACert, err)
		}
	}
	suites, err := cipherSuites(set.SSLCiphers)
	if err != nil {
		return nil, "Error setting the provided cipher(s): " + set.SSLCiphers
	}
	minVersion := tlsVersions[min(max(set.SSLMinVersion, 0), len(tlsVersions)-1)]
	base := &tls.Config{
		Certificates:                []tls.Certificate{cert},
		MinVersion:                  minVersion,
		CipherSuites:                suites,
		ClientCAs:                   pool,
		SessionTicketsDisabled:      !set.SSLSessionCache,
		DynamicRecordSizingDisabled: true,
		Renegotiation:               tls.RenegotiateNever,
	}
	base.SetSessionTicketKeys([][32]byte{ticketKey})
	mode := func(auth tls.ClientAuthType) *tls.Config {
		c := base.Clone()
		c.ClientAuth = auth
		return c
	}
	verify := [...]tls.ClientAuthType{tls.NoClientCert, tls.VerifyClientCertIfGiven,
		tls.RequireAndVerifyClientCert, tls.RequireAndVerifyClientCert}
	cfgs := &tlsConfigs{
		tls:  mode(verify[min(max(set.SSLVerifyMode, 0), 3)]),
		btls: mode(tls.NoClientCert),
		mtls: mode(tls.RequireAndVerifyClientCert),
	}
	cfgs.client = memberTLS(cert, pool, minVersion)
	return cfgs, ""
}

// memberTLS is the configuration a node dials other members with: it
// shows its own certificate (members may require one) and checks theirs
// against the CA file when there is one. Members are dialled by address,
// so the chain is verified without a host name; without a CA file the
// connection is encrypted but the member is not authenticated.
func memberTLS(cert tls.Certificate, pool *x509.CertPool, minVersion uint16) *tls.Config {
	return &tls.Config{
		Certificates:       []tls.Certificate{cert},
		MinVersion:         minVersion,
		InsecureSkipVerify: true, // verified below, without a host name
		VerifyConnection: func(cs tls.ConnectionState) error {
			if pool == nil {
				return nil
			}
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tls: the member sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter})
			return err
		},
	}
}

// MemberTLS is the configuration this node dials other members with while
// TLS is on, or nil.
func (s *Server) MemberTLS() *tls.Config {
	if c := s.tls.cfgs.Load(); c != nil {
		return c.client
	}
	return nil
}

func hasPEM(data []byte, typ string) bool {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return false
		}
		if b.Type == typ {
			return true
		}
	}
}

// keyAsPEM returns the key file's content as PEM: format 1 is PEM already;
// 2 is DER (PKCS #1, PKCS #8 or SEC 1), wrapped.
func keyAsPEM(data []byte, format int) ([]byte, error) {
	switch format {
	case 1:
		for rest := data; ; {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				return nil, errors.New("no PEM private key in the file")
			}
			if strings.HasSuffix(b.Type, "PRIVATE KEY") {
				return data, nil
			}
		}
	case 2:
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: data}), nil
	}
	return nil, fmt.Errorf("key format %d is not supported (1: PEM, 2: DER)", format)
}

// opensslSuites maps OpenSSL's names of the cipher suites Go implements to
// them; IANA names (as Go prints them) are accepted too.
var opensslSuites = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
}

// cipherSuites reads ssl_ciphers: nil (Go's choice) when empty or one of
// OpenSSL's keywords for its defaults. As OpenSSL, names it does not know
// are skipped, and a list that selects nothing is an error. TLS 1.3 suites
// are not configurable in Go: their names are accepted and select nothing.
func cipherSuites(list string) ([]uint16, error) {
	if list == "" {
		return nil, nil
	}
	iana := map[string]uint16{}
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		iana[cs.Name] = cs.ID
	}
	var out []uint16
	tls13 := false
	for _, name := range strings.FieldsFunc(list, func(r rune) bool { return r == ':' || r == ',' || r == ' ' }) {
		switch {
		case name == "DEFAULT" || name == "HIGH" || name == "ALL":
			return nil, nil
		case opensslSuites[name] != 0:
			out = append(out, opensslSuites[name])
		case iana[name] != 0:
			out = append(out, iana[name])
		case strings.HasPrefix(name, "TLS_AES_") || strings.HasPrefix(name, "TLS_CHACHA20_"):
			tls13 = true
		}
	}
	if len(out) == 0 && !tls13 {
		return nil, errors.New("no cipher suite selected")
	}
	return out, nil
}

// maxPlaintext is the most plaintext a TLS record carries (and a little
// more, for the overhead crypto/tls may count).
const maxPlaintext = 16<<10 + 256

// tlsConn is a TLS connection as the rest of the server sees it: a
// gnet.Conn whose input is the decrypted stream and whose Write encrypts.
// Methods it does not override reach the socket's gnet.Conn.
type tlsConn struct {
	gnet.Conn
	s   *Server
	tc  *tls.Conn
	w   *tlsWire
	eof bool // the client closed the session
	// failed: a TLS error ended the session and was reported (tlsError).
	failed bool
	plain  []byte // decrypted input; plain[poff:] not consumed yet
	poff   int
	// ends: where in plain each record's plaintext ends (at most
	// maxRecordEnds; later records count as part of the last), for the
	// reads memcached makes a record at a time (conn.pastBuffer).
	ends []int
}

// maxRecordEnds bounds tlsConn.ends.
const maxRecordEnds = 64

// recordEnd returns where, relative to the unread input, the first record
// that ends after after ends, or limit if that is sooner or no such record
// is known.
func (t *tlsConn) recordEnd(after, limit int) int {
	for _, e := range t.ends {
		if r := e - t.poff; r > after {
			return min(r, limit)
		}
	}
	return limit
}

// tlsWire is the net.Conn crypto/tls reads and writes. While the handshake
// goroutine runs it is shared with the event loop under mu; afterwards
// only the event loop uses it.
type tlsWire struct {
	raw gnet.Conn

	mu     sync.Mutex
	cond   sync.Cond
	ready  bool   // handshake over: in and out belong to the event loop
	in     []byte // received while the handshake runs
	out    []byte // written by crypto/tls, for the event loop to send
	done   bool   // the handshake ended, with err
	err    error
	closed bool

	// The record framing of the stream handed to crypto/tls: hn bytes of
	// the current record's header (hdr) and, once it is whole, body bytes
	// of its payload still to come. Reads stop at the end of a record, so
	// crypto/tls never holds input beyond the record it is reading.
	hdr      [recordHeader]byte
	hn, body int
	// alert: the description byte of the last two-byte alert record read
	// (alerts counts them), which is one sent in the clear: OpenSSL
	// reads a client's alert in the clear where crypto/tls, expecting
	// encryption, sees a bad record (opensslMessage).
	alert, alerts int
}

const (
	recordHeader    = 5 // type, version, length
	recordTypeAlert = 21
)

// errWouldBlock tells crypto/tls that no more input is buffered: a
// temporary error, which it does not keep.
var errWouldBlock = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "tls: no buffered input" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// frame follows the framing over b, the next bytes handed to crypto/tls
// (within one record).
func (w *tlsWire) frame(b []byte) {
	for len(b) > 0 {
		if w.hn < recordHeader {
			k := copy(w.hdr[w.hn:], b)
			w.hn += k
			b = b[k:]
			if w.hn == recordHeader {
				if w.body = int(w.hdr[3])<<8 | int(w.hdr[4]); w.body == 0 {
					w.hn = 0
				}
			}
			continue
		}
		k := min(w.body, len(b))
		if w.hdr[0] == recordTypeAlert && w.hdr[3] == 0 && w.hdr[4] == 2 && k == w.body {
			w.alert, w.alerts = int(b[k-1]), w.alerts+1 // the record's second byte
		}
		w.body -= k
		b = b[k:]
		if w.body == 0 {
			w.hn = 0
		}
	}
}

// take copies into p the next bytes of the stream (what came during the
// handshake first, then the socket's once the handshake is over), up to
// the end of the current record.
func (w *tlsWire) take(p []byte) int {
	n := 0
	for n < len(p) {
		lim := recordHeader - w.hn
		if w.hn == recordHeader {
			lim = w.body
		}
		q := p[n : n+min(lim, len(p)-n)]
		var k int
		if len(w.in) > 0 {
			k = copy(q, w.in)
			w.in = w.in[k:]
		} else if w.ready {
			k, _ = w.raw.Read(q)
		}
		if k == 0 {
			break
		}
		w.frame(q[:k])
		n += k
		if w.hn == 0 {
			break // a record ends here
		}
	}
	return n
}

// recordReady says whether the rest of the current record, or the whole
// next one, is available: a Read of crypto/tls then returns without
// running out of input (each time it does, it allocates).
func (w *tlsWire) recordReady() bool {
	avail := w.raw.InboundBuffered()
	if len(w.in) > 0 {
		return true // just after the handshake: let crypto/tls sort it out
	}
	if w.hn == recordHeader {
		return avail >= w.body
	}
	need := recordHeader - w.hn
	if avail < need {
		return false
	}
	var hdr [recordHeader]byte
	copy(hdr[:], w.hdr[:w.hn])
	b, err := w.raw.Peek(need)
	if err != nil {
		return true
	}
	copy(hdr[w.hn:], b)
	return avail >= need+(int(hdr[3])<<8|int(hdr[4]))
}

func (w *tlsWire) Read(p []byte) (int, error) {
	if w.ready {
		if n := w.take(p); n > 0 {
			return n, nil
		}
		return 0, errWouldBlock
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.in) == 0 && !w.closed {
		if len(w.out) > 0 {
			w.raw.Wake(nil) // the event loop sends what the handshake wrote
		}
		w.cond.Wait()
	}
	if len(w.in) == 0 {
		return 0, io.EOF
	}
	return w.take(p), nil
}

func (w *tlsWire) Write(p []byte) (int, error) {
	if w.ready {
		w.out = append(w.out, p...)
		return len(p), nil
	}
	w.mu.Lock()
	w.out = append(w.out, p...)
	w.mu.Unlock()
	return len(p), nil
}

// finish closes the input of a handshake under way and waits for it to
// end, which it then does at once (its reads are the only place it
// waits), and returns its error.
func (w *tlsWire) finish() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	w.cond.Broadcast()
	for !w.done {
		w.cond.Wait()
	}
	return w.err
}

func (w *tlsWire) Close() error {
	w.mu.Lock()
	w.closed = true
	w.cond.Broadcast()
	w.mu.Unlock()
	return nil
}

func (w *tlsWire) LocalAddr() net.Addr              { return w.raw.LocalAddr() }
func (w *tlsWire) RemoteAddr() net.Addr             { return w.raw.RemoteAddr() }
func (w *tlsWire) SetDeadline(time.Time) error      { return nil }
func (w *tlsWire) SetReadDeadline(time.Time) error  { return nil }
func (w *tlsWire) SetWriteDeadline(time.Time) error { return nil }
func (w *tlsWire) handshake(tc *tls.Conn, wake func()) {
	err := tc.Handshake()
	w.mu.Lock()
	w.done, w.err = true, err
	w.cond.Broadcast() // finish
	w.mu.Unlock()
	wake()
}

// newTLSConn starts the handshake of a connection accepted on a TLS
// listener.
func newTLSConn(s *Server, raw gnet.Conn, cfg *tls.Config) *tlsConn {
	w := &tlsWire{raw: raw}
	w.cond.L = &w.mu
	t := &tlsConn{Conn: raw, s: s, w: w, tc: tls.Server(w, cfg)}
	go w.handshake(t.tc, func() { raw.Wake(nil) })
	return t
}

// pump runs on the event loop before the connection's input is handled:
// during the handshake it feeds the handshake goroutine and sends what it
// wrote; then it decrypts what arrived. It returns gnet.Close when the
// connection must end.
func (t *tlsConn) pump() gnet.Action {
	w := t.w
	if !w.ready {
		w.mu.Lock()
		if n := t.Conn.InboundBuffered(); n > 0 {
			b, _ := t.Conn.Next(n)
			w.in = append(w.in, b...)
			w.cond.Signal()
		}
		out, done, err := w.out, w.done, w.err
		w.out = nil
		if done && err == nil {
			// Written once, after the handshake goroutine's last Read
			// and Write: they test ready without the lock.
			w.ready = true
		}
		w.mu.Unlock()
		if len(out) > 0 {
			t.Conn.Write(out)
		}
		if !done {
			return gnet.None
		}
		if err != nil {
			t.fail(err)
			if t.s.verbosity.Load() > 0 {
				t.s.log.Info("TLS handshake failed", zap.Stringer("remote", addrStringer{t.Conn.RemoteAddr()}), zap.Error(err))
			}
			return gnet.Close
		}
		if t.s.set.SSLSessionCache && !t.tc.ConnectionState().DidResume {
			t.s.tls.newSessions.Add(1)
		}
	}
	if t.poff > 0 {
		n := copy(t.plain, t.plain[t.poff:])
		k := 0
		for _, e := range t.ends {
			if e > t.poff {
				t.ends[k] = e - t.poff
				k++
			}
		}
		t.plain, t.poff, t.ends = t.plain[:n], 0, t.ends[:k]
	}
	// crypto/tls allocates each time it reads from the wire, so it is
	// asked to read only when a whole record is there (and given room for
	// all of its plaintext), never just to learn that nothing is left.
	action := gnet.None
	for !t.eof && w.recordReady() {
		t.plain = slices.Grow(t.plain, maxPlaintext)
		n, err := t.tc.Read(t.plain[len(t.plain):cap(t.plain)])
		t.plain = t.plain[:len(t.plain)+n]
		if n > 0 {
			if len(t.ends) == maxRecordEnds {
				t.ends = t.ends[:maxRecordEnds-1]
			}
			t.ends = append(t.ends, len(t.plain))
		}
		if err == nil {
			continue
		}
		if err == errWouldBlock {
			break
		}
		if err == io.EOF {
			t.eof = true // handle what came before the close_notify
		} else {
			t.fail(err)
			action = gnet.Close
		}
		break
	}
	t.flush()
	return action
}

// flush writes what crypto/tls produced since the last write.
func (t *tlsConn) flush() {
	if len(t.w.out) > 0 {
		t.Conn.Write(t.w.out)
		if cap(t.w.out) > outShrink {
			t.w.out = nil
		} else {
			t.w.out = t.w.out[:0]
		}
	}
}

// The decrypted input, as gnet.Conn's Reader.

func (t *tlsConn) InboundBuffered() int { return len(t.plain) - t.poff }

func (t *tlsConn) Peek(n int) ([]byte, error) {
	b := t.plain[t.poff:]
	if n < 0 || n == len(b) {
		return b, nil
	}
	if n > len(b) {
		return b, io.ErrShortBuffer
	}
	return b[:n], nil
}

func (t *tlsConn) Next(n int) ([]byte, error) {
	b, err := t.Peek(n)
	t.Discard(len(b))
	return b, err
}

func (t *tlsConn) Discard(n int) (int, error) {
	n = min(n, t.InboundBuffered())
	t.poff += n
	if t.poff == len(t.plain) {
		t.plain, t.poff, t.ends = t.plain[:0], 0, t.ends[:0]
		if cap(t.plain) > outShrink {
			t.plain = nil
		}
	}
	return n, nil
}

func (t *tlsConn) Read(p []byte) (int, error) {
	if t.InboundBuffered() == 0 {
		return 0, io.EOF
	}
	n := copy(p, t.plain[t.poff:])
	t.Discard(n)
	return n, nil
}

// Write encrypts p and writes the records with one write.
func (t *tlsConn) Write(p []byte) (int, error) {
	n, err := t.tc.Write(p)
	t.flush()
	return n, err
}

func (t *tlsConn) Writev(bs [][]byte) (int, error) {
	total := 0
	for _, b := range bs {
		n, err := t.tc.Write(b)
		total += n
		if err != nil {
			t.flush()
			return total, err
		}
	}
	t.flush()
	return total, nil
}

// closeNotify sends the close_notify alert (event loop, session ready).
func (t *tlsConn) closeNotify() {
	if t.w.ready {
		t.tc.CloseWrite()
		t.flush()
	}
}

// isReady says, from any goroutine, whether the handshake is over.
func (t *tlsConn) isReady() bool {
	t.w.mu.Lock()
	defer t.w.mu.Unlock()
	return t.w.ready
}

// closed ends a handshake still waiting for input (OnClose).
func (t *tlsConn) closed() { t.w.Close() }

// fail reports a TLS error that ends the session as memcached does when
// OpenSSL's SSL_read fails (ssl_read in its tls.c): ssl_proto_errors
// counts it, and connevents watchers see a conntlserr line with OpenSSL's
// message. memcached reads a new connection's handshake that way unless
// its first bytes were there when it accepted it; then it counts an error
// in them as ssl_handshake_errors, logs no conn_new or conn_close, and
// shows the listening socket's descriptor: a race on its side
// (docs/compat.md). A client's reset is logged but not counted (OpenSSL's
// SSL_ERROR_SYSCALL).
func (t *tlsConn) fail(err error) {
	if t.failed {
		return
	}
	t.failed = true
	if !errors.Is(err, syscall.ECONNRESET) {
		t.s.tls.protoErrors.Add(1)
	}
	if t.s.obs.on.Load() {
		t.s.obs.tlsError(t.Conn.Fd(), opensslMessage(err, t.w))
	}
}

// lost is called as the connection closes with the error that closed it:
// a client that goes away in the middle of a handshake, or resets the
// connection at any time, is a TLS error to memcached (OpenSSL's
// "unexpected eof while reading", or the reset's errno). It reports
// whether it was one.
func (t *tlsConn) lost(err error) bool {
	if t.failed {
		return true
	}
	reset := errors.Is(err, syscall.ECONNRESET)
	if err == nil || !reset && (t.w.ready || !errors.Is(err, io.EOF)) {
		return false
	}
	if !t.w.ready {
		// What the handshake has not read yet may hold the reason (a
		// client's alert just before it went away): OpenSSL would have
		// read it first.
		herr := t.w.finish()
		if herr != nil && !errors.Is(herr, io.EOF) && !errors.Is(herr, io.ErrUnexpectedEOF) {
			err = herr
		}
	}
	t.fail(err)
	return true
}

// alertNames: OpenSSL's names of the alerts a client may send, by number
// (its message code is 1000 plus the number), and crypto/tls's names for
// the same alerts.
var (
	alertNames = map[int]string{
		40: "sslv3 alert handshake failure", 42: "sslv3 alert bad certificate",
		43: "sslv3 alert unsupported certificate", 44: "sslv3 alert certificate revoked",
		45: "sslv3 alert certificate expired", 46: "sslv3 alert certificate unknown",
		47: "sslv3 alert illegal parameter", 48: "tlsv1 alert unknown ca",
		49: "tlsv1 alert access denied", 50: "tlsv1 alert decode error",
		51: "tlsv1 alert decrypt error", 70: "tlsv1 alert protocol version",
		80: "tlsv1 alert internal error", 116: "tlsv13 alert certificate required",
	}
	goAlerts = map[string]int{
		"handshake failure": 40, "bad certificate": 42, "unsupported certificate": 43,
		"revoked certificate": 44, "expired certificate": 45, "unknown certificate": 46,
		"illegal parameter": 47, "unknown certificate authority": 48, "access denied": 49,
		"error decoding message": 50, "error decrypting message": 51,
		"protocol version not supported": 70, "internal error": 80, "certificate required": 116,
	}
)

// opensslMessage names a TLS failure as OpenSSL does in memcached's
// conntlserr lines ("error:0A000102:SSL routines::unsupported protocol"),
// for the failures crypto/tls and OpenSSL both tell apart; others keep
// crypto/tls's own text.
func opensslMessage(err error, w *tlsWire) string {
	reason := func(code int, text string) string {
		return fmt.Sprintf("error:0A%06X:SSL routines::%s", code, text)
	}
	var rhe tls.RecordHeaderError
	msg := err.Error()
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		return "Connection reset by peer"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return reason(0x126, "unexpected eof while reading")
	case errors.As(err, &rhe):
		h := rhe.RecordHeader[:]
		switch {
		case strings.HasPrefix(rhe.Msg, "oversized record"):
			return reason(0xC6, "packet length too long")
		case rhe.Msg != "first record does not look like a TLS handshake":
			return reason(0x10B, "wrong version number")
		case bytes.HasPrefix(h, []byte("GET ")), bytes.HasPrefix(h, []byte("POST ")),
			bytes.HasPrefix(h, []byte("HEAD ")), bytes.HasPrefix(h, []byte("PUT ")):
			return reason(0x9C, "http request")
		case bytes.HasPrefix(h, []byte("CONNE")):
			return reason(0x9B, "https proxy request")
		case h[0] >= 0x14 && h[0] <= 0x17 && h[1] == 3:
			return reason(0xF4, "unexpected message")
		}
		return reason(0x10B, "wrong version number")
	case strings.HasPrefix(msg, "remote error: tls: "):
		// An alert from the client: OpenSSL names it by the alert's number.
		if a, ok := goAlerts[strings.TrimPrefix(msg, "remote error: tls: ")]; ok {
			return reason(1000+a, alertNames[a])
		}
	case strings.Contains(msg, "client didn't provide a certificate"):
		return reason(0xC7, "peer did not return a certificate")
	case strings.Contains(msg, "failed to verify certificate"):
		return reason(0x86, "certificate verify failed")
	case strings.Contains(msg, "client offered only unsupported versions"),
		strings.Contains(msg, "protocol version not supported"):
		return reason(0x102, "unsupported protocol")
	case strings.Contains(msg, "unexpected message"):
		return reason(0xF4, "unexpected message")
	case strings.Contains(msg, "bad record MAC"):
		if name, ok := alertNames[w.alert]; ok && w.alerts > 0 {
			return reason(1000+w.alert, name)
		}
		return reason(0x119, "decryption failed or bad record mac")
	}
	return msg
}
