package codec

import (
	"bufio"
	"bytes"
	"io"
)

// Stats sends "stats" (or "stats <args>") on rw and returns the STAT lines
// as name → value. It is for setup and checks, not for the hot path.
func Stats(rw io.ReadWriter, args string) (map[string]string, error) {
	cmd := "stats"
	if args != "" {
		cmd += " " + args
	}
	if _, err := io.WriteString(rw, cmd+"\r\n"); err != nil {
		return nil, err
	}
	r := bufio.NewReader(rw)
	out := map[string]string{}
	for {
		line, err := readLine(r)
		if err != nil {
			return nil, err
		}
		switch {
		case bytes.Equal(line, []byte("END")):
			return out, nil
		case bytes.HasPrefix(line, []byte("STAT ")):
			name, value := field(line, 1), field(line, 2)
			out[string(name)] = string(value)
		case isErrorLine(line):
			return nil, serverError(line)
		default:
			return nil, protoError(line)
		}
	}
}
