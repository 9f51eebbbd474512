package proto

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReaderReadsEveryReplyKind feeds the replies of the ParseReply table
// one after another through a Reader, whole and one byte at a time, and
// expects the same parse as ParseReply gives each alone.
func TestReaderReadsEveryReplyKind(t *testing.T) {
	var stream strings.Builder
	var want []string
	for _, c := range replyCases {
		if c.err != nil {
			continue
		}
		stream.WriteString(c.in)
		want = append(want, c.want)
	}
	for _, oneByte := range []bool{false, true} {
		var src io.Reader = strings.NewReader(stream.String())
		if oneByte {
			src = iotest.OneByteReader(src)
		}
		rd := NewReader(src)
		var rp Reply
		for i, w := range want {
			if err := rd.Read(&rp); err != nil {
				t.Fatalf("oneByte=%v reply %d: %v", oneByte, i, err)
			}
			if got := describeReply(&rp); got != w {
				t.Fatalf("oneByte=%v reply %d: got %s, want %s", oneByte, i, got, w)
			}
		}
		if err := rd.Read(&rp); err != io.EOF {
			t.Fatalf("oneByte=%v: after the last reply: %v, want io.EOF", oneByte, err)
		}
	}
}

func TestReaderGrowsForLargeValues(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 3<<20)
	var in []byte
	in = AppendValueHeader(in, []byte("big"), 7, len(big))
	in = AppendValue(in, big)
	in = AppendEnd(in)
	in = append(in, "STORED\r\n"...)
	rd := NewReader(iotest.HalfReader(bytes.NewReader(in)))
	var rp Reply
	if err := rd.Read(&rp); err != nil {
		t.Fatal(err)
	}
	if rp.Kind != ReplyValues || len(rp.Values) != 1 || !bytes.Equal(rp.Values[0].Data, big) || rp.Values[0].Flags != 7 {
		t.Fatalf("got %d values, kind %d", len(rp.Values), rp.Kind)
	}
	if rd.Buffered() > len("STORED\r\n") {
		t.Fatalf("Buffered = %d after the value", rd.Buffered())
	}
	if err := rd.Read(&rp); err != nil || rp.Status != StatusStored {
		t.Fatalf("after the value: %v %s", err, rp.Status)
	}
}

func TestReaderErrors(t *testing.T) {
	var rp Reply
	rd := NewReader(strings.NewReader("VALUE a 0 10\r\nabc"))
	if err := rd.Read(&rp); err != io.ErrUnexpectedEOF {
		t.Errorf("truncated value: %v, want io.ErrUnexpectedEOF", err)
	}
	rd = NewReader(strings.NewReader("VALUE a 0 1\r\nxyEND\r\n"))
	if err := rd.Read(&rp); err != ErrBadReply {
		t.Errorf("bad terminator: %v, want ErrBadReply", err)
	}
	rd = NewReader(strings.NewReader("VALUE a 0 100000\r\n" + strings.Repeat("x", 100000) + "\r\nEND\r\n"))
	rd.SetLimit(50000)
	if err := rd.Read(&rp); err != ErrReplyTooLarge {
		t.Errorf("over the limit: %v, want ErrReplyTooLarge", err)
	}
	rd = NewReader(strings.NewReader(strings.Repeat("y", 1000)))
	rd.SetLimit(100)
	if err := rd.Read(&rp); err != ErrReplyTooLarge {
		t.Errorf("endless line: %v, want ErrReplyTooLarge", err)
	}
	boom := errors.New("boom")
	rd = NewReader(iotest.ErrReader(boom))
	if err := rd.Read(&rp); err != boom {
		t.Errorf("read error: %v, want it passed on", err)
	}
}

func TestServerErrorMatchesErrorValues(t *testing.T) {
	rd := NewReader(strings.NewReader("SERVER_ERROR object too large for cache\r\nSTORED\r\n"))
	var rp Reply
	if err := rd.Read(&rp); err != nil {
		t.Fatal(err)
	}
	err := rp.Err()
	var se *ServerError
	if !errors.As(err, &se) || se.Line != "SERVER_ERROR object too large for cache" {
		t.Fatalf("Err() = %v", err)
	}
	if !errors.Is(err, ErrTooLarge) || errors.Is(err, ErrOutOfMemory) {
		t.Fatalf("errors.Is does not match by reply line")
	}
	if err := rd.Read(&rp); err != nil || rp.Err() != nil {
		t.Fatalf("STORED: %v, Err() = %v", err, rp.Err())
	}
}

func TestParseListReply(t *testing.T) {
	cases := []struct {
		in    string
		kind  ReplyKind
		lines []string
		n     int
		err   error
	}{
		{"END\r\n", ReplyList, nil, 5, nil},
		{"a b\r\nc\r\nEND\r\nrest", ReplyList, []string{"a b", "c"}, 13, nil},
		{"key=a exp=-1\nEND\n", ReplyList, []string{"key=a exp=-1"}, 17, nil},
		{"ERROR\r\nEND\r\n", ReplyError, nil, 7, nil},
		{"CLIENT_ERROR bad command line format\r\n", ReplyError, nil, 38, nil},
		{"a\r\nb\r\nEN", 0, nil, 0, ErrIncomplete},
	}
	for _, c := range cases {
		var rp Reply
		n, err := ParseListReply([]byte(c.in), &rp)
		if err != c.err || n != c.n {
			t.Errorf("%q: n=%d err=%v, want %d %v", c.in, n, err, c.n, c.err)
			continue
		}
		if err != nil {
			continue
		}
		var got []string
		for _, l := range rp.Lines {
			got = append(got, string(l))
		}
		if rp.Kind != c.kind || strings.Join(got, "|") != strings.Join(c.lines, "|") {
			t.Errorf("%q: kind %d lines %q, want %d %q", c.in, rp.Kind, got, c.kind, c.lines)
		}
	}
	rd := NewReader(iotest.OneByteReader(strings.NewReader("x=1\r\ny=2\r\nEND\r\nOK\r\n")))
	var rp Reply
	if err := rd.ReadList(&rp); err != nil || len(rp.Lines) != 2 {
		t.Fatalf("ReadList: %v, %q", err, rp.Lines)
	}
	if err := rd.Read(&rp); err != nil || rp.Status != StatusOK {
		t.Fatalf("after the list: %v %s", err, rp.Status)
	}
}

// TestReaderAllocatesNothing: once warm, reading replies costs no
// allocation (the load generator reads every reply through a Reader).
func TestReaderAllocatesNothing(t *testing.T) {
	value := bytes.Repeat([]byte("v"), 100)
	var in []byte
	in = AppendValueHeader(in, []byte("key:1"), 0, len(value))
	in = AppendValue(in, value)
	in = AppendEnd(in)
	in = AppendStored(in)
	in = append(in, "VA 100 f0\r\n"...)
	in = AppendValue(in, value)
	in = AppendMetaNoop(in)
	src := bytes.NewReader(in)
	rd := NewReader(src)
	var rp Reply
	allocs := testing.AllocsPerRun(200, func() {
		src.Reset(in)
		rd.Reset(src)
		for range 4 {
			if err := rd.Read(&rp); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per 4 replies, want 0", allocs)
	}
}
