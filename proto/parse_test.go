package proto

import (
	"errors"
	"strings"
	"testing"
)

// parseCase is one request and what Parse must make of it.
type parseCase struct {
	name string
	in   string
	// want is describe(r) on success, errDesc(r) with an *Error, and
	// describe(r) of the header fields with ErrIncomplete.
	want string
	err  error
	// rest is how many bytes of in must be left after n and Swallow
	// (pipelined input).
	rest int
	// swallow is the expected Request.Swallow.
	swallow int
	// need is the expected Request.Need with ErrIncomplete.
	need int
	// n, when not 0, is the expected n (else len(in)-rest-swallow).
	n int
	// push: the caller accepts ms H (Request.AcceptPush).
	push bool
	// noDiff excludes the case from the comparison with a real memcached
	// (commands with side effects on the server, incomplete input).
	noDiff bool
}

var (
	k250 = strings.Repeat("k", 250)
	k251 = strings.Repeat("k", 251)
	x31  = strings.Repeat("x", 31)
	x32  = strings.Repeat("x", 32)
	x40  = strings.Repeat("x", 40)
)

// flagsN returns n distinct valid meta flags without values.
func flagsN(n int) string {
	const letters = "sctflhkvOPLuqI" // 14 value-less flags
	var parts []string
	for i := 0; i < n && i < len(letters); i++ {
		parts = append(parts, letters[i:i+1])
	}
	for i := len(letters); i < n; i++ {
		parts = append(parts, []string{"N1", "R1", "T1", "F1", "C1", "J1", "D1"}[i-len(letters)])
	}
	return strings.Join(parts, " ")
}

func manyKeys(n int) (line, list string) {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = "key" + strings.Repeat("x", i%7) + string(rune('a'+i%26))
	}
	return strings.Join(ks, " "), strings.Join(ks, " ")
}

var parseCases = func() []parseCase {
	keys100, list100 := manyKeys(100)
	return []parseCase{
		// Framing.
		{name: "version", in: "version\r\n", want: "version"},
		{name: "bare newline", in: "version\n", want: "version"},
		{name: "spaces around", in: "   version   \r\n", want: "none", err: ErrUnknownCommand},
		{name: "extra tokens ignored", in: "version foo bar\r\n", want: "version"},
		{name: "double CR kept in token", in: "version\r\r\n", want: "none", err: ErrUnknownCommand},
		{name: "no newline yet", in: "version", want: "none", err: ErrIncomplete, need: 1, noDiff: true},
		{name: "empty buffer", in: "", want: "none", err: ErrIncomplete, need: 1, noDiff: true},
		{name: "empty line", in: "\r\n", want: "none", err: ErrBadFormat},
		{name: "empty line LF", in: "\n", want: "none", err: ErrBadFormat},
		{name: "one letter", in: "x\r\n", want: "none", err: ErrBadFormat},
		{name: "upper case", in: "VERSION\r\n", want: "none", err: ErrUnknownCommand},
		{name: "tab is not a separator", in: "get\ta\r\n", want: "none", err: ErrUnknownCommand},
		{name: "NUL ends the line", in: "version\x00junk\r\n", want: "none", err: ErrUnknownCommand},
		{name: "NUL inside get", in: "get a\x00b c\r\n", want: "get keys=[a\u0000b c]"},
		{name: "pipelined", in: "get a\r\nget b\r\n", want: "get keys=[a]", rest: 7},
		{name: "unknown", in: "foo bar\r\n", want: "none", err: ErrUnknownCommand},
		{name: "2048 bytes no newline", in: strings.Repeat("x", 2048), want: "none", err: ErrIncomplete, need: 1, noDiff: true},
		{name: "2049 bytes no newline", in: strings.Repeat("x", 2049), want: "none", err: ErrLineTooLong},
		{name: "long set line no newline", in: "set a 0 0 1" + strings.Repeat(" ", 3000), want: "none", err: ErrLineTooLong},
		{name: "long get line waits", in: "get " + strings.Repeat("a ", 2000), want: "none", err: ErrIncomplete, need: 1, noDiff: true},
		{name: "long gets line waits", in: "  gets " + strings.Repeat("a ", 2000), want: "none", err: ErrIncomplete, need: 1, noDiff: true},
		{name: "long get after 101 spaces", in: strings.Repeat(" ", 101) + "get " + strings.Repeat("a ", 1000), want: "none", err: ErrLineTooLong},
		{name: "long gat line closes", in: "gat 0 " + strings.Repeat("a ", 1100), want: "none", err: ErrLineTooLong},
		{name: "long line that arrived whole", in: "set a 0 0 1" + strings.Repeat(" ", 3000) + "\r\nx\r\n", want: `set key="a" len=1 value="x"`},
		{name: "HTTP", in: "GET / HTTP/1.1\r\n", want: "none", err: ErrHTTP},
		{name: "HTTP unknown command", in: "foo HTTP/1.0\r\n", want: "none", err: ErrHTTP},
		{name: "HTTP under a known letter", in: "gxx HTTP/1.0\r\n", want: "none", err: ErrHTTP},
		{name: "HTTP under two-letter m", in: "mx HTTP/1.0\r\n", want: "none", err: ErrHTTP},
		{name: "HTTP under long m word", in: "mxx HTTP/1.0\r\n", want: "none", err: ErrHTTP},
		{name: "HTTP not last", in: "foo HTTP/1.0 x\r\n", want: "none", err: ErrUnknownCommand},
		{name: "HTTP past 23 tokens", in: "foo" + strings.Repeat(" t", 22) + " HTTP/1.1\r\n", want: "none", err: ErrUnknownCommand},
		{name: "HTTP as 23rd token", in: "foo" + strings.Repeat(" t", 21) + " HTTP/1.1\r\n", want: "none", err: ErrHTTP},

		// Retrieval.
		{name: "get", in: "get foo\r\n", want: "get keys=[foo]"},
		{name: "get many spaces", in: "get  a   b  \r\n", want: "get keys=[a b]"},
		{name: "get 100 keys", in: "get " + keys100 + "\r\n", want: "get keys=[" + list100 + "]"},
		{name: "gets", in: "gets a b\r\n", want: "gets keys=[a b]"},
		{name: "bget", in: "bget a\r\n", want: "none", err: ErrUnknownCommand},
		{name: "gat", in: "gat 10 a b\r\n", want: "gat keys=[a b] exp=10"},
		{name: "gats negative", in: "gats -5 a\r\n", want: "gats keys=[a] exp=-5"},
		{name: "gat without keys", in: "gat 10\r\n", want: "none", err: ErrBadFormat},
		{name: "gat bad exptime", in: "gat x a\r\n", want: "gat", err: ErrInvalidExptime},
		{name: "get alone", in: "get\r\n", want: "none", err: ErrBadFormat},
		{name: "gets alone", in: "gets\r\n", want: "none", err: ErrBadFormat},
		{name: "get key 250", in: "get " + k250 + "\r\n", want: "get keys=[kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk]"},
		{name: "get key 251", in: "get " + k251 + "\r\n", want: "get keys=[kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk]"},
		{name: "get second key 251", in: "get a " + k251 + " b\r\n", want: "get keys=[a kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk b]"},
		{name: "get control bytes in key", in: "get a\x01b\r\n", want: "get keys=[a\u0001b]"},
		{name: "gxx", in: "gxx a\r\n", want: "none", err: ErrUnknownCommand},

		// Storage.
		{name: "set", in: "set k 5 100 3\r\nabc\r\n", want: `set key="k" F=5 exp=100 len=3 value="abc"`},
		{name: "set empty value", in: "set k 0 0 0\r\n\r\n", want: `set key="k" len=0 value=""`},
		{name: "set noreply", in: "set k 0 0 3 noreply\r\nabc\r\n", want: `set key="k" len=3 value="abc" noreply`},
		{name: "set sixth token ignored", in: "set k 0 0 1 garbage\r\nx\r\n", want: `set key="k" len=1 value="x"`},
		{name: "set pipelined", in: "set k 0 0 1\r\nx\r\nget k\r\n", want: `set key="k" len=1 value="x"`, rest: 7},
		{name: "set partial value", in: "set k 0 0 3\r\nab", want: `set key="k" len=3`, err: ErrIncomplete, need: 3, noDiff: true},
		{name: "set no value yet", in: "set k 0 0 3\r\n", want: `set key="k" len=3`, err: ErrIncomplete, need: 5, noDiff: true},
		{name: "set huge value header", in: "set k 0 0 2147483645\r\n", want: `set key="k" len=2147483645`, err: ErrIncomplete, need: 2147483647, noDiff: true},
		{name: "bad data chunk", in: "set k 0 0 1\r\nabc\r\n", want: "set", err: ErrBadDataChunk, rest: 2},
		{name: "bad data chunk LF", in: "set k 0 0 1\r\nab\nmn\r\n", want: "set", err: ErrBadDataChunk, rest: 4},
		{name: "bad data chunk noreply", in: "set k 0 0 1 noreply\r\nabc", want: "set noreply", err: ErrBadDataChunk},
		{name: "CR in length token", in: "set k 0 0 1\r\r\nx\r\n", want: "none", err: ErrBadFormat, rest: 3},
		{name: "flags wrap to 32 bits", in: "set k 4294967297 0 1\r\nx\r\n", want: `set key="k" F=1 len=1 value="x"`},
		{name: "length wraps to 32 bits", in: "set k 0 0 4294967297\r\nx\r\n", want: "none", err: ErrBadFormat, rest: 3},
		{name: "exptime wraps to 32 bits", in: "set k 0 4294967296 1\r\nx\r\n", want: `set key="k" len=1 value="x"`},
		{name: "minus zero", in: "set k -0 0 1\r\nx\r\n", want: `set key="k" len=1 value="x"`},
		{name: "plus signs", in: "set k +5 0 +1\r\nx\r\n", want: "none", err: ErrBadFormat, rest: 3},
		{name: "negative wraps positive", in: "set k -18446744073709551615 0 1\r\nx\r\n", want: `set key="k" F=1 len=1 value="x"`},
		{name: "flags over 64 bits", in: "set k 18446744073709551616 0 1\r\n", want: "set", err: ErrBadFormat, swallow: 3, n: 32},
		{name: "flags 2^63", in: "set k 9223372036854775808 0 1\r\nx\r\n", want: `set key="k" len=1 value="x"`},
		{name: "tab after number", in: "set k 5\t 0 1\r\nx\r\n", want: `set key="k" F=5 len=1 value="x"`},
		{name: "tab before number", in: "set k \t5 0 1\r\nx\r\n", want: `set key="k" F=5 len=1 value="x"`},
		{name: "junk after tab", in: "set k 5\tabc 0 1\r\nx\r\n", want: `set key="k" F=5 len=1 value="x"`},
		{name: "junk after number", in: "set k 5x 0 1\r\n", want: "set", err: ErrBadFormat, swallow: 3, n: 14},
		{name: "negative flags", in: "set k -1 0 1\r\n", want: "set", err: ErrBadFormat, swallow: 3, n: 14},
		{name: "negative exptime", in: "set k 0 -1 1\r\nx\r\n", want: `set key="k" exp=-1 len=1 value="x"`},
		{name: "exptime over 64 bits", in: "set k 0 99999999999999999999 1\r\n", want: "set", err: ErrBadFormat, swallow: 3, n: 32},
		{name: "negative length", in: "set k 0 0 -1\r\n", want: "none", err: ErrBadFormat},
		{name: "length INT_MAX-1", in: "set k 0 0 2147483646\r\n", want: "none", err: ErrBadFormat},
		{name: "length missing noreply", in: "set k 0 0 noreply\r\n", want: "none", err: ErrBadFormat},
		{name: "bad flags noreply", in: "set k x 0 1 noreply\r\n", want: "set noreply", err: ErrBadFormat, swallow: 3, n: 21},
		{name: "set too few tokens", in: "set k 0 0\r\n", want: "none", err: ErrBadFormat},
		{name: "set too many tokens", in: "set k 0 0 1 2 3\r\n", want: `set key="k" len=1`, err: ErrIncomplete, need: 3},
		{name: "set key 250", in: "set " + k250 + " 0 0 1\r\nx\r\n", want: `set key="kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk" len=1 value="x"`},
		{name: "set key 251", in: "set " + k251 + " 0 0 1\r\n", want: "set", err: ErrBadFormat, swallow: 3, n: 263},
		{name: "set key 251 noreply", in: "set " + k251 + " 0 0 1 noreply\r\n", want: "set noreply", err: ErrBadFormat, swallow: 3, n: 271},
		{name: "add", in: "add k 1 2 1\r\nx\r\n", want: `add key="k" F=1 exp=2 len=1 value="x"`},
		{name: "replace", in: "replace k 0 0 1\r\nx\r\n", want: `replace key="k" len=1 value="x"`},
		{name: "append", in: "append k 0 0 1 noreply\r\nx\r\n", want: `append key="k" len=1 value="x" noreply`},
		{name: "prepend", in: "prepend k 0 0 1\r\nx\r\n", want: `prepend key="k" len=1 value="x"`},
		{name: "append too few", in: "append k 0 0\r\n", want: "none", err: ErrBadFormat},
		{name: "cas", in: "cas k 0 0 1 99\r\nx\r\n", want: `cas key="k" cas=99 len=1 value="x"`},
		{name: "cas noreply", in: "cas k 0 0 1 5 noreply\r\nx\r\n", want: `cas key="k" cas=5 len=1 value="x" noreply`},
		{name: "cas seventh token ignored", in: "cas k 0 0 1 99 zz\r\nx\r\n", want: `cas key="k" cas=99 len=1 value="x"`},
		{name: "cas without unique", in: "cas k 0 0 1\r\n", want: "cas", err: ErrBadFormat, swallow: 3, n: 13},
		{name: "cas bad unique", in: "cas k 0 0 1 x\r\n", want: "cas", err: ErrBadFormat, swallow: 3, n: 15},
		{name: "cas negative unique", in: "cas k 0 0 1 -1\r\n", want: "cas", err: ErrBadFormat, swallow: 3, n: 16},
		{name: "cas too many", in: "cas k 0 0 1 5 6 7\r\n", want: `cas key="k" cas=5 len=1`, err: ErrIncomplete, need: 3},

		// delete, incr, decr, touch.
		{name: "delete", in: "delete k\r\n", want: `delete key="k"`},
		{name: "delete hold 0", in: "delete k 0\r\n", want: `delete key="k"`},
		{name: "delete noreply", in: "delete k noreply\r\n", want: `delete key="k" noreply`},
		{name: "delete 0 noreply", in: "delete k 0 noreply\r\n", want: `delete key="k" noreply`},
		{name: "delete hold 1", in: "delete k 1\r\n", want: `delete key="k"`},
		{name: "delete bad hold noreply", in: "delete k x noreply\r\n", want: `delete key="k" noreply`},
		{name: "delete 0 junk", in: "delete k 0 x\r\n", want: `delete key="k"`},
		{name: "delete alone", in: "delete\r\n", want: "none", err: ErrBadFormat},
		{name: "delete too many", in: "delete a b c d\r\n", want: `delete key="a"`},
		{name: "delete key 251", in: "delete " + k251 + "\r\n", want: "delete", err: ErrBadFormat},
		{name: "incr", in: "incr k 5\r\n", want: `incr key="k" delta=5`},
		{name: "decr noreply", in: "decr k 5 noreply\r\n", want: `decr key="k" delta=5 noreply`},
		{name: "incr max", in: "incr k 18446744073709551615\r\n", want: `incr key="k" delta=18446744073709551615`},
		{name: "incr over 64 bits", in: "incr k 18446744073709551616\r\n", want: "incr", err: ErrInvalidDelta},
		{name: "incr negative", in: "incr k -1\r\n", want: "incr", err: ErrInvalidDelta},
		{name: "incr text", in: "incr k x\r\n", want: "incr", err: ErrInvalidDelta},
		{name: "incr no delta", in: "incr k\r\n", want: "none", err: ErrBadFormat},
		{name: "incr too many", in: "incr k 1 2 3\r\n", want: `incr key="k" delta=1`},
		{name: "incr fourth token ignored", in: "incr k 1 xx\r\n", want: `incr key="k" delta=1`},
		{name: "decr key 251", in: "decr " + k251 + " 1\r\n", want: "decr", err: ErrBadFormat},
		{name: "touch", in: "touch k 10\r\n", want: `touch key="k" exp=10`},
		{name: "touch noreply", in: "touch k 1 noreply\r\n", want: `touch key="k" exp=1 noreply`},
		{name: "touch bad exptime", in: "touch k x\r\n", want: "touch", err: ErrInvalidExptime},
		{name: "touch no exptime", in: "touch k\r\n", want: "none", err: ErrBadFormat},
		{name: "touch key 251", in: "touch " + k251 + " 1\r\n", want: "touch", err: ErrBadFormat},
		{name: "txx", in: "txx\r\n", want: "none", err: ErrUnknownCommand},

		// Other classic commands.
		{name: "flush_all", in: "flush_all\r\n", want: "flush_all", noDiff: true},
		{name: "flush_all 0", in: "flush_all 0\r\n", want: `flush_all`, noDiff: true},
		{name: "flush_all delay", in: "flush_all 10\r\n", want: `flush_all exp=10`, noDiff: true},
		{name: "flush_all negative", in: "flush_all -1\r\n", want: `flush_all exp=-1`, noDiff: true},
		{name: "flush_all noreply", in: "flush_all noreply\r\n", want: `flush_all noreply`, noDiff: true},
		{name: "flush_all delay noreply", in: "flush_all 1 noreply\r\n", want: `flush_all exp=1 noreply`, noDiff: true},
		{name: "flush_all bad delay", in: "flush_all x\r\n", want: "flush_all", err: ErrInvalidExptime},
		{name: "flush_all bad delay noreply", in: "flush_all x noreply\r\n", want: "flush_all noreply", err: ErrInvalidExptime},
		{name: "flush_all too many", in: "flush_all 1 2 3\r\n", want: `flush_all exp=1`},
		{name: "verbosity", in: "verbosity 1\r\n", want: `verbosity level=1`},
		{name: "verbosity noreply", in: "verbosity 1 noreply\r\n", want: `verbosity level=1 noreply`},
		{name: "verbosity alone", in: "verbosity\r\n", want: "verbosity", err: ErrBadFormat},
		{name: "verbosity text", in: "verbosity x\r\n", want: "verbosity", err: ErrBadFormat},
		{name: "verbosity only noreply", in: "verbosity noreply\r\n", want: "verbosity noreply", err: ErrBadFormat},
		{name: "verbosity too many", in: "verbosity 1 2 3\r\n", want: `verbosity level=1`},
		{name: "quit", in: "quit\r\n", want: "quit", noDiff: true},
		{name: "cache_memlimit", in: "cache_memlimit 64\r\n", want: `cache_memlimit mb=64`},
		{name: "cache_memlimit noreply", in: "cache_memlimit 100 noreply\r\n", want: `cache_memlimit mb=100 noreply`},
		{name: "cache_memlimit alone", in: "cache_memlimit\r\n", want: "cache_memlimit", err: ErrUnknownCommand},
		{name: "cache_memlimit text", in: "cache_memlimit x\r\n", want: "cache_memlimit", err: ErrUnknownCommand},
		{name: "cache_memlimit too many", in: "cache_memlimit 1 2 3\r\n", want: `cache_memlimit mb=1`},

		// Admin commands, tokenised.
		{name: "stats", in: "stats\r\n", want: "stats"},
		{name: "stats items", in: "stats items\r\n", want: `stats args=["items"]`},
		{name: "stats detail on", in: "stats detail on\r\n", want: `stats args=["detail" "on"]`, noDiff: true},
		{name: "slabs reassign", in: "slabs reassign 1 2\r\n", want: `slabs args=["reassign" "1" "2"]`, noDiff: true},
		{name: "slabs automove noreply", in: "slabs automove 1 noreply\r\n", want: `slabs args=["automove" "1" "noreply"] noreply`, noDiff: true},
		{name: "lru alone", in: "lru\r\n", want: "lru"},
		{name: "lru tune", in: "lru tune 10 10 0.1 2\r\n", want: `lru args=["tune" "10" "10" "0.1" "2"]`, noDiff: true},
		{name: "lru_crawler metadump", in: "lru_crawler metadump all\r\n", want: `lru_crawler args=["metadump" "all"]`, noDiff: true},
		{name: "watch", in: "watch fetchers\r\n", want: `watch args=["fetchers"]`, noDiff: true},
		{name: "shutdown graceful", in: "shutdown graceful\r\n", want: `shutdown args=["graceful"]`, noDiff: true},
		{name: "extstore alone", in: "extstore\r\n", want: "extstore", noDiff: true},
		{name: "extstore item_size", in: "extstore item_size 10\r\n", want: `extstore args=["item_size" "10"]`, noDiff: true},
		{name: "refresh_certs", in: "refresh_certs\r\n", want: "refresh_certs", noDiff: true},
		{name: "misbehave", in: "misbehave\r\n", want: "none", err: ErrUnknownCommand, noDiff: true},
		{name: "debugtime", in: "debugtime 5\r\n", want: "none", err: ErrUnknownCommand, noDiff: true},
		{name: "config get cluster", in: "config get cluster\r\n", want: `config args=["get" "cluster"]`, noDiff: true},
		{name: "admin args capped", in: "stats" + strings.Repeat(" a", 30) + "\r\n", want: `stats args=["a" "a" "a" "a" "a" "a" "a" "a" "a" "a" "a" "a" "a" "a" "a" "a" "a" "a" "a" "a" "a" "a"]`, noDiff: true},

		// mg.
		{name: "mg alone", in: "mg\r\n", want: "none", err: ErrBadFormat},
		{name: "mg", in: "mg foo\r\n", want: `mg key="foo"`},
		{name: "mg v", in: "mg foo v\r\n", want: `mg key="foo" flags="v"`},
		{name: "mg all value-less flags", in: "mg foo s t c f l h k v O P L u q I\r\n", want: `mg key="foo" flags="stcflhkvOPLuqI" O=""`},
		{name: "mg token flags", in: "mg foo N30 R5 T-1 Oabc q k\r\n", want: `mg key="foo" flags="NRTOqk" exp=-1 N=30 R=5 O="abc"`},
		{name: "mg accepts every preparse flag", in: "mg foo F5 C7 J8 D9 MS\r\n", want: `mg key="foo" flags="FCJDM" F=5 cas=7 delta=9 J=8 M=S`},
		{name: "mg long flag token", in: "mg foo vxyz\r\n", want: `mg key="foo" flags="v"`},
		{name: "mg duplicate", in: "mg foo v v\r\n", want: "mg", err: ErrDuplicateFlag},
		{name: "mg invalid", in: "mg foo z\r\n", want: "mg", err: ErrInvalidFlag},
		{name: "mg E takes a CAS", in: "mg foo E5\r\n", want: `mg key="foo" flags="E"`},
		{name: "mg x is invalid", in: "mg foo x\r\n", want: `mg key="foo" flags="x"`},
		{name: "mg high byte", in: "mg foo \xff\r\n", want: "none", err: ErrBadFormat},
		{name: "mg DEL byte", in: "mg foo \x7f\r\n", want: "none", err: ErrBadFormat},
		{name: "mg high byte after error", in: "mg foo Jx \xff\r\n", want: "none", err: ErrBadFormat},
		{name: "mg invalid after error", in: "mg foo Jx zz\r\n", want: "mg", err: ErrInvalidFlag},
		{name: "mg opaque 31", in: "mg foo O" + x31 + "\r\n", want: `mg key="foo" flags="O" O="xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"`},
		{name: "mg opaque 32", in: "mg foo O" + x32 + "\r\n", want: "mg", err: ErrOpaqueTooLong},
		{name: "mg 17 flags", in: "mg foo " + flagsN(17) + "\r\n", want: `mg key="foo" flags="sctflhkvOPLuqINRT" exp=1 N=1 R=1 O=""`},
		{name: "mg 18 flags", in: "mg foo " + flagsN(18) + "\r\n", want: `mg key="foo" flags="sctflhkvOPLuqINRTF" F=1 exp=1 N=1 R=1 O=""`},
		{name: "mg 30 tokens", in: "mg foo" + strings.Repeat(" v", 28) + "\r\n", want: "mg", err: ErrFlagsTooLong},
		{name: "mg bad N", in: "mg foo Nx\r\n", want: "mg", err: ErrBadToken},
		{name: "mg empty N", in: "mg foo N\r\n", want: "mg", err: ErrBadToken},
		{name: "mg bad T and N", in: "mg foo Tx Nx\r\n", want: "mg", err: ErrBadToken},
		{name: "mg bad R", in: "mg foo R1x\r\n", want: "mg", err: ErrBadToken},
		{name: "mg bad C", in: "mg foo Cx\r\n", want: "mg", err: ErrBadToken},
		{name: "mg last error wins", in: "mg foo Jx Cx Dx\r\n", want: "mg", err: ErrInvalidDeltaValue},
		{name: "mg last error wins 2", in: "mg foo Cx Jx\r\n", want: "mg", err: ErrInvalidInitial},
		{name: "mg bad F", in: "mg foo Fx\r\n", want: "mg", err: ErrBadFormat},
		{name: "mg bad F keeps earlier text", in: "mg foo Cx Fx\r\n", want: "mg", err: ErrBadToken},
		{name: "mg long M", in: "mg foo MXX\r\n", want: `mg key="foo" flags="M" M=X`},
		{name: "mg empty M", in: "mg foo M\r\n", want: "mg key=\"foo\" flags=\"M\" M= "},
		{name: "ms empty M at the end", in: "ms foo 1 M\nx\r\n", want: "ms", err: ErrMsInvalidMode, swallow: 3},
		{name: "mg key 251", in: "mg " + k251 + " v\r\n", want: "mg", err: ErrBadFormat},
		{name: "mg key 251 and too many", in: "mg " + k251 + strings.Repeat(" v", 20) + "\r\n", want: "mg", err: ErrBadFormat},
		{name: "mg base64 key", in: "mg Zm9v b v k\r\n", want: `mg key="foo" binary flags="bvk"`},
		{name: "mg base64 skips junk", in: "mg Y*j*Y*0 b\r\n", want: `mg key="b64" binary flags="b"`},
		{name: "mg base64 stops at padding", in: "mg YQ==YWJj b\r\n", want: `mg key="a" binary flags="b"`},
		{name: "mg base64 bad length", in: "mg Zm9 b\r\n", want: "mg", err: ErrDecodingKey},
		{name: "mg base64 only padding", in: "mg ==== b\r\n", want: "mg", err: ErrDecodingKey},
		{name: "mg base64 3 pads", in: "mg Y=== b\r\n", want: "mg", err: ErrDecodingKey},
		{name: "mg base64 no alphabet", in: "mg !!!! b\r\n", want: "mg", err: ErrDecodingKey},

		// flush_prefix and md A (slabcache's namespace flush; memcached
		// answers ERROR and CLIENT_ERROR invalid flag).
		{name: "flush_prefix", in: "flush_prefix user:42:\r\n", want: `flush_prefix key="user:42:"`, noDiff: true},
		{name: "flush_prefix noreply", in: "flush_prefix user: noreply\r\n", want: `flush_prefix key="user:" noreply`, noDiff: true},
		{name: "flush_prefix relay", in: "flush_prefix user: relay a/1 7\r\n", want: `flush_prefix key="user:" args=["a/1" "7"]`, noDiff: true},
		{name: "flush_prefix bad relay", in: "flush_prefix user: relai a/1 7\r\n", want: "flush_prefix", err: ErrBadFormat, noDiff: true},
		{name: "flush_prefix alone", in: "flush_prefix\r\n", want: "flush_prefix", err: ErrBadFormat, noDiff: true},
		{name: "flush_prefix two prefixes", in: "flush_prefix a: b:\r\n", want: "flush_prefix", err: ErrBadFormat, noDiff: true},
		{name: "flush_prefix 251", in: "flush_prefix " + k251 + "\r\n", want: "flush_prefix", err: ErrBadFormat, noDiff: true},
		{name: "delete relay", in: "delete k relay n/1 9\r\n", want: `delete key="k" args=["n/1" "9"]`, noDiff: true},
		{name: "ms H", in: "ms k 1 H ME\r\nx\r\n", want: `ms key="k" flags="HM" M=E len=1 value="x"`, push: true, noDiff: true},
		{name: "ms H outside a cluster", in: "ms k 1 H ME\r\nx\r\n", want: "ms", err: ErrInvalidFlag, swallow: 3},
		{name: "ms H outside a cluster, base64 key", in: "ms foo 1 H b\r\nx\r\n", want: "ms", err: ErrInvalidFlag, swallow: 3},
		{name: "ms H outside a cluster, bad chunk", in: "ms foo 1 H\r\nxyz\r\n", want: "ms", err: ErrInvalidFlag, swallow: 3, rest: 2},
		{name: "mg H is invalid", in: "mg k H\r\n", want: "mg", err: ErrInvalidFlag},
		{name: "md G", in: "md k G\r\n", want: `md key="k" flags="G"`, noDiff: true},
		{name: "mg G is invalid", in: "mg k G\r\n", want: "mg", err: ErrInvalidFlag},
		{name: "md A", in: "md user: A q\r\n", want: `md key="user:" flags="Aq"`, noDiff: true},
		{name: "mg A is invalid", in: "mg user: A\r\n", want: "mg", err: ErrInvalidFlag},
		{name: "ma A is invalid", in: "ma user: A\r\n", want: "ma", err: ErrInvalidOrDuplicate},

		// ms.
		{name: "ms", in: "ms foo 3\r\nabc\r\n", want: `ms key="foo" len=3 value="abc"`},
		{name: "ms flags", in: "ms foo 3 T10 F5 C99 I k O1 c q\r\nabc\r\n", want: `ms key="foo" flags="TFCIkOcq" F=5 exp=10 cas=99 O="1" len=3 value="abc"`},
		{name: "ms base64", in: "ms Zm9v 1 b k\r\nx\r\n", want: `ms key="foo" binary flags="bk" len=1 value="x"`},
		{name: "ms append", in: "ms foo 1 MA\r\nx\r\n", want: `ms key="foo" flags="M" M=A len=1 value="x"`},
		{name: "ms 16 flags", in: "ms foo 1 " + flagsN(16) + "\r\nx\r\n", want: `ms key="foo" flags="sctflhkvOPLuqINR" N=1 R=1 O="" len=1 value="x"`},
		{name: "ms 17 flags", in: "ms foo 1 " + flagsN(17) + "\r\n", want: `ms key="foo" flags="sctflhkvOPLuqINRT" exp=1 N=1 R=1 O="" len=1`, err: ErrIncomplete, need: 3},
		{name: "ms alone", in: "ms\r\n", want: "none", err: ErrBadFormat},
		{name: "ms no length", in: "ms foo\r\n", want: "none", err: ErrBadFormat},
		{name: "ms bad length", in: "ms foo x\r\n", want: "none", err: ErrBadFormat},
		{name: "ms negative length", in: "ms foo -1\r\n", want: "none", err: ErrBadFormat},
		{name: "ms length INT_MAX-1", in: "ms foo 2147483646\r\n", want: "none", err: ErrBadFormat},
		{name: "ms key 251", in: "ms " + k251 + " 1\r\n", want: "ms", err: ErrBadFormat, swallow: 3, n: 258},
		{name: "ms partial", in: "ms foo 5 T1\r\nab", want: `ms key="foo" flags="T" exp=1 len=5`, err: ErrIncomplete, need: 5, noDiff: true},
		{name: "ms invalid flag swallows", in: "ms foo 1 z\r\nx\r\n", want: "ms", err: ErrInvalidFlag, swallow: 3},
		{name: "ms invalid word swallows", in: "ms foo 1 invalid\r\nx\r\n", want: "ms", err: ErrInvalidFlag, swallow: 3},
		{name: "ms S is invalid", in: "ms foo 1 S5\r\nx\r\n", want: "ms", err: ErrInvalidFlag, swallow: 3},
		{name: "ms invalid mode", in: "ms foo 1 MX\r\nx\r\n", want: "ms", err: ErrMsInvalidMode, swallow: 3},
		{name: "ms lower-case mode", in: "ms foo 1 Ms\r\nx\r\n", want: "ms", err: ErrMsInvalidMode, swallow: 3},
		{name: "ms mode beats opaque", in: "ms foo 1 MX O" + x40 + "\r\nx\r\n", want: "ms", err: ErrMsInvalidMode, swallow: 3},
		{name: "ms opaque too long", in: "ms foo 1 O" + x40 + "\r\nx\r\n", want: "ms", err: ErrOpaqueTooLong, swallow: 3},
		{name: "ms bad F", in: "ms foo 1 Fx\r\nx\r\n", want: "ms", err: ErrBadFormat, swallow: 3},
		{name: "ms F wraps", in: "ms foo 1 F4294967297\r\nx\r\n", want: "ms", err: ErrBadFormat, swallow: 3},
		{name: "ms bad base64", in: "ms foo 1 b\r\nx\r\n", want: "ms", err: ErrDecodingKey, swallow: 3},
		{name: "ms bad chunk", in: "ms foo 1\r\nxyz\r\n", want: "ms", err: ErrBadDataChunk, rest: 2},
		{name: "ms bad chunk quiet", in: "ms foo 1 q\r\nxyz\r\n", want: "ms", err: ErrBadDataChunk, rest: 2},
		{name: "ms error before payload arrives", in: "ms foo 100 z\r\n", want: "ms", err: ErrInvalidFlag, swallow: 102, n: 14, noDiff: true},

		// md.
		{name: "md", in: "md foo\r\n", want: `md key="foo"`},
		{name: "md flags", in: "md foo q I T30 C5 Oab k\r\n", want: `md key="foo" flags="qITCOk" exp=30 cas=5 O="ab"`},
		{name: "md alone", in: "md\r\n", want: "none", err: ErrBadFormat},
		{name: "md x", in: "md foo x\r\n", want: `md key="foo" flags="x"`},
		{name: "md invalid", in: "md foo z\r\n", want: "md", err: ErrInvalidFlag},
		{name: "md duplicate", in: "md foo q q\r\n", want: "md", err: ErrDuplicateFlag},
		{name: "md bad C", in: "md foo Cx\r\n", want: "md", err: ErrBadToken},
		{name: "md E", in: "md foo E1\r\n", want: `md key="foo" flags="E"`},
		{name: "md key 251", in: "md " + k251 + "\r\n", want: "md", err: ErrBadFormat},
		{name: "md too many", in: "md foo " + flagsN(18) + "\r\n", want: `md key="foo" flags="sctflhkvOPLuqINRTF" F=1 exp=1 N=1 R=1 O=""`},
		{name: "md opaque too long", in: "md foo O" + x40 + "\r\n", want: "md", err: ErrOpaqueTooLong},

		// ma.
		{name: "ma", in: "ma foo\r\n", want: `ma key="foo" delta=1`},
		{name: "ma decr", in: "ma foo MD D5 v\r\n", want: `ma key="foo" flags="MDv" delta=5 M=D`},
		{name: "ma minus", in: "ma foo M- v\r\n", want: `ma key="foo" flags="Mv" delta=1 M=-`},
		{name: "ma plus", in: "ma foo M+\r\n", want: `ma key="foo" flags="M" delta=1 M=+`},
		{name: "ma vivify", in: "ma foo N0 J7 v t c k O9\r\n", want: `ma key="foo" flags="NJvtckO" delta=1 J=7 O="9"`},
		{name: "ma alone", in: "ma\r\n", want: "none", err: ErrBadFormat},
		{name: "ma invalid mode", in: "ma foo Mx\r\n", want: "ma", err: ErrMaInvalidMode},
		{name: "ma bad D", in: "ma foo Dx\r\n", want: "ma", err: ErrInvalidOrDuplicate},
		{name: "ma negative D", in: "ma foo D-1\r\n", want: "ma", err: ErrInvalidOrDuplicate},
		{name: "ma bad J", in: "ma foo Jx\r\n", want: "ma", err: ErrInvalidOrDuplicate},
		{name: "ma E", in: "ma foo E5\r\n", want: `ma key="foo" flags="E" delta=1`},
		{name: "ma mode beats opaque", in: "ma foo Mx O" + x40 + "\r\n", want: "ma", err: ErrMaInvalidMode},
		{name: "ma opaque too long", in: "ma foo O" + x40 + " v\r\n", want: "ma", err: ErrOpaqueTooLong},
		{name: "ma too many", in: "ma foo " + flagsN(18) + "\r\n", want: `ma key="foo" flags="sctflhkvOPLuqINRTF" F=1 exp=1 N=1 R=1 delta=1 O=""`},

		// mn, me.
		{name: "mn", in: "mn\r\n", want: "mn"},
		{name: "mn ignores tokens", in: "mn a b c\r\n", want: "mn"},
		{name: "me", in: "me foo\r\n", want: `me key="foo"`},
		{name: "me base64", in: "me Zm9v b\r\n", want: `me key="Zm9v"`},
		{name: "me b must be exact", in: "me foo bx\r\n", want: `me key="foo"`},
		{name: "me extra tokens", in: "me foo x y z\r\n", want: `me key="foo"`},
		{name: "me alone", in: "me\r\n", want: "none", err: ErrBadFormat},
		{name: "me bad base64", in: "me !!!! b\r\n", want: `me key="!!!!"`},
		{name: "me key 251", in: "me " + k251 + "\r\n", want: "me", err: ErrBadFormat},
	}
}()

func TestParseTable(t *testing.T) {
	var r Request
	for _, c := range parseCases {
		t.Run(c.name, func(t *testing.T) {
			buf := []byte(c.in)
			r.AcceptPush = c.push
			n, err := Parse(buf, &r)
			if err != c.err {
				t.Fatalf("Parse(%.80q) error = %v, want %v", c.in, err, c.err)
			}
			var got string
			switch {
			case err == nil, err == ErrIncomplete:
				got = describe(&r)
			default:
				got = errDesc(&r)
			}
			if got != c.want {
				t.Errorf("Parse(%.80q)\n got  %s\n want %s", c.in, got, c.want)
			}
			if err == ErrIncomplete {
				if n != 0 || r.Need != c.need {
					t.Errorf("incomplete: n=%d need=%d, want 0 and %d", n, r.Need, c.need)
				}
				return
			}
			var e *Error
			if errors.As(err, &e) && e.Close() {
				return
			}
			wantN := len(c.in) - c.rest - c.swallow
			if c.n != 0 {
				wantN = c.n
			}
			if n != wantN || r.Swallow != c.swallow {
				t.Errorf("n=%d swallow=%d, want n=%d swallow=%d", n, r.Swallow, wantN, c.swallow)
			}
		})
	}
}
