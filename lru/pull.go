package lru

import "github.com/slabcache/slabcache/slab"

const (
	pullEvict = 1 << iota // COLD: evict the tail item (memcached LRU_PULL_EVICT)
	pullTries = 5         // items looked at per call, as memcached
)

// pullTail is memcached's lru_pull_tail: it looks at up to five items from
// the tail of segment seg of LRU c (a class, or one stripe of it). Expired
// and flushed items are reclaimed on the way. Then, by segment:
//
//   - HOT, WARM: an active item goes to WARM (from HOT) or to WARM's head
//     (within WARM), losing its active bit; an item over the segment's share
//     of totalBytes (hot_lru_pct / warm_lru_pct) or older than maxAge goes
//     to COLD; otherwise stop.
//   - COLD: with pullEvict the tail is evicted (unless NoEvict); otherwise
//     an active tail moves to WARM.
//   - TEMP: nothing but reclaiming.
//
// It returns how many items it removed or moved. It takes the class lock
// and only TryLocks shard locks (the opposite of the usual order), skipping
// items whose shard is busy, so it is safe to call with a shard lock held.
func (s *Store) pullTail(c *lruClass, seg Segment, flags int, totalBytes uint64, maxAge uint32) int {
	return s.pullTailKeep(c, seg, flags, totalBytes, maxAge, nil)
}

// pullTailKeep is pullTail; with keep, a COLD item it evicts hands its
// chunk to *keep (when the item is one chunk, nobody reads it and *keep is
// still 0) instead of freeing it, for a store that needs a chunk of the
// class: it then takes no allocator lock at all.
func (s *Store) pullTailKeep(c *lruClass, seg Segment, flags int, totalBytes uint64, maxAge uint32, keep *slab.Ref) int {
	cls := c.cls
	now := s.clk.Now()
	removed := 0
	c.mu.Lock()
	ref := c.tail[seg]
	for tries := pullTries; tries > 0 && ref != 0; tries-- {
		p := s.ptr(ref)
		prev := getPrev(p)
		st := loadState(p)
		sh := s.shardOfState(st)
		if !sh.mu.TryLock() {
			c.lrutailReflocked++
			ref = prev
			continue
		}
		if expired(p, now) || s.flushedGoneLocked(sh, p, now) || s.disownedGoneLocked(p, flags&pullEvict == 0) {
			c.reclaimed++
			if st&stFetched == 0 {
				c.expiredUnfetched++
			}
			s.removeByRefLocked(sh, ref, p, st, c)
			sh.mu.Unlock()
			removed++
			ref = prev
			continue
		}
		stop := true
		switch seg {
		case Hot, Warm:
			var limit uint64
			if seg == Hot {
				limit = totalBytes * uint64(s.hotPct.Load()) / 100
			} else {
				limit = totalBytes * uint64(s.warmPct.Load()) / 100
			}
			switch {
			case st&stActive != 0:
				st &^= stActive
				storeState(p, st)
				if seg == Warm {
					c.movesWithinLRU++
					s.moveSegLocked(c, ref, p, st, Warm)
					stop = false
				} else {
					c.movesToWarm++
					s.moveSegLocked(c, ref, p, st, Warm)
				}
				removed++
			case c.bytes[seg] > limit || now-getAtime(p) > maxAge:
				c.movesToCold++
				s.moveSegLocked(c, ref, p, st, Cold)
				removed++
			}
		case Cold:
			switch {
			case flags&pullEvict != 0:
				if s.cfg.NoEvict {
					break
				}
				if s.cfg.LFU {
					sh.mu.Unlock()
					removed += s.evictLFULocked(c, now)
					c.mu.Unlock()
					return removed
				}
				if keep != nil && *keep == 0 && st&stChunked == 0 {
					*keep = s.evictKeepLocked(c, sh, ref, p, st, cls, now)
				} else {
					s.evictLocked(c, sh, ref, p, st, cls, now)
				}
				removed++
			case st&stActive != 0:
				c.movesToWarm++
				st = s.unqueueBumpLocked(sh, ref, st) &^ stActive
				if !s.disownedLocked(p, false) {
					setAtime(p, now) // (else it must stay before the mark)
				}
				storeState(p, st)
				s.moveSegLocked(c, ref, p, st, Warm)
				removed++
			}
		}
		sh.mu.Unlock()
		if stop {
			break
		}
		ref = prev
	}
	c.mu.Unlock()
	return removed
}

// evictLocked evicts the linked item p (class and shard locks held),
// counting it as memcached does.
func (s *Store) evictLocked(c *lruClass, sh *shard, ref slab.Ref, p itemPtr, st uint32, cls int, now uint32) {
	s.countEvictionLocked(c, p, st, cls, now)
	s.removeByRefLocked(sh, ref, p, st, c)
}

// evictKeepLocked is evictLocked for a one-chunk item whose chunk the
// caller takes: it returns the chunk, unlinked and reserved for the
// caller, or 0 when a reader still holds the item's memory (which is then
// freed when the reader lets go, as usual).
func (s *Store) evictKeepLocked(c *lruClass, sh *shard, ref slab.Ref, p itemPtr, st uint32, cls int, now uint32) slab.Ref {
	s.countEvictionLocked(c, p, st, cls, now)
	if s.detachLocked(sh, s.slotLocked(sh, ref, p, st), ref, p, c) {
		return ref // lifecycle reserved: the caller's
	}
	return 0
}

// countEvictionLocked counts an eviction of item p from LRU c as memcached
// does, and reports it to Config.OnEvict.
func (s *Store) countEvictionLocked(c *lruClass, p itemPtr, st uint32, cls int, now uint32) {
	c.evicted++
	c.evictedTime = now - getAtime(p)
	c.evictedAt = now
	if getExp(p) != 0 {
		c.evictedNonzero++
	}
	if st&stFetched == 0 {
		c.evictedUnfetched++
	}
	if st&stActive != 0 {
		c.evictedActive++
	}
	if f := s.cfg.OnEvict; f != nil {
		s.reportEviction(f, p, st, cls)
	}
}

// removeByRefLocked removes a linked item found through an LRU or a page
// walk. The shard lock is held, and classLocked (may be nil) is the
// caller's class lock.
func (s *Store) removeByRefLocked(sh *shard, ref slab.Ref, p itemPtr, st uint32, classLocked *lruClass) {
	s.removeLocked(sh, s.slotLocked(sh, ref, p, st), ref, classLocked)
}

// slotLocked returns the index slot of linked item ref (found through an
// LRU or a page walk), looking it up by its key. The shard lock is held.
func (s *Store) slotLocked(sh *shard, ref slab.Ref, p itemPtr, st uint32) int {
	key := s.lay.key(p, st)
	i, r := s.findLocked(&sh.t, hashKey(key), key)
	if r != ref {
		panic("lru: linked item missing from the index")
	}
	return i
}
