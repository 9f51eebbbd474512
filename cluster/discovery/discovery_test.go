package discovery

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/slabcache/slabcache/cluster/ring"
	"github.com/slabcache/slabcache/internal/testenv"
	"github.com/slabcache/slabcache/proto"
)

var three = []Member{
	{Name: "node-b", Addr: "cache-b.example:11211", IP: "10.0.0.2", GossipAddr: "10.0.0.2:7946", Status: StatusAlive, Weight: 1, Region: "eu-1"},
	{Name: "node-a", Addr: "10.0.0.1:11211", IP: "10.0.0.1", GossipAddr: "10.0.0.1:7946", Status: StatusAlive, Weight: 2},
	{Name: "node-c", Addr: "10.0.0.3:11300", IP: "10.0.0.3", GossipAddr: "10.0.0.3:7946", Status: StatusFailed, Weight: 1},
}

func TestConfigClusterFormat(t *testing.T) {
	tb := NewTable(three)
	got := string(tb.AppendConfigCluster(nil))
	body := "1\n10.0.0.1|10.0.0.1|11211 cache-b.example|10.0.0.2|11211\n"
	want := "CONFIG cluster 0 " + strconv.Itoa(len(body)) + "\r\n" + body + "\r\nEND\r\n"
	if got != want {
		t.Fatalf("config get cluster reply\n got %q\nwant %q", got, want)
	}
	// The byte count is the length of the data block: version line and
	// node line with their "\n", without the closing "\r\n".
	if !strings.HasPrefix(got, "CONFIG cluster 0 57\r\n") {
		t.Fatalf("byte count: %q", got[:22])
	}
	v, err := ReadConfigCluster(proto.NewReader(strings.NewReader(got)))
	if err != nil {
		t.Fatal(err)
	}
	if v.Version != 1 || len(v.Members) != 2 {
		t.Fatalf("parsed %+v", v)
	}
	if v.Members[0].Addr != "10.0.0.1:11211" || v.Members[1].Addr != "cache-b.example:11211" || v.Members[1].IP != "10.0.0.2" {
		t.Fatalf("parsed members %+v", v.Members)
	}
}

func TestReadConfigClusterElastiCacheStyle(t *testing.T) {
	// A reply shaped as AWS documents it, with hostnames, followed by the
	// next reply on the same connection, which must stay unread.
	body := "12\nmycluster.0001.cache.amazonaws.com|10.82.235.120|11211 mycluster.0002.cache.amazonaws.com|10.80.249.27|11211\n"
	raw := "CONFIG cluster 0 " + strconv.Itoa(len(body)) + "\r\n" + body + "\r\nEND\r\nVERSION 1.6.45\r\n"
	r := proto.NewReader(strings.NewReader(raw))
	v, err := ReadConfigCluster(r)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"mycluster.0001.cache.amazonaws.com:11211", "mycluster.0002.cache.amazonaws.com:11211"}
	if v.Version != 12 || len(v.Members) != 2 || v.Members[0].Addr != want[0] || v.Members[1].Addr != want[1] || v.Members[0].IP != "10.82.235.120" {
		t.Fatalf("parsed %+v", v)
	}
	var rp proto.Reply
	if err := r.Read(&rp); err != nil || rp.Kind != proto.ReplyVersion || string(rp.Text) != "1.6.45" {
		t.Fatalf("parser read past END: next reply %q, %v", rp.Line, err)
	}
}

func TestReadConfigClusterErrors(t *testing.T) {
	cases := map[string]error{
		"ERROR\r\n":                                       ErrUnsupported,
		"CONFIG cluster 0 x\r\n":                          ErrMalformed,
		"CONFIG other 0 3\r\n1\n\n\r\nEND\r\n":            ErrMalformed,
		"CONFIG cluster 0 3\r\n1\n\nXX\r\nEND\r\n":        ErrMalformed, // wrong length
		"CONFIG cluster 0 3\r\n1\n\n\r\nEMD\r\n":          ErrMalformed,
		"CONFIG cluster 0 9\r\n1\na|b|c|d\n\r\nEND\r\n":   ErrMalformed,
		"CONFIG cluster 0 10\r\n1\nh|i|port\n\r\nEND\r\n": ErrMalformed,
		"CONFIG cluster 0 4\r\nv1\n\n\r\nEND\r\n":         ErrMalformed,
	}
	for raw, want := range cases {
		_, err := ReadConfigCluster(proto.NewReader(strings.NewReader(raw)))
		if !errors.Is(err, want) {
			t.Errorf("%q: error %v, want %v", raw, err, want)
		}
	}
	if _, err := ReadConfigCluster(proto.NewReader(strings.NewReader("CONFIG cluster 0 30\r\n1\n"))); err == nil {
		t.Error("truncated reply parsed")
	}
	if _, err := ReadConfigCluster(proto.NewReader(strings.NewReader("SERVER_ERROR out of memory\r\n"))); err == nil || errors.Is(err, ErrUnsupported) {
		t.Errorf("SERVER_ERROR gave %v", err)
	}
	// A count that leaves out the "\n" ending the node line is accepted.
	v, err := ReadConfigCluster(proto.NewReader(strings.NewReader("CONFIG cluster 0 18\r\n3\nh|10.0.0.9|11211\n\r\nEND\r\n")))
	if err != nil || v.Version != 3 || len(v.Members) != 1 || v.Members[0].Addr != "h:11211" {
		t.Errorf("short count: %+v, %v", v, err)
	}
	// An empty cluster still parses: version, no members.
	v, err = ReadConfigCluster(proto.NewReader(strings.NewReader(string(AppendConfigCluster(nil, 7, nil)))))
	if err != nil || v.Version != 7 || len(v.Members) != 0 {
		t.Errorf("empty cluster: %+v, %v", v, err)
	}
}

func TestPlacementFormatRoundTrip(t *testing.T) {
	got := string(AppendConfigPlacement(nil, "ketama-md5"))
	if want := "CONFIG placement 0 11\r\nketama-md5\n\r\nEND\r\n"; got != want {
		t.Fatalf("config get placement reply\n got %q\nwant %q", got, want)
	}
	name, err := ReadConfigPlacement(proto.NewReader(strings.NewReader(got)))
	if err != nil || name != "ketama-md5" {
		t.Fatalf("read back %q, %v", name, err)
	}
	if _, err := ReadConfigPlacement(proto.NewReader(strings.NewReader("ERROR\r\n"))); !errors.Is(err, ErrUnsupported) {
		t.Errorf("ERROR gave %v", err)
	}
	for _, bad := range []string{"CONFIG cluster 0 2\r\n1\n\r\nEND\r\n", "CONFIG placement 0 1\r\n\n\r\nEND\r\n", "CONFIG placement 0 4\r\na b\n\r\nEND\r\n", "SERVER_ERROR x\r\n"} {
		if _, err := ReadConfigPlacement(proto.NewReader(strings.NewReader(bad))); err == nil || errors.Is(err, ErrUnsupported) {
			t.Errorf("%q gave %v", bad, err)
		}
	}
}

func TestMembersFormatRoundTrip(t *testing.T) {
	tb := NewTable(three)
	got := string(tb.AppendMembers(nil))
	want := "MEMBER node-a 10.0.0.1:11211 10.0.0.1:7946 alive 2 -\r\n" +
		"MEMBER node-b cache-b.example:11211 10.0.0.2:7946 alive 1 eu-1\r\n" +
		"MEMBER node-c 10.0.0.3:11300 10.0.0.3:7946 failed 1 -\r\n" +
		"END\r\n"
	if got != want {
		t.Fatalf("cluster members reply\n got %q\nwant %q", got, want)
	}
	ms, err := ReadMembers(proto.NewReader(strings.NewReader(got)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ms, tb.View().Members) {
		t.Fatalf("round trip\n got %+v\nwant %+v", ms, tb.View().Members)
	}
	// Without gossip (clustering off) the gossip address is "-".
	solo := string(AppendMembers(nil, []Member{{Name: "solo", Addr: "127.0.0.1:11211", Status: StatusAlive}}))
	if solo != "MEMBER solo 127.0.0.1:11211 - alive 1 -\r\nEND\r\n" {
		t.Fatalf("solo: %q", solo)
	}
	for _, bad := range []string{"ERROR\r\n", "MEMBER a b\r\nEND\r\n", "MEMBER a 1.2.3.4:5 - dead 1 -\r\nEND\r\n", "MEMBER a 1.2.3.4:5 - alive x -\r\nEND\r\n", "MEMBER a 1.2.3.4 - alive 1 -\r\nEND\r\n"} {
		if _, err := ReadMembers(proto.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if _, err := ReadMembers(proto.NewReader(strings.NewReader("ERROR\r\n"))); !errors.Is(err, ErrUnsupported) {
		t.Errorf("ERROR gave %v", err)
	}
}

func TestValidate(t *testing.T) {
	good := Member{Name: "n1", Addr: "[::1]:11211", Status: StatusAlive}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []Member{
		{Name: "", Addr: "1.2.3.4:5"},
		{Name: "has space", Addr: "1.2.3.4:5"},
		{Name: "pipe|", Addr: "1.2.3.4:5"},
		{Name: "n", Addr: "1.2.3.4"},
		{Name: "n", Addr: "1.2.3.4:0"},
		{Name: "n", Addr: "1.2.3.4:99999"},
		{Name: "n", Addr: "1.2.3.4:5", Region: "a b"},
		{Name: "n", Addr: "1.2.3.4:5", Weight: -1},
	}
	for _, m := range bad {
		if err := m.Validate(); !errors.Is(err, ErrBadMember) {
			t.Errorf("%+v: Validate = %v", m, err)
		}
	}
	// A table drops invalid members instead of encoding them.
	tb := NewTable(append([]Member{bad[1]}, good))
	if len(tb.View().Members) != 1 {
		t.Fatalf("table kept %d members", len(tb.View().Members))
	}
}

func TestTableVersionIncrementsOnEveryChange(t *testing.T) {
	tb := NewTable(three[:1])
	if tb.Version() != 1 {
		t.Fatalf("initial version %d", tb.Version())
	}
	steps := []struct {
		members []Member
		changed bool
	}{
		{three[:1], false},                    // same
		{three[:2], true},                     // join
		{[]Member{three[1], three[0]}, false}, // same set, other order
		{three, true},                         // a failed member appears
	}
	v := tb.Version()
	for i, s := range steps {
		if got := tb.Update(s.members); got != s.changed {
			t.Fatalf("step %d: Update = %v, want %v", i, got, s.changed)
		}
		if s.changed {
			v++
		}
		if tb.Version() != v {
			t.Fatalf("step %d: version %d, want %d", i, tb.Version(), v)
		}
	}
	// Any field change is a change: weight, status, region.
	ms := append([]Member(nil), three...)
	for _, mut := range []func(*Member){
		func(m *Member) { m.Weight = 5 },
		func(m *Member) { m.Status = StatusLeft },
		func(m *Member) { m.Region = "us-2" },
	} {
		mut(&ms[0])
		if !tb.Update(ms) {
			t.Fatalf("change %+v not seen", ms[0])
		}
		v++
	}
	if tb.Version() != v {
		t.Fatalf("version %d, want %d", tb.Version(), v)
	}
	// The reply carries the version.
	got, err := ReadConfigCluster(proto.NewReader(strings.NewReader(string(tb.AppendConfigCluster(nil)))))
	if err != nil || got.Version != v {
		t.Fatalf("reply version %d (%v), want %d", got.Version, err, v)
	}
}

func TestTableAppendAllocatesNothing(t *testing.T) {
	tb := NewTable(three)
	buf := make([]byte, 0, 4096)
	if a := testing.AllocsPerRun(100, func() {
		buf = tb.AppendConfigCluster(buf[:0])
		buf = tb.AppendMembers(buf)
	}); a != 0 {
		t.Fatalf("%v allocations per append", a)
	}
}

func TestTableConcurrentReaders(t *testing.T) {
	tb := NewTable(three[:1])
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200; i++ {
			ms := append([]Member(nil), three...)
			ms[0].Weight = i + 1
			tb.Update(ms)
		}
	}()
	buf := make([]byte, 0, 1024)
	for {
		select {
		case <-done:
			if tb.Version() != 201 {
				t.Fatalf("version %d after 200 changes, want 201", tb.Version())
			}
			return
		default:
		}
		buf = tb.AppendConfigCluster(buf[:0])
		if _, err := ReadConfigCluster(proto.NewReader(strings.NewReader(string(buf)))); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMcrouterConfig(t *testing.T) {
	data, err := McrouterConfig(Sorted(three), "")
	if err != nil {
		t.Fatal(err)
	}
	type poolRoute struct {
		Type string `json:"type"`
		Pool string `json:"pool"`
		Hash struct {
			HashFunc string `json:"hash_func"`
			Salt     string `json:"salt"`
		} `json:"hash"`
	}
	var cfg struct {
		Pools map[string]struct {
			Servers []string `json:"servers"`
		} `json:"pools"`
		Route struct {
			Type            string      `json:"type"`
			Normal          poolRoute   `json:"normal"`
			Failover        []poolRoute `json:"failover"`
			FailoverExptime int         `json:"failover_exptime"`
		} `json:"route"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	want := []string{"10.0.0.1:11211", "cache-b.example:11211"}
	if !reflect.DeepEqual(cfg.Pools[DefaultPool].Servers, want) {
		t.Fatalf("servers %v, want %v (alive only, in name order)", cfg.Pools[DefaultPool].Servers, want)
	}
	r := cfg.Route
	if r.Type != "FailoverWithExptimeRoute" || r.Normal.Type != "PoolRoute" || r.Normal.Pool != DefaultPool ||
		r.Normal.Hash.HashFunc != "Ch3" || r.Normal.Hash.Salt != "" {
		t.Fatalf("route %+v: want the pool hashed with Ch3 first", r)
	}
	if len(r.Failover) != 1 || r.Failover[0].Pool != DefaultPool || r.Failover[0].Hash.Salt == "" || r.FailoverExptime != McrouterGutterTTL {
		t.Fatalf("failover %+v: want the same pool with a salted hash, sets capped at %d s", r, McrouterGutterTTL)
	}
	// IPv6 servers need brackets in mcrouter.
	data, _ = McrouterConfig([]Member{{Name: "v6", Addr: "[::1]:5000", Status: StatusAlive}}, "p")
	if !strings.Contains(string(data), `"[::1]:5000"`) || !strings.Contains(string(data), `"p"`) {
		t.Fatalf("v6 config:\n%s", data)
	}
}

func TestTwemproxyConfigSyntax(t *testing.T) {
	var files [][]byte
	for _, hash := range []string{"", "fnv1a_64", "md5"} {
		data, err := TwemproxyConfig(Sorted(three), "", "", hash)
		if err != nil {
			t.Fatal(err)
		}
		want := "# Written by slabcache on each membership change; do not edit.\n" +
			"slabcache:\n  listen: 127.0.0.1:22121\n  hash: " + cmp.Or(hash, "fnv1a_64") + "\n  distribution: ketama\n  auto_eject_hosts: false\n  servers:\n" +
			"   - 10.0.0.1:11211:2\n   - cache-b.example:11211:1\n"
		if string(data) != want {
			t.Fatalf("twemproxy config with hash %q\n got %q\nwant %q", hash, data, want)
		}
		files = append(files, data)
	}
	if _, err := TwemproxyConfig(three, "bad pool", "", ""); err == nil {
		t.Error("pool name with a space accepted")
	}
	if _, err := TwemproxyConfig(three, "", "nowhere", ""); err == nil {
		t.Error("listen address without port accepted")
	}
	if _, err := TwemproxyConfig(three, "", "", "crc32"); err == nil {
		t.Error("hash other than fnv1a_64 and md5 accepted")
	}
	// nutcracker itself accepts the files.
	nc := testenv.LookPath(t, "nutcracker")
	for _, data := range files {
		path := filepath.Join(t.TempDir(), "pool.yml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(nc, "-t", "-c", path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "syntax is ok") {
			t.Fatalf("nutcracker -t: %v\n%s", err, out)
		}
	}
}

func TestTwemproxyHashFollowsPlacement(t *testing.T) {
	for k, want := range map[ring.Kind]string{ring.KindKetama: "fnv1a_64", ring.KindKetamaMD5: "md5", ring.KindCh3: "", ring.KindJump: ""} {
		if h, ok := TwemproxyHash(k); h != want || ok != (want != "") {
			t.Errorf("TwemproxyHash(%s) = %q, %v; want %q", k, h, ok, want)
		}
		if m := RoutingMismatch("mcrouter", k); (m == "") != (k == ring.KindCh3) {
			t.Errorf("RoutingMismatch(mcrouter, %s) = %q", k, m)
		}
		if m := RoutingMismatch("twemproxy", k); (m == "") != (want != "") {
			t.Errorf("RoutingMismatch(twemproxy, %s) = %q", k, m)
		}
	}
}

// TestTwemproxyConfigRoutesLikeRing runs nutcracker with a generated pool
// in front of real memcached servers and checks that every key lands on
// the node cluster/ring picks from RingNodes: the generated file and our
// client agree, for both placements twemproxy has.
func TestTwemproxyConfigRoutesLikeRing(t *testing.T) {
	nc := testenv.LookPath(t, "nutcracker")
	var members []Member
	for i, w := range []int{1, 3, 1} {
		addr := testenv.StartMemcached(t, "-m", "16")
		members = append(members, Member{Name: fmt.Sprintf("n%d", i), Addr: addr, Status: StatusAlive, Weight: w})
	}
	members = Sorted(members)
	for _, kind := range []ring.Kind{ring.KindKetama, ring.KindKetamaMD5} {
		t.Run(kind.String(), func(t *testing.T) { twemproxyRoutesLikeRing(t, nc, members, kind) })
	}
}

func twemproxyRoutesLikeRing(t *testing.T, nc string, members []Member, kind ring.Kind) {
	hash, _ := TwemproxyHash(kind)
	dir := t.TempDir()
	listen := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	files := ProxyFiles{TwemproxyPath: filepath.Join(dir, "pool.yml"), TwemproxyListen: listen, TwemproxyHash: hash}
	if err := files.Write(members); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nc, "-c", files.TwemproxyPath, "-s", strconv.Itoa(testenv.FreePort(t)), "-a", "127.0.0.1",
		"-o", filepath.Join(dir, "nc.log"), "-p", filepath.Join(dir, "nc.pid"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if err := testenv.WaitListening(listen, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	proxy := memcache.New(listen)
	proxy.Timeout = 3 * time.Second
	r, err := ring.New(kind, RingNodes(members))
	if err != nil {
		t.Fatal(err)
	}
	direct := make([]*memcache.Client, len(members))
	for i, m := range members {
		direct[i] = memcache.New(m.Addr)
		direct[i].Timeout = 3 * time.Second
	}
	for i := 0; i < 300; i++ {
		k := kind.String() + ":" + strconv.Itoa(i)
		if err := proxy.Set(&memcache.Item{Key: k, Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
		owner := r.OwnerString(k)
		if _, err := direct[owner].Get(k); err != nil {
			t.Fatalf("key %s: not on %s where the ring puts it: %v", k, members[owner].Addr, err)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mcrouter.json")
	files := ProxyFiles{McrouterPath: path, TwemproxyPath: filepath.Join(dir, "tw.yml")}
	if err := files.Write(three); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(path)
	if err := files.Write(three[:1]); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(path)
	if string(first) == string(second) || !strings.Contains(string(second), three[0].Addr) || strings.Contains(string(second), "10.0.0.1") {
		t.Fatalf("file not replaced:\n%s", second)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, %v", st.Mode(), err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Fatalf("directory holds %d entries (temporary files left?)", len(ents))
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "x"), []byte("x"), 0o644); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}
