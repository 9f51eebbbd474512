package lru

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Disowned keys. A cluster member that gives keys up to another node (a
// membership change moved them) keeps its copies: the new owner's warm-up
// fetches them from here, and a node leaving pushes them. They must not
// be served to clients any more: the new owner takes the writes from now
// on, and a client that reads here later (a client whose ring is behind,
// a proxy's or the Go client's stand-in for a failed owner) would get a
// value older than the last one written. Disown marks the point: every
// item stored before it whose key the caller's test calls foreign reads
// as absent from then on, to every operation but a Get with
// GetArgs.Disowned (the members' own reads). Nothing is recorded per item:
// as for a prefix flush (namespace.go), an item is checked when it is
// found, against a CAS floor (items with a CAS drawn here) or its last
// access time (a CAS given by a client or copied from a member says
// nothing of when the item was stored; nor is there one with -C: then
// the item's second counts, and one stored in the mark's own second
// after it counts as before). A client's access after the mark checks
// first, so an item accessed since is never one from before it, and
// members' reads leave the access time alone. ReclaimDisowned, once the
// copies are no longer needed, has the crawler remove them; after a
// pass over every item the check stops.

// disownMark is one Disown.
type disownMark struct {
	time    uint32 // clock second of the mark
	cas     uint64 // CAS floor: items with a CAS drawn here below it are older
	foreign func(key []byte) bool
	reclaim bool // the crawler removes them (ReclaimDisowned)
}

// maxDisownMarks bounds the marks kept: past it, those there are
// reclaimed at once (their items removed rather than kept for the
// members' reads).
const maxDisownMarks = 16

// disownState is the store's state of disowned keys.
type disownState struct {
	marks   atomic.Pointer[[]*disownMark] // nil: none (the common, free case); copied on write
	mu      sync.Mutex                    // serialises writers of marks
	removed atomic.Uint64                 // items removed because they were disowned
}

// Disown makes every item stored so far whose key foreign reports true
// read as absent to clients (see above), until a crawler pass after
// ReclaimDisowned has removed them. Each call adds a mark with its own
// test: an item is disowned when any mark it predates disowns its key.
// foreign runs with a shard lock held; it must not call the store.
func (s *Store) Disown(foreign func(key []byte) bool) {
	d := &s.dis
	d.mu.Lock()
	m := &disownMark{time: s.clk.Now(), foreign: foreign}
	if s.lay.casSize != 0 {
		m.cas = s.raiseCASFloor() << casShardBits
	}
	var marks []*disownMark
	if old := d.marks.Load(); old != nil {
		marks = append(marks, *old...)
	}
	full := len(marks) >= maxDisownMarks
	if full {
		marks = reclaimAll(marks)
	}
	marks = append(marks, m)
	d.marks.Store(&marks)
	d.mu.Unlock()
	if full {
		s.crawlPassAfter()
	}
}

// reclaimAll returns marks with every one set to be reclaimed.
func reclaimAll(marks []*disownMark) []*disownMark {
	out := make([]*disownMark, len(marks))
	for i, m := range marks {
		if !m.reclaim {
			r := *m
			r.reclaim = true
			m = &r
		}
		out[i] = m
	}
	return out
}

// ReclaimDisowned has the crawler remove the items the marks so far cover
// (a full-speed pass, as for a prefix flush); after a pass over every item
// that began after this call, those marks are dropped and their items no
// longer checked for. Reads by members (GetArgs.Disowned) miss them from
// now on.
func (s *Store) ReclaimDisowned() {
	d := &s.dis
	d.mu.Lock()
	old := d.marks.Load()
	if old == nil || !slices.ContainsFunc(*old, func(m *disownMark) bool { return !m.reclaim }) {
		d.mu.Unlock()
		return
	}
	marks := reclaimAll(*old)
	d.marks.Store(&marks)
	d.mu.Unlock()
	s.crawlPassAfter()
}

// DisownedRemoved returns how many disowned items were removed: found by
// a client's request, the crawler, or at an LRU tail.
func (s *Store) DisownedRemoved() uint64 { return s.dis.removed.Load() }

// disownedLocked reports whether item p is disowned (its shard lock held).
// With reclaiming, only by marks to be reclaimed (ReclaimDisowned): the
// crawler, the maintainer's LRU juggling and page moves leave the items
// for the members' reads until then; a request, or an eviction, does not.
func (s *Store) disownedLocked(p itemPtr, reclaiming bool) bool {
	marks := s.dis.marks.Load()
	if marks == nil {
		return false
	}
	st := loadState(p)
	byCAS := s.lay.casSize != 0 && st&stGivenCAS == 0
	var cas uint64
	var at uint32
	if byCAS {
		cas = s.lay.cas(p)
	} else {
		at = getAtime(p)
	}
	var key []byte
	for _, m := range *marks {
		if reclaiming && !m.reclaim || byCAS && cas >= m.cas || !byCAS && at > m.time {
			continue
		}
		if key == nil {
			key = s.lay.key(p, st)
		}
		if m.foreign(key) {
			return true
		}
	}
	return false
}

// disownedGoneLocked is disownedLocked for a caller about to remove the
// item: it counts it.
func (s *Store) disownedGoneLocked(p itemPtr, reclaiming bool) bool {
	if s.disownedLocked(p, reclaiming) {
		s.dis.removed.Add(1)
		return true
	}
	return false
}

// disownPassStarts notes, as a crawler pass starts, the marks whose items
// it reclaims (bg.mu held).
func (s *Store) disownPassStarts(cs *crawlerState) {
	cs.disPass = cs.disPass[:0]
	if marks := s.dis.marks.Load(); marks != nil {
		for _, m := range *marks {
			if m.reclaim {
				cs.disPass = append(cs.disPass, m)
			}
		}
	}
}

// disownPassEnds drops the marks a full pass reclaimed since its start
// (bg.mu held): it has visited every page, and a page move reclaims such
// items rather than move them, so none can hide in a page it had seen.
func (s *Store) disownPassEnds(cs *crawlerState, full bool) {
	if !full || len(cs.disPass) == 0 {
		return
	}
	d := &s.dis
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.marks.Load()
	if old == nil {
		return
	}
	marks := slices.DeleteFunc(slices.Clone(*old), func(m *disownMark) bool { return slices.Contains(cs.disPass, m) })
	if len(marks) == 0 {
		d.marks.Store(nil)
	} else {
		d.marks.Store(&marks)
	}
}

// disownWaits reports whether disowned items wait for a full crawler pass.
func (s *Store) disownWaits() bool {
	marks := s.dis.marks.Load()
	return marks != nil && slices.ContainsFunc(*marks, func(m *disownMark) bool { return m.reclaim })
}
