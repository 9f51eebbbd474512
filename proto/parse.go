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
// It follows memcached 1.6.45's parser (proto_parser.c, proto_text.c and
// the mcmc tokenizer), in the same order, so that the first error found is
// the one memcached reports:
//
//   - a line is everything up to "\n" (a "\r" before it is dropped); a line
//     shorter than four bytes with its newline is "CLIENT_ERROR bad command
//     line format";
//   - the command is the bytes before the first space (a line starting with
//     a space has no known command); tokens are separated by spaces only, at
//     most MaxTokens of them, in the first 65534 bytes of the line;
//   - numbers are strict decimal (see number.go) except a storage command's
//     flags and exptime, which memcached still reads with strtol;
//   - the keys of get, gets, gat and gats are not checked here: memcached
//     checks each as it gets to it, so the server does (KeyTooLong).
func Parse(buf []byte, r *Request) (n int, err error) {
	r.Reset()
	idx := bytes.IndexByte(buf, '\n')
	if idx < 0 {
		// memcached closes a connection that has more than 2048 bytes
		// buffered without a newline, unless the line is a multi-get (up to
		// 100 leading spaces, then "get " or "gets "). Like memcached, a
		// longer line that arrives whole is still parsed.
		if len(buf) > MaxLineLen && !MultiGetLine(buf) {
			return 0, ErrLineTooLong
		}
		r.Need = 1
		return 0, ErrIncomplete
	}
	n = idx + 1
	r.HeaderLen = n
	if n < 4 {
		return n, ErrBadFormat
	}
	req := buf[:n]
	end := idx
	if req[idx-1] == '\r' {
		end--
	}
	cl := bytes.IndexByte(req[:end], ' ')
	if cl < 0 {
		cl = end
	}
	// The parser's token arrays live in r and are not cleared: a parse
	// reads only the tokens it wrote (below p.nt). A parser on the stack
	// would be zeroed and copied, 1.5 KB of stores per request.
	p := &r.p
	p.buf, p.req, p.r, p.nt = buf, req, r, 0
	return p.parse(req[:cl])
}

// MultiGetLine reports whether a line memcached holds more than MaxLineLen
// bytes of without its newline is one it keeps reading (up to 100 leading
// spaces, then "get " or "gets ") rather than closing the connection.
func MultiGetLine(b []byte) bool {
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

// MaxTokens is how many tokens memcached's tokenizer keeps of a line
// (MCMC_PARSER_MAX_TOKENS less its end cap): further tokens are not seen,
// except the keys of a multi-get, which are read from the line itself.
const MaxTokens = 23

// maxTokenizedLen is how much of a line the tokenizer looks at (its token
// offsets are 16 bits wide).
const maxTokenizedLen = math.MaxUint16 - 1

// noMeta: tokenize without checking meta flags.
const noMeta = 255

// parser holds one Parse call's state.
type parser struct {
	buf []byte // the whole input (a storage command's data follows req)
	req []byte // the request line, newline included
	r   *Request
	tok [MaxTokens][]byte
	off [MaxTokens]int // where each token starts in req
	nt  int
}

// tokenize is mcmc's _mcmc_tokenize_meta: it splits the line at spaces into
// at most MaxTokens tokens. From token mstart on, each token must start
// with a byte from 'A' to 'z' or a digit; otherwise it returns false and
// leaves no token at all (memcached ignores the error and sees an empty
// line).
func (p *parser) tokenize(mstart int) bool {
	l := p.req
	if len(l) > maxTokenizedLen {
		l = l[:maxTokenizedLen]
	}
	end := len(l) - 1
	if len(l) >= 2 && l[len(l)-2] == '\r' {
		end = len(l) - 2
	}
	line := l[:end]
	nt := 0
	for i := 0; i < len(line) && nt < MaxTokens; {
		if line[i] == ' ' {
			i++
			continue
		}
		j := i
		for j < len(line) && line[j] != ' ' {
			j++
		}
		if nt >= mstart {
			if c := line[i]; !(c > 64 && c < 123) && (c < '0' || c > '9') {
				p.nt = 0
				return false
			}
		}
		p.tok[nt] = line[i:j]
		p.off[nt] = i
		nt++
		i = j
	}
	p.nt = nt
	return true
}

// token returns token i, or nil.
func (p *parser) token(i int) []byte {
	if i < p.nt {
		return p.tok[i]
	}
	return nil
}

// noreply is memcached's _process_request_noreply: the last token is
// "noreply".
func (p *parser) noreply() {
	p.r.NoReply = p.nt > 0 && string(p.tok[p.nt-1]) == "noreply"
}

// args keeps the tokens after the command for the server (admin commands).
func (p *parser) args() {
	r := p.r
	for i := 1; i < p.nt && int(r.nargs) < MaxArgs; i++ {
		r.args[r.nargs] = p.tok[i]
		r.nargs++
	}
}

func (p *parser) parse(cmd []byte) (int, error) {
	r := p.r
	n := r.HeaderLen
	switch len(cmd) {
	case 2:
		if cmd[0] != 'm' {
			break
		}
		switch cmd[1] {
		case 'g':
			return n, p.meta(CmdMetaGet)
		case 's':
			return p.metaSet()
		case 'd':
			return n, p.meta(CmdMetaDelete)
		case 'a':
			return n, p.meta(CmdMetaArithmetic)
		case 'e':
			return n, p.metaDebug()
		case 'n':
			r.Command = CmdMetaNoop
			return n, nil
		}
	case 3:
		switch string(cmd) {
		case "get":
			return n, p.get(CmdGet, 1)
		case "gat":
			return n, p.get(CmdGat, 2)
		case "set":
			return p.storage(CmdSet)
		case "add":
			return p.storage(CmdAdd)
		case "cas":
			return p.storage(CmdCas)
		}
	case 4:
		switch string(cmd) {
		case "gets":
			return n, p.get(CmdGets, 1)
		case "gats":
			return n, p.get(CmdGats, 2)
		case "incr":
			return n, p.arith(CmdIncr)
		case "decr":
			return n, p.arith(CmdDecr)
		case "quit":
			r.Command = CmdQuit
			return n, nil
		}
	case 5:
		switch string(cmd) {
		case "touch":
			return n, p.touch()
		case "stats":
			p.tokenize(noMeta)
			r.Command = CmdStats
			p.args()
			return n, nil
		case "watch":
			p.tokenize(noMeta)
			r.Command = CmdWatch
			p.args()
			return n, nil
		}
	case 6:
		switch string(cmd) {
		case "delete":
			return n, p.delete()
		case "append":
			return p.storage(CmdAppend)
		}
	case 7:
		switch string(cmd) {
		case "replace":
			return p.storage(CmdReplace)
		case "prepend":
			return p.storage(CmdPrepend)
		case "version":
			r.Command = CmdVersion
			return n, nil
		}
	}
	return n, p.other()
}

// other handles a line whose command word is none of the above: the
// remaining commands are looked up by their first token (so leading spaces
// are skipped here, unlike above), then an HTTP request closes the
// connection, then ERROR.
func (p *parser) other() error {
	r := p.r
	p.tokenize(noMeta)
	p.noreply()
	if p.nt > 0 {
		switch string(p.tok[0]) {
		case "shutdown":
			r.Command = CmdShutdown
		case "slabs":
			r.Command = CmdSlabs
		case "cache_memlimit":
			r.Command = CmdCacheMemlimit
			v, ok := tokU32(p.token(1))
			if p.nt < 2 || !ok {
				return ErrUnknownCommand
			}
			r.MemLimit = v
		case "flush_all":
			r.Command = CmdFlushAll
			want := 1
			if r.NoReply {
				want = 2
			}
			if p.nt != want {
				v, ok := tok32(p.token(1))
				if p.nt < 2 || !ok {
					return ErrInvalidExptime
				}
				r.Exptime = v
			}
		case "flush_prefix":
			// flush_prefix <prefix> [noreply], or a member's relay:
			// flush_prefix <prefix> relay <origin> <seq> (Args).
			r.Command = CmdFlushPrefix
			want := 2
			if r.NoReply {
				want = 3
			}
			switch {
			case p.nt == want && p.key(1):
			case p.nt == 5 && string(p.tok[2]) == "relay" && p.key(1):
				r.AddArg(p.tok[3])
				r.AddArg(p.tok[4])
			default:
				return ErrBadFormat
			}
		case "lru_crawler":
			r.Command = CmdLruCrawler
		case "verbosity":
			r.Command = CmdVerbosity
			v, ok := tokU32(p.token(1))
			if p.nt < 2 || !ok {
				return ErrBadFormat
			}
			r.Level = v
		case "lru":
			r.Command = CmdLru
		case "refresh_certs":
			r.Command = CmdRefreshCerts
		case "extstore":
			r.Command = CmdExtstore
		case "config":
			r.Command = CmdConfig
		case "cluster":
			r.Command = CmdCluster
		}
		switch r.Command {
		case CmdNone:
		case CmdFlushAll, CmdVerbosity, CmdCacheMemlimit, CmdFlushPrefix:
			return nil // their one argument is parsed above
		default:
			p.args()
			return nil
		}
	}
	if p.nt > 1 && bytes.HasPrefix(p.tok[p.nt-1], []byte("HTTP/")) {
		return ErrHTTP
	}
	return ErrUnknownCommand
}

// key sets r.Key from token i and reports whether it is within MaxKeyLen.
func (p *parser) key(i int) bool {
	p.r.Key = p.token(i)
	return len(p.r.Key) <= MaxKeyLen
}

// get reads get, gets (key token 1) and gat, gats (exptime, then keys
// from token 2). Keys after the first are read from the line itself, so a
// multi-get has no limit on its number of keys.
func (p *parser) get(c Command, keytoken int) error {
	r := p.r
	p.tokenize(noMeta)
	if p.nt < keytoken+1 {
		return ErrBadFormat
	}
	if keytoken == 1 {
		p.noreply() // gat and gats never take noreply
	}
	r.Command = c
	if keytoken == 2 {
		v, ok := tok32(p.tok[1])
		if !ok {
			return ErrInvalidExptime
		}
		r.Exptime = v
	}
	// The first key is the token; the others follow in the line, up to its
	// end (a "\r" just before the newline excluded).
	first := p.tok[keytoken]
	rest := p.req[:len(p.req)-1]
	if len(rest) > 0 && rest[len(rest)-1] == '\r' {
		rest = rest[:len(rest)-1]
	}
	r.Keys = append(r.Keys, first)
	for i := p.off[keytoken] + len(first); i < len(rest); {
		if rest[i] == ' ' {
			i++
			continue
		}
		j := i
		for j < len(rest) && rest[j] != ' ' {
			j++
		}
		r.Keys = append(r.Keys, rest[i:j])
		i = j
	}
	return nil
}

// storage reads set, add, replace, append, prepend and cas: <cmd> <key>
// <flags> <exptime> <bytes> [<cas>] [noreply].
func (p *parser) storage(c Command) (int, error) {
	r := p.r
	n := r.HeaderLen
	p.tokenize(noMeta)
	if p.nt < 5 {
		return n, ErrBadFormat
	}
	vlen, ok := tok32(p.tok[4])
	if !ok || vlen < 0 || vlen > math.MaxInt32-2 {
		return n, ErrBadFormat
	}
	p.noreply()
	r.Command = c
	r.ValueLen = int(vlen)
	// From here on an error swallows the data block: memcached knows how
	// long it is.
	swallow := func(e *Error) (int, error) {
		r.Swallow = r.ValueLen + 2
		return n, e
	}
	if !p.key(1) {
		return swallow(ErrBadFormat)
	}
	// Flags and exptime are read with strtoul/strtol from the token's
	// start; the rest of the line follows the token.
	flags, ok1 := parseUint32(p.tok[2])
	exp, ok2 := parseInt32(p.tok[3])
	if !ok1 || !ok2 {
		return swallow(ErrBadFormat)
	}
	r.ClientFlags = flags
	r.Exptime = exp
	if c == CmdCas {
		cas, ok := tokU64(p.token(5))
		if p.nt < 6 || !ok {
			return swallow(ErrBadFormat)
		}
		r.CAS = cas
	}
	return payload(p.buf, r)
}

// payload takes the data block of a storage command whose header is
// parsed: ValueLen bytes and two more that must be "\r\n".
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

// delete reads delete <key> [noreply]; further tokens are ignored.
func (p *parser) delete() error {
	r := p.r
	p.tokenize(noMeta)
	if p.nt < 2 {
		return ErrBadFormat
	}
	p.noreply()
	r.Command = CmdDelete
	if !p.key(1) {
		return ErrBadFormat
	}
	if p.nt == 5 && string(p.tok[2]) == "relay" {
		// A slabcache member's relay: delete <key> relay <origin> <seq>
		// (memcached ignores the extra tokens and deletes).
		r.AddArg(p.tok[3])
		r.AddArg(p.tok[4])
	}
	return nil
}

// arith reads incr and decr: <cmd> <key> <delta> [noreply].
func (p *parser) arith(c Command) error {
	r := p.r
	p.tokenize(noMeta)
	if p.nt < 3 {
		return ErrBadFormat
	}
	p.noreply()
	r.Command = c
	if !p.key(1) {
		return ErrBadFormat
	}
	d, ok := tokU64(p.tok[2])
	if !ok {
		return ErrInvalidDelta
	}
	r.Delta = d
	return nil
}

// touch reads touch <key> <exptime> [noreply].
func (p *parser) touch() error {
	r := p.r
	p.tokenize(noMeta)
	if p.nt < 3 {
		return ErrBadFormat
	}
	p.noreply()
	r.Command = CmdTouch
	if !p.key(1) {
		return ErrBadFormat
	}
	exp, ok := tok32(p.tok[2])
	if !ok {
		return ErrInvalidExptime
	}
	r.Exptime = exp
	return nil
}
