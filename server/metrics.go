package server

import (
	"math/bits"
	"runtime"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slabcache/slabcache/internal/clock"
	"github.com/slabcache/slabcache/internal/ticks"
	"github.com/slabcache/slabcache/proto"
)

// Native Prometheus metrics. The request path only adds to the counters it
// already keeps per event loop (counters.go) and, for the latency
// histograms, notes the request's bucket with them; a scrape reads and sums
// them (Collector), so a server nobody scrapes pays for nothing else.
// docs/metrics.md lists every metric.

// Latency histogram buckets: upper bounds 2^7 .. 2^24 ns (128 ns .. 16.8
// ms), then +Inf. Server-side processing time of one request: from the
// previous request's reply in the same read (or the read's start) to its
// own reply appended, parsing included, network time not.
const (
	latMinShift   = 7
	latBuckets    = 18 // finite buckets
	numLatBuckets = latBuckets + 1
)

// Commands with their own latency histogram.
const (
	latGet = iota
	latSet
	latCas
	latDelete
	latIncr
	latDecr
	latTouch
	latMg
	latMs
	latMd
	latMa
	latOther
	numLatCmds
)

var latNames = [numLatCmds]string{"get", "set", "cas", "delete", "incr", "decr", "touch", "mg", "ms", "md", "ma", "other"}

var latOf = func() (t [256]uint8) {
	for i := range t {
		t[i] = latOther
	}
	for _, c := range []proto.Command{proto.CmdGet, proto.CmdGets, proto.CmdGat, proto.CmdGats} {
		t[c] = latGet
	}
	for _, c := range []proto.Command{proto.CmdSet, proto.CmdAdd, proto.CmdReplace, proto.CmdAppend, proto.CmdPrepend} {
		t[c] = latSet
	}
	t[proto.CmdCas] = latCas
	t[proto.CmdDelete] = latDelete
	t[proto.CmdIncr] = latIncr
	t[proto.CmdDecr] = latDecr
	t[proto.CmdTouch] = latTouch
	t[proto.CmdMetaGet] = latMg
	t[proto.CmdMetaSet] = latMs
	t[proto.CmdMetaDelete] = latMd
	t[proto.CmdMetaArithmetic] = latMa
	return t
}()

// yieldEvery bounds how long an event loop's goroutine runs without
// yielding to the Go scheduler. A busy event loop never blocks in the
// scheduler (it waits in epoll_wait, a system call, and finds more events
// each time), so the runtime's monitor thread sees it on one scheduling
// tick for 10 ms and takes it for a goroutine running too long: a
// preemption signal, or, when the loop is in a system call then, its P
// taken away and handed to another thread; and after each, the monitor
// goes back to polling every 20 us for a while, each poll a thread switch
// on the loop's CPU. Under unpipelined traffic that was 2,000-3,000
// switches a second of the loop; a yield every 2 ms after a batch's
// replies (onTraffic, and each UDP datagram's), and after each large
// write (sendBig), keeps the monitor asleep. The yield is also where the
// store's background goroutine runs when the loops have every P
// (GOMAXPROCS equal to the loops, as on one CPU): without it the LRU
// maintainer ran only when the monitor took a loop's P, a few times less
// often than it asks to under a pipelined load (docs/benchmarks.md, "The
// monitor thread and the maintainer").
const yieldEvery = 2e6 // ns

// yieldEveryTicks is yieldEvery in the loops' clock (internal/ticks).
var yieldEveryTicks = ticks.FromNanos(yieldEvery)

// yieldIfDue yields when the loop has served for yieldEvery since it
// last did, going by clockAt (no clock read of its own). Event handlers
// call it last, TCP and UDP alike, and sendBig after each large write.
func (ls *loopStats) yieldIfDue() {
	if now := ls.clockAt; now-ls.yieldAt > yieldEveryTicks {
		// Usually nothing else is runnable and the loop goes on at once.
		ls.yieldAt = now
		runtime.Gosched()
	}
}

// observe counts one request of command cmd that took d ticks
// (internal/ticks: the CPU's time-stamp counter where it is usable, which
// costs a third of the runtime's clock to read) into the event's pending
// latencies.
func (c *conn) observe(cmd proto.Command, d int64) {
	d = max(ticks.Nanos(d), 0)
	b := bits.Len64(uint64(d)) - latMinShift
	b = min(max(b, 0), latBuckets)
	p := &c.pend
	if p.nlat == pendingMax {
		c.flushCounters()
	}
	e := &p.lat[p.nlat]
	e.cmd, e.bucket, e.d = latOf[cmd], uint8(b), uint64(d)
	p.nlat++
}

// collector is the server's prometheus.Collector.
type collector struct {
	s *Server

	cmds, conns, connsTotal, rejected, waiting, listenOff, closed, items, itemsTotal, bytes, limit,
	evictions, expiredUnfetched, evictedUnfetched, evictedActive, reclaimed,
	crawlerReclaimed, getExpired, getFlushed, movesToCold, movesToWarm, readBytes,
	writtenBytes, pages, chunkSize, usedChunks, freeChunks, classItems,
	classEvictions, pagePool, uptime, latency, info,
	hotKeys, hotSampled, hotChanges, repPushes, repFailures, repRefused, repBytes, repReportFailures,
	warmActive, warmFetches, warmBytes, warmPushed, warmPushBytes, warmDisowned, warmRestore, warmRestoreDeleted, prefixPending, prefixReclaimed, invRelays,
	invBacklog *prometheus.Desc
	// the away log (away.go)
	awayKeys, awayWrites, awayDeleted, awayFlushes, awayFailures *prometheus.Desc
}

// Collector returns a prometheus.Collector of the server's metrics, to
// register with a registry (cmd/slabcached serves it on --metrics-listen).
func (s *Server) Collector() prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("slabcached_"+name, help, labels, nil)
	}
	return &collector{s: s,
		cmds:             d("commands_total", "Requests by command and outcome (memcached's cmd_*, *_hits, *_misses, cas_badval).", "command", "status"),
		conns:            d("connections", "Client connections open now (curr_connections)."),
		connsTotal:       d("connections_total", "Client connections opened since start (total_connections)."),
		rejected:         d("connections_rejected_total", "Connections refused over the -c limit (rejected_connections)."),
		waiting:          d("connections_waiting", "Connections over the -c limit waiting for a slot (without maxconns_fast)."),
		listenOff:        d("listen_disabled_total", "Times connections began to wait over the -c limit (listen_disabled_num)."),
		closed:           d("connections_closed_total", "Connections the server closed, by reason.", "reason"),
		items:            d("items", "Items stored now (curr_items)."),
		itemsTotal:       d("items_total", "Items stored since start (total_items)."),
		bytes:            d("item_bytes", "Bytes of the items stored now (bytes)."),
		limit:            d("limit_bytes", "Memory limit for items (limit_maxbytes)."),
		evictions:        d("evictions_total", "Live items evicted to make room (evictions)."),
		expiredUnfetched: d("expired_unfetched_total", "Expired items reclaimed that were never read."),
		evictedUnfetched: d("evicted_unfetched_total", "Evicted items that were never read."),
		evictedActive:    d("evicted_active_total", "Evicted items that had been read recently."),
		reclaimed:        d("reclaimed_total", "Expired items whose memory was reused (reclaimed)."),
		crawlerReclaimed: d("crawler_reclaimed_total", "Expired items freed by the background crawler."),
		getExpired:       d("get_expired_total", "Reads that found an expired item."),
		getFlushed:       d("get_flushed_total", "Reads that found an item invalidated by flush_all."),
		movesToCold:      d("lru_moves_to_cold_total", "Items moved from HOT or WARM to COLD."),
		movesToWarm:      d("lru_moves_to_warm_total", "Items moved from COLD to WARM."),
		readBytes:        d("read_bytes_total", "Bytes read from clients (bytes_read)."),
		writtenBytes:     d("written_bytes_total", "Bytes written to clients (bytes_written)."),
		pages:            d("slab_pages", "1 MiB pages held by a slab class.", "class"),
		chunkSize:        d("slab_chunk_size_bytes", "Chunk size of a slab class.", "class"),
		usedChunks:       d("slab_used_chunks", "Chunks holding items in a slab class.", "class"),
		freeChunks:       d("slab_free_chunks", "Free chunks in a slab class.", "class"),
		classItems:       d("slab_items", "Items in a slab class.", "class"),
		classEvictions:   d("slab_evictions_total", "Items evicted from a slab class.", "class"),
		pagePool:         d("slab_global_page_pool", "Free pages in the global pool."),
		uptime:           d("uptime_seconds", "Seconds since the server started."),
		latency:          d("request_duration_seconds", "Server-side processing time of one request, from parsed to reply buffered.", "command"),
		info:             d("info", "Always 1; the labels carry the version.", "version"),
		hotKeys:          d("hotkeys", "Keys in the hot set now."),
		hotSampled:       d("hotkey_sampled_reads_total", "Reads sampled for hot-key detection."),
		hotChanges:       d("hotkey_changes_total", "Keys entering or leaving the hot set.", "event"),
		repPushes:        d("hotkey_replication_pushes_total", "Copies of hot keys stored on replicas."),
		repFailures:      d("hotkey_replication_failures_total", "Copies or invalidations a replica did not answer (the replica is dropped)."),
		repRefused:       d("hotkey_copies_refused_total", "Copies of hot keys refused here: sent by a node this one does not see as the key's owner."),
		repBytes:         d("hotkey_replication_bytes_total", "Value bytes copied to replicas."),
		repReportFailures: d("hotkey_read_report_failures_total",
			"Asks of a replica for the reads of its copies that failed (the owner then scales its own reads)."),
		warmActive:         d("warmup_active", "1 while a warm-up after a ring change is on."),
		warmFetches:        d("warmup_fetches_total", "Keys fetched from their previous owner during warm-ups, by outcome.", "outcome"),
		warmBytes:          d("warmup_bytes_total", "Value bytes filled from previous owners during warm-ups."),
		warmPushed:         d("warmup_pushed_total", "Items this node pushed to the new owners of their keys after ring changes and on leaving, by outcome.", "outcome"),
		warmPushBytes:      d("warmup_push_bytes_total", "Value bytes this node pushed to the new owners of their keys."),
		warmDisowned:       d("warmup_disowned_removed_total", "Items of keys that moved to another node in a ring change, removed here instead of being served to a client, or once the warm-up ended."),
		warmRestore:        d("warmup_restore_confirmed", "1 when this node, restarted warm in a cluster, kept its memory file's items: every member vouched for its absence."),
		warmRestoreDeleted: d("warmup_restore_deleted_total", "Keys of the memory file deleted after a warm restart in a cluster: written on the others while this node was away."),
		prefixPending:      d("flush_prefix_pending", "Flushed prefixes whose items the crawler has not yet finished reclaiming."),
		prefixReclaimed:    d("flush_prefix_reclaimed_total", "Items removed because a flush_prefix covered them."),
		invRelays:          d("invalidation_relays_total", "Namespace flushes and deletes relayed between members, by outcome.", "outcome"),
		invBacklog:         d("invalidation_backlog", "Relays waiting for members that did not acknowledge them."),
		awayKeys:           d("away_keys", "Keys written here for members that are away, to delete on them when they answer again."),
		awayWrites:         d("away_writes_total", "Writes here of keys whose owner was away."),
		awayDeleted:        d("away_deleted_total", "Keys deleted on members that came back."),
		awayFlushes:        d("away_flushes_total", "Members that came back sent a flush_all instead (too many keys)."),
		awayFailures:       d("away_failures_total", "Deliveries to members that came back that failed (tried again)."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.cmds, c.conns, c.connsTotal, c.rejected, c.waiting, c.listenOff, c.closed, c.items,
		c.itemsTotal, c.bytes, c.limit, c.evictions, c.expiredUnfetched, c.evictedUnfetched, c.evictedActive,
		c.reclaimed, c.crawlerReclaimed, c.getExpired, c.getFlushed, c.movesToCold, c.movesToWarm,
		c.readBytes, c.writtenBytes, c.pages, c.chunkSize, c.usedChunks, c.freeChunks, c.classItems,
		c.classEvictions, c.pagePool, c.uptime, c.latency, c.info, c.hotKeys, c.hotSampled, c.hotChanges,
		c.repPushes, c.repFailures, c.repRefused, c.repBytes, c.repReportFailures, c.warmActive, c.warmFetches, c.warmBytes, c.warmPushed, c.warmPushBytes, c.warmDisowned, c.warmRestore, c.warmRestoreDeleted,
		c.prefixPending, c.prefixReclaimed, c.invRelays, c.invBacklog,
		c.awayKeys, c.awayWrites, c.awayDeleted, c.awayFlushes, c.awayFailures} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	t := s.totals()
	st := s.store.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, m := range []struct {
		cmd, status string
		v           uint64
	}{
		{"get", "hit", t[cGetHits]}, {"get", "miss", t[cGetMisses]},
		{"set", "", t[cCmdSet]},
		{"delete", "hit", t[cDeleteHits]}, {"delete", "miss", t[cDeleteMisses]},
		{"incr", "hit", t[cIncrHits]}, {"incr", "miss", t[cIncrMisses]},
		{"decr", "hit", t[cDecrHits]}, {"decr", "miss", t[cDecrMisses]},
		{"cas", "hit", t[cCasHits]}, {"cas", "miss", t[cCasMisses]}, {"cas", "badval", t[cCasBadval]},
		{"touch", "hit", t[cTouchHits]}, {"touch", "miss", t[cTouchMisses]},
		{"flush", "", t[cCmdFlush]}, {"meta", "", t[cCmdMeta]}, {"flush_prefix", "", t[cCmdFlushPrefix]},
	} {
		counter(c.cmds, m.v, m.cmd, m.status)
	}
	gauge(c.conns, float64(s.counts.curr.Load()))
	counter(c.connsTotal, s.counts.total.Load())
	counter(c.rejected, s.counts.rejected.Load())
	_, offNum, _ := s.net.listenState()
	gauge(c.waiting, float64(s.net.waitingCount()))
	counter(c.listenOff, offNum)
	counter(c.closed, s.counts.idleKicks.Load(), "idle_timeout")
	counter(c.closed, s.counts.outputClosed.Load(), "read_buf_oom")
	counter(c.closed, s.counts.lineTooLong.Load(), "line_too_long")
	gauge(c.items, float64(st.CurrItems))
	counter(c.itemsTotal, st.TotalItems)
	gauge(c.bytes, float64(st.Bytes))
	gauge(c.limit, float64(st.LimitMaxbytes))
	counter(c.evictions, st.Evictions)
	counter(c.expiredUnfetched, st.ExpiredUnfetched)
	counter(c.evictedUnfetched, st.EvictedUnfetched)
	counter(c.evictedActive, st.EvictedActive)
	counter(c.reclaimed, st.Reclaimed)
	counter(c.crawlerReclaimed, st.CrawlerReclaimed)
	counter(c.getExpired, st.GetExpired)
	counter(c.getFlushed, st.GetFlushed)
	counter(c.movesToCold, st.MovesToCold)
	counter(c.movesToWarm, st.MovesToWarm)
	counter(c.readBytes, t[cBytesRead])
	counter(c.writtenBytes, t[cBytesWritten])
	gauge(c.pagePool, float64(st.SlabGlobalPagePool))
	gauge(c.uptime, float64(clock.Uptime(s.clk)))
	gauge(c.info, 1, Version)
	active := 0.0
	if s.warmOn() {
		active = 1
	}
	gauge(c.warmActive, active)
	w := &s.warm
	counter(c.warmFetches, w.hits.Load(), "filled")
	counter(c.warmFetches, w.misses.Load(), "miss")
	counter(c.warmFetches, w.failures.Load(), "failed")
	counter(c.warmBytes, w.bytes.Load())
	counter(c.warmPushed, w.pushed.Load(), "answered")
	counter(c.warmPushed, w.pushFailures.Load(), "failed")
	counter(c.warmPushBytes, w.pushBytes.Load())
	counter(c.warmDisowned, s.store.DisownedRemoved())
	confirmed := 0.0
	if w.restoreState.Load() == restoreConfirmed {
		confirmed = 1
	}
	gauge(c.warmRestore, confirmed)
	counter(c.warmRestoreDeleted, w.restoreDropped.Load())
	ps := s.store.PrefixStats()
	gauge(c.prefixPending, float64(ps.Pending))
	counter(c.prefixReclaimed, ps.Reclaimed)
	counter(c.invRelays, s.inv.relayed.Load(), "received")
	counter(c.invRelays, s.inv.forwarded.Load(), "sent")
	counter(c.invRelays, s.inv.failures.Load(), "failed")
	_, backlog := s.inv.backlog()
	gauge(c.invBacklog, float64(backlog))
	a := &s.away
	_, awayKeys := a.counts()
	gauge(c.awayKeys, float64(awayKeys))
	counter(c.awayWrites, a.noted.Load())
	counter(c.awayDeleted, a.deleted.Load())
	counter(c.awayFlushes, a.flushed.Load())
	counter(c.awayFailures, a.failures.Load())
	if h := s.hot; h != nil {
		gauge(c.hotKeys, float64(len(h.Hot())))
		counter(c.hotSampled, h.Sampled())
		enter, leave := h.Changes()
		counter(c.hotChanges, enter, "enter")
		counter(c.hotChanges, leave, "leave")
		counter(c.repPushes, s.rep.pushes.Load())
		counter(c.repFailures, s.rep.failures.Load())
		counter(c.repRefused, s.rep.refused.Load())
		counter(c.repBytes, s.rep.bytes.Load())
		counter(c.repReportFailures, s.rep.reportFailures.Load())
	}
	for _, cs := range s.store.ClassStats(nil) {
		if cs.Slab.TotalPages == 0 && cs.Number == 0 {
			continue
		}
		cls := strconv.Itoa(cs.Class)
		gauge(c.pages, float64(cs.Slab.TotalPages), cls)
		gauge(c.chunkSize, float64(cs.Slab.ChunkSize), cls)
		gauge(c.usedChunks, float64(cs.Slab.UsedChunks), cls)
		gauge(c.freeChunks, float64(cs.Slab.FreeChunks), cls)
		gauge(c.classItems, float64(cs.Number), cls)
		counter(c.classEvictions, cs.Evicted, cls)
	}
	var lat [numLatCmds][numLatBuckets]uint64
	var sum [numLatCmds]uint64
	for _, ls := range s.net.loopStatsAll() {
		ls.mu.Lock()
		for i := range lat {
			for b := range lat[i] {
				lat[i][b] += ls.lat[i][b]
			}
			sum[i] += ls.latSum[i]
		}
		ls.mu.Unlock()
	}
	for i := range lat {
		buckets := make(map[float64]uint64, latBuckets)
		var cum uint64
		for b := range latBuckets {
			cum += lat[i][b]
			buckets[float64(uint64(1)<<(b+latMinShift))/1e9] = cum
		}
		count := cum + lat[i][latBuckets]
		if count == 0 {
			continue
		}
		ch <- prometheus.MustNewConstHistogram(c.latency, count, float64(sum[i])/1e9, buckets, latNames[i])
	}
}
