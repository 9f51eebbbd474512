package server

import (
	"sync/atomic"

	"github.com/slabcache/slabcache/cluster/hotkeys"
	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/slab"
)

// Request counters. A connection counts into a plain array during an event
// and adds it to its event loop's atomic counters at the end of the event,
// so the hot path pays no atomic operation per request; readers (stats,
// metrics) sum the loops. Names are memcached's `stats` names.
const (
	cCmdGet         = iota // cmd_get: keys asked for by get, gets, gat, gats, mg
	cCmdSet                // cmd_set: storage requests
	cCmdFlush              // cmd_flush
	cCmdTouch              // cmd_touch: touch, gat, gats
	cCmdMeta               // cmd_meta: me commands (memcached 1.6.45 counts no other)
	cCmdFlushPrefix        // cmd_flush_prefix: flush_prefix and md A (slabcache)
	cGetHits               // get_hits
	cGetMisses             // get_misses
	cDeleteHits            // delete_hits
	cDeleteMisses          // delete_misses
	cIncrHits              // incr_hits
	cIncrMisses            // incr_misses
	cDecrHits              // decr_hits
	cDecrMisses            // decr_misses
	cCasHits               // cas_hits
	cCasMisses             // cas_misses
	cCasBadval             // cas_badval
	cTouchHits             // touch_hits
	cTouchMisses           // touch_misses
	cStoreTooLarge         // store_too_large
	cStoreNoMemory         // store_no_memory
	cAuthCmds              // auth_cmds: SASL authentications tried
	cAuthErrors            // auth_errors: SASL authentications failed
	cBytesRead             // bytes_read
	cBytesWritten          // bytes_written
	numCounters
)

// Per-class request counters (`stats slabs`, `stats items`).
const (
	kGetHits    = iota // get_hits
	kCmdSet            // cmd_set
	kDeleteHits        // delete_hits
	kIncrHits          // incr_hits
	kDecrHits          // decr_hits
	kCasHits           // cas_hits
	kCasBadval         // cas_badval
	kTouchHits         // touch_hits
	kHitsToHot         // hits_to_hot (`stats items`); then warm, cold, temp in lru.Segment order
	kHitsToWarm        // hits_to_warm
	kHitsToCold        // hits_to_cold
	kHitsToTemp        // hits_to_temp
	numClassCounters
)

// counters is one event's worth of request counts.
type counters [numCounters]uint64

// loopStats are one event loop's counters. Only that loop adds to them.
type loopStats struct {
	c     [numCounters]atomic.Uint64
	class [slab.MaxClasses + 1][numClassCounters]atomic.Uint64

	// Latency histograms (metrics.go), not reset by `stats reset`.
	lat    [numLatCmds][numLatBuckets]atomic.Uint64
	latSum [numLatCmds]atomic.Uint64

	// hot samples the keys this loop serves (hotkeys.go); nil when
	// detection is off. Only the loop's goroutine uses it.
	hot *hotkeys.Sampler

	// yieldAt is when the loop's goroutine last yielded to the Go
	// scheduler (see yieldEvery). Only the loop's goroutine uses it.
	yieldAt int64

	// clockAt is the loop's last clock read (ticks.Now) for a request or a
	// large write, which yieldIfDue goes by. Only the loop's goroutine
	// uses it.
	clockAt int64
}

// classAdd counts a per-class event (cls 0 or out of range is ignored).
func (c *conn) classAdd(cls, k int) {
	if cls > 0 && cls <= slab.MaxClasses {
		c.loop.class[cls][k].Add(1)
	}
}

// hitAdd counts a get hit (or touch hit when touch) on an item of class
// cls found in segment seg.
func (c *conn) hitAdd(cls int, seg lru.Segment, touch bool) {
	if touch {
		c.st[cTouchHits]++
		c.classAdd(cls, kTouchHits)
	} else {
		c.st[cGetHits]++
		c.classAdd(cls, kGetHits)
	}
	if seg <= lru.Temp {
		c.classAdd(cls, kHitsToHot+int(seg))
	}
}

// totals sums every loop's counters.
func (s *Server) totals() (t counters) {
	for _, ls := range s.net.loopStatsAll() {
		for i := range ls.c {
			t[i] += ls.c[i].Load()
		}
	}
	return t
}

// classTotals sums every loop's per-class counters.
func (s *Server) classTotals() (t [slab.MaxClasses + 1][numClassCounters]uint64) {
	for _, ls := range s.net.loopStatsAll() {
		for cls := range ls.class {
			for k := range ls.class[cls] {
				t[cls][k] += ls.class[cls][k].Load()
			}
		}
	}
	return t
}

// resetCounters is `stats reset`: it zeroes what memcached zeroes, the
// request counters, the store's counters (lru.Store.ResetStats), the
// connection and watcher totals and the prefixes of stats detail.
func (s *Server) resetCounters() {
	s.store.ResetStats()
	s.counts.total.Store(0)
	s.counts.rejected.Store(0)
	s.counts.connYields.Store(0)
	s.counts.respOOM.Store(0)
	s.obs.skippedTotal.Store(0)
	s.obs.sent.Store(0)
	s.obs.clearDetail()
	for _, ls := range s.net.loopStatsAll() {
		for i := range ls.c {
			ls.c[i].Store(0)
		}
		for cls := range ls.class {
			for k := range ls.class[cls] {
				ls.class[cls][k].Store(0)
			}
		}
	}
}
