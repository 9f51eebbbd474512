package lru

import (
	"sync/atomic"
	"unsafe"

	"github.com/slabcache/slabcache/slab"
)

// Item layout in a slab chunk. Every field sits at a named offset; the base
// header is hdrSize (24) bytes, memcached's is 48.
//
//	off  size  field        guarded by
//	 0    4    prev Ref     class LRU lock
//	 4    4    next Ref     class LRU lock
//	 8    4    state        see below; always read and written atomically
//	12    4    exptime      shard lock (relative seconds, 0 = never)
//	16    4    atime        shard lock (relative seconds of last access)
//	20    4    lens         klen (low 8 bits) | vlen<<8 (24 bits; chunked: 0)
//	24    8    CAS          shard lock; absent with -C (Config.NoCAS)
//	 .    4    client flags only when stHasFlags is set (flags != 0)
//	 .  klen   key          immutable while linked
//	 .  vlen   value        (chunked items: vlen u32, nchunks u32, Refs)
//
// The key has no trailing NUL and the value no trailing "\r\n".
//
// state bits: lifecycle (2), LRU segment (2), item bits, and the top 16 bits
// of the key hash (the tag), which name the shard without reading the key.
// state is written only by a holder of the item's shard lock (or by the sole
// owner of an unlinked chunk); lifecycle and segment changes also need the
// class LRU lock. So under the class lock alone, lifecycle and segment are
// stable, and a lock-free atomic load is enough to find an item's shard.
//
// A data chunk of a chunked (large) item has the head item's Ref at offset 0
// and the state word (lifecycle lcData) at offset 8; its data starts at
// dataHdr.
const (
	offPrev  = 0
	offNext  = 4
	offState = 8
	offExp   = 12
	offAtime = 16
	offLens  = 20
	offCAS   = 24
	hdrSize  = 24

	offDataHead = 0
	dataHdr     = 12

	// chunked item value area: total value length, chunk count, chunk refs.
	chunkTblHdr = 8
)

// Compile-time checks of the header layout.
var (
	_ [hdrSize - offLens - 4]struct{}
	_ [offLens + 4 - hdrSize]struct{}
	_ [offCAS - hdrSize]struct{}
	_ [hdrSize % 8]struct{} // CAS stays 8-byte aligned
	_ [(offState + 4) - dataHdr]struct{}
)

const (
	lcMask     = 3 << 0
	lcFree     = 0 // not an item (freed, or not yet written)
	lcReserved = 1 // allocated for a store in progress: not in index or LRU
	lcLinked   = 2 // in the index and an LRU list
	lcData     = 3 // data chunk of a chunked item

	segShift = 2
	segMask  = 3 << segShift

	stActive    = 1 << 4  // hit twice (memcached ITEM_ACTIVE)
	stFetched   = 1 << 5  // hit at least once (ITEM_FETCHED)
	stStale     = 1 << 6  // marked stale by meta invalidation (ITEM_STALE)
	stTokenSent = 1 << 7  // a client holds the recache win token (ITEM_TOKEN_SENT)
	stHasFlags  = 1 << 8  // a 4-byte client flags field follows the CAS
	stChunked   = 1 << 9  // value lives in data chunks (ITEM_CHUNKED)
	stBumpQ     = 1 << 10 // queued for an async COLD->WARM move
	stGivenCAS  = 1 << 11 // the CAS value was given by a client (E), not drawn from this store's counter
	stSpare     = 1 << 12 // lcFree: kept in its shard's spares for the next item (spare.go)
	stKeyBinary = 1 << 13 // stored by a meta command whose key came in base64 (ITEM_KEY_BINARY)

	tagShift = 16
)

// Segment is an LRU segment of a class.
type Segment uint8

// Segments, as memcached's HOT_LRU, WARM_LRU, COLD_LRU, TEMP_LRU.
const (
	Hot Segment = iota
	Warm
	Cold
	Temp
	numSegs
)

func (g Segment) String() string {
	return [...]string{"hot", "warm", "cold", "temp"}[g]
}

// maxSmallValue is the largest value length the 24-bit lens field holds.
const maxSmallValue = 1<<24 - 1

// itemPtr is the address of an item or data chunk in slab memory.
type itemPtr unsafe.Pointer

func u32(p itemPtr, off uintptr) *uint32 { return (*uint32)(unsafe.Add(unsafe.Pointer(p), off)) }
func u64(p itemPtr, off uintptr) *uint64 { return (*uint64)(unsafe.Add(unsafe.Pointer(p), off)) }

func getPrev(p itemPtr) slab.Ref     { return slab.Ref(*u32(p, offPrev)) }
func getNext(p itemPtr) slab.Ref     { return slab.Ref(*u32(p, offNext)) }
func setPrev(p itemPtr, r slab.Ref)  { *u32(p, offPrev) = uint32(r) }
func setNext(p itemPtr, r slab.Ref)  { *u32(p, offNext) = uint32(r) }
func loadState(p itemPtr) uint32     { return atomic.LoadUint32(u32(p, offState)) }
func storeState(p itemPtr, v uint32) { atomic.StoreUint32(u32(p, offState), v) }
func getExp(p itemPtr) uint32        { return *u32(p, offExp) }
func setExp(p itemPtr, v uint32)     { *u32(p, offExp) = v }
func getAtime(p itemPtr) uint32      { return atomic.LoadUint32(u32(p, offAtime)) }
func setAtime(p itemPtr, v uint32)   { atomic.StoreUint32(u32(p, offAtime), v) }
func getKlen(p itemPtr) int          { return int(*u32(p, offLens) & 0xff) }
func setLens(p itemPtr, klen, vlen int) {
	*u32(p, offLens) = uint32(klen) | uint32(vlen)<<8
}
func getSmallVlen(p itemPtr) int { return int(*u32(p, offLens) >> 8) }

func lifecycle(st uint32) uint32 { return st & lcMask }
func segOf(st uint32) Segment    { return Segment((st & segMask) >> segShift) }
func withSeg(st uint32, g Segment) uint32 {
	return st&^segMask | uint32(g)<<segShift
}
func tagOf(st uint32) uint32 { return st >> tagShift }

// layout describes where the optional parts of an item start, given the
// store's CAS setting.
type layout struct {
	casSize int // 8, or 0 with NoCAS
}

// flagsOff is the offset of the client flags (valid when stHasFlags is set).
func (l layout) flagsOff() uintptr { return uintptr(hdrSize + l.casSize) }

// keyOff is the offset of the key.
func (l layout) keyOff(st uint32) uintptr {
	o := uintptr(hdrSize + l.casSize)
	if st&stHasFlags != 0 {
		o += 4
	}
	return o
}

func (l layout) key(p itemPtr, st uint32) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(p), l.keyOff(st))), getKlen(p))
}

// valOff is the offset of the value (or the chunk table of a chunked item).
func (l layout) valOff(p itemPtr, st uint32) uintptr {
	return l.keyOff(st) + uintptr(getKlen(p))
}

func (l layout) cas(p itemPtr) uint64 {
	if l.casSize == 0 {
		return 0
	}
	return *u64(p, offCAS)
}

func (l layout) setCAS(p itemPtr, v uint64) {
	if l.casSize != 0 {
		*u64(p, offCAS) = v
	}
}

func (l layout) flags(p itemPtr, st uint32) uint32 {
	if st&stHasFlags == 0 {
		return 0
	}
	return *u32(p, l.flagsOff())
}

// headSize is the number of bytes of a head chunk before the value (or the
// chunk table): header, CAS, flags, key.
func (l layout) headSize(klen int, flags uint32) int {
	n := hdrSize + l.casSize + klen
	if flags != 0 {
		n += 4
	}
	return n
}

func bytesAt(p itemPtr, off uintptr, n int) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(p), off)), n)
}

// chunkTable is the value area of a chunked item (stChunked): the value's
// total length, the number of data chunks, then one slab.Ref per data
// chunk. Every full chunk holds dataCap value bytes after its dataHdr; the
// last holds the rest. All walks over a large item's chunks go through it.
type chunkTable struct {
	p       itemPtr
	vo      uintptr // offset of the table in the head chunk
	vlen    int
	n       int
	capFull int
}

// chunksOf returns the chunk table of the chunked item p in state st.
func (s *Store) chunksOf(p itemPtr, st uint32) chunkTable {
	vo := s.lay.valOff(p, st)
	return chunkTable{p: p, vo: vo, vlen: int(*u32(p, vo)), n: int(*u32(p, vo+4)), capFull: s.dataCap()}
}

// chunkCount is how many data chunks a value of vlen bytes needs.
func (s *Store) chunkCount(vlen int) int { return (vlen + s.dataCap() - 1) / s.dataCap() }

// initChunks writes an empty table for a value of vlen bytes at p's value
// offset and returns it.
func (s *Store) initChunks(p itemPtr, st uint32, vlen int) chunkTable {
	vo := s.lay.valOff(p, st)
	t := chunkTable{p: p, vo: vo, vlen: vlen, n: s.chunkCount(vlen), capFull: s.dataCap()}
	*u32(p, vo) = uint32(vlen)
	*u32(p, vo+4) = uint32(t.n)
	for j := 0; j < t.n; j++ {
		t.setRef(j, 0)
	}
	return t
}

// ref returns data chunk j (0 while a reservation has not allocated it).
func (t chunkTable) ref(j int) slab.Ref { return slab.Ref(*u32(t.p, t.vo+chunkTblHdr+uintptr(4*j))) }

func (t chunkTable) setRef(j int, r slab.Ref) { *u32(t.p, t.vo+chunkTblHdr+uintptr(4*j)) = uint32(r) }

// used returns how many value bytes data chunk j holds.
func (t chunkTable) used(j int) int {
	if j == t.n-1 {
		return t.vlen - t.capFull*(t.n-1)
	}
	return t.capFull
}

// tableBytes is the size of the table itself.
func (t chunkTable) tableBytes() int { return chunkTblHdr + 4*t.n }

// data returns the value bytes of chunk j, in slab memory (writable).
func (s *Store) chunkData(t chunkTable, j int) []byte {
	return bytesAt(s.ptr(t.ref(j)), dataHdr, t.used(j))
}

// valuePiece returns the i-th piece of item p's value: the whole value of a
// small item (i 0), chunk i of a chunked one; ok is false past the last.
// Reading and writing a value go through it: for i := 0; ; i++ { b, ok :=
// s.valuePiece(p, st, i) ... }.
func (s *Store) valuePiece(p itemPtr, st uint32, i int) (b []byte, ok bool) {
	if st&stChunked == 0 {
		if i > 0 {
			return nil, false
		}
		return bytesAt(p, s.lay.valOff(p, st), getSmallVlen(p)), true
	}
	t := s.chunksOf(p, st)
	if i >= t.n {
		return nil, false
	}
	return s.chunkData(t, i), true
}

// valueWriter copies a value into an allocated item piece by piece, in
// order, from the first byte.
type valueWriter struct {
	s     *Store
	p     itemPtr
	st    uint32
	cur   []byte // room left in the current piece
	piece int    // index of the next piece
}

func (s *Store) newValueWriter(p itemPtr) valueWriter {
	var w valueWriter
	w.reset(s, p)
	return w
}

// reset points w at the start of item p's value.
func (w *valueWriter) reset(s *Store, p itemPtr) {
	w.s, w.p, w.st = s, p, loadState(p)
	if w.st&stChunked == 0 {
		// A small item's value is one piece: ready at once.
		w.cur, w.piece = bytesAt(p, s.lay.valOff(p, w.st), getSmallVlen(p)), 1
		return
	}
	w.cur, w.piece = nil, 0
}

// write copies b into the value and returns how many bytes fit (less than
// len(b) only once the value is full).
func (w *valueWriter) write(b []byte) int {
	if len(b) <= len(w.cur) {
		n := copy(w.cur, b)
		w.cur = w.cur[n:]
		return n
	}
	total := 0
	for len(b) > 0 {
		if len(w.cur) == 0 {
			next, ok := w.s.valuePiece(w.p, w.st, w.piece)
			if !ok {
				break
			}
			w.cur = next
			w.piece++
		}
		n := copy(w.cur, b)
		w.cur = w.cur[n:]
		b = b[n:]
		total += n
	}
	return total
}

// copyValue writes the value of item p (state st) into w.
func (s *Store) copyValue(w *valueWriter, p itemPtr, st uint32) {
	for i := 0; ; i++ {
		b, ok := s.valuePiece(p, st, i)
		if !ok {
			return
		}
		w.write(b)
	}
}
