package proto

import (
	"encoding/binary"
	"errors"
	"strconv"
)

// The binary protocol (deprecated by memcached since 1.6.0, still served by
// memcached 1.6.45 on the same port as the text protocol: a connection
// whose first byte is BinReqMagic speaks it).
//
// Every packet is a 24-byte header followed by a body made of, in order,
// the extras, the key and the value:
//
//	byte  0     magic (BinReqMagic or BinResMagic)
//	byte  1     opcode
//	bytes 2-3   key length
//	byte  4     extras length
//	byte  5     data type (0, raw bytes)
//	bytes 6-7   request: vbucket (ignored by memcached); response: status
//	bytes 8-11  total body length (extras + key + value)
//	bytes 12-15 opaque, echoed in the response
//	bytes 16-23 CAS
//
// All numbers are big-endian.
//
// # Server side
//
// ParseBinary reads one request into a reusable BinRequest:
//
//	var r proto.BinRequest // one per connection
//	for {
//		n, err := proto.ParseBinary(buf, &r)
//		if err == proto.ErrIncomplete {
//			// Wait for r.Need more bytes. If r.HeaderLen > 0 the header,
//			// extras and key of a request carrying a value are in and
//			// valid: an oversize value can be refused now (reply
//			// BinStatusE2BIG, drop r.HeaderLen bytes, discard r.ValueLen
//			// more as they arrive).
//			break
//		}
//		if e, ok := err.(*proto.BinError); ok {
//			if !e.Silent() {
//				out = proto.AppendBinError(out, r.Opcode, e.Status, r.Opaque)
//			}
//			if e.Close() { /* close after writing out */ }
//			buf = buf[n:] // then discard r.Swallow more bytes
//			continue
//		}
//		buf = buf[n:]
//		switch r.Base() { ... } // execute, appending responses to out
//	}
//
// Semantics the server must add, as memcached 1.6.45 does:
//
//   - Responses carry the request's own opcode (GETQ, not GET) and opaque.
//   - A quiet opcode (Quiet) hides the success response, except the hit of
//     GETQ, GETKQ, GATQ and GATKQ, and hides the miss of those four; it
//     never hides an error (a DELETEQ miss answers "Not found").
//   - A miss of GETK or GATK (ReturnsKey) answers BinStatusKeyENOENT with
//     the key and no text (AppendBinKeyMiss); other misses carry "Not
//     found" (AppendBinError).
//   - TOUCH answers a hit like GAT with the flags extras but no value.
//   - INCREMENT/DECREMENT on a miss create the item with Initial unless
//     Exptime is 0xffffffff; the response is the new value (AppendBinCounter).
//     A CAS that does not match answers BinStatusKeyEEXISTS.
//   - A non-zero CAS on SET, ADD, REPLACE, APPEND, PREPEND and DELETE must
//     match the item's.
//   - ADD failing answers BinStatusKeyEEXISTS, REPLACE failing
//     BinStatusKeyENOENT, the others BinStatusNotStored. A value over the
//     item size limit answers BinStatusE2BIG, failing to allocate the item
//     BinStatusENOMEM with BinOOMItem; either way the value is discarded
//     and SET also unlinks the old item.
//   - FLUSH under -F answers BinStatusAuthError ("Auth failure.").
//   - NOOP and QUIT flush the pending output; QUIT (and QUITQ) close after.
//   - STAT with no key sends every general statistic then the terminator
//     (AppendBinStat with empty name and value); an unknown group answers
//     BinStatusKeyENOENT.
//   - SASL: without SASL support, SASL_LIST_MECHS, SASL_AUTH and SASL_STEP
//     answer BinStatusUnknownCommand. With it, the key of SASL_AUTH and
//     SASL_STEP is the mechanism name (over MaxSASLMechLen bytes answers
//     BinStatusEINVAL) and the value the client's data; success answers
//     BinSASLAuthenticated, a further step BinStatusAuthContinue with the
//     server's challenge, a failure BinStatusAuthError. Until authenticated
//     every other opcode but VERSION answers BinStatusAuthError and closes;
//     memcached checks this after ErrBinBadLength and ErrBinBodyTooLarge,
//     so it takes the place of the later errors of ParseBinary.
//
// # Client side
//
// AppendBinRequest encodes a BinRequest and ParseBinResponse decodes one
// response packet into a BinResponse.

// Framing constants of the binary protocol.
const (
	// BinReqMagic is the first byte of every binary request.
	BinReqMagic = 0x80
	// BinResMagic is the first byte of every binary response.
	BinResMagic = 0x81
	// BinHeaderLen is the length of the header of every binary packet.
	BinHeaderLen = 24
	// MaxBinBodyLen is the longest request body memcached accepts
	// (ITEM_SIZE_MAX_UPPER_LIMIT, 1 GiB); a longer one answers
	// BinStatusEINVAL and closes.
	MaxBinBodyLen = 1 << 30
	// MaxBinHeadLen is memcached's read buffer (READ_BUFFER_SIZE): a
	// request whose header, extras and key are longer is never read, and
	// memcached closes without a word once more bytes than this have come.
	MaxBinHeadLen = 16384
	// MaxSASLMechLen is the longest SASL mechanism name (the key of
	// SASL_AUTH and SASL_STEP) a server with SASL accepts.
	MaxSASLMechLen = 32
)

// BinOpcode is the command of a binary packet.
type BinOpcode uint8

// The opcodes of memcached 1.6.45 (protocol_binary.h). The Q variants are
// quiet (see BinOpcode.Quiet).
const (
	BinOpGet           BinOpcode = 0x00
	BinOpSet           BinOpcode = 0x01
	BinOpAdd           BinOpcode = 0x02
	BinOpReplace       BinOpcode = 0x03
	BinOpDelete        BinOpcode = 0x04
	BinOpIncrement     BinOpcode = 0x05
	BinOpDecrement     BinOpcode = 0x06
	BinOpQuit          BinOpcode = 0x07
	BinOpFlush         BinOpcode = 0x08
	BinOpGetQ          BinOpcode = 0x09
	BinOpNoop          BinOpcode = 0x0a
	BinOpVersion       BinOpcode = 0x0b
	BinOpGetK          BinOpcode = 0x0c
	BinOpGetKQ         BinOpcode = 0x0d
	BinOpAppend        BinOpcode = 0x0e
	BinOpPrepend       BinOpcode = 0x0f
	BinOpStat          BinOpcode = 0x10
	BinOpSetQ          BinOpcode = 0x11
	BinOpAddQ          BinOpcode = 0x12
	BinOpReplaceQ      BinOpcode = 0x13
	BinOpDeleteQ       BinOpcode = 0x14
	BinOpIncrementQ    BinOpcode = 0x15
	BinOpDecrementQ    BinOpcode = 0x16
	BinOpQuitQ         BinOpcode = 0x17
	BinOpFlushQ        BinOpcode = 0x18
	BinOpAppendQ       BinOpcode = 0x19
	BinOpPrependQ      BinOpcode = 0x1a
	BinOpTouch         BinOpcode = 0x1c
	BinOpGAT           BinOpcode = 0x1d
	BinOpGATQ          BinOpcode = 0x1e
	BinOpSASLListMechs BinOpcode = 0x20
	BinOpSASLAuth      BinOpcode = 0x21
	BinOpSASLStep      BinOpcode = 0x22
	BinOpGATK          BinOpcode = 0x23
	BinOpGATKQ         BinOpcode = 0x24

	// BinOpVerbosity (4-byte extras: the level) is in the protocol's
	// specification but memcached 1.6.45 does not serve it: ParseBinary
	// reports ErrBinUnknownCommand for it, as for any unknown opcode, after
	// decoding BinRequest.Verbosity.
	BinOpVerbosity BinOpcode = 0x1b
)

var binOpNames = [...]string{
	BinOpGet: "GET", BinOpSet: "SET", BinOpAdd: "ADD", BinOpReplace: "REPLACE",
	BinOpDelete: "DELETE", BinOpIncrement: "INCREMENT", BinOpDecrement: "DECREMENT",
	BinOpQuit: "QUIT", BinOpFlush: "FLUSH", BinOpGetQ: "GETQ", BinOpNoop: "NOOP",
	BinOpVersion: "VERSION", BinOpGetK: "GETK", BinOpGetKQ: "GETKQ",
	BinOpAppend: "APPEND", BinOpPrepend: "PREPEND", BinOpStat: "STAT",
	BinOpSetQ: "SETQ", BinOpAddQ: "ADDQ", BinOpReplaceQ: "REPLACEQ",
	BinOpDeleteQ: "DELETEQ", BinOpIncrementQ: "INCREMENTQ",
	BinOpDecrementQ: "DECREMENTQ", BinOpQuitQ: "QUITQ", BinOpFlushQ: "FLUSHQ",
	BinOpAppendQ: "APPENDQ", BinOpPrependQ: "PREPENDQ", BinOpVerbosity: "VERBOSITY",
	BinOpTouch: "TOUCH", BinOpGAT: "GAT", BinOpGATQ: "GATQ",
	BinOpSASLListMechs: "SASL_LIST_MECHS", BinOpSASLAuth: "SASL_AUTH",
	BinOpSASLStep: "SASL_STEP", BinOpGATK: "GATK", BinOpGATKQ: "GATKQ",
}

// String returns the opcode's protocol name ("GETKQ"), or its value in
// hexadecimal when it has none.
func (op BinOpcode) String() string {
	if int(op) < len(binOpNames) && binOpNames[op] != "" {
		return binOpNames[op]
	}
	return "0x" + strconv.FormatUint(uint64(op), 16)
}

// Quiet reports whether op is a quiet variant: SETQ, ADDQ, REPLACEQ,
// DELETEQ, INCREMENTQ, DECREMENTQ, QUITQ, FLUSHQ, APPENDQ, PREPENDQ, GETQ,
// GETKQ, GATQ or GATKQ.
func (op BinOpcode) Quiet() bool { return op.Base() != op }

// Base returns the non-quiet opcode of a quiet variant (GETKQ gives GETK),
// and op itself otherwise. memcached validates and executes a quiet
// request as its base opcode.
func (op BinOpcode) Base() BinOpcode {
	switch op {
	case BinOpSetQ:
		return BinOpSet
	case BinOpAddQ:
		return BinOpAdd
	case BinOpReplaceQ:
		return BinOpReplace
	case BinOpDeleteQ:
		return BinOpDelete
	case BinOpIncrementQ:
		return BinOpIncrement
	case BinOpDecrementQ:
		return BinOpDecrement
	case BinOpQuitQ:
		return BinOpQuit
	case BinOpFlushQ:
		return BinOpFlush
	case BinOpAppendQ:
		return BinOpAppend
	case BinOpPrependQ:
		return BinOpPrepend
	case BinOpGetQ:
		return BinOpGet
	case BinOpGetKQ:
		return BinOpGetK
	case BinOpGATQ:
		return BinOpGAT
	case BinOpGATKQ:
		return BinOpGATK
	}
	return op
}

// ReturnsKey reports whether responses to op carry the key: GETK, GETKQ,
// GATK and GATKQ, on a hit and on a miss.
func (op BinOpcode) ReturnsKey() bool {
	switch op {
	case BinOpGetK, BinOpGetKQ, BinOpGATK, BinOpGATKQ:
		return true
	}
	return false
}

// BinStatus is the status of a binary response.
type BinStatus uint16

// The response statuses of memcached 1.6.45.
const (
	BinStatusSuccess        BinStatus = 0x00
	BinStatusKeyENOENT      BinStatus = 0x01 // not found
	BinStatusKeyEEXISTS     BinStatus = 0x02 // exists, or CAS mismatch
	BinStatusE2BIG          BinStatus = 0x03 // value too large
	BinStatusEINVAL         BinStatus = 0x04 // invalid arguments
	BinStatusNotStored      BinStatus = 0x05
	BinStatusDeltaBadval    BinStatus = 0x06 // incr/decr on a non-numeric value
	BinStatusAuthError      BinStatus = 0x20
	BinStatusAuthContinue   BinStatus = 0x21
	BinStatusUnknownCommand BinStatus = 0x81
	BinStatusENOMEM         BinStatus = 0x82
)

// String returns the status's protocol name ("KEY_ENOENT"), or its value
// in hexadecimal when it has none.
func (s BinStatus) String() string {
	switch s {
	case BinStatusSuccess:
		return "SUCCESS"
	case BinStatusKeyENOENT:
		return "KEY_ENOENT"
	case BinStatusKeyEEXISTS:
		return "KEY_EEXISTS"
	case BinStatusE2BIG:
		return "E2BIG"
	case BinStatusEINVAL:
		return "EINVAL"
	case BinStatusNotStored:
		return "NOT_STORED"
	case BinStatusDeltaBadval:
		return "DELTA_BADVAL"
	case BinStatusAuthError:
		return "AUTH_ERROR"
	case BinStatusAuthContinue:
		return "AUTH_CONTINUE"
	case BinStatusUnknownCommand:
		return "UNKNOWN_COMMAND"
	case BinStatusENOMEM:
		return "ENOMEM"
	}
	return "0x" + strconv.FormatUint(uint64(s), 16)
}

// Text returns the body memcached sends with an error status, "" for
// BinStatusSuccess, BinStatusAuthContinue and unknown statuses.
func (s BinStatus) Text() string {
	switch s {
	case BinStatusENOMEM:
		return "Out of memory"
	case BinStatusUnknownCommand:
		return "Unknown command"
	case BinStatusKeyENOENT:
		return "Not found"
	case BinStatusEINVAL:
		return "Invalid arguments"
	case BinStatusKeyEEXISTS:
		return "Data exists for key."
	case BinStatusE2BIG:
		return "Too large."
	case BinStatusDeltaBadval:
		return "Non-numeric server-side value for incr or decr"
	case BinStatusNotStored:
		return "Not stored."
	case BinStatusAuthError:
		return "Auth failure."
	}
	return ""
}

// The texts memcached 1.6.45 sends with BinStatusENOMEM in place of the
// generic "Out of memory" (AppendBinErrorText), and its SASL success body.
const (
	// BinOOMItem: SET, ADD, REPLACE, APPEND or PREPEND could not allocate
	// the item (the value itself is within the size limit).
	BinOOMItem = "Out of memory allocating item"
	// BinOOMIncr: INCREMENT or DECREMENT could not allocate the new value.
	BinOOMIncr = "Out of memory incrementing value"
	// BinOOMIncrCreate: INCREMENT or DECREMENT could not create the missing
	// item with its initial value.
	BinOOMIncrCreate = "Out of memory allocating new item"
	// BinOOMStats: STAT could not build a statistics group.
	BinOOMStats = "Out of memory generating stats"
	// BinOOMStatsEnd: STAT could not add the terminator.
	BinOOMStatsEnd = "Out of memory preparing to send stats"
	// BinSASLAuthenticated is the body of a successful SASL_AUTH or
	// SASL_STEP.
	BinSASLAuthenticated = "Authenticated"
)

// BinError is a binary request that memcached refuses before executing it.
// The values below are the only ones; compare with ==. The server answers
// Status with its text (AppendBinError, with the request's opcode and
// opaque) unless Silent, and closes the connection after it when Close.
type BinError struct {
	// Status is the status of the error response.
	Status BinStatus
	text   string
	close  bool
	silent bool
}

// Error describes the error.
func (e *BinError) Error() string { return e.text }

// Close reports whether memcached closes the connection (after sending the
// error response, unless Silent).
func (e *BinError) Close() bool { return e.close }

// Silent reports whether memcached closes without sending anything.
func (e *BinError) Silent() bool { return e.silent }

// The errors ParseBinary returns, in the order memcached 1.6.45 checks for
// them. All but the first two come once the header, extras and key are in.
var (
	// ErrBinBadMagic: the first byte is not BinReqMagic. memcached closes
	// without a word.
	ErrBinBadMagic = &BinError{text: "proto: binary request with bad magic byte", close: true, silent: true}
	// ErrBinHeadTooLong: header, extras and key longer than MaxBinHeadLen,
	// with more than MaxBinHeadLen bytes in. memcached closes without a
	// word.
	ErrBinHeadTooLong = &BinError{text: "proto: binary key and extras too long to read", close: true, silent: true}
	// ErrBinBadLength: the key and extras are longer than the body. memcached
	// answers "Unknown command" and closes.
	ErrBinBadLength = &BinError{Status: BinStatusUnknownCommand, text: "proto: binary key and extras longer than body", close: true}
	// ErrBinBodyTooLarge: a body over MaxBinBodyLen. memcached answers
	// "Invalid arguments" and closes.
	ErrBinBodyTooLarge = &BinError{Status: BinStatusEINVAL, text: "proto: binary body too long", close: true}
	// ErrBinKeyTooLong: a key over MaxKeyLen, whatever the opcode. memcached
	// answers "Invalid arguments" and closes.
	ErrBinKeyTooLong = &BinError{Status: BinStatusEINVAL, text: "proto: binary key too long", close: true}
	// ErrBinInvalidArgs: extras, key or body lengths that the opcode does
	// not allow. memcached answers "Invalid arguments" and closes.
	ErrBinInvalidArgs = &BinError{Status: BinStatusEINVAL, text: "proto: binary lengths invalid for the opcode", close: true}
	// ErrBinUnknownCommand: an opcode memcached does not serve. memcached
	// answers "Unknown command", keeps the connection, and discards
	// BinRequest.Swallow bytes after the n that ParseBinary returns: the
	// whole body length counted from after the key, so a request with
	// extras or a key also eats as many bytes of what follows it.
	ErrBinUnknownCommand = &BinError{Status: BinStatusUnknownCommand, text: "proto: unknown binary opcode"}
)

// BinRequest is one binary request. ParseBinary fills it in place; reuse one
// per connection. Key and Value point into the buffer given to ParseBinary:
// they are valid only until that buffer is reused, so copy what you keep.
// A BinRequest built by hand is the input of AppendBinRequest (which
// computes the lengths itself).
type BinRequest struct {
	// Opcode is the request's opcode as sent (GETQ stays GETQ; see Base).
	Opcode BinOpcode
	// KeyLen, ExtLen and BodyLen are the header's lengths; BodyLen counts
	// extras, key and value.
	KeyLen  uint16
	ExtLen  uint8
	BodyLen uint32
	// DataType and VBucket are carried but ignored by memcached.
	DataType uint8
	VBucket  uint16
	// Opaque is echoed in every response to the request.
	Opaque uint32
	// CAS: when non-zero, SET, ADD, REPLACE, APPEND, PREPEND, DELETE,
	// INCREMENT and DECREMENT apply only to an item with this CAS.
	CAS uint64

	// Key is the key; for STAT the statistics group ("" for all); for
	// SASL_AUTH and SASL_STEP the mechanism name.
	Key []byte
	// Value is the value of SET, ADD, REPLACE, APPEND and PREPEND, and the
	// client's data for SASL_AUTH and SASL_STEP; empty for other opcodes.
	Value []byte

	// Flags are the client flags of SET, ADD and REPLACE.
	Flags uint32
	// Exptime is the protocol expiry as sent (0 never, up to 30 days
	// relative, else absolute Unix time) of SET, ADD, REPLACE, TOUCH, GAT,
	// GATK, INCREMENT and DECREMENT (0xffffffff there: do not create a
	// missing item), and the delay of FLUSH (0 when it has no extras).
	Exptime uint32
	// Delta and Initial are INCREMENT's and DECREMENT's amount and the
	// value a missing item is created with.
	Delta   uint64
	Initial uint64
	// Verbosity is the level of BinOpVerbosity.
	Verbosity uint32

	// ValueLen is the length of Value, known before the value has arrived.
	ValueLen int
	// HeaderLen is BinHeaderLen plus the extras and key. For a request
	// carrying a value that has not all arrived, ParseBinary returns
	// ErrIncomplete with the header fields, Key, HeaderLen and ValueLen
	// already set, so the server can refuse an oversize value at once, as
	// memcached does (answer BinStatusE2BIG, drop HeaderLen bytes, then
	// discard ValueLen more as they arrive).
	HeaderLen int
	// Need is set with ErrIncomplete: the least number of further bytes
	// that can change the outcome.
	Need int
	// Swallow is set with ErrBinUnknownCommand: after the n bytes
	// ParseBinary returned, this many more bytes are to be discarded.
	Swallow int
}

// Quiet reports whether the request's opcode is a quiet variant.
func (r *BinRequest) Quiet() bool { return r.Opcode.Quiet() }

// Base returns the non-quiet opcode of the request (see BinOpcode.Base).
func (r *BinRequest) Base() BinOpcode { return r.Opcode.Base() }

// ReturnsKey reports whether the responses to the request carry its key.
func (r *BinRequest) ReturnsKey() bool { return r.Opcode.ReturnsKey() }

// ParseBinary reads one binary request from the front of buf into r and
// returns the number of bytes it used. It checks what memcached 1.6.45
// checks, in the same order, with the same outcome:
//
//   - ErrIncomplete (n is 0): wait until at least r.Need more bytes have
//     arrived, then call again with the longer buffer.
//   - a *BinError: answer (or close) as the error says; n is the bytes
//     memcached consumed with the request (0 for the silent ones), then
//     discard r.Swallow more for ErrBinUnknownCommand. The header fields
//     (Opcode, Opaque, ...) are set for the response.
//   - nil: a request to execute.
//
// Like memcached, ParseBinary reads only the extras and key of STAT, TOUCH,
// GAT, GATQ, GATK and GATKQ: body bytes beyond them are not part of the
// request (n stops before them) and are read as the next request.
// It allocates nothing.
func ParseBinary(buf []byte, r *BinRequest) (n int, err error) {
	*r = BinRequest{}
	if len(buf) < BinHeaderLen {
		r.Need = BinHeaderLen - len(buf)
		return 0, ErrIncomplete
	}
	r.Opcode = BinOpcode(buf[1])
	r.KeyLen = binary.BigEndian.Uint16(buf[2:])
	r.ExtLen = buf[4]
	r.DataType = buf[5]
	r.VBucket = binary.BigEndian.Uint16(buf[6:])
	r.BodyLen = binary.BigEndian.Uint32(buf[8:])
	r.Opaque = binary.BigEndian.Uint32(buf[12:])
	r.CAS = binary.BigEndian.Uint64(buf[16:])
	if buf[0] != BinReqMagic {
		return 0, ErrBinBadMagic
	}

	ext, klen := int(r.ExtLen), int(r.KeyLen)
	head := BinHeaderLen + ext + klen
	if head > MaxBinHeadLen {
		if len(buf) > MaxBinHeadLen {
			return 0, ErrBinHeadTooLong
		}
		r.Need = MaxBinHeadLen + 1 - len(buf)
		return 0, ErrIncomplete
	}
	if len(buf) < head {
		r.Need = head - len(buf)
		return 0, ErrIncomplete
	}
	extras := buf[BinHeaderLen : BinHeaderLen+ext]
	r.Key = buf[BinHeaderLen+ext : head : head]
	r.HeaderLen = head

	if uint32(ext)+uint32(klen) > r.BodyLen {
		return head, ErrBinBadLength
	}
	if r.BodyLen > MaxBinBodyLen {
		return head, ErrBinBodyTooLarge
	}
	if klen > MaxKeyLen {
		return head, ErrBinKeyTooLong
	}

	body := int(r.BodyLen)
	withValue := false
	ok := false
	switch r.Opcode.Base() {
	case BinOpVersion, BinOpNoop, BinOpQuit, BinOpSASLListMechs:
		ok = ext == 0 && klen == 0 && body == 0
	case BinOpFlush:
		ok = klen == 0 && body == ext && (ext == 0 || ext == 4)
		if ok && ext == 4 {
			r.Exptime = binary.BigEndian.Uint32(extras)
		}
	case BinOpSet, BinOpAdd, BinOpReplace:
		ok = ext == 8 && klen != 0
		if ok {
			r.Flags = binary.BigEndian.Uint32(extras)
			r.Exptime = binary.BigEndian.Uint32(extras[4:])
			withValue = true
		}
	case BinOpGet, BinOpGetK, BinOpDelete:
		ok = ext == 0 && klen > 0 && body == klen
	case BinOpIncrement, BinOpDecrement:
		ok = klen > 0 && ext == 20 && body == klen+ext
		if ok {
			r.Delta = binary.BigEndian.Uint64(extras)
			r.Initial = binary.BigEndian.Uint64(extras[8:])
			r.Exptime = binary.BigEndian.Uint32(extras[16:])
		}
	case BinOpAppend, BinOpPrepend:
		ok = klen > 0 && ext == 0
		withValue = ok
	case BinOpStat:
		ok = ext == 0
	case BinOpSASLAuth, BinOpSASLStep:
		ok = ext == 0 && klen != 0
		withValue = ok
	case BinOpTouch, BinOpGAT, BinOpGATK:
		ok = ext == 4 && klen != 0
		if ok {
			r.Exptime = binary.BigEndian.Uint32(extras)
		}
	default:
		if r.Opcode == BinOpVerbosity && ext == 4 {
			r.Verbosity = binary.BigEndian.Uint32(extras)
		}
		r.Swallow = body
		return head, ErrBinUnknownCommand
	}
	if !ok {
		return head, ErrBinInvalidArgs
	}
	if !withValue {
		return head, nil
	}
	total := BinHeaderLen + body
	r.ValueLen = total - head
	if len(buf) < total {
		r.Need = total - len(buf)
		return 0, ErrIncomplete
	}
	r.Value = buf[head:total:total]
	return total, nil
}

// appendBinHeader appends a 24-byte header; word is the vbucket of a
// request or the status of a response.
func appendBinHeader(dst []byte, magic byte, op BinOpcode, keyLen, extLen int, dataType byte, word uint16, bodyLen int, opaque uint32, cas uint64) []byte {
	dst = append(dst, magic, byte(op))
	dst = binary.BigEndian.AppendUint16(dst, uint16(keyLen))
	dst = append(dst, byte(extLen), dataType)
	dst = binary.BigEndian.AppendUint16(dst, word)
	dst = binary.BigEndian.AppendUint32(dst, uint32(bodyLen))
	dst = binary.BigEndian.AppendUint32(dst, opaque)
	return binary.BigEndian.AppendUint64(dst, cas)
}

// AppendBinResponse appends one response packet: the header for op,
// status, opaque and cas, then extras, key and value.
func AppendBinResponse(dst []byte, op BinOpcode, status BinStatus, opaque uint32, cas uint64, extras, key, value []byte) []byte {
	dst = appendBinHeader(dst, BinResMagic, op, len(key), len(extras), 0, uint16(status), len(extras)+len(key)+len(value), opaque, cas)
	dst = append(dst, extras...)
	dst = append(dst, key...)
	return append(dst, value...)
}

// AppendBinError appends an error response with memcached's text for
// status (BinStatus.Text) as its body, as memcached sends every error but
// the miss of GETK and GATK (AppendBinKeyMiss).
func AppendBinError(dst []byte, op BinOpcode, status BinStatus, opaque uint32) []byte {
	return AppendBinErrorText(dst, op, status, opaque, status.Text())
}

// AppendBinErrorText appends an error response with text as its body: for
// the BinStatusENOMEM texts (BinOOMItem, ...).
func AppendBinErrorText(dst []byte, op BinOpcode, status BinStatus, opaque uint32, text string) []byte {
	dst = appendBinHeader(dst, BinResMagic, op, 0, 0, 0, uint16(status), len(text), opaque, 0)
	return append(dst, text...)
}

// AppendBinKeyMiss appends the miss of GETK or GATK: BinStatusKeyENOENT
// with the key and no text.
func AppendBinKeyMiss(dst []byte, op BinOpcode, opaque uint32, key []byte) []byte {
	return AppendBinResponse(dst, op, BinStatusKeyENOENT, opaque, 0, nil, key, nil)
}

// AppendBinGetResponse appends the hit of a GET, GETK, GAT, GATK or TOUCH
// (and their quiet variants): the item's flags as 4 bytes of extras, then
// key and value. Pass the key only when op.ReturnsKey() and no value for
// TOUCH, as memcached does.
func AppendBinGetResponse(dst []byte, op BinOpcode, opaque uint32, cas uint64, flags uint32, key, value []byte) []byte {
	dst = appendBinHeader(dst, BinResMagic, op, len(key), 4, 0, uint16(BinStatusSuccess), 4+len(key)+len(value), opaque, cas)
	dst = binary.BigEndian.AppendUint32(dst, flags)
	dst = append(dst, key...)
	return append(dst, value...)
}

// AppendBinGetHeader appends what AppendBinGetResponse does but the value:
// the header (counting vlen value bytes), the flags and the key. The caller
// appends exactly vlen bytes of value after it.
func AppendBinGetHeader(dst []byte, op BinOpcode, opaque uint32, cas uint64, flags uint32, key []byte, vlen int) []byte {
	dst = appendBinHeader(dst, BinResMagic, op, len(key), 4, 0, uint16(BinStatusSuccess), 4+len(key)+vlen, opaque, cas)
	dst = binary.BigEndian.AppendUint32(dst, flags)
	return append(dst, key...)
}

// AppendBinCounter appends the success of INCREMENT or DECREMENT: the new
// value as an 8-byte body, with the item's new CAS.
func AppendBinCounter(dst []byte, op BinOpcode, opaque uint32, cas uint64, value uint64) []byte {
	dst = appendBinHeader(dst, BinResMagic, op, 0, 0, 0, uint16(BinStatusSuccess), 8, opaque, cas)
	return binary.BigEndian.AppendUint64(dst, value)
}

// AppendBinStat appends one statistic of a STAT response: name as the key,
// value as the value. A packet with empty name and value ends the list.
func AppendBinStat(dst []byte, opaque uint32, name, value string) []byte {
	dst = appendBinHeader(dst, BinResMagic, BinOpStat, len(name), 0, 0, uint16(BinStatusSuccess), len(name)+len(value), opaque, 0)
	dst = append(dst, name...)
	return append(dst, value...)
}

// AppendBinVersion appends the response to VERSION.
func AppendBinVersion(dst []byte, opaque uint32, version string) []byte {
	dst = appendBinHeader(dst, BinResMagic, BinOpVersion, 0, 0, 0, uint16(BinStatusSuccess), len(version), opaque, 0)
	return append(dst, version...)
}

// AppendBinRequest appends r as a request packet. The extras come from the
// fields the opcode uses (Flags and Exptime for SET, ADD and REPLACE;
// Delta, Initial and Exptime for INCREMENT and DECREMENT; Exptime for
// TOUCH, GAT and GATK, and for FLUSH when non-zero; Verbosity for
// BinOpVerbosity, all with their quiet variants); the lengths are computed,
// and r.KeyLen, r.ExtLen and r.BodyLen ignored. Key and Value are written as
// given (a key is at most 65535 bytes).
func AppendBinRequest(dst []byte, r *BinRequest) []byte {
	ext := 0
	switch r.Opcode.Base() {
	case BinOpSet, BinOpAdd, BinOpReplace:
		ext = 8
	case BinOpIncrement, BinOpDecrement:
		ext = 20
	case BinOpTouch, BinOpGAT, BinOpGATK, BinOpVerbosity:
		ext = 4
	case BinOpFlush:
		if r.Exptime != 0 {
			ext = 4
		}
	}
	dst = appendBinHeader(dst, BinReqMagic, r.Opcode, len(r.Key), ext, r.DataType, r.VBucket, ext+len(r.Key)+len(r.Value), r.Opaque, r.CAS)
	switch ext {
	case 8:
		dst = binary.BigEndian.AppendUint32(dst, r.Flags)
		dst = binary.BigEndian.AppendUint32(dst, r.Exptime)
	case 20:
		dst = binary.BigEndian.AppendUint64(dst, r.Delta)
		dst = binary.BigEndian.AppendUint64(dst, r.Initial)
		dst = binary.BigEndian.AppendUint32(dst, r.Exptime)
	case 4:
		if r.Opcode == BinOpVerbosity {
			dst = binary.BigEndian.AppendUint32(dst, r.Verbosity)
		} else {
			dst = binary.BigEndian.AppendUint32(dst, r.Exptime)
		}
	}
	dst = append(dst, r.Key...)
	return append(dst, r.Value...)
}

// BinResponse is one binary response packet. ParseBinResponse fills it in
// place; Extras, Key and Value point into the buffer it was given.
type BinResponse struct {
	// Opcode is the opcode of the request answered.
	Opcode BinOpcode
	// Status is the outcome; for an error, Value holds its text.
	Status BinStatus
	// KeyLen, ExtLen and BodyLen are the header's lengths.
	KeyLen  uint16
	ExtLen  uint8
	BodyLen uint32
	// DataType is carried as sent (memcached sends 0).
	DataType uint8
	// Opaque is the request's opaque, echoed.
	Opaque uint32
	// CAS is the item's CAS on hits and successful updates.
	CAS uint64

	// Extras, Key and Value are the parts of the body.
	Extras []byte
	Key    []byte
	Value  []byte
	// Flags are the item's client flags: the extras when they are 4 bytes
	// (the hits of GET, GETK, GAT, GATK and TOUCH).
	Flags uint32

	// Need is set with ErrIncomplete: the least number of further bytes
	// that can change the outcome.
	Need int
}

// Counter returns the new value carried by a successful INCREMENT or
// DECREMENT response (an 8-byte body), and false for any other response.
func (r *BinResponse) Counter() (uint64, bool) {
	if r.Status != BinStatusSuccess || len(r.Value) != 8 || len(r.Key) != 0 || len(r.Extras) != 0 {
		return 0, false
	}
	switch r.Opcode.Base() {
	case BinOpIncrement, BinOpDecrement:
		return binary.BigEndian.Uint64(r.Value), true
	}
	return 0, false
}

// ErrBinBadResponse is returned by ParseBinResponse for a packet that is
// not a binary response: a bad magic byte, or key and extras longer than
// the body.
var ErrBinBadResponse = errors.New("proto: malformed binary response")

// ParseBinResponse reads one binary response packet from the front of buf
// into r and returns the number of bytes it used: ErrIncomplete (n 0, with
// r.Need) until the whole packet is in, ErrBinBadResponse for a malformed
// one. It allocates nothing.
func ParseBinResponse(buf []byte, r *BinResponse) (n int, err error) {
	*r = BinResponse{}
	if len(buf) < BinHeaderLen {
		r.Need = BinHeaderLen - len(buf)
		return 0, ErrIncomplete
	}
	if buf[0] != BinResMagic {
		return 0, ErrBinBadResponse
	}
	r.Opcode = BinOpcode(buf[1])
	r.KeyLen = binary.BigEndian.Uint16(buf[2:])
	r.ExtLen = buf[4]
	r.DataType = buf[5]
	r.Status = BinStatus(binary.BigEndian.Uint16(buf[6:]))
	r.BodyLen = binary.BigEndian.Uint32(buf[8:])
	r.Opaque = binary.BigEndian.Uint32(buf[12:])
	r.CAS = binary.BigEndian.Uint64(buf[16:])
	if uint32(r.KeyLen)+uint32(r.ExtLen) > r.BodyLen {
		return 0, ErrBinBadResponse
	}
	total := uint64(BinHeaderLen) + uint64(r.BodyLen)
	if total > uint64(^uint(0)>>1) {
		return 0, ErrBinBadResponse // cannot be held on this platform
	}
	if uint64(len(buf)) < total {
		r.Need = int(total - uint64(len(buf)))
		return 0, ErrIncomplete
	}
	ext := BinHeaderLen + int(r.ExtLen)
	key := ext + int(r.KeyLen)
	r.Extras = buf[BinHeaderLen:ext:ext]
	r.Key = buf[ext:key:key]
	r.Value = buf[key:total:total]
	if r.ExtLen == 4 {
		r.Flags = binary.BigEndian.Uint32(r.Extras)
	}
	return int(total), nil
}
