package lru

import (
	"errors"
	"math"
	"time"
	"unsafe"

	"github.com/slabcache/slabcache/slab"
)

// Page moves (memcached's slab_rebalance): a page of the source class is
// taken off the allocation path, each item on it is rescued into a free
// chunk elsewhere in its class (or evicted when there is none), each data
// chunk of a large item likewise, and the empty page goes to the
// destination class or the global pool. Items being stored at that moment
// (reservations) are waited for a few rounds; if they are still there the
// move is abandoned (slab_reassign_busy_items).

type moverState struct {
	rescues        uint64
	chunkRescues   uint64
	evictionsNomem uint64
	inlineReclaim  uint64
	busyItems      uint64
	busyDeletes    uint64
	running        bool
	am             automover
	refs           []slab.Ref
}

// Reassign errors, with memcached's replies to `slabs reassign`.
var (
	ErrReassignBadClass = errors.New("lru: bad class")     // BADCLASS invalid src or dst class id
	ErrReassignNoSpare  = errors.New("lru: no spare page") // NOSPARE source class has no spare pages
	ErrReassignSame     = errors.New("lru: same class")    // SAME src and dst class are identical
	ErrReassignBusy     = errors.New("lru: busy")          // BUSY currently processing reassign request
	ErrReassignDisabled = errors.New("lru: reassign off")  // CLIENT_ERROR slab reassignment disabled
)

// Reassign moves one page from class src to class dst (`slabs reassign src
// dst`). src may be -1 for "any class with a page to spare but dst", or 0
// for a page of the global pool; dst 0 sends the page to the pool. Unlike
// memcached, which answers OK and moves the page in its rebalancer thread,
// it runs the move to completion before returning (a few milliseconds for a full page; a server may call it
// from a goroutine of its own). Success is memcached's OK.
func (s *Store) Reassign(src, dst int) error {
	if !s.cfg.SlabReassign {
		return ErrReassignDisabled
	}
	// memcached's order: the same class twice before anything else, then
	// -1 resolved to a class with a page to spare (none leaves it at -1),
	// then both ids checked, class 0 being the global page pool.
	if src == dst {
		return ErrReassignSame
	}
	n := s.slab.NumClasses()
	s.bg.mu.Lock()
	defer s.bg.mu.Unlock()
	if src == -1 {
		best, bestPages := -1, 1
		for c := 1; c <= n; c++ {
			if c == dst {
				continue
			}
			if p := s.slab.ClassStats(c).TotalPages; p > bestPages {
				best, bestPages = c, p
			}
		}
		src = best
	}
	if src < 0 || src > n || dst < 0 || dst > n {
		return ErrReassignBadClass
	}
	if src == 0 {
		// A page of the global pool (pages moved there with dst 0): as in
		// memcached, the pool must hold two.
		if s.slab.Stats().PoolPages < 2 || !s.slab.GrantPoolPage(dst) {
			return ErrReassignNoSpare
		}
		return nil
	}
	// As memcached's, a class keeps its last page.
	if s.slab.ClassStats(src).TotalPages < 2 {
		return ErrReassignNoSpare
	}
	return s.movePageLocked(src, dst)
}

// SetAutomoveWindow sets slab_automove_window at run time (`slabs
// automove window N`).
func (s *Store) SetAutomoveWindow(n int) {
	s.amWindow.Store(int32(n))
}

func (s *Store) automoveWindow() int { return max(int(s.amWindow.Load()), 1) }

// SetAutomoveRatio sets slab_automove_ratio at run time (`slabs automove
// ratio F`).
func (s *Store) SetAutomoveRatio(r float64) { s.amRatio.Store(math.Float64bits(r)) }

func (s *Store) automoveRatio() float64 { return math.Float64frombits(s.amRatio.Load()) }

// SetAutomove sets slab_automove at run time (`slabs automove 0|1|2`).
func (s *Store) SetAutomove(mode int) error {
	if mode < 0 || mode > 2 {
		return ErrConfig
	}
	if !s.cfg.SlabReassign && mode != 0 {
		return ErrReassignDisabled
	}
	s.automove.Store(int32(mode))
	return nil
}

// movePageLocked does one page move; bg.mu is held.
func (s *Store) movePageLocked(src, dst int) error {
	p, ok := s.slab.StartDrain(src)
	if !ok {
		return ErrReassignNoSpare
	}
	m := &s.mover
	m.running = true
	defer func() { m.running = false }()
	per := s.slab.ChunksPerPage(src)
	for round := 0; round < 20; round++ {
		m.refs, _ = s.slab.ChunkRefs(p, 0, per, m.refs[:0])
		if len(m.refs) == 0 {
			if s.slab.FinishDrain(p, dst) {
				return nil
			}
		}
		busy := 0
		for _, ref := range m.refs {
			if !s.evacuate(src, ref) {
				busy++
			}
		}
		if busy > 0 {
			m.busyItems += uint64(busy)
			// Stores in progress finish within a few network reads; give
			// them a moment (memcached's rebalancer also loops on busy items).
			time.Sleep(time.Millisecond)
		}
	}
	s.slab.AbortDrain(p)
	return ErrReassignBusy
}

// evacuate moves or evicts what lives in chunk ref of a draining page of
// class cls. It returns false if the chunk is busy (a store in progress).
func (s *Store) evacuate(cls int, ref slab.Ref) bool {
	p := s.ptr(ref)
	st := loadState(p)
	switch lifecycle(st) {
	case lcLinked:
		sh := s.shardOfState(st)
		sh.mu.Lock()
		defer sh.mu.Unlock()
		p, st, i, ok := s.linkedItemLocked(sh, ref)
		if !ok || s.pinnedLocked(sh, ref) {
			return false // not linked any more, or pinned: wait
		}
		now := s.clk.Now()
		if expired(p, now) || s.flushedGoneLocked(sh, p, now) || s.disownedGoneLocked(p, true) {
			s.mover.inlineReclaim++
			s.removeLocked(sh, i, ref, nil)
			return true
		}
		n := s.headBytes(p, st)
		c := s.lruOf(ref, st) // of cls, or of the chunk class for a large item
		nref, err := s.rescueChunk(cls, s.stripeOfState(st))
		if err != nil {
			s.mover.evictionsNomem++
			c.mu.Lock()
			c.evicted++
			c.mu.Unlock()
			s.removeLocked(sh, i, ref, nil)
			return true
		}
		np := s.ptr(nref)
		copy(unsafe.Slice((*byte)(unsafe.Pointer(np)), n), unsafe.Slice((*byte)(unsafe.Pointer(p)), n))
		if st&stChunked != 0 {
			// data chunks point back at their head
			t := s.chunksOf(np, st)
			for j := 0; j < t.n; j++ {
				*u32(s.ptr(t.ref(j)), offDataHead) = uint32(nref)
			}
		}
		c.mu.Lock()
		g := segOf(st)
		size := s.itemBytes(p, st)
		s.lruUnlinkLocked(c, ref, p, g, size)
		if st&stBumpQ != 0 {
			s.dropBumpLocked(sh, ref)
			st &^= stBumpQ
		}
		s.lruLinkLocked(c, nref, np, g, size)
		storeState(np, st)
		storeState(p, lcFree)
		c.mu.Unlock()
		sh.t.setRef(i, nref)
		s.slab.Free(ref)
		s.mover.rescues++
		return true
	case lcData:
		head := slab.Ref(*u32(p, offDataHead))
		hp := s.ptr(head)
		hst := loadState(hp)
		if lifecycle(hst) != lcLinked {
			return false
		}
		sh := s.shardOfState(hst)
		sh.mu.Lock()
		defer sh.mu.Unlock()
		hp, hst, i, ok := s.linkedItemLocked(sh, head)
		if !ok || hst&stChunked == 0 || s.pinnedLocked(sh, head) {
			return false
		}
		t := s.chunksOf(hp, hst)
		j := 0
		for ; j < t.n && t.ref(j) != ref; j++ {
		}
		if j == t.n {
			return false
		}
		used := t.used(j)
		nref, err := s.rescueChunk(cls, s.stripeOfState(hst))
		if err != nil {
			s.mover.evictionsNomem++
			hc := s.lruOf(head, hst)
			hc.mu.Lock()
			hc.evicted++
			hc.mu.Unlock()
			s.removeLocked(sh, i, head, nil)
			return true
		}
		np := s.ptr(nref)
		n := dataHdr + used
		copy(unsafe.Slice((*byte)(unsafe.Pointer(np)), n), unsafe.Slice((*byte)(unsafe.Pointer(p)), n))
		t.setRef(j, nref)
		storeState(p, lcFree)
		s.slab.Free(ref)
		s.mover.chunkRescues++
		return true
	case lcFree:
		// A spare chunk (spare.go), or one freed since ChunkRefs read it.
		return st&stSpare != 0 && s.freeSpare(ref, st)
	default:
		return false // reserved: a store in progress
	}
}

// rescueChunk finds a chunk of class cls to copy a chunk of a draining page
// into, as memcached's rebalancer does: a free chunk of the class, else a
// new page while memory is not full, else it evicts from the class's LRU
// tails (COLD, then HOT) to free one, so a page move evicts the class's
// least recently used items rather than whatever lived in the page. The
// caller holds the shard lock of the item it rescues, which pullTail skips.
// With several LRU stripes it evicts from stripe k (the rescued item's)
// first.
func (s *Store) rescueChunk(cls, k int) (slab.Ref, error) {
	ref, err := s.slab.AllocNoGrow(cls)
	if err == nil {
		return ref, nil
	}
	if s.slab.FreePagesLeft() > 0 {
		if ref, err := s.slab.Alloc(cls); err == nil {
			return ref, nil
		}
	}
	if s.cfg.NoEvict {
		return 0, err
	}
	for range 10 {
		for j := range s.stripes() {
			c := s.lruAt(cls, (k+j)&(s.stripes()-1))
			if s.pullTail(c, Cold, pullEvict, 0, 0) > 0 || s.pullTail(c, Hot, 0, 0, 0) > 0 {
				break // else that stripe had nothing to give: the next
			}
		}
		if ref, err = s.slab.AllocNoGrow(cls); err == nil {
			return ref, nil
		}
	}
	return 0, err
}

// AutomoveOnce is one look of the page mover (slab_automove 1 or 2: once
// a second), memcached's slab_automove_run. Each look adds to a window of
// the last SlabAutomoveWindow looks, per class: the age of the COLD tail,
// whether the class evicted and its share of all evictions, and whether
// it was dirty (evicted, failed an allocation or got a page). Then, in
// class order:
//   - a class with more than 2.5 pages of free chunks, clean for the whole
//     window, gives a page to the global pool once all the memory is in
//     use (Allocator.LimitReached), where any class that needs one takes
//     it;
//   - otherwise, once the window has filled, the youngest class (by its
//     average age over the window) that evicted in more than half of the
//     window or took more than a quarter of its evictions, and evicted in
//     this look, takes a page from the oldest class with more than two
//     pages, when the youngest's age is under slab_automove_ratio times the
//     oldest's.
//
// It does nothing when slab_automove is 0. It returns true if it moved a
// page.
func (s *Store) AutomoveOnce() bool {
	if s.automove.Load() == 0 {
		return false
	}
	s.bg.mu.Lock()
	defer s.bg.mu.Unlock()
	m := &s.mover
	am := &m.am
	size, ratio := s.automoveWindow(), s.automoveRatio()
	if am.size != size || am.ratio != ratio || am.data == nil {
		// As memcached, a changed setting starts a new window, its
		// counts from now on.
		*am = automover{size: size, ratio: ratio, data: make([]amLook, (slab.MaxClasses+1)*size)}
		s.automoveFill(&am.before)
	}
	var after [slab.MaxClasses + 1]amCounts
	s.automoveFill(&after)
	var evictedTotal uint64
	for c := 1; c <= slab.MaxClasses; c++ {
		evictedTotal += delta(after[c].evicted, am.before[c].evicted)
	}
	am.cur++
	full := s.slab.LimitReached()
	src, dst := -1, -1
	oldest, youngest := -1, -1
	var oldestAge, youngestAge uint64 = 0, ^uint64(0)
	youngestEvicting := false
	for c := 1; c <= slab.MaxClasses; c++ {
		win := am.data[c*size : (c+1)*size]
		wd := &win[am.cur%uint64(size)]
		*wd = amLook{age: after[c].age}
		if d := delta(after[c].evicted, am.before[c].evicted); d > 0 {
			wd.ratio = float64(d) / float64(evictedTotal)
			wd.seen, wd.dirty = true, true
		}
		if delta(after[c].oom, am.before[c].oom) > 0 || after[c].pages > am.before[c].pages {
			wd.dirty = true
		}
		var sumAge uint64
		var sumRatio float64
		seen, dirty := 0, false
		for _, w := range win {
			sumAge += w.age
			sumRatio += w.ratio
			if w.seen {
				seen++
			}
			dirty = dirty || w.dirty
		}
		age := sumAge / uint64(size)
		if float64(after[c].free) > float64(after[c].per)*2.5 && full && !dirty {
			src, dst = c, 0
			youngest, oldest = -1, -1
			break
		}
		if age > oldestAge && after[c].pages > 2 {
			oldest, oldestAge = c, age
		}
		if age < youngestAge && (seen > size/2 || sumRatio/float64(size) > 0.25) {
			youngest, youngestAge = c, age
			youngestEvicting = wd.seen
		}
	}
	am.before = after
	if youngest != -1 && oldest != -1 && am.cur > uint64(size) &&
		float64(youngestAge) < float64(oldestAge)*ratio && youngestEvicting {
		src, dst = oldest, youngest
	}
	if src == -1 {
		return false
	}
	if src == dst {
		return s.automoved(src, dst, ErrReassignSame)
	}
	if !s.automoved(src, dst, s.movePageLocked(src, dst)) {
		return false
	}
	if dst == 0 {
		// As memcached: moves back to the global pool are not rate
		// limited; the next pass may move another page at once.
		s.bg.lastAM--
	}
	return true
}

// delta is after - before for a counter that stats reset may have zeroed.
func delta(after, before uint64) uint64 {
	if after < before {
		return after
	}
	return after - before
}

// amCounts is what the automover reads of a class at each look:
// memcached's item_stats_automove and slab_stats_automove.
type amCounts struct {
	evicted, oom uint64 // cumulative
	age          uint64 // seconds since the COLD tail's last access (0: COLD empty)
	pages        int
	free, per    int
}

// amLook is one class's entry of one look in the automover's window
// (memcached's window_data).
type amLook struct {
	age         uint64
	ratio       float64 // the class's share of the look's evictions
	seen, dirty bool
}

// automover is the automover's window (memcached's slab_automove).
type automover struct {
	size   int
	ratio  float64
	cur    uint64
	data   []amLook // class c's window at [c*size, (c+1)*size)
	before [slab.MaxClasses + 1]amCounts
}

// automoveFill reads every class's counts for the automover. bg.mu is held.
func (s *Store) automoveFill(out *[slab.MaxClasses + 1]amCounts) {
	spares := s.spareCounts()
	now := s.clk.Now()
	n := s.slab.NumClasses()
	for c := 1; c <= n; c++ {
		cs := s.slabStats(c, &spares)
		a := amCounts{pages: cs.TotalPages, free: cs.FreeChunks, per: cs.ChunksPerPage}
		for k := range s.stripes() {
			lc := s.lruAt(c, k)
			lc.mu.Lock()
			a.evicted += lc.evicted
			a.oom += lc.outOfMemory
			if t := lc.tail[Cold]; t != 0 {
				a.age = max(a.age, uint64(now-getAtime(s.ptr(t))))
			}
			lc.mu.Unlock()
		}
		out[c] = a
	}
}

// automoved reports a move of the automover to Config.OnAutomove and
// whether it succeeded.
func (s *Store) automoved(src, dst int, err error) bool {
	if f := s.cfg.OnAutomove; f != nil {
		f(src, dst, err == nil)
	}
	return err == nil
}
