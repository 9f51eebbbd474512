package lru

import (
	"unsafe"

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
	Found                        // incr/decr applied (the reply is the number)
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
	// NewCAS is the CAS value to give the stored item (ms E); 0 generates one.
	NewCAS uint64
	// Invalidate (ms I): a CAS store whose CAS is older than the item's
	// stores the value anyway but marked stale, keeping the old TTL.
	Invalidate bool
	// Vivify (ms N in append/prepend mode) stores the value as a new item
	// on a miss, expiring as VivifyExptime.
	Vivify        bool
	VivifyExptime int64
}

// SetResult is what a store returns.
type SetResult struct {
	Result Result
	CAS    uint64 // CAS of the stored item (Stored only)
	Class  int    // slab class the item went to (for per-class stats), or of the old item
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
	// write cursor into the value area
	cur     unsafe.Pointer
	curLeft int
	chunkJ  int
}

// Active reports whether r holds memory (between Reserve and Commit/Abort).
func (r *Reservation) Active() bool { return r.ref != 0 }

// Remaining returns how many value bytes Write still expects.
func (r *Reservation) Remaining() int { return r.vlen - r.written }

// Reserve allocates an item for key with a value of vlen bytes, evicting
// if needed. It returns Stored on success (r is then active), TooLarge when
// the item is over ItemSizeMax, NoMemory when nothing can be freed, BadKey
// for an empty or over-long key. After TooLarge or NoMemory on a set,
// memcached removes the old item under the key: call Delete for that.
func (s *Store) Reserve(r *Reservation, key []byte, flags uint32, exptime int64, vlen int) Result {
	*r = Reservation{}
	if len(key) == 0 || len(key) > KeyMaxLen {
		return BadKey
	}
	if vlen < 0 || memcachedItemSize(len(key), flags, vlen, !s.cfg.NoCAS) > s.cfg.ItemSizeMax {
		return TooLarge
	}
	hv := hashKey(key)
	ref, res := s.allocItem(hv, key, flags, clock.Expiry(s.clk, exptime), vlen, s.clk.Now())
	if ref == 0 {
		return res
	}
	p := s.ptr(ref)
	*r = Reservation{s: s, ref: ref, p: p, hv: hv, vlen: vlen}
	st := loadState(p)
	if st&stChunked == 0 {
		r.cur = unsafe.Add(unsafe.Pointer(p), s.lay.valOff(p, st))
		r.curLeft = vlen
	}
	return Stored
}

// allocItem allocates and fills an unlinked item (lifecycle reserved) with
// header, key and, for a large value, its data chunks. The value bytes are
// left for the caller to write.
func (s *Store) allocItem(hv uint64, key []byte, flags uint32, exp uint32, vlen int, now uint32) (slab.Ref, Result) {
	head := s.lay.headSize(len(key), flags)
	chunked := head+vlen > s.cfg.SlabChunkMax
	var nchunks int
	n := head + vlen
	if chunked {
		nchunks = (vlen + s.dataCap() - 1) / s.dataCap()
		n = head + chunkTblHdr + 4*nchunks
	}
	cls := s.slab.ClassFor(n)
	if cls == 0 {
		return 0, TooLarge
	}
	ref, res := s.allocChunk(cls, n, 0)
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
		vo := s.lay.valOff(p, st)
		*u32(p, vo) = uint32(vlen)
		*u32(p, vo+4) = uint32(nchunks)
		tbl := vo + chunkTblHdr
		for j := 0; j < nchunks; j++ {
			*u32(p, tbl+uintptr(4*j)) = 0
		}
		capFull := s.dataCap()
		for j := 0; j < nchunks; j++ {
			used := capFull
			if j == nchunks-1 {
				used = vlen - capFull*j
			}
			dcls := s.slab.ClassFor(dataHdr + used)
			d, res := s.allocChunk(dcls, dataHdr+used, cls)
			if d == 0 {
				s.freeItem(ref, p)
				return 0, res
			}
			dp := s.ptr(d)
			*u32(dp, offDataHead) = uint32(ref)
			storeState(dp, lcData|itemTag(hv)<<tagShift)
			*u32(p, tbl+uintptr(4*j)) = uint32(d)
		}
	}
	return ref, Stored
}

// Write copies the next piece of the value into the item and returns how
// many bytes it took (less than len(b) only when the value is complete).
func (r *Reservation) Write(b []byte) int {
	total := 0
	for len(b) > 0 && r.written < r.vlen {
		if r.curLeft == 0 {
			r.nextChunk()
		}
		n := copy(unsafe.Slice((*byte)(r.cur), r.curLeft), b)
		r.cur = unsafe.Add(r.cur, n)
		r.curLeft -= n
		r.written += n
		total += n
		b = b[n:]
	}
	return total
}

func (r *Reservation) nextChunk() {
	s := r.s
	st := loadState(r.p)
	vo := s.lay.valOff(r.p, st)
	n := int(*u32(r.p, vo+4))
	d := slab.Ref(*u32(r.p, vo+chunkTblHdr+uintptr(4*r.chunkJ)))
	used := s.dataCap()
	if r.chunkJ == n-1 {
		used = r.vlen - s.dataCap()*(n-1)
	}
	r.chunkJ++
	r.cur = unsafe.Add(unsafe.Pointer(s.ptr(d)), dataHdr)
	r.curLeft = used
}

// Abort releases a reservation's memory. Calling it on an inactive
// reservation does nothing.
func (s *Store) Abort(r *Reservation) {
	if r.ref == 0 {
		return
	}
	s.freeItem(r.ref, r.p)
	*r = Reservation{}
}

// Set stores value under key in one call: Reserve, Write, Commit.
func (s *Store) Set(key []byte, flags uint32, exptime int64, value []byte, args *SetArgs) SetResult {
	var r Reservation
	if res := s.Reserve(&r, key, flags, exptime, len(value)); res != Stored {
		return SetResult{Result: res}
	}
	r.Write(value)
	return s.Commit(&r, args)
}

// Commit publishes a filled reservation according to args (nil is a plain
// set), as memcached's do_store_item, and releases r. Commit panics if the
// value is incomplete.
func (s *Store) Commit(r *Reservation, args *SetArgs) SetResult {
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
	*r = Reservation{}
	sh := s.shardFor(hv)
	now := s.clk.Now()
	st := loadState(p)
	key := s.lay.key(p, st)
	cls := s.classOf(ref)

	// As memcached's process_mset_command: a CAS value upgrades set and
	// replace to a CAS store.
	mode := args.Mode
	if args.CAS != 0 && (mode == ModeSet || mode == ModeReplace) {
		mode = ModeCAS
	}
	sh.mu.Lock()
	oref, op := s.lookupLocked(sh, hv, key, now)
	res := SetResult{Result: NotStored, Class: cls}
	store := false
	if oref != 0 {
		res.Class = s.classOf(oref)
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
		case args.CAS == 0:
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
			cls = s.classOf(ref)
			store = true
		default: // set, replace
			store = true
		}
		if store {
			c := args.NewCAS
			if c == 0 {
				c = s.nextCASLocked(sh)
			}
			s.lay.setCAS(p, c)
			s.replaceLocked(sh, hv, key, oref, op, ref, p, now)
			res = SetResult{Result: Stored, CAS: s.lay.cas(p), Class: cls}
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
			c := args.NewCAS
			if c == 0 {
				c = s.nextCASLocked(sh)
			}
			s.lay.setCAS(p, c)
			s.insertLocked(&sh.t, hv, ref)
			s.linkLocked(ref, p, now)
			res = SetResult{Result: Stored, CAS: s.lay.cas(p), Class: cls}
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
	i, r := s.findLocked(&sh.t, hv, key)
	if r != oref {
		panic("lru: replaced item not in the index")
	}
	sh.t.setRef(i, ref)
	if cls := s.classOf(ref); cls == s.classOf(oref) {
		// One class lock for both list changes (the common overwrite).
		c := &s.classes[cls]
		c.mu.Lock()
		s.unlinkLRU(oref, op, c)
		s.linkClassLocked(c, ref, p, now)
		c.mu.Unlock()
	} else {
		s.unlinkLRU(oref, op, nil)
		s.linkLocked(ref, p, now)
	}
	s.freeItem(oref, op)
}

// updateLocked is memcached's do_item_update for an item that was hit by a
// command other than a read (add on an existing key, touch, incr): bump the
// access time and, for an active COLD item, move it to WARM.
func (s *Store) updateLocked(ref slab.Ref, p itemPtr, st uint32, now uint32) {
	if segOf(st) == Cold && st&stActive != 0 {
		c := &s.classes[s.classOf(ref)]
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
	if memcachedItemSize(len(key), flags, nv+ov, !s.cfg.NoCAS) > s.cfg.ItemSizeMax {
		return 0, NotStored
	}
	nref, res := s.allocItem(hashKey(key), key, flags, getExp(op), nv+ov, now)
	if nref == 0 {
		if res == NoMemory || res == TooLarge {
			res = NotStored // memcached answers NOT_STORED when append cannot allocate
		}
		return 0, res
	}
	w := valueWriter{s: s, p: s.ptr(nref)}
	w.init()
	if prepend {
		s.copyValue(&w, p, st)
		s.copyValue(&w, op, ost)
	} else {
		s.copyValue(&w, op, ost)
		s.copyValue(&w, p, st)
	}
	return nref, Stored
}

// valueWriter writes a value sequentially into an allocated item.
type valueWriter struct {
	s *Store
	p itemPtr
	r Reservation
}

func (w *valueWriter) init() {
	st := loadState(w.p)
	w.r = Reservation{s: w.s, p: w.p, vlen: w.s.valueLen(w.p, st), ref: 1}
	if st&stChunked == 0 {
		w.r.cur = unsafe.Add(unsafe.Pointer(w.p), w.s.lay.valOff(w.p, st))
		w.r.curLeft = w.r.vlen
	}
}

func (w *valueWriter) write(b []byte) { w.r.Write(b) }

// copyValue writes the value of item p into w, piece by piece.
func (s *Store) copyValue(w *valueWriter, p itemPtr, st uint32) {
	vo := s.lay.valOff(p, st)
	if st&stChunked == 0 {
		w.write(bytesAt(p, vo, getSmallVlen(p)))
		return
	}
	vlen := int(*u32(p, vo))
	n := int(*u32(p, vo+4))
	capFull := s.dataCap()
	for j := 0; j < n; j++ {
		d := slab.Ref(*u32(p, vo+chunkTblHdr+uintptr(4*j)))
		used := capFull
		if j == n-1 {
			used = vlen - capFull*(n-1)
		}
		w.write(bytesAt(s.ptr(d), dataHdr, used))
	}
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
		w := valueWriter{s: s, p: p}
		w.init()
		w.write(value)
	}
	s.lay.setCAS(p, s.nextCASLocked(sh))
	s.insertLocked(&sh.t, hv, ref)
	s.linkLocked(ref, p, now)
	return ref
}
