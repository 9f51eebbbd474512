package archtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/slabcache/slabcache"

// area names the top-level directory of one of our packages: "proto",
// "slab", "lru", "cluster", "server", "bench", "cmd", "internal",
// "examples".
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
	"internal": {ours: []string{"internal", "proto", "cluster"}, thirdParty: true},
	"proto":    {ours: nil, thirdParty: false},
	"slab":     {ours: []string{"internal"}, thirdParty: true},
	"lru":      {ours: []string{"slab", "internal"}, thirdParty: true},
	"cluster":  {ours: []string{"proto", "internal"}, thirdParty: true},
	"server":   {ours: []string{"proto", "slab", "lru", "cluster", "internal"}, thirdParty: true},
	"bench":    {ours: []string{"proto", "internal"}, thirdParty: true},
	"cmd":      {ours: []string{"proto", "slab", "lru", "cluster", "server", "bench", "internal"}, thirdParty: true},
	// examples use the client side only, as an application would.
	"examples": {ours: []string{"cluster"}, thirdParty: true},
}

// packageRules are the finer rules some packages' docs state, on top of
// their area's rule: the only packages of ours they may import (exact
// import paths relative to the module), and, when thirdParty is not nil,
// the only third-party module paths (prefixes) they may import.
var packageRules = map[string]struct {
	ours       []string
	thirdParty []string
}{
	"cluster/ring":       {ours: nil, thirdParty: []string{"github.com/cespare/xxhash/v2"}},
	"cluster/discovery":  {ours: []string{"cluster/ring", "proto"}, thirdParty: []string{}},
	"cluster/membership": {ours: []string{"cluster/discovery"}, thirdParty: []string{"github.com/hashicorp/serf", "github.com/hashicorp/memberlist", "go.uber.org/zap"}},
	"cluster/client":     {ours: []string{"cluster/ring", "cluster/discovery", "proto", "internal/keynotes"}, thirdParty: []string{}},
	// hot-key detection runs on the request path: the standard library
	// only, and the server's clock (itself the standard library only), whose
	// second the detector's windows follow.
	"cluster/hotkeys": {ours: []string{"internal/clock"}, thirdParty: []string{}},
	"cluster/peers":   {ours: []string{"proto"}, thirdParty: []string{}},
	"cluster/aside": {ours: []string{"cluster/client"}, thirdParty: []string{"github.com/klauspost/compress",
		"github.com/maypok86/otter/v2", "github.com/sony/gobreaker/v2", "golang.org/x/sync", "github.com/prometheus/client_golang"}},
	// difftest judges servers from outside: it must not share our codec.
	"internal/difftest":   {ours: []string{"internal/testenv"}},
	"internal/testenv":    {ours: []string{}},
	"internal/mctest":     {ours: []string{"proto", "cluster/discovery"}},
	"internal/clock":      {ours: []string{}},
	"internal/invariants": {ours: []string{}},
	"internal/keynotes":   {ours: []string{}, thirdParty: []string{}},
}

// checkPackage returns the edges of pkg that break its packageRules entry.
func checkPackage(pkg string, imps []string) []string {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	rule, ok := packageRules[rel]
	if !ok {
		return nil
	}
	var bad []string
	for _, imp := range imps {
		switch {
		case strings.HasPrefix(imp, module):
			to := strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
			if !slices.Contains(rule.ours, to) {
				bad = append(bad, fmt.Sprintf("%s imports %s: %s may import only %v of ours", pkg, imp, rel, rule.ours))
			}
		case !isStd(imp) && rule.thirdParty != nil:
			okMod := false
			for _, m := range rule.thirdParty {
				if imp == m || strings.HasPrefix(imp, m+"/") {
					okMod = true
				}
			}
			if !okMod {
				bad = append(bad, fmt.Sprintf("%s imports %s: %s may import only %v besides the standard library", pkg, imp, rel, rule.thirdParty))
			}
		}
	}
	return bad
}

// check returns the forbidden edges among the given package→imports lines.
func check(edges map[string][]string) []string {
	var bad []string
	for pkg, imps := range edges {
		bad = append(bad, checkPackage(pkg, imps)...)
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
		module + "/proto":             {"fmt", "github.com/cespare/xxhash/v2"},
		module + "/slab":              {module + "/lru"},
		module + "/lru":               {module + "/server"},
		module + "/cluster":           {module + "/lru"},
		module + "/server":            {module + "/cmd/slabcached"},
		module + "/cmd/slabctl":       {module + "/cmd/slabcached"},
		module + "/internal/clock":    {module + "/proto"},
		module + "/newtoplevel/foo":   {},
		module + "/cluster/ring":      {module + "/proto"},
		module + "/cluster/discovery": {"go.uber.org/zap"},
		module + "/cluster/client":    {module + "/cluster/membership"},
	}
	if got := check(bad); len(got) != len(bad) {
		t.Fatalf("check found %d forbidden edges, want %d: %q", len(got), len(bad), got)
	}
	good := map[string][]string{
		module + "/proto":             {"bytes", "strconv"},
		module + "/lru":               {module + "/slab", module + "/internal/clock"},
		module + "/server":            {module + "/lru", module + "/proto", "github.com/panjf2000/gnet/v2"},
		module + "/cmd/slabcached":    {module + "/server"},
		module + "/cluster/ring":      {"github.com/cespare/xxhash/v2", "crypto/md5"},
		module + "/cluster/discovery": {module + "/cluster/ring", module + "/proto", "encoding/json"},
		module + "/cluster/client":    {module + "/cluster/ring", module + "/cluster/discovery", module + "/proto"},
	}
	if got := check(good); len(got) != 0 {
		t.Fatalf("check rejected allowed edges: %q", got)
	}
}
