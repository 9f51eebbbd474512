package proto

import (
	"encoding/base64"
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestParseNumbersLikeMemcached(t *testing.T) {
	type want struct {
		u64  uint64
		ok64 bool
		u32  uint32
		ok32 bool
		i32  int32
		okI  bool
	}
	cases := map[string]want{
		"0":                     {0, true, 0, true, 0, true},
		"42":                    {42, true, 42, true, 42, true},
		"+42":                   {42, true, 42, true, 42, true},
		"-0":                    {0, true, 0, true, 0, true},
		"-1":                    {0, false, 0, false, -1, true},
		"-2147483648":           {0, false, 0, false, -2147483648, true},
		"2147483648":            {2147483648, true, 2147483648, true, -2147483648, true},
		"4294967296":            {4294967296, true, 0, true, 0, true},
		"4294967297":            {4294967297, true, 1, true, 1, true},
		"9223372036854775807":   {9223372036854775807, true, 4294967295, true, -1, true},
		"9223372036854775808":   {9223372036854775808, true, 0, true, 0, false},
		"-9223372036854775808":  {0, false, 0, false, 0, true},
		"-9223372036854775809":  {9223372036854775807, true, 4294967295, true, 0, false},
		"18446744073709551615":  {18446744073709551615, true, 4294967295, true, 0, false},
		"18446744073709551616":  {0, false, 0, false, 0, false},
		"-18446744073709551615": {1, true, 1, true, 0, false},
		"":                      {},
		"+":                     {},
		"-":                     {},
		"x":                     {},
		"5x":                    {},
		" 5":                    {5, true, 5, true, 5, true},
		"\t5":                   {5, true, 5, true, 5, true},
		"5\t":                   {5, true, 5, true, 5, true},
		"5\rjunk":               {5, true, 5, true, 5, true},
		"\v\f+7\n":              {7, true, 7, true, 7, true},
		"+-5":                   {},
		"0x10":                  {},
		"007":                   {7, true, 7, true, 7, true},
	}
	for in, w := range cases {
		if v, ok := parseUint64([]byte(in)); v != w.u64 || ok != w.ok64 {
			t.Errorf("parseUint64(%q) = %d, %v; want %d, %v", in, v, ok, w.u64, w.ok64)
		}
		if v, ok := parseUint32([]byte(in)); ok != w.ok32 || (ok && v != w.u32) {
			t.Errorf("parseUint32(%q) = %d, %v; want %d, %v", in, v, ok, w.u32, w.ok32)
		}
		if v, ok := parseInt32([]byte(in)); ok != w.okI || (ok && v != w.i32) {
			t.Errorf("parseInt32(%q) = %d, %v; want %d, %v", in, v, ok, w.i32, w.okI)
		}
	}
}

// TestParseNumbersMatchStrconv checks plain decimal inputs against strconv.
func TestParseNumbersMatchStrconv(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		v := rng.Uint64() >> rng.UintN(64)
		s := strconv.FormatUint(v, 10)
		if got, ok := parseUint64([]byte(s)); !ok || got != v {
			t.Fatalf("parseUint64(%s) = %d, %v", s, got, ok)
		}
		iv := int64(v)
		if rng.IntN(2) == 0 {
			iv = -iv
		}
		s = strconv.FormatInt(iv, 10)
		if got, ok := parseInt32([]byte(s)); !ok || got != int32(iv) {
			t.Fatalf("parseInt32(%s) = %d, %v, want %d", s, got, ok, int32(iv))
		}
	}
}

func TestBase64DecodeLikeMemcached(t *testing.T) {
	cases := map[string]string{ // input -> decoded, "" = refused
		"Zm9v":     "foo",
		"Zm8=":     "fo",
		"Zg==":     "f",
		"Zm9vYg==": "foob",
		"Y*j*Y*0":  "b64", // bytes outside the alphabet are skipped
		"YQ==YWJj": "a",   // decoding stops after the first padded group
		"Zm9":      "",    // not a multiple of four
		"":         "",    // nothing
		"====":     "",    // three or more pads
		"Y===":     "",    // three pads
		"!!!!":     "",    // no alphabet bytes
		"Zm=v":     "f`",  // '=' inside a group counts as padding (checked on memcached)
	}
	for in, want := range cases {
		var dst [MaxKeyLen]byte
		n := b64Decode(dst[:], []byte(in))
		if string(dst[:n]) != want {
			t.Errorf("b64Decode(%q) = %q, want %q", in, dst[:n], want)
		}
	}
	// Every standard encoding of up to 187 bytes decodes back.
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 2000; i++ {
		src := make([]byte, 1+rng.IntN(187))
		for j := range src {
			src[j] = byte(rng.UintN(256))
		}
		enc := base64.StdEncoding.EncodeToString(src)
		var dst [MaxKeyLen]byte
		n := b64Decode(dst[:], []byte(enc))
		if string(dst[:n]) != string(src) {
			t.Fatalf("round trip of %x failed: %x", src, dst[:n])
		}
		if got := string(appendBase64(nil, src)); got != enc {
			t.Fatalf("appendBase64 = %s, want %s", got, enc)
		}
	}
}
