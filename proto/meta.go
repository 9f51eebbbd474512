package proto

import "math"

// Meta commands (mg ms md ma mn me) as memcached 1.6.45 parses them.
//
// mg, ms, md and ma share one flag parser (_meta_flag_preparse), so each
// accepts every flag any of them knows: b c f h k l O P L q s t u v x I
// without a value and N T R F C E J D M with one (the value is the rest of
// the token, "T30"). A flag seen twice, or a byte >= 127, is a duplicate;
// any other byte is an invalid flag; both end parsing at once. The other
// errors are noted and parsing goes on, the last one noted being reported
// (F keeps whatever was noted before). The tokenizer itself refuses a flag
// token that does not start with a letter from 'A' to 'z' or a digit: the
// line then reads as empty ("CLIENT_ERROR bad command line format").

// meta parses mg, md and ma: <cmd> <key> <flags>*.
func (p *parser) meta(c Command) error {
	r := p.r
	p.tokenize(2)
	if p.nt < 2 {
		return ErrBadFormat
	}
	r.Command = c
	if c == CmdMetaArithmetic {
		r.Delta = 1
	}
	if err := p.metaFlags(2); err != nil {
		if c == CmdMetaArithmetic {
			return ErrInvalidOrDuplicate // memcached's ma says only this
		}
		return err
	}
	if c == CmdMetaArithmetic {
		switch r.Mode {
		case 0, 'I', '+', 'D', '-':
		default:
			return ErrMaInvalidMode
		}
	}
	if r.HasFlag('O') && len(r.Opaque)+1 > MaxOpaqueLen {
		return ErrOpaqueTooLong
	}
	return nil
}

// metaSet parses ms <key> <datalen> <flags>*. Once the data length is
// read, every error swallows the data block.
func (p *parser) metaSet() (int, error) {
	r := p.r
	n := r.HeaderLen
	p.tokenize(3)
	if p.nt < 3 {
		return n, ErrBadFormat
	}
	vlen, ok := tok32(p.tok[2])
	if !ok || vlen < 0 || vlen > math.MaxInt32-2 {
		return n, ErrBadFormat
	}
	r.Command = CmdMetaSet
	r.ValueLen = int(vlen)
	fail := func(e *Error) (int, error) {
		r.Swallow = r.ValueLen + 2
		return n, e
	}
	if err := p.metaFlags(3); err != nil {
		return fail(err)
	}
	switch r.Mode {
	case 0, 'E', 'A', 'P', 'R', 'S':
	default:
		return fail(ErrMsInvalidMode)
	}
	if r.HasFlag('O') && len(r.Opaque)+1 > MaxOpaqueLen {
		return fail(ErrOpaqueTooLong)
	}
	return payload(p.buf, r)
}

// metaDebug parses me <key> [b ...]. As in memcached 1.6.45, the key is
// decoded from base64 only when "b" is the third of at least four tokens.
func (p *parser) metaDebug() error {
	r := p.r
	p.tokenize(2)
	if p.nt < 2 {
		return ErrBadFormat
	}
	r.Command = CmdMetaDebug
	if !p.key(1) {
		return ErrBadFormat
	}
	if p.nt >= 4 && string(p.tok[2]) == "b" {
		k := b64Decode(r.keyBuf[:], r.Key)
		if k == 0 {
			return ErrBadFormat
		}
		r.Key = r.keyBuf[:k]
		r.KeyBinary = true
	}
	return nil
}

// metaFlags is memcached's _meta_flag_preparse over tokens start and on.
func (p *parser) metaFlags(start int) *Error {
	r := p.r
	if !p.key(1) {
		return ErrBadFormat
	}
	if p.nt > MaxMetaTokens {
		return ErrFlagsTooLong
	}
	errv := ErrBadFormat
	failed := false
	for i := start; i < p.nt; i++ {
		t := p.tok[i]
		o := t[0]
		if o >= 127 || r.HasFlag(o) {
			return ErrDuplicateFlag
		}
		r.seen[o>>6] |= 1 << (o & 63)
		r.flags[r.nflags] = o
		r.nflags++
		arg := t[1:]
		switch o {
		case 'b':
			k := b64Decode(r.keyBuf[:], r.Key)
			if k == 0 {
				errv, failed = ErrDecodingKey, true
			}
			r.Key = r.keyBuf[:k]
			r.KeyBinary = true
		case 'N', 'T', 'R':
			v, ok := tok32(arg)
			if len(arg) == 0 || !ok {
				errv, failed = ErrBadToken, true
				break
			}
			switch o {
			case 'N':
				r.VivifyTTL = v
			case 'T':
				r.Exptime = v
			default:
				r.RecacheTTL = v
			}
		case 'O':
			r.Opaque = arg
		case 'l', 'P', 'L', 'k', 's', 't', 'c', 'f', 'v', 'h', 'u', 'q', 'x', 'I':
		case 'A', 'G':
			// slabcache's md A (flush the namespace the key names) and
			// md G (delete in every region); invalid flags everywhere
			// else, as in memcached.
			if r.Command != CmdMetaDelete {
				return ErrInvalidFlag
			}
		case 'H':
			// slabcache's ms H: a previous owner's hand-over push,
			// taken by a cluster member (AcceptPush).
			if r.Command != CmdMetaSet || !r.AcceptPush {
				return ErrInvalidFlag
			}
		case 'F':
			v, ok := tokU32(arg)
			if len(arg) == 0 || !ok {
				failed = true // memcached keeps the error noted before
				break
			}
			r.ClientFlags = v
		case 'C', 'E', 'J', 'D':
			v, ok := tokU64(arg)
			if len(arg) == 0 || !ok {
				failed = true
				switch o {
				case 'J':
					errv = ErrInvalidInitial
				case 'D':
					errv = ErrInvalidDeltaValue
				default:
					errv = ErrBadToken
				}
				break
			}
			switch o {
			case 'C':
				r.CAS = v
			case 'E':
				r.CASIn = v
			case 'J':
				r.Initial = v
			default:
				r.Delta = v
			}
		case 'M':
			// The byte after M, whatever it is; a space when M stands
			// alone, also at the end of the line (no mode means the
			// default, whichever byte ends the token).
			r.Mode = p.req[p.off[i]+1]
			if r.Mode == '\r' || r.Mode == '\n' {
				r.Mode = ' '
			}
		default:
			return ErrInvalidFlag
		}
	}
	if failed {
		return errv
	}
	return nil
}
