package proto

import (
	"bytes"
	"errors"
	"math"
)

// Client side: reading replies.

// ErrBadReply is returned by ParseReply for bytes that are not a reply of
// the memcached protocol (a malformed VALUE line, a data block without its
// "\r\n", ...). The connection is out of step and should be closed.
var ErrBadReply = errors.New("proto: malformed reply")

// ReplyKind tells what ParseReply found.
type ReplyKind uint8

// The reply kinds.
const (
	ReplyNone ReplyKind = iota
	// ReplyStatus: a one-line status, Status says which; StatusNone for a
	// line the parser does not know (admin replies such as "BUSY ..."),
	// which Line holds.
	ReplyStatus
	// ReplyValues: VALUE blocks through END, in Values (none for a bare END).
	ReplyValues
	// ReplyNumber: the result of incr or decr, in Number.
	ReplyNumber
	// ReplyStats: STAT lines through END, in Stats.
	ReplyStats
	// ReplyVersion: VERSION; Text holds the version.
	ReplyVersion
	// ReplyError: ERROR, CLIENT_ERROR or SERVER_ERROR; Line holds the
	// whole line (see LookupError).
	ReplyError
	// ReplyMeta: HD VA EN NS EX NF MN; Status is the code, Flags the return
	// flags, Value the data of VA.
	ReplyMeta
	// ReplyMetaDebug: ME; Key is the key as printed, Text the rest
	// ("exp=-1 la=3 ...").
	ReplyMetaDebug
	// ReplyConfig: CONFIG <name> <flags> <len> data END; Key is the name,
	// Value the data.
	ReplyConfig
	// ReplyList: lines through END, read by ParseListReply; Lines holds
	// them.
	ReplyList
)

// MaxReplyFlags is the most return flags ParseReply keeps for one meta
// reply; further ones are dropped.
const MaxReplyFlags = 32

// Value is one VALUE block of a get reply.
type Value struct {
	Key    []byte
	Flags  uint32
	CAS    uint64
	HasCAS bool
	Data   []byte
}

// Stat is one STAT line.
type Stat struct {
	Name  []byte
	Value []byte
}

// Reply is one parsed reply. Like Request, it is filled in place, its
// slices point into the parsed buffer, and Values and Stats only grow.
type Reply struct {
	Kind   ReplyKind
	Status Status
	// Line is the first line of the reply, without its line ending.
	Line   []byte
	Number uint64
	Text   []byte
	Key    []byte
	Value  []byte
	Values []Value
	Stats  []Stat
	Lines  [][]byte
	// Need is set with ErrIncomplete, as Request.Need.
	Need int

	flags  [MaxReplyFlags][]byte
	nflags uint8
}

// Flags returns the return flags of a meta reply in order, each a token
// such as "c123" or "kfoo".
func (rp *Reply) Flags() [][]byte { return rp.flags[:rp.nflags] }

// Flag returns the value of return flag f ("123" for "c123") and whether
// it was present.
func (rp *Reply) Flag(f byte) ([]byte, bool) {
	for _, t := range rp.Flags() {
		if t[0] == f {
			return t[1:], true
		}
	}
	return nil, false
}

// FlagUint returns the unsigned number of return flag f ("c123": 123),
// and whether f was there with a number.
func (rp *Reply) FlagUint(f byte) (uint64, bool) {
	v, ok := rp.Flag(f)
	if !ok {
		return 0, false
	}
	return tokU64(v)
}

// FlagInt is FlagUint for a signed flag ("t-1": -1).
func (rp *Reply) FlagInt(f byte) (int64, bool) {
	v, ok := rp.Flag(f)
	if !ok {
		return 0, false
	}
	return tokInt(v, mcmcMax64, math.MinInt64, math.MaxInt64)
}

func (rp *Reply) reset() {
	rp.Kind = ReplyNone
	rp.Status = StatusNone
	rp.Line = nil
	rp.Number = 0
	rp.Text = nil
	rp.Key = nil
	rp.Value = nil
	rp.Values = rp.Values[:0]
	rp.Stats = rp.Stats[:0]
	rp.Lines = rp.Lines[:0]
	rp.Need = 0
	rp.nflags = 0
}

// LookupError returns the Error whose reply is line (without "\r\n"), or
// nil when line is not one of them. A client can compare the result with
// the Err values.
func LookupError(line []byte) *Error {
	for _, e := range allErrors {
		if e.reply != "" && len(e.reply) == len(line)+2 && string(line) == e.text {
			return e
		}
	}
	return nil
}

// readLine returns the line starting at off (without "\r\n" or "\n") and
// the offset after it; ok is false when the newline has not arrived.
func readLine(buf []byte, off int) (line []byte, next int, ok bool) {
	i := bytes.IndexByte(buf[off:], '\n')
	if i < 0 {
		return nil, 0, false
	}
	end := off + i
	next = end + 1
	if end > off && buf[end-1] == '\r' {
		end--
	}
	return buf[off:end], next, true
}

// ParseReply parses the first reply in buf into rp and returns its length.
// With ErrIncomplete (n 0) wait for rp.Need more bytes; ErrBadReply means
// the stream cannot be read further. A get reply is read whole, through
// END.
func ParseReply(buf []byte, rp *Reply) (n int, err error) {
	rp.reset()
	line, next, ok := readLine(buf, 0)
	if !ok {
		rp.Need = 1
		return 0, ErrIncomplete
	}
	rp.Line = line
	word, rest := cutWord(line)
	switch string(word) {
	case "VALUE":
		rp.Kind = ReplyValues
		n, err := parseValues(buf, rp)
		if err != nil {
			rp.Values = rp.Values[:0]
		}
		return n, err
	case "END":
		rp.Kind = ReplyValues
		return next, nil
	case "STAT":
		rp.Kind = ReplyStats
		n, err := parseStats(buf, rp)
		if err != nil {
			rp.Stats = rp.Stats[:0]
		}
		return n, err
	case "VERSION":
		rp.Kind = ReplyVersion
		rp.Text = rest
		return next, nil
	case "ERROR", "CLIENT_ERROR", "SERVER_ERROR", "ERROR:":
		rp.Kind = ReplyError
		return next, nil
	case "HD", "EN", "NS", "EX", "NF", "MN":
		rp.Kind = ReplyMeta
		rp.Status = metaStatus(word)
		rp.collectFlags(rest)
		return next, nil
	case "VA":
		rp.Kind = ReplyMeta
		rp.Status = StatusVA
		lenTok, rest := cutWord(rest)
		vlen, ok := parseLen(lenTok)
		if !ok {
			return 0, ErrBadReply
		}
		rp.collectFlags(rest)
		data, end, err := dataBlock(buf, next, vlen, rp)
		if err != nil {
			return 0, err
		}
		rp.Value = data
		return end, nil
	case "ME":
		rp.Kind = ReplyMetaDebug
		rp.Key, rp.Text = cutWord(rest)
		return next, nil
	case "CONFIG":
		rp.Kind = ReplyConfig
		name, rest := cutWord(rest)
		_, rest = cutWord(rest) // flags
		lenTok, _ := cutWord(rest)
		vlen, ok := parseLen(lenTok)
		if !ok || len(name) == 0 {
			return 0, ErrBadReply
		}
		rp.Key = name
		end := next + vlen
		if len(buf) < end {
			rp.Need = end - len(buf)
			return 0, ErrIncomplete
		}
		rp.Value = buf[next:end]
		// The data ends with "\r\n", then END. Servers disagree on
		// whether <len> counts the newline that ends the data, so empty
		// lines before END are skipped.
		for {
			last, after, ok := readLine(buf, end)
			if !ok {
				rp.Need = 1
				return 0, ErrIncomplete
			}
			if string(last) == "END" {
				return after, nil
			}
			if len(last) != 0 {
				return 0, ErrBadReply
			}
			end = after
		}
	}
	rp.Kind = ReplyStatus
	if len(word) > 0 && word[0] >= '0' && word[0] <= '9' && len(rest) == 0 {
		if v, ok := parseLen64(word); ok {
			rp.Kind = ReplyNumber
			rp.Number = v
			return next, nil
		}
	}
	for s := StatusStored; s <= StatusReset; s++ {
		if string(line) == statusWords[s] {
			rp.Status = s
		}
	}
	return next, nil
}

// ParseListReply parses a reply made of lines through END into rp (Kind
// ReplyList, the lines before END in Lines), the form of admin replies
// ParseReply does not know: lru_crawler metadump, stats detail dump,
// slabcache's cluster members. An error line alone is a ReplyError. It
// returns the reply's length, or ErrIncomplete (n 0) until END arrives.
func ParseListReply(buf []byte, rp *Reply) (n int, err error) {
	rp.reset()
	off := 0
	for {
		line, next, ok := readLine(buf, off)
		if !ok {
			rp.Lines = rp.Lines[:0]
			rp.Need = 1
			return 0, ErrIncomplete
		}
		if off == 0 {
			rp.Line = line
			word, _ := cutWord(line)
			switch string(word) {
			case "ERROR", "CLIENT_ERROR", "SERVER_ERROR", "ERROR:":
				rp.Kind = ReplyError
				return next, nil
			}
			rp.Kind = ReplyList
		}
		if string(line) == "END" {
			return next, nil
		}
		rp.Lines = append(rp.Lines, line)
		off = next
	}
}

func metaStatus(word []byte) Status {
	for s := StatusHD; s <= StatusMN; s++ {
		if string(word) == statusWords[s] {
			return s
		}
	}
	return StatusNone
}

func (rp *Reply) collectFlags(rest []byte) {
	for {
		var t []byte
		t, rest = cutWord(rest)
		if len(t) == 0 {
			return
		}
		if int(rp.nflags) < MaxReplyFlags {
			rp.flags[rp.nflags] = t
			rp.nflags++
		}
	}
}

// cutWord splits off the first space-separated word of b.
func cutWord(b []byte) (word, rest []byte) {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	i := bytes.IndexByte(b, ' ')
	if i < 0 {
		return b, nil
	}
	rest = b[i+1:]
	for len(rest) > 0 && rest[0] == ' ' {
		rest = rest[1:]
	}
	return b[:i], rest
}

// parseLen64 parses plain decimal digits only (replies are written by a
// server, so no signs or spaces).
func parseLen64(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (^uint64(0)-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

func parseLen(b []byte) (int, bool) {
	v, ok := parseLen64(b)
	if !ok || v > 1<<31 {
		return 0, false
	}
	return int(v), true
}

// dataBlock returns the vlen bytes at off, which must be followed by
// "\r\n", and the offset after them.
func dataBlock(buf []byte, off, vlen int, rp *Reply) ([]byte, int, error) {
	end := off + vlen + 2
	if len(buf) < end {
		rp.Need = end - len(buf)
		return nil, 0, ErrIncomplete
	}
	if buf[end-2] != '\r' || buf[end-1] != '\n' {
		return nil, 0, ErrBadReply
	}
	return buf[off : end-2], end, nil
}

func parseValues(buf []byte, rp *Reply) (int, error) {
	off := 0
	for {
		line, next, ok := readLine(buf, off)
		if !ok {
			rp.Need = 1
			return 0, ErrIncomplete
		}
		word, rest := cutWord(line)
		if string(word) == "END" && len(rest) == 0 {
			return next, nil
		}
		if string(word) != "VALUE" {
			return 0, ErrBadReply
		}
		var v Value
		var tok []byte
		v.Key, rest = cutWord(rest)
		tok, rest = cutWord(rest)
		flags, ok1 := parseLen64(tok)
		tok, rest = cutWord(rest)
		vlen, ok2 := parseLen(tok)
		if len(v.Key) == 0 || !ok1 || flags > 1<<32-1 || !ok2 {
			return 0, ErrBadReply
		}
		v.Flags = uint32(flags)
		if len(rest) > 0 {
			tok, rest = cutWord(rest)
			cas, ok := parseLen64(tok)
			if !ok || len(rest) > 0 {
				return 0, ErrBadReply
			}
			v.CAS, v.HasCAS = cas, true
		}
		data, end, err := dataBlock(buf, next, vlen, rp)
		if err != nil {
			return 0, err
		}
		v.Data = data
		rp.Values = append(rp.Values, v)
		off = end
	}
}

func parseStats(buf []byte, rp *Reply) (int, error) {
	off := 0
	for {
		line, next, ok := readLine(buf, off)
		if !ok {
			rp.Need = 1
			return 0, ErrIncomplete
		}
		if string(line) == "END" {
			return next, nil
		}
		word, rest := cutWord(line)
		if string(word) != "STAT" {
			return 0, ErrBadReply
		}
		name, value := cutWord(rest)
		rp.Stats = append(rp.Stats, Stat{Name: name, Value: value})
		off = next
	}
}
