package client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// codec encodes requests and decodes replies of one memcached protocol.
// It is unexported so the text codec below can be swapped for the proto
// package's client side later without changing the Client API.
type codec interface {
	// appendGet appends a retrieval of keys with CAS values.
	appendGet(dst []byte, keys []string) []byte
	// appendStore appends a storage command: verb is set, add, replace,
	// append, prepend or cas (which sends it.CAS).
	appendStore(dst []byte, verb string, it *Item) []byte
	appendDelete(dst []byte, key string) []byte
	appendTouch(dst []byte, key string, exp int32) []byte
	// appendArith appends incr or decr.
	appendArith(dst []byte, verb, key string, delta uint64) []byte
	appendVersion(dst []byte) []byte

	// readValues reads items until the end of a retrieval reply, calling
	// fn for each; fn may keep the item.
	readValues(r *bufio.Reader, fn func(*Item)) error
	// readStatus reads a one-line reply and maps it to nil or an error.
	readStatus(r *bufio.Reader) error
	// readArith reads the reply to incr or decr.
	readArith(r *bufio.Reader) (uint64, error)
	// readVersion reads the reply to version.
	readVersion(r *bufio.Reader) (string, error)
}

// textCodec is memcached's text protocol.
type textCodec struct{}

var _ codec = textCodec{}

func (textCodec) appendGet(dst []byte, keys []string) []byte {
	dst = append(dst, "gets"...)
	for _, k := range keys {
		dst = append(dst, ' ')
		dst = append(dst, k...)
	}
	return append(dst, "\r\n"...)
}

func (textCodec) appendStore(dst []byte, verb string, it *Item) []byte {
	dst = append(dst, verb...)
	dst = append(dst, ' ')
	dst = append(dst, it.Key...)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(it.Flags), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(it.Expiration), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(len(it.Value)), 10)
	if verb == "cas" {
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, it.CAS, 10)
	}
	dst = append(dst, "\r\n"...)
	dst = append(dst, it.Value...)
	return append(dst, "\r\n"...)
}

func (textCodec) appendDelete(dst []byte, key string) []byte {
	dst = append(dst, "delete "...)
	dst = append(dst, key...)
	return append(dst, "\r\n"...)
}

func (textCodec) appendTouch(dst []byte, key string, exp int32) []byte {
	dst = append(dst, "touch "...)
	dst = append(dst, key...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(exp), 10)
	return append(dst, "\r\n"...)
}

func (textCodec) appendArith(dst []byte, verb, key string, delta uint64) []byte {
	dst = append(dst, verb...)
	dst = append(dst, ' ')
	dst = append(dst, key...)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, delta, 10)
	return append(dst, "\r\n"...)
}

func (textCodec) appendVersion(dst []byte) []byte { return append(dst, "version\r\n"...) }

// errProtocol marks a reply the codec cannot parse; the connection is then
// out of step and must be closed.
var errProtocol = errors.New("client: protocol error")

func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		if err == bufio.ErrBufferFull {
			err = fmt.Errorf("%w: reply line too long", errProtocol)
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// replyError maps memcached's error lines to errors; nil for other lines.
func replyError(line []byte) error {
	switch {
	case string(line) == "ERROR":
		return &ServerError{Msg: "ERROR"}
	case bytes.HasPrefix(line, []byte("CLIENT_ERROR ")), bytes.HasPrefix(line, []byte("SERVER_ERROR ")), bytes.HasPrefix(line, []byte("ERROR ")):
		return &ServerError{Msg: string(line)}
	}
	return nil
}

func (textCodec) readValues(r *bufio.Reader, fn func(*Item)) error {
	for {
		line, err := readLine(r)
		if err != nil {
			return err
		}
		if string(line) == "END" {
			return nil
		}
		if err := replyError(line); err != nil {
			return err
		}
		// VALUE <key> <flags> <bytes> [<cas>]
		f := bytes.Fields(line)
		if len(f) < 4 || len(f) > 5 || string(f[0]) != "VALUE" {
			return fmt.Errorf("%w: %q", errProtocol, line)
		}
		flags, err1 := strconv.ParseUint(string(f[2]), 10, 32)
		n, err2 := strconv.Atoi(string(f[3]))
		if err1 != nil || err2 != nil || n < 0 {
			return fmt.Errorf("%w: %q", errProtocol, line)
		}
		it := &Item{Key: string(f[1]), Flags: uint32(flags)}
		if len(f) == 5 {
			if it.CAS, err = strconv.ParseUint(string(f[4]), 10, 64); err != nil {
				return fmt.Errorf("%w: %q", errProtocol, line)
			}
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return fmt.Errorf("%w: value of %s not followed by \\r\\n", errProtocol, it.Key)
		}
		it.Value = buf[:n:n]
		fn(it)
	}
}

func (textCodec) readStatus(r *bufio.Reader) error {
	line, err := readLine(r)
	if err != nil {
		return err
	}
	switch string(line) {
	case "STORED", "DELETED", "TOUCHED", "OK":
		return nil
	case "NOT_STORED":
		return ErrNotStored
	case "EXISTS":
		return ErrCASConflict
	case "NOT_FOUND":
		return ErrCacheMiss
	}
	if err := replyError(line); err != nil {
		return err
	}
	return fmt.Errorf("%w: %q", errProtocol, line)
}

func (textCodec) readArith(r *bufio.Reader) (uint64, error) {
	line, err := readLine(r)
	if err != nil {
		return 0, err
	}
	if string(line) == "NOT_FOUND" {
		return 0, ErrCacheMiss
	}
	if err := replyError(line); err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(string(bytes.TrimSpace(line)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", errProtocol, line)
	}
	return v, nil
}

func (textCodec) readVersion(r *bufio.Reader) (string, error) {
	line, err := readLine(r)
	if err != nil {
		return "", err
	}
	if v, ok := bytes.CutPrefix(line, []byte("VERSION ")); ok {
		return string(v), nil
	}
	if err := replyError(line); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%w: %q", errProtocol, line)
}
