package lru

import (
	"math/bits"

	"github.com/slabcache/slabcache/slab"
)

// The LFU eviction policy (Config.LFU, -o eviction=lfu): memcached's
// segmented LRU with the victim chosen by frequency, TinyLFU's way. Every
// read of a key, hit or miss, is counted in a frequency sketch (a
// count-min sketch of 4-bit counters, raised conservatively, all halved
// after lfuPeriod reads per counter of a row so that old popularity
// fades). The sketch remembers keys that are not in the cache: a key read
// often, evicted once, is recognised when it is stored again.
//
// When memory is needed, the items at the tails of COLD (lfuSample) and
// HOT (lfuHotSample: HOT holds what was stored last, TinyLFU's window) are
// compared, and the one whose key was read least often goes, a HOT one
// on a tie (a newcomer has not earned its place yet); COLD items it passed
// over, read more often, move to WARM for another pass through the LRU.
// When every candidate was read at least lfuFrequent times, they all move
// to WARM and the next ones are looked at, at most lfuMaxSpares times, so
// that a scan of keys read once goes before any of them.
//
// Its cost: the sketch, 4 rows of 4-bit counters with MemoryLimit/lfuBytes
// counters per row rounded up to a power of two (64 MiB: 2 MiB, 3%), on
// the Go heap, split over the shards and updated under their locks;
// nothing in the items. An eviction hashes the keys of up to 24 items.

const (
	lfuSample    = 8  // COLD tail items compared per eviction
	lfuHotSample = 16 // and HOT tail items
	lfuFrequent  = 2  // reads that earn a key a pass through WARM
	lfuMaxSpares = 4  // rounds of sparing every candidate before one goes

	// The sketch: counters per row, and reads between two halvings, per
	// lfuBytes of MemoryLimit (64 MiB: 1 Mi counters a row, 2 MiB).
	lfuBytes  = 64
	lfuPeriod = 2
)

// sketch is one shard's count-min sketch (guarded by the shard lock).
type sketch struct {
	rows    [4][]uint64 // 16 counters of 4 bits per word
	mask    uint32      // counters per row - 1
	adds    uint32
	resetAt uint32
}

func newSketch(counters, period int) sketch {
	n := 1 << max(bits.Len(uint(max(counters, 16)-1)), 4)
	var k sketch
	for i := range k.rows {
		k.rows[i] = make([]uint64, n/16)
	}
	k.mask = uint32(n - 1)
	k.resetAt = uint32(max(period, 16))
	return k
}

func (k *sketch) index(h uint64, row int) (*uint64, uint) {
	h1, h2 := uint32(h), uint32(h>>32)|1
	j := (h1 + uint32(row)*h2) & k.mask
	return &k.rows[row][j>>4], uint(j&15) * 4
}

// add counts one read of the key with hash h. Only the counters at the
// key's minimum are raised (conservative update): the others already
// count more than this key, and raising them only adds to other keys'
// overestimates.
func (k *sketch) add(h uint64) {
	est := k.estimate(h)
	if est == 15 {
		return
	}
	for row := range k.rows {
		w, shift := k.index(h, row)
		if uint32(*w>>shift&15) == est {
			*w += 1 << shift
		}
	}
	if k.adds++; k.adds >= k.resetAt {
		k.halve()
	}
}

// estimate is how often the key with hash h was read (at most 15).
func (k *sketch) estimate(h uint64) uint32 {
	est := uint64(15)
	for row := range k.rows {
		w, shift := k.index(h, row)
		est = min(est, *w>>shift&15)
	}
	return uint32(est)
}

// halve ages every counter.
func (k *sketch) halve() {
	for _, row := range k.rows {
		for i, w := range row {
			row[i] = w >> 1 & 0x7777777777777777
		}
	}
	k.adds /= 2
}

// countRead records a read of the key with hash hv (shard lock held).
func (s *Store) countRead(sh *shard, hv uint64) {
	if s.cfg.LFU {
		sh.freq.add(hv)
	}
}

// lfuCand is an eviction candidate: an item at the tail of a segment.
type lfuCand struct {
	ref slab.Ref
	seg Segment
	f   uint32
}

// evictLFULocked evicts, of the items at the tails of COLD and HOT of
// class c (class lock held), the one whose key was read least often, a
// HOT one on a tie (HOT holds what was stored last, its place not earned
// yet: TinyLFU's window against its main cache), and moves the COLD items
// it passed over to WARM. It returns how many items it evicted or moved.
func (s *Store) evictLFULocked(c *lruClass, now uint32) int {
	var cand [64]lfuCand
	done := 0
	var spared lfuCand // the least read of the candidates spared last
	for round := 0; ; round++ {
		n := s.lfuCandidates(c, cand[:])
		if n == 0 {
			if spared.ref != 0 {
				// Everything looked at went to WARM: the least read of
				// it goes after all.
				cand[0], n = spared, 1
			} else {
				return done
			}
		}
		victim := 0
		for i := 1; i < n; i++ {
			if cand[i].f < cand[victim].f || cand[i].f == cand[victim].f && cand[i].seg == Hot && cand[victim].seg != Hot {
				victim = i
			}
		}
		// Every candidate read at least twice: they all go to WARM and
		// the next ones are looked at, a few times at most; then the
		// least read goes, so that a store never fails for want of an
		// infrequent victim.
		if cand[victim].f >= lfuFrequent && round < lfuMaxSpares && spared.ref != cand[victim].ref {
			for _, k := range cand[:n] {
				done += s.lfuSpare(c, k.ref, now)
			}
			spared = cand[victim]
			continue
		}
		for i, k := range cand[:n] {
			switch {
			case i == victim:
				p := s.ptr(k.ref)
				st := loadState(p)
				sh := s.shardOfState(st)
				if !sh.mu.TryLock() {
					c.lrutailReflocked++
					continue
				}
				s.evictLocked(c, sh, k.ref, p, st, c.cls, now)
				sh.mu.Unlock()
				done++
			case k.seg == Cold && k.f > cand[victim].f && (cand[victim].seg != Cold || i < victim):
				done += s.lfuSpare(c, k.ref, now) // passed over
			}
		}
		return done
	}
}

// evictLFU is evictLFULocked for an empty COLD (the HOT tail alone).
func (s *Store) evictLFU(c *lruClass) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return s.evictLFULocked(c, s.clk.Now())
}

// lfuCandidates fills cand with the items at the tails of COLD and HOT
// and their keys' read counts, and returns how many it found.
func (s *Store) lfuCandidates(c *lruClass, cand []lfuCand) int {
	n := 0
	look := func(seg Segment, want int) {
		got := 0
		for ref := c.tail[seg]; ref != 0 && got < want && n < len(cand); ref = getPrev(s.ptr(ref)) {
			p := s.ptr(ref)
			st := loadState(p)
			sh := s.shardOfState(st)
			if !sh.mu.TryLock() {
				c.lrutailReflocked++
				continue
			}
			f := sh.freq.estimate(hashKey(s.lay.key(p, st)))
			sh.mu.Unlock()
			cand[n] = lfuCand{ref, seg, f}
			n++
			got++
		}
	}
	look(Cold, lfuSample)
	look(Hot, lfuHotSample)
	return n
}

// lfuSpare moves a candidate to WARM (class lock held); 1 if it did.
func (s *Store) lfuSpare(c *lruClass, ref slab.Ref, now uint32) int {
	p := s.ptr(ref)
	st := loadState(p)
	sh := s.shardOfState(st)
	if !sh.mu.TryLock() {
		c.lrutailReflocked++
		return 0
	}
	c.movesToWarm++
	st = s.unqueueBumpLocked(sh, ref, st) &^ stActive
	if !s.flushedLocked(sh, p, now) && !s.disownedLocked(p, false) {
		setAtime(p, now) // (else it must stay before the flush or the mark)
	}
	storeState(p, st)
	s.moveSegLocked(c, ref, p, st, Warm)
	sh.mu.Unlock()
	return 1
}

// LFU reports whether the store evicts by frequency (Config.LFU).
func (s *Store) LFU() bool { return s.cfg.LFU }
