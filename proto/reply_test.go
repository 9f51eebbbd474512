package proto

import (
	"fmt"
	"strings"
	"testing"

	"github.com/slabcache/slabcache/internal/testenv"
)

func describeReply(rp *Reply) string {
	var b strings.Builder
	fmt.Fprintf(&b, "kind=%d", rp.Kind)
	if rp.Status != StatusNone {
		fmt.Fprintf(&b, " status=%s", rp.Status)
	}
	switch rp.Kind {
	case ReplyNumber:
		fmt.Fprintf(&b, " number=%d", rp.Number)
	case ReplyError, ReplyStatus:
		fmt.Fprintf(&b, " line=%q", rp.Line)
	}
	if rp.Text != nil {
		fmt.Fprintf(&b, " text=%q", rp.Text)
	}
	if rp.Key != nil {
		fmt.Fprintf(&b, " key=%q", rp.Key)
	}
	for _, v := range rp.Values {
		fmt.Fprintf(&b, " [%s %d %q", v.Key, v.Flags, v.Data)
		if v.HasCAS {
			fmt.Fprintf(&b, " cas=%d", v.CAS)
		}
		b.WriteByte(']')
	}
	for _, s := range rp.Stats {
		fmt.Fprintf(&b, " %s=%s", s.Name, s.Value)
	}
	if rp.nflags > 0 {
		fmt.Fprintf(&b, " flags=%q", rp.Flags())
	}
	if rp.Value != nil {
		fmt.Fprintf(&b, " value=%q", rp.Value)
	}
	return b.String()
}

var replyCases = []struct {
	in, want string
	err      error
}{
	{"STORED\r\n", `kind=1 status=STORED line="STORED"`, nil},
	{"NOT_STORED\r\n", `kind=1 status=NOT_STORED line="NOT_STORED"`, nil},
	{"EXISTS\r\n", `kind=1 status=EXISTS line="EXISTS"`, nil},
	{"NOT_FOUND\r\n", `kind=1 status=NOT_FOUND line="NOT_FOUND"`, nil},
	{"DELETED\r\n", `kind=1 status=DELETED line="DELETED"`, nil},
	{"TOUCHED\r\n", `kind=1 status=TOUCHED line="TOUCHED"`, nil},
	{"OK\r\n", `kind=1 status=OK line="OK"`, nil},
	{"RESET\r\n", `kind=1 status=RESET line="RESET"`, nil},
	{"BUSY currently processing reassign request\r\n", `kind=1 line="BUSY currently processing reassign request"`, nil},
	{"END\r\n", `kind=2`, nil},
	{"VALUE a 5 3\r\nabc\r\nEND\r\n", `kind=2 [a 5 "abc"]`, nil},
	{"VALUE a 0 3 99\r\nabc\r\nVALUE b 1 0 7\r\n\r\nEND\r\n", `kind=2 [a 0 "abc" cas=99] [b 1 "" cas=7]`, nil},
	{"VALUE a 0 4\r\na\r\nb\r\nEND\r\n", `kind=2 [a 0 "a\r\nb"]`, nil},
	{"VALUE a 0 3\r\nabcd\r\nEND\r\n", ``, ErrBadReply},
	{"VALUE a x 3\r\nabc\r\nEND\r\n", ``, ErrBadReply},
	{"VALUE a 0 3\r\nabc\r\nSTORED\r\n", ``, ErrBadReply},
	{"15\r\n", `kind=3 number=15`, nil},
	{"18446744073709551615\r\n", `kind=3 number=18446744073709551615`, nil},
	{"STAT pid 1\r\nSTAT version 1.6.45\r\nSTAT libevent 2.1.12-stable\r\nEND\r\n", `kind=4 pid=1 version=1.6.45 libevent=2.1.12-stable`, nil},
	{"VERSION 1.6.45\r\n", `kind=5 text="1.6.45"`, nil},
	{"ERROR\r\n", `kind=6 line="ERROR"`, nil},
	{"CLIENT_ERROR bad data chunk\r\n", `kind=6 line="CLIENT_ERROR bad data chunk"`, nil},
	{"SERVER_ERROR object too large for cache\r\n", `kind=6 line="SERVER_ERROR object too large for cache"`, nil},
	{"ERROR: shutdown not enabled\r\n", `kind=6 line="ERROR: shutdown not enabled"`, nil},
	{"HD\r\n", `kind=7 status=HD`, nil},
	{"HD c5 kfoo Oab\r\n", `kind=7 status=HD flags=["c5" "kfoo" "Oab"]`, nil},
	{"EN\r\n", `kind=7 status=EN`, nil},
	{"NS c0\r\n", `kind=7 status=NS flags=["c0"]`, nil},
	{"EX\r\n", `kind=7 status=EX`, nil},
	{"NF Oa\r\n", `kind=7 status=NF flags=["Oa"]`, nil},
	{"MN\r\n", `kind=7 status=MN`, nil},
	{"VA 3 s3 t-1 W\r\nabc\r\n", `kind=7 status=VA flags=["s3" "t-1" "W"] value="abc"`, nil},
	{"VA 0\r\n\r\n", `kind=7 status=VA value=""`, nil},
	{"VA x\r\n\r\n", ``, ErrBadReply},
	{"ME foo exp=-1 la=3 cas=2 fetch=no cls=1 size=63\r\n", `kind=8 text="exp=-1 la=3 cas=2 fetch=no cls=1 size=63" key="foo"`, nil},
	{"CONFIG cluster 0 15\r\n1\nh|1.2.3.4|11\n\r\nEND\r\n", `kind=9 key="cluster" value="1\nh|1.2.3.4|11\n"`, nil},
	{"CONFIG cluster 0 1\r\nx\r\nXXX\r\n", ``, ErrBadReply},
	{"OK\n", `kind=1 status=OK line="OK"`, nil},
}

func TestParseReplyTable(t *testing.T) {
	var rp Reply
	for _, c := range replyCases {
		n, err := ParseReply([]byte(c.in), &rp)
		if err != c.err {
			t.Errorf("ParseReply(%q) error %v, want %v", c.in, err, c.err)
			continue
		}
		if err != nil {
			continue
		}
		if n != len(c.in) {
			t.Errorf("ParseReply(%q) n = %d, want %d", c.in, n, len(c.in))
		}
		if got := describeReply(&rp); got != c.want {
			t.Errorf("ParseReply(%q)\n got  %s\n want %s", c.in, got, c.want)
		}
		// Every proper prefix is incomplete, and waiting for Need bytes
		// never overshoots the whole reply.
		for i := 0; i < len(c.in); i++ {
			m, err := ParseReply([]byte(c.in[:i]), &rp)
			if err != ErrIncomplete || m != 0 || rp.Need < 1 || i+rp.Need > len(c.in) {
				t.Errorf("ParseReply(%q) = %d, %v, need %d; want incomplete needing at most %d", c.in[:i], m, err, rp.Need, len(c.in)-i)
				break
			}
		}
	}
}

// TestParseReplyFromMemcached reads a real memcached's replies to a
// pipelined session one by one.
func TestParseReplyFromMemcached(t *testing.T) {
	addr := testenv.StartMemcached(t)
	session := "set a 5 0 3\r\nabc\r\nset n 0 0 2\r\n10\r\nget a n missing\r\ngets a\r\nincr n 5\r\n" +
		"add a 0 0 1\r\nx\r\ndelete missing\r\ntouch a 100\r\nversion\r\nbogus\r\nstats settings\r\n" +
		"mg a s v c f k Oxyz\r\nmg missing v\r\nms b 2 c\r\nhi\r\nmd b q\r\nma n v\r\nme a\r\nset big 0 0 1\r\nxyz\r\n"
	want := []string{"STORED", "STORED", "VALUE", "VALUE", "15", "NOT_STORED", "NOT_FOUND", "TOUCHED",
		"VERSION", "ERROR", "STAT", "VA", "EN", "HD", "VA", "ME", "CLIENT_ERROR bad data chunk", "ERROR", "MN"}
	out, closed := exchange(t, addr, session, false)
	if closed {
		t.Fatalf("closed after %q", out)
	}
	var rp Reply
	var got []string
	for len(out) > 0 {
		n, err := ParseReply(out, &rp)
		if err != nil {
			t.Fatalf("ParseReply(%q): %v", out, err)
		}
		word, _ := cutWord(rp.Line)
		if rp.Kind == ReplyError {
			word = rp.Line
		}
		got = append(got, string(word))
		switch string(word) {
		case "VALUE":
			if rp.Values[0].Flags == 5 && len(rp.Values) == 2 && string(rp.Values[1].Data) == "10" {
				break
			}
			if len(rp.Values) != 1 || !rp.Values[0].HasCAS || string(rp.Values[0].Data) != "abc" {
				t.Errorf("get reply parsed as %s", describeReply(&rp))
			}
		case "STAT":
			if len(rp.Stats) < 20 {
				t.Errorf("stats settings: only %d lines", len(rp.Stats))
			}
		case "VA":
			if v, ok := rp.Flag('O'); ok && string(v) != "xyz" {
				t.Errorf("opaque %q", v)
			}
		}
		out = out[n:]
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("replies\n got  %v\n want %v", got, want)
	}
}

func TestReplyFlagNumbers(t *testing.T) {
	var rp Reply
	if _, err := ParseReply([]byte("HD c123 t-1 f7 kfoo W\r\n"), &rp); err != nil {
		t.Fatal(err)
	}
	if v, ok := rp.FlagUint('c'); !ok || v != 123 {
		t.Errorf("c: %d %v", v, ok)
	}
	if v, ok := rp.FlagInt('t'); !ok || v != -1 {
		t.Errorf("t: %d %v", v, ok)
	}
	if _, ok := rp.FlagUint('k'); ok {
		t.Error("k (not a number) read as a number")
	}
	if _, ok := rp.FlagUint('s'); ok {
		t.Error("s (absent) read as present")
	}
	if _, ok := rp.FlagUint('t'); ok {
		t.Error("t-1 read as unsigned")
	}
}
