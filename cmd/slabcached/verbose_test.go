package main

import (
	"encoding/binary"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/testenv"
)

// TestVerboseOutputMatchesMemcached runs the same conversations against
// memcached 1.6.45 and slabcached, both started with -vv, and compares
// what each printed on standard error: the slab classes, the listening
// socket, each connection's lines, every text command and the replies
// memcached prints for it, binary headers both ways, and the line at
// exit. Socket numbers, CAS values and the version string are the
// servers' own and are replaced before comparing; slabcached's JSON logs
// are left out.
func TestVerboseOutputMatchesMemcached(t *testing.T) {
	ref := testenv.ReferenceMemcached(t)
	bin := buildBinary(t)
	for _, args := range [][]string{{"-vv"}, {"-vv", "-B", "ascii"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			conversations := verboseConversations()
			if args[len(args)-1] == "ascii" {
				conversations = [][][]byte{conversations[0], conversations[2]} // no binary
			}
			refArgs := args
			if os.Geteuid() == 0 {
				refArgs = append(append([]string(nil), args...), "-u", "root")
			}
			want := verboseRun(t, ref, refArgs, conversations)
			got := verboseRun(t, bin, append([]string{"--metrics-listen", "off"}, args...), conversations)
			if want != got {
				t.Errorf("-vv output differs (memcached 1.6.45 first):\n%s", lineDiff(want, got))
			}
			if !strings.Contains(got, "\n<F set foo 0 0 3\n>F STORED\n") {
				t.Errorf("no command or reply lines in the output:\n%s", got)
			}
		})
	}
}

// verboseConversations are the requests of each connection, sent one at a
// time. They leave out what memcached prints from uninitialised memory (a
// line ending in a bare newline right after a bad data block).
func verboseConversations() [][][]byte {
	bin := func(op byte, key, extras, val string) []byte {
		h := make([]byte, 24)
		h[0], h[1] = 0x80, op
		binary.BigEndian.PutUint16(h[2:], uint16(len(key)))
		h[4] = byte(len(extras))
		binary.BigEndian.PutUint32(h[8:], uint32(len(extras)+len(key)+len(val)))
		return append(h, extras+key+val...)
	}
	u32 := func(vs ...uint32) string {
		var b []byte
		for _, v := range vs {
			b = binary.BigEndian.AppendUint32(b, v)
		}
		return string(b)
	}
	text := func(lines ...string) [][]byte {
		out := make([][]byte, len(lines))
		for i, l := range lines {
			out[i] = []byte(l)
		}
		return out
	}
	ascii := text(
		"set foo 0 0 3\r\nbar\r\n", "get foo\r\n", "get nope\r\n", "gets foo nope foo\r\n", "bogus\r\n",
		"set k 0 0 3 noreply\r\nabc\r\n", "add foo 0 0 1\r\nx\r\n", "cas foo 0 0 1 1\r\nx\r\n",
		"append foo 0 0 1\r\nz\r\n", "incr foo 1\r\n", "set n 0 0 1\r\n5\r\n", "incr n 3\r\n",
		"decr n 1 noreply\r\n", "delete foo\r\n", "delete foo noreply\r\n", "touch n 10\r\n",
		"mg n v\r\n", "ms m 2 T0\r\nhi\r\n", "ms m 2 q\r\nhi\r\n", "md m q\r\n", "ma n\r\n", "mn\r\n",
		"version\r\n", "verbosity 2\r\n", "verbosity 2 noreply\r\n", "gat 10 n\r\n", "gats 10 n nope\r\n",
		"get "+strings.Repeat("k", 251)+"\r\n", "get\r\n", "set x 0 0\r\n", "incr\r\n",
		"flush_all\r\n", "flush_all noreply\r\n", "stats detail on\r\n", "stats detail off\r\n",
		"stats nosuch\r\n", "me n\r\n", "cache_memlimit 100\r\n", "slabs automove 1\r\n",
		"lru_crawler enable\r\n", "lru tune\r\n", "get n\n", "ms zz S2\r\nab\r\n", "mg\r\n", "shutdown\r\n",
		"replace zz 0 0 1\r\nq\r\n", "prepend zz 0 0 1\r\nq\r\n",
		"set n 0 0 1\r\n5\r\n", "incr n abc\r\n", "touch n abc\r\n", "mg n v t c f k s\r\n", "mg n zz\r\n",
		"mg missing v q\r\n", "ms n 2 c\r\nab\r\n", "ms n 2 C1\r\nab\r\n", "ms n S100 T0\r\n", "md n C1\r\n",
		"ma n N0 J5 v\r\n", "ma n MD D100 v\r\n", "me n\r\n", "me nope\r\n", "stats\r\n", "stats items\r\n",
		"stats reset\r\n", "stats detail dump\r\n", "stats cachedump 1 1\r\n", "stats cachedump\r\n",
		"lru_crawler metadump all\r\n", "lru_crawler crawl x\r\n", "lru mode flat\r\n", "verbosity\r\n",
		"flush_all x\r\n", "GET a\r\n", "cas n 0 0 1 x\r\n", "incr n 1 noreply\r\n", "delete n x\r\n",
		"set \x00k 0 0 1\r\nx\r\n", "set k abc 0 1\r\nx\r\n", "set k 0 0 -1\r\n", "add k 0 0 1 noreply\r\nx\r\n",
		"add k 0 0 1 noreply\r\nx\r\n", "mg "+strings.Repeat("k", 251)+" v\r\n",
		"ms k 2 O"+strings.Repeat("o", 40)+"\r\nhi\r\n", "mg k v O"+strings.Repeat("o", 40)+"\r\n",
		"lru\r\n", "cache_memlimit 64 noreply\r\n", "cache_memlimit 1 noreply\r\n",
	)
	binaryConv := [][]byte{
		bin(0x01, "bk", u32(5, 0), "val"), bin(0x00, "bk", "", ""), bin(0x00, "nope", "", ""),
		bin(0x0c, "bk", "", ""), bin(0x05, "bn", u32(0, 1, 0, 7, 0), ""), bin(0x04, "bk", "", ""),
		bin(0x0a, "", "", ""), bin(0x02, "bk", u32(0, 0), "v"), // (not VERSION: its length differs)
		bin(0x1c, "bn", u32(10), ""), bin(0x1d, "bn", u32(10), ""), bin(0x0e, "bn", "", "x"),
		bin(0x11, "bk", u32(0, 0), "v"), bin(0x09, "bk", "", ""), bin(0x10, "settings", "", ""),
		bin(0x01, "big", u32(0, 0), strings.Repeat("x", 2<<20)), // too large: streamed, refused
		bin(0x7f, "", "", ""), bin(0x07, "", "", ""),
	}
	// A watcher: refused behind an unwritten reply, started after an mn
	// (its OK written unprinted), then closed by the client.
	watch := text("set a 0 0 1 noreply\r\n1\r\nwatch\r\n", "mn\r\nwatch\r\nget a\r\n")
	return [][][]byte{ascii, binaryConv, watch}
}

// verboseRun starts bin with args, plays the conversations on a
// connection each, stops it with SIGTERM and returns its standard error,
// normalised (see TestVerboseOutputMatchesMemcached).
func verboseRun(t *testing.T, bin string, args []string, conversations [][][]byte) string {
	t.Helper()
	p := startProc(t, bin, args...)
	// WaitListening's probe connection opened and closed: wait for its
	// lines before the conversations' own.
	waitFor(t, p, "connection closed.", 1)
	for i, conv := range conversations {
		nc, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		for _, req := range conv {
			if _, err := nc.Write(req); err != nil {
				t.Fatal(err)
			}
			// One request at a time: replies are read as they come, so
			// that each request is read in an event of its own.
			nc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			buf := make([]byte, 64<<10)
			for {
				if _, err := nc.Read(buf); err != nil {
					break
				}
			}
		}
		nc.Close()
		waitFor(t, p, "connection closed.", i+2)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t)
	return normaliseVerbose(p.stderr.String())
}

// waitFor waits until the process's standard error holds n lines that end
// in suffix.
func waitFor(t *testing.T, p *restartProc, suffix string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Count(p.stderr.String(), suffix+"\n") >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: no %d lines ending in %q:\n%s", p.cmd.Path, n, suffix, p.stderr.String())
}

var (
	verboseFD      = regexp.MustCompile(`(?m)^([<>])\d+|^\d+:`)
	verboseCASLine = regexp.MustCompile(`CAS:  failure: expected \d+`)
	verboseVersion = regexp.MustCompile(`VERSION \S+`)
)

// normaliseVerbose drops JSON log lines and replaces socket numbers, CAS
// values (in the CAS failure line and in the CAS bytes of a binary
// response's dump) and the version.
func normaliseVerbose(s string) string {
	var out []string
	inResponse := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "{") {
			continue
		}
		l = verboseFD.ReplaceAllStringFunc(l, func(m string) string {
			if strings.HasSuffix(m, ":") {
				return "F:"
			}
			return m[:1] + "F"
		})
		l = verboseCASLine.ReplaceAllString(l, "CAS:  failure: expected C")
		l = verboseVersion.ReplaceAllString(l, "VERSION V")
		switch {
		case strings.HasSuffix(l, "Writing bin response:"):
			inResponse = 1
		case inResponse > 0:
			inResponse++
			if inResponse >= 6 { // the 5th and 6th rows: bytes 16-23, the CAS
				l = ">F CAS"
			}
			if inResponse == 7 {
				inResponse = 0
			}
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// lineDiff shows the lines of a and b from the first that differs.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	i := 0
	for i < len(al) && i < len(bl) && al[i] == bl[i] {
		i++
	}
	from := max(i-5, 0)
	var sb strings.Builder
	sb.WriteString("memcached:\n")
	for _, l := range al[from:min(len(al), i+15)] {
		sb.WriteString("  " + strconv.Quote(l) + "\n")
	}
	sb.WriteString("slabcached:\n")
	for _, l := range bl[from:min(len(bl), i+15)] {
		sb.WriteString("  " + strconv.Quote(l) + "\n")
	}
	return sb.String()
}
