package server_test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/slabcache/slabcache/internal/difftest"
	"github.com/slabcache/slabcache/internal/testenv"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binOut  []byte
)

// slabcachedBinary builds cmd/slabcached once per test run.
func slabcachedBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := filepath.Abs(filepath.Join("..", "bin", "test"))
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "slabcached")
		binOut, binErr = exec.Command("go", "build", "-o", binPath, "../cmd/slabcached").CombinedOutput()
	})
	if binErr != nil {
		t.Fatalf("building slabcached: %v\n%s", binErr, binOut)
	}
	return binPath
}

// startBinary starts the built slabcached with args on a free port.
func startBinary(t *testing.T, args ...string) string {
	t.Helper()
	bin := slabcachedBinary(t)
	return testenv.StartServer(t, func(port int) *exec.Cmd {
		return exec.Command(bin, append([]string{"-l", "127.0.0.1", "-p", strconv.Itoa(port)}, args...)...)
	})
}

// Every text conversation of the corpus gets the same replies from
// slabcached as from memcached 1.6.45, byte for byte.
func TestTextCorpusMatchesMemcached(t *testing.T) {
	difftest.Run(t, difftest.Memcached, difftest.Binary(slabcachedBinary(t)), &difftest.Options{Parallel: true},
		difftest.Files(t, "text")...)
}

// libmemcached's protocol checker gives slabcached exactly the results it
// gives memcached 1.6.45, in its ASCII (-a) and binary (-b) modes (1.6.45
// fails "ascii delete" and "ascii delete noreply": libmemcached sends a
// hold time that 1.6.45 no longer reads).
func TestMemccapable(t *testing.T) {
	tool := testenv.LookPath(t, "memccapable")
	ourAddr, refAddr := startBinary(t), testenv.StartReference(t)
	for _, mode := range []string{"ascii", "binary"} {
		run := func(addr string) (map[string]bool, []byte) {
			host, port, _ := splitHostPort(addr)
			out, _ := exec.Command(tool, "-"+mode[:1], "-h", host, "-p", port).CombinedOutput()
			res := map[string]bool{}
			for _, m := range regexp.MustCompile(`(?m)^(`+mode+` [a-z_ ]+?)\s+\[(pass|FAIL)\]`).FindAllSubmatch(out, -1) {
				res[string(m[1])] = string(m[2]) == "pass"
			}
			return res, out
		}
		ours, out := run(ourAddr)
		ref, refOut := run(refAddr)
		if len(ref) < 25 || len(ours) != len(ref) {
			t.Fatalf("memccapable -%c ran %d tests against slabcached, %d against memcached\n%s\n%s", mode[0], len(ours), len(ref), out, refOut)
		}
		for name, pass := range ref {
			if ours[name] != pass {
				t.Errorf("memccapable %q: slabcached pass=%v, memcached %s pass=%v", name, ours[name], testenv.ReferenceVersion, pass)
			}
		}
	}
}

func splitHostPort(a string) (string, string, error) {
	i := len(a) - 1
	for i >= 0 && a[i] != ':' {
		i--
	}
	return a[:i], a[i+1:], nil
}

// gomemcache, a widely used Go client, works for every call it offers.
func TestGomemcache(t *testing.T) {
	mc := memcache.New(startBinary(t))
	mc.Timeout = 5 * time.Second
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(mc.Ping())
	must(mc.Set(&memcache.Item{Key: "a", Value: []byte("1"), Flags: 7}))
	it, err := mc.Get("a")
	if err != nil || string(it.Value) != "1" || it.Flags != 7 {
		t.Fatalf("Get: %+v %v", it, err)
	}
	if _, err := mc.Get("missing"); err != memcache.ErrCacheMiss {
		t.Fatalf("Get missing: %v", err)
	}
	if err := mc.Add(&memcache.Item{Key: "a", Value: []byte("x")}); err != memcache.ErrNotStored {
		t.Fatalf("Add existing: %v", err)
	}
	must(mc.Add(&memcache.Item{Key: "b", Value: []byte("2")}))
	if err := mc.Replace(&memcache.Item{Key: "nope", Value: []byte("x")}); err != memcache.ErrNotStored {
		t.Fatalf("Replace missing: %v", err)
	}
	must(mc.Replace(&memcache.Item{Key: "b", Value: []byte("3")}))
	must(mc.Append(&memcache.Item{Key: "b", Value: []byte("4")}))
	must(mc.Prepend(&memcache.Item{Key: "b", Value: []byte("2")}))
	m, err := mc.GetMulti([]string{"a", "b", "missing"})
	if err != nil || len(m) != 2 || string(m["b"].Value) != "234" {
		t.Fatalf("GetMulti: %v %v", m, err)
	}
	it, _ = mc.Get("b")
	it.Value = []byte("cas1")
	must(mc.CompareAndSwap(it))
	it.Value = []byte("cas2")
	if err := mc.CompareAndSwap(it); err != memcache.ErrCASConflict {
		t.Fatalf("stale CAS: %v", err)
	}
	must(mc.Set(&memcache.Item{Key: "n", Value: []byte("10")}))
	if v, err := mc.Increment("n", 5); err != nil || v != 15 {
		t.Fatalf("Increment: %d %v", v, err)
	}
	if v, err := mc.Decrement("n", 100); err != nil || v != 0 {
		t.Fatalf("Decrement: %d %v", v, err)
	}
	if _, err := mc.Increment("missing", 1); err != memcache.ErrCacheMiss {
		t.Fatalf("Increment missing: %v", err)
	}
	must(mc.Touch("a", 100))
	if err := mc.Touch("missing", 100); err != memcache.ErrCacheMiss {
		t.Fatalf("Touch missing: %v", err)
	}
	must(mc.Delete("a"))
	if err := mc.Delete("a"); err != memcache.ErrCacheMiss {
		t.Fatalf("Delete twice: %v", err)
	}
	must(mc.FlushAll())
	if _, err := mc.Get("b"); err != memcache.ErrCacheMiss {
		t.Fatalf("Get after FlushAll: %v", err)
	}
	must(mc.Set(&memcache.Item{Key: "c", Value: []byte("x")}))
	must(mc.DeleteAll())
	if _, err := mc.Get("c"); err != memcache.ErrCacheMiss {
		t.Fatalf("Get after DeleteAll: %v", err)
	}
}
