package lru

import (
	"encoding/binary"
	"math/bits"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/slabcache/slabcache/slab"
)

// The index: one open-addressed table per shard, swiss-table style, holding
// no Go pointers. A slot is a control byte (0x00 empty, 0x01 deleted,
// 0x80|7-bit hash tag when full) plus a 32-bit item Ref: 5 bytes a slot.
// Slots come in groups of 8 whose control bytes are tested together with
// SWAR. The home group is fastrange(low 32 hash bits, groups), so table
// sizes need not be powers of two; probing moves group by group. A table
// grows by 1/8 when it reaches 95% load, so the load stays between about
// 0.84 and 0.95 (5.3 to 6 bytes per item), and its size is rounded up to
// whole OS pages (the rounding becomes slots, not waste). Probing tests 8
// control bytes at a time, so even a miss at high load costs a few 8-byte
// loads; only tag matches (1 in 128 full slots) read item memory. Each shard grows
// on its own under its own lock: no global rehash ever; at a million items a
// shard's rebuild moves about 4,000 entries. Tables live in memory from slab.MapBytes (outside
// the Go heap), so the garbage collector has nothing to scan and freed
// tables go straight back to the OS.
//
// Key hash bits: top 16 = item tag (top 8 pick the shard), bits 41..47 =
// control tag, low 32 = home group.

const (
	groupSize = 8
	ctrlEmpty = 0x00
	ctrlDel   = 0x01
	lsbs      = 0x0101010101010101
	msbs      = 0x8080808080808080
	maxLoadN  = 19 // grow at 19/20 (95%) full
	maxLoadD  = 20
	slotBytes = 5
	osPage    = 4096
)

// roundGroups rounds a group count up so the table fills whole OS pages.
func roundGroups(n uint32) uint32 {
	bytes := (uint64(n)*groupSize*slotBytes + osPage - 1) / osPage * osPage
	return uint32(bytes / (groupSize * slotBytes))
}

type table struct {
	mem     []byte
	ctrl    []byte
	refs    []uint32
	ngroups uint32
	live    uint32
	tombs   uint32
}

func hashKey(key []byte) uint64 { return xxhash.Sum64(key) }

func ctrlTag(h uint64) byte   { return 0x80 | byte(h>>41)&0x7f }
func itemTag(h uint64) uint32 { return uint32(h >> 48) }
func homeGroup(h uint64, n uint32) uint32 {
	return uint32(uint64(uint32(h)) * uint64(n) >> 32)
}

func newTable(ngroups uint32) (table, error) {
	ngroups = roundGroups(max(ngroups, 1))
	n := int(ngroups) * groupSize
	mem, err := slab.MapBytes(n * slotBytes)
	if err != nil {
		return table{}, err
	}
	return table{
		mem:     mem,
		ctrl:    mem[:n:n],
		refs:    unsafe.Slice((*uint32)(unsafe.Pointer(&mem[n])), n),
		ngroups: ngroups,
	}, nil
}

func (t *table) free() {
	if t.mem != nil {
		_ = slab.UnmapBytes(t.mem)
	}
	*t = table{}
}

func (t *table) slots() int { return int(t.ngroups) * groupSize }

func (t *table) group(g uint32) uint64 {
	return binary.LittleEndian.Uint64(t.ctrl[g*groupSize : g*groupSize+groupSize])
}

// matchByte returns a mask with the high bit set in each byte of w equal to
// b. It may also flag a byte right after a true match; callers verify.
func matchByte(w uint64, b byte) uint64 {
	x := w ^ (lsbs * uint64(b))
	return (x - lsbs) &^ x & msbs
}

// hasEmpty reports whether the group has an empty slot.
func hasEmpty(w uint64) bool { return (w-lsbs)&^w&msbs != 0 }

// freeSlots marks empty and deleted slots (high bit clear).
func freeSlots(w uint64) uint64 { return ^w & msbs }

// find returns the slot holding the item with key, or -1. eq is called for
// slots whose control tag matches.
func (s *Store) findLocked(t *table, h uint64, key []byte) (int, slab.Ref) {
	ct := ctrlTag(h)
	tag := itemTag(h)
	g := homeGroup(h, t.ngroups)
	for probes := uint32(0); probes < t.ngroups; probes++ {
		w := t.group(g)
		for m := matchByte(w, ct); m != 0; m &= m - 1 {
			i := int(g)*groupSize + bits.TrailingZeros64(m)/8
			ref := slab.Ref(t.refs[i])
			if t.ctrl[i] != ct {
				continue
			}
			p := s.ptr(ref)
			st := loadState(p)
			if tagOf(st) == tag && getKlen(p) == len(key) && string(s.lay.key(p, st)) == string(key) {
				return i, ref
			}
		}
		if hasEmpty(w) {
			return -1, 0
		}
		if g++; g == t.ngroups {
			g = 0
		}
	}
	return -1, 0
}

// insertLocked adds ref under hash h; the key must not be present. It grows
// the table first when it is full enough.
func (s *Store) insertLocked(t *table, h uint64, ref slab.Ref) {
	if (t.live+t.tombs+1)*maxLoadD > uint32(t.slots())*maxLoadN {
		s.rehashLocked(t)
	}
	t.put(h, ref)
}

func (t *table) put(h uint64, ref slab.Ref) {
	g := homeGroup(h, t.ngroups)
	for {
		if m := freeSlots(t.group(g)); m != 0 {
			i := int(g)*groupSize + bits.TrailingZeros64(m)/8
			if t.ctrl[i] == ctrlDel {
				t.tombs--
			}
			t.ctrl[i] = ctrlTag(h)
			t.refs[i] = uint32(ref)
			t.live++
			return
		}
		if g++; g == t.ngroups {
			g = 0
		}
	}
}

// removeLocked empties slot i.
func (t *table) remove(i int) {
	g := uint32(i / groupSize)
	if hasEmpty(t.group(g)) {
		// No probe sequence ever passed this group: the slot can be empty.
		t.ctrl[i] = ctrlEmpty
	} else {
		t.ctrl[i] = ctrlDel
		t.tombs++
	}
	t.refs[i] = 0
	t.live--
}

// rehashLocked rebuilds t, 1.25x larger (or the same size when mostly
// tombstones). Keys are read from slab memory to recompute hashes.
func (s *Store) rehashLocked(t *table) {
	n := t.ngroups
	if t.tombs < t.live/4 {
		n = n + n/8 + 1
	}
	nt, err := newTable(n)
	if err != nil {
		panic("lru: cannot map index table: " + err.Error())
	}
	for i, c := range t.ctrl {
		if c&0x80 == 0 {
			continue
		}
		ref := slab.Ref(t.refs[i])
		p := s.ptr(ref)
		nt.put(hashKey(s.lay.key(p, loadState(p))), ref)
	}
	s.rehashes.Add(1)
	t.free()
	*t = nt
}
