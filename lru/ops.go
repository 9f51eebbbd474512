package lru

import (
	"bytes"
	"math"
	"strconv"

	"github.com/slabcache/slabcache/internal/clock"
)

// DeleteArgs are the options of a delete (md). The zero value is a plain delete.
type DeleteArgs struct {
	// CAS, when nonzero or when HasCAS, must equal the item's CAS or the
	// delete fails with Exists (md C0 matches only an item whose CAS is 0,
	// as in memcached: one given E0 by md, ma or mg).
	CAS    uint64
	HasCAS bool
	// Invalidate (md I) does not remove the item: it marks it stale, clears
	// the win token so the next reader wins, and gives it a new CAS
	// (NewCAS, or a generated one unless HasNewCAS: md E0 gives CAS 0).
	Invalidate bool
	NewCAS     uint64
	HasNewCAS  bool
	// Touch sets the expiry to Exptime (md T, with Invalidate or RemoveValue).
	Touch   bool
	Exptime int64
	// RemoveValue (md x, memcached 1.6.2x) does not remove the item but
	// replaces it with an empty value carrying client flags Flags, expiring
	// as Exptime (never without Touch), keeping the old CAS unless NewCAS is
	// set. Combined with Invalidate the emptied item is then marked stale.
	RemoveValue bool
	Flags       uint32
}

// Delete removes key (or marks it stale, or empties it; see DeleteArgs).
// Its Result is Deleted, NotFound, Exists on a CAS mismatch, or NoMemory
// when RemoveValue cannot allocate the empty item; Class is the found
// item's. args may be nil.
func (s *Store) Delete(key []byte, args *DeleteArgs) Outcome {
	var none DeleteArgs
	if args == nil {
		args = &none
	}
	hv := hashKey(key)
	sh := s.shardFor(hv)
	now := s.clk.Now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ref, p := s.lookupLocked(sh, hv, key, now)
	if ref == 0 {
		return Outcome{Result: NotFound}
	}
	cls := s.lruClass(ref, loadState(p))
	vlen := s.valueLen(p, loadState(p))
	if (args.CAS != 0 || args.HasCAS) && s.lay.cas(p) != args.CAS {
		return Outcome{Result: Exists, Class: cls}
	}
	if args.RemoveValue {
		var exp uint32
		if args.Touch {
			exp = clock.Expiry(s.clk, args.Exptime)
		}
		nref, _ := s.allocItem(hv, key, args.Flags, exp, 0, now)
		if nref == 0 {
			return Outcome{Result: NoMemory, Class: cls}
		}
		np := s.ptr(nref)
		if args.NewCAS != 0 || args.HasNewCAS {
			s.assignCASLocked(sh, np, args.NewCAS, true)
		} else {
			s.lay.setCAS(np, s.lay.cas(p))
			storeState(np, loadState(np)|loadState(p)&stGivenCAS)
		}
		s.replaceLocked(sh, hv, key, ref, p, nref, np, now)
		ref, p = nref, np
		if !args.Invalidate {
			return Outcome{Result: Deleted, Class: cls}
		}
	}
	if args.Invalidate {
		if args.Touch {
			setExp(p, clock.Expiry(s.clk, args.Exptime))
		}
		st := loadState(p)
		storeState(p, st&^stTokenSent|stStale)
		s.assignCASLocked(sh, p, args.NewCAS, args.HasNewCAS)
		return Outcome{Result: Deleted, Class: cls}
	}
	i, _ := s.findLocked(&sh.t, hv, key)
	s.removeLocked(sh, i, ref, nil)
	return Outcome{Result: Deleted, Class: cls, Len: vlen}
}

// Touch sets the expiry of key (touch, and gat without the value): Touched
// with the item's class, or NotFound. Like memcached, it counts as an
// access.
func (s *Store) Touch(key []byte, exptime int64) Outcome {
	hv := hashKey(key)
	sh := s.shardFor(hv)
	now := s.clk.Now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ref, p := s.lookupLocked(sh, hv, key, now)
	if ref == 0 {
		return Outcome{Result: NotFound}
	}
	st := loadState(p)
	if nst := s.bumpLocked(sh, ref, p, st, now); nst != st {
		storeState(p, nst)
	}
	setExp(p, clock.Expiry(s.clk, exptime))
	return Outcome{Result: Touched, Class: s.lruClass(ref, st)}
}

// DeltaArgs are the options of incr/decr (and ma).
type DeltaArgs struct {
	Incr  bool   // incr (true) or decr
	Delta uint64 // amount
	// CAS, when nonzero, must equal the item's CAS or Exists is returned.
	CAS uint64
	// Vivify (ma N) creates the item on a miss with value Initial (ma J),
	// expiring as VivifyExptime, and returns Initial unchanged.
	Vivify        bool
	Initial       uint64
	VivifyExptime int64
	// Touch sets the expiry to Exptime (ma T).
	Touch   bool
	Exptime int64
	// VivifyLast: N came after T in the request, so an item Vivify creates
	// keeps VivifyExptime (memcached applies ma's flags in their order).
	VivifyLast bool
	// NewCAS is the CAS value for the changed or created item (ma E); 0
	// generates one unless HasNewCAS (E0: CAS 0, as in memcached).
	NewCAS    uint64
	HasNewCAS bool
	// Held, when set, names the items the caller still refers to: Delta
	// does not rewrite those in place (see Delta).
	Held Holder
}

// HeldItem names one item as a Hit saw it (Item.Held): a caller that
// keeps it while its reply is on its way tells Delta through a Holder.
type HeldItem struct {
	p   itemPtr
	cas uint64
}

// Held returns the item's name for a Holder; it stays valid after Hit
// returns (it is only compared).
func (it *Item) Held() HeldItem { return HeldItem{p: it.p, cas: it.CAS} }

// Holder reports whether an item is still referred to.
type Holder interface {
	Holds(HeldItem) bool
}

// Delta is memcached's do_add_delta: the value must be a decimal number
// (leading spaces allowed, then digits, then the end or a space); incr wraps
// at 2^64, decr stops at 0. When the new number fits in the old length it
// is written in place, padded with spaces as memcached does; otherwise, or
// when args.Held holds the item (memcached's reference count shows another
// holder, such as a reply that points into the item and is not written
// yet), the item is replaced by one holding just the digits, not fetched.
// Either way it gets a new CAS and keeps its flags and expiry. The
// Outcome's Result is Found (with Value, CAS, Exptime, Now, Class,
// Created), NotFound, Exists, NonNumeric or NoMemory.
func (s *Store) Delta(key []byte, args *DeltaArgs) Outcome {
	hv := hashKey(key)
	sh := s.shardFor(hv)
	now := s.clk.Now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	out := Outcome{Now: now}
	ref, p := s.lookupLocked(sh, hv, key, now)
	var buf [24]byte
	if ref == 0 {
		if !args.Vivify {
			out.Result = NotFound
			return out
		}
		digits := strconv.AppendUint(buf[:0], args.Initial, 10)
		ref = s.createLocked(sh, hv, key, 0, clock.Expiry(s.clk, args.VivifyExptime), digits, now)
		if ref == 0 {
			out.Result = NoMemory
			return out
		}
		p = s.ptr(ref)
		out.Value, out.Created = args.Initial, true
	} else {
		// In memcached's order: an empty or chunked value, then the CAS,
		// then the digits.
		st := loadState(p)
		if st&stChunked != 0 || getSmallVlen(p) == 0 {
			out.Result = NonNumeric
			return out
		}
		if args.CAS != 0 && s.lay.cas(p) != args.CAS {
			out.Result = Exists
			return out
		}
		vo := s.lay.valOff(p, st)
		vlen := getSmallVlen(p)
		v, ok := parseUint(bytesAt(p, vo, vlen))
		if !ok {
			out.Result = NonNumeric
			return out
		}
		if args.Incr {
			v += args.Delta
		} else if args.Delta > v {
			v = 0
		} else {
			v -= args.Delta
		}
		out.Value = v
		digits := strconv.AppendUint(buf[:0], v, 10)
		if len(digits) <= vlen && (args.Held == nil || !args.Held.Holds(HeldItem{p: p, cas: s.lay.cas(p)})) {
			dst := bytesAt(p, vo, vlen)
			n := copy(dst, digits)
			for i := n; i < vlen; i++ {
				dst[i] = ' '
			}
			s.assignCASLocked(sh, p, 0, false)
			s.updateLocked(ref, p, loadState(p), now)
		} else {
			nref, _ := s.allocItem(hv, key, s.lay.flags(p, st), getExp(p), len(digits), now)
			if nref == 0 {
				out.Result = NoMemory
				return out
			}
			np := s.ptr(nref)
			w := s.newValueWriter(np)
			w.write(digits)
			s.assignCASLocked(sh, np, 0, false)
			s.replaceLocked(sh, hv, key, ref, p, nref, np, now)
			ref, p = nref, np
		}
	}
	if !out.Created {
		out.PrevExptime = getExp(p)
	}
	if args.Touch && !(out.Created && args.VivifyLast) {
		setExp(p, clock.Expiry(s.clk, args.Exptime))
	}
	if args.NewCAS != 0 || args.HasNewCAS {
		s.assignCASLocked(sh, p, args.NewCAS, true)
	}
	out.Result = Found
	out.CAS = s.lay.cas(p)
	out.Exptime = getExp(p)
	out.Class = s.lruClass(ref, loadState(p))
	return out
}

// parseUint is memcached's safe_strtoull on an item value: optional leading
// white space, an optional '+', decimal digits, then the end or white
// space. A '-' sign or an overflow fails.
func parseUint(b []byte) (uint64, bool) {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i < len(b) && b[i] == '+' {
		i++
	}
	start := i
	var v uint64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		d := uint64(b[i] - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
		i++
	}
	if i == start {
		return 0, false
	}
	if i < len(b) && !isSpace(b[i]) {
		return 0, false
	}
	return v, true
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// Flush invalidates every item last updated before the flush time, lazily
// (flush_all): delay 0 means now, otherwise a protocol exptime (relative
// seconds or a Unix time). Items are reclaimed as they are next touched,
// by the crawler, or at the LRU tails.
func (s *Store) Flush(delay int64) {
	now := s.clk.Now()
	newOldest := now
	if delay > 0 {
		newOldest = clock.Expiry(s.clk, delay)
	}
	// memcached 1.6.45 sets oldest_live to the second before, with or
	// without CAS (older releases flushed the whole second under -C, items
	// stored after the flush included).
	ol := newOldest - 1
	if ol == 0 {
		ol = 1
	}
	if ol <= now && !s.cfg.NoCAS {
		// Immediate: what was stored earlier in this second is removed
		// by flushRecent; an item it skipped (its shard busy) is told from
		// later ones by the CAS the store drew for it (casFlushed). Older
		// memcached releases had this check (oldest_cas); 1.6.45 leaves
		// such items live.
		for i := range s.shards {
			sh := &s.shards[i]
			sh.mu.Lock()
			sh.flushCAS = sh.casNext<<casShardBits | uint64(sh.id)
			sh.mu.Unlock()
		}
	}
	s.oldestLive.Store(ol)
	s.flushRecent(ol)
}

// flushRecent is memcached's item_flush_expired: right after a flush_all,
// the items at the head of each LRU list last updated at or after ol (the
// second before the flush, which the lazy check by time cannot tell from
// later ones) are removed at once, up to the first older item, so
// curr_items drops as in memcached. A delayed flush has a future ol and
// removes nothing here. Items whose shard is busy, and recent items behind
// an older one, are left to the lazy checks (memcached skips items it
// cannot lock too); with CAS they tell items of the flush's second by
// their CAS, without CAS (-C) such an item outlives the flush, as in
// memcached.
func (s *Store) flushRecent(ol uint32) { s.flushRecentPrefix(ol, nil) }

// flushRecentPrefix is flushRecent for the items whose key starts with
// prefix (every item when prefix is nil).
func (s *Store) flushRecentPrefix(ol uint32, prefix []byte) {
	for i := s.stripes(); i < len(s.classes); i++ {
		c := &s.classes[i]
		c.mu.Lock()
		for g := Segment(0); g < numSegs; g++ {
			for ref := c.head[g]; ref != 0; {
				p := s.ptr(ref)
				next := getNext(p)
				if getAtime(p) < ol {
					// As memcached: the run of recent items at the head
					// ends here. What lies further is flushed by the
					// lazy checks (by time, or by CAS in the flush's
					// second), so the walk costs the recent items only.
					break
				}
				st := loadState(p)
				sh := s.shardOfState(st)
				if sh.mu.TryLock() {
					if _, st, _, ok := s.linkedItemLocked(sh, ref); ok &&
						(prefix == nil || bytes.HasPrefix(s.lay.key(p, st), prefix)) {
						s.removeByRefLocked(sh, ref, p, st, c)
						if prefix != nil {
							s.ns.reclaimed.Add(1)
						}
					}
					sh.mu.Unlock()
				}
				ref = next
			}
		}
		c.mu.Unlock()
	}
}
