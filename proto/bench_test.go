package proto

import (
	"strings"
	"testing"
)

func benchParse(b *testing.B, in string) {
	buf := []byte(in)
	var r Request
	if _, err := Parse(buf, &r); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Parse(buf, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseGet(b *testing.B) { benchParse(b, "get user:1234567890\r\n") }

func BenchmarkParseMultiGet100(b *testing.B) {
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = "user:" + strings.Repeat("k", 10) + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	benchParse(b, "get "+strings.Join(keys, " ")+"\r\n")
}

func BenchmarkParseSet100(b *testing.B) {
	benchParse(b, "set user:1234567890 0 3600 100\r\n"+strings.Repeat("v", 100)+"\r\n")
}

func BenchmarkParseMetaGet5Flags(b *testing.B) {
	benchParse(b, "mg user:1234567890 v c f t Oabcd\r\n")
}

func BenchmarkParseMetaSet(b *testing.B) {
	benchParse(b, "ms user:1234567890 100 T3600 F5 c\r\n"+strings.Repeat("v", 100)+"\r\n")
}

func BenchmarkAppendValueReply(b *testing.B) {
	key, val := []byte("user:1234567890"), []byte(strings.Repeat("v", 100))
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendValueHeader(buf[:0], key, 5, len(val))
		buf = AppendValue(buf, val)
		buf = AppendEnd(buf)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkAppendMetaReply(b *testing.B) {
	var r Request
	if _, err := Parse([]byte("mg user:1234567890 v c f t Oabcd k\r\n"), &r); err != nil {
		b.Fatal(err)
	}
	it := &MetaItem{Size: 100, TTL: 3599, CAS: 123456789, ClientFlags: 5}
	val := []byte(strings.Repeat("v", 100))
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendMetaReply(buf[:0], StatusVA, len(val), &r, it)
		buf = AppendValue(buf, val)
	}
}

func BenchmarkParseReplyValue(b *testing.B) {
	buf := AppendValueHeader(nil, []byte("user:1234567890"), 5, 100)
	buf = AppendValue(buf, []byte(strings.Repeat("v", 100)))
	buf = AppendEnd(buf)
	var rp Reply
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := ParseReply(buf, &rp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParsePipeline parses a pipelined batch of 100 mixed requests, as
// the server drains one read.
func BenchmarkParsePipeline(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 25; i++ {
		sb.WriteString("get user:1234567890\r\nset user:1 0 0 10\r\n0123456789\r\nmg user:2 v c\r\ndelete user:3 noreply\r\n")
	}
	buf := []byte(sb.String())
	var r Request
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for rest := buf; len(rest) > 0; {
			n, err := Parse(rest, &r)
			if err != nil {
				b.Fatal(err)
			}
			rest = rest[n:]
		}
	}
}
