package proto

import (
	"encoding/base64"
	"fmt"
	"strconv"
)

// Client side: request encoders. AppendRequest writes any Request the way
// Parse reads it back, so a client builds a Request (Command, Key or Keys,
// the fields its command uses, AddFlag for meta flags, AddArg for admin
// arguments) and appends it to its output buffer.

// AppendRequest appends the wire form of r to dst. Storage commands write
// len(r.Value) as the data length and r.Value as the data block; meta keys
// are written in base64 when the b flag is set; flush_all writes its delay
// only when Exptime is not 0; "noreply" is written when NoReply is set
// (for the commands that take it). A Request with CmdNone appends nothing.
func AppendRequest(dst []byte, r *Request) []byte {
	c := r.Command
	switch {
	case c == CmdNone || c >= numCommands:
		return dst
	case c.IsRetrieval():
		dst = append(dst, c.String()...)
		if c == CmdGat || c == CmdGats {
			dst = append(dst, ' ')
			dst = strconv.AppendInt(dst, int64(r.Exptime), 10)
		}
		for _, k := range r.Keys {
			dst = append(dst, ' ')
			dst = append(dst, k...)
		}
		return append(dst, crlf...)
	case c >= CmdSet && c <= CmdCas:
		dst = append(dst, c.String()...)
		dst = append(dst, ' ')
		dst = append(dst, r.Key...)
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, uint64(r.ClientFlags), 10)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(r.Exptime), 10)
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, uint64(len(r.Value)), 10)
		if c == CmdCas {
			dst = append(dst, ' ')
			dst = strconv.AppendUint(dst, r.CAS, 10)
		}
		dst = appendNoreply(dst, r)
		dst = append(dst, r.Value...)
		return append(dst, crlf...)
	}
	dst = append(dst, c.String()...)
	switch c {
	case CmdDelete, CmdFlushPrefix:
		dst = append(dst, ' ')
		dst = append(dst, r.Key...)
		if a := r.Args(); len(a) == 2 {
			dst = append(dst, " relay "...)
			dst = append(dst, a[0]...)
			dst = append(dst, ' ')
			dst = append(dst, a[1]...)
		}
		return appendNoreply(dst, r)
	case CmdIncr, CmdDecr:
		dst = append(dst, ' ')
		dst = append(dst, r.Key...)
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, r.Delta, 10)
		return appendNoreply(dst, r)
	case CmdTouch:
		dst = append(dst, ' ')
		dst = append(dst, r.Key...)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(r.Exptime), 10)
		return appendNoreply(dst, r)
	case CmdFlushAll:
		if r.Exptime != 0 {
			dst = append(dst, ' ')
			dst = strconv.AppendInt(dst, int64(r.Exptime), 10)
		}
		return appendNoreply(dst, r)
	case CmdVerbosity:
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, uint64(r.Level), 10)
		return appendNoreply(dst, r)
	case CmdCacheMemlimit:
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, uint64(r.MemLimit), 10)
		return appendNoreply(dst, r)
	case CmdVersion, CmdQuit, CmdMetaNoop:
		return append(dst, crlf...)
	case CmdMetaDebug:
		dst = append(dst, ' ')
		if r.KeyBinary {
			// memcached 1.6.45 decodes me's key only when "b" is the
			// third of at least four tokens; the fourth is not read.
			dst = appendBase64(dst, r.Key)
			dst = append(dst, " b b"...)
		} else {
			dst = append(dst, r.Key...)
		}
		return append(dst, crlf...)
	case CmdMetaGet, CmdMetaDelete, CmdMetaArithmetic, CmdMetaSet:
		dst = append(dst, ' ')
		if r.HasFlag('b') {
			dst = appendBase64(dst, r.Key)
		} else {
			dst = append(dst, r.Key...)
		}
		if c == CmdMetaSet {
			dst = append(dst, ' ')
			dst = strconv.AppendUint(dst, uint64(len(r.Value)), 10)
		}
		dst = appendMetaFlags(dst, r)
		dst = append(dst, crlf...)
		if c == CmdMetaSet {
			dst = append(dst, r.Value...)
			dst = append(dst, crlf...)
		}
		return dst
	}
	// Admin commands.
	for _, a := range r.Args() {
		dst = append(dst, ' ')
		dst = append(dst, a...)
	}
	return append(dst, crlf...)
}

func appendNoreply(dst []byte, r *Request) []byte {
	if r.NoReply {
		dst = append(dst, " noreply"...)
	}
	return append(dst, crlf...)
}

func appendMetaFlags(dst []byte, r *Request) []byte {
	for _, f := range r.MetaFlags() {
		dst = append(dst, ' ', f)
		switch f {
		case 'O':
			dst = append(dst, r.Opaque...)
		case 'T':
			dst = strconv.AppendInt(dst, int64(r.Exptime), 10)
		case 'N':
			dst = strconv.AppendInt(dst, int64(r.VivifyTTL), 10)
		case 'R':
			dst = strconv.AppendInt(dst, int64(r.RecacheTTL), 10)
		case 'F':
			dst = strconv.AppendUint(dst, uint64(r.ClientFlags), 10)
		case 'C':
			dst = strconv.AppendUint(dst, r.CAS, 10)
		case 'E':
			dst = strconv.AppendUint(dst, r.CASIn, 10)
		case 'J':
			dst = strconv.AppendUint(dst, r.Initial, 10)
		case 'D':
			dst = strconv.AppendUint(dst, r.Delta, 10)
		case 'M':
			// A space is Parse's mark for M on its own; any other byte,
			// a NUL too (memcached reads "M\x00" as the default mode),
			// follows the letter.
			if r.Mode != ' ' {
				dst = append(dst, r.Mode)
			}
		}
	}
	return dst
}

// AppendGetRequest appends "get <key>\r\n".
func AppendGetRequest(dst, key []byte) []byte {
	dst = append(dst, "get "...)
	dst = append(dst, key...)
	return append(dst, crlf...)
}

// AppendSetRequest appends "set <key> <flags> <exptime> <len>[ noreply]\r\n
// <value>\r\n".
func AppendSetRequest(dst, key []byte, flags uint32, exptime int32, value []byte, noreply bool) []byte {
	dst = append(dst, "set "...)
	dst = append(dst, key...)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(flags), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(exptime), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(len(value)), 10)
	if noreply {
		dst = append(dst, " noreply"...)
	}
	dst = append(dst, crlf...)
	dst = append(dst, value...)
	return append(dst, crlf...)
}

// ValidKey reports whether key is safe to send in a text-protocol request:
// 1 to MaxKeyLen bytes, none of them a space, a control byte or DEL.
// memcached itself only refuses length, space and newline problems, but
// clients (libmemcached, pymemcache) refuse control bytes too, and a key
// ending in '\r' would be read back differently at the end of a line. Use
// the meta b flag (base64) for arbitrary binary keys up to
// MaxBinaryKeyLen bytes.
func ValidKey(key []byte) bool {
	if len(key) == 0 || len(key) > MaxKeyLen {
		return false
	}
	for _, c := range key {
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// AppendQuietDeletes appends, for each key, `md <key> q` (with b and the
// key in base64 when the text protocol cannot carry it as it is) and then
// `mn`: deletes of many keys in one write, answered (QuietDeleteReply)
// only with NF for a key that was not there and where one fails, then MN.
// Every key must be QuietDeletable.
func AppendQuietDeletes(dst []byte, keys []string) []byte {
	for _, k := range keys {
		dst = append(dst, "md "...)
		if ValidKey([]byte(k)) {
			dst = append(dst, k...)
			dst = append(dst, " q\r\n"...)
			continue
		}
		dst = base64.StdEncoding.AppendEncode(dst, []byte(k))
		dst = append(dst, " b q\r\n"...)
	}
	return append(dst, "mn\r\n"...)
}

// QuietDeleteReply reports whether rp, read after AppendQuietDeletes
// requests, is the MN that ends them (done), one of the statuses a quiet
// delete still sends (NF for a key that was not there: done false, nil
// error), or a failure.
func QuietDeleteReply(rp *Reply) (done bool, err error) {
	switch {
	case rp.Kind == ReplyMeta && rp.Status == StatusMN:
		return true, nil
	case rp.Kind == ReplyMeta && (rp.Status == StatusNF || rp.Status == StatusHD):
		return false, nil
	}
	return false, fmt.Errorf("proto: a quiet delete answered %q", rp.Line)
}

// QuietDeletable reports whether AppendQuietDeletes can write a delete of
// key: any key the text protocol takes as it is, and any other of at most
// MaxBinaryKeyLen bytes (a longer key with a space or a control byte comes
// only from the binary protocol and has no text form).
func QuietDeletable(key string) bool {
	return ValidKey([]byte(key)) || len(key) > 0 && len(key) <= MaxBinaryKeyLen
}
