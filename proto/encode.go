package proto

import "strconv"

// Reply encoders. Each appends one reply, "\r\n" included, to dst and
// returns the extended slice; none allocates when dst has room.

const crlf = "\r\n"

// Status is a one-word reply line, or the code of a meta reply.
type Status uint8

// The status lines.
const (
	StatusNone Status = iota
	StatusStored
	StatusNotStored
	StatusExists
	StatusNotFound
	StatusDeleted
	StatusTouched
	StatusOK
	StatusEnd
	StatusReset // stats reset
	// Meta codes.
	StatusHD // success, no value
	StatusVA // value follows
	StatusEN // miss
	StatusNS // not stored
	StatusEX // exists (CAS mismatch)
	StatusNF // not found
	StatusMN // meta no-op
	numStatus
)

var statusWords = [numStatus]string{
	StatusNone:      "",
	StatusStored:    "STORED",
	StatusNotStored: "NOT_STORED",
	StatusExists:    "EXISTS",
	StatusNotFound:  "NOT_FOUND",
	StatusDeleted:   "DELETED",
	StatusTouched:   "TOUCHED",
	StatusOK:        "OK",
	StatusEnd:       "END",
	StatusReset:     "RESET",
	StatusHD:        "HD",
	StatusVA:        "VA",
	StatusEN:        "EN",
	StatusNS:        "NS",
	StatusEX:        "EX",
	StatusNF:        "NF",
	StatusMN:        "MN",
}

// String returns the word as sent ("STORED", "HD", ...).
func (s Status) String() string {
	if s < numStatus {
		return statusWords[s]
	}
	return ""
}

// AppendStatus appends the line of s ("STORED\r\n"). For StatusVA, which
// carries a length, use AppendMetaReply.
func AppendStatus(dst []byte, s Status) []byte {
	dst = append(dst, s.String()...)
	return append(dst, crlf...)
}

// AppendStored appends "STORED\r\n".
func AppendStored(dst []byte) []byte { return append(dst, "STORED\r\n"...) }

// AppendNotStored appends "NOT_STORED\r\n".
func AppendNotStored(dst []byte) []byte { return append(dst, "NOT_STORED\r\n"...) }

// AppendExists appends "EXISTS\r\n".
func AppendExists(dst []byte) []byte { return append(dst, "EXISTS\r\n"...) }

// AppendNotFound appends "NOT_FOUND\r\n".
func AppendNotFound(dst []byte) []byte { return append(dst, "NOT_FOUND\r\n"...) }

// AppendDeleted appends "DELETED\r\n".
func AppendDeleted(dst []byte) []byte { return append(dst, "DELETED\r\n"...) }

// AppendTouched appends "TOUCHED\r\n".
func AppendTouched(dst []byte) []byte { return append(dst, "TOUCHED\r\n"...) }

// AppendOK appends "OK\r\n".
func AppendOK(dst []byte) []byte { return append(dst, "OK\r\n"...) }

// AppendEnd appends "END\r\n", the end of a get or stats reply.
func AppendEnd(dst []byte) []byte { return append(dst, "END\r\n"...) }

// AppendError appends e's reply line (nothing for errors that close
// silently).
func AppendError(dst []byte, e *Error) []byte { return append(dst, e.reply...) }

// AppendServerError appends "SERVER_ERROR <msg>\r\n", for a failure
// that has no fixed text (an Error value covers every fixed one).
func AppendServerError(dst []byte, msg string) []byte {
	dst = append(dst, "SERVER_ERROR "...)
	dst = append(dst, msg...)
	return append(dst, crlf...)
}

// AppendValueHeader appends "VALUE <key> <flags> <n>\r\n", the line before
// a get hit's data block.
func AppendValueHeader(dst, key []byte, flags uint32, n int) []byte {
	return append(appendValuePrefix(dst, key, flags, n), crlf...)
}

// AppendValueHeaderCAS appends "VALUE <key> <flags> <n> <cas>\r\n" (gets,
// gats).
func AppendValueHeaderCAS(dst, key []byte, flags uint32, n int, cas uint64) []byte {
	dst = appendValuePrefix(dst, key, flags, n)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, cas, 10)
	return append(dst, crlf...)
}

func appendValuePrefix(dst, key []byte, flags uint32, n int) []byte {
	dst = append(dst, "VALUE "...)
	dst = append(dst, key...)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(flags), 10)
	dst = append(dst, ' ')
	return strconv.AppendUint(dst, uint64(n), 10)
}

// AppendValue appends a data block and its "\r\n" (after AppendValueHeader
// or a VA reply).
func AppendValue(dst, data []byte) []byte {
	dst = append(dst, data...)
	return append(dst, crlf...)
}

// AppendNumber appends "<v>\r\n", the reply of incr and decr.
func AppendNumber(dst []byte, v uint64) []byte {
	dst = strconv.AppendUint(dst, v, 10)
	return append(dst, crlf...)
}

// AppendVersion appends "VERSION <version>\r\n".
func AppendVersion(dst []byte, version string) []byte {
	dst = append(dst, "VERSION "...)
	dst = append(dst, version...)
	return append(dst, crlf...)
}

func appendStatName(dst []byte, name string) []byte {
	dst = append(dst, "STAT "...)
	dst = append(dst, name...)
	return append(dst, ' ')
}

// AppendStat appends "STAT <name> <value>\r\n".
func AppendStat(dst []byte, name, value string) []byte {
	dst = appendStatName(dst, name)
	dst = append(dst, value...)
	return append(dst, crlf...)
}

// AppendStatBytes is AppendStat with a byte-slice value.
func AppendStatBytes(dst []byte, name string, value []byte) []byte {
	dst = appendStatName(dst, name)
	dst = append(dst, value...)
	return append(dst, crlf...)
}

// AppendStatUint appends "STAT <name> <v>\r\n".
func AppendStatUint(dst []byte, name string, v uint64) []byte {
	dst = appendStatName(dst, name)
	dst = strconv.AppendUint(dst, v, 10)
	return append(dst, crlf...)
}

// AppendStatInt appends "STAT <name> <v>\r\n" for a signed value.
func AppendStatInt(dst []byte, name string, v int64) []byte {
	dst = appendStatName(dst, name)
	dst = strconv.AppendInt(dst, v, 10)
	return append(dst, crlf...)
}

// AppendStatMicros appends "STAT <name> <s>.<us>\r\n" with six digits of
// microseconds, the form of memcached's rusage_user and rusage_system.
func AppendStatMicros(dst []byte, name string, micros uint64) []byte {
	dst = appendStatName(dst, name)
	dst = strconv.AppendUint(dst, micros/1e6, 10)
	dst = append(dst, '.')
	frac := micros % 1e6
	for d := uint64(100000); d > 1 && frac < d; d /= 10 {
		dst = append(dst, '0')
	}
	dst = strconv.AppendUint(dst, frac, 10)
	return append(dst, crlf...)
}

// AppendStatID appends "STAT <id>:<name> <value>\r\n", the form of
// `stats conns` lines (id is a file descriptor).
func AppendStatID(dst []byte, id int, name, value string) []byte {
	dst = append(dst, "STAT "...)
	dst = strconv.AppendInt(dst, int64(id), 10)
	dst = append(dst, ':')
	dst = append(dst, name...)
	dst = append(dst, ' ')
	dst = append(dst, value...)
	return append(dst, crlf...)
}

// AppendStatClass appends "STAT <prefix><id>:<name> <v>\r\n", the form of
// per-class lines: prefix "items:" for stats items, "" for stats slabs.
func AppendStatClass(dst []byte, prefix string, id int, name string, v uint64) []byte {
	dst = append(dst, "STAT "...)
	dst = append(dst, prefix...)
	dst = strconv.AppendInt(dst, int64(id), 10)
	dst = append(dst, ':')
	dst = append(dst, name...)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, v, 10)
	return append(dst, crlf...)
}

// AppendConfig appends an ElastiCache discovery reply:
// "CONFIG <name> 0 <len>\r\n<data>\r\nEND\r\n". For "config get cluster"
// data is "<version>\n<host>|<ip>|<port> ...\n".
func AppendConfig(dst []byte, name string, data []byte) []byte {
	dst = append(dst, "CONFIG "...)
	dst = append(dst, name...)
	dst = append(dst, " 0 "...)
	dst = strconv.AppendUint(dst, uint64(len(data)), 10)
	dst = append(dst, crlf...)
	dst = append(dst, data...)
	return append(dst, "\r\nEND\r\n"...)
}

// MetaItem is what a meta reply reports about the item, for the return
// flags that ask for it. The server fills in what the request's flags
// need.
type MetaItem struct {
	Size        int    // s: value length
	CAS         uint64 // c (ms and ma: the CAS after the change; ms NS/EX/NF: 0)
	ClientFlags uint32 // f
	LastAccess  uint64 // l: seconds since the last access
	Fetched     bool   // h: fetched before this request
	KeyBinary   bool   // mg hit: the item was stored with a binary key
	// t reports the seconds left (-1: never) as they stand where t is in
	// the request: TTL before this request's T and N, TouchTTL after a T,
	// VivifyTTL after an N that created the item (Created), as memcached
	// applies the flags in order while it writes the reply.
	TTL, TouchTTL, VivifyTTL int64
	Created                  bool
	// mg only, appended after the flags in this order:
	AlreadyWon bool // Z: another client already has the recache token
	Stale      bool // X: the item is stale (md with I)
	Won        bool // W: this client won the recache token
}

// AppendMetaReply appends the status line of a meta reply to r: code ("VA
// <valueLen>" for StatusVA), then, in r's flag order, the return flags its
// command reports, then "\r\n". For StatusVA append the value next with
// AppendValue.
//
// it is the item for a hit (mg HD/VA, ma HD/VA) and for a stored ms; pass
// nil for misses and errors and for md, which then echo only O and k, as
// memcached does. Return flags per command, as memcached 1.6.45 writes
// them: mg s t c f l h O k (then Z X W); ms O k c s; md O k; ma c t O k.
// k echoes the key, in base64 followed by " b" when it is binary (mg hit:
// it.KeyBinary; otherwise the request's b flag).
func AppendMetaReply(dst []byte, code Status, valueLen int, r *Request, it *MetaItem) []byte {
	dst = append(dst, code.String()...)
	if code == StatusVA {
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, uint64(valueLen), 10)
	}
	keyBinary := r.KeyBinary
	if it != nil && r.Command == CmdMetaGet {
		keyBinary = it.KeyBinary
	}
	var ttl int64
	if it != nil {
		ttl = it.TTL
	}
	for _, f := range r.MetaFlags() {
		switch f {
		case 'O':
			dst = append(dst, " O"...)
			dst = append(dst, r.Opaque...)
			continue
		case 'k':
			dst = append(dst, " k"...)
			if keyBinary {
				dst = appendBase64(dst, r.Key)
				dst = append(dst, " b"...)
			} else {
				dst = append(dst, r.Key...)
			}
			continue
		}
		if it == nil {
			continue
		}
		switch {
		case f == 'T' && (r.Command == CmdMetaGet || r.Command == CmdMetaArithmetic):
			ttl = it.TouchTTL
		case f == 'N' && it.Created && (r.Command == CmdMetaGet || r.Command == CmdMetaArithmetic):
			ttl = it.VivifyTTL
		case r.Command == CmdMetaGet:
			dst = appendItemFlag(dst, f, it, ttl)
		case r.Command == CmdMetaSet && (f == 'c' || f == 's'):
			dst = appendItemFlag(dst, f, it, ttl)
		case r.Command == CmdMetaArithmetic && (f == 'c' || f == 't'):
			dst = appendItemFlag(dst, f, it, ttl)
		}
	}
	if it != nil && r.Command == CmdMetaGet {
		if it.AlreadyWon {
			dst = append(dst, " Z"...)
		}
		if it.Stale {
			dst = append(dst, " X"...)
		}
		if it.Won {
			dst = append(dst, " W"...)
		}
	}
	return append(dst, crlf...)
}

func appendItemFlag(dst []byte, f byte, it *MetaItem, ttl int64) []byte {
	switch f {
	case 's':
		dst = append(dst, " s"...)
		return strconv.AppendUint(dst, uint64(it.Size), 10)
	case 't':
		dst = append(dst, " t"...)
		return strconv.AppendInt(dst, ttl, 10)
	case 'c':
		dst = append(dst, " c"...)
		return strconv.AppendUint(dst, it.CAS, 10)
	case 'f':
		dst = append(dst, " f"...)
		return strconv.AppendUint(dst, uint64(it.ClientFlags), 10)
	case 'l':
		dst = append(dst, " l"...)
		return strconv.AppendUint(dst, it.LastAccess, 10)
	case 'h':
		if it.Fetched {
			return append(dst, " h1"...)
		}
		return append(dst, " h0"...)
	}
	return dst
}

// AppendMetaNoop appends "MN\r\n".
func AppendMetaNoop(dst []byte) []byte { return append(dst, "MN\r\n"...) }

// MetaDebug is what me reports about an item.
type MetaDebug struct {
	Key        []byte // the key as stored (decoded)
	KeyBinary  bool   // print the key in base64
	Exp        int64  // exp=: -1 for no expiry, else the seconds left
	LastAccess uint64 // la=: seconds since last access
	CAS        uint64
	Fetched    bool
	Class      uint32 // cls=: slab class
	Size       uint64 // size=: total item size in memory
}

// AppendMetaDebug appends the me hit line "ME <key> exp=<e> la=<l>
// cas=<c> fetch=<yes|no> cls=<id> size=<n>\r\n". A miss is
// AppendStatus(dst, StatusEN).
func AppendMetaDebug(dst []byte, d *MetaDebug) []byte {
	dst = append(dst, "ME "...)
	if d.KeyBinary {
		dst = appendBase64(dst, d.Key)
	} else {
		dst = append(dst, d.Key...)
	}
	dst = appendItemFields(dst, d.Exp, d.LastAccess, d.CAS, d.Fetched, uint64(d.Class), d.Size)
	return append(dst, crlf...)
}

// appendItemFields appends what me and metadump say of an item after its
// key: " exp=<e> la=<l> cas=<c> fetch=<yes|no> cls=<id> size=<n>".
func appendItemFields(dst []byte, exp int64, la, cas uint64, fetched bool, cls, size uint64) []byte {
	dst = append(dst, " exp="...)
	dst = strconv.AppendInt(dst, exp, 10)
	dst = append(dst, " la="...)
	dst = strconv.AppendUint(dst, la, 10)
	dst = append(dst, " cas="...)
	dst = strconv.AppendUint(dst, cas, 10)
	if fetched {
		dst = append(dst, " fetch=yes cls="...)
	} else {
		dst = append(dst, " fetch=no cls="...)
	}
	dst = strconv.AppendUint(dst, cls, 10)
	dst = append(dst, " size="...)
	return strconv.AppendUint(dst, size, 10)
}

// AppendURIKey appends key URI-encoded as memcached's logger and metadump
// write keys: letters, digits and -._~ as they are, every other byte as
// %XX.
func AppendURIKey(dst, key []byte) []byte {
	for _, b := range key {
		if b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
			b == '-' || b == '.' || b == '_' || b == '~' {
			dst = append(dst, b)
			continue
		}
		const hex = "0123456789ABCDEF"
		dst = append(dst, '%', hex[b>>4], hex[b&15])
	}
	return dst
}

// DumpItem is one item of `lru_crawler metadump`.
type DumpItem struct {
	Key        []byte
	Exptime    int64 // Unix time, -1 for never
	LastAccess int64 // Unix time
	CAS        uint64
	Fetched    bool
	Class      int
	Size       int    // as memcached counts it
	Flags      uint32 // client flags
}

// AppendMetadumpLine appends one line of `lru_crawler metadump`:
// "key=<uri key> exp=<t> la=<t> cas=<n> fetch=yes|no cls=<id> size=<n>
// flags=<n> \n" (memcached ends these lines with a space and a bare
// newline; the dump ends with END\r\n).
func AppendMetadumpLine(dst []byte, d *DumpItem) []byte {
	dst = append(dst, "key="...)
	dst = AppendURIKey(dst, d.Key)
	dst = appendItemFields(dst, d.Exptime, uint64(d.LastAccess), d.CAS, d.Fetched, uint64(d.Class), uint64(d.Size))
	dst = append(dst, " flags="...)
	dst = strconv.AppendUint(dst, uint64(d.Flags), 10)
	return append(dst, ' ', '\n')
}

// AppendDetailPrefix appends one line of `stats detail dump`: "PREFIX
// <prefix> get <n> hit <n> set <n> del <n>\r\n".
func AppendDetailPrefix(dst []byte, prefix string, get, hit, set, del uint64) []byte {
	dst = append(dst, "PREFIX "...)
	dst = append(dst, prefix...)
	dst = append(dst, " get "...)
	dst = strconv.AppendUint(dst, get, 10)
	dst = append(dst, " hit "...)
	dst = strconv.AppendUint(dst, hit, 10)
	dst = append(dst, " set "...)
	dst = strconv.AppendUint(dst, set, 10)
	dst = append(dst, " del "...)
	dst = strconv.AppendUint(dst, del, 10)
	return append(dst, crlf...)
}

// AppendCachedumpLine appends one line of `stats cachedump`: "ITEM <key>
// [<bytes> b; <exptime> s]\r\n", exptime a Unix time, 0 for never.
func AppendCachedumpLine(dst, key []byte, n int, exptime int64) []byte {
	dst = append(dst, "ITEM "...)
	dst = append(dst, key...)
	dst = append(dst, " ["...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, " b; "...)
	dst = strconv.AppendInt(dst, exptime, 10)
	return append(dst, " s]\r\n"...)
}
