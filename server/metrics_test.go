package server

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// gather scrapes the server's collector and returns the families by name.
func gather(t *testing.T, srv *Server) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry() // also checks descriptions and consistency
	if err := reg.Register(srv.Collector()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// metricValue returns the value of the sample of family name whose labels
// include want (counter, gauge, or a histogram's count).
func metricValue(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// The metrics named in docs/metrics.md exist, and counters, gauges and the
// latency histograms move with traffic.
func TestMetricsMoveWithTraffic(t *testing.T) {
	srv := startTestServer(t, nil)
	before := gather(t, srv)
	sendLines(t, srv.Addr(), traffic+"get nope\r\nmg a v\r\nme a\r\n", trafficReplies+4)
	after := gather(t, srv)
	for _, c := range []struct {
		name   string
		labels map[string]string
		grow   float64
	}{
		{"slabcached_commands_total", map[string]string{"command": "get", "status": "hit"}, 4},
		{"slabcached_commands_total", map[string]string{"command": "get", "status": "miss"}, 1},
		{"slabcached_commands_total", map[string]string{"command": "set", "status": ""}, 4},
		{"slabcached_commands_total", map[string]string{"command": "cas", "status": "badval"}, 1},
		{"slabcached_commands_total", map[string]string{"command": "delete", "status": "hit"}, 1},
		{"slabcached_commands_total", map[string]string{"command": "touch", "status": "hit"}, 1},
		{"slabcached_commands_total", map[string]string{"command": "incr", "status": "hit"}, 1},
		{"slabcached_commands_total", map[string]string{"command": "meta", "status": ""}, 1}, // me: memcached's cmd_meta counts it alone
		{"slabcached_items", nil, 2},
		{"slabcached_items_total", nil, 4}, // and the new item of incr a, which a reply in the same write holds
		{"slabcached_connections_total", nil, 1},
		{"slabcached_request_duration_seconds", map[string]string{"command": "get"}, 4},
		{"slabcached_request_duration_seconds", map[string]string{"command": "set"}, 3},
		{"slabcached_request_duration_seconds", map[string]string{"command": "mg"}, 1},
		{"slabcached_slab_items", map[string]string{"class": "1"}, 1},
	} {
		a, ok := metricValue(after, c.name, c.labels)
		if !ok {
			t.Errorf("%s%v missing", c.name, c.labels)
			continue
		}
		b, _ := metricValue(before, c.name, c.labels)
		if a-b != c.grow {
			t.Errorf("%s%v grew by %v, want %v", c.name, c.labels, a-b, c.grow)
		}
	}
	for _, name := range []string{"slabcached_read_bytes_total", "slabcached_written_bytes_total",
		"slabcached_item_bytes", "slabcached_limit_bytes", "slabcached_slab_pages", "slabcached_evictions_total",
		"slabcached_connections", "slabcached_connections_rejected_total", "slabcached_connections_closed_total",
		"slabcached_uptime_seconds", "slabcached_info"} {
		if after[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
	if v, _ := metricValue(after, "slabcached_read_bytes_total", nil); v <= 0 {
		t.Errorf("read bytes %v", v)
	}
	// Histogram buckets are cumulative and end at the count.
	for _, m := range after["slabcached_request_duration_seconds"].GetMetric() {
		h := m.GetHistogram()
		var last uint64
		for _, b := range h.GetBucket() {
			if b.GetCumulativeCount() < last {
				t.Fatalf("buckets not cumulative: %v", h)
			}
			last = b.GetCumulativeCount()
		}
		if last > h.GetSampleCount() || h.GetSampleSum() <= 0 {
			t.Fatalf("histogram %v", h)
		}
	}
}

// docs/metrics.md names every metric the server exports.
func TestDocsListEveryMetric(t *testing.T) {
	srv := startTestServer(t, nil)
	sendLines(t, srv.Addr(), traffic, trafficReplies)
	doc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range gather(t, srv) {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/metrics.md does not list %s", name)
		}
	}
}

// The Grafana dashboard is valid JSON, and every slabcached metric its
// queries use exists.
func TestGrafanaDashboardUsesRealMetrics(t *testing.T) {
	raw, err := os.ReadFile("../docs/grafana/slabcached.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	srv := startTestServer(t, nil)
	sendLines(t, srv.Addr(), traffic, trafficReplies)
	have := gather(t, srv)
	name := regexp.MustCompile(`slabcached_[a-z_]+`)
	used := 0
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, n := range name.FindAllString(tg.Expr, -1) {
				base := n
				for _, suf := range []string{"_bucket", "_count", "_sum"} {
					if have[base] == nil {
						base = strings.TrimSuffix(base, suf)
					}
				}
				if have[base] == nil {
					t.Errorf("panel %q uses %s, which the server does not export", p.Title, n)
				}
				used++
			}
		}
	}
	if used < 10 {
		t.Errorf("the dashboard uses only %d slabcached metrics", used)
	}
}

// One read that carries more class counts and latencies than a connection
// keeps before adding them to its loop's counters (a multi-get of 100 keys,
// then 70 pipelined gets of keys not there, which count a latency each and
// no class) loses none of them: stats, the per-class stats and the latency
// histogram count every one, and a second connection sees them as soon as
// the first has its replies.
func TestCountsOfALargeBatch(t *testing.T) {
	srv := startTestServer(t, nil)
	var req strings.Builder
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
		fmt.Fprintf(&req, "set %s 0 0 1 noreply\r\nx\r\n", keys[i])
	}
	req.WriteString("get " + strings.Join(keys, " ") + "\r\n")
	for i := range 70 {
		fmt.Fprintf(&req, "get nokey%d\r\n", i)
	}
	before := gather(t, srv)
	lines := sendLines(t, srv.Addr(), req.String(), 2*100+1+70)
	if got := lines[len(lines)-1]; got != "END\r\n" {
		t.Fatalf("last reply line %q", got)
	}
	st := statLines(t, srv.Addr(), "stats")
	if st["get_hits"] != "100" || st["get_misses"] != "70" || st["cmd_get"] != "170" || st["cmd_set"] != "100" {
		t.Errorf("get_hits %s get_misses %s cmd_get %s cmd_set %s, want 100 70 170 100",
			st["get_hits"], st["get_misses"], st["cmd_get"], st["cmd_set"])
	}
	sl := statLines(t, srv.Addr(), "stats slabs")
	if sl["1:get_hits"] != "100" || sl["1:cmd_set"] != "100" {
		t.Errorf("class 1: get_hits %s cmd_set %s, want 100 100", sl["1:get_hits"], sl["1:cmd_set"])
	}
	after := gather(t, srv)
	for _, c := range []struct {
		cmd  string
		grow float64
	}{{"get", 71}, {"set", 100}} {
		a, _ := metricValue(after, "slabcached_request_duration_seconds", map[string]string{"command": c.cmd})
		b, _ := metricValue(before, "slabcached_request_duration_seconds", map[string]string{"command": c.cmd})
		if a-b != c.grow {
			t.Errorf("%s latencies grew by %v, want %v", c.cmd, a-b, c.grow)
		}
	}
}
