package server_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/slabcache/slabcache/server"

	"github.com/slabcache/slabcache/internal/testenv"
)

// memcachedTool is the memcached-tool script Debian's memcached package
// ships.
const memcachedTool = "/usr/share/memcached/scripts/memcached-tool"

// The tools operators already point at memcached work against slabcached:
// libmemcached's memcstat and memcached's own memcached-tool (display,
// stats, settings, dump), with the same content as from memcached.
func TestOperatorTools(t *testing.T) {
	memcstat := testenv.LookPath(t, "memcstat")
	perl := testenv.LookPath(t, "perl")
	if _, err := os.Stat(memcachedTool); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing (Debian package memcached)", memcachedTool)
		}
		t.Skipf("%s missing", memcachedTool)
	}
	mc := testenv.StartReference(t)
	sc := startBinary(t, "--metrics-listen", "off")
	for _, addr := range []string{mc, sc} {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(nc, "set a:b 3 0 1\r\n1\r\nset c 0 100 300\r\n%s\r\nget a:b\r\nquit\r\n", strings.Repeat("x", 300))
		io.Copy(io.Discard, nc)
		nc.Close()
	}
	run := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	// memcstat prints every general stat.
	out := run(memcstat, "--servers="+sc)
	for _, want := range []string{"curr_items: 2", "get_hits: 1", "cmd_set: 2", "version: " + server.Version} {
		if !strings.Contains(out, want) {
			t.Errorf("memcstat lacks %q:\n%s", want, out)
		}
	}
	// memcached-tool display: one row per class holding items, two items.
	out = run(perl, memcachedTool, sc, "display")
	rows, count := 0, 0
	for _, line := range strings.Split(out, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 5 {
			rows++
			var n int
			fmt.Sscan(f[4], &n)
			count += n
		}
	}
	if rows != 2 || count != 2 {
		t.Errorf("memcached-tool display: %d classes, %d items, want 2 and 2:\n%s", rows, count, out)
	}
	// stats and settings: the same field names as memcached's.
	for _, cmd := range []string{"stats", "settings"} {
		names := func(addr string) []string {
			var n []string
			for _, line := range strings.Split(run(perl, memcachedTool, addr, cmd), "\n")[1:] {
				if f := strings.Fields(line); len(f) >= 1 {
					n = append(n, f[0])
				}
			}
			sort.Strings(n)
			return n
		}
		want, got := names(mc), names(sc)
		missing := map[string]bool{}
		for _, n := range want {
			missing[n] = true
		}
		for _, n := range got {
			delete(missing, n)
		}
		if len(missing) > 0 {
			t.Errorf("memcached-tool %s: slabcached lacks %v", cmd, missing)
		}
	}
	// dump: the same items (key, flags, expiry, value) as memcached's.
	dump := func(addr string) []string {
		// Lines end in \r\n; the tool prints the items in Perl's
		// hash order.
		lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(run(perl, memcachedTool, addr, "dump"), "\r", "")), "\n")[1:]
		var items []string
		for i := 0; i+1 < len(lines); i += 2 {
			// add <key> <flags> <expiry> <bytes>: an absolute expiry
			// may differ by a second between the two servers.
			f := strings.Fields(lines[i])
			if len(f) == 5 && f[3] != "0" {
				f[3] = "<time>"
			}
			items = append(items, strings.Join(f, " ")+" "+lines[i+1])
		}
		sort.Strings(items)
		return items
	}
	if w, g := dump(mc), dump(sc); strings.Join(w, "\n") != strings.Join(g, "\n") {
		t.Errorf("memcached-tool dump:\nmemcached:\n%q\nslabcached:\n%q", w, g)
	}
}
