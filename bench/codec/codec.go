// Package codec is the load generator's small client side of memcached's
// text and meta protocols: it appends get and set requests to a buffer and
// reads their replies from a bufio.Reader without allocating.
//
// It exists so that bench does not wait for proto's client side; the Codec
// interface is deliberately narrow so that proto can replace it later. It
// imports only the standard library and must not import any package of ours.
package codec

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// Codec writes requests and reads their replies for one protocol.
// Implementations hold no state and may be shared by goroutines.
type Codec interface {
	// Name is the protocol name as the -protocol flag spells it.
	Name() string
	// AppendGet appends one request that fetches every key in keys
	// (a multi-get when len(keys) > 1) and returns the extended buffer.
	AppendGet(dst []byte, keys [][]byte) []byte
	// AppendSet appends an unconditional store of value under key.
	AppendSet(dst []byte, key, value []byte, flags uint32, exptime int32) []byte
	// ReadGet consumes the whole reply to a request made by AppendGet with
	// nkeys keys and returns how many keys were found. A *ServerError means
	// the server answered with an error line and the stream is still in
	// step; any other error means the connection is unusable.
	ReadGet(r *bufio.Reader, nkeys int) (hits int, err error)
	// ReadSet consumes the reply to a request made by AppendSet. It returns
	// nil when the item was stored, a *ServerError when the server refused
	// (NOT_STORED, SERVER_ERROR, ...) and another error when the connection
	// is unusable.
	ReadSet(r *bufio.Reader) error
}

// ServerError is a reply line that reports a failure (ERROR, CLIENT_ERROR,
// SERVER_ERROR, NOT_STORED, NS, ...). The connection stays usable.
type ServerError struct{ Line string }

func (e *ServerError) Error() string { return "codec: server replied " + strconv.Quote(e.Line) }

// ErrProtocol reports a reply the codec cannot parse; the stream is lost.
var ErrProtocol = errors.New("codec: unexpected reply")

// ByName returns the codec for "text" or "meta".
func ByName(name string) (Codec, error) {
	switch name {
	case "text":
		return Text{}, nil
	case "meta":
		return Meta{}, nil
	}
	return nil, fmt.Errorf("codec: unknown protocol %q (want text or meta)", name)
}

// readLine returns the next line without its "\r\n" (or "\n"). The slice is
// borrowed from r and valid until the next read.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: line longer than %d bytes", ErrProtocol, r.Size())
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// isErrorLine reports whether line is one of memcached's error replies.
func isErrorLine(line []byte) bool {
	return bytes.Equal(line, []byte("ERROR")) ||
		bytes.HasPrefix(line, []byte("ERROR ")) ||
		bytes.HasPrefix(line, []byte("CLIENT_ERROR")) ||
		bytes.HasPrefix(line, []byte("SERVER_ERROR"))
}

// skipData discards a value of n bytes and its "\r\n" terminator.
func skipData(r *bufio.Reader, n int) error {
	if _, err := r.Discard(n); err != nil {
		return err
	}
	t, err := r.ReadByte()
	if err != nil {
		return err
	}
	if t == '\n' {
		return nil
	}
	if t != '\r' {
		return fmt.Errorf("%w: value not followed by \\r\\n", ErrProtocol)
	}
	t, err = r.ReadByte()
	if err != nil {
		return err
	}
	if t != '\n' {
		return fmt.Errorf("%w: value not followed by \\r\\n", ErrProtocol)
	}
	return nil
}

// atoi parses a non-negative decimal without allocating.
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// field returns the i-th space-separated token of line, or nil.
func field(line []byte, i int) []byte {
	for {
		for len(line) > 0 && line[0] == ' ' {
			line = line[1:]
		}
		if len(line) == 0 {
			return nil
		}
		end := bytes.IndexByte(line, ' ')
		if end < 0 {
			end = len(line)
		}
		if i == 0 {
			return line[:end]
		}
		i--
		line = line[end:]
	}
}

func serverError(line []byte) error { return &ServerError{Line: string(line)} }

func protoError(line []byte) error {
	return fmt.Errorf("%w: %q", ErrProtocol, line)
}
