package lru

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/slabcache/slabcache/internal/clock"
	"github.com/slabcache/slabcache/slab"
)

const (
	// CAS values are counter<<casShardBits | shard id, unique store-wide.
	casShardBits = 12
	bumpQLen     = 32
	// KeyMaxLen is the longest key, as memcached's KEY_MAX_LENGTH.
	KeyMaxLen = 250
)

// shard is one stripe of the index with its lock. Fields after mu are
// guarded by mu.
type shard struct {
	mu       sync.Mutex
	t        index
	id       uint32
	casNext  uint64 // CAS values of this shard are casNext<<casShardBits | id
	flushCAS uint64 // items with a smaller CAS were flushed (see flushedLocked)

	getExpired uint64
	getFlushed uint64

	nbump int
	bumpq [bumpQLen]slab.Ref
	// bumped is set when a move is queued and cleared when the maintainer
	// empties the queue; the maintainer reads it without mu to pass over
	// shards with nothing queued (most of them, at a pass a millisecond)
	// without taking their locks.
	bumped atomic.Bool
	freq   sketch // reads per key, with -o eviction=lfu (lfu.go)

	view Item // handed to Hit.Hit under mu

	// pins are the items whose memory a reader keeps past its Hit call
	// (pin.go); npins counts them.
	pins  [numPins]pin
	npins int

	// spares hold chunks that replaced items left, for the next item of
	// this shard (spare.go): put by a holder of mu, taken by compare and
	// swap without it.
	spares [numSpares]atomic.Uint64
	_      [64]byte
}

// lruClass holds the LRU lists and item counters of one slab class, or of
// one stripe of it (Config.LRUStripes): a class's statistics are the sums
// of its stripes'. Fields after mu are guarded by mu.
type lruClass struct {
	mu    sync.Mutex
	cls   int // the slab class
	head  [numSegs]slab.Ref
	tail  [numSegs]slab.Ref
	count [numSegs]uint64
	bytes [numSegs]uint64

	totalItems       uint64
	evicted          uint64
	evictedNonzero   uint64
	evictedTime      uint32
	evictedAt        uint32 // when the last eviction was (for ClassStats with stripes)
	evictedUnfetched uint64
	evictedActive    uint64
	outOfMemory      uint64
	reclaimed        uint64
	expiredUnfetched uint64
	crawlerReclaimed uint64
	crawlerChecked   uint64
	lrutailReflocked uint64
	movesToCold      uint64
	movesToWarm      uint64
	movesWithinLRU   uint64
	directReclaims   uint64
	_                [64]byte
}

// Store is the item store. Create it with New; call Start to run the
// background maintainer, crawler and page mover, and Close to stop them and
// free the memory. All methods are safe for concurrent use.
type Store struct {
	cfg  Config
	clk  clock.Clock
	slab *slab.Allocator
	lay  layout

	shards    []shard
	shardBits uint // log2(len(shards)): 8 up to 4 GiB of memory, one more per doubling, at most 12
	// classes holds each class's LRU stripes: class c, stripe k at
	// c<<stripeBits + k (lruAt). An item's stripe is the low bits of its
	// index shard's number, so the items of one shard share a stripe.
	classes    []lruClass
	stripeBits uint
	// sizes is the item size histogram (Config.TrackSizes, nil without
	// it): bucket i counts the linked items of memcached size
	// (MemcachedItemSize) in ((i-1)*32, i*32].
	sizes []atomic.Int32
	// chunkClass is the largest class, whose chunks hold a large item's
	// data; large items live in its LRU (see lruClass).
	chunkClass int

	oldestLive atomic.Uint32 // flush_all: items last accessed at or before this are invalid
	ns         nsState       // flush_prefix (namespace.go)
	dis        disownState   // keys given up to other members (disown.go)

	// runtime-tunable settings (lru tune, slabs automove, lru temp_ttl)
	hotPct, warmPct atomic.Int32
	hotMax, warmMax atomic.Uint64 // float64 bits
	tempTTL         atomic.Uint32
	flat            atomic.Bool // lru mode flat: one LRU (COLD) per class
	resetBase       statsBase   // counts at the last ResetStats (guarded by bg.mu)
	automove        atomic.Int32
	amWindow        atomic.Int32  // slab_automove_window
	amRatio         atomic.Uint64 // slab_automove_ratio, float64 bits
	toCrawl         atomic.Uint32 // lru_crawler_tocrawl (Config.CrawlerToCrawl)
	crawlerOff      atomic.Bool   // lru_crawler disable (or -o no_lru_crawler)
	migrations      atomic.Int32  // shards whose index is growing (index.go)
	rehashes        atomic.Uint64

	mover moverState
	crawl crawlerState
	bg    bgState

	restored  RestoreReport // what New did with Config.Restore (restart.go)
	hashPower atomic.Int32  // hash_power_level (Stats.HashPowerLevel)
	notesMu   sync.Mutex
	notes     map[string]string // SetRestartNote
}

// New builds a store from cfg (see Config) using clk for time. With
// Config.MemoryFile and Config.Restore it first tries to reopen the items a
// clean stop left in the file (restart.go); Restored tells how that went.
func New(cfg Config, clk clock.Clock) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if clk == nil {
		return nil, fmt.Errorf("%w: nil clock", ErrConfig)
	}
	if cfg.MemoryFile == "" || cfg.Restore == nil {
		return build(cfg, clk, false, 0)
	}
	return reopen(cfg, clk)
}

// build makes a store; reuse keeps the memory file's contents, and groups,
// when not 0, sizes each shard's index table (in groups of slots).
func build(cfg Config, clk clock.Clock, reuse bool, groups uint32) (*Store, error) {
	lay := layout{casSize: 8}
	if cfg.NoCAS {
		lay.casSize = 0
	}
	// Classes are sized as memcached sizes them (its 48-byte item header
	// plus -n), so that class ids and chunk sizes are memcached's: tools
	// and operators name classes by id (stats items, slabs reassign).
	minChunk := memcachedHeader + cfg.MinChunkSpace
	if minChunk < slab.MinChunkSize {
		minChunk = slab.MinChunkSize
	}
	sc := slab.Config{
		MemLimit:   cfg.MemoryLimit,
		MinChunk:   minChunk,
		Factor:     cfg.GrowthFactor,
		Sizes:      cfg.ClassSizes,
		ChunkMax:   cfg.SlabChunkMax,
		MemoryFile: cfg.MemoryFile,
		Reuse:      reuse,
		HugePages:  cfg.HugePages,
	}
	// Address space for the limit cache_memlimit may raise memory to, plus
	// one page per class: as in memcached, a class that holds no page gets
	// its first even when memory is full (slab.Allocator.Alloc).
	sc.MemReserve = min(max(cfg.MemoryLimitMax, cfg.MemoryLimit)+int64(len(slab.ClassSizes(sc)))*slab.PageSize, slab.MaxMemLimit)
	a, err := slab.New(sc)
	if err != nil {
		return nil, err
	}
	// More memory means more items per shard and longer (per-shard) index
	// rebuilds; more shards keep each rebuild to a few thousand entries.
	bits := uint(8)
	for lim := int64(4 << 30); bits < 12 && cfg.MemoryLimit > lim; lim *= 2 {
		bits++
	}
	s := &Store{cfg: cfg, clk: clk, slab: a, lay: lay, shards: make([]shard, 1<<bits), shardBits: bits}
	s.bg.wake = make(chan struct{}, 1)
	for cfg.LRUStripes>>s.stripeBits > 1 {
		s.stripeBits++
	}
	if cfg.TrackSizes {
		s.sizes = make([]atomic.Int32, cfg.ItemSizeMax/sizeStep+1)
	}
	s.classes = make([]lruClass, (slab.MaxClasses+1)<<s.stripeBits)
	for i := range s.classes {
		s.classes[i].cls = i >> s.stripeBits
	}
	s.chunkClass = a.NumClasses()
	perShard := uint32((uint64(1) << cfg.HashPower) >> bits / groupSize)
	if groups != 0 {
		perShard = groups
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.id = uint32(i)
		if cfg.LFU {
			sh.freq = newSketch(int(cfg.MemoryLimit/lfuBytes)>>bits, lfuPeriod*int(cfg.MemoryLimit/lfuBytes)>>bits)
		}
		sh.casNext = 1
		if sh.t.table, err = newTable(perShard); err != nil {
			s.freeTables()
			a.Close()
			return nil, err
		}
		sh.t.publish()
	}
	s.hashPower.Store(int32(cfg.HashPower))
	s.hotPct.Store(int32(cfg.HotLRUPct))
	s.warmPct.Store(int32(cfg.WarmLRUPct))
	s.hotMax.Store(f64bits(cfg.HotMaxFactor))
	s.warmMax.Store(f64bits(cfg.WarmMaxFactor))
	if cfg.TempLRU {
		s.tempTTL.Store(cfg.TemporaryTTL)
	}
	if cfg.SlabReassign {
		s.automove.Store(int32(cfg.SlabAutomove))
	}
	s.amWindow.Store(int32(cfg.SlabAutomoveWindow))
	s.amRatio.Store(math.Float64bits(cfg.SlabAutomoveRatio))
	s.toCrawl.Store(cfg.CrawlerToCrawl)
	s.crawlerOff.Store(!cfg.LRUCrawler)
	return s, nil
}

func (s *Store) freeTables() {
	for i := range s.shards {
		s.shards[i].t.free()
	}
}

// Close stops the background goroutines and releases all memory. The store
// must not be used afterwards.
func (s *Store) Close() error {
	s.Stop()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.t.free()
		sh.mu.Unlock()
	}
	return s.slab.Close()
}

// NumClasses returns the number of slab classes (class ids run from 1).
func (s *Store) NumClasses() int { return s.slab.NumClasses() }

// ClassGeometry returns the chunk size of class cls and how many chunks a
// page of it holds.
func (s *Store) ClassGeometry(cls int) (size, perPage int) {
	return s.slab.ChunkSize(cls), s.slab.ChunksPerPage(cls)
}

func (s *Store) ptr(r slab.Ref) itemPtr { return itemPtr(s.slab.Pointer(r)) }

func (s *Store) shardFor(h uint64) *shard { return &s.shards[h>>(64-s.shardBits)] }

func (s *Store) shardOfState(st uint32) *shard { return &s.shards[tagOf(st)>>(16-s.shardBits)] }

// classOf returns the slab class of the page chunk r is in.
func (s *Store) classOf(r slab.Ref) int { return s.slab.PageClass(r.Page()) }

// lruClass returns the class an item (head chunk ref, state st) belongs to:
// the LRU it is linked in and the class its statistics count in. That is
// its head chunk's class, except for a large (chunked) item, which belongs
// to the largest class as in memcached: its data chunks are there, so
// evicting from that class's tails frees chunks for other large items.
func (s *Store) lruClass(ref slab.Ref, st uint32) int {
	if st&stChunked != 0 {
		return s.chunkClass
	}
	return s.classOf(ref)
}

// stripes is the number of LRU stripes per class.
func (s *Store) stripes() int { return 1 << s.stripeBits }

// LRUStripes returns the number of LRU lists per class (Config.LRUStripes).
func (s *Store) LRUStripes() int { return s.stripes() }

// lruAt returns stripe k of class cls.
func (s *Store) lruAt(cls, k int) *lruClass { return &s.classes[cls<<s.stripeBits+k] }

// lruOf returns the LRU stripe an item (head chunk ref, state st) is
// linked in: its class's (lruClass), the stripe of its key's shard.
func (s *Store) lruOf(ref slab.Ref, st uint32) *lruClass {
	return s.lruAt(s.lruClass(ref, st), s.stripeOfState(st))
}

// stripeOfState is the LRU stripe of an item with state st, stripeOfHash
// that of a key hash: the low bits of the shard number (shardOfState,
// shardFor).
func (s *Store) stripeOfState(st uint32) int {
	return int(tagOf(st)>>(16-s.shardBits)) & (1<<s.stripeBits - 1)
}

func (s *Store) stripeOfHash(h uint64) int {
	return int(h>>(64-s.shardBits)) & (1<<s.stripeBits - 1)
}

// assignCASLocked gives item p (of shard sh) the CAS value a client gave
// (E), marked as such, or a new one from the shard's counter when given is
// 0. A prefix flush orders the items of its own second by CAS, which only
// the counter's values allow (nsTable.find).
func (s *Store) assignCASLocked(sh *shard, p itemPtr, given uint64, isGiven bool) {
	st := loadState(p) &^ stGivenCAS
	if !isGiven && given == 0 {
		s.lay.setCAS(p, s.nextCASLocked(sh))
	} else {
		s.lay.setCAS(p, given)
		st |= stGivenCAS
	}
	storeState(p, st)
}

// nextCASLocked returns a new CAS value for shard sh (0 with NoCAS).
func (s *Store) nextCASLocked(sh *shard) uint64 {
	if s.lay.casSize == 0 {
		return 0
	}
	c := sh.casNext<<casShardBits | uint64(sh.id)
	sh.casNext++
	return c
}

// --- sizes ---

// valueLen returns the value length of an item.
func (s *Store) valueLen(p itemPtr, st uint32) int {
	if st&stChunked != 0 {
		return int(*u32(p, s.lay.valOff(p, st)))
	}
	return getSmallVlen(p)
}

// headBytes is what the head chunk of an item uses (and what was passed to
// slab.Alloc for it).
func (s *Store) headBytes(p itemPtr, st uint32) int {
	n := int(s.lay.valOff(p, st))
	if st&stChunked != 0 {
		return n + s.chunksOf(p, st).tableBytes()
	}
	return n + getSmallVlen(p)
}

// itemBytes is an item's size for the bytes and mem_requested statistics:
// header, key and value.
func (s *Store) itemBytes(p itemPtr, st uint32) int {
	return int(s.lay.valOff(p, st)) + s.valueLen(p, st)
}

// dataCap is the value bytes a full data chunk holds.
func (s *Store) dataCap() int { return s.cfg.SlabChunkMax - dataHdr }

// --- expiry and flush ---

// flushedLocked reports whether item p was invalidated by flush_all or by
// a prefix flush (namespace.go).
func (s *Store) flushedLocked(sh *shard, p itemPtr, now uint32) bool {
	return s.flushAllLocked(sh, p, now) || s.prefixFlushedLocked(p)
}

func (s *Store) flushAllLocked(sh *shard, p itemPtr, now uint32) bool {
	ol := s.oldestLive.Load()
	if ol == 0 || ol > now {
		return false
	}
	if getAtime(p) <= ol {
		return true
	}
	return s.casFlushed(p, sh.flushCAS)
}

// casFlushed reports whether item p was stored before an immediate flush
// whose shard's CAS counter stood at flushCAS (0: none): stored earlier in
// the flush's second, which the time check cannot tell. A CAS a client
// gave (ms/mg E) says nothing about when the item was stored, so such an
// item goes by its time alone, as every item does in memcached 1.6.45.
func (s *Store) casFlushed(p itemPtr, flushCAS uint64) bool {
	c := s.lay.cas(p)
	return flushCAS != 0 && c != 0 && c < flushCAS && loadState(p)&stGivenCAS == 0
}

func expired(p itemPtr, now uint32) bool {
	e := getExp(p)
	return e != 0 && e <= now
}

// --- LRU lists (class lock held) ---

func (s *Store) lruLinkLocked(c *lruClass, ref slab.Ref, p itemPtr, g Segment, size int) {
	setPrev(p, 0)
	h := c.head[g]
	setNext(p, h)
	if h != 0 {
		setPrev(s.ptr(h), ref)
	} else {
		c.tail[g] = ref
	}
	c.head[g] = ref
	c.count[g]++
	c.bytes[g] += uint64(size)
}

func (s *Store) lruUnlinkLocked(c *lruClass, ref slab.Ref, p itemPtr, g Segment, size int) {
	prev, next := getPrev(p), getNext(p)
	if prev != 0 {
		setNext(s.ptr(prev), next)
	} else {
		c.head[g] = next
	}
	if next != 0 {
		setPrev(s.ptr(next), prev)
	} else {
		c.tail[g] = prev
		if prev != 0 {
			// The maintainer and evictions take the tail next: start
			// loading the item whose link that will rewrite (the new
			// tail's own header is in cache, it was just written).
			if pp := getPrev(s.ptr(prev)); pp != 0 {
				prefetch1(uintptr(s.ptr(pp)))
			}
		}
	}
	setPrev(p, 0)
	setNext(p, 0)
	c.count[g]--
	c.bytes[g] -= uint64(size)
}

// moveSegLocked moves a linked item to the head of segment to. Both the
// shard lock and the class lock are held.
func (s *Store) moveSegLocked(c *lruClass, ref slab.Ref, p itemPtr, st uint32, to Segment) uint32 {
	size := s.itemBytes(p, st)
	s.lruUnlinkLocked(c, ref, p, segOf(st), size)
	s.lruLinkLocked(c, ref, p, to, size)
	st = withSeg(st, to)
	storeState(p, st)
	return st
}

// segmentFor picks the segment a new item starts in.
func (s *Store) segmentFor(exp, now uint32) Segment {
	if t := s.tempTTL.Load(); t != 0 && exp != 0 && exp-now <= t {
		return Temp
	}
	if s.flat.Load() {
		return Cold
	}
	return Hot
}

// linkLocked puts a reserved item into the LRU of its class and marks it
// linked. The caller holds the shard lock and has put (or is about to put)
// ref into the index.
func (s *Store) linkLocked(ref slab.Ref, p itemPtr, now uint32) {
	c := s.lruOf(ref, loadState(p))
	c.mu.Lock()
	s.linkClassLocked(c, ref, p, now)
	c.mu.Unlock()
}

// linkClassLocked is linkLocked with the item's class lock held too.
func (s *Store) linkClassLocked(c *lruClass, ref slab.Ref, p itemPtr, now uint32) {
	st := loadState(p)
	g := s.segmentFor(getExp(p), now)
	s.lruLinkLocked(c, ref, p, g, s.itemBytes(p, st))
	c.totalItems++
	storeState(p, withSeg(st&^lcMask|lcLinked, g))
	if s.sizes != nil {
		s.countSize(p, st, 1)
	}
}

// sizeStep is the width of a size histogram bucket, as memcached's.
const sizeStep = 32

// countSize adds d to the histogram bucket of item p, as memcached's
// item_stats_sizes_add and _remove do on link and unlink.
func (s *Store) countSize(p itemPtr, st uint32, d int32) {
	n := MemcachedItemSize(len(s.lay.key(p, st)), s.lay.flags(p, st), s.valueLen(p, st), !s.cfg.NoCAS)
	if b := (n + sizeStep - 1) / sizeStep; b < len(s.sizes) {
		s.sizes[b].Add(d)
	}
}

// SizeHistogram calls fn for each nonzero bucket of the item size
// histogram, smallest first: size is the bucket's upper bound (memcached's
// label: the item sizes rounded up to a multiple of 32), count the items
// in it. It returns false, calling nothing, when the store does not track
// sizes (Config.TrackSizes).
func (s *Store) SizeHistogram(fn func(size int, count uint32)) bool {
	if s.sizes == nil {
		return false
	}
	for i := range s.sizes {
		if n := s.sizes[i].Load(); n != 0 {
			fn(i*sizeStep, uint32(n))
		}
	}
	return true
}

// unlinkLRU takes a linked item out of its class's LRU and marks it free
// of the lists (lifecycle lcReserved: owned by the caller, not findable).
// The caller holds the shard lock; the class lock is taken here unless
// classLocked is the item's class.
func (s *Store) unlinkLRU(ref slab.Ref, p itemPtr, classLocked *lruClass) {
	c := s.lruOf(ref, loadState(p))
	if c != classLocked {
		c.mu.Lock()
	}
	st := loadState(p)
	s.lruUnlinkLocked(c, ref, p, segOf(st), s.itemBytes(p, st))
	if s.sizes != nil {
		s.countSize(p, st, -1)
	}
	if st&stBumpQ != 0 {
		s.dropBumpLocked(s.shardOfState(st), ref)
	}
	storeState(p, st&^(lcMask|stBumpQ)|lcReserved)
	if c != classLocked {
		c.mu.Unlock()
	}
}

// removeLocked unlinks the item in index slot i of sh from the index and
// its LRU and frees its memory. classLocked is the class whose lock the
// caller holds, if any.
func (s *Store) removeLocked(sh *shard, i int, ref slab.Ref, classLocked *lruClass) {
	if p := s.ptr(ref); s.detachLocked(sh, i, ref, p, classLocked) {
		s.freeItem(ref, p)
	}
}

// detachLocked takes the item in index slot i of sh out of the index and
// its LRU (lifecycle reserved) and reports whether its memory is the
// caller's now: false when a reader still holds it, which frees it when
// it lets go (doomLocked).
func (s *Store) detachLocked(sh *shard, i int, ref slab.Ref, p itemPtr, classLocked *lruClass) bool {
	sh.t.remove(i)
	s.unlinkLRU(ref, p, classLocked)
	return !s.doomLocked(sh, ref)
}

// freeItem returns an unlinked (or reserved) item's chunks to the slab.
func (s *Store) freeItem(ref slab.Ref, p itemPtr) {
	st := loadState(p)
	if st&stChunked != 0 {
		t := s.chunksOf(p, st)
		for j := 0; j < t.n; j++ {
			d := t.ref(j)
			if d == 0 {
				continue // a reservation that failed part way
			}
			storeState(s.ptr(d), lcFree)
			s.slab.Free(d)
		}
	}
	storeState(p, lcFree)
	s.slab.Free(ref)
}

// --- allocation ---

// allocChunk returns a chunk of class cls for n bytes, reclaiming or
// evicting from the tails of cls when memory is full (memcached's
// do_item_alloc_pull). Large items belong to the largest class
// (lruClass), so allocating their data chunks evicts large items. With
// several LRU stripes it pulls from stripe k (the stored key's) and turns
// to the others only when k has nothing to give. It returns NoMemory when
// nothing can be freed (always so with NoEvict and no expired items at the
// tails).
func (s *Store) allocChunk(cls, k int) (slab.Ref, Result) {
	c := s.lruAt(cls, k)
	for i := 0; i < 10; i++ {
		if s.flat.Load() {
			// As memcached in flat mode: reclaim an expired or flushed
			// tail item before allocating.
			s.pullTail(c, Cold, 0, 0, 0)
		}
		ref, err := s.slab.Alloc(cls)
		if err == nil {
			return ref, 0
		}
		var kept slab.Ref
		if !s.pullForAlloc(cls, k, &kept) {
			break
		}
		if kept != 0 {
			return kept, 0
		}
	}
	c.mu.Lock()
	c.outOfMemory++
	c.mu.Unlock()
	return 0, NoMemory
}

// pullForAlloc is one step of allocChunk's pulls: evict (or reclaim) the
// COLD tail, else move HOT's tail on, else WARM's, in stripe k of class
// cls, or when that stripe has nothing to give, in the next that has. It
// reports whether anything was freed or moved; an evicted item's chunk
// may come back in *kept (pullTailKeep).
func (s *Store) pullForAlloc(cls, k int, kept *slab.Ref) bool {
	for j := range s.stripes() {
		c := s.lruAt(cls, (k+j)&(s.stripes()-1))
		if s.pullTailKeep(c, Cold, pullEvict, 0, 0, kept) > 0 || s.cfg.LFU && !s.cfg.NoEvict && s.evictLFU(c) > 0 {
			c.mu.Lock()
			c.directReclaims++
			c.mu.Unlock()
			return true
		}
		if s.pullTail(c, Hot, 0, 0, 0) > 0 || s.pullTail(c, Warm, 0, 0, 0) > 0 {
			return true
		}
	}
	return false
}
