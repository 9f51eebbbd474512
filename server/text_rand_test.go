package server

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/difftest"
	"github.com/slabcache/slabcache/internal/testenv"
)

// textStep is one write of a random text and meta conversation: one
// command line (with its data block), sent with an mn after it so that
// the reader knows where the answers end. In line, {cas:KEY} stands for
// the CAS value this connection last saw for KEY, whatever the server drew,
// and {cas+x:KEY} for one that is not the key's: 2^40 more, a value neither
// server's counter reaches in a test (a value only a little larger could
// be the one memcached's single counter gave the key's next write).
type textStep struct {
	line string
	// key is the key whose CAS a c flag in a meta reply reports.
	key string
}

// randomTextSteps draws n steps from seed over a few keys: every storage,
// retrieval, counter, touch, delete and meta command with its flags,
// noreply and quiet modes, CAS values that match, do not match or are not
// numbers, bad lengths, flags and exptimes, keys over 250 bytes, keys in
// base64, values over the item size limit and unknown commands. Left out
// are what docs/compat.md lists as differences: CAS values a client makes
// up compared for order (ms and md with both I and C), ma's E and T (which
// memcached sets on the replaced item when the number grows) and version.
// stats is compared every 100 steps, less what background work moves.
func randomTextSteps(seed uint64, n int) []textStep {
	rng := rand.New(rand.NewPCG(seed, 2))
	one := func(s ...string) string { return s[rng.IntN(len(s))] }
	keys := []string{"a", "b", "c", "n", "p:a", "q:b"}
	pickKey := func() string {
		switch rng.IntN(40) {
		case 0:
			return strings.Repeat("k", 250)
		case 1:
			return strings.Repeat("l", 251)
		case 2:
			return "x\x7fy\x01"
		}
		return keys[rng.IntN(len(keys))]
	}
	value := func() string {
		switch rng.IntN(10) {
		case 0:
			return ""
		case 1, 2:
			return strconv.Itoa(rng.IntN(120))
		case 3:
			return one("18446744073709551615", "18446744073709551614", "-1", "12a", " 5", "007")
		}
		b := make([]byte, 1+rng.IntN(40))
		for i := range b {
			b[i] = byte('a' + rng.IntN(26))
		}
		return string(b)
	}
	exptime := func() string { return one("0", "0", "0", "100", "-1", "2592001", "x", "+5", "0x10", "1e3") }
	cas := func(key string) string {
		return one("{cas:"+key+"}", "{cas:"+key+"}", "{cas+x:"+key+"}", "0", "abc", "18446744073709551616")
	}
	noreply := func() string {
		if rng.IntN(5) == 0 {
			return " noreply"
		}
		return ""
	}
	// data is a data block for a declared length: mostly the value itself,
	// sometimes a declared length shorter than what follows it (a bad
	// chunk) or over the item size limit. A declared length longer than
	// the data would read the mn that follows as data, so none is drawn.
	data := func(v string) (decl, block string) {
		switch rng.IntN(40) {
		case 0:
			return strconv.Itoa(len(v)), v + "xy\r\n"
		case 1:
			big := strings.Repeat("z", 1<<20+rng.IntN(10))
			return strconv.Itoa(len(big)), big + "\r\n"
		case 2:
			return one("-1", "abc", "4294967296"), v + "\r\n"
		}
		return strconv.Itoa(len(v)), v + "\r\n"
	}
	metaFlags := func(all []string, key string, max int) string {
		var b strings.Builder
		for range rng.IntN(max + 1) {
			f := all[rng.IntN(len(all))]
			f = strings.ReplaceAll(f, "#", strconv.Itoa(rng.IntN(200)-20))
			// CAS values set with E: above what memcached's counter
			// reaches in a test, so that no key's earlier CAS is one.
			f = strings.ReplaceAll(f, "%", strconv.Itoa(1_000_000+rng.IntN(1000)))
			f = strings.ReplaceAll(f, "@", cas(key))
			if strings.HasPrefix(f, "O") && rng.IntN(15) == 0 {
				// Opaque tokens of memcached's longest, 32 bytes with
				// the O. (A longer one is refused before anything is
				// done here, where memcached refuses it as it writes
				// the reply: docs/compat.md.)
				f = "O" + strings.Repeat("o", 31)
			}
			b.WriteString(" " + f)
		}
		return b.String()
	}
	metaKey := func(key string) (string, string) {
		if rng.IntN(6) == 0 {
			switch rng.IntN(10) {
			case 0:
				return "!!", " b"
			case 1:
				return base64.StdEncoding.EncodeToString([]byte("\x00\xff " + key)), " b"
			}
			return base64.StdEncoding.EncodeToString([]byte(key)), " b"
		}
		return key, ""
	}
	steps := make([]textStep, 0, n)
	for len(steps) < n {
		key := pickKey()
		var line string
		switch k := rng.IntN(100); {
		case k < 22:
			cmd := one("set", "set", "add", "replace", "append", "prepend", "cas")
			flags := one("0", "0", "1", "4294967295", "4294967296", "-1", "+1", "0x1")
			decl, block := data(value())
			line = fmt.Sprintf("%s %s %s %s %s", cmd, key, flags, exptime(), decl)
			if cmd == "cas" {
				line += " " + cas(key)
			}
			line += noreply() + "\r\n" + block
		case k < 36:
			cmd := one("get", "gets", "gat", "gats")
			line = cmd
			if cmd == "gat" || cmd == "gats" {
				line += " " + exptime()
			}
			for range 1 + rng.IntN(3) {
				line += " " + pickKey()
			}
			line += "\r\n"
		case k < 43:
			line = fmt.Sprintf("%s %s %s%s\r\n", one("incr", "decr"), key,
				one("1", "0", "7", "18446744073709551615", "18446744073709551616", "-1", "abc", "+3", "0x10"), noreply())
		case k < 47:
			line = fmt.Sprintf("touch %s %s%s\r\n", key, exptime(), noreply())
		case k < 53:
			line = fmt.Sprintf("delete %s%s%s\r\n", key, one("", "", " 0", " 5", " x"), noreply())
		case k < 67:
			mk, b := metaKey(key)
			line = "mg " + mk + b + metaFlags([]string{"v", "v", "k", "c", "f", "s", "t", "l", "h", "q",
				"O#", "N#", "R#", "T#", "E%", "u", "z", "#"}, key, 5) + "\r\n"
		case k < 78:
			mk, b := metaKey(key)
			flags := metaFlags([]string{"c", "k", "q", "O#", "F#", "T#", "N#", "E%", "E-1", "Ex", "C@", "I",
				"MS", "ME", "MA", "MP", "MR", "MX", "s", "v"}, key, 4)
			if strings.Contains(flags, " I") && strings.Contains(flags, " C") {
				flags = strings.ReplaceAll(flags, " I", "")
			}
			decl, block := data(value())
			line = "ms " + mk + " " + decl + b + flags + "\r\n" + block
		case k < 84:
			mk, b := metaKey(key)
			flags := metaFlags([]string{"q", "k", "O#", "C@", "E%", "I", "T#", "x", "v"}, key, 3)
			if strings.Contains(flags, " I") && strings.Contains(flags, " C") {
				flags = strings.ReplaceAll(flags, " I", "")
			}
			line = "md " + mk + b + flags + "\r\n"
		case k < 92:
			mk, b := metaKey(key)
			line = "ma " + mk + b + metaFlags([]string{"v", "c", "t", "k", "q", "O#", "N#", "J#",
				"D#", "C@", "MI", "M+", "MD", "M-", "Mx", "D18446744073709551615"}, key, 4) + "\r\n"
		case k < 93:
			mk, b := metaKey(key)
			line = "me " + mk + b + "\r\n"
		case k < 95:
			line = one("flush_all\r\n", "flush_all 0\r\n", "flush_all noreply\r\n", "flush_all x\r\n",
				"verbosity 1\r\n", "verbosity\r\n", "verbosity 0 noreply\r\n")
		default:
			line = one("\r\n", "foo\r\n", "GET a\r\n", "get\r\n", "set a 0 0\r\n", "incr a\r\n",
				"touch a\r\n", "mg\r\n", "ms a\r\n", "ma\r\n", "md\r\n", "delete\r\n", "cas a 0 0 1\r\nx\r\n",
				"get "+strings.Repeat("a ", 30)+"\r\n", "quit\r\n", strings.Repeat("q", 3000)+"\r\n",
				"md a O"+strings.Repeat("o", 32)+"\r\n")
		}
		// Well-formed small commands share a write now and then; then a c
		// flag's CAS is not kept, as it could be any command's.
		if k := len(steps) - 1; k >= 0 && textJoinable(steps[k].line) && textJoinable(line) && rng.IntN(3) == 0 {
			steps[k] = textStep{line: steps[k].line + line}
			continue
		}
		steps = append(steps, textStep{line: line, key: key})
	}
	return steps
}

// textJoinable reports whether a step's commands may share a write with
// another's: none closes the connection or sends a megabyte (nor is the
// connection closed and opened again after them).
func textJoinable(line string) bool {
	return len(line) <= 1000 && !strings.Contains(line, "quit")
}

// textRandomRun plays steps against addr, each with an mn after it, and
// returns what each step got back up to the MN, with CAS values, TTLs and
// access times replaced by letters (they depend on the server's counter
// and clock) and the CAS values kept per key for later steps. A closed
// connection reads as EOF and is reopened for the next step.
func textRandomRun(t *testing.T, addr string, steps []textStep) []string {
	t.Helper()
	nc, br := dialT(t, addr)
	defer func() { nc.Close() }()
	lastCAS := map[string]uint64{}
	out := make([]string, 0, len(steps))
	for i, s := range steps {
		line := substituteCAS(s.line, lastCAS)
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(nc, line+"mn\r\n"); err != nil {
			out = append(out, "write: "+err.Error())
			nc.Close()
			nc, br = dialT(t, addr)
			continue
		}
		got, err := readTextReplies(br, s.key, lastCAS)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("step %d (%.80q): no answer from %s after %q", i, line, addr, got)
			}
			got += "EOF"
			nc.Close()
			nc, br = dialT(t, addr)
		}
		out = append(out, got)
		if (i+1)%100 == 0 || i == len(steps)-1 {
			out[i] += textRandomStats(t, nc, br)
		}
	}
	return out
}

// textRandomUncompared are the stats fields the random conversations do
// not compare: besides difftest's volatile ones, those that move with
// the background crawler (which may reclaim an expired or flushed item
// before a request finds it) and the implementation's memory.
var textRandomUncompared = append([]string{"curr_items", "get_expired", "get_flushed",
	"expired_unfetched", "evicted_unfetched", "reclaimed", "crawler_reclaimed",
	"crawler_items_checked", "total_malloced", "slabs_moved", "log_*", "lru_bumps_dropped"},
	difftest.DefaultVolatileStats...)

// statsOver is textRandomStats on a connection of its own to addr.
func statsOver(t *testing.T, addr string) string {
	t.Helper()
	nc, br := dialT(t, addr)
	defer nc.Close()
	return textRandomStats(t, nc, br)
}

// textRandomStats asks for stats on nc and returns them as one line, less
// the fields not compared.
func textRandomStats(t *testing.T, nc net.Conn, br *bufio.Reader) string {
	t.Helper()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(nc, "stats\r\n"); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("stats:")
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stats: %v", err)
		}
		if l == "END\r\n" {
			break
		}
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "STAT" || slices.ContainsFunc(textRandomUncompared, func(p string) bool {
			ok, _ := path.Match(p, f[1])
			return ok
		}) {
			continue
		}
		b.WriteString(" " + f[1] + "=" + f[2])
	}
	// And the per-prefix counters (stats detail), when recorded.
	if _, err := io.WriteString(nc, "stats detail dump\r\n"); err != nil {
		t.Fatal(err)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stats detail dump: %v", err)
		}
		if l == "END\r\n" {
			return b.String()
		}
		b.WriteString(" " + strings.TrimSpace(l))
	}
}

// readTextReplies reads the replies up to an MN from br and returns them
// with CAS values, TTLs, access times and me's class and size replaced by
// letters (they depend on the server's counter, clock and memory layout),
// keeping each CAS value seen in lastCAS under its key (key, for a meta
// reply's c flag). It stops early on an error, with what it read.
func readTextReplies(br *bufio.Reader, key string, lastCAS map[string]uint64) (string, error) {
	var got strings.Builder
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return got.String(), err
		}
		if l == "MN\r\n" {
			return got.String(), nil
		}
		tok := strings.Fields(l)
		block := ""
		switch {
		case len(tok) >= 4 && tok[0] == "VALUE":
			if len(tok) == 5 {
				if v, err := strconv.ParseUint(tok[4], 10, 64); err == nil {
					lastCAS[tok[1]] = v
				}
				tok[4] = "C"
			}
			l, block = strings.Join(tok, " ")+"\r\n", tok[3]
		case len(tok) >= 2 && tok[0] == "ME":
			// me's class and size are the implementation's
			// (docs/compat.md), its times and CAS the clock's and
			// counter's.
			for j := 2; j < len(tok); j++ {
				name, v, _ := strings.Cut(tok[j], "=")
				switch {
				case name == "exp" && v != "-1", name == "la", name == "cas", name == "cls", name == "size":
					tok[j] = name + "=N"
				}
			}
			l = strings.Join(tok, " ") + "\r\n"
		case len(tok) >= 1 && len(tok[0]) == 2 && strings.Contains("HD VA EN NF NS EX", tok[0]):
			from := 1
			if tok[0] == "VA" && len(tok) > 1 {
				from, block = 2, tok[1]
			}
			for j := from; j < len(tok); j++ {
				switch tok[j][0] {
				case 'c':
					if v, err := strconv.ParseUint(tok[j][1:], 10, 64); err == nil {
						lastCAS[key] = v
					}
					tok[j] = "cC"
				case 't':
					if tok[j] != "t-1" {
						tok[j] = "tN"
					}
				case 'l':
					tok[j] = "lN"
				}
			}
			l = strings.Join(tok, " ") + "\r\n"
		}
		got.WriteString(l)
		if block != "" {
			size, err := strconv.Atoi(block)
			if err != nil {
				return got.String(), fmt.Errorf("bad length %q", block)
			}
			b := make([]byte, size+2)
			if _, err := io.ReadFull(br, b); err != nil {
				return got.String(), err
			}
			got.Write(b)
		}
	}
}

// substituteCAS replaces {cas:KEY} and {cas+x:KEY} in line.
func substituteCAS(line string, lastCAS map[string]uint64) string {
	for {
		i := strings.Index(line, "{cas")
		if i < 0 {
			return line
		}
		j := i + strings.IndexByte(line[i:], '}')
		tag := line[i+1 : j]
		plus := uint64(0)
		if strings.HasPrefix(tag, "cas+x:") {
			plus = 1 << 40
		}
		key := tag[strings.IndexByte(tag, ':')+1:]
		line = line[:i] + strconv.FormatUint(lastCAS[key]+plus, 10) + line[j+1:]
	}
}

// TestTextRandomMatchesMemcached plays random text and meta conversations
// against memcached and slabcached and compares every answer.
// TEXT_RANDOM_STEPS and TEXT_RANDOM_SEED run longer or other ones;
// TEXT_RANDOM_V=1 logs every step's answers from both.
func TestTextRandomMatchesMemcached(t *testing.T) {
	// Both without the LRU maintainer, as in the binary test: with it,
	// memcached's flush_all can miss an item refreshed in the flush's
	// second, depending on the maintainer's timing (docs/compat.md).
	ref := testenv.StartReference(t, "-o", "no_lru_maintainer")
	srv := startTestServer(t, func(s *Settings) { s.LRUMaintainer, s.LRUSegmented = false, false })
	textRandom(t, ref, srv.Addr(), nil)
}

// TestTextRandomMatchesMemcachedWithR: the same with -R 1 on both, where
// memcached yields to its other connections after two commands of an
// event that began by reading and after one of one that goes on (or after
// one and the write of its reply), and stats conn_yields counts those
// yields. Values over the item size limit
// are left out: memcached reads them in as many events as the socket
// hands it pieces, and each event can count a yield.
func TestTextRandomMatchesMemcachedWithR(t *testing.T) {
	ref := testenv.StartReference(t, "-o", "no_lru_maintainer", "-R", "1")
	srv := startTestServer(t, func(s *Settings) {
		s.LRUMaintainer, s.LRUSegmented, s.ReqsPerEvent, s.YieldRequests = false, false, 1, true
	})
	textRandom(t, ref, srv.Addr(), func(s textStep) bool { return len(s.line) < 1<<16 })
}

// TestTextRandomMatchesMemcachedWithoutCAS: the same under -C.
func TestTextRandomMatchesMemcachedWithoutCAS(t *testing.T) {
	ref := testenv.StartReference(t, "-o", "no_lru_maintainer", "-C")
	srv := startTestServer(t, func(s *Settings) { s.LRUMaintainer, s.LRUSegmented, s.CASEnabled = false, false, false })
	textRandom(t, ref, srv.Addr(), nil)
}

// textRandom runs random conversations (TEXT_RANDOM_STEPS steps each, 400
// by default, of seeds 1-3 or TEXT_RANDOM_SEED) on memcached at ref and
// on slabcached at addr and compares the answers; with keep, only the
// steps it keeps.
func textRandom(t *testing.T, ref, addr string, keep func(textStep) bool) {
	t.Helper()
	n, seeds := randomPlans("TEXT_RANDOM", 400, 1, 2, 3)
	for _, seed := range seeds {
		// Each conversation starts from an empty cache on both, with
		// stats detail recording the keys' prefixes.
		steps := []textStep{{line: "flush_all\r\n"}, {line: "stats detail on\r\n"}}
		for _, s := range randomTextSteps(seed, n) {
			if keep == nil || keep(s) {
				steps = append(steps, s)
			}
		}
		want := textRandomRun(t, ref, steps)
		got := textRandomRun(t, addr, steps)
		for i := range want {
			if os.Getenv("TEXT_RANDOM_V") != "" {
				t.Logf("%d %.200q\n M %q\n S %q", i, steps[i].line, want[i], got[i])
			}
			if got[i] != want[i] {
				var ctx bytes.Buffer
				for k := max(0, i-6); k < i; k++ {
					fmt.Fprintf(&ctx, "  %d %.120q -> %.120q\n", k, steps[k].line, want[k])
				}
				w, wst, _ := strings.Cut(want[i], "stats:")
				g, gst, _ := strings.Cut(got[i], "stats:")
				if w == g {
					// The replies agree: name the stats that do not.
					wf, gf := strings.Fields(wst), strings.Fields(gst)
					w, g = "", ""
					for k := range max(len(wf), len(gf)) {
						if k >= len(wf) || k >= len(gf) || wf[k] != gf[k] {
							w += " " + wf[min(k, len(wf)-1)]
							g += " " + gf[min(k, len(gf)-1)]
						}
					}
					w, g = "stats:"+w, "stats:"+g
				}
				t.Errorf("seed %d step %d: %.200q\n memcached  %.300q\n slabcached %.300q\nsteps before it:\n%s",
					seed, i, steps[i].line, w, g, ctx.String())
				break // later steps depend on this one
			}
		}
	}
}

// TestTextRandomOverUDPMatchesMemcached plays the random text and meta
// conversations over UDP: each step is one request datagram (with its mn),
// and the reply datagrams' frame headers and the replies they carry are
// compared. Left out are the steps that close a TCP connection (quit, a
// line too long), after which memcached's UDP worker keeps closing
// (docs/compat.md), and those over a datagram's size.
func TestTextRandomOverUDPMatchesMemcached(t *testing.T) {
	textRandomOverUDP(t, 0)
}

// TestTextRandomOverUDPMatchesMemcachedWithR: the same with -R 1, where
// memcached writes the replies it holds after every second command of a
// datagram, so an error that drops the replies not yet written (a get of
// a key over 250 bytes) leaves those before it.
func TestTextRandomOverUDPMatchesMemcachedWithR(t *testing.T) {
	textRandomOverUDP(t, 1)
}

// textRandomOverUDP runs the conversations over UDP, with -R r when r > 0.
func textRandomOverUDP(t *testing.T, r int) {
	refPort, ourPort := testenv.FreePort(t), testenv.FreePort(t)
	args := []string{"-U", strconv.Itoa(refPort), "-o", "no_lru_maintainer", "-t", "1"}
	if r > 0 {
		args = append(args, "-R", strconv.Itoa(r))
	}
	testenv.StartReference(t, args...)
	startTestServer(t, func(s *Settings) {
		s.UDPPort, s.LRUMaintainer, s.LRUSegmented, s.Threads = ourPort, false, false, 1
		if r > 0 {
			s.ReqsPerEvent, s.YieldRequests = r, true
		}
	})
	n, seeds := randomPlans("TEXT_RANDOM", 300, 11, 12)
	if r > 0 && os.Getenv("TEXT_RANDOM_SEED") == "" {
		seeds = []uint64{6, 13}
	}
	for _, seed := range seeds {
		steps := []textStep{{line: "flush_all\r\n"}}
		for _, s := range randomTextSteps(seed, n) {
			if len(s.line) <= 1400 && !strings.Contains(s.line, "quit") {
				steps = append(steps, s)
			}
		}
		want := textRandomRunUDP(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(refPort)), steps)
		got := textRandomRunUDP(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(ourPort)), steps)
		for i := range want {
			if os.Getenv("TEXT_RANDOM_V") != "" {
				t.Logf("%d %.200q\n M %q\n S %q", i, steps[i].line, want[i], got[i])
			}
			if got[i] != want[i] {
				t.Errorf("seed %d step %d: %.200q\n memcached  %.300q\n slabcached %.300q", seed, i, steps[i].line, want[i], got[i])
				break // later steps depend on this one
			}
		}
	}
}

// textRandomRunUDP is textRandomRun over UDP: each step goes out in one
// request datagram with an mn after it, and the reply datagrams are read
// until one ends the MN (or a quiet 200 ms).
func textRandomRunUDP(t *testing.T, addr string, steps []textStep) []string {
	t.Helper()
	uc := dialUDP(t, addr)
	lastCAS := map[string]uint64{}
	out := make([]string, 0, len(steps))
	for i, s := range steps {
		id := uint16(i + 1)
		pkt := binary.BigEndian.AppendUint16(nil, id)
		pkt = append(pkt, 0, 0, 0, 1, 0, 0)
		pkt = append(pkt, substituteCAS(s.line, lastCAS)+"mn\r\n"...)
		frames, stream := udpRoundTrip(t, uc, id, pkt, nil, func(b []byte) bool { return bytes.HasSuffix(b, []byte("MN\r\n")) })
		got, err := readTextReplies(bufio.NewReader(bytes.NewReader(stream)), s.key, lastCAS)
		if err != nil {
			got += "(" + err.Error() + ")"
		}
		out = append(out, got+" ["+strings.Join(frames, " ")+"]")
	}
	return out
}

// TestTextRandomWatchMatchesMemcached plays the random conversations with
// a watcher of fetchers, mutations and deletions attached and compares
// what the watchers see, line by line (as TestWatchLinesMatchMemcached;
// class ids are the implementation's). One worker thread each: memcached's
// watcher reads its threads' logs one thread after the other, so the lines
// of a connection opened again after an error (on another thread) could
// come before older ones.
func TestTextRandomWatchMatchesMemcached(t *testing.T) {
	ref := testenv.StartReference(t, "-o", "no_lru_maintainer", "-t", "1")
	srv := startTestServer(t, func(s *Settings) { s.LRUMaintainer, s.LRUSegmented, s.Threads = false, false, 1 })
	n, seeds := randomPlans("TEXT_RANDOM", 400, 1, 2)
	for _, seed := range seeds {
		var steps []textStep
		for _, s := range randomTextSteps(seed, n) {
			// The watched connection stays open: no quit, no line that
			// closes it.
			if textJoinable(s.line) {
				steps = append(steps, s)
			}
		}
		want := randomWatch(t, ref, func(addr string) { textRandomRun(t, addr, steps) })
		got := randomWatch(t, srv.Addr(), func(addr string) { textRandomRun(t, addr, steps) })
		firstWatchMismatch(t, seed, want, got)
	}
}

// firstWatchMismatch reports the first line where the watchers of seed's
// conversation saw different things, with the lines before it.
func firstWatchMismatch(t *testing.T, seed uint64, want, got []string) {
	t.Helper()
	if bad := watchMismatches(want, got); len(bad) > 0 {
		i := bad[0]
		t.Errorf("seed %d, watch line %d:\n memcached  %s\n slabcached %s\nlines before it: %q",
			seed, i+1, lineAt(want, i), lineAt(got, i), want[max(0, i-3):min(i, len(want))])
	}
}

var watchClass = regexp.MustCompile(` clsid=\d+`)

// randomWatch runs play(addr) with a watcher of addr attached and returns
// the watcher's lines without timestamps, ids, descriptors and class ids.
func randomWatch(t *testing.T, addr string, play func(addr string)) []string {
	t.Helper()
	w, rw := dialT(t, addr)
	defer w.Close()
	w.Write([]byte("watch fetchers mutations deletions\r\n"))
	expectLine(t, rw, "OK\r\n")
	play(addr)
	textRandomRun(t, addr, []textStep{{line: "get watch-end\r\n"}})
	var lines []string
	for {
		line, err := rw.ReadString('\n')
		if err != nil {
			t.Fatalf("watcher: %v after %d lines", err, len(lines))
		}
		line = watchVolatile.ReplaceAllString(strings.TrimSuffix(line, "\n"), "")
		line = watchClass.ReplaceAllString(line, " clsid=N")
		if strings.Contains(line, "key=watch-end") {
			return lines
		}
		lines = append(lines, line)
	}
}
