package difftest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/slabcache/slabcache/internal/testenv"
)

// Starter starts a server that takes memcached's command-line flags, with the
// extra flags given, listening on a free 127.0.0.1 port, and returns its
// host:port. The server must stop when t ends (t.Cleanup). It is called once
// per conversation, so every conversation starts from an empty cache with
// fresh counters.
type Starter func(t testing.TB, flags []string) string

// Memcached is the Starter for the reference: memcached 1.6.45, via
// testenv.StartReference (skipped, saying how to provide it, where it is
// absent).
func Memcached(t testing.TB, flags []string) string {
	return testenv.StartReference(t, flags...)
}

// Binary returns a Starter that runs the program at path (slabcached, or any
// server taking memcached's flags) as
//
//	path -l 127.0.0.1 -p PORT -U 0 [extra...] [conversation flags...]
//
// on a free port, waits until it accepts connections, and kills it when the
// test ends; what the program wrote to stdout and stderr is logged if the
// test failed (testenv.StartServer).
func Binary(path string, extra ...string) Starter {
	return func(t testing.TB, flags []string) string {
		t.Helper()
		return testenv.StartServer(t, func(port int) *exec.Cmd {
			args := append([]string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0"}, extra...)
			return exec.Command(path, append(args, flags...)...)
		})
	}
}

// Dir returns the absolute path of this package's testdata directory, so
// tests in other packages can find the corpus.
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("difftest: cannot locate the package source")
	}
	return filepath.Join(filepath.Dir(file), "testdata")
}

// Files returns the conversation files (*.conv) of one corpus directory under
// testdata, e.g. Files(t, "text") or Files(t, "meta"), sorted by name. It
// fails the test when the directory holds none.
func Files(t testing.TB, corpus string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(Dir(), corpus, "*.conv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("difftest: no conversations in %s", filepath.Join(Dir(), corpus))
	}
	sort.Strings(files)
	return files
}

// GoldenPath returns the golden file of a conversation: NAME.conv -> NAME.golden.
func GoldenPath(conv string) string {
	return strings.TrimSuffix(conv, ".conv") + ".golden"
}

// ReadGolden reads the golden transcript of a conversation file.
func ReadGolden(conv string) (*Transcript, error) {
	data, err := os.ReadFile(GoldenPath(conv))
	if err != nil {
		return nil, err
	}
	return ParseTranscript(filepath.Base(conv), data)
}

// Options tunes Run and RunGolden. The zero value uses the defaults.
type Options struct {
	Play       PlayOptions
	Normalizer *Normalizer // nil: DefaultNormalizer()
	RefName    string      // how diffs call the reference; default "memcached"
	TestName   string      // how diffs call the tested server; default "slabcached"
	// Parallel runs the conversations as parallel subtests (each still gets
	// its own servers). The corpus sleeps a few seconds in total, so this
	// roughly halves the wall time.
	Parallel bool
}

func (o *Options) names() (string, string) {
	r, s := "memcached", "slabcached"
	if o != nil && o.RefName != "" {
		r = o.RefName
	}
	if o != nil && o.TestName != "" {
		s = o.TestName
	}
	return r, s
}

// eachConversation runs body as a subtest per conversation file, named
// after the file, parallel when opt asks for it.
func eachConversation(t *testing.T, opt *Options, files []string, body func(t *testing.T, conv *Conversation)) {
	t.Helper()
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".conv"), func(t *testing.T) {
			if opt.Parallel {
				t.Parallel()
			}
			conv, err := ParseFile(f)
			if err != nil {
				t.Fatal(err)
			}
			body(t, conv)
		})
	}
}

// Run plays every conversation file against a fresh reference server and a
// fresh tested server (both started with the conversation's flags, the two
// plays running concurrently), and fails a subtest named after the file with
// a readable diff wherever the normalised replies differ.
//
//	difftest.Run(t, difftest.Memcached, difftest.Binary(slabcachedPath), nil, difftest.Files(t, "text")...)
func Run(t *testing.T, ref, test Starter, opt *Options, files ...string) {
	t.Helper()
	if opt == nil {
		opt = &Options{}
	}
	refName, testName := opt.names()
	eachConversation(t, opt, files, func(t *testing.T, conv *Conversation) {
		diff, err := compareOn(conv, ref(t, conv.Flags), test(t, conv.Flags), opt)
		if err != nil {
			t.Fatal(err)
		}
		if diff != "" {
			t.Errorf("%s differs from %s:\n%s", testName, refName, diff)
		}
	})
}

// compareOn plays conv against both addresses concurrently and returns the
// readable diff ("" when the normalised replies agree).
func compareOn(conv *Conversation, refAddr, testAddr string, opt *Options) (string, error) {
	refName, testName := opt.names()
	var (
		wg              sync.WaitGroup
		want, got       *Transcript
		wantErr, gotErr error
	)
	wg.Add(2)
	go func() { defer wg.Done(); want, wantErr = conv.Play(refAddr, opt.Play) }()
	go func() { defer wg.Done(); got, gotErr = conv.Play(testAddr, opt.Play) }()
	wg.Wait()
	if wantErr != nil {
		return "", fmt.Errorf("%s: %w", refName, wantErr)
	}
	if gotErr != nil {
		return "", fmt.Errorf("%s: %w", testName, gotErr)
	}
	if ms := Compare(want, got, opt.Normalizer); len(ms) > 0 {
		return Diff(conv.Name, refName, testName, ms), nil
	}
	return "", nil
}

// RunGolden plays every conversation file against a fresh tested server and
// compares with the file's golden transcript (recorded from memcached), so a
// server can be checked where memcached is not installed.
func RunGolden(t *testing.T, test Starter, opt *Options, files ...string) {
	t.Helper()
	if opt == nil {
		opt = &Options{}
	}
	refName, testName := opt.names()
	refName += " (golden)"
	eachConversation(t, opt, files, func(t *testing.T, conv *Conversation) {
		want, err := ReadGolden(conv.Path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := conv.Play(test(t, conv.Flags), opt.Play)
		if err != nil {
			t.Fatalf("%s: %v", testName, err)
		}
		if ms := Compare(want, got, opt.Normalizer); len(ms) > 0 {
			t.Errorf("%s differs from %s:\n%s", testName, refName, Diff(conv.Name, refName, testName, ms))
		}
	})
}
