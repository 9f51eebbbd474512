package lru

import (
	"github.com/slabcache/slabcache/internal/clock"
	"github.com/slabcache/slabcache/slab"
)

// Hit receives a found item. The store calls Hit once per found item with
// the item's shard lock held, so the implementation must be quick and must
// not block, must not call any Store method (that would deadlock), and must
// not keep it or anything it points to after returning. It may call
// it.AppendValue to copy the value into its own buffer; that is the one
// copy of the value. Typically a connection's state implements Hit with a
// pointer receiver, so passing it costs no allocation.
type Hit interface {
	Hit(it *Item)
}

// Item is the view of a found item handed to Hit. Its fields describe the
// item as it was before this request changed anything (fetched bit, last
// access), except Exptime, which already includes a touch by this request.
type Item struct {
	Flags   uint32 // client flags
	Len     int    // value length in bytes
	CAS     uint64 // CAS value (0 with NoCAS)
	Exptime uint32 // relative expiry (0 = never); see TTL
	// PrevExptime is the expiry before this request's touch; 0 for an
	// item Vivify created (its expiry is set as it is made).
	PrevExptime uint32
	Created     bool    // made by this request's Vivify
	Now         uint32  // the clock's now for this request
	Atime       uint32  // relative time of last access; see Idle
	Fetched     bool    // the item had been fetched before this request (mg h)
	Stale       bool    // marked stale by an invalidation (mg X)
	Won         bool    // this request won the right to recache (mg W)
	TokenSent   bool    // another request already won (mg Z)
	KeyBinary   bool    // stored with a key sent in base64 (SetArgs.KeyBinary)
	GivenCAS    bool    // CAS was given (SetArgs.NewCAS: a client's E, a member's copy), not drawn by this store
	Class       int     // slab class of the item's head chunk
	Segment     Segment // LRU segment the item is in
	Size        int     // item size in bytes (header, key, value)

	s   *Store
	p   itemPtr
	st  uint32
	key []byte
}

// TTL returns the seconds left before the item expires, or -1 if it never
// does (mg t, ma t).
func (it *Item) TTL() int64 {
	if it.Exptime == 0 {
		return -1
	}
	return int64(it.Exptime) - int64(it.Now)
}

// Idle returns the seconds since the item was last accessed (mg l, me la).
func (it *Item) Idle() uint32 { return it.Now - it.Atime }

// Key returns the stored key; valid only during the Hit call.
func (it *Item) Key() []byte { return it.key }

// AppendValue appends the item's value to dst and returns the extended
// slice. It reads slab memory directly (one copy); large items are stitched
// from their chunks.
func (it *Item) AppendValue(dst []byte) []byte {
	return it.s.appendValue(dst, it.p, it.st)
}

func (s *Store) appendValue(dst []byte, p itemPtr, st uint32) []byte {
	if st&stChunked == 0 {
		return append(dst, bytesAt(p, s.lay.valOff(p, st), getSmallVlen(p))...)
	}
	for i := 0; ; i++ {
		b, ok := s.valuePiece(p, st, i)
		if !ok {
			return dst
		}
		dst = append(dst, b...)
	}
}

// GetArgs are the options of a read. The zero value is a plain get.
type GetArgs struct {
	// NoBump leaves the item as it was: no LRU bump, fetched bit and last
	// access unchanged (mg without bump, me).
	NoBump bool
	// Touch sets the expiry to Exptime (gat, gats, mg T).
	Touch   bool
	Exptime int64 // protocol exptime: 0 never, <0 expired, <=30 days relative, else Unix
	// Vivify creates an empty item (flags 0) on a miss, expiring as
	// VivifyExptime; the caller that created it wins (mg N).
	Vivify        bool
	VivifyExptime int64
	// VivifyLast: N came after T in the request, so an item Vivify creates
	// keeps VivifyExptime (memcached applies mg's flags in order).
	VivifyLast bool
	// Recache wins the recache token for the first caller that finds the
	// item's remaining TTL under RecacheExptime (mg R).
	Recache        bool
	RecacheExptime int64
	// RecacheAfterTouch: R came after T in the request, so it judges the
	// TTL T just set (memcached applies mg's flags in their order).
	RecacheAfterTouch bool
	// StaleWins: a stale item whose recache token nobody holds gives it to
	// this caller (mg, whose reply then carries W). Other reads (get, gat,
	// me) leave the token alone, as memcached's do.
	StaleWins bool
	// NewCAS is the CAS value for an item created by Vivify (mg E); 0
	// generates one unless HasNewCAS (E0: the item's CAS is 0, as in
	// memcached).
	NewCAS    uint64
	HasNewCAS bool
	// Disowned finds items of keys given up to another member (Disown)
	// too, and leaves such an item as it was, as NoBump does: a
	// member's read of what this node held (a warm-up fetch, a
	// hand-over). Every other read misses them and removes them.
	Disowned bool
}

// Get looks key up and, when found (or created by Vivify), calls h.Hit
// once with the shard lock held and returns Found with the item's class,
// segment, value length and whether Vivify created it. A miss returns
// NotFound without calling h. Expired and flushed items are reclaimed on the way
// (get_expired, get_flushed) and reported in Gone. Unless args.NoBump, a hit marks the item
// fetched; a second hit marks it active, which in COLD queues an async
// move to WARM. args may be nil.
func (s *Store) Get(key []byte, args *GetArgs, h Hit) (out Outcome) {
	var none GetArgs
	if args == nil {
		args = &none
	}
	hv := hashKey(key)
	sh := s.shardFor(hv)
	now := s.clk.Now()
	sh.mu.Lock()
	defer sh.mu.Unlock() // also if h.Hit panics
	s.countRead(sh, hv)
	ref, p, gone := s.lookupGoneLocked(sh, hv, key, now, args.Disowned)
	noBump := args.NoBump
	if args.Disowned && ref != 0 && s.disownedLocked(p, false) {
		noBump = true // its access time stays before the mark
	}
	created := false
	if ref == 0 {
		if !args.Vivify {
			return Outcome{Result: NotFound, Gone: gone}
		}
		ref = s.createLocked(sh, hv, key, 0, clock.Expiry(s.clk, args.VivifyExptime), nil, now)
		if ref == 0 {
			return Outcome{Result: NotFound, Gone: gone}
		}
		p = s.ptr(ref)
		created = true
		if args.NewCAS != 0 || args.HasNewCAS {
			s.assignCASLocked(sh, p, args.NewCAS, true)
		}
	}
	st := loadState(p)
	st0 := st
	won := created
	if args.Recache && st&stTokenSent == 0 && !created {
		e := getExp(p)
		if args.Touch && args.RecacheAfterTouch {
			e = clock.Expiry(s.clk, args.Exptime)
		}
		if e != 0 && e < clock.Expiry(s.clk, args.RecacheExptime) {
			won = true
		}
	}
	if args.StaleWins && st&stStale != 0 && st&stTokenSent == 0 {
		won = true
	}
	if won {
		st |= stTokenSent
	}
	prevExp := getExp(p)
	if created {
		prevExp = 0
	}
	if args.Touch && !(created && args.VivifyLast) {
		setExp(p, clock.Expiry(s.clk, args.Exptime))
	}
	// Field by field: a composite literal would be built on the stack and
	// copied (its loads straddle the stores just made to it).
	v := &sh.view
	v.Flags = s.lay.flags(p, st)
	v.Len = s.valueLen(p, st)
	v.CAS = s.lay.cas(p)
	v.Exptime = getExp(p)
	v.PrevExptime = prevExp
	v.Created = created
	v.Now = now
	v.Atime = getAtime(p)
	v.Fetched = st&stFetched != 0
	v.Stale = st&stStale != 0
	v.Won = won
	v.TokenSent = st0&stTokenSent != 0
	v.KeyBinary = st&stKeyBinary != 0
	v.GivenCAS = st&stGivenCAS != 0
	v.Class = s.lruClass(ref, st)
	v.Segment = segOf(st)
	v.Size = s.itemBytes(p, st)
	v.s = s
	v.p = p
	v.st = st
	v.key = s.lay.key(p, st)
	h.Hit(v)
	// Into the result itself: a literal would be copied to it on return.
	out.Result, out.Class, out.Segment, out.Len, out.Created, out.Gone = Found, v.Class, v.Segment, v.Len, created, gone
	v.p, v.key = nil, nil
	if !noBump {
		st = s.bumpLocked(sh, ref, p, st, now)
	}
	if st != st0 {
		storeState(p, st)
	}
	return out
}

// lookupLocked finds a live item: an expired or flushed one is removed and
// counted, and reads as a miss.
func (s *Store) lookupLocked(sh *shard, hv uint64, key []byte, now uint32) (slab.Ref, itemPtr) {
	ref, p, _ := s.lookupGoneLocked(sh, hv, key, now, false)
	return ref, p
}

// lookupGoneLocked is lookupLocked that also says why it missed. A
// disowned item (disown.go) is removed and misses as if absent, unless
// keepDisowned.
func (s *Store) lookupGoneLocked(sh *shard, hv uint64, key []byte, now uint32, keepDisowned bool) (slab.Ref, itemPtr, Gone) {
	i, ref := s.findLocked(&sh.t, hv, key)
	if ref == 0 {
		return 0, nil, Absent
	}
	p := s.ptr(ref)
	if s.flushAllLocked(sh, p, now) {
		sh.getFlushed++
		s.removeLocked(sh, i, ref, nil)
		return 0, nil, Flushed
	}
	if s.prefixFlushedLocked(p) {
		s.ns.reclaimed.Add(1)
		s.removeLocked(sh, i, ref, nil)
		return 0, nil, Flushed
	}
	if expired(p, now) {
		sh.getExpired++
		s.removeLocked(sh, i, ref, nil)
		return 0, nil, Expired
	}
	if !keepDisowned && s.dis.marks.Load() != nil && s.disownedGoneLocked(p, false) {
		s.removeLocked(sh, i, ref, nil)
		return 0, nil, Absent
	}
	return ref, p, Absent
}

// bumpLocked is memcached's do_item_bump: the first hit sets fetched, the
// second sets active; an item turning active bumps its access time, or in
// COLD is queued for the maintainer to move to WARM. It returns the new
// state (not yet stored).
func (s *Store) bumpLocked(sh *shard, ref slab.Ref, p itemPtr, st uint32, now uint32) uint32 {
	if s.flat.Load() {
		return s.bumpFlatLocked(ref, p, st|stFetched, now)
	}
	if st&stActive != 0 {
		return st
	}
	if st&stFetched == 0 {
		return st | stFetched
	}
	st |= stActive
	if segOf(st) != Cold {
		setAtime(p, now)
		return st
	}
	if st&stBumpQ == 0 && sh.nbump < bumpQLen {
		sh.bumpq[sh.nbump] = ref
		sh.nbump++
		if !sh.bumped.Load() {
			sh.bumped.Store(true)
		}
		st |= stBumpQ
	}
	return st
}

// Peek is Get with NoBump and no other option: it reports the item as it is
// without changing it (me, metaget without bump).
func (s *Store) Peek(key []byte, h Hit) Outcome {
	args := GetArgs{NoBump: true}
	return s.Get(key, &args, h)
}

// itemUpdateInterval is memcached's ITEM_UPDATE_INTERVAL: in flat mode an
// item moves to the head of its LRU at most once a minute.
const itemUpdateInterval = 60

// bumpFlatLocked is do_item_update in flat LRU mode: an item not bumped in
// the last minute moves to the head of its segment (taking the class lock
// on the read path, as memcached's flat mode does).
func (s *Store) bumpFlatLocked(ref slab.Ref, p itemPtr, st uint32, now uint32) uint32 {
	if getAtime(p)+itemUpdateInterval >= now {
		return st
	}
	setAtime(p, now)
	c := s.lruOf(ref, st)
	c.mu.Lock()
	st = loadState(p) | st&stFetched
	s.moveSegLocked(c, ref, p, st, segOf(st))
	c.mu.Unlock()
	return st
}

// SetLRUMode switches between memcached's segmented LRU (HOT, WARM, COLD;
// the default) and flat mode, where new items go straight to COLD, a hit
// moves an item to the head at most once a minute, and the maintainer
// drains HOT and WARM (`lru mode segmented|flat`).
func (s *Store) SetLRUMode(segmented bool) { s.flat.Store(!segmented) }
