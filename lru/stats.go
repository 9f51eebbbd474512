package lru

import "github.com/slabcache/slabcache/slab"

// Stats are the store's global counters, named as in memcached's `stats`.
// Request counters (get_hits, cmd_set, ...) belong to the caller, which
// sees every request; the store counts what only it can see.
type Stats struct {
	CurrItems         uint64 // curr_items
	TotalItems        uint64 // total_items: items ever linked
	Bytes             uint64 // bytes: sizes of live items
	Evictions         uint64 // evictions
	Reclaimed         uint64 // reclaimed: expired items whose memory was reused
	ExpiredUnfetched  uint64 // expired_unfetched
	EvictedUnfetched  uint64 // evicted_unfetched
	EvictedActive     uint64 // evicted_active
	CrawlerReclaimed  uint64 // crawler_reclaimed
	CrawlerChecked    uint64 // crawler_items_checked
	LRUCrawlerStarts  uint64 // lru_crawler_starts (full passes over memory)
	MovesToCold       uint64 // moves_to_cold
	MovesToWarm       uint64 // moves_to_warm
	MovesWithinLRU    uint64 // moves_within_lru
	DirectReclaims    uint64 // direct_reclaims
	LRUTailRepairs    uint64 // tailrepairs summed (always 0: no reference counts to leak)
	GetExpired        uint64 // get_expired
	GetFlushed        uint64 // get_flushed
	OutOfMemory       uint64 // allocations that failed (sum of per-class outofmemory)
	MaintainerJuggles uint64 // lru_maintainer_juggles

	SlabReassignRescues        uint64 // slab_reassign_rescues
	SlabReassignChunkRescues   uint64 // slab_reassign_chunk_rescues
	SlabReassignEvictionsNomem uint64 // slab_reassign_evictions_nomem
	SlabReassignInlineReclaim  uint64 // slab_reassign_inline_reclaim
	SlabReassignBusyItems      uint64 // slab_reassign_busy_items
	SlabReassignBusyDeletes    uint64 // slab_reassign_busy_deletes (always 0: deletes never wait)
	SlabReassignRunning        bool   // slab_reassign_running
	SlabsMoved                 uint64 // slabs_moved
	SlabGlobalPagePool         int    // slab_global_page_pool
	TotalMalloced              int64  // total_malloced
	LimitMaxbytes              int64  // limit_maxbytes
	ActiveSlabs                int    // active_slabs

	// HashPowerLevel is hash_power_level: the hash power memcached's
	// table would have reached for the most items held at once (it starts
	// at HashPower and grows by one whenever items exceed 1.5 times 2^level,
	// and never shrinks). The index's own size is HashBytes.
	HashPowerLevel int
	HashBytes      int64  // hash_bytes: index memory
	HashExpansions uint64 // times a shard's table started to grow
	HashExpanding  int    // shards whose table is growing now (hash_is_expanding when > 0)
	MallocFails    uint64 // malloc_fails (always 0: pages are reserved up front)
}

// ClassStats are the per-class counters of `stats items` and the item part
// of `stats slabs`; the page part is in Slab (from package slab).
type ClassStats struct {
	Class            int
	Slab             slab.ClassStats
	Number           uint64 // number
	NumberHot        uint64 // number_hot
	NumberWarm       uint64 // number_warm
	NumberCold       uint64 // number_cold
	NumberTemp       uint64 // number_temp
	AgeHot           uint32 // age_hot: seconds since the HOT tail's last access
	AgeWarm          uint32 // age_warm
	Age              uint32 // age: of the COLD tail (the oldest item)
	MemRequested     uint64 // mem_requested: bytes of live items
	Evicted          uint64 // evicted
	EvictedNonzero   uint64 // evicted_nonzero: evicted items that had an expiry
	EvictedTime      uint32 // evicted_time: idle seconds of the last evicted item
	OutOfMemory      uint64 // outofmemory
	TailRepairs      uint64 // tailrepairs (always 0: no reference counts to leak)
	Reclaimed        uint64 // reclaimed
	ExpiredUnfetched uint64 // expired_unfetched
	EvictedUnfetched uint64 // evicted_unfetched
	EvictedActive    uint64 // evicted_active
	CrawlerReclaimed uint64 // crawler_reclaimed
	CrawlerChecked   uint64 // crawler_items_checked
	LRUTailReflocked uint64 // lrutail_reflocked: tail items skipped because their shard was busy
	MovesToCold      uint64 // moves_to_cold
	MovesToWarm      uint64 // moves_to_warm
	MovesWithinLRU   uint64 // moves_within_lru
	DirectReclaims   uint64 // direct_reclaims
	TotalItems       uint64 // items ever linked in this class
}

// ClassStats returns the counters of every class that has pages or items,
// in class order, appended to dst.
func (s *Store) ClassStats(dst []ClassStats) []ClassStats {
	now := s.clk.Now()
	spares := s.spareCounts()
	for cls := 1; cls <= s.slab.NumClasses(); cls++ {
		cs := ClassStats{Class: cls, Slab: s.slabStats(cls, &spares)}
		var lastEviction uint32
		for k := range s.stripes() {
			s.addStripeStats(&cs, s.lruAt(cls, k), now, &lastEviction)
		}
		ss := cs.Slab
		cs.Number = cs.NumberHot + cs.NumberWarm + cs.NumberCold + cs.NumberTemp
		if ss.TotalPages > 0 || cs.Number > 0 {
			dst = append(dst, cs)
		}
	}
	return dst
}

// addStripeStats adds the counters of LRU stripe c to cs: the ages are
// the oldest stripe's, evicted_time that of the stripe that evicted last
// (*lastEviction, the time of the latest eviction so far).
func (s *Store) addStripeStats(cs *ClassStats, c *lruClass, now uint32, lastEviction *uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs.NumberHot += c.count[Hot]
	cs.NumberWarm += c.count[Warm]
	cs.NumberCold += c.count[Cold]
	cs.NumberTemp += c.count[Temp]
	cs.MemRequested += c.bytes[Hot] + c.bytes[Warm] + c.bytes[Cold] + c.bytes[Temp]
	cs.Evicted += c.evicted
	cs.EvictedNonzero += c.evictedNonzero
	if c.evicted != 0 && c.evictedAt >= *lastEviction {
		cs.EvictedTime, *lastEviction = c.evictedTime, c.evictedAt
	}
	cs.OutOfMemory += c.outOfMemory
	cs.Reclaimed += c.reclaimed
	cs.ExpiredUnfetched += c.expiredUnfetched
	cs.EvictedUnfetched += c.evictedUnfetched
	cs.EvictedActive += c.evictedActive
	cs.CrawlerReclaimed += c.crawlerReclaimed
	cs.CrawlerChecked += c.crawlerChecked
	cs.LRUTailReflocked += c.lrutailReflocked
	cs.MovesToCold += c.movesToCold
	cs.MovesToWarm += c.movesToWarm
	cs.MovesWithinLRU += c.movesWithinLRU
	cs.DirectReclaims += c.directReclaims
	cs.TotalItems += c.totalItems
	if t := c.tail[Hot]; t != 0 {
		cs.AgeHot = max(cs.AgeHot, now-getAtime(s.ptr(t)))
	}
	if t := c.tail[Warm]; t != 0 {
		cs.AgeWarm = max(cs.AgeWarm, now-getAtime(s.ptr(t)))
	}
	if t := c.tail[Cold]; t != 0 {
		cs.Age = max(cs.Age, now-getAtime(s.ptr(t)))
	}
}

// Stats returns the global counters. It locks each class and shard briefly.
func (s *Store) Stats() Stats {
	var st Stats
	for _, cs := range s.ClassStats(make([]ClassStats, 0, slab.MaxClasses)) {
		st.CurrItems += cs.Number
		st.TotalItems += cs.TotalItems
		st.Bytes += cs.MemRequested
		st.Evictions += cs.Evicted
		st.Reclaimed += cs.Reclaimed
		st.ExpiredUnfetched += cs.ExpiredUnfetched
		st.EvictedUnfetched += cs.EvictedUnfetched
		st.EvictedActive += cs.EvictedActive
		st.CrawlerReclaimed += cs.CrawlerReclaimed
		st.MovesToCold += cs.MovesToCold
		st.MovesToWarm += cs.MovesToWarm
		st.MovesWithinLRU += cs.MovesWithinLRU
		st.DirectReclaims += cs.DirectReclaims
		st.LRUTailRepairs += cs.TailRepairs
		st.OutOfMemory += cs.OutOfMemory
	}
	var slots int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		st.GetExpired += sh.getExpired
		st.GetFlushed += sh.getFlushed
		slots += int64(sh.t.memSlots())
		if sh.t.migrating() {
			st.HashExpanding++
		}
		sh.mu.Unlock()
	}
	st.HashBytes = slots * slotBytes
	s.noteHashPower(st.CurrItems)
	st.HashPowerLevel = int(s.hashPower.Load())
	st.HashExpansions = s.rehashes.Load()
	s.bg.mu.Lock()
	m := &s.mover
	st.SlabReassignRescues = m.rescues
	st.SlabReassignChunkRescues = m.chunkRescues
	st.SlabReassignEvictionsNomem = m.evictionsNomem
	st.SlabReassignInlineReclaim = m.inlineReclaim
	st.SlabReassignBusyItems = m.busyItems
	st.SlabReassignBusyDeletes = m.busyDeletes
	st.SlabReassignRunning = m.running
	st.CrawlerChecked = s.crawl.checked
	st.LRUCrawlerStarts = s.crawl.starts - s.resetBase.starts + s.crawl.dumps
	st.MaintainerJuggles = s.bg.juggles - s.resetBase.juggles
	moved := s.resetBase.moved
	s.bg.mu.Unlock()
	ss := s.slab.Stats()
	st.SlabsMoved = ss.PagesMoved - moved
	st.SlabGlobalPagePool = ss.PoolPages
	st.TotalMalloced = ss.TotalMalloced
	st.LimitMaxbytes = ss.LimitMaxbytes
	st.ActiveSlabs = ss.ActiveClasses
	return st
}

// statsBase holds what ResetStats cannot zero because the store counts on
// it (crawler passes) or does not own it (page moves): their values at the
// last reset, subtracted from what Stats reports. Guarded by bg.mu.
type statsBase struct {
	starts, juggles, moved uint64
}

// ResetStats zeroes the counters memcached's `stats reset` zeroes: the
// per-class item counters (evicted, reclaimed, moves, ...), total_items,
// get_expired and get_flushed, and the crawler, maintainer and page-move
// counts. What describes the present (curr_items, bytes, pages, ages) is
// kept.
func (s *Store) ResetStats() {
	for i := range s.classes {
		c := &s.classes[i]
		c.mu.Lock()
		c.evicted, c.evictedNonzero, c.evictedTime, c.evictedAt, c.outOfMemory = 0, 0, 0, 0, 0
		c.reclaimed, c.expiredUnfetched, c.evictedUnfetched, c.evictedActive = 0, 0, 0, 0
		c.crawlerReclaimed, c.crawlerChecked, c.lrutailReflocked = 0, 0, 0
		c.movesToCold, c.movesToWarm, c.movesWithinLRU, c.directReclaims = 0, 0, 0, 0
		c.totalItems = 0
		c.mu.Unlock()
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.getExpired, sh.getFlushed = 0, 0
		sh.mu.Unlock()
	}
	moved := s.slab.Stats().PagesMoved
	s.bg.mu.Lock()
	m := &s.mover
	m.rescues, m.chunkRescues, m.evictionsNomem, m.inlineReclaim, m.busyItems, m.busyDeletes = 0, 0, 0, 0, 0, 0
	s.crawl.checked, s.crawl.dumps = 0, 0
	s.resetBase = statsBase{starts: s.crawl.starts, juggles: s.bg.juggles, moved: moved}
	s.bg.mu.Unlock()
}

// SetMemoryLimit changes the memory limit at run time (`cache_memlimit`):
// lowering it stops classes from taking new pages until they hold fewer
// than the new limit (stores then evict within their class); raising it
// works up to MemoryLimitMax (MemoryLimit when 0), whose address space is
// reserved at New. It returns ErrConfig outside 1 MiB .. MemoryLimitMax.
func (s *Store) SetMemoryLimit(n int64) error {
	if !s.slab.SetLimit(n) {
		return ErrConfig
	}
	return nil
}

// noteHashPower raises hash_power_level for n items held, as memcached
// expands its table when items exceed 1.5 times its buckets.
func (s *Store) noteHashPower(n uint64) {
	for {
		hp := s.hashPower.Load()
		if hp >= 32 || n <= 3<<hp/2 {
			return
		}
		s.hashPower.CompareAndSwap(hp, hp+1)
	}
}

// itemCount is curr_items.
func (s *Store) itemCount() uint64 {
	var n uint64
	for i := range s.classes {
		c := &s.classes[i]
		c.mu.Lock()
		for g := range numSegs {
			n += c.count[g]
		}
		c.mu.Unlock()
	}
	return n
}
