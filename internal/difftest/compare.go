package difftest

import (
	"bytes"
	"fmt"
	"strings"
)

// Mismatch is one step where two transcripts differ after normalisation.
type Mismatch struct {
	Line      int    // conversation line of the step (0 when the step lists differ)
	Conn      int    // connection of the step
	Request   string // escaped request bytes of the step
	Want, Got string // rendered normalised steps (state line and reply lines)
}

// Compare normalises both transcripts with n (DefaultNormalizer when nil) and
// returns the steps where they differ: a step's kind, connection, closed and
// timeout state, and its normalised reply bytes must all be equal.
func Compare(want, got *Transcript, n *Normalizer) []Mismatch {
	if n == nil {
		n = DefaultNormalizer()
	}
	w, g := n.Transcript(want), n.Transcript(got)
	var out []Mismatch
	for i := 0; i < max(len(w.Steps), len(g.Steps)); i++ {
		var ws, gs *Step
		if i < len(w.Steps) {
			ws = &w.Steps[i]
		}
		if i < len(g.Steps) {
			gs = &g.Steps[i]
		}
		if ws != nil && gs != nil && ws.Line == gs.Line && ws.Conn == gs.Conn &&
			ws.Kind == gs.Kind && ws.state() == gs.state() && bytes.Equal(ws.Reply, gs.Reply) {
			continue
		}
		m := Mismatch{Want: renderStep(ws), Got: renderStep(gs)}
		if ws != nil {
			m.Line, m.Conn, m.Request = ws.Line, ws.Conn, ws.Request
		} else {
			m.Line, m.Conn, m.Request = gs.Line, gs.Conn, gs.Request
		}
		out = append(out, m)
	}
	return out
}

func renderStep(s *Step) string {
	if s == nil {
		return "(no such step)\n"
	}
	var b strings.Builder
	b.WriteString(s.header() + "\n")
	lines := replyLines(s.Reply)
	if len(lines) == 0 {
		b.WriteString("(no reply)\n")
	}
	for _, l := range lines {
		b.WriteString(escapeLine(l) + "\n")
	}
	return b.String()
}

// Diff renders mismatches for a test failure: per step the request, then the
// reference's reply and the tested server's reply line by line, the first
// differing line marked with '!'.
func Diff(name, refName, testName string, ms []Mismatch) string {
	var b strings.Builder
	for i, m := range ms {
		if i == 8 {
			fmt.Fprintf(&b, "... and %d more differing steps\n", len(ms)-i)
			break
		}
		fmt.Fprintf(&b, "--- %s:%d (conn %d) sent: %s\n", name, m.Line, m.Conn, summarize(m.Request, 200))
		wl := strings.Split(strings.TrimSuffix(m.Want, "\n"), "\n")
		gl := strings.Split(strings.TrimSuffix(m.Got, "\n"), "\n")
		first := -1
		for j := 0; j < max(len(wl), len(gl)); j++ {
			if j >= len(wl) || j >= len(gl) || wl[j] != gl[j] {
				first = j
				break
			}
		}
		writeSide := func(who string, lines []string) {
			fmt.Fprintf(&b, "  %s:\n", who)
			for j, l := range lines {
				mark := " "
				if j == first {
					mark = "!"
				}
				if j >= 40 {
					fmt.Fprintf(&b, "    ... %d more lines\n", len(lines)-j)
					break
				}
				fmt.Fprintf(&b, "   %s %s\n", mark, summarize(l, 300))
			}
		}
		writeSide(refName, wl)
		writeSide(testName, gl)
	}
	return b.String()
}
