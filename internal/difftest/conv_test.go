package difftest

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	src := `# a comment
flags -I 2m -o slab_chunk_max=1
send set k 0 0 1
raw x\r\n
recv

  # indented comment
conn 2
send get k
expect-close
conn 1
raw set big 0 0 10\r\n
write 3
raw 0123456789\r\n
wait 200ms
sleep 1s
close
send version
recv
`
	c, err := Parse("t.conv", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Flags, " "); got != "-I 2m -o slab_chunk_max=1" {
		t.Errorf("flags = %q", got)
	}
	var kinds []actionKind
	for _, a := range c.actions {
		kinds = append(kinds, a.kind)
	}
	want := []actionKind{actSend, actRaw, actRecv, actConn, actSend, actClosed, actConn, actRaw, actWrite, actRaw, actWait, actSleep, actClose, actSend, actRecv}
	if len(kinds) != len(want) {
		t.Fatalf("kinds = %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("kinds = %v, want %v", kinds, want)
		}
	}
	if c.actions[2].line != 5 || c.actions[8].chunk != 3 || c.actions[3].conn != 2 {
		t.Errorf("line/chunk/conn not recorded: %+v %+v %+v", c.actions[2], c.actions[8], c.actions[3])
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"send get k\n", "unsent bytes at the end"},
		{"# nothing\n", "no step"},
		{"send get k\nsleep 1s\nrecv\n", "before sleep"},
		{"send get k\nconn 2\nrecv\n", "before conn"},
		{"send get k\nclose\nrecv\n", "before close"},
		{"send get k \nrecv\n", "trailing blank"},
		{"send get \\q\nrecv\n", "unknown escape"},
		{"bogus\n", "unknown directive"},
		{"recv now\n", "takes no argument"},
		{"send x\nrecv\nflags -C\nsend y\nrecv\n", "flags must come before"},
		{"send x\nwait forever\n", "duration"},
		{"send x\nwait 20s\n", "duration"},
		{"write\nrecv\n", "nothing to send"},
		{"send x\nwrite -1\nrecv\n", "positive chunk"},
		{"conn 0\nsend x\nrecv\n", "conn needs"},
		{"raw\nrecv\n", "raw needs text"},
	}
	for _, tc := range tests {
		_, err := Parse("bad.conv", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) error = %v, want one containing %q", tc.src, err, tc.want)
		}
	}
}

// TestCorpusParses makes sure every conversation in testdata parses and has a
// golden file that parses with the same steps.
func TestCorpusParses(t *testing.T) {
	var files []string
	for _, corpus := range []string{"text", "meta", "harness"} {
		fs, _ := filepath.Glob(filepath.Join(Dir(), corpus, "*.conv"))
		files = append(files, fs...)
	}
	if len(files) < 20 {
		t.Fatalf("only %d conversations found", len(files))
	}
	for _, f := range files {
		c, err := ParseFile(f)
		if err != nil {
			t.Error(err)
			continue
		}
		g, err := ReadGolden(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		var lines []int
		for _, a := range c.actions {
			if a.kind == actRecv || a.kind == actClosed || a.kind == actWait {
				lines = append(lines, a.line)
			}
		}
		if len(lines) != len(g.Steps) {
			t.Errorf("%s: %d steps, golden has %d (re-record with -update)", c.Name, len(lines), len(g.Steps))
			continue
		}
		for i, s := range g.Steps {
			if s.Line != lines[i] {
				t.Errorf("%s: step %d is on line %d, golden says %d (re-record with -update)", c.Name, i, lines[i], s.Line)
				break
			}
		}
	}
}
