package main

import (
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/slabcache/slabcache/server"
)

// defaultMetricsListen is where /metrics is served unless
// --metrics-listen says otherwise: loopback only, next to memcached
// exporter's usual 9150. docs/metrics.md.
const defaultMetricsListen = "127.0.0.1:9151"

// metricsOptions are slabcached's own long options for the Prometheus
// endpoint (memcached has none).
var metricsOptions = []option{
	{long: "metrics-listen", arg: requiredArg, apply: func(p *parser, v string, _ bool) error {
		if v != "off" {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return errors.New("--metrics-listen: want host:port (or off), got " + v)
			}
		}
		p.cmd.metricsListen = v
		return nil
	}},
}

// startMetrics serves the server's metrics, the Go runtime's (GC pauses,
// heap) and the process's on addr at /metrics. It returns a function that
// stops the listener, or nil when metrics are off. A listener that cannot
// bind is logged and skipped: the cache serves without it.
func startMetrics(addr string, srv *server.Server, log *zap.Logger) func() {
	if addr == "off" || addr == "" {
		return nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(srv.Collector(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Warn("metrics listener not started: serving without /metrics", zap.String("listen", addr), zap.Error(err))
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	log.Info("serving metrics", zap.String("url", "http://"+ln.Addr().String()+"/metrics"))
	return func() { hs.Close() }
}
