package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/testenv"
)

// scrapeExporter runs memcached_exporter against a server and returns its
// memcached_* samples (name with labels -> value).
func scrapeExporter(t *testing.T, exporter, target string) map[string]string {
	t.Helper()
	port := testenv.FreePort(t)
	listen := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(exporter, "--memcached.address="+target, "--web.listen-address="+listen)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if err := testenv.WaitListening(listen, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "memcached_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		out[line[:i]] = line[i+1:]
	}
	return out
}

func families(samples map[string]string) []string {
	set := map[string]bool{}
	for k := range samples {
		if i := strings.IndexByte(k, '{'); i >= 0 {
			k = k[:i]
		}
		set[k] = true
	}
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Prometheus' memcached_exporter (the release operators run) marks
// slabcached up and exports every metric family it exports for memcached,
// and its counters follow slabcached's traffic.
func TestMemcachedExporter(t *testing.T) {
	exporter := testenv.BuildMemcachedExporter(t)
	mc := testenv.StartReference(t)
	sc := startBinary(t, "--metrics-listen", "off")
	for _, addr := range []string{mc, sc} {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(nc, "set a 0 0 1\r\n1\r\nget a\r\nget a\r\nget nope\r\nquit\r\n")
		io.Copy(io.Discard, nc)
		nc.Close()
	}
	want := scrapeExporter(t, exporter, mc)
	got := scrapeExporter(t, exporter, sc)
	if got["memcached_up"] != "1" {
		t.Fatalf("memcached_up %q against slabcached (memcached: %q)", got["memcached_up"], want["memcached_up"])
	}
	wf, gf := families(want), families(got)
	if strings.Join(wf, " ") != strings.Join(gf, " ") {
		t.Errorf("metric families differ:\nmemcached:  %v\nslabcached: %v", wf, gf)
	}
	for _, k := range []string{
		`memcached_commands_total{command="get",status="hit"}`,
		`memcached_commands_total{command="get",status="miss"}`,
		`memcached_commands_total{command="set",status="hit"}`,
		`memcached_current_items`,
	} {
		if got[k] != want[k] {
			t.Errorf("%s: slabcached %q, memcached %q", k, got[k], want[k])
		}
	}
	t.Logf("%d metric families, %d samples from slabcached", len(gf), len(got))
}
