package difftest

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slabcache/slabcache/internal/testenv"
)

var update = flag.Bool("update", false, "record the golden files from memcached instead of comparing with them")

// TestCorpusMatchesMemcached plays every conversation of the corpus against
// a fresh memcached 1.6.45 and checks that the reply matches the golden file
// recorded from it, after normalisation. This proves the corpus, the golden
// files and the harness on the reference before any other server uses them.
// With -update it records the golden files instead.
func TestCorpusMatchesMemcached(t *testing.T) {
	for _, corpus := range []string{"text", "meta", "harness"} {
		files, _ := filepath.Glob(filepath.Join(Dir(), corpus, "*.conv"))
		if corpus == "text" && len(files) == 0 {
			t.Fatal("the text corpus is empty")
		}
		for _, f := range files {
			t.Run(corpus+"/"+strings.TrimSuffix(filepath.Base(f), ".conv"), func(t *testing.T) {
				t.Parallel()
				conv, err := ParseFile(f)
				if err != nil {
					t.Fatal(err)
				}
				got, err := conv.Play(Memcached(t, conv.Flags), PlayOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if *update {
					flags := "no extra flags"
					if len(conv.Flags) > 0 {
						flags = "flags: " + strings.ReplaceAll(strings.Join(conv.Flags, " "), Dir(), "${testdata}")
					}
					comment := fmt.Sprintf("Replies of memcached "+testenv.ReferenceVersion+" to %s (%s).\n"+
						"Recorded by: go test ./internal/difftest -run TestCorpusMatchesMemcached -update\n"+
						"Format: testdata/README.md; compared after normalisation (see Normalizer).",
						conv.Name, flags)
					if err := os.WriteFile(GoldenPath(f), got.Render(comment), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := ReadGolden(f)
				if err != nil {
					t.Fatalf("%v (record it with -update)", err)
				}
				if ms := Compare(want, got, nil); len(ms) > 0 {
					t.Errorf("memcached no longer matches its golden file:\n%s", Diff(conv.Name, "golden", "memcached", ms))
				}
			})
		}
	}
}
