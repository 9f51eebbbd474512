package codec

import (
	"bufio"
	"bytes"
	"strconv"
)

// Meta is memcached's meta protocol: mg/ms, with a multi-get sent as quiet
// "mg key v q" requests closed by "mn".
type Meta struct{}

// Name implements Codec.
func (Meta) Name() string { return "meta" }

// AppendGet implements Codec. One key: "mg key v\r\n" (reply VA or EN).
// Several: "mg k v q\r\n" per key and "mn\r\n" (misses are silent, hits
// reply VA, MN closes the batch).
func (Meta) AppendGet(dst []byte, keys [][]byte) []byte {
	if len(keys) == 1 {
		dst = append(dst, "mg "...)
		dst = append(dst, keys[0]...)
		return append(dst, " v\r\n"...)
	}
	for _, k := range keys {
		dst = append(dst, "mg "...)
		dst = append(dst, k...)
		dst = append(dst, " v q\r\n"...)
	}
	return append(dst, "mn\r\n"...)
}

// AppendSet implements Codec: "ms key bytes [F<flags>] [T<exptime>]\r\nvalue\r\n".
func (Meta) AppendSet(dst []byte, key, value []byte, flags uint32, exptime int32) []byte {
	dst = append(dst, "ms "...)
	dst = append(dst, key...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(len(value)), 10)
	if flags != 0 {
		dst = append(dst, " F"...)
		dst = strconv.AppendUint(dst, uint64(flags), 10)
	}
	if exptime != 0 {
		dst = append(dst, " T"...)
		dst = strconv.AppendInt(dst, int64(exptime), 10)
	}
	dst = append(dst, "\r\n"...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// ReadGet implements Codec.
func (Meta) ReadGet(r *bufio.Reader, nkeys int) (int, error) {
	hits := 0
	var firstErr error
	for {
		line, err := readLine(r)
		if err != nil {
			return hits, err
		}
		switch {
		case bytes.HasPrefix(line, []byte("VA ")):
			n, ok := atoi(field(line, 1))
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
			if nkeys == 1 {
				return hits, nil
			}
		case bytes.Equal(line, []byte("EN")):
			if nkeys == 1 {
				return hits, nil
			}
		case bytes.Equal(line, []byte("MN")) && nkeys > 1:
			return hits, firstErr
		case isErrorLine(line):
			if nkeys == 1 {
				return hits, serverError(line)
			}
			if firstErr == nil {
				firstErr = serverError(line)
			}
		default:
			return hits, protoError(line)
		}
	}
}

// ReadSet implements Codec: HD, or a refusal (NS, EX, NF, errors).
func (Meta) ReadSet(r *bufio.Reader) error {
	line, err := readLine(r)
	if err != nil {
		return err
	}
	switch {
	case bytes.Equal(line, []byte("HD")) || bytes.HasPrefix(line, []byte("HD ")):
		return nil
	case bytes.HasPrefix(line, []byte("NS")), bytes.HasPrefix(line, []byte("EX")),
		bytes.HasPrefix(line, []byte("NF")), isErrorLine(line):
		return serverError(line)
	}
	return protoError(line)
}
