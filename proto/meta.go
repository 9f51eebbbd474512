package proto

import "math"

// Meta commands (mg ms md ma mn me) as memcached 1.6.18 parses them.
//
// All of mg, ms, md and ma share one flag parser (_meta_flag_preparse), so
// each accepts every flag any of them knows: b c f h k l O q s t u v I P L
// without a value and N T R F C J D M with one (the value is the rest of the
// token, "T30"). A flag seen twice, or a byte >= 127, is a duplicate; any
// other letter is invalid. The first duplicate or invalid flag ends
// parsing; the other errors are noted and parsing goes on, the last one
// noted being reported.
//
// Differences from newer memcached (protocol.txt at HEAD), where 1.6.18's
// behaviour is kept because that is what clients meet today and what the
// differential tests compare against: the E flag (explicit new CAS) and md's
// x flag (drop the value, keep the item) are invalid flags; ms and ma modes
// are upper case only ("Ms" is an invalid mode); md and ma report every flag
// error as "invalid or duplicate flag"; a too long opaque is reported by mg
// and ma only after the lookup or arithmetic has been done (here it is
// refused before anything happens).

// parseMeta parses mg, md and ma.
func parseMeta(tk [][]byte, c Command, r *Request) (int, error) {
	n := r.HeaderLen
	if len(tk) < 2 {
		return n, ErrUnknownCommand
	}
	r.Command = c
	if len(tk[1]) > MaxKeyLen {
		return n, ErrBadFormat
	}
	if len(tk) > MaxMetaTokens {
		if c == CmdMetaGet {
			return n, ErrMgFlagsTooLong
		}
		return n, ErrFlagsTooLong
	}
	r.Key = tk[1]
	if c == CmdMetaArithmetic {
		r.Delta = 1
	}
	if err := metaFlags(tk[2:], r); err != nil {
		if c == CmdMetaGet {
			return n, err
		}
		return n, ErrInvalidOrDuplicate
	}
	if c == CmdMetaArithmetic {
		switch r.Mode {
		case 0, 'I', '+', 'D', '-':
		default:
			return n, ErrMaInvalidMode
		}
	}
	if r.HasFlag('O') && len(r.Opaque)+1 > MaxOpaqueLen {
		return n, ErrOpaqueTooLong
	}
	return n, nil
}

// parseMetaSet parses ms <key> <datalen> <flags>*.
func parseMetaSet(buf []byte, tk [][]byte, r *Request) (int, error) {
	n := r.HeaderLen
	if len(tk) < 2 {
		return n, ErrUnknownCommand
	}
	r.Command = CmdMetaSet
	if len(tk[1]) > MaxKeyLen || len(tk) == 2 {
		return n, ErrBadFormat
	}
	if len(tk) > MaxMetaTokens {
		return n, ErrFlagsTooLong
	}
	r.Key = tk[1]
	vlen, ok := parseInt32(tk[2])
	if !ok || vlen < 0 || vlen > math.MaxInt32-2 {
		return n, ErrBadFormat
	}
	r.ValueLen = int(vlen)
	// From here on memcached swallows the data block after an error.
	if err := metaFlags(tk[3:], r); err != nil {
		r.Swallow = r.ValueLen + 2
		return n, err
	}
	opaqueTooLong := r.HasFlag('O') && len(r.Opaque)+1 > MaxOpaqueLen
	switch r.Mode {
	case 0, 'E', 'A', 'P', 'R', 'S':
	default:
		r.Swallow = r.ValueLen + 2
		return n, ErrMsInvalidMode
	}
	if opaqueTooLong {
		r.Swallow = r.ValueLen + 2
		return n, ErrOpaqueTooLong
	}
	return payload(buf, r)
}

// parseMetaDebug parses me <key> [b].
func parseMetaDebug(tk [][]byte, r *Request) (int, error) {
	n := r.HeaderLen
	r.Command = CmdMetaDebug
	if len(tk) < 2 || len(tk[1]) > MaxKeyLen {
		return n, ErrBadFormat
	}
	r.Key = tk[1]
	if len(tk) >= 3 && string(tk[2]) == "b" {
		k := b64Decode(r.keyBuf[:], r.Key)
		if k == 0 {
			return n, ErrBadFormat
		}
		r.Key = r.keyBuf[:k]
		r.KeyBinary = true
	}
	return n, nil
}

// metaFlags is memcached's _meta_flag_preparse over the flag tokens.
func metaFlags(tk [][]byte, r *Request) *Error {
	errv := ErrBadFormat
	failed := false
	for _, t := range tk {
		o := t[0]
		if o >= 127 || r.HasFlag(o) {
			return ErrDuplicateFlag
		}
		r.seen[o>>6] |= 1 << (o & 63)
		r.flags[r.nflags] = o
		r.nflags++
		switch o {
		case 'b':
			k := b64Decode(r.keyBuf[:], r.Key)
			if k == 0 {
				errv, failed = ErrDecodingKey, true
			}
			r.Key = r.keyBuf[:k]
			r.KeyBinary = true
		case 'N', 'T', 'R':
			v, ok := parseInt32(t[1:])
			if !ok {
				errv, failed = ErrBadToken, true
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
			r.Opaque = t[1:]
		case 'l', 'P', 'L', 'k', 's', 't', 'c', 'f', 'v', 'h', 'u', 'q', 'I':
		case 'F':
			v, ok := parseUint32(t[1:])
			if !ok {
				failed = true // memcached keeps the previous error text
			}
			r.ClientFlags = v
		case 'M':
			if len(t) != 2 {
				errv, failed = ErrMTokenLength, true
			} else {
				r.Mode = t[1]
			}
		case 'C', 'J', 'D':
			v, ok := parseUint64(t[1:])
			switch o {
			case 'C':
				r.CAS = v
				if !ok {
					errv, failed = ErrBadToken, true
				}
			case 'J':
				r.Initial = v
				if !ok {
					errv, failed = ErrInvalidInitial, true
				}
			default:
				r.Delta = v
				if !ok {
					errv, failed = ErrInvalidDeltaValue, true
				}
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
