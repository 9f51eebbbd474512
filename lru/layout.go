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
