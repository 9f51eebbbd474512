package lru

import (
	"github.com/slabcache/slabcache/internal/clock"
	"github.com/slabcache/slabcache/slab"
)

// Result is the outcome of a store operation. The server maps it to
// memcached's reply text in one place.
type Result uint8

// Results. The text and meta replies are given for each.
const (
	Stored     Result = iota + 1 // STORED / HD
	NotStored                    // NOT_STORED / NS
	Exists                       // EXISTS / EX (CAS mismatch)
	NotFound                     // NOT_FOUND / NF
	Deleted                      // DELETED / HD
	Touched                      // TOUCHED / HD
	TooLarge                     // SERVER_ERROR object too large for cache
	NoMemory                     // SERVER_ERROR out of memory storing object
	NonNumeric                   // CLIENT_ERROR cannot increment or decrement non-numeric value
	BadKey                       // key empty or longer than KeyMaxLen: CLIENT_ERROR bad command line format
	Found                        // a read found the item; incr/decr applied (the reply is the number)
)

var resultNames = [...]string{"", "stored", "not stored", "exists", "not found", "deleted", "touched", "too large", "out of memory", "non-numeric", "bad key", "found"}

func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "invalid"
}

// Mode is the kind of store command.
type Mode uint8

// Store modes (set, add, replace, append, prepend, cas; ms M flag S E R A P).
const (
	ModeSet Mode = iota
	ModeAdd
	ModeReplace
	ModeAppend
	ModePrepend
	ModeCAS
)

// SetArgs are the options of a store beyond key, flags, exptime and value.
type SetArgs struct {
	Mode Mode
	// CAS is the value to compare with the item's CAS (the cas command, ms
	// C). With ModeCAS a 0 never matches; with Set or Replace a nonzero CAS
	// makes it a CAS store; Append and Prepend refuse with Exists on a
	// mismatch; Add ignores it.
	CAS uint64
	// NewCAS is the CAS value to give the stored item (ms E); 0 generates
	// one (memcached's ms E0 too, unlike md, ma and mg E0).
	NewCAS uint64
	// Invalidate (ms I): a CAS store whose CAS is older than the item's
	// stores the value anyway but marked stale, keeping the old TTL.
	Invalidate bool
	// Vivify (ms N in append/prepend mode) stores the value as a new item
	// on a miss, expiring as VivifyExptime.
	Vivify        bool
	VivifyExptime int64
	// KeyBinary marks the item as stored with a key sent in base64 (ms
	// with b): meta replies and mgdump show its key in base64 again, as
	// memcached's ITEM_KEY_BINARY. An append or prepend builds a new item
	// without the mark, as memcached's does.
	KeyBinary bool
}

// Outcome is what every store operation returns: its Result and what the
// caller needs to report it (per-class statistics, meta return flags).
// Fields an operation does not set are zero.
type Outcome struct {
	Result Result
	// Segment and Len: the LRU segment and value length of the item a read
	// found (Get, Peek); Len is also the value length of an item stored
	// (Set, Commit) or deleted (Delete).
	Segment Segment
	// Created is set when Vivify made the item (Get, Delta).
	Created bool
	Len     int
	// Class is the slab class of the item concerned, for the per-class
	// statistics: the stored item (or the old one when nothing was
	// stored), the found, deleted, touched or changed one; 0 for none.
	Class int
	// CAS is the item's CAS after the operation (Set, Commit: Stored only;
	// Delta); for a CAS store refused with Exists, the item's CAS that the
	// given one did not match.
	CAS uint64
	// Value is the new number (Delta).
	Value uint64
	// Exptime is the expiry after the operation, 0 for never, and Now the
	// clock's time then (Delta; Commit when Stored). PrevExptime is the expiry before
	// the operation's touch (Delta; 0 for an item it created).
	Exptime     uint32
	PrevExptime uint32
	Now         uint32
	// Gone says whether the lookup of a Get found an item it had to
	// reclaim, expired or flushed (for a miss, or a hit Vivify created).
	Gone Gone
}

// stored fills o for item p, just stored in class cls, field by field (a
// literal would be built aside and copied: these are on every store's path).
func (o *Outcome) stored(s *Store, p itemPtr, cls int, now uint32) {
	o.Result, o.CAS, o.Class = Stored, s.lay.cas(p), cls
	o.Len, o.Exptime, o.Now = s.valueLen(p, loadState(p)), getExp(p), now
}

// Gone is what a lookup found of an item that is no longer live.
type Gone uint8

// The values of Gone.
const (
	Absent  Gone = iota // nothing, or a live item
	Flushed             // an item invalidated by flush_all
	Expired             // an item past its expiry
)

// TTL returns the seconds left after the operation, or -1 for never (ma t).
func (o *Outcome) TTL() int64 {
	if o.Exptime == 0 {
		return -1
	}
	return int64(o.Exptime) - int64(o.Now)
}

// Reservation is a store in progress: memory for the item is allocated
// (Reserve) before the value arrives, filled piece by piece (Write) as the
// bytes come in, then published (Commit) or released (Abort). It is a plain
// value the caller keeps (for example in its connection state); it holds
// chunks of slab memory until Commit or Abort, so a caller that drops a
// connection mid-value must call Abort.
type Reservation struct {
	s       *Store
	ref     slab.Ref
	p       itemPtr
	hv      uint64
	vlen    int
	written int
	w       valueWriter
}

// Active reports whether r holds memory (between Reserve and Commit/Abort).
func (r *Reservation) Active() bool { return r.ref != 0 }

// Class returns the slab class of the reserved item (0 when inactive).
func (r *Reservation) Class() int {
	if r.ref == 0 {
		return 0
	}
	return r.s.lruClass(r.ref, loadState(r.p))
}

// Remaining returns how many value bytes Write still expects.
func (r *Reservation) Remaining() int { return r.vlen - r.written }

// Reserve allocates an item for key with a value of vlen bytes, evicting
// if needed. It returns Stored on success (r is then active), TooLarge when
// the item is over ItemSizeMax, NoMemory when nothing can be freed, BadKey
// for an empty or over-long key. After TooLarge or NoMemory on a set,
// memcached removes the old item under the key: call Delete for that.
func (s *Store) Reserve(r *Reservation, key []byte, flags uint32, exptime int64, vlen int) Result {
	r.ref = 0
	if len(key) == 0 || len(key) > KeyMaxLen {
		return BadKey
	}
	if vlen < 0 || MemcachedItemSize(len(key), flags, vlen, !s.cfg.NoCAS) > s.cfg.ItemSizeMax {
		return TooLarge
	}
	hv := hashKey(key)
	ref, res := s.allocItem(hv, key, flags, clock.Expiry(s.clk, exptime), vlen, s.clk.Now())
	if ref == 0 {
		return res
	}
	p := s.ptr(ref)
	r.s, r.ref, r.p, r.hv, r.vlen, r.written = s, ref, p, hv, vlen, 0
	r.w.reset(s, p)
	return Stored
}

// allocItem allocates and fills an unlinked item (lifecycle reserved) with
// header, key and, for a large value, its data chunks. The value bytes are
// left for the caller to write.
func (s *Store) allocItem(hv uint64, key []byte, flags uint32, exp uint32, vlen int, now uint32) (slab.Ref, Result) {
	head := s.lay.headSize(len(key), flags)
	chunked := head+vlen > s.cfg.SlabChunkMax
	n := head + vlen
	if chunked {
		n = head + chunkTblHdr + 4*s.chunkCount(vlen)
	}
	cls := s.slab.ClassFor(n)
	if cls == 0 {
		return 0, TooLarge
	}
	var ref slab.Ref
	if !chunked {
		ref = s.takeSpare(s.shardFor(hv), cls)
	}
	res := Stored
	if ref == 0 {
		ref, res = s.allocChunk(cls, s.stripeOfHash(hv))
	}
	if ref == 0 {
		return 0, res
	}
	p := s.ptr(ref)
	st := uint32(lcReserved) | itemTag(hv)<<tagShift
	if flags != 0 {
		st |= stHasFlags
	}
	if chunked {
		st |= stChunked
	}
	setPrev(p, 0)
	setNext(p, 0)
	setExp(p, exp)
	setAtime(p, now)
	if chunked {
		setLens(p, len(key), 0)
	} else {
		setLens(p, len(key), vlen)
	}
	s.lay.setCAS(p, 0)
	if flags != 0 {
		*u32(p, s.lay.flagsOff()) = flags
	}
	copy(bytesAt(p, s.lay.keyOff(st), len(key)), key)
	storeState(p, st)
	if chunked {
		t := s.initChunks(p, st, vlen)
		for j := 0; j < t.n; j++ {
			size := dataHdr + t.used(j)
			dcls := s.slab.ClassFor(size)
			d, res := s.allocChunk(dcls, s.stripeOfHash(hv))
			if d == 0 && dcls != s.chunkClass {
				// As memcached: when the last chunk's smaller class has no
				// room, take a full-size chunk, which evicting large items
				// frees.
				d, res = s.allocChunk(s.chunkClass, s.stripeOfHash(hv))
			}
			if d == 0 {
				s.freeItem(ref, p)
				return 0, res
			}
			dp := s.ptr(d)
			*u32(dp, offDataHead) = uint32(ref)
			storeState(dp, lcData|itemTag(hv)<<tagShift)
			t.setRef(j, d)
		}
	}
	return ref, Stored
}

// Write copies the next piece of the value into the item and returns how
// many bytes it took (less than len(b) only when the value is complete).
func (r *Reservation) Write(b []byte) int {
	n := r.w.write(b[:min(len(b), r.vlen-r.written)])
	r.written += n
	return n
}

// Abort releases a reservation's memory. Calling it on an inactive
// reservation does nothing.
func (s *Store) Abort(r *Reservation) {
	if r.ref == 0 {
		return
	}
	s.freeItem(r.ref, r.p)
	r.ref = 0
}

// Set stores value under key in one call: Reserve, Write, Commit.
func (s *Store) Set(key []byte, flags uint32, exptime int64, value []byte, args *SetArgs) Outcome {
	var r Reservation
	if res := s.Reserve(&r, key, flags, exptime, len(value)); res != Stored {
		return Outcome{Result: res}
	}
	r.Write(value)
	return s.Commit(&r, args)
}

// Commit publishes a filled reservation according to args (nil is a plain
// set), as memcached's do_store_item, and releases r. Commit panics if the
// value is incomplete.
func (s *Store) Commit(r *Reservation, args *SetArgs) (res Outcome) {
	var none SetArgs
	if args == nil {
		args = &none
	}
	if r.ref == 0 {
		panic("lru: Commit without an active reservation")
	}
	if r.written != r.vlen {
		panic("lru: Commit before the whole value was written")
	}
	ref, p, hv := r.ref, r.p, r.hv
	r.ref = 0
	sh := s.shardFor(hv)
	now := s.clk.Now()
	st := loadState(p)
	if args.KeyBinary {
		st |= stKeyBinary
		storeState(p, st)
	}
	key := s.lay.key(p, st)
	cls := s.lruClass(ref, st)

	// As memcached's process_mset_command: a CAS value upgrades set and
	// replace to a CAS store.
	mode := args.Mode
	if args.CAS != 0 && (mode == ModeSet || mode == ModeReplace) {
		mode = ModeCAS
	}
	sh.mu.Lock()
	oref, op := s.lookupLocked(sh, hv, key, now)
	res.Result, res.Class = NotStored, cls
	store := false
	if oref != 0 {
		res.Class = s.lruClass(oref, loadState(op))
		ost := loadState(op)
		ocas := s.lay.cas(op)
		const (
			casNone = iota
			casMatch
			casStale
			casBad
		)
		casRes := casNone
		switch {
		case args.CAS == 0, s.cfg.NoCAS:
			// Without CAS the stored item has none to compare (as
			// memcached's ITEM_get_cas reads 0 under -C): a cas store
			// fails, an append or prepend goes ahead.
		case args.CAS == ocas:
			casRes = casMatch
		case args.Invalidate && args.CAS < ocas:
			casRes = casStale
		default:
			casRes = casBad
		}
		switch mode {
		case ModeAdd:
			s.updateLocked(oref, op, ost, now)
		case ModeCAS:
			switch casRes {
			case casMatch:
				store = true
			case casStale:
				setExp(p, getExp(op))
				st |= stStale | ost&stTokenSent
				storeState(p, st)
				store = true
			default:
				res.Result = Exists
				res.CAS = ocas // the item's, which the given one did not match
			}
		case ModeAppend, ModePrepend:
			if casRes != casNone && casRes != casMatch {
				res.Result = Exists
				break
			}
			nref, nres := s.combineLocked(ref, p, oref, op, mode == ModePrepend, now)
			s.freeItem(ref, p)
			if nref == 0 {
				res.Result = nres
				sh.mu.Unlock()
				return res
			}
			ref, p = nref, s.ptr(nref)
			key = s.lay.key(p, loadState(p))
			cls = s.lruClass(ref, loadState(p))
			store = true
		default: // set, replace
			store = true
		}
		if store {
			s.assignCASLocked(sh, p, args.NewCAS, false)
			s.replaceLocked(sh, hv, key, oref, op, ref, p, now)
			res.stored(s, p, cls, now)
		}
	} else {
		switch mode {
		case ModeAdd, ModeSet:
			store = true
		case ModeAppend, ModePrepend:
			if args.Vivify {
				setExp(p, clock.Expiry(s.clk, args.VivifyExptime))
				store = true
			}
		case ModeCAS:
			res.Result = NotFound
		}
		if store {
			s.assignCASLocked(sh, p, args.NewCAS, false)
			s.insertLocked(&sh.t, hv, ref)
			s.linkLocked(ref, p, now)
			res.stored(s, p, cls, now)
		}
	}
	sh.mu.Unlock()
	if !store {
		s.freeItem(ref, p)
	}
	return res
}

// replaceLocked swaps old item oref for the reserved item ref in the index
// and the LRU, and frees the old item.
func (s *Store) replaceLocked(sh *shard, hv uint64, key []byte, oref slab.Ref, op itemPtr, ref slab.Ref, p itemPtr, now uint32) {
	s.prefetchNeighbours(op)
	i, r := s.findLocked(&sh.t, hv, key)
	if r != oref {
		panic("lru: replaced item not in the index")
	}
	sh.t.setRef(i, ref)
	if c := s.lruOf(ref, loadState(p)); c == s.lruOf(oref, loadState(op)) {
		// One class lock for both list changes (the common overwrite).
		c.mu.Lock()
		s.unlinkLRU(oref, op, c)
		s.linkClassLocked(c, ref, p, now)
		c.mu.Unlock()
	} else {
		s.unlinkLRU(oref, op, nil)
		s.linkLocked(ref, p, now)
	}
	s.retireLocked(sh, oref, op)
}

// updateLocked is memcached's do_item_update for an item that was hit by a
// command other than a read (add on an existing key, touch, incr): bump the
// access time and, for an active COLD item, move it to WARM.
func (s *Store) updateLocked(ref slab.Ref, p itemPtr, st uint32, now uint32) {
	if segOf(st) == Cold && st&stActive != 0 {
		c := s.lruOf(ref, st)
		c.mu.Lock()
		st = s.unqueueBumpLocked(s.shardOfState(st), ref, loadState(p)) &^ stActive
		setAtime(p, now)
		s.moveSegLocked(c, ref, p, st, Warm)
		c.movesToWarm++
		c.mu.Unlock()
		return
	}
	setAtime(p, now)
}

// combineLocked builds the item for append/prepend: old flags and exptime,
// old value followed (or preceded) by the new data.
func (s *Store) combineLocked(ref slab.Ref, p itemPtr, oref slab.Ref, op itemPtr, prepend bool, now uint32) (slab.Ref, Result) {
	st, ost := loadState(p), loadState(op)
	key := s.lay.key(op, ost)
	flags := s.lay.flags(op, ost)
	nv, ov := s.valueLen(p, st), s.valueLen(op, ost)
	if MemcachedItemSize(len(key), flags, nv+ov, !s.cfg.NoCAS) > s.cfg.ItemSizeMax {
		return 0, NotStored
	}
	nref, res := s.allocItem(hashKey(key), key, flags, getExp(op), nv+ov, now)
	if nref == 0 {
		if res == NoMemory || res == TooLarge {
			res = NotStored // memcached answers NOT_STORED when append cannot allocate
		}
		return 0, res
	}
	w := s.newValueWriter(s.ptr(nref))
	if prepend {
		s.copyValue(&w, p, st)
		s.copyValue(&w, op, ost)
	} else {
		s.copyValue(&w, op, ost)
		s.copyValue(&w, p, st)
	}
	return nref, Stored
}

// createLocked makes and links a new item under key with value (nil for
// empty), as vivify does. The shard lock is held. It returns 0 when memory
// cannot be had.
func (s *Store) createLocked(sh *shard, hv uint64, key []byte, flags uint32, exp uint32, value []byte, now uint32) slab.Ref {
	if len(key) == 0 || len(key) > KeyMaxLen {
		return 0
	}
	ref, _ := s.allocItem(hv, key, flags, exp, len(value), now)
	if ref == 0 {
		return 0
	}
	p := s.ptr(ref)
	if len(value) > 0 {
		w := s.newValueWriter(p)
		w.write(value)
	}
	s.lay.setCAS(p, s.nextCASLocked(sh))
	s.insertLocked(&sh.t, hv, ref)
	s.linkLocked(ref, p, now)
	return ref
}
