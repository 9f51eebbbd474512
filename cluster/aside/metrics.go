package aside

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

type metrics struct {
	nearHits, hits, misses, staleServed, negativeHits, coalesced, waits, waitTimeouts,
	loads, loadErrors, loaderRejected, refreshes, stores, cacheErrors, compressed,
	incompressible, hedges atomic.Uint64
}

// Stats are the counters of a Cache.
type Stats struct {
	NearHits       uint64 // served from the near cache
	Hits           uint64 // fresh values from the cache
	Misses         uint64 // leases won: the loader ran for everyone
	StaleServed    uint64 // stale values served (soft TTL passed, or marked stale)
	NegativeHits   uint64 // cached "not found" answers
	Coalesced      uint64 // callers that shared another caller's round trip in this process
	Waits          uint64 // waits for another caller's load
	WaitTimeouts   uint64 // waits that ran out (the caller loaded without storing)
	Loads          uint64 // loader calls
	LoadErrors     uint64 // loader calls that failed (not ErrNotFound)
	LoaderRejected uint64 // loads refused by the open loader breaker
	Refreshes      uint64 // background refreshes
	Stores         uint64 // values and negatives stored
	CacheErrors    uint64 // cache operations that failed (the loader served instead)
	Compressed     uint64 // values stored compressed
	Incompressible uint64 // values over the threshold kept raw (compression did not shrink them)
	Hedges         uint64 // callers that went to the loader with half their deadline gone and the cache silent
	LoaderBreaker  gobreaker.State
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	m := &c.m
	return Stats{
		NearHits: m.nearHits.Load(), Hits: m.hits.Load(), Misses: m.misses.Load(),
		StaleServed: m.staleServed.Load(), NegativeHits: m.negativeHits.Load(),
		Coalesced: m.coalesced.Load(), Waits: m.waits.Load(), WaitTimeouts: m.waitTimeouts.Load(),
		Loads: m.loads.Load(), LoadErrors: m.loadErrors.Load(), LoaderRejected: m.loaderRejected.Load(),
		Refreshes: m.refreshes.Load(), Stores: m.stores.Load(), CacheErrors: m.cacheErrors.Load(),
		Compressed: m.compressed.Load(), Incompressible: m.incompressible.Load(), Hedges: m.hedges.Load(),
		LoaderBreaker: c.loader.State(),
	}
}

// Collector returns a prometheus.Collector of the Cache's counters and
// breaker states, for the application to register.
func (c *Cache) Collector() prometheus.Collector { return &collector{c: c} }

var (
	descRequests = prometheus.NewDesc("slabcache_aside_requests_total",
		"GetOrLoad results: near (near cache), cache (fresh), stale, negative (cached not found), loader (lease won, loaded for everyone).", []string{"result"}, nil)
	descEvents = prometheus.NewDesc("slabcache_aside_events_total",
		"Cache-aside events: coalesced callers, waits, wait timeouts, loads, load errors, loads refused by the breaker, refreshes, stores, cache errors, compression.", []string{"event"}, nil)
	descBreaker = prometheus.NewDesc("slabcache_aside_breaker_state",
		"Circuit breaker state: 0 closed, 1 half-open, 2 open.", []string{"breaker"}, nil)
)

type collector struct{ c *Cache }

func (x *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRequests
	ch <- descEvents
	ch <- descBreaker
}

func (x *collector) Collect(ch chan<- prometheus.Metric) {
	s := x.c.Stats()
	counter := func(d *prometheus.Desc, v uint64, label string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), label)
	}
	counter(descRequests, s.NearHits, "near")
	counter(descRequests, s.Hits, "cache")
	counter(descRequests, s.StaleServed, "stale")
	counter(descRequests, s.NegativeHits, "negative")
	counter(descRequests, s.Misses, "loader")
	counter(descEvents, s.Coalesced, "coalesced")
	counter(descEvents, s.Waits, "wait")
	counter(descEvents, s.WaitTimeouts, "wait_timeout")
	counter(descEvents, s.Loads, "load")
	counter(descEvents, s.LoadErrors, "load_error")
	counter(descEvents, s.LoaderRejected, "load_rejected")
	counter(descEvents, s.Refreshes, "refresh")
	counter(descEvents, s.Stores, "store")
	counter(descEvents, s.CacheErrors, "cache_error")
	counter(descEvents, s.Compressed, "compressed")
	counter(descEvents, s.Incompressible, "incompressible")
	counter(descEvents, s.Hedges, "hedge")
	ch <- prometheus.MustNewConstMetric(descBreaker, prometheus.GaugeValue, float64(s.LoaderBreaker), "loader")
	x.c.mu.Lock()
	defer x.c.mu.Unlock()
	for addr, b := range x.c.breakers {
		ch <- prometheus.MustNewConstMetric(descBreaker, prometheus.GaugeValue, float64(b.State()), addr)
	}
}
