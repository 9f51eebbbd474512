package server

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/slabcache/slabcache/internal/testenv"
)

// pymemcacheScript exercises pymemcache's client (Debian's
// python3-pymemcache) against the address in argv[1] and prints "ok" when
// every call returned what memcached returns.
const pymemcacheScript = `
import ssl, sys
from pymemcache.client.base import Client
host, port = sys.argv[1].rsplit(":", 1)
# With a CA file as argv[2], over TLS, checking the server's certificate.
ctx = ssl.create_default_context(cafile=sys.argv[2]) if len(sys.argv) > 2 else None
c = Client((host, int(port)), connect_timeout=5, timeout=5, tls_context=ctx)
def check(what, got, want):
    if got != want:
        print("%s: got %r, want %r" % (what, got, want)); sys.exit(1)
check("set", c.set("a", b"1", noreply=False), True)
check("get", c.get("a"), b"1")
check("get miss", c.get("nope"), None)
check("set_many", c.set_many({"b": b"2", "c": b"3"}, noreply=False), [])
check("get_many", c.get_many(["a", "b", "c", "nope"]), {"a": b"1", "b": b"2", "c": b"3"})
check("add existing", c.add("a", b"x", noreply=False), False)
check("add new", c.add("d", b"4", noreply=False), True)
check("replace", c.replace("d", b"5", noreply=False), True)
check("append", c.append("d", b"6", noreply=False), True)
check("prepend", c.prepend("d", b"0", noreply=False), True)
check("get d", c.get("d"), b"056")
v, cas = c.gets("a")
check("gets", v, b"1")
check("cas ok", c.cas("a", b"9", cas, noreply=False), True)
check("cas stale", c.cas("a", b"8", cas, noreply=False), False)
check("cas missing", c.cas("zz", b"8", b"1", noreply=False), None)
check("incr", c.incr("a", 5, noreply=False), 14)
check("decr", c.decr("a", 20, noreply=False), 0)
check("incr missing", c.incr("nope", 1, noreply=False), None)
check("touch", c.touch("a", 100, noreply=False), True)
check("touch missing", c.touch("nope", 100, noreply=False), False)
check("delete", c.delete("a", noreply=False), True)
check("delete missing", c.delete("a", noreply=False), False)
big = b"x" * (512 * 1024)
check("set big", c.set("big", big, noreply=False), True)
check("get big", c.get("big"), big)
check("version", c.version().startswith(b"1.6"), True)
check("stats", int(c.stats()[b"curr_items"]) >= 1, True)
check("flush_all", c.flush_all(noreply=False), True)
check("after flush", c.get("b"), None)
try:
    c.set("bad key", b"v")
    print("a key with a space was accepted"); sys.exit(1)
except Exception:
    pass
print("ok")
`

// pymemcache, a widely used Python client, works against slabcached for
// every call a cache user makes.
func TestPymemcache(t *testing.T) {
	py := pymemcachePython(t)
	srv := startTestServer(t, nil)
	// The script's expectations hold for memcached too: run it there first.
	for _, target := range []struct{ name, addr string }{
		{"memcached", testenv.StartReference(t)},
		{"slabcached", srv.Addr()},
	} {
		out, err := exec.Command(py, "-c", pymemcacheScript, target.addr).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "ok" {
			t.Fatalf("pymemcache against %s: %v\n%s", target.name, err, out)
		}
	}
}

// pymemcachePython returns the Python that has pymemcache, or ends the test.
func pymemcachePython(t *testing.T) string {
	t.Helper()
	py := "/usr/bin/python3" // Debian's, where python3-pymemcache lives
	if _, err := os.Stat(py); err != nil {
		py = testenv.LookPath(t, "python3")
	}
	if out, err := exec.Command(py, "-c", "import pymemcache").CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pymemcache missing (Debian package python3-pymemcache): %s", out)
		}
		t.Skipf("pymemcache missing (Debian package python3-pymemcache): %s", out)
	}
	return py
}

// pymemcache over TLS (its tls_context, verifying the server's
// certificate) works against slabcached -Z as against memcached 1.6.45 -Z.
func TestPymemcacheOverTLS(t *testing.T) {
	py := pymemcachePython(t)
	certs := testenv.WriteCerts(t)
	srv := startTLSServer(t, certs, nil)
	ref := testenv.StartReference(t, "-Z", "-o", "ssl_chain_cert="+certs.ServerCert+",ssl_key="+certs.ServerKey)
	for _, target := range []struct{ name, addr string }{
		{"memcached -Z", ref},
		{"slabcached -Z", srv.Addr()},
	} {
		out, err := exec.Command(py, "-c", pymemcacheScript, target.addr, certs.CA).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "ok" {
			t.Fatalf("pymemcache against %s: %v\n%s", target.name, err, out)
		}
	}
}
