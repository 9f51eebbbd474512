package lru

import (
	"errors"
	"maps"
	"math/bits"
	"sync"
	"sync/atomic"
)

// Namespace flushes (flush_prefix): every item whose key starts with a
// flushed prefix and that was stored before the flush reads as absent from
// then on, whatever the number of such items. Nothing is recorded per item:
// a flush records the time and a CAS floor, and an item is checked against
// them when it is found (as flush_all checks oldest_live). An item stored
// before the flush has an access time no later than the flush second,
// because every access checks first; within the flush second the CAS tells
// the earlier stores from the later ones: the flush raises every shard's
// next CAS to one floor, so items stored after it have a CAS at or above
// the floor and items stored before it one below. With -C (no CAS) the
// whole flush second is flushed, as flush_all does.
//
// The table of flushed prefixes is small and copied on write (flushes are
// rare; reads take no lock). A prefix stays in it until a crawler pass that
// began after the flush has visited every page: by then every item it
// covered has been reclaimed (page moves reclaim such items rather than
// move them, so none can hide in a page the pass has already seen). The
// table holds at most Config.FlushPrefixMax prefixes; past that
// FlushPrefix fails with ErrPrefixTableFull. Each flush asks the crawler
// for a full-speed pass; with the crawler disabled, prefixes stay until it
// is enabled again.

// ErrPrefixTableFull is FlushPrefix's error when Config.FlushPrefixMax
// flushed prefixes are still waiting for the crawler to reclaim their items.
var ErrPrefixTableFull = errors.New("lru: too many flushed prefixes awaiting reclaim")

// ErrPrefixLength is FlushPrefix's error for an empty prefix or one longer
// than a key.
var ErrPrefixLength = errors.New("lru: bad prefix length")

// nsFlush is one flushed prefix: items stored at or before time (relative
// seconds), and in that second with a CAS below cas, are flushed. seq
// orders flushes for the crawler's reclaim.
type nsFlush struct {
	time uint32
	cas  uint64
	seq  uint64
}

// nsTable is an immutable set of flushed prefixes.
type nsTable struct {
	m    map[string]nsFlush
	lens [4]uint64 // bit L: some prefix has length L
	ends [4]uint64 // bit b: some prefix ends with byte b
}

func setBit(b *[4]uint64, i int) { b[i>>6] |= 1 << (i & 63) }

func (t *nsTable) index() {
	t.lens, t.ends = [4]uint64{}, [4]uint64{}
	for k := range t.m {
		setBit(&t.lens, len(k))
		setBit(&t.ends, int(k[len(k)-1]))
	}
}

// find reports whether a flush covers an item of key with access time at
// and CAS cas. A key is in every flushed prefix it starts with. Items of
// the flush's own second are told apart by CAS, unless byTime (no CAS, or
// a CAS a client gave, which says nothing of when it was stored): those
// are covered.
func (t *nsTable) find(key []byte, at uint32, cas uint64, byTime bool) bool {
	for w := 0; w < len(t.lens); w++ {
		for b := t.lens[w]; b != 0; b &= b - 1 {
			n := w<<6 | bits.TrailingZeros64(b)
			if n > len(key) {
				return false
			}
			if n == 0 {
				continue
			}
			if c := key[n-1]; t.ends[c>>6]&(1<<(c&63)) == 0 {
				continue
			}
			f, ok := t.m[string(key[:n])]
			if !ok {
				continue
			}
			if at < f.time || (at == f.time && (byTime || cas < f.cas)) {
				return true
			}
		}
	}
	return false
}

// nsState is the store's namespace flush state.
type nsState struct {
	table     atomic.Pointer[nsTable] // nil: no prefix flushed (the common, free case)
	mu        sync.Mutex              // serialises writers of table
	seq       atomic.Uint64           // the latest flush's; written under mu after its table is published
	reclaimed atomic.Uint64           // items removed because a prefix flush covered them
}

// FlushPrefix makes every item stored so far whose key starts with prefix
// read as absent (flush_prefix). It takes the same time however many items
// the prefix holds; their memory is reclaimed as they are found, by the
// crawler, and at the LRU tails. The caller decides what a namespace is
// (slabcached requires the prefix to end with the key delimiter).
func (s *Store) FlushPrefix(prefix []byte) error {
	if len(prefix) == 0 || len(prefix) > KeyMaxLen {
		return ErrPrefixLength
	}
	ok, ft := s.flushPrefix(prefix)
	if ok && s.lay.casSize == 0 {
		// Without CAS the table covers the seconds up to ft, the one
		// before the flush; the items of the flush's second stored
		// before it are removed now, as flush_all does, so that those
		// stored after it are kept.
		s.flushRecentPrefix(ft, prefix)
	}
	s.crawlPassAfter()
	if !ok {
		return ErrPrefixTableFull
	}
	return nil
}

// crawlPassAfter asks for a full-speed crawler pass that starts from now,
// so that a flushed prefix's items are reclaimed (and its entry dropped)
// soon rather than at the crawler's idle pace.
func (s *Store) crawlPassAfter() {
	if s.crawlerOff.Load() {
		return // lru_crawler disable: reclaimed only as found
	}
	s.bg.mu.Lock()
	want := s.crawl.fullPassWant()
	s.bg.mu.Unlock()
	if s.raisePassWanted(want) {
		s.wakeBackground()
	}
}

func (s *Store) flushPrefix(prefix []byte) (ok bool, ft uint32) {
	ns := &s.ns
	ns.mu.Lock()
	defer ns.mu.Unlock()
	old := ns.table.Load()
	if old != nil && len(old.m) >= s.cfg.FlushPrefixMax {
		if _, again := old.m[string(prefix)]; !again {
			return false, 0
		}
	}
	now := s.clk.Now()
	var floor uint64
	if s.lay.casSize != 0 {
		floor = s.raiseCASFloor()
	}
	seq := ns.seq.Load() + 1
	t := &nsTable{}
	if old != nil {
		t.m = maps.Clone(old.m)
	} else {
		t.m = make(map[string]nsFlush, 1)
	}
	ft = now
	if s.lay.casSize == 0 && now > 1 {
		// No CAS to tell this second's items apart: the table covers the
		// seconds before, FlushPrefix removes this second's at once.
		ft = now - 1
	}
	t.m[string(prefix)] = nsFlush{time: ft, cas: floor << casShardBits, seq: seq}
	t.index()
	ns.table.Store(t)
	// Published after the table: a crawler pass that starts having read
	// seq sees the flush on every page it visits.
	ns.seq.Store(seq)
	return true, ft
}

// CASFloor returns a CAS value that every CAS this store draws from now on
// is at least (0 with NoCAS). It raises the shards' counters to their
// highest, so it locks each shard once.
func (s *Store) CASFloor() uint64 {
	if s.lay.casSize == 0 {
		return 0
	}
	return s.raiseCASFloor() << casShardBits
}

// raiseCASFloor raises every shard's next CAS counter to one floor above
// all the counters drawn so far, and returns it: items stored from now on
// have a CAS at or above floor<<casShardBits, those stored before one
// below.
func (s *Store) raiseCASFloor() uint64 {
	var floor uint64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		floor = max(floor, sh.casNext)
		sh.mu.Unlock()
	}
	floor++
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.casNext = max(sh.casNext, floor)
		sh.mu.Unlock()
	}
	return floor
}

// prefixFlushedLocked reports whether item p was flushed by a prefix flush.
// The item's shard lock is held.
func (s *Store) prefixFlushedLocked(p itemPtr) bool {
	t := s.ns.table.Load()
	if t == nil {
		return false
	}
	st := loadState(p)
	return t.find(s.lay.key(p, st), getAtime(p), s.lay.cas(p), s.lay.casSize == 0 || st&stGivenCAS != 0)
}

// flushedGoneLocked is flushedLocked for a caller about to remove the
// item: it counts the items a prefix flush made it remove.
func (s *Store) flushedGoneLocked(sh *shard, p itemPtr, now uint32) bool {
	if s.flushAllLocked(sh, p, now) {
		return true
	}
	if s.prefixFlushedLocked(p) {
		s.ns.reclaimed.Add(1)
		return true
	}
	return false
}

// reclaimForSave runs one whole crawler pass now when prefixes are
// flushed or keys disowned, so that no item they cover outlives the
// process: a warm restart carries neither the table nor the disown marks,
// and would serve those items again. The members' reads a disowned item
// was kept for end with the process. bg.mu must not be held; background
// work is stopped.
func (s *Store) reclaimForSave() {
	if s.ns.table.Load() == nil && s.dis.marks.Load() == nil {
		return
	}
	s.dis.mu.Lock()
	if old := s.dis.marks.Load(); old != nil {
		marks := reclaimAll(*old)
		s.dis.marks.Store(&marks)
	}
	s.dis.mu.Unlock()
	s.bg.mu.Lock()
	s.crawl.page, s.crawl.idx = 0, 0
	s.crawl.makeFull()
	start := s.crawl.starts
	s.bg.mu.Unlock()
	for {
		s.CrawlOnce(1 << 16)
		s.bg.mu.Lock()
		done := s.crawl.starts != start
		s.bg.mu.Unlock()
		if done {
			return
		}
	}
}

// nsDropUpTo removes the prefixes flushed at or before sequence seq: a
// clean crawler pass that started after them has reclaimed their items.
func (s *Store) nsDropUpTo(seq uint64) {
	ns := &s.ns
	ns.mu.Lock()
	defer ns.mu.Unlock()
	old := ns.table.Load()
	if old == nil {
		return
	}
	t := &nsTable{m: make(map[string]nsFlush, len(old.m))}
	for k, f := range old.m {
		if f.seq > seq {
			t.m[k] = f
		}
	}
	switch {
	case len(t.m) == len(old.m):
	case len(t.m) == 0:
		ns.table.Store(nil)
	default:
		t.index()
		ns.table.Store(t)
	}
}

// PrefixStats are the counters of prefix flushes.
type PrefixStats struct {
	Pending   int    // flushed prefixes whose items may not all be reclaimed yet
	Reclaimed uint64 // items removed because a prefix flush covered them
}

// PrefixStats returns the prefix flush counters.
func (s *Store) PrefixStats() PrefixStats {
	var st PrefixStats
	if t := s.ns.table.Load(); t != nil {
		st.Pending = len(t.m)
	}
	st.Reclaimed = s.ns.reclaimed.Load()
	return st
}
