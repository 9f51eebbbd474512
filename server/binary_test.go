package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/testenv"
	"github.com/slabcache/slabcache/proto"
)

// binScript is a binary conversation: every opcode, quiet variants, CAS,
// misses and errors.
func binScript() []proto.BinRequest {
	big := strings.Repeat("b", 40<<10) // streams in over several reads
	return []proto.BinRequest{
		{Opcode: proto.BinOpVersion},
		{Opcode: proto.BinOpSet, Key: []byte("a"), Value: []byte("hello"), Flags: 7},
		{Opcode: proto.BinOpGet, Key: []byte("a")},
		{Opcode: proto.BinOpGetK, Key: []byte("a")},
		{Opcode: proto.BinOpGetQ, Key: []byte("a")},
		{Opcode: proto.BinOpGetKQ, Key: []byte("a")},
		{Opcode: proto.BinOpGet, Key: []byte("nope")},
		{Opcode: proto.BinOpGetK, Key: []byte("nope")},
		{Opcode: proto.BinOpGetQ, Key: []byte("nope")},
		{Opcode: proto.BinOpAdd, Key: []byte("a"), Value: []byte("x")},
		{Opcode: proto.BinOpAddQ, Key: []byte("a"), Value: []byte("x")},
		{Opcode: proto.BinOpAdd, Key: []byte("b"), Value: []byte("1")},
		{Opcode: proto.BinOpReplace, Key: []byte("nope"), Value: []byte("x")},
		{Opcode: proto.BinOpReplaceQ, Key: []byte("b"), Value: []byte("2")},
		{Opcode: proto.BinOpAppend, Key: []byte("b"), Value: []byte("3")},
		{Opcode: proto.BinOpPrepend, Key: []byte("b"), Value: []byte("1")},
		{Opcode: proto.BinOpAppendQ, Key: []byte("nope"), Value: []byte("3")},
		{Opcode: proto.BinOpGet, Key: []byte("b")},
		{Opcode: proto.BinOpSet, Key: []byte("b"), Value: []byte("x"), CAS: 1},
		{Opcode: proto.BinOpSet, Key: []byte("nope"), Value: []byte("x"), CAS: 1},
		{Opcode: proto.BinOpDelete, Key: []byte("b"), CAS: 1},
		{Opcode: proto.BinOpIncrement, Key: []byte("b"), Delta: 5},
		{Opcode: proto.BinOpDecrement, Key: []byte("b"), Delta: 500},
		{Opcode: proto.BinOpIncrementQ, Key: []byte("b"), Delta: 1},
		{Opcode: proto.BinOpIncrement, Key: []byte("n"), Delta: 5, Initial: 10},
		{Opcode: proto.BinOpIncrement, Key: []byte("n"), Delta: 5, Initial: 10},
		{Opcode: proto.BinOpIncrement, Key: []byte("m"), Delta: 5, Initial: 10, Exptime: 0xffffffff},
		{Opcode: proto.BinOpIncrement, Key: []byte("a"), Delta: 1},
		{Opcode: proto.BinOpTouch, Key: []byte("a"), Exptime: 100},
		{Opcode: proto.BinOpTouch, Key: []byte("nope"), Exptime: 100},
		{Opcode: proto.BinOpGAT, Key: []byte("a"), Exptime: 100},
		{Opcode: proto.BinOpGATK, Key: []byte("a"), Exptime: 100},
		{Opcode: proto.BinOpGATKQ, Key: []byte("nope"), Exptime: 100},
		{Opcode: proto.BinOpGATK, Key: []byte("nope"), Exptime: 100},
		{Opcode: proto.BinOpDelete, Key: []byte("a")},
		{Opcode: proto.BinOpDeleteQ, Key: []byte("a")},
		{Opcode: proto.BinOpSet, Key: []byte("big"), Value: []byte(big)},
		{Opcode: proto.BinOpGet, Key: []byte("big")},
		{Opcode: proto.BinOpSet, Key: []byte("huge"), Value: []byte(strings.Repeat("h", 2<<20))},
		{Opcode: proto.BinOpStat, Key: []byte("nosuchgroup")},
		{Opcode: proto.BinOpStat, Key: []byte("reset")},
		{Opcode: proto.BinOpSASLListMechs},
		{Opcode: proto.BinOpFlush},
		{Opcode: proto.BinOpGet, Key: []byte("big")},
		{Opcode: proto.BinOpFlushQ, Exptime: 10},
		{Opcode: proto.BinOpQuit},
	}
}

// binExchange sends each request followed by a NOOP and returns the
// responses before each NOOP's, described for comparison: CAS values
// differ between servers, so only whether one is set is kept.
func binExchange(t *testing.T, addr string, reqs []proto.BinRequest) []string {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(nc)
	var out []string
	for i := range reqs {
		r := reqs[i]
		r.Opaque = uint32(1000 + i)
		pkt := proto.AppendBinRequest(nil, &r)
		if r.Opcode != proto.BinOpQuit {
			pkt = proto.AppendBinRequest(pkt, &proto.BinRequest{Opcode: proto.BinOpNoop, Opaque: 7})
		}
		if _, err := nc.Write(pkt); err != nil {
			t.Fatalf("%v: %v (after %q)", r.Opcode, err, out)
		}
		var got []string
		for {
			hdr := make([]byte, proto.BinHeaderLen)
			if _, err := io.ReadFull(br, hdr); err != nil {
				got = append(got, "EOF")
				break
			}
			body := make([]byte, int(hdr[8])<<24|int(hdr[9])<<16|int(hdr[10])<<8|int(hdr[11]))
			if _, err := io.ReadFull(br, body); err != nil {
				t.Fatalf("%v: %v", r.Opcode, err)
			}
			var resp proto.BinResponse
			if _, err := proto.ParseBinResponse(append(hdr, body...), &resp); err != nil {
				t.Fatalf("%v: %v", r.Opcode, err)
			}
			if resp.Opcode == proto.BinOpNoop && resp.Opaque == 7 {
				break
			}
			got = append(got, describeBin(&resp, string(resp.Value)))
			if resp.Opcode == proto.BinOpQuit {
				break
			}
		}
		out = append(out, fmt.Sprintf("%v: %s", r.Opcode, strings.Join(got, " | ")))
	}
	return out
}

// describeBin describes a response with value v for comparison between
// servers: CAS values differ, so only whether one is set is kept, and so
// do the values of statistics and the version's suffix.
func describeBin(resp *proto.BinResponse, v string) string {
	if len(v) > 64 {
		v = fmt.Sprintf("%.20s...(%d bytes)", v, len(v))
	}
	if resp.Opcode == proto.BinOpStat && resp.Status == proto.BinStatusSuccess {
		v = ""
	}
	if resp.Opcode == proto.BinOpVersion {
		v, _, _ = strings.Cut(v, "-") // 1.6.45-slabcached-...
	}
	return fmt.Sprintf("%v %v opaque=%d cas=%v ext=%x key=%q value=%q",
		resp.Opcode, resp.Status, resp.Opaque, resp.CAS != 0, resp.Extras, resp.Key, v)
}

// TestBinaryMatchesMemcached plays the same binary conversation against
// memcached and slabcached and compares every response: status, opaque,
// extras, key, value (error texts included) and whether a CAS is set.
func TestBinaryMatchesMemcached(t *testing.T) {
	ref := testenv.StartReference(t, "-I", "1m")
	srv := startTestServer(t, nil)
	want := binExchange(t, ref, binScript())
	got := binExchange(t, srv.Addr(), binScript())
	for i := range want {
		if i >= len(got) || got[i] != want[i] {
			g := ""
			if i < len(got) {
				g = got[i]
			}
			t.Errorf("request %d:\n memcached  %s\n slabcached %s", i, want[i], g)
		}
	}
}

// A STAT with no group lists the same statistics, in the same order, as
// the text protocol's stats, ending with an empty packet.
func TestBinaryStatNames(t *testing.T) {
	srv := startTestServer(t, nil)
	text := statNames(t, srv.Addr(), "stats")
	nc, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write(proto.AppendBinRequest(nil, &proto.BinRequest{Opcode: proto.BinOpStat}))
	br := bufio.NewReader(nc)
	var names []string
	for {
		hdr := make([]byte, proto.BinHeaderLen)
		if _, err := io.ReadFull(br, hdr); err != nil {
			t.Fatal(err)
		}
		body := make([]byte, int(hdr[8])<<24|int(hdr[9])<<16|int(hdr[10])<<8|int(hdr[11]))
		io.ReadFull(br, body)
		var resp proto.BinResponse
		proto.ParseBinResponse(append(hdr, body...), &resp)
		if len(resp.Key) == 0 {
			break
		}
		names = append(names, string(resp.Key))
	}
	if strings.Join(names, " ") != strings.Join(text, " ") {
		t.Fatalf("binary STAT names:\n%v\ntext stats:\n%v", names, text)
	}
}

// -B binary closes a connection that speaks text once a header's worth of
// bytes is in (memcached reads the bad magic byte and closes); -B ascii
// reads binary bytes as text.
func TestProtocolFlag(t *testing.T) {
	bin := startTestServer(t, func(s *Settings) { s.Protocol = ProtocolBinary })
	nc, rb := dialT(t, bin.Addr())
	nc.Write([]byte("version\r\nversion\r\nversion\r\n"))
	if line, err := rb.ReadString('\n'); err != io.EOF {
		t.Fatalf("-B binary answered text: %q", line)
	}
	nc, _ = dialT(t, bin.Addr())
	nc.Write(proto.AppendBinRequest(nil, &proto.BinRequest{Opcode: proto.BinOpVersion}))
	hdr := make([]byte, proto.BinHeaderLen)
	if _, err := io.ReadFull(nc, hdr); err != nil || hdr[0] != proto.BinResMagic {
		t.Fatalf("-B binary: %x %v", hdr, err)
	}
	ascii := startTestServer(t, func(s *Settings) { s.Protocol = ProtocolASCII })
	nc, rb = dialT(t, ascii.Addr())
	nc.Write(append(proto.AppendBinRequest(nil, &proto.BinRequest{Opcode: proto.BinOpNoop}), "\r\n"...))
	// As memcached: the NUL-filled line is a malformed command, then
	// "\r\n" an empty one.
	for _, want := range []string{"CLIENT_ERROR bad command line format\r\n", "ERROR\r\n"} {
		if line, _ := rb.ReadString('\n'); line != want {
			t.Fatalf("-B ascii answered %q to binary bytes, want %q", line, want)
		}
	}
}

// binRoundTrip sends one request on nc and reads one response.
func binRoundTrip(t *testing.T, nc net.Conn, br *bufio.Reader, r proto.BinRequest) (proto.BinResponse, error) {
	t.Helper()
	if _, err := nc.Write(proto.AppendBinRequest(nil, &r)); err != nil {
		return proto.BinResponse{}, err
	}
	hdr := make([]byte, proto.BinHeaderLen)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return proto.BinResponse{}, err
	}
	body := make([]byte, int(hdr[8])<<24|int(hdr[9])<<16|int(hdr[10])<<8|int(hdr[11]))
	if _, err := io.ReadFull(br, body); err != nil {
		return proto.BinResponse{}, err
	}
	var resp proto.BinResponse
	_, err := proto.ParseBinResponse(append(hdr, body...), &resp)
	return resp, err
}

// With -S a binary connection must authenticate with SASL PLAIN and a
// user:password line of the password file before anything but VERSION and
// the SASL requests; anything else is refused with "Auth failure." and the
// connection closed, as memcached does.
func TestSASL(t *testing.T) {
	pw := t.TempDir() + "/pwdb"
	if err := os.WriteFile(pw, []byte("other:x\ntestuser:testpass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startTestServer(t, func(s *Settings) {
		s.SASL, s.SASLPasswords, s.Protocol = true, pw, ProtocolBinary
	})
	dial := func() (net.Conn, *bufio.Reader) {
		nc, _ := dialT(t, srv.Addr())
		return nc, bufio.NewReader(nc)
	}
	plain := func(user, pass string) []byte { return []byte("\x00" + user + "\x00" + pass) }

	nc, br := dial()
	if resp, err := binRoundTrip(t, nc, br, proto.BinRequest{Opcode: proto.BinOpVersion}); err != nil || resp.Status != proto.BinStatusSuccess {
		t.Fatalf("VERSION before auth: %+v %v", resp, err)
	}
	if resp, err := binRoundTrip(t, nc, br, proto.BinRequest{Opcode: proto.BinOpSASLListMechs}); err != nil || string(resp.Value) != "PLAIN" {
		t.Fatalf("SASL_LIST_MECHS: %+v %v", resp, err)
	}
	if resp, err := binRoundTrip(t, nc, br, proto.BinRequest{Opcode: proto.BinOpGet, Key: []byte("k")}); err != nil ||
		resp.Status != proto.BinStatusAuthError || string(resp.Value) != "Auth failure." {
		t.Fatalf("GET before auth: %+v %v", resp, err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection still open after the refused GET: %v", err)
	}

	nc, br = dial()
	for _, bad := range [][]byte{plain("testuser", "wrong"), plain("nobody", "testpass"), plain("other", "testpass"), []byte("testuser")} {
		if resp, err := binRoundTrip(t, nc, br, proto.BinRequest{Opcode: proto.BinOpSASLAuth, Key: []byte("PLAIN"), Value: bad}); err != nil || resp.Status != proto.BinStatusAuthError {
			t.Fatalf("SASL_AUTH %q: %+v %v", bad, resp, err)
		}
	}
	if resp, err := binRoundTrip(t, nc, br, proto.BinRequest{Opcode: proto.BinOpSASLAuth, Key: []byte("CRAM-MD5"), Value: []byte("x")}); err != nil || resp.Status != proto.BinStatusAuthError {
		t.Fatalf("unknown mechanism: %+v %v", resp, err)
	}
	if resp, err := binRoundTrip(t, nc, br, proto.BinRequest{Opcode: proto.BinOpSASLAuth, Key: []byte("PLAIN"), Value: plain("testuser", "testpass")}); err != nil ||
		resp.Status != proto.BinStatusSuccess || string(resp.Value) != "Authenticated" {
		t.Fatalf("SASL_AUTH: %+v %v", resp, err)
	}
	if resp, err := binRoundTrip(t, nc, br, proto.BinRequest{Opcode: proto.BinOpSet, Key: []byte("k"), Value: []byte("v")}); err != nil || resp.Status != proto.BinStatusSuccess {
		t.Fatalf("SET after auth: %+v %v", resp, err)
	}
	if resp, err := binRoundTrip(t, nc, br, proto.BinRequest{Opcode: proto.BinOpGet, Key: []byte("k")}); err != nil || string(resp.Value) != "v" {
		t.Fatalf("GET after auth: %+v %v", resp, err)
	}
	// The counters: six attempts, five failed.
	if _, err := nc.Write(proto.AppendBinRequest(nil, &proto.BinRequest{Opcode: proto.BinOpStat})); err != nil {
		t.Fatal(err)
	}
	stats := map[string]string{}
	for {
		hdr := make([]byte, proto.BinHeaderLen)
		io.ReadFull(br, hdr)
		body := make([]byte, int(hdr[8])<<24|int(hdr[9])<<16|int(hdr[10])<<8|int(hdr[11]))
		io.ReadFull(br, body)
		var resp proto.BinResponse
		proto.ParseBinResponse(append(hdr, body...), &resp)
		if len(resp.Key) == 0 {
			break
		}
		stats[string(resp.Key)] = string(resp.Value)
	}
	if stats["auth_cmds"] != "6" || stats["auth_errors"] != "5" {
		t.Fatalf("auth_cmds %q auth_errors %q, want 6 and 5", stats["auth_cmds"], stats["auth_errors"])
	}
}

// TestBinaryCASMismatchCounters: memcached counts an INCREMENT or DELETE
// whose CAS does not match in neither cas_badval nor the command's misses
// (a text md with a CAS that does not match is a delete miss), and an
// INCREMENT that creates its item in neither incr_hits nor incr_misses;
// with stats detail on, the mismatched DELETE still counts for its prefix.
// The same requests go to memcached 1.6.45 and to slabcached.
func TestBinaryCASMismatchCounters(t *testing.T) {
	ref := testenv.StartReference(t)
	srv := startTestServer(t, nil)
	keys := []string{"cas_badval", "incr_hits", "incr_misses", "delete_hits", "delete_misses", "total_items"}
	run := func(addr string) string {
		tc, tr := dialT(t, addr)
		fmt.Fprintf(tc, "stats detail on\r\nset n 0 0 1\r\n5\r\nset p:d 0 0 1\r\n5\r\nset e 0 0 1\r\n5\r\nmd e C12345\r\n")
		for _, want := range []string{"OK\r\n", "STORED\r\n", "STORED\r\n", "STORED\r\n", "EX\r\n"} {
			expectLine(t, tr, want)
		}
		nc, br := dialT(t, addr)
		for _, r := range []proto.BinRequest{
			{Opcode: proto.BinOpIncrement, Key: []byte("n"), Delta: 1, Exptime: 0xffffffff, CAS: 12345},
			{Opcode: proto.BinOpIncrement, Key: []byte("new"), Delta: 1, Initial: 10},
			{Opcode: proto.BinOpIncrement, Key: []byte("none"), Delta: 1, Exptime: 0xffffffff},
			{Opcode: proto.BinOpDelete, Key: []byte("p:d"), CAS: 12345},
		} {
			if _, err := binRoundTrip(t, nc, br, r); err != nil {
				t.Fatal(err)
			}
		}
		var out []string
		for _, st := range statsReply(t, addr, "stats").Stats {
			if slices.Contains(keys, string(st.Name)) {
				out = append(out, string(st.Name)+"="+string(st.Value))
			}
		}
		fmt.Fprintf(tc, "stats detail dump\r\nstats detail off\r\n")
		for line, _ := tr.ReadString('\n'); line != "END\r\n"; line, _ = tr.ReadString('\n') {
			out = append(out, strings.TrimSpace(line))
		}
		expectLine(t, tr, "OK\r\n")
		return strings.Join(out, " ")
	}
	if want, got := run(ref), run(srv.Addr()); got != want {
		t.Fatalf("memcached  %s\nslabcached %s", want, got)
	}
}
