package archtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/slabcache/slabcache"

// area names the top-level directory of one of our packages: "proto",
// "slab", "lru", "cluster", "server", "bench", "cmd", "internal".
func area(pkg string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	if i := strings.IndexByte(rel, '/'); i >= 0 {
		rel = rel[:i]
	}
	return rel
}

func isStd(pkg string) bool {
	first := pkg
	if i := strings.IndexByte(pkg, '/'); i >= 0 {
		first = pkg[:i]
	}
	return !strings.Contains(first, ".")
}

// allowed says which of our areas an area may import (besides itself).
// nil for third-party means any; thirdParty false means standard library only.
var rules = map[string]struct {
	ours       []string
	thirdParty bool
}{
	"internal": {ours: []string{"internal"}, thirdParty: true},
	"proto":    {ours: nil, thirdParty: false},
	"slab":     {ours: []string{"internal"}, thirdParty: true},
	"lru":      {ours: []string{"slab", "internal"}, thirdParty: true},
	"cluster":  {ours: []string{"proto", "internal"}, thirdParty: true},
	"server":   {ours: []string{"proto", "slab", "lru", "cluster", "internal"}, thirdParty: true},
	"bench":    {ours: []string{"proto", "internal"}, thirdParty: true},
	"cmd":      {ours: []string{"proto", "slab", "lru", "cluster", "server", "bench", "internal"}, thirdParty: true},
}

// check returns the forbidden edges among the given package→imports lines.
func check(edges map[string][]string) []string {
	var bad []string
	for pkg, imps := range edges {
		from := area(pkg)
		rule, ok := rules[from]
		if !ok {
			bad = append(bad, fmt.Sprintf("%s: top-level directory %q has no import rule; add one to archtest", pkg, from))
			continue
		}
		for _, imp := range imps {
			if !strings.HasPrefix(imp, module) {
				if !isStd(imp) && !rule.thirdParty {
					bad = append(bad, fmt.Sprintf("%s imports %s: %s may import only the standard library", pkg, imp, from))
				}
				continue
			}
			to := area(imp)
			if to == from && to != "cmd" {
				continue
			}
			okEdge := false
			for _, a := range rule.ours {
				if a == to {
					okEdge = true
				}
			}
			if !okEdge {
				bad = append(bad, fmt.Sprintf("%s imports %s: %s must not import %s", pkg, imp, from, to))
			}
		}
	}
	return bad
}

func TestImportDirections(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	edges := map[string][]string{}
	s := bufio.NewScanner(bytes.NewReader(out))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) > 0 {
			edges[f[0]] = f[1:]
		}
	}
	if len(edges) < 3 {
		t.Fatalf("go list found only %d packages", len(edges))
	}
	for _, b := range check(edges) {
		t.Error(b)
	}
}

// TestCheckCatchesForbiddenEdges makes sure the rules above are not vacuous.
func TestCheckCatchesForbiddenEdges(t *testing.T) {
	bad := map[string][]string{
		module + "/proto":           {"fmt", "github.com/cespare/xxhash/v2"},
		module + "/slab":            {module + "/lru"},
		module + "/lru":             {module + "/server"},
		module + "/cluster":         {module + "/lru"},
		module + "/server":          {module + "/cmd/slabcached"},
		module + "/cmd/slabctl":     {module + "/cmd/slabcached"},
		module + "/internal/clock":  {module + "/proto"},
		module + "/newtoplevel/foo": {},
	}
	if got := check(bad); len(got) != len(bad) {
		t.Fatalf("check found %d forbidden edges, want %d: %q", len(got), len(bad), got)
	}
	good := map[string][]string{
		module + "/proto":          {"bytes", "strconv"},
		module + "/lru":            {module + "/slab", module + "/internal/clock"},
		module + "/server":         {module + "/lru", module + "/proto", "github.com/panjf2000/gnet/v2"},
		module + "/cmd/slabcached": {module + "/server"},
		module + "/cluster/ring":   {module + "/cluster"},
	}
	if got := check(good); len(got) != 0 {
		t.Fatalf("check rejected allowed edges: %q", got)
	}
}
