package proto

import (
	"bytes"
	"encoding/binary"
)

// PeekRequest looks at the text request at the start of buf without
// parsing it: when it is a get, gets, mg, set or ms, it returns its (first)
// key, and when buf holds the whole request, its length (line and data
// block), so that the caller can look at the one after it. Otherwise key is
// nil and n is 0. It checks nothing else: it is for a server that starts
// loading the items of the requests it has received (a cache prefetch)
// before it parses and executes them one by one; an odd request costs at
// most a useless prefetch.
func PeekRequest(buf []byte) (key []byte, n int) {
	var i int
	data := false
	switch {
	case len(buf) > 4 && buf[0] == 'g' && buf[1] == 'e' && buf[2] == 't':
		i = 3
		if buf[3] == 's' {
			i = 4
		}
	case len(buf) > 4 && buf[0] == 's' && buf[1] == 'e' && buf[2] == 't':
		i, data = 3, true
	case len(buf) > 3 && buf[0] == 'm' && buf[1] == 'g':
		i = 2
	case len(buf) > 3 && buf[0] == 'm' && buf[1] == 's':
		i, data = 2, true
	default:
		return nil, 0
	}
	if buf[i] != ' ' {
		return nil, 0
	}
	i++
	start := i
	// As the tokenizer: a key ends at a space or at the end of the line
	// ("\r\n" or "\n"); a '\r' elsewhere is part of it.
	for end := min(len(buf), start+MaxKeyLen+2); i < end && key == nil; i++ {
		switch buf[i] {
		case ' ', '\n':
			k := buf[start:i]
			if buf[i] == '\n' && len(k) > 0 && k[len(k)-1] == '\r' {
				k = k[:len(k)-1]
			}
			if len(k) == 0 || len(k) > MaxKeyLen {
				return nil, 0
			}
			key = k
		}
	}
	if key == nil {
		return nil, 0
	}
	nl := bytes.IndexByte(buf[i-1:], '\n')
	if nl < 0 {
		return key, 0
	}
	n = i - 1 + nl + 1
	if !data {
		return key, n
	}
	// The data block's length: set's fourth token after the key (flags,
	// exptime, bytes), ms's first.
	tok := 3
	if buf[1] == 's' {
		tok = 1
	}
	// Token by token (spaces between, the last ends at "\r" or "\n"),
	// from the space after the key.
	j, vs, ve := i-1, 0, 0
	for ; tok > 0; tok-- {
		for j < n && buf[j] == ' ' {
			j++
		}
		vs = j
		for j < n && buf[j] != ' ' && buf[j] != '\r' && buf[j] != '\n' {
			j++
		}
		if j == vs {
			return key, 0
		}
		ve = j
	}
	v := buf[vs:ve]
	size := 0
	for _, c := range v {
		if c < '0' || c > '9' || size > 1<<30 {
			return key, 0
		}
		size = size*10 + int(c-'0')
	}
	if n+size+2 > len(buf) {
		return key, 0
	}
	return key, n + size + 2
}

// PeekBinaryRequest is PeekRequest for the binary protocol: the key of
// the request at the start of buf when its header, extras and key are
// there, and its length (as ParseBinary counts it) when all of it is. Any
// request with a key qualifies (all of them look the key up).
func PeekBinaryRequest(buf []byte) (key []byte, n int) {
	if len(buf) < BinHeaderLen || buf[0] != BinReqMagic {
		return nil, 0
	}
	klen := int(binary.BigEndian.Uint16(buf[2:]))
	head := BinHeaderLen + int(buf[4]) + klen
	body := int(binary.BigEndian.Uint32(buf[8:]))
	if klen == 0 || head > len(buf) || head > BinHeaderLen+body {
		return nil, 0
	}
	key = buf[head-klen : head]
	// As ParseBinary: only the commands with a value consume the body
	// past the key; of the others, what the body holds more is read as the
	// next request.
	total := head
	switch BinOpcode(buf[1]).Base() {
	case BinOpSet, BinOpAdd, BinOpReplace, BinOpAppend, BinOpPrepend, BinOpSASLAuth, BinOpSASLStep:
		total = BinHeaderLen + body
	}
	if total <= len(buf) {
		n = total
	}
	return key, n
}
