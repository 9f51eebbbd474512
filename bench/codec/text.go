package codec

import (
	"bufio"
	"bytes"
	"strconv"
)

// Text is memcached's classic text protocol: get/set.
type Text struct{}

// Name implements Codec.
func (Text) Name() string { return "text" }

// AppendGet implements Codec: "get k1 k2 ...\r\n".
func (Text) AppendGet(dst []byte, keys [][]byte) []byte {
	dst = append(dst, "get"...)
	for _, k := range keys {
		dst = append(dst, ' ')
		dst = append(dst, k...)
	}
	return append(dst, "\r\n"...)
}

// AppendSet implements Codec: "set key flags exptime bytes\r\nvalue\r\n".
func (Text) AppendSet(dst []byte, key, value []byte, flags uint32, exptime int32) []byte {
	dst = append(dst, "set "...)
	dst = append(dst, key...)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(flags), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(exptime), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(len(value)), 10)
	dst = append(dst, "\r\n"...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// ReadGet implements Codec: VALUE blocks until END.
func (Text) ReadGet(r *bufio.Reader, nkeys int) (int, error) {
	hits := 0
	for {
		line, err := readLine(r)
		if err != nil {
			return hits, err
		}
		switch {
		case bytes.HasPrefix(line, []byte("VALUE ")):
			n, ok := atoi(field(line, 3))
			if !ok {
				return hits, protoError(line)
			}
			if err := skipData(r, n); err != nil {
				return hits, err
			}
			hits++
			if hits > nkeys {
				return hits, protoError(line)
			}
		case bytes.Equal(line, []byte("END")):
			return hits, nil
		case isErrorLine(line):
			return hits, serverError(line)
		default:
			return hits, protoError(line)
		}
	}
}

// ReadSet implements Codec: STORED, or a refusal.
func (Text) ReadSet(r *bufio.Reader) error {
	line, err := readLine(r)
	if err != nil {
		return err
	}
	switch {
	case bytes.Equal(line, []byte("STORED")):
		return nil
	case bytes.Equal(line, []byte("NOT_STORED")), bytes.Equal(line, []byte("EXISTS")),
		bytes.Equal(line, []byte("NOT_FOUND")), isErrorLine(line):
		return serverError(line)
	}
	return protoError(line)
}
