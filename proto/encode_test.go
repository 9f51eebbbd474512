package proto

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/slabcache/slabcache/internal/testenv"
)

func TestEncoders(t *testing.T) {
	cases := []struct{ got, want string }{
		{string(AppendStored(nil)), "STORED\r\n"},
		{string(AppendNotStored(nil)), "NOT_STORED\r\n"},
		{string(AppendExists(nil)), "EXISTS\r\n"},
		{string(AppendNotFound(nil)), "NOT_FOUND\r\n"},
		{string(AppendDeleted(nil)), "DELETED\r\n"},
		{string(AppendTouched(nil)), "TOUCHED\r\n"},
		{string(AppendOK(nil)), "OK\r\n"},
		{string(AppendEnd(nil)), "END\r\n"},
		{string(AppendStatus(nil, StatusReset)), "RESET\r\n"},
		{string(AppendStatus(nil, StatusEN)), "EN\r\n"},
		{string(AppendMetaNoop(nil)), "MN\r\n"},
		{string(AppendError(nil, ErrBadDataChunk)), "CLIENT_ERROR bad data chunk\r\n"},
		{string(AppendError(nil, ErrLineTooLong)), ""},
		{string(AppendError(nil, ErrDetailUsage)), "CLIENT_ERROR usage: stats detail on|off|dump\r\n"},
		{string(AppendStatID(nil, 7, "state", "conn_listening")), "STAT 7:state conn_listening\r\n"},
		{string(AppendURIKey(nil, []byte("a:b c/~é"))), "a%3Ab%20c%2F~%C3%A9"},
		{string(AppendMetadumpLine(nil, &DumpItem{Key: []byte("k:1"), Exptime: -1, LastAccess: 1700000000, CAS: 7, Fetched: true, Class: 3, Size: 68, Flags: 9})),
			"key=k%3A1 exp=-1 la=1700000000 cas=7 fetch=yes cls=3 size=68 flags=9 \n"},
		{string(AppendDetailPrefix(nil, "user", 4, 3, 2, 1)), "PREFIX user get 4 hit 3 set 2 del 1\r\n"},
		{string(AppendServerError(nil, "out of memory")), "SERVER_ERROR out of memory\r\n"},
		{string(AppendError(nil, ErrReassignBusy)), "BUSY currently processing reassign request\r\n"},
		{string(AppendValueHeader(nil, []byte("foo"), 4294967295, 3)), "VALUE foo 4294967295 3\r\n"},
		{string(AppendValueHeaderCAS(nil, []byte("foo"), 0, 0, 18446744073709551615)), "VALUE foo 0 0 18446744073709551615\r\n"},
		{string(AppendValue(nil, []byte("abc"))), "abc\r\n"},
		{string(AppendNumber(nil, 18446744073709551615)), "18446744073709551615\r\n"},
		{string(AppendVersion(nil, "1.6.45")), "VERSION 1.6.45\r\n"},
		{string(AppendStat(nil, "version", "1.6.45")), "STAT version 1.6.45\r\n"},
		{string(AppendStatBytes(nil, "libevent", []byte("2.1.12-stable"))), "STAT libevent 2.1.12-stable\r\n"},
		{string(AppendStatUint(nil, "curr_items", 7)), "STAT curr_items 7\r\n"},
		{string(AppendStatInt(nil, "delta", -7)), "STAT delta -7\r\n"},
		{string(AppendStatMicros(nil, "rusage_user", 1234567)), "STAT rusage_user 1.234567\r\n"},
		{string(AppendStatMicros(nil, "rusage_user", 100)), "STAT rusage_user 0.000100\r\n"},
		{string(AppendStatMicros(nil, "rusage_user", 0)), "STAT rusage_user 0.000000\r\n"},
		{string(AppendStatMicros(nil, "rusage_user", 5_000_000)), "STAT rusage_user 5.000000\r\n"},
		{string(AppendStatClass(nil, "items:", 1, "number", 5)), "STAT items:1:number 5\r\n"},
		{string(AppendStatClass(nil, "", 12, "chunk_size", 96)), "STAT 12:chunk_size 96\r\n"},
		{string(AppendConfig(nil, "cluster", []byte("1\nh|10.0.0.1|11211\n"))), "CONFIG cluster 0 19\r\n1\nh|10.0.0.1|11211\n\r\nEND\r\n"},
		{string(AppendMetaDebug(nil, &MetaDebug{Key: []byte("foo"), Exp: -1, LastAccess: 3, CAS: 2, Class: 1, Size: 63})), "ME foo exp=-1 la=3 cas=2 fetch=no cls=1 size=63\r\n"},
		{string(AppendMetaDebug(nil, &MetaDebug{Key: []byte("foo"), KeyBinary: true, Exp: -9, Fetched: true, Class: 2, Size: 70})), "ME Zm9v exp=-9 la=0 cas=0 fetch=yes cls=2 size=70\r\n"},
		{string(AppendGetRequest(nil, []byte("foo"))), "get foo\r\n"},
		{string(AppendSetRequest(nil, []byte("foo"), 5, -1, []byte("abc"), true)), "set foo 5 -1 3 noreply\r\nabc\r\n"},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("case %d: got %q, want %q", i, c.got, c.want)
		}
	}
	// Appending keeps what is there.
	if got := string(AppendEnd([]byte("x"))); got != "xEND\r\n" {
		t.Errorf("AppendEnd kept %q", got)
	}
}

func TestStatusStrings(t *testing.T) {
	for s := StatusStored; s < numStatus; s++ {
		if s.String() == "" {
			t.Errorf("status %d has no word", s)
		}
	}
	if Status(200).String() != "" || Command(200).String() != "unknown" {
		t.Error("out-of-range values must not panic")
	}
	for c := CmdNone; c < numCommands; c++ {
		if commandNames[c] == "" {
			t.Errorf("command %d has no name", c)
		}
	}
}

// metaItemFromReply rebuilds what the server knew from a real memcached
// meta reply, so that AppendMetaReply can be asked to write the same line.
func metaItemFromReply(rp *Reply) *MetaItem {
	it := &MetaItem{}
	for _, f := range rp.Flags() {
		v := string(f[1:])
		switch f[0] {
		case 's':
			it.Size, _ = strconv.Atoi(v)
		case 't':
			// The reply shows the TTL after this request, whichever of
			// the three the encoder picks for it.
			it.TTL, _ = strconv.ParseInt(v, 10, 64)
			it.TouchTTL, it.VivifyTTL = it.TTL, it.TTL
		case 'c':
			it.CAS, _ = strconv.ParseUint(v, 10, 64)
		case 'f':
			u, _ := strconv.ParseUint(v, 10, 32)
			it.ClientFlags = uint32(u)
		case 'l':
			it.LastAccess, _ = strconv.ParseUint(v, 10, 64)
		case 'h':
			it.Fetched = v == "1"
		case 'b':
			it.KeyBinary = true
		case 'W':
			it.Won = true
		case 'X':
			it.Stale = true
		case 'Z':
			it.AlreadyWon = true
		}
	}
	return it
}

// TestMetaRepliesMatchMemcached runs meta commands on a real memcached and
// checks that AppendMetaReply, given the same request and the item values
// memcached reported, writes byte for byte the same status line: the same
// return flags in the same order, keys echoed in base64 where memcached
// does, opaque echoed, W/X/Z last.
func TestMetaRepliesMatchMemcached(t *testing.T) {
	addr := testenv.StartReference(t)
	setup := "set foo 7 0 3\r\nabc\r\nset n 0 0 2\r\n10\r\nms Zm9vYg== 2 b\r\nhi\r\nset st 0 0 1\r\nx\r\nmd st I T30\r\n"
	if out, _ := exchange(t, addr, setup, false); !strings.HasSuffix(string(out), "HD\r\nMN\r\n") {
		t.Fatalf("setup: %q", out)
	}
	cmds := []string{
		"mg foo s t c f l h k v O123",
		"mg foo k Oab c",
		"mg foo",
		"mg foo v q",
		"mg missing v k Oxx s c",
		"mg Zm9vYg== b k v c",
		"mg foob k s",
		"mg Zm9v b k v",
		"mg st c v",
		"mg st c v",
		"mg foo T100 t v",
		"ms foo 3 c k O1 T0\r\nxyz",
		"ms Zm9v 1 b k\r\nx",
		"ms missing 1 MR c O5 k\r\nx",
		"ms foo 1 ME c\r\nx",
		"ms foo 1 C1 c\r\nx",
		"md missing k Oa",
		"md foo k Ob",
		"ma n v t c k O9",
		"ma n",
		"ma n MD D100 v c",
		"ma missing k Oz v c t",
		"ma viv N0 J7 v t c k",
		"ma Zm9vYmFy b k v N0 J1",
	}
	for _, cmd := range cmds {
		var r Request
		in := cmd + "\r\n"
		if _, err := Parse([]byte(in), &r); err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		out, _ := exchange(t, addr, in, false)
		var rp Reply
		n, err := ParseReply(out, &rp)
		if err != nil || rp.Kind != ReplyMeta {
			t.Fatalf("%s: memcached replied %q (%v)", cmd, out, err)
		}
		if rp.Status == StatusMN { // quiet: nothing was sent
			continue
		}
		var it *MetaItem
		switch {
		case r.Command == CmdMetaSet:
			it = metaItemFromReply(&rp)
		case r.Command == CmdMetaDelete:
		case rp.Status == StatusHD || rp.Status == StatusVA:
			it = metaItemFromReply(&rp)
		}
		want := out[:bytes.IndexByte(out, '\n')+1]
		got := AppendMetaReply(nil, rp.Status, len(rp.Value), &r, it)
		if string(got) != string(want) {
			t.Errorf("%s\n memcached %q\n encoder   %q", cmd, want, got)
		}
		if rp.Status == StatusVA {
			got = AppendValue(got, rp.Value)
			if string(got) != string(out[:n]) {
				t.Errorf("%s: VA block %q, memcached %q", cmd, got, out[:n])
			}
		}
	}
}

// TestMetaDebugMatchesMemcached compares AppendMetaDebug with memcached's me.
func TestMetaDebugMatchesMemcached(t *testing.T) {
	addr := testenv.StartReference(t)
	for _, in := range []string{"set foo 0 100 3\r\nabc\r\nget foo\r\nme foo\r\n", "ms Zm9vYg== 2 b\r\nhi\r\nme Zm9vYg== b x\r\n"} {
		out, _ := exchange(t, addr, in, false)
		i := bytes.Index(out, []byte("ME "))
		if i < 0 {
			t.Fatalf("no ME line in %q", out)
		}
		line := out[i : i+bytes.IndexByte(out[i:], '\n')+1]
		var rp Reply
		if _, err := ParseReply(line, &rp); err != nil || rp.Kind != ReplyMetaDebug {
			t.Fatalf("ParseReply(%q): %v", line, err)
		}
		d := MetaDebug{Key: rp.Key, KeyBinary: strings.Contains(in, " b\r\n")}
		if d.KeyBinary {
			var buf [MaxKeyLen]byte
			d.Key = buf[:b64Decode(buf[:], rp.Key)]
		}
		for _, kv := range strings.Fields(string(rp.Text)) {
			k, v, _ := strings.Cut(kv, "=")
			u, _ := strconv.ParseUint(v, 10, 64)
			switch k {
			case "exp":
				d.Exp, _ = strconv.ParseInt(v, 10, 64)
			case "la":
				d.LastAccess = u
			case "cas":
				d.CAS = u
			case "fetch":
				d.Fetched = v == "yes"
			case "cls":
				d.Class = uint32(u)
			case "size":
				d.Size = u
			}
		}
		if got := AppendMetaDebug(nil, &d); string(got) != string(line) {
			t.Errorf("AppendMetaDebug = %q, memcached %q", got, line)
		}
	}
}

func TestValidKey(t *testing.T) {
	for k, want := range map[string]bool{
		"foo": true, k250: true, k251: false, "": false, "a b": false,
		"a\r": false, "a\tb": false, "a\x7f": false, "ключ": true,
	} {
		if ValidKey([]byte(k)) != want {
			t.Errorf("ValidKey(%.20q) = %v", k, !want)
		}
	}
}

// AppendQuietDeletes writes requests Parse reads back as quiet meta deletes
// of the same keys, binary ones included, then an mn.
func TestAppendQuietDeletes(t *testing.T) {
	keys := []string{"a", "user:42", "with space\r\n\x00", strings.Repeat("k", 250), strings.Repeat(" ", MaxBinaryKeyLen)}
	for _, k := range keys {
		if !QuietDeletable(k) {
			t.Fatalf("%q: not deletable", k)
		}
	}
	if QuietDeletable(strings.Repeat(" ", MaxBinaryKeyLen+1)) || QuietDeletable("") {
		t.Fatal("a key with no text form is deletable")
	}
	buf := AppendQuietDeletes(nil, keys)
	var r Request
	for i, want := range keys {
		n, err := Parse(buf, &r)
		if err != nil || r.Command != CmdMetaDelete || string(r.Key) != want || !r.HasFlag('q') || r.HasFlag('b') == ValidKey([]byte(want)) {
			t.Fatalf("request %d: %v %v key %q flags q %v b %v", i, err, r.Command, r.Key, r.HasFlag('q'), r.HasFlag('b'))
		}
		buf = buf[n:]
	}
	if n, err := Parse(buf, &r); err != nil || r.Command != CmdMetaNoop || n != len(buf) {
		t.Fatalf("the end: %v %v, %d of %d bytes", err, r.Command, n, len(buf))
	}
}
