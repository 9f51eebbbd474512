package difftest

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// maxRepeat bounds one \{N PAT} expansion so a typo cannot eat the machine.
const maxRepeat = 64 << 20

// Unescape turns the escaped text of a conversation or golden file into bytes.
//
//	\r \n \t \0 \\      carriage return, newline, tab, NUL, backslash
//	\xHH                the byte with hexadecimal value HH
//	\{N PAT}            PAT (itself escaped; \} is a literal brace) repeated N times
//	\#                  inside PAT: the repetition number, 0 to N-1, in decimal
//	\}                  a literal }
//
// Everything else stands for itself. (Conversations also allow the variables
// ${cas} and ${cas:KEY}; see Parse.)
func Unescape(s string) ([]byte, error) {
	return expand(nil, s, nil, -1)
}

// lookupFunc resolves a ${NAME} variable.
type lookupFunc func(name string) (string, error)

// expand appends the bytes s stands for to out. With vars == nil, "${" is
// literal text. idx is the repetition number \# stands for (-1 outside a
// repetition).
func expand(out []byte, s string, vars lookupFunc, idx int) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '$' && vars != nil && i+1 < len(s) && s[i+1] == '{' {
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unterminated ${ at offset %d", i)
			}
			name := s[i+2 : i+end]
			if name != "cas" && !strings.HasPrefix(name, "cas:") {
				return nil, fmt.Errorf("unknown variable ${%s} (known: ${cas}, ${cas:KEY})", name)
			}
			v, err := vars(name)
			if err != nil {
				return nil, err
			}
			out = append(out, v...)
			i += end
			continue
		}
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i+1 >= len(s) {
			return nil, fmt.Errorf("trailing backslash")
		}
		i++
		switch s[i] {
		case 'r':
			out = append(out, '\r')
		case 'n':
			out = append(out, '\n')
		case 't':
			out = append(out, '\t')
		case '0':
			out = append(out, 0)
		case '\\':
			out = append(out, '\\')
		case '}':
			out = append(out, '}')
		case '#':
			if idx < 0 {
				return nil, fmt.Errorf("\\# outside a \\{N PATTERN} repetition")
			}
			out = strconv.AppendInt(out, int64(idx), 10)
		case 'x':
			if i+2 >= len(s) {
				return nil, fmt.Errorf("short \\x escape at offset %d", i-1)
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, fmt.Errorf("bad \\x escape %q", s[i-1:i+3])
			}
			out = append(out, byte(v))
			i += 2
		case '{':
			end := closingBrace(s, i+1)
			if end < 0 {
				return nil, fmt.Errorf("unterminated \\{ at offset %d", i-1)
			}
			body := s[i+1 : end]
			sp := strings.IndexByte(body, ' ')
			if sp < 0 {
				return nil, fmt.Errorf("\\{%s}: want \\{COUNT PATTERN}", body)
			}
			n, err := strconv.Atoi(body[:sp])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("\\{%s}: bad count %q", body, body[:sp])
			}
			pat := body[sp+1:]
			if pat == "" {
				return nil, fmt.Errorf("\\{%s}: empty pattern", body)
			}
			if n > maxRepeat {
				return nil, fmt.Errorf("\\{%s}: count over %d", body, maxRepeat)
			}
			start := len(out)
			if !strings.Contains(pat, `\#`) && n > 0 {
				// Expand once and copy: the common case, and fast for 1 MiB values.
				one, err := expand(nil, pat, vars, -1)
				if err != nil {
					return nil, err
				}
				if n*len(one) > maxRepeat {
					return nil, fmt.Errorf("\\{%s}: expands to more than %d bytes", body, maxRepeat)
				}
				out = append(out, bytes.Repeat(one, n)...)
			}
			for k := 0; k < n && strings.Contains(pat, `\#`); k++ {
				var err error
				if out, err = expand(out, pat, vars, k); err != nil {
					return nil, err
				}
				if len(out)-start > maxRepeat {
					return nil, fmt.Errorf("\\{%s}: expands to more than %d bytes", body, maxRepeat)
				}
			}
			i = end
		default:
			return nil, fmt.Errorf("unknown escape \\%c", s[i])
		}
	}
	return out, nil
}

// closingBrace returns the index of the } that ends a \{ started before from,
// skipping escaped characters, or -1.
func closingBrace(s string, from int) int {
	for j := from; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '}':
			return j
		}
	}
	return -1
}

// minRun is the shortest run of one byte that Escape writes as \{N c}.
const minRun = 16

// Escape renders bytes in the syntax Unescape reads:
// printable ASCII as itself, control bytes and bytes >= 0x7f as escapes, and
// runs of at least 16 equal bytes as \{N c}. Unescape(Escape(b)) == b.
func Escape(b []byte) string {
	var sb strings.Builder
	for i := 0; i < len(b); {
		j := i + 1
		for j < len(b) && b[j] == b[i] {
			j++
		}
		if j-i >= minRun {
			sb.WriteString(`\{`)
			sb.WriteString(strconv.Itoa(j - i))
			sb.WriteByte(' ')
			if b[i] == ' ' {
				sb.WriteString(`\x20`)
			} else {
				escapeByte(&sb, b[i])
			}
			sb.WriteByte('}')
			i = j
			continue
		}
		escapeByte(&sb, b[i])
		i++
	}
	return sb.String()
}

func escapeByte(sb *strings.Builder, c byte) {
	switch {
	case c == '\r':
		sb.WriteString(`\r`)
	case c == '\n':
		sb.WriteString(`\n`)
	case c == '\t':
		sb.WriteString(`\t`)
	case c == 0:
		sb.WriteString(`\0`)
	case c == '\\':
		sb.WriteString(`\\`)
	case c == '}':
		sb.WriteString(`\}`)
	case c < 0x20 || c >= 0x7f:
		fmt.Fprintf(sb, `\x%02x`, c)
	default:
		sb.WriteByte(c)
	}
}
