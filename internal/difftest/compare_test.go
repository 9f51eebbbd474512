package difftest

import (
	"bytes"
	"strings"
	"testing"
)

func tr(replies ...string) *Transcript {
	t := &Transcript{Name: "x.conv"}
	for i, r := range replies {
		t.Steps = append(t.Steps, Step{Line: i + 1, Conn: 1, Kind: KindRecv, Reply: []byte(r)})
	}
	return t
}

// TestCompareCatchesRealDifferences: normalisation must not hide a wrong
// status, a wrong value byte, flags, lengths, a missing or extra line, or a
// different connection state.
func TestCompareCatchesRealDifferences(t *testing.T) {
	base := []string{
		"STORED\r\n",
		"VALUE foo 5 3 17\r\nbar\r\nEND\r\n",
		"VALUE foo 5 3 17\r\nbar\r\nEND\r\n",
		"STAT pid 123\r\nSTAT cmd_get 4\r\nEND\r\n",
		"VERSION 1.6.45\r\n",
		"HD c17 t99 Oab\r\n",
	}
	mutations := []struct {
		step int
		to   string
	}{
		{0, "NOT_STORED\r\n"},
		{0, "STORED\n"},
		{0, ""},
		{0, "STORED\r\nSTORED\r\n"},
		{1, "VALUE foo 5 3 17\r\nbaz\r\nEND\r\n"},         // value byte
		{1, "VALUE foo 6 3 17\r\nbar\r\nEND\r\n"},         // flags
		{1, "VALUE foo 5 3 17\r\nbar\r\n"},                // missing END
		{1, "VALUE fox 5 3 17\r\nbar\r\nEND\r\n"},         // key
		{2, "VALUE foo 5 3 18\r\nbar\r\nEND\r\n"},         // same item, new CAS
		{3, "STAT pid 123\r\nSTAT cmd_get 5\r\nEND\r\n"},  // a counter
		{3, "STAT pid 123\r\nSTAT cmd_gets 4\r\nEND\r\n"}, // a name
		{3, "STAT pid 123\r\nEND\r\n"},                    // a missing stat
		{4, "VERSION\r\n"},
		{5, "HD c17 t99 Oac\r\n"}, // opaque
		{5, "HD c17 t99\r\n"},     // missing flag
		{5, "HD c18 t99 Oab\r\n"}, // CAS differs from the earlier 17
	}
	want := tr(base...)
	if ms := Compare(want, tr(base...), nil); len(ms) != 0 {
		t.Fatalf("identical transcripts differ: %v", ms)
	}
	for _, m := range mutations {
		got := append([]string(nil), base...)
		got[m.step] = m.to
		ms := Compare(want, tr(got...), nil)
		if len(ms) != 1 || ms[0].Line != m.step+1 {
			t.Errorf("changing step %d from %q to %q: mismatches %+v, want exactly that step", m.step, base[m.step], m.to, ms)
		}
	}
}

func TestCompareNormalisesOnlyWhatMayDiffer(t *testing.T) {
	ref := tr(
		"VALUE a 0 1 5\r\nx\r\nEND\r\n",
		"VALUE a 0 1 5\r\nx\r\nVALUE b 0 1 9\r\ny\r\nEND\r\n",
		"VERSION 1.6.45\r\n",
		"STAT pid 4242\r\nSTAT uptime 3\r\nSTAT time 1700000000\r\nSTAT rusage_user 0.001\r\nSTAT curr_items 2\r\nEND\r\n",
		"VA 1 c5 t100 l2 h0\r\nx\r\n",
		"ME a exp=99 la=1 cas=5 fetch=no cls=1 size=63\r\n",
		"HD t-1 c0\r\n",
	)
	test := tr(
		"VALUE a 0 1 1000\r\nx\r\nEND\r\n",
		"VALUE a 0 1 1000\r\nx\r\nVALUE b 0 1 77\r\ny\r\nEND\r\n",
		"VERSION 0.1.0-slabcache\r\n",
		"STAT pid 1\r\nSTAT uptime 100\r\nSTAT time 1800000000\r\nSTAT rusage_user 9.5\r\nSTAT curr_items 2\r\nEND\r\n",
		"VA 1 c1000 t99 l0 h0\r\nx\r\n",
		"ME a exp=98 la=0 cas=1000 fetch=no cls=1 size=63\r\n",
		"HD t-1 c0\r\n",
	)
	if ms := Compare(ref, test, nil); len(ms) != 0 {
		t.Fatalf("legitimate differences were reported:\n%s", Diff("x.conv", "ref", "test", ms))
	}
	// t-1 (no expiry) and c0 (CAS off) are kept: they are not time or counter values.
	test.Steps[6].Reply = []byte("HD t5 c7\r\n")
	if ms := Compare(ref, test, nil); len(ms) != 1 {
		t.Fatalf("t-1/c0 versus t5/c7 not caught: %v", ms)
	}
}

func TestNormalizerLeavesValueDataAlone(t *testing.T) {
	// A value whose bytes look like lines the normaliser rewrites.
	val := "VERSION 1.2.3\r\nSTAT pid 7\r\nVALUE k 0 1 99\r\n"
	reply := "VALUE k 0 " + itoa(len(val)) + " 5\r\n" + val + "\r\nEND\r\n"
	n := DefaultNormalizer()
	got := string(n.Transcript(tr(reply)).Steps[0].Reply)
	want := "VALUE k 0 " + itoa(len(val)) + " <cas1>\r\n" + val + "\r\nEND\r\n"
	if got != want {
		t.Fatalf("normalised to %q, want %q", got, want)
	}
	// and a different value byte inside it is still a difference
	other := strings.Replace(reply, "pid 7", "pid 8", 1)
	if ms := Compare(tr(reply), tr(other), nil); len(ms) != 1 {
		t.Fatalf("a changed byte in value data was hidden")
	}
}

func itoa(n int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

func TestCASLabelsFollowEquality(t *testing.T) {
	// Server A: the second gets shows the same item (same CAS), the third a
	// modified one. Server B numbers differently but with the same pattern.
	a := tr("VALUE k 0 1 10\r\nx\r\nEND\r\n", "VALUE k 0 1 10\r\nx\r\nEND\r\n", "VALUE k 0 1 11\r\ny\r\nEND\r\n")
	b := tr("VALUE k 0 1 3\r\nx\r\nEND\r\n", "VALUE k 0 1 3\r\nx\r\nEND\r\n", "VALUE k 0 1 8\r\ny\r\nEND\r\n")
	if ms := Compare(a, b, nil); len(ms) != 0 {
		t.Fatalf("same CAS pattern reported as different: %v", ms)
	}
	// B forgets to change the CAS on modification.
	b.Steps[2].Reply = []byte("VALUE k 0 1 3\r\ny\r\nEND\r\n")
	if ms := Compare(a, b, nil); len(ms) != 1 || ms[0].Line != 3 {
		t.Fatalf("an unchanged CAS after a modification was not caught: %v", ms)
	}
	// A CAS of 0 (CAS disabled) is not renamed.
	if ms := Compare(tr("VALUE k 0 1 0\r\nx\r\nEND\r\n"), tr("VALUE k 0 1 4\r\nx\r\nEND\r\n"), nil); len(ms) != 1 {
		t.Fatal("CAS 0 versus a real CAS was not caught")
	}
}

func TestCompareStepState(t *testing.T) {
	a, b := tr("END\r\n"), tr("END\r\n")
	b.Steps[0].Closed = true
	if ms := Compare(a, b, nil); len(ms) != 1 {
		t.Error("closed versus open connection not caught")
	}
	b = tr("END\r\n")
	b.Steps[0].Timeout = true
	if ms := Compare(a, b, nil); len(ms) != 1 {
		t.Error("timeout not caught")
	}
	b = tr("END\r\n", "END\r\n")
	if ms := Compare(a, b, nil); len(ms) != 1 || !strings.Contains(ms[0].Want, "no such step") {
		t.Errorf("extra step not caught: %+v", ms)
	}
	b = tr("END\r\n")
	b.Steps[0].Conn = 2
	if ms := Compare(a, b, nil); len(ms) != 1 {
		t.Error("different connection not caught")
	}
}

func TestVolatileStatsAreConfigurable(t *testing.T) {
	a := tr("STAT bytes 61\r\nSTAT items:1:age 3\r\nEND\r\n")
	b := tr("STAT bytes 70\r\nSTAT items:1:age 9\r\nEND\r\n")
	if ms := Compare(a, b, nil); len(ms) != 0 {
		t.Fatalf("default volatile stats were compared: %v", ms)
	}
	strict := &Normalizer{VolatileStats: []string{"items:*:age"}}
	if ms := Compare(a, b, strict); len(ms) != 1 {
		t.Fatal("a normaliser without 'bytes' did not compare it")
	}
}

func TestDiffIsReadable(t *testing.T) {
	a := tr("STAT a 1\r\nSTAT b 2\r\nSTAT c 3\r\nSTAT d 4\r\nSTAT e 5\r\nSTAT f 6\r\nSTAT g 7\r\nSTAT h 8\r\nEND\r\n")
	b := tr("STAT a 1\r\nSTAT b 2\r\nSTAT c 3\r\nSTAT d 4\r\nSTAT e 50\r\nSTAT f 6\r\nSTAT g 7\r\nSTAT h 8\r\nEND\r\n")
	d := Diff("x.conv", "memcached", "slabcached", Compare(a, b, nil))
	for _, want := range []string{"x.conv:1", `- STAT e 5\r\n`, `+ STAT e 50\r\n`, `  STAT d 4\r\n`, "..."} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
	if strings.Contains(d, "STAT a 1") {
		t.Errorf("diff shows lines far from the change:\n%s", d)
	}
}

func TestTranscriptRoundTrip(t *testing.T) {
	in := &Transcript{Name: "r.conv", Steps: []Step{
		{Line: 3, Conn: 1, Kind: KindRecv, Request: `set k 0 0 1\r\nx\r\n`, Reply: []byte("STORED\r\n")},
		{Line: 5, Conn: 2, Kind: KindClosed, Closed: true},
		{Line: 7, Conn: 1, Kind: KindWait, Reply: []byte("#not a comment\r\n@not a header\r\nno newline")},
		{Line: 9, Conn: 1, Kind: KindRecv, Timeout: true, Reply: bytes.Repeat([]byte{0, '\n'}, 20)},
		{Line: 11, Conn: 1, Kind: KindRecv, Reply: append([]byte("VALUE big 0 1048576\r\n"), append(bytes.Repeat([]byte("z"), 1<<20), "\r\nEND\r\n"...)...)},
	}}
	data := in.Render("header\nsecond line")
	if !bytes.HasPrefix(data, []byte("# header\n# second line\n@3 conn=1 recv  # set k")) {
		t.Errorf("unexpected rendering:\n%s", data[:min(len(data), 200)])
	}
	if len(data) > 2000 {
		t.Errorf("a 1 MiB value rendered to %d bytes; runs should be compressed", len(data))
	}
	out, err := ParseTranscript("r.conv", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Steps) != len(in.Steps) {
		t.Fatalf("%d steps back, want %d", len(out.Steps), len(in.Steps))
	}
	for i := range in.Steps {
		w, g := in.Steps[i], out.Steps[i]
		if w.Line != g.Line || w.Conn != g.Conn || w.Kind != g.Kind || w.Closed != g.Closed || w.Timeout != g.Timeout || !bytes.Equal(w.Reply, g.Reply) {
			t.Errorf("step %d: got %+v, want %+v", i, g, w)
		}
	}
	if _, err := ParseTranscript("bad", []byte("STORED\\r\\n\n")); err == nil {
		t.Error("a reply line before any step header was accepted")
	}
	if _, err := ParseTranscript("bad", []byte("@x conn=1 recv\n")); err == nil {
		t.Error("a bad step header was accepted")
	}
}
