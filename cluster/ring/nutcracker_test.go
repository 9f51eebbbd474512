package ring

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/slabcache/slabcache/internal/testenv"
)

// startMemcachedAt starts memcached on ip:port (for servers on the default
// port 11211, which ketama names by host alone). It returns false when the
// address cannot be bound.
func startMemcachedAt(t *testing.T, ip string, port int) bool {
	t.Helper()
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	bin := testenv.LookPath(t, "memcached")
	args := []string{"-l", ip, "-p", strconv.Itoa(port), "-U", "0", "-m", "16"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root")
	}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if err := testenv.WaitListening(addr, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return true
}

// nutcrackerPool is one differential run: servers behind nutcracker with a
// hash, and the ring that must agree with it.
type nutcrackerPool struct {
	name    string
	hash    string // twemproxy key hash: fnv1a_64 or md5
	kind    Kind
	n       int
	weights []int          // per server; nil means all 1
	names   map[int]string // configured server names by index
	on11211 bool           // put server 0 on <ip>:11211
}

// TestKetamaAgreesWithNutcracker runs Debian's nutcracker (twemproxy) with
// distribution ketama in front of real memcached servers, sets 1000 keys
// through it, asks every memcached which keys it holds, and checks each
// key sits where our ring says.
func TestKetamaAgreesWithNutcracker(t *testing.T) {
	nc := testenv.LookPath(t, "nutcracker")
	testenv.LookPath(t, "memcached")
	pools := []nutcrackerPool{
		{name: "fnv1a_64-weighted", hash: "fnv1a_64", kind: KindKetama, n: 3, weights: []int{2, 1, 1}, on11211: true},
		{name: "md5-weighted", hash: "md5", kind: KindKetamaMD5, n: 3, weights: []int{2, 1, 1}, on11211: true},
		{name: "fnv1a_64-named", hash: "fnv1a_64", kind: KindKetama, n: 4, names: map[int]string{1: "alpha", 3: "omega"}},
		// 25 equal servers get 156 points each, not 160.
		{name: "fnv1a_64-25-servers", hash: "fnv1a_64", kind: KindKetama, n: 25},
		{name: "md5-25-servers", hash: "md5", kind: KindKetamaMD5, n: 25},
	}
	for _, p := range pools {
		t.Run(p.name, func(t *testing.T) { checkNutcracker(t, nc, p) })
	}
}

func checkNutcracker(t *testing.T, nc string, p nutcrackerPool) {
	nodes := make([]Node, p.n)
	for i := range nodes {
		w := 1
		if p.weights != nil {
			w = p.weights[i]
		}
		var addr string
		if i == 0 && p.on11211 {
			// A loopback address of its own so port 11211 is free.
			for x := 200; x < 250 && addr == ""; x++ {
				ip := "127.0.0." + strconv.Itoa(x)
				if startMemcachedAt(t, ip, 11211) {
					addr = ip + ":11211"
				}
			}
			if addr == "" {
				t.Fatal("no 127.0.0.x:11211 free for the default-port server")
			}
		} else {
			addr = testenv.StartMemcached(t, "-m", "16")
		}
		nodes[i] = Node{Addr: addr, Weight: w, Name: p.names[i]}
	}
	if p.on11211 && KetamaName(nodes[0].Addr) == nodes[0].Addr {
		t.Fatalf("server 0 at %s is not named by host alone", nodes[0].Addr)
	}

	// nutcracker's pool: "host:port:weight [name]" per server.
	listen := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	var yml strings.Builder
	fmt.Fprintf(&yml, "pool:\n  listen: %s\n  hash: %s\n  distribution: ketama\n  auto_eject_hosts: false\n  timeout: 2000\n  servers:\n", listen, p.hash)
	for _, n := range nodes {
		fmt.Fprintf(&yml, "   - %s:%d", n.Addr, n.Weight)
		if n.Name != "" {
			fmt.Fprintf(&yml, " %s", n.Name)
		}
		yml.WriteString("\n")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "nutcracker.yml")
	if err := os.WriteFile(conf, []byte(yml.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nc, "-c", conf, "-s", strconv.Itoa(testenv.FreePort(t)), "-a", "127.0.0.1",
		"-o", filepath.Join(dir, "nutcracker.log"), "-p", filepath.Join(dir, "nutcracker.pid"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if err := testenv.WaitListening(listen, 5*time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "nutcracker.log"))
		t.Fatalf("%v\nconfig:\n%s\nlog:\n%s", err, yml.String(), log)
	}

	proxy := memcache.New(listen)
	proxy.Timeout = 3 * time.Second
	const nkeys = 1000
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("key:%d:%x", i, i*7919)
		if err := proxy.Set(&memcache.Item{Key: keys[i], Value: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatalf("set %s through nutcracker: %v", keys[i], err)
		}
	}

	holder := make(map[string]int, nkeys)
	for i, n := range nodes {
		mc := memcache.New(n.Addr)
		mc.Timeout = 3 * time.Second
		for lo := 0; lo < nkeys; lo += 100 {
			got, err := mc.GetMulti(keys[lo : lo+100])
			if err != nil {
				t.Fatalf("get from %s: %v", n.Addr, err)
			}
			for k := range got {
				if prev, dup := holder[k]; dup {
					t.Fatalf("key %s on both %s and %s", k, nodes[prev].Addr, n.Addr)
				}
				holder[k] = i
			}
		}
	}
	if len(holder) != nkeys {
		t.Fatalf("memcached servers hold %d of %d keys", len(holder), nkeys)
	}

	r := mustNew(t, p.kind, nodes)
	wrong, used := 0, map[int]bool{}
	for _, k := range keys {
		used[holder[k]] = true
		if got := r.OwnerString(k); got != holder[k] {
			if wrong < 5 {
				t.Errorf("key %s: nutcracker put it on %s, our ring says %s", k, nodes[holder[k]].Addr, nodes[got].Addr)
			}
			wrong++
		}
	}
	if wrong > 0 {
		t.Fatalf("%d of %d keys placed differently from nutcracker", wrong, nkeys)
	}
	if len(used) < p.n*2/3 {
		t.Errorf("keys landed on only %d of %d servers", len(used), p.n)
	}

	// With 25 servers the float rounding matters: a ring with the naive 160
	// points per server disagrees with nutcracker on some of these keys.
	if p.n == 25 {
		naive := newKetamaWith(append([]Node(nil), nodes...), p.kind, func(w, total, n int) int { return 160 })
		differ := 0
		for _, k := range keys {
			if naive.OwnerString(k) != holder[k] {
				differ++
			}
		}
		t.Logf("a 160-point ring misplaces %d of %d keys", differ, nkeys)
		if differ == 0 {
			t.Error("the 156-point case is not exercised: a 160-point ring agrees on every key")
		}
	}
}
