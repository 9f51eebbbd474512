package difftest

import (
	"bytes"
	"math/rand"
	"strings"
	"testing"
)

func TestUnescape(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{`plain text`, "plain text"},
		{`a\r\nb`, "a\r\nb"},
		{`\t\0\\`, "\t\x00\\"},
		{`\x00\xff\x7F`, "\x00\xff\x7f"},
		{`\{3 ab}`, "ababab"},
		{`x\{0 ab}y`, "xy"},
		{`\{2 \r\n}`, "\r\n\r\n"},
		{`\{2 a\}}`, "a}a}"},
		{`\{3 k\# }`, "k0 k1 k2 "},
		{`\{12 \#,}`, "0,1,2,3,4,5,6,7,8,9,10,11,"},
		{`a}b{c`, "a}b{c"},
		{`${cas}`, "${cas}"}, // no variables in Unescape
		{`\}`, "}"},
	}
	for _, tc := range tests {
		got, err := Unescape(tc.in)
		if err != nil {
			t.Errorf("Unescape(%q): %v", tc.in, err)
			continue
		}
		if string(got) != tc.want {
			t.Errorf("Unescape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestUnescapeErrors(t *testing.T) {
	for _, in := range []string{
		`trailing\`, `\q`, `\x`, `\x4`, `\xzz`, `\{3 ab`, `\{3}`, `\{x ab}`,
		`\{-1 a}`, `\{3 }`, `\#`, `\{99999999999 a}`, `\{70000000 a}`,
	} {
		if b, err := Unescape(in); err == nil {
			t.Errorf("Unescape(%q) = %q, want an error", in, b)
		}
	}
}

func TestExpandVariables(t *testing.T) {
	vars := map[string]string{"cas": "7", "cas:foo": "42"}
	look := func(n string) (string, error) {
		p := &player{vars: vars}
		return p.lookup(n)
	}
	got, err := expand(nil, `cas foo 0 0 1 ${cas:foo} ${cas}`, look, -1)
	if err != nil || string(got) != "cas foo 0 0 1 42 7" {
		t.Fatalf("expand = %q, %v", got, err)
	}
	if _, err := expand(nil, `${cas:bar}`, look, -1); err == nil {
		t.Error("an unset variable expanded without error")
	}
	if _, err := expand(nil, `${other}`, look, -1); err == nil {
		t.Error("an unknown variable expanded without error")
	}
	if _, err := expand(nil, `${cas`, look, -1); err == nil {
		t.Error("an unterminated variable expanded without error")
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	cases := [][]byte{
		nil,
		[]byte("VALUE k 0 3\r\nbar\r\nEND\r\n"),
		bytes.Repeat([]byte{'a'}, 1<<20),
		bytes.Repeat([]byte{' '}, 40),
		bytes.Repeat([]byte{'}'}, 40),
		bytes.Repeat([]byte{'\\'}, 17),
		[]byte("${cas} \\{3 a} #@"),
	}
	for i := 0; i < 300; i++ {
		b := make([]byte, rng.Intn(200))
		for j := range b {
			switch rng.Intn(3) {
			case 0:
				b[j] = byte(rng.Intn(256))
			case 1:
				b[j] = "\r\n\\{}# $x"[rng.Intn(9)]
			default:
				if j > 0 {
					b[j] = b[j-1] // runs
				}
			}
		}
		cases = append(cases, b)
	}
	for _, b := range cases {
		e := Escape(b)
		if strings.ContainsAny(e, "\r\n") {
			t.Fatalf("Escape(%q) = %q contains a raw line break", b, e)
		}
		back, err := Unescape(e)
		if err != nil {
			t.Fatalf("Unescape(Escape(%q)) = %v (escaped: %q)", b, err, e)
		}
		if !bytes.Equal(back, b) {
			t.Fatalf("round trip of %q gave %q (escaped: %q)", b, back, e)
		}
	}
	if e := Escape(bytes.Repeat([]byte{'a'}, 1<<20)); e != `\{1048576 a}` {
		t.Errorf("a 1 MiB run escapes to %q...", e[:min(len(e), 40)])
	}
}
