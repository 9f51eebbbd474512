package lru

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slabcache/slabcache/internal/clock"
	"github.com/slabcache/slabcache/slab"
)

// Background work: the LRU maintainer (juggles HOT/WARM/COLD, applies the
// queued COLD->WARM bumps), the crawler (reclaims expired and flushed
// items, a bounded number of chunks per pass) and the page mover
// (slab_automove and explicit reassign requests). All of it runs under
// bgMu, one step at a time, so pages change class only while no crawl or
// dump step is walking them. Start runs it on one goroutine; tests call
// MaintainOnce, CrawlOnce, AutomoveOnce and Reassign directly with a fake
// clock and never sleep.

type bgState struct {
	mu     sync.Mutex // serializes background steps (bgMu)
	runMu  sync.Mutex // guards stop/done
	stop   chan struct{}
	done   chan struct{}
	lastAM uint32 // clock second of the last automove check
	lastHP uint32 // clock second of the last hash_power_level update
	lastCC uint32 // clock second of the last crawlerCheck
	// ccNotBefore: no crawlerCheck before this (the one after Start's).
	ccNotBefore time.Time
	juggles     uint64
	// passWanted, when not 0, is the crawler pass count (crawlerState.starts)
	// to reach before an asked-for pass is done (CrawlPass, CrawlClasses).
	passWanted atomic.Uint64
	// sel is the crawl CrawlClasses asked for, a pass of its own once the
	// pass under way has ended (mu); nil for a pass over everything.
	sel *crawlSel
	// wake cuts the background goroutine's sleep short when work is asked
	// for (a crawl pass): idle, it sleeps up to a second.
	wake chan struct{}
}

// wakeBackground ends the background goroutine's current sleep.
func (s *Store) wakeBackground() {
	select {
	case s.bg.wake <- struct{}{}:
	default:
	}
}

// CrawlPass asks the background goroutine for one full crawler pass over
// memory now, at full speed rather than the crawler's own pace. It returns
// false when a pass asked for earlier is still running. The pass ends with
// Stop or Close like all background work.
func (s *Store) CrawlPass() bool {
	s.bg.mu.Lock()
	defer s.bg.mu.Unlock()
	return s.crawlPassLocked()
}

// crawlPassLocked is CrawlPass with bg.mu held.
func (s *Store) crawlPassLocked() bool {
	if !s.bg.passWanted.CompareAndSwap(0, s.crawl.fullPassWant()) {
		return false
	}
	s.bg.sel = nil
	s.wakeBackground()
	return true
}

// crawlSel is a crawl of some LRUs (CrawlClasses).
type crawlSel struct {
	want  uint64            // its pass is the one that ends with this count
	ids   [numCrawlIDs]bool // the LRUs it crawls
	limit uint32            // items of each at most (0: all)
}

// CrawlClasses asks for a crawl now (`lru_crawler crawl <classes|all>`)
// of every LRU of the classes given (nil: of every class), at most
// lru_crawler_tocrawl items of each as it is now (SetCrawlerToCrawl),
// at full speed, as memcached's crawler runs one: a pass of its own once
// the pass under way (if any) ends, which goes on meanwhile at full speed.
// It returns false when a crawl asked for earlier is still running.
func (s *Store) CrawlClasses(classes []int) bool {
	limit := s.toCrawl.Load()
	s.bg.mu.Lock()
	defer s.bg.mu.Unlock()
	if classes == nil && limit == 0 {
		return s.crawlPassLocked() // everything, no limit: a pass over every item
	}
	want := s.crawl.starts + 1
	if s.crawl.active {
		want++
	}
	if !s.bg.passWanted.CompareAndSwap(0, want) {
		return false
	}
	sel := &crawlSel{want: want, limit: limit}
	for cls := 1; cls <= slab.MaxClasses; cls++ {
		if classes == nil || slices.Contains(classes, cls) {
			for _, seg := range []Segment{Hot, Warm, Cold, Temp} {
				sel.ids[crawlID(cls, seg)] = true
			}
		}
	}
	s.bg.sel = sel
	s.wakeBackground()
	return true
}

// fullPassWant is the pass count at which a pass over every item asked
// for now has ended: the pass under way, made full, if it has not begun,
// else the next. bg.mu is held.
func (cs *crawlerState) fullPassWant() uint64 {
	if cs.page != 0 || cs.idx != 0 {
		return cs.starts + 2 // the pass under way began before the request
	}
	return cs.starts + 1
}

// raisePassWanted makes an asked-for pass run until the pass count
// reaches want at least, and reports whether it raised it.
func (s *Store) raisePassWanted(want uint64) bool {
	for {
		cur := s.bg.passWanted.Load()
		if cur >= want {
			return false
		}
		if s.bg.passWanted.CompareAndSwap(cur, want) {
			return true
		}
	}
}

// SetCrawlerToCrawl sets lru_crawler_tocrawl at run time (`lru_crawler
// tocrawl <n>`): the crawls that start from then on check at most n items
// of each LRU (0: all).
func (s *Store) SetCrawlerToCrawl(n uint32) { s.toCrawl.Store(n) }

// CrawlPassRunning reports whether a pass asked for by CrawlPass is running
// (stats lru_crawler_running).
func (s *Store) CrawlPassRunning() bool { return s.bg.passWanted.Load() != 0 }

// crawlPassStep advances an asked-for pass; it reports whether one is
// running.
func (s *Store) crawlPassStep() bool {
	want := s.bg.passWanted.Load()
	if want == 0 {
		return false
	}
	// Up to passSteps steps back to back (each takes the background lock
	// on its own), so that a pass over a small store ends within one
	// wake-up, as memcached's crawler thread runs a crawl through.
	for range passSteps {
		s.bg.mu.Lock()
		cs := &s.crawl
		if sel := s.bg.sel; sel != nil && sel.want == want {
			// A crawl of some LRUs: a pass of its own once the one
			// under way (which goes on at full speed) has ended.
			if !cs.active && cs.starts+1 == want {
				cs.startPass(s.clk.Now(), sel.limit, false)
				for i, on := range sel.ids {
					cs.ids[i].todo = on
				}
			}
		} else {
			// A pass over everything: the one under way (an
			// autocrawl's) goes on over every LRU.
			s.bg.sel = nil
			cs.makeFull()
		}
		s.bg.mu.Unlock()
		s.CrawlOnce(s.cfg.CrawlerItemsPerTick)
		s.bg.mu.Lock()
		done := s.crawl.starts >= want
		s.bg.mu.Unlock()
		if done {
			s.bg.passWanted.CompareAndSwap(want, 0)
			break
		}
	}
	return true
}

// passSteps is how many crawler steps an asked-for pass takes per
// background iteration.
const passSteps = 16

func f64bits(f float64) uint64 { return math.Float64bits(f) }
func f64(u uint64) float64     { return math.Float64frombits(u) }

// Start runs the background goroutine (maintainer, crawler and automove, as
// configured). It returns at once; Stop or Close ends the goroutine.
// Calling Start twice does nothing.
func (s *Store) Start() {
	s.bg.runMu.Lock()
	defer s.bg.runMu.Unlock()
	if s.bg.stop != nil {
		return
	}
	s.bg.stop = make(chan struct{})
	s.bg.done = make(chan struct{})
	if !s.crawlerOff.Load() {
		// memcached's first autocrawl, at the start, of every LRU; over
		// nothing yet it ends at once, counts a start, and the next check
		// schedules the next runs a minute later.
		s.crawlerCheck()
		s.bg.lastCC = s.clk.Now()
		// memcached's clock turns a second after its start, not on the
		// second: its next check, which schedules these runs, comes no
		// sooner.
		s.bg.ccNotBefore = time.Now().Add(time.Second)
		if s.slab.CarvedPages() == 0 {
			s.CrawlOnce(1)
		}
	}
	go s.run(s.bg.stop, s.bg.done)
}

// Stop ends the background goroutine and waits for it.
func (s *Store) Stop() {
	s.bg.runMu.Lock()
	stop, done := s.bg.stop, s.bg.done
	s.bg.stop, s.bg.done = nil, nil
	s.bg.runMu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

func (s *Store) run(stop, done chan struct{}) {
	defer close(done)
	// Like memcached's maintainer: sleep longer when there is nothing to do.
	const minSleep, maxSleep = time.Millisecond, time.Second
	sleep := 100 * time.Millisecond
	t := time.NewTimer(sleep)
	defer t.Stop()
	// The crawler keeps its own pace: traffic keeps the maintainer busy
	// (every hit queues a bump), and a crawl per maintainer pass would then
	// scan CrawlerItemsPerTick chunks every millisecond for nothing (22% of
	// the server's CPU under a get/set load, measured). Within a pass it
	// speeds up while it finds expired items and slows to a step a second
	// otherwise; a new pass starts on memcached's schedule (crawlerCheck,
	// once a second: every class and LRU at once at the start, then each
	// after a wait that follows how many of its items its last run saw
	// expiring within the hour, 65 seconds to an hour).
	const minCrawl, maxCrawl = 10 * time.Millisecond, time.Second
	crawlSleep := 100 * time.Millisecond
	nextCrawl := time.Now()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		case <-s.bg.wake:
			sleep = minSleep // the Reset below replaces the pending tick
		}
		did := 0
		if s.cfg.LRUMaintainer {
			did += s.MaintainOnce()
		}
		// Finish index migrations that inserts left half done (64 groups
		// of each growing shard per pass, a few µs under its lock).
		did += s.migrateStep(64)
		if now := s.clk.Now(); now != s.bg.lastCC && !s.crawlerOff.Load() && !time.Now().Before(s.bg.ccNotBefore) {
			s.bg.lastCC = now
			s.crawlerCheck()
		}
		if s.crawlPassStep() {
			did++ // keep the loop quick until the pass is done
		} else if !s.crawlerOff.Load() && !time.Now().Before(nextCrawl) && s.autoCrawlDue() {
			_, r := s.CrawlOnce(s.cfg.CrawlerItemsPerTick)
			did += r
			if r > 0 {
				crawlSleep /= 2
			} else {
				crawlSleep += crawlSleep / 2
			}
			crawlSleep = min(max(crawlSleep, minCrawl), maxCrawl)
			nextCrawl = time.Now().Add(crawlSleep)
		}
		if now := s.clk.Now(); now != s.bg.lastHP {
			s.bg.lastHP = now
			s.noteHashPower(s.itemCount())
		}
		if s.automove.Load() != 0 {
			now := s.clk.Now()
			if now != s.bg.lastAM {
				s.bg.lastAM = now
				if s.AutomoveOnce() {
					did++
				}
			}
		}
		if did > 0 {
			sleep /= 2
		} else {
			sleep += sleep / 2
		}
		sleep = min(max(sleep, minSleep), maxSleep)
		if sleep == maxSleep {
			// Idle: wake with the clock, just after the second turns, so
			// that one wake-up of the process serves both.
			t.Reset(clock.UntilNextSecond(time.Now()))
		} else {
			t.Reset(sleep)
		}
	}
}

// MaintainOnce is one maintainer pass over every class: apply queued
// COLD->WARM bumps, then memcached's lru_maintainer_juggle (reclaim TEMP
// tails, move HOT and WARM tails over their share or age to COLD, active
// items to WARM, active COLD tails to WARM). It returns the number of items
// moved or reclaimed.
func (s *Store) MaintainOnce() int {
	s.bg.mu.Lock()
	defer s.bg.mu.Unlock()
	did := s.applyBumps()
	for cls := 1; cls <= s.slab.NumClasses(); cls++ {
		for k := range s.stripes() {
			did += s.juggle(s.lruAt(cls, k))
		}
	}
	s.bg.juggles++
	return did
}

// juggle is one maintainer step on LRU c (a class, or one stripe of it:
// the HOT and WARM shares and ages are each stripe's own).
func (s *Store) juggle(c *lruClass) int {
	now := s.clk.Now()
	c.mu.Lock()
	total := c.bytes[Hot] + c.bytes[Warm] + c.bytes[Cold]
	var coldAge uint32
	if t := c.tail[Cold]; t != 0 {
		coldAge = now - getAtime(s.ptr(t))
	}
	empty := c.count[Hot]+c.count[Warm]+c.count[Cold]+c.count[Temp] == 0
	c.mu.Unlock()
	if empty {
		return 0
	}
	hotAge, warmAge := uint32(math.MaxUint32), uint32(math.MaxUint32)
	if f := f64(s.hotMax.Load()); f > 0 {
		hotAge = maxAge(coldAge, f)
	}
	if f := f64(s.warmMax.Load()); f > 0 {
		warmAge = maxAge(coldAge, f)
	}
	if s.flat.Load() {
		// Flat mode: whatever is left in HOT and WARM drains into COLD.
		hotAge, warmAge, total = 0, 0, 0
	}
	did := 0
	if s.tempTTL.Load() != 0 {
		did += s.pullTail(c, Temp, 0, 0, 0)
	}
	for i := 0; i < 500; i++ {
		more := 0
		if n := s.pullTail(c, Hot, 0, total, hotAge); n > 0 {
			more += n
		} else {
			more += s.pullTail(c, Warm, 0, total, warmAge)
		}
		more += s.pullTail(c, Cold, 0, total, 0)
		if more == 0 {
			break
		}
		did += more
	}
	return did
}

// applyBumps moves the items queued by readers (active in COLD) to WARM.
func (s *Store) applyBumps() int {
	did := 0
	now := s.clk.Now()
	for i := range s.shards {
		sh := &s.shards[i]
		if !sh.bumped.Load() {
			continue // a move queued meanwhile waits for the next pass
		}
		sh.mu.Lock()
		// The queued items' LRU neighbours are random items the moves
		// rewrite: start loading them all first.
		for j := 0; j < sh.nbump; j++ {
			s.prefetchNeighbours(s.ptr(sh.bumpq[j]))
		}
		for j := 0; j < sh.nbump; j++ {
			ref := sh.bumpq[j]
			p := s.ptr(ref)
			st := loadState(p)
			if lifecycle(st) != lcLinked || st&stBumpQ == 0 {
				continue
			}
			if s.flushedLocked(sh, p, now) || s.disownedLocked(p, false) {
				// Not bumped: its access time must stay before the flush
				// or the mark.
				storeState(p, st&^stBumpQ)
				continue
			}
			c := s.lruOf(ref, st)
			c.mu.Lock()
			st &^= stBumpQ
			if segOf(st) == Cold && st&stActive != 0 {
				st &^= stActive
				setAtime(p, now)
				s.moveSegLocked(c, ref, p, st, Warm)
				c.movesToWarm++
				did++
			} else {
				storeState(p, st)
			}
			c.mu.Unlock()
		}
		sh.nbump = 0
		sh.bumped.Store(false)
		sh.mu.Unlock()
	}
	return did
}

// unqueueBumpLocked takes a queued item out of its shard's bump queue and
// returns its state without stBumpQ (not yet stored). The bit and the
// queue entry always go together, so the queue only ever names linked
// items. The shard lock is held.
func (s *Store) unqueueBumpLocked(sh *shard, ref slab.Ref, st uint32) uint32 {
	if st&stBumpQ != 0 {
		s.dropBumpLocked(sh, ref)
	}
	return st &^ stBumpQ
}

// dropBumpLocked removes ref from its shard's bump queue (the item is being
// unlinked). The shard lock is held.
func (s *Store) dropBumpLocked(sh *shard, ref slab.Ref) {
	for j := 0; j < sh.nbump; j++ {
		if sh.bumpq[j] == ref {
			sh.nbump--
			sh.bumpq[j] = sh.bumpq[sh.nbump]
			return
		}
	}
}

// SetLRUTune changes hot_lru_pct, warm_lru_pct, hot_max_factor and
// warm_max_factor at run time (`lru tune`). It returns ErrConfig for values
// New would refuse.
func (s *Store) SetLRUTune(hotPct, warmPct int, hotMax, warmMax float64) error {
	c := s.cfg
	c.HotLRUPct, c.WarmLRUPct, c.HotMaxFactor, c.WarmMaxFactor = hotPct, warmPct, hotMax, warmMax
	if err := c.validate(); err != nil {
		return err
	}
	s.hotPct.Store(int32(hotPct))
	s.warmPct.Store(int32(warmPct))
	s.hotMax.Store(f64bits(hotMax))
	s.warmMax.Store(f64bits(warmMax))
	return nil
}

// SetTempTTL turns the TEMP segment on with the given TTL bound in seconds,
// or off with 0 (`lru temp_ttl`).
func (s *Store) SetTempTTL(ttl uint32) { s.tempTTL.Store(ttl) }

// SetCrawler switches the background crawler on or off at run time
// (`lru_crawler enable|disable`; Config.LRUCrawler is the setting at New).
func (s *Store) SetCrawler(on bool) { s.crawlerOff.Store(!on) }

// CrawlerOn reports whether the background crawler runs.
func (s *Store) CrawlerOn() bool { return !s.crawlerOff.Load() }

// maxAge is coldAge × factor in seconds, capped at 32 bits: lru tune
// accepts any factor strtod reads, and an infinite one (or 0 × infinity)
// leaves the age unbounded.
func maxAge(coldAge uint32, factor float64) uint32 {
	a := float64(coldAge) * factor
	if !(a < math.MaxUint32) {
		return math.MaxUint32
	}
	return uint32(a)
}
