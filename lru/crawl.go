package lru

import "github.com/slabcache/slabcache/slab"

// The crawler and metadump walk slab pages chunk by chunk rather than LRU
// lists: a page walk needs no marker items in the lists and is not
// disturbed by concurrent bumps. Each chunk found allocated is checked
// under its shard lock, found through the tag in its state word, and
// verified against the index before anything is read from it.

type crawlerState struct {
	page    uint32
	idx     int
	buf     []slab.Ref
	starts  uint64
	checked uint64
	perCls  [slab.MaxClasses + 1]uint64
	// The latest prefix flush when the current pass started (namespace.go
	// drops prefixes after a pass).
	passSeq uint64
	// The marks of disowned keys the current pass reclaims (disown.go).
	disPass []*disownMark

	// dumps counts the metadumps and mgdumps begun (NoteDumpStart), which
	// memcached counts as crawls.
	dumps uint64

	// active: a pass is under way; auto: it is one of the background
	// goroutine's (crawlerCheck), which crawls the LRUs in ids[].todo only
	// and keeps their figures; sel: an asked-for crawl of the LRUs in
	// ids[].todo only (CrawlClasses); full: the pass has looked at every
	// item since its first step (the prefixes flushed before it may go at
	// its end); limit: at most this many items of each LRU are checked
	// (0: all); passStart is when it began.
	active, auto, sel, full bool
	limit                   uint32
	passStart               uint32
	// ids: memcached's autocrawl schedule, one per class and LRU
	// (crawlID).
	ids [numCrawlIDs]crawlSchedule
}

// numCrawlIDs: memcached's crawler ids, a class number with its LRU in
// the two high bits (HOT 0, WARM 64, COLD 128, TEMP 192).
const numCrawlIDs = 256

// crawlID is the id of class cls's LRU seg (classes are at most
// slab.MaxClasses, 63).
func crawlID(cls int, seg Segment) int {
	return cls | int(seg)<<6
}

// crawlSchedule is one LRU's autocrawl figures and schedule (memcached's
// crawlerstats_t and next_crawls, next_crawl_wait).
type crawlSchedule struct {
	// What its last run saw: items, those that never expire, those that
	// expire in each of the coming 60 minutes, and those reclaimed.
	seen, noExp, reclaimed uint64
	histo                  [60]uint64
	start, end             uint32 // of its last run
	wait                   uint32 // next_crawl_wait
	next                   uint32 // it may run once the clock is past this
	scheduled              bool   // next was set (memcached's starts at 0)
	todo, complete         bool   // in the pass under way; run ended, not yet scheduled
	checked                uint32 // items checked in the pass under way (crawlerState.limit)
}

// CrawlerStatus is what memcached logs for `watch sysevents` (type=lru_crawler)
// when it schedules an LRU's next autocrawl after a run.
type CrawlerStatus struct {
	Class     int
	LRU       Segment
	LowMark   uint64 // 1% of the items that can expire, plus one
	Reclaims  uint64 // those found expiring within the hour, up to the mark
	SinceRun  uint32 // seconds since the run ended
	NextRun   uint32 // seconds to the next
	Elapsed   uint32 // the run's length in seconds
	Examined  uint64
	Reclaimed uint64
}

// maxAutoCrawlWait is the longest wait between passes, memcached's
// MAX_MAINTCRAWL_WAIT.
const maxAutoCrawlWait = 60 * 60

// autoCrawlWait is memcached's lru_maintainer_crawler_check: from what a
// run saw, the wait before the next. When at least 1% of the items that
// can expire (and one more) will have expired within x minutes, the wait
// moves a minute toward x minutes; when none expire within the hour it
// grows by a minute; it is at most an hour. It also returns the mark and
// the expiring items counted up to it.
func autoCrawlWait(wait uint32, seen, noExp uint64, histo *[60]uint64) (next uint32, low, avail uint64) {
	low = (seen-noExp)/100 + 1
	for x := range histo {
		avail += histo[x]
		if avail > low {
			if wait < uint32(x)*60 {
				wait += 60
			} else if wait >= 60 {
				wait -= 60
			}
			break
		}
	}
	if avail == 0 {
		wait += 60
	}
	return min(wait, maxAutoCrawlWait), low, avail
}

// crawlerCheck is memcached's lru_maintainer_crawler_check, once a
// second: each LRU whose run ended gets its next run scheduled (and
// reported to Config.OnCrawlerStatus), and the LRUs that are due are
// crawled together in a new pass, unless a pass is under way (they are
// then due again 5 seconds later, as memcached's when its crawler is
// busy).
func (s *Store) crawlerCheck() {
	s.bg.mu.Lock()
	defer s.bg.mu.Unlock()
	cs := &s.crawl
	now := s.clk.Now()
	var todo [numCrawlIDs]bool
	due := false
	for i := 1; i < numCrawlIDs; i++ {
		d := &cs.ids[i]
		if d.complete {
			var low, avail uint64
			d.wait, low, avail = autoCrawlWait(d.wait, d.seen, d.noExp, &d.histo)
			d.next, d.scheduled = now+d.wait+5, true
			d.complete = false
			if f := s.cfg.OnCrawlerStatus; f != nil {
				f(CrawlerStatus{Class: i & 63, LRU: Segment(i >> 6), LowMark: low, Reclaims: avail,
					SinceRun: now - d.end, NextRun: d.next - now, Elapsed: d.end - d.start,
					Examined: d.seen, Reclaimed: d.reclaimed})
			}
		}
		if !d.scheduled || now > d.next {
			todo[i], due = true, true
			d.next, d.scheduled = now+5, true // memcached's minimum retry
		}
	}
	if !due || cs.active || s.bg.passWanted.Load() != 0 {
		return // busy: an asked-for pass goes first (the due LRUs retry in 5 s, as memcached's)
	}
	cs.startPass(now, s.toCrawl.Load(), false)
	cs.auto = true
	for i := range cs.ids {
		if d := &cs.ids[i]; todo[i] {
			d.todo = true
			d.seen, d.noExp, d.reclaimed, d.histo = 0, 0, 0, [60]uint64{}
			d.start = now
		}
	}
}

// startPass begins a pass at the first page: over every item (full), or
// over the LRUs the caller marks in ids[].todo, limit items of each at
// most. bg.mu is held.
func (cs *crawlerState) startPass(now, limit uint32, full bool) {
	cs.active, cs.passStart = true, now
	cs.auto, cs.sel, cs.full, cs.limit = false, !full, full, limit
	for i := range cs.ids {
		cs.ids[i].todo, cs.ids[i].checked = false, 0
	}
}

// makeFull turns the pass under way into one over every item (a prefix
// reclaim). It has looked at every item from its start only if it had
// not begun. bg.mu is held.
func (cs *crawlerState) makeFull() {
	if cs.auto || cs.sel || cs.limit != 0 {
		cs.full = cs.page == 0 && cs.idx == 0
	}
	cs.auto, cs.sel, cs.limit = false, false, 0
	for i := range cs.ids {
		cs.ids[i].todo = false
	}
}

// endPass ends the pass under way; the LRUs an autocrawl covered have
// completed a run.
func (cs *crawlerState) endPass(now uint32) {
	if cs.auto {
		for i := range cs.ids {
			if d := &cs.ids[i]; d.todo {
				d.todo, d.complete, d.end = false, true, now
			}
		}
	}
	cs.active, cs.auto, cs.sel = false, false, false
}

// NoteDumpStart counts a metadump or mgdump begun in lru_crawler_starts,
// as memcached, whose dumps are crawls, counts it.
func (s *Store) NoteDumpStart() {
	s.bg.mu.Lock()
	s.crawl.dumps++
	s.bg.mu.Unlock()
}

// NoteDumpChecked adds the items a dump by LRU (not by hash table) looked
// at, indexed by class, to crawler_items_checked, as memcached's does, and
// zeroes perClass.
func (s *Store) NoteDumpChecked(perClass []uint64) {
	var all uint64
	for cls, n := range perClass {
		if n != 0 && cls > 0 && cls <= slab.MaxClasses {
			c := s.lruAt(cls, 0) // ClassStats sums the stripes
			c.mu.Lock()
			c.crawlerChecked += n
			c.mu.Unlock()
			all += n
		}
		perClass[cls] = 0
	}
	if all != 0 {
		s.bg.mu.Lock()
		s.crawl.checked += all
		s.bg.mu.Unlock()
	}
}

// autoCrawlDue reports whether the background goroutine should take a
// step of an autocrawl under way.
func (s *Store) autoCrawlDue() bool {
	s.bg.mu.Lock()
	defer s.bg.mu.Unlock()
	return s.crawl.active && s.crawl.auto
}

// linkedItemLocked reports whether ref is a linked item of shard sh, as
// the index says. The shard lock is held; ref's page is not moving.
func (s *Store) linkedItemLocked(sh *shard, ref slab.Ref) (itemPtr, uint32, int, bool) {
	p := s.ptr(ref)
	st := loadState(p)
	if lifecycle(st) != lcLinked || s.shardOfState(st) != sh {
		return nil, 0, 0, false
	}
	key := s.lay.key(p, st)
	i, r := s.findLocked(&sh.t, hashKey(key), key)
	if r != ref {
		return nil, 0, 0, false
	}
	return p, st, i, true
}

// CrawlOnce examines up to budget chunks, continuing where the last call
// stopped and wrapping around the pages, and reclaims the expired and
// flushed items among them (crawler_reclaimed). It returns the number of
// items checked and reclaimed.
func (s *Store) CrawlOnce(budget int) (checked, reclaimed int) {
	s.bg.mu.Lock()
	defer s.bg.mu.Unlock()
	cs := &s.crawl
	maxPages := uint32(s.slab.CarvedPages()) // pages past it were never used
	now := s.clk.Now()
	if !cs.active {
		cs.startPass(now, 0, true) // a pass over everything
		if cs.page == 0 && cs.idx == 0 {
			s.disownPassStarts(cs)
		}
	}
	for budget > 0 {
		if cs.page >= maxPages {
			cs.page, cs.idx = 0, 0
			cs.starts++
			full := cs.full
			cs.endPass(now)
			// A pass over every item has reclaimed every item the
			// prefixes flushed before it started covered. (A page move
			// cannot carry such an item to a page the pass had already
			// seen: it reclaims flushed items instead of moving them.)
			if full && cs.passSeq != 0 {
				s.nsDropUpTo(cs.passSeq)
			}
			s.disownPassEnds(cs, full)
			if !full && (s.ns.table.Load() != nil || s.disownWaits()) {
				// Flushed prefixes wait for a pass over every item:
				// the next pass is one (crawlPassStep).
				s.raisePassWanted(cs.starts + 1)
			}
			cs.passSeq = s.ns.seq.Load()
			s.disownPassStarts(cs)
			break
		}
		if s.slab.PageClass(cs.page) == 0 {
			cs.page++
			cs.idx = 0
			continue
		}
		step := min(budget, 512)
		var next int
		cs.buf, next = s.slab.ChunkRefs(cs.page, cs.idx, step, cs.buf[:0])
		budget -= next - cs.idx
		if next == cs.idx {
			budget-- // an empty page range still costs
		}
		cs.idx = next
		if next >= s.slab.ChunksPerPage(s.slab.PageClass(cs.page)) {
			cs.page++
			cs.idx = 0
		}
		for _, ref := range cs.buf {
			st := loadState(s.ptr(ref))
			if lifecycle(st) != lcLinked {
				continue
			}
			sh := s.shardOfState(st)
			sh.mu.Lock()
			p, st, i, ok := s.linkedItemLocked(sh, ref)
			cls := 0
			if ok {
				cls = s.lruClass(ref, st)
			}
			var d *crawlSchedule
			if ok && (cs.auto || cs.sel) {
				switch d = &cs.ids[crawlID(cls, segOf(st))]; {
				case !d.todo:
					ok = false // not this LRU's turn
				case cs.limit != 0 && d.checked >= cs.limit:
					ok = false // lru_crawler_tocrawl items of it checked
				default:
					d.checked++
				}
				if !cs.auto {
					d = nil // an asked-for crawl: no autocrawl figures
				}
			}
			if ok {
				checked++
				cs.perCls[cls]++
				if d != nil {
					d.seen++
					if e := getExp(p); e == 0 {
						d.noExp++
					} else if e > now && e-now < 3600 {
						d.histo[(e-now)/60]++
					}
				}
				if expired(p, now) || s.flushedGoneLocked(sh, p, now) || s.disownedGoneLocked(p, true) {
					if d != nil {
						d.reclaimed++
					}
					c := s.lruOf(ref, st)
					c.mu.Lock()
					c.reclaimed++
					c.crawlerReclaimed++
					if st&stFetched == 0 {
						c.expiredUnfetched++
					}
					s.removeLocked(sh, i, ref, c)
					c.mu.Unlock()
					reclaimed++
				}
			}
			sh.mu.Unlock()
		}
	}
	cs.checked += uint64(checked)
	for cls, n := range cs.perCls {
		if n != 0 {
			c := s.lruAt(cls, 0) // ClassStats sums the stripes
			c.mu.Lock()
			c.crawlerChecked += n
			c.mu.Unlock()
			cs.perCls[cls] = 0
		}
	}
	return checked, reclaimed
}

// DumpItem describes one item for `lru_crawler metadump` (and `me`).
type DumpItem struct {
	Key        []byte // valid only during the callback
	Exptime    int64  // Unix time, or -1 for never
	LastAccess int64  // Unix time of the last access
	CAS        uint64
	Fetched    bool
	Class      int
	Size       int    // item bytes as slabcache stores it
	Len        int    // value length
	Flags      uint32 // client flags
	Segment    Segment
	KeyBinary  bool // stored with a key sent in base64 (SetArgs.KeyBinary)
	GivenCAS   bool // CAS given (SetArgs.NewCAS), not drawn by this store
}

// DumpCursor is where a metadump walk stands; the zero value starts at the
// beginning.
type DumpCursor struct {
	page uint32
	idx  int
	done bool
}

// Done reports whether the walk has covered every page.
func (c DumpCursor) Done() bool { return c.done }

// Dump calls fn for the live items among up to budget chunks from cursor,
// and returns the cursor to continue from; its Done is true at the end.
// fn runs with one shard lock held (one item at a time): it must be quick
// and must not call the store. Items stored or removed during a walk may or
// may not be seen; items present throughout are seen exactly once, unless a
// page move (which relocates items) runs between two calls.
func (s *Store) Dump(cur DumpCursor, budget int, fn func(*DumpItem)) DumpCursor {
	s.bg.mu.Lock()
	defer s.bg.mu.Unlock()
	maxPages := uint32(s.slab.CarvedPages()) // pages past it were never used
	now := s.clk.Now()
	epoch := s.clk.Epoch()
	var buf [256]slab.Ref
	var d DumpItem
	for budget > 0 && !cur.done {
		if cur.page >= maxPages {
			cur.done = true
			break
		}
		cls := s.slab.PageClass(cur.page)
		if cls == 0 {
			cur.page++
			cur.idx = 0
			continue
		}
		refs, next := s.slab.ChunkRefs(cur.page, cur.idx, min(budget, len(buf)), buf[:0])
		budget -= max(next-cur.idx, 1)
		cur.idx = next
		if next >= s.slab.ChunksPerPage(cls) {
			cur.page++
			cur.idx = 0
		}
		for _, ref := range refs {
			st := loadState(s.ptr(ref))
			if lifecycle(st) != lcLinked {
				continue
			}
			s.dumpOne(s.shardOfState(st), ref, now, epoch, &d, fn)
		}
	}
	return cur
}

// dumpOne reports chunk ref to fn if it is a live item, under its shard lock.
func (s *Store) dumpOne(sh *shard, ref slab.Ref, now uint32, epoch int64, d *DumpItem, fn func(*DumpItem)) {
	sh.mu.Lock()
	defer sh.mu.Unlock() // also if fn panics
	if p, st, _, ok := s.linkedItemLocked(sh, ref); ok && !expired(p, now) && !s.flushedLocked(sh, p, now) {
		*d = DumpItem{
			Key:        s.lay.key(p, st),
			Exptime:    -1,
			LastAccess: epoch + int64(getAtime(p)),
			CAS:        s.lay.cas(p),
			Fetched:    st&stFetched != 0,
			Class:      s.lruClass(ref, st),
			Size:       s.itemBytes(p, st),
			Len:        s.valueLen(p, st),
			Flags:      s.lay.flags(p, st),
			Segment:    segOf(st),
			KeyBinary:  st&stKeyBinary != 0,
			GivenCAS:   st&stGivenCAS != 0,
		}
		if e := getExp(p); e != 0 {
			d.Exptime = epoch + int64(e)
		}
		fn(d)
		d.Key = nil
	}
}

// ColdItems calls fn for the items in the COLD segment of class cls
// (where flat mode keeps them all), newest first (in each LRU stripe, one
// stripe after the other), until fn returns false: stats cachedump, which
// in memcached 1.6 lists that queue. fn runs with the class lock held: it
// must be quick and must not call the store.
func (s *Store) ColdItems(cls int, fn func(*DumpItem) bool) {
	if cls < 1 || cls > s.slab.NumClasses() {
		return
	}
	for k := range s.stripes() {
		if !s.coldItems(s.lruAt(cls, k), fn) {
			return
		}
	}
}

func (s *Store) coldItems(c *lruClass, fn func(*DumpItem) bool) bool {
	cls := c.cls
	epoch := s.clk.Epoch()
	c.mu.Lock()
	defer c.mu.Unlock()
	var d DumpItem
	for ref := c.head[Cold]; ref != 0; {
		p := s.ptr(ref)
		st := loadState(p)
		d = DumpItem{Key: s.lay.key(p, st), Exptime: -1, Class: cls, Len: s.valueLen(p, st), Flags: s.lay.flags(p, st),
			KeyBinary: st&stKeyBinary != 0}
		if e := getExp(p); e != 0 {
			d.Exptime = epoch + int64(e)
		}
		if !fn(&d) {
			return false
		}
		ref = getNext(p)
	}
	return true
}

// reportEviction describes the item at p, about to be evicted from class
// cls, to f.
func (s *Store) reportEviction(f func(*DumpItem), p itemPtr, st uint32, cls int) {
	epoch := s.clk.Epoch()
	d := DumpItem{
		Key:        s.lay.key(p, st),
		Exptime:    -1,
		LastAccess: epoch + int64(getAtime(p)),
		CAS:        s.lay.cas(p),
		Fetched:    st&stFetched != 0,
		Class:      cls,
		Size:       s.itemBytes(p, st),
		Len:        s.valueLen(p, st),
		Flags:      s.lay.flags(p, st),
	}
	if e := getExp(p); e != 0 {
		d.Exptime = epoch + int64(e)
	}
	f(&d)
}
