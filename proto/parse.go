package proto

import (
	"bytes"
	"math"
)

// Parse parses the first request in buf into r and returns the number of
// bytes it occupies. It never reads past buf, never keeps buf, and
// allocates nothing once r.Keys has grown to the widest multi-get seen.
//
// The outcomes:
//
//   - nil: r holds the request; drop n bytes.
//   - ErrIncomplete (n is 0): wait until at least r.Need more bytes have
//     arrived, then parse again from the same start. For a storage command
//     whose line is complete but whose data block is not, r's header fields
//     and r.HeaderLen are already filled in.
//   - *Error: send e.Reply() unless r.NoReply, drop n bytes and then
//     r.Swallow more, and close the connection if e.Close(). r.Command says
//     which command was refused (CmdNone for an unknown one).
//
// Lines end with "\n", optionally preceded by "\r"; a NUL byte ends the
// line early, as in memcached's C string handling. Tokens are separated by
// spaces only. Everything is checked the way memcached 1.6.18 checks it and
// in the same order, so that the first error found is the one it reports.
func Parse(buf []byte, r *Request) (n int, err error) {
	r.Reset()
	idx := bytes.IndexByte(buf, '\n')
	if idx < 0 {
		// memcached closes a connection that has more than 2048 bytes
		// buffered without a newline, unless the line is a multi-get (up to
		// 100 leading spaces, then "get " or "gets "). Like memcached, a
		// longer line that arrives whole is still parsed.
		if len(buf) > MaxLineLen && !multiGetPrefix(buf) {
			return 0, ErrLineTooLong
		}
		r.Need = 1
		return 0, ErrIncomplete
	}
	end := idx
	if idx > 1 && buf[idx-1] == '\r' {
		end--
	}
	line := buf[:end]
	if z := bytes.IndexByte(line, 0); z >= 0 {
		line = line[:z]
	}
	r.HeaderLen = idx + 1
	return parseLine(buf, line, r)
}

func multiGetPrefix(b []byte) bool {
	i := 0
	for i < len(b) && b[i] == ' ' {
		i++
	}
	if i > 100 {
		return false
	}
	b = b[i:]
	return bytes.HasPrefix(b, []byte("get ")) || bytes.HasPrefix(b, []byte("gets "))
}

// nextToken returns the token starting at or after pos and the position
// just past it; tok is nil at the end of the line.
func nextToken(line []byte, pos int) (tok []byte, next int) {
	for pos < len(line) && line[pos] == ' ' {
		pos++
	}
	if pos == len(line) {
		return nil, pos
	}
	start := pos
	for pos < len(line) && line[pos] != ' ' {
		pos++
	}
	return line[start:pos], pos
}

func parseLine(buf, line []byte, r *Request) (int, error) {
	n := r.HeaderLen
	cmd, pos := nextToken(line, 0)
	if len(cmd) < 2 {
		return n, ErrUnknownCommand
	}

	// Retrieval lines have any number of keys: they are not split into the
	// token array.
	switch string(cmd) {
	case "get", "bget":
		return n, parseGet(line, pos, CmdGet, r)
	case "gets":
		return n, parseGet(line, pos, CmdGets, r)
	case "gat":
		return n, parseGet(line, pos, CmdGat, r)
	case "gats":
		return n, parseGet(line, pos, CmdGats, r)
	}

	var toks [MaxTokens][]byte
	toks[0] = cmd
	ntok := 1
	for ntok < MaxTokens {
		var t []byte
		t, pos = nextToken(line, pos)
		if t == nil {
			break
		}
		toks[ntok] = t
		ntok++
	}
	tk := toks[:ntok]

	if len(cmd) == 2 && cmd[0] == 'm' {
		switch cmd[1] {
		case 'g':
			return parseMeta(tk, CmdMetaGet, r)
		case 's':
			return parseMetaSet(buf, tk, r)
		case 'd':
			return parseMeta(tk, CmdMetaDelete, r)
		case 'a':
			return parseMeta(tk, CmdMetaArithmetic, r)
		case 'n':
			r.Command = CmdMetaNoop
			return n, nil
		case 'e':
			return parseMetaDebug(tk, r)
		}
		return n, ErrUnknownCommand
	}

	switch string(cmd) {
	case "set":
		return parseStorage(buf, tk, CmdSet, r)
	case "add":
		return parseStorage(buf, tk, CmdAdd, r)
	case "replace":
		return parseStorage(buf, tk, CmdReplace, r)
	case "append":
		return parseStorage(buf, tk, CmdAppend, r)
	case "prepend":
		return parseStorage(buf, tk, CmdPrepend, r)
	case "cas":
		return parseStorage(buf, tk, CmdCas, r)
	case "delete":
		return n, parseDelete(tk, r)
	case "incr":
		return n, parseArith(tk, CmdIncr, r)
	case "decr":
		return n, parseArith(tk, CmdDecr, r)
	case "touch":
		return n, parseTouch(tk, r)
	case "flush_all":
		return n, parseFlushAll(tk, r)
	case "verbosity":
		return n, parseVerbosity(tk, r)
	case "version":
		r.Command = CmdVersion
		return n, nil
	case "quit":
		r.Command = CmdQuit
		return n, nil
	case "cache_memlimit":
		return n, parseMemlimit(tk, r)
	case "stats":
		return n, parseAdmin(tk, CmdStats, 1, false, r)
	case "slabs":
		// set_noreply_maybe runs for slabs automove only.
		nr := ntok > 1 && string(tk[1]) == "automove"
		return n, parseAdmin(tk, CmdSlabs, 1, nr, r)
	case "lru":
		return n, parseAdmin(tk, CmdLru, 2, true, r)
	case "lru_crawler":
		return n, parseAdmin(tk, CmdLruCrawler, 1, false, r)
	case "watch":
		return n, parseAdmin(tk, CmdWatch, 1, true, r)
	case "shutdown":
		return n, parseAdmin(tk, CmdShutdown, 1, false, r)
	case "extstore":
		return n, parseAdmin(tk, CmdExtstore, 2, true, r)
	case "refresh_certs":
		return n, parseAdmin(tk, CmdRefreshCerts, 1, true, r)
	case "misbehave":
		return n, parseAdmin(tk, CmdMisbehave, 1, false, r)
	case "debugtime":
		return n, parseAdmin(tk, CmdDebugtime, 1, false, r)
	case "config":
		return n, parseAdmin(tk, CmdConfig, 1, false, r)
	case "cluster":
		return n, parseAdmin(tk, CmdCluster, 1, false, r)
	}

	// memcached dispatches on the first letter; an unknown command under
	// one of these letters (or a two-letter m command) is a plain ERROR.
	// Only the final fallback looks for an HTTP request, at the last of
	// the (at most MaxTokens) tokens.
	switch cmd[0] {
	case 'g', 's', 'a', 'c', 'i', 'd', 't':
		return n, ErrUnknownCommand
	}
	if bytes.HasPrefix(tk[ntok-1], []byte("HTTP/")) {
		return n, ErrHTTP
	}
	return n, ErrUnknownCommand
}

func isNoreply(tok []byte) bool { return string(tok) == "noreply" }

// parseGet reads the keys of get, gets, gat and gats from line after pos.
func parseGet(line []byte, pos int, c Command, r *Request) error {
	t, pos := nextToken(line, pos)
	if t == nil {
		return ErrUnknownCommand // fewer than two tokens
	}
	r.Command = c
	if c == CmdGat || c == CmdGats {
		exp, ok := parseInt32(t)
		if !ok {
			return ErrInvalidExptime
		}
		r.Exptime = exp
		t, pos = nextToken(line, pos)
		// gat with no key at all answers END, as memcached does.
	}
	for t != nil {
		if len(t) > MaxKeyLen {
			r.Keys = r.Keys[:0]
			return ErrBadFormat
		}
		r.Keys = append(r.Keys, t)
		t, pos = nextToken(line, pos)
	}
	return nil
}

// parseStorage parses set, add, replace, append, prepend and cas.
func parseStorage(buf []byte, tk [][]byte, c Command, r *Request) (int, error) {
	n := r.HeaderLen
	want := 5
	if c == CmdCas {
		want = 6
	}
	if len(tk) != want && len(tk) != want+1 {
		return n, ErrUnknownCommand
	}
	r.Command = c
	// Like memcached's set_noreply_maybe, only the last token counts; an
	// extra token that is not "noreply" is ignored.
	r.NoReply = isNoreply(tk[len(tk)-1])
	if len(tk[1]) > MaxKeyLen {
		return n, ErrBadFormat
	}
	r.Key = tk[1]
	flags, ok1 := parseUint32(tk[2])
	exp, ok2 := parseInt32(tk[3])
	vlen, ok3 := parseInt32(tk[4])
	if !ok1 || !ok2 || !ok3 {
		return n, ErrBadFormat
	}
	if c == CmdCas {
		cas, ok := parseUint64(tk[5])
		if !ok {
			return n, ErrBadFormat
		}
		r.CAS = cas
	}
	if vlen < 0 || vlen > math.MaxInt32-2 {
		return n, ErrBadFormat
	}
	r.ClientFlags = flags
	r.Exptime = exp
	r.ValueLen = int(vlen)
	return payload(buf, r)
}

// payload takes the data block of a storage command whose header is
// parsed.
func payload(buf []byte, r *Request) (int, error) {
	total := r.HeaderLen + r.ValueLen + 2
	if len(buf) < total {
		r.Need = total - len(buf)
		return 0, ErrIncomplete
	}
	if buf[total-2] != '\r' || buf[total-1] != '\n' {
		return total, ErrBadDataChunk
	}
	r.Value = buf[r.HeaderLen : total-2]
	return total, nil
}

func parseDelete(tk [][]byte, r *Request) error {
	if len(tk) < 2 || len(tk) > 4 {
		return ErrUnknownCommand
	}
	r.Command = CmdDelete
	if len(tk) > 2 {
		// "delete <key> 0" and "delete <key> 0 noreply" are legacy forms.
		hold0 := string(tk[2]) == "0"
		r.NoReply = isNoreply(tk[len(tk)-1])
		valid := (len(tk) == 3 && (hold0 || r.NoReply)) || (len(tk) == 4 && hold0 && r.NoReply)
		if !valid {
			return ErrDeleteUsage
		}
	}
	if len(tk[1]) > MaxKeyLen {
		return ErrBadFormat
	}
	r.Key = tk[1]
	return nil
}

func parseArith(tk [][]byte, c Command, r *Request) error {
	if len(tk) != 3 && len(tk) != 4 {
		return ErrUnknownCommand
	}
	r.Command = c
	r.NoReply = isNoreply(tk[len(tk)-1])
	if len(tk[1]) > MaxKeyLen {
		return ErrBadFormat
	}
	r.Key = tk[1]
	d, ok := parseUint64(tk[2])
	if !ok {
		return ErrInvalidDelta
	}
	r.Delta = d
	return nil
}

func parseTouch(tk [][]byte, r *Request) error {
	if len(tk) != 3 && len(tk) != 4 {
		return ErrUnknownCommand
	}
	r.Command = CmdTouch
	r.NoReply = isNoreply(tk[len(tk)-1])
	if len(tk[1]) > MaxKeyLen {
		return ErrBadFormat
	}
	r.Key = tk[1]
	exp, ok := parseInt32(tk[2])
	if !ok {
		return ErrInvalidExptime
	}
	r.Exptime = exp
	return nil
}

// parseFlushAll: flush_all [delay] [noreply]. memcached checks -F (flush
// disabled) before the delay: a server with flush_all disabled should answer
// ErrFlushDisabled whenever r.Command is CmdFlushAll, error or not.
func parseFlushAll(tk [][]byte, r *Request) error {
	if len(tk) > 3 {
		return ErrUnknownCommand
	}
	r.Command = CmdFlushAll
	r.NoReply = len(tk) > 1 && isNoreply(tk[len(tk)-1])
	plain := 1
	if r.NoReply {
		plain = 2
	}
	if len(tk) != plain {
		exp, ok := parseInt32(tk[1])
		if !ok {
			return ErrInvalidExptime
		}
		r.Exptime = exp
	}
	return nil
}

func parseVerbosity(tk [][]byte, r *Request) error {
	if len(tk) != 2 && len(tk) != 3 {
		return ErrUnknownCommand
	}
	r.Command = CmdVerbosity
	r.NoReply = isNoreply(tk[len(tk)-1])
	lvl, ok := parseUint32(tk[1])
	if !ok {
		return ErrBadFormat
	}
	r.Level = lvl
	return nil
}

func parseMemlimit(tk [][]byte, r *Request) error {
	if len(tk) != 2 && len(tk) != 3 {
		return ErrUnknownCommand
	}
	r.Command = CmdCacheMemlimit
	r.NoReply = isNoreply(tk[len(tk)-1])
	mb, ok := parseUint32(tk[1])
	if !ok {
		return ErrUnknownCommand // memcached answers a plain ERROR here
	}
	r.MemLimit = mb
	return nil
}

// parseAdmin keeps the arguments of an admin command. minTok is the least
// number of tokens memcached wants before it looks further; noreply says
// whether memcached honours a trailing noreply for this command.
func parseAdmin(tk [][]byte, c Command, minTok int, noreply bool, r *Request) error {
	if len(tk) < minTok {
		return ErrUnknownCommand
	}
	r.Command = c
	if noreply {
		r.NoReply = isNoreply(tk[len(tk)-1])
	}
	for _, a := range tk[1:] {
		r.args[r.nargs] = a
		r.nargs++
	}
	return nil
}
