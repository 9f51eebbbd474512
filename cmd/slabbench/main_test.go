package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slabcache/slabcache/bench/compare"
	"github.com/slabcache/slabcache/cluster/discovery"
	"github.com/slabcache/slabcache/internal/mctest"
	"github.com/slabcache/slabcache/internal/testenv"
)

// With SLABBENCH_TEST_MAIN=1 the test binary acts as slabbench itself, so
// that `compare` can run it as its load-generator child process.
func TestMain(m *testing.M) {
	if os.Getenv("SLABBENCH_TEST_MAIN") == "1" {
		os.Exit(realMain(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Setenv("SLABBENCH_TEST_MAIN", "1") // for children only: TestMain ran already
	os.Exit(m.Run())
}

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = realMain(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestArgumentErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, "unknown subcommand"},
		{[]string{"run", "-conns", "0"}, "-conns"},
		{[]string{"run", "-ratio", "1"}, "ratio"},
		{[]string{"run", "-pipeline", "4", "-rate", "100"}, "closed loop only"},
		{[]string{"run", "-duration", "0"}, "unbounded"},
		{[]string{"run", "-addr", "10.1.2.3:11211"}, "not a loopback address"},
		{[]string{"run", "-addr", "localhost"}, "missing port"},
		{[]string{"run", "stray"}, "unexpected arguments"},
		{[]string{"compare"}, "-b-binary is required"},
		{[]string{"compare", "-b-binary", "/nonexistent", "-out", "OUT"}, "not an executable"},
		{[]string{"compare", "-b-binary", "/usr/bin/memcached", "-workloads", "nope", "-out", "OUT"}, "unknown workload"},
	}
	for _, c := range cases {
		for i := range c.args {
			c.args[i] = strings.ReplaceAll(c.args[i], "OUT", t.TempDir())
		}
		code, _, stderr := run(t, c.args...)
		if code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit 1 mentioning %q", c.args, code, stderr, c.want)
		}
	}
	if code, _, _ := run(t, "run", "-h"); code != 0 {
		t.Errorf("run -h: exit %d", code)
	}
}

func TestRunJSONAndPlots(t *testing.T) {
	addr := testenv.StartMemcached(t)
	prefix := filepath.Join(t.TempDir(), "mc")
	code, stdout, stderr := run(t, "run", "-addr", addr, "-duration", "1100ms", "-conns", "2", "-keys", "500",
		"-prefill", "-json", "-", "-plot", prefix, "-label", "memcached")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Ops       int64   `json:"ops"`
		Misses    int64   `json:"misses"`
		OpsPerSec float64 `json:"ops_per_sec"`
		Prefill   struct {
			Stored int64 `json:"stored"`
		} `json:"prefill"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("stdout is not the JSON result: %v\n%s", err, stdout)
	}
	if res.Ops == 0 || res.OpsPerSec <= 0 || res.Prefill.Stored != 500 || res.Misses != 0 {
		t.Fatalf("result %+v", res)
	}
	// One progress line per second went to stderr.
	if !strings.Contains(stderr, "req/s") || !strings.Contains(stderr, "p99") {
		t.Errorf("no progress line on stderr: %q", stderr)
	}
	for _, f := range []string{prefix + "-latency.png", prefix + "-throughput.png"} {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.DecodeConfig(fh); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		fh.Close()
	}
}

// TestCompareEndToEnd runs `slabbench compare` as the Makefile will, with
// memcached on both sides and the load generator as a pinned child process.
func TestCompareEndToEnd(t *testing.T) {
	mc := testenv.LookPath(t, "memcached")
	out := t.TempDir()
	code, stdout, stderr := run(t, "compare", "-b-binary", mc, "-b-name", "memcached-b", "-b-args", strings.Join(compare.MemcachedArgs(), " "),
		"-quick", "-duration", "300ms", "-conns", "4", "-keys", "1000", "-mem-items", "0", "-memcaslap", "", "-memtier", "",
		"-workloads", "getset-p16", "-m", "64", "-out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "| getset-p16 |") || !strings.Contains(stdout, "throughput ≥ 1.3× on getset-p16") {
		t.Fatalf("report lacks the workload row or its target:\n%s", stdout)
	}
	// The child wrote its JSON results: two runs and two prefills.
	loads, _ := filepath.Glob(filepath.Join(out, "load-*.json"))
	if len(loads) != 4 {
		t.Fatalf("%d load-generator results in %s, want 4 (2 prefills, 2 runs): %s", len(loads), out, stderr)
	}
	for _, f := range []string{"report.md", "report.json", "getset-p16-latency.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

// Cluster mode routes through the Go client, counts each member's requests
// from its stats and writes the per-second timeline (with the gets' hits
// and misses) as JSON.
func TestClusterModeJSON(t *testing.T) {
	a, b := testenv.StartMemcached(t), testenv.StartMemcached(t)
	table := discovery.NewTable([]discovery.Member{
		{Name: "a", Addr: a, Status: discovery.StatusAlive},
		{Name: "b", Addr: b, Status: discovery.StatusAlive},
	})
	disco, _ := mctest.ServeDiscovery(t, table, false, nil)
	out := filepath.Join(t.TempDir(), "cluster.json")
	code, stdout, stderr := run(t, "run", "-discover", disco, "-quiet", "-conns", "4", "-keys", "1000",
		"-duration", "2500ms", "-json", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "busiest node share / mean share") {
		t.Fatalf("no summary:\n%s", stdout)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res clusterResult
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Timeline) < 2 || res.Nodes[a] == 0 || res.Nodes[b] == 0 || res.BusiestOverAvg < 1 {
		t.Fatalf("result %+v", res)
	}
	gets := int64(0)
	for _, p := range res.Timeline {
		gets += p.Hits + p.Misses
	}
	if gets == 0 || res.Timeline[len(res.Timeline)-1].Hits == 0 {
		t.Fatalf("timeline without hits: %+v", res.Timeline)
	}
}
