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

// Diff renders mismatches for a test failure: per step the request, then a
// line diff of the normalised replies ("-" only in the reference's reply,
// "+" only in the tested server's, " " in both), with three lines of
// context around each change.
func Diff(name, refName, testName string, ms []Mismatch) string {
	var b strings.Builder
	fmt.Fprintf(&b, "(- %s, + %s)\n", refName, testName)
	for i, m := range ms {
		if i == 8 {
			fmt.Fprintf(&b, "... and %d more differing steps\n", len(ms)-i)
			break
		}
		fmt.Fprintf(&b, "--- %s:%d (conn %d) sent: %s\n", name, m.Line, m.Conn, summarize(m.Request, 200))
		wl := strings.Split(strings.TrimSuffix(m.Want, "\n"), "\n")
		gl := strings.Split(strings.TrimSuffix(m.Got, "\n"), "\n")
		writeLineDiff(&b, wl, gl, 3)
	}
	return b.String()
}

// diffOp is one line of a line diff.
type diffOp struct {
	kind byte // ' ', '-', '+'
	text string
}

// lineDiff computes a shortest edit script between a and b with an LCS table
// (replies are at most a few thousand lines; longer inputs are compared
// position by position).
func lineDiff(a, b []string) []diffOp {
	if len(a)*len(b) > 4<<20 {
		var ops []diffOp
		for i := 0; i < max(len(a), len(b)); i++ {
			switch {
			case i < len(a) && i < len(b) && a[i] == b[i]:
				ops = append(ops, diffOp{' ', a[i]})
			default:
				if i < len(a) {
					ops = append(ops, diffOp{'-', a[i]})
				}
				if i < len(b) {
					ops = append(ops, diffOp{'+', b[i]})
				}
			}
		}
		return ops
	}
	n, m := len(a), len(b)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []diffOp
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, diffOp{' ', a[i]})
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			ops = append(ops, diffOp{'+', b[j]})
			j++
		default:
			ops = append(ops, diffOp{'-', a[i]})
			i++
		}
	}
	return ops
}

func writeLineDiff(b *strings.Builder, a, c []string, context int) {
	ops := lineDiff(a, c)
	show := make([]bool, len(ops))
	for i, op := range ops {
		if op.kind != ' ' {
			for k := max(0, i-context); k <= min(len(ops)-1, i+context); k++ {
				show[k] = true
			}
		}
	}
	skipped := false
	for i, op := range ops {
		if !show[i] {
			skipped = true
			continue
		}
		if skipped {
			b.WriteString("    ...\n")
			skipped = false
		}
		fmt.Fprintf(b, "  %c %s\n", op.kind, summarize(op.text, 300))
	}
	if skipped {
		b.WriteString("    ...\n")
	}
}
