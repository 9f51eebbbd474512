package proto

import (
	"errors"
	"testing"
)

func TestAwayNotesRoundTrip(t *testing.T) {
	buf := AppendAwayHead(nil, "10.0.0.1:11211", "clean")
	buf = AppendAwayKey(buf, "user:1")
	buf = AppendAwayKey(buf, "bin\x00 key")
	buf = AppendAwayPrefix(buf, "ns:")
	buf = AppendEnd(buf)
	if want := "member 10.0.0.1:11211 clean\r\nkey 757365723a31\r\nkey 62696e00206b6579\r\nprefix 6e733a\r\nEND\r\n"; string(buf) != want {
		t.Fatalf("reply %q, want %q", buf, want)
	}
	var rp Reply
	if n, err := ParseListReply(buf, &rp); err != nil || n != len(buf) {
		t.Fatalf("ParseListReply: %d, %v", n, err)
	}
	notes, err := ParseAwayNotes(&rp, "10.0.0.1:11211")
	if err != nil || notes.State != "clean" || len(notes.Keys) != 2 || string(notes.Keys[1]) != "bin\x00 key" ||
		len(notes.Prefixes) != 1 || string(notes.Prefixes[0]) != "ns:" {
		t.Fatalf("ParseAwayNotes: %+v, %v", notes, err)
	}
	if _, err := ParseAwayNotes(&rp, "10.0.0.2:11211"); !errors.Is(err, ErrBadReply) {
		t.Fatalf("a reply about another member: %v", err)
	}
	for _, bad := range []string{"member 10.0.0.1:11211 clean\r\nkey zz\r\nEND\r\n", "member 10.0.0.1:11211\r\nEND\r\n", "END\r\n"} {
		if _, err := ParseListReply([]byte(bad), &rp); err != nil {
			t.Fatal(err)
		}
		if _, err := ParseAwayNotes(&rp, "10.0.0.1:11211"); !errors.Is(err, ErrBadReply) {
			t.Errorf("%q: %v, want ErrBadReply", bad, err)
		}
	}
	// A member that does not know the command cannot vouch.
	ParseListReply([]byte("ERROR\r\n"), &rp)
	if notes, err := ParseAwayNotes(&rp, "10.0.0.1:11211"); err != nil || notes.State != "unknown" {
		t.Fatalf("ERROR: %+v, %v", notes, err)
	}
}
