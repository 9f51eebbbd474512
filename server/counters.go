package server

import (
	"sync"

	"github.com/slabcache/slabcache/cluster/hotkeys"
	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/slab"
)

// Request counters. A connection counts into plain memory during an event
// (its counters, and lists of the per-class counts and the latencies) and
// adds all of it to its event loop's counters at the end of the event,
// under the loop's lock: one lock and unlock per event instead of an
// atomic add per counter, class count and latency (eight for an
// unpipelined get). Readers (stats, metrics) take each loop's lock in turn
// and sum. Names are memcached's `stats` names.
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

// pendingMax is how many per-class counts, and how many latencies, a
// connection keeps before it adds them to its loop's counters; a batch
// with more (a multi-get of many keys) adds them in several steps.
const pendingMax = 32

// pending is what a connection has counted during an event besides its
// counters: per-class counts and request latencies, in the order they
// came.
type pending struct {
	cls  [pendingMax]uint16 // class*numClassCounters + counter
	ncls int
	lat  [pendingMax]struct {
		cmd, bucket uint8
		d           uint64 // ns
	}
	nlat int
}

// loopStats are one event loop's counters. Its connections add to them
// under mu at the end of each event (conn.flushCounters); readers take mu
// to sum them.
type loopStats struct {
	mu    sync.Mutex
	c     counters
	class [slab.MaxClasses + 1][numClassCounters]uint64

	// Latency histograms (metrics.go), not reset by `stats reset`.
	lat    [numLatCmds][numLatBuckets]uint64
	latSum [numLatCmds]uint64

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

// flushCounters adds this event's counts to the loop's.
func (c *conn) flushCounters() {
	p := &c.pend
	dirty := p.ncls != 0 || p.nlat != 0
	for i := range c.st { // by index: ranging over the array would copy it
		if c.st[i] != 0 {
			dirty = true
			break
		}
	}
	if !dirty {
		return
	}
	ls := c.loop
	ls.mu.Lock()
	for i := range c.st {
		if v := c.st[i]; v != 0 {
			ls.c[i] += v
			c.st[i] = 0
		}
	}
	for _, k := range p.cls[:p.ncls] {
		ls.class[k/numClassCounters][k%numClassCounters]++
	}
	for _, e := range p.lat[:p.nlat] {
		ls.lat[e.cmd][e.bucket]++
		ls.latSum[e.cmd] += e.d
	}
	ls.mu.Unlock()
	p.ncls, p.nlat = 0, 0
}

// classAdd counts a per-class event (cls 0 or out of range is ignored).
func (c *conn) classAdd(cls, k int) {
	if cls > 0 && cls <= slab.MaxClasses {
		p := &c.pend
		if p.ncls == pendingMax {
			c.flushCounters()
		}
		p.cls[p.ncls] = uint16(cls*numClassCounters + k)
		p.ncls++
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
		ls.mu.Lock()
		for i := range ls.c {
			t[i] += ls.c[i]
		}
		ls.mu.Unlock()
	}
	return t
}

// classTotals sums every loop's per-class counters.
func (s *Server) classTotals() (t [slab.MaxClasses + 1][numClassCounters]uint64) {
	for _, ls := range s.net.loopStatsAll() {
		ls.mu.Lock()
		for cls := range ls.class {
			for k := range ls.class[cls] {
				t[cls][k] += ls.class[cls][k]
			}
		}
		ls.mu.Unlock()
	}
	return t
}

// resetCounters is `stats reset`: it zeroes what memcached zeroes, the
// request counters, the store's counters (lru.Store.ResetStats), the
// connection and watcher totals and the prefixes of stats detail.
func (s *Server) resetCounters() {
	s.store.ResetStats()
	s.counts.total.Store(0)
	s.counts.listenInTotal.Store(false)
	s.counts.rejected.Store(0)
	s.counts.connYields.Store(0)
	s.counts.respOOM.Store(0)
	s.obs.skippedTotal.Store(0)
	s.obs.sent.Store(0)
	s.obs.clearDetail()
	for _, ls := range s.net.loopStatsAll() {
		ls.mu.Lock()
		ls.c = counters{}
		clear(ls.class[:])
		ls.mu.Unlock()
	}
}
