package difftest

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Transcript is what a server answered to one conversation: one Step per
// recv, expect-close or wait line.
type Transcript struct {
	Name  string // conversation file name
	Steps []Step
}

// Step is the reply to one step of a conversation.
type Step struct {
	Line    int    // line of the recv/expect-close/wait directive
	Conn    int    // client connection number
	Kind    string // KindRecv, KindClosed or KindWait
	Request string // escaped bytes sent in this step (for people; not compared)
	Reply   []byte // the bytes the server sent, without the harness's sentinel
	Closed  bool   // the server closed the connection during (or before) the step
	Timeout bool   // the reply did not end as expected within the time limit
}

// state renders the flags of a step that are compared besides the reply.
func (s *Step) state() string {
	var f []string
	if s.Closed {
		f = append(f, "closed")
	}
	if s.Timeout {
		f = append(f, "timeout")
	}
	return strings.Join(f, " ")
}

// header is the @ line of a step in the golden format.
func (s *Step) header() string {
	h := fmt.Sprintf("@%d conn=%d %s", s.Line, s.Conn, s.Kind)
	if st := s.state(); st != "" {
		h += " " + st
	}
	return h
}

// Render writes the transcript in the golden-file format:
//
//	# comment lines (ignored when read back)
//	@LINE conn=N KIND [closed] [timeout]  # request (for people)
//	reply line 1, escaped, including its \r\n
//	reply line 2 ...
//
// A reply is split after every newline byte; each piece is escaped with
// Escape (a leading '#' or '@' as \x23 / \x40), so the file has one text line
// per reply line and ParseTranscript gives back the exact bytes.
func (t *Transcript) Render(comment string) []byte {
	var b bytes.Buffer
	for _, l := range strings.Split(strings.TrimRight(comment, "\n"), "\n") {
		if l != "" {
			b.WriteString("# " + l + "\n")
		}
	}
	for i := range t.Steps {
		s := &t.Steps[i]
		b.WriteString(s.header())
		if s.Request != "" {
			b.WriteString("  # " + summarize(s.Request, 100))
		}
		b.WriteByte('\n')
		for _, l := range replyLines(s.Reply) {
			b.WriteString(escapeLine(l))
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// summarize shortens an escaped request for a header comment.
func summarize(s string, max int) string {
	s = strings.ReplaceAll(s, "\n", `\n`)
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// replyLines splits a reply after each '\n'; the last piece may lack one.
func replyLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out = append(out, b)
			break
		}
		out = append(out, b[:i+1])
		b = b[i+1:]
	}
	return out
}

func escapeLine(l []byte) string {
	e := Escape(l)
	if strings.HasPrefix(e, "#") || strings.HasPrefix(e, "@") {
		e = fmt.Sprintf(`\x%02x`, e[0]) + e[1:]
	}
	return e
}

// ParseTranscript reads the format Render writes.
func ParseTranscript(name string, data []byte) (*Transcript, error) {
	t := &Transcript{Name: name}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	n := 0
	var cur *Step
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "@"):
			head, req, _ := strings.Cut(line, "  # ")
			f := strings.Fields(head)
			if len(f) < 3 || !strings.HasPrefix(f[1], "conn=") {
				return nil, fmt.Errorf("%s:%d: bad step header %q", name, n, line)
			}
			ln, err1 := strconv.Atoi(f[0][1:])
			cn, err2 := strconv.Atoi(strings.TrimPrefix(f[1], "conn="))
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("%s:%d: bad step header %q", name, n, line)
			}
			st := Step{Line: ln, Conn: cn, Kind: f[2], Request: req}
			for _, fl := range f[3:] {
				switch fl {
				case "closed":
					st.Closed = true
				case "timeout":
					st.Timeout = true
				default:
					return nil, fmt.Errorf("%s:%d: unknown step flag %q", name, n, fl)
				}
			}
			t.Steps = append(t.Steps, st)
			cur = &t.Steps[len(t.Steps)-1]
		default:
			if cur == nil {
				return nil, fmt.Errorf("%s:%d: reply line before the first step header", name, n)
			}
			b, err := Unescape(line)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", name, n, err)
			}
			cur.Reply = append(cur.Reply, b...)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return t, nil
}
