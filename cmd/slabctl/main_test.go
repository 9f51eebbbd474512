package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/slabcache/slabcache/cluster/client"
	"github.com/slabcache/slabcache/cluster/discovery"
	"github.com/slabcache/slabcache/cluster/ring"
	"github.com/slabcache/slabcache/internal/mctest"
	"github.com/slabcache/slabcache/internal/testenv"
	"github.com/slabcache/slabcache/proto"
)

// fakeNode answers `config get cluster` and, unless elasticacheOnly,
// `cluster members`, as a slabcached node would.
func fakeNode(t *testing.T, ms []discovery.Member, elasticacheOnly bool) string {
	t.Helper()
	addr, _ := mctest.ServeDiscovery(t, discovery.NewTable(ms), elasticacheOnly, nil)
	return addr
}

var cluster3 = []discovery.Member{
	{Name: "node-a", Addr: "10.0.0.1:11211", GossipAddr: "10.0.0.1:7946", Status: discovery.StatusAlive, Weight: 1, Region: "eu"},
	{Name: "node-b", Addr: "10.0.0.2:11211", GossipAddr: "10.0.0.2:7946", Status: discovery.StatusAlive, Weight: 2},
	{Name: "node-c", Addr: "10.0.0.3:11211", GossipAddr: "10.0.0.3:7946", Status: discovery.StatusAlive, Weight: 1},
	{Name: "node-d", Addr: "10.0.0.4:11211", GossipAddr: "10.0.0.4:7946", Status: discovery.StatusFailed, Weight: 1},
}

func slabctl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestArgumentErrors(t *testing.T) {
	addr := fakeNode(t, cluster3, false)
	cases := [][]string{
		{},
		{"-addr", addr},
		{"-addr", addr, "frobnicate"},
		{"-addr", addr, "members", "extra"},
		{"-addr", addr, "ring", "extra"},
		{"-addr", addr, "whereis"},
		{"-addr", addr, "gen-config"},
		{"-addr", addr, "gen-config", "haproxy"},
		{"-addr", addr, "gen-config", "twemproxy", "-bogus"},
		{"-addr", addr, "gen-config", "twemproxy", "stray"},
		{"-addr", addr, "-placement", "modula", "ring"},
		{"-nosuchflag", "members"},
		{"-timeout", "soon", "members"},
	}
	for _, args := range cases {
		code, out, errOut := slabctl(t, args...)
		if code != 2 || out != "" || !strings.Contains(errOut, "usage: slabctl") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	// A node that is not there is a runtime error, not a usage error.
	dead := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	code, _, errOut := slabctl(t, "-addr", dead, "-timeout", "300ms", "members")
	if code != 1 || !strings.Contains(errOut, "slabctl:") || strings.Contains(errOut, "usage") {
		t.Errorf("dead node: exit %d, %q", code, errOut)
	}
	// Plain memcached does not answer `config get cluster`.
	mc := testenv.StartMemcached(t)
	if code, _, errOut := slabctl(t, "-addr", mc, "ring"); code != 1 || !strings.Contains(errOut, "not supported") {
		t.Errorf("memcached: exit %d, %q", code, errOut)
	}
}

func TestMembers(t *testing.T) {
	addr := fakeNode(t, cluster3, false)
	code, out, errOut := slabctl(t, "-addr", addr, "members")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	want := [][]string{
		{"NAME", "MEMCACHED", "GOSSIP", "STATUS", "WEIGHT", "REGION"},
		{"node-a", "10.0.0.1:11211", "10.0.0.1:7946", "alive", "1", "eu"},
		{"node-b", "10.0.0.2:11211", "10.0.0.2:7946", "alive", "2", "-"},
		{"node-c", "10.0.0.3:11211", "10.0.0.3:7946", "alive", "1", "-"},
		{"node-d", "10.0.0.4:11211", "10.0.0.4:7946", "failed", "1", "-"},
	}
	for i, l := range lines {
		if got := strings.Fields(l); strings.Join(got, " ") != strings.Join(want[i], " ") {
			t.Errorf("line %d: %q, want %q", i, got, want[i])
		}
	}
	// An ElastiCache-style endpoint: alive nodes only, with a note.
	addr = fakeNode(t, cluster3, true)
	code, out, errOut = slabctl(t, "-addr", addr, "members")
	if code != 0 || !strings.Contains(errOut, "does not know `cluster members`") || strings.Count(out, "\n") != 4 || !strings.Contains(out, "10.0.0.2:11211") {
		t.Fatalf("elasticache endpoint: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestRing(t *testing.T) {
	addr := fakeNode(t, cluster3, false)
	code, out, errOut := slabctl(t, "-addr", addr, "ring")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], "placement ketama, discovery version 1, 3 nodes") || len(lines) != 5 {
		t.Fatalf("output:\n%s", out)
	}
	r, _ := ring.New(ring.KindKetama, discovery.RingNodes(cluster3))
	total := 0.0
	for i, l := range lines[2:] {
		f := strings.Fields(l)
		st := r.Stats()[i]
		if f[0] != r.Nodes()[i].Addr || f[3] != strconv.Itoa(st.Points) {
			t.Errorf("line %q: want %s with %d points", l, r.Nodes()[i].Addr, st.Points)
		}
		share, _ := strconv.ParseFloat(strings.TrimSuffix(f[4], "%"), 64)
		if d := share - 100*st.Share; d > 0.01 || d < -0.01 {
			t.Errorf("line %q: share, want %.2f%%", l, 100*st.Share)
		}
		total += share
	}
	if total < 99.9 || total > 100.1 {
		t.Errorf("shares sum to %.2f%%", total)
	}
	if !strings.Contains(lines[3], " 2 ") || !strings.Contains(lines[3], " 240 ") {
		t.Errorf("weight-2 node line %q: want weight 2 and 240 points", lines[3])
	}
	// Ch3 has no points; shares are 1/n.
	_, out, _ = slabctl(t, "-addr", addr, "-placement", "ch3", "ring")
	if !strings.Contains(out, "placement ch3") || strings.Count(out, "33.33%") != 3 {
		t.Fatalf("ch3 ring:\n%s", out)
	}
}

// TestWhereisAgreesWithClient checks that slabctl and the Go client, both
// reading the same node, name the same owner for every key, with every
// placement.
func TestWhereisAgreesWithClient(t *testing.T) {
	var ms []discovery.Member
	for i := 0; i < 4; i++ {
		ms = append(ms, discovery.Member{Name: "n" + strconv.Itoa(i), Addr: testenv.StartMemcached(t), Status: discovery.StatusAlive, Weight: 1 + i%2})
	}
	addr := fakeNode(t, ms, false)
	keys := make([]string, 500)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i*31)
	}
	for _, kind := range []string{"ketama", "ketama-md5", "ch3", "jump"} {
		k, _ := ring.ParseKind(kind)
		c, err := client.New(client.Config{Endpoints: []string{addr}, Placement: k, PollInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		code, out, errOut := slabctl(t, append([]string{"-addr", addr, "-placement", kind, "whereis"}, keys...)...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", kind, code, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != len(keys) {
			t.Fatalf("%s: %d lines for %d keys", kind, len(lines), len(keys))
		}
		for i, l := range lines {
			f := strings.Split(l, "\t")
			if f[0] != keys[i] || f[1] != c.Owner(keys[i]) {
				t.Fatalf("%s: slabctl says %q, client says %s", kind, l, c.Owner(keys[i]))
			}
		}
		// And the owner really holds the key once the client stored it.
		if err := c.Set(&client.Item{Key: keys[0], Value: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
}

func TestGenConfig(t *testing.T) {
	addr := fakeNode(t, cluster3, false)
	code, out, errOut := slabctl(t, "-addr", addr, "gen-config", "twemproxy", "-listen", "127.0.0.1:22999", "-pool", "mine")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want, _ := discovery.TwemproxyConfig(discovery.Sorted(cluster3), "mine", "127.0.0.1:22999", "")
	if out != string(want) {
		t.Fatalf("twemproxy config\n%s\nwant\n%s", out, want)
	}
	if !strings.Contains(out, "10.0.0.2:11211:2") || strings.Contains(out, "10.0.0.4") {
		t.Fatalf("weights or failed member wrong:\n%s", out)
	}
	path := filepath.Join(t.TempDir(), "mcrouter.json")
	code, out, errOut = slabctl(t, "-addr", addr, "gen-config", "mcrouter", "-o", path)
	if code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q: %s", code, out, errOut)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Pools map[string]struct{ Servers []string } `json:"pools"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if s := cfg.Pools["slabcache"].Servers; len(s) != 3 || s[0] != "10.0.0.1:11211" || s[2] != "10.0.0.3:11211" {
		t.Fatalf("servers %v", s)
	}
	// The generated twemproxy file is one nutcracker accepts.
	nc := testenv.LookPath(t, "nutcracker")
	yml := filepath.Join(t.TempDir(), "nc.yml")
	if code, _, errOut := slabctl(t, "-addr", addr, "gen-config", "twemproxy", "-o", yml); code != 0 {
		t.Fatal(errOut)
	}
	if out, err := exec.Command(nc, "-t", "-c", yml).CombinedOutput(); err != nil || !strings.Contains(string(out), "syntax is ok") {
		t.Fatalf("nutcracker -t: %v %s", err, out)
	}
}

// TestFollowsClusterPlacement: against a node that advertises its
// placement (`config get placement`), slabctl and the Go client both use
// it unless told otherwise, and the proxy configs slabctl writes say
// whether they route keys the same way.
func TestFollowsClusterPlacement(t *testing.T) {
	var ms []discovery.Member
	for i := 0; i < 3; i++ {
		ms = append(ms, discovery.Member{Name: "n" + strconv.Itoa(i), Addr: "10.0.0." + strconv.Itoa(i+1) + ":11211", Status: discovery.StatusAlive, Weight: 1})
	}
	keys := make([]string, 200)
	for i := range keys {
		keys[i] = "k:" + strconv.Itoa(i)
	}
	owners := func(args ...string) []string {
		t.Helper()
		code, out, errOut := slabctl(t, append(args, append([]string{"whereis"}, keys...)...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		return strings.Split(strings.TrimSpace(out), "\n")
	}
	plain := fakeNode(t, ms, false) // does not know `config get placement`
	for _, kind := range []string{"ketama-md5", "ch3", "jump"} {
		addr := mctest.ServeDiscoveryPlacement(t, discovery.NewTable(ms), kind)
		got := owners("-addr", addr)
		want := owners("-addr", plain, "-placement", kind)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%s: slabctl did not follow the advertised placement", kind)
		}
		if strings.Join(got, "\n") == strings.Join(owners("-addr", plain), "\n") {
			t.Fatalf("%s: 200 keys placed as with ketama", kind)
		}
		if got := owners("-addr", addr, "-placement", "ketama"); strings.Join(got, "\n") != strings.Join(owners("-addr", plain), "\n") {
			t.Fatalf("%s: -placement ketama not used as given", kind)
		}
		if _, out, _ := slabctl(t, "-addr", addr, "ring"); !strings.HasPrefix(out, "placement "+kind+",") {
			t.Fatalf("%s: ring says %q", kind, out)
		}
		c, err := client.New(client.Config{Endpoints: []string{addr}, PollInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		fixed, err := client.New(client.Config{Endpoints: []string{addr}, PollInterval: -1, FixedPlacement: true})
		if err != nil {
			t.Fatal(err)
		}
		if c.Placement().String() != kind || fixed.Placement() != ring.KindKetama {
			t.Fatalf("%s: client routes by %s, with FixedPlacement by %s", kind, c.Placement(), fixed.Placement())
		}
		for i, k := range keys {
			if f := strings.Split(got[i], "\t"); f[1] != c.Owner(k) {
				t.Fatalf("%s: slabctl says %q, client says %s", kind, got[i], c.Owner(k))
			}
		}
		c.Close()
		fixed.Close()

		// The twemproxy pool hashes as the placement where twemproxy can.
		code, out, errOut := slabctl(t, "-addr", addr, "gen-config", "twemproxy")
		if code != 0 {
			t.Fatalf("%s: gen-config twemproxy: exit %d: %s", kind, code, errOut)
		}
		wantHash, ok := map[string]string{"ketama-md5": "hash: md5"}[kind]
		if !ok {
			wantHash = "hash: fnv1a_64"
		}
		if !strings.Contains(out, wantHash) || (errOut != "") == ok {
			t.Fatalf("%s: twemproxy pool %q, stderr %q", kind, out, errOut)
		}
		_, _, errOut = slabctl(t, "-addr", addr, "gen-config", "mcrouter")
		if (errOut == "") != (kind == "ch3") {
			t.Fatalf("%s: gen-config mcrouter stderr %q", kind, errOut)
		}
	}
}

func TestFlushPrefix(t *testing.T) {
	var got []string
	addr, _ := mctest.Serve(t, func(req *proto.Request, dst []byte) []byte {
		if req.Command != proto.CmdFlushPrefix {
			return append(dst, "ERROR\r\n"...)
		}
		got = append(got, string(req.Key))
		if string(req.Key) == "late:" {
			return append(dst, "SERVER_ERROR flush_prefix pending on 10.0.0.4:11211\r\n"...)
		}
		return append(dst, "OK\r\n"...)
	})
	code, out, errOut := slabctl(t, "-addr", addr, "flush-prefix", "user:42:", "tenant:")
	if code != 0 || out != "user:42:\tOK\ntenant:\tOK\n" || errOut != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if strings.Join(got, " ") != "user:42: tenant:" {
		t.Fatalf("server saw %q", got)
	}
	code, out, errOut = slabctl(t, "-addr", addr, "flush-prefix", "late:", "x:")
	if code != 1 || !strings.Contains(out, "late:\tSERVER_ERROR flush_prefix pending on 10.0.0.4:11211\n") || !strings.Contains(errOut, "1 of 2 prefixes") {
		t.Fatalf("a pending member: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, _, errOut := slabctl(t, "-addr", addr, "flush-prefix"); code != 2 || !strings.Contains(errOut, "usage") {
		t.Fatalf("no prefix: exit %d, %q", code, errOut)
	}
}
