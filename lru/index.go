package lru

import (
	"encoding/binary"
	"math/bits"
	"sync/atomic"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/slabcache/slabcache/slab"
)

// The index: one open-addressed table per shard, swiss-table style, holding
// no Go pointers. A slot is a control byte (0x00 empty, 0x01 deleted,
// 0x80|7-bit hash tag when full) plus a 32-bit item Ref: 5 bytes a slot.
// Slots come in groups of 8 whose control bytes are tested together with
// SWAR; a group is 40 bytes, its 8 control bytes followed by its 8 refs,
// so a lookup usually finds the ref it matched in the cache line it
// loaded for the control bytes (separate arrays cost a second miss). The
// home group is fastrange(low 32 hash bits, groups), so table sizes need
// not be powers of two; probing moves group by group. A table
// grows by 1/8 when it reaches 95% load, so the load stays between about
// 0.84 and 0.95 (5.3 to 6 bytes per item), and its size is rounded up to
// whole OS pages (the rounding becomes slots, not waste). Probing tests 8
// control bytes at a time, so even a miss at high load costs a few 8-byte
// loads; only tag matches (1 in 128 full slots) read item memory. Each shard grows
// on its own under its own lock, and incrementally: growing allocates the
// larger table and keeps the old one; every later insert into the shard
// first moves migrateGroups groups of the old table into the new one, and
// lookups probe the new table, then the old one, until the old one is empty
// and freed. No request ever waits for a whole table to be rehashed. Tables
// live in memory from slab.MapBytes (outside the Go heap), so the garbage
// collector has nothing to scan and freed tables go straight back to the OS.
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
	// groupBytes is a group's size in the table: 8 control bytes, then
	// 8 refs.
	groupBytes = groupSize * slotBytes
	osPage     = 4096

	// migrateGroups is how many old-table groups each insert moves while
	// a shard's table grows. A table grows at 95% load (live + deleted +
	// not yet migrated entries) to 9/8 of its size, so the next growth is
	// due after about 0.95*(9/8 - 1) = 0.12 S inserts (S: old slots),
	// while migrating all S/8 groups at 4 per insert takes S/32 = 0.03 S:
	// the migration ends long before the new table fills. If deletions
	// and tombstones ever make it fill first, insertLocked finishes the
	// migration at once before growing again (counted in
	// Stats.HashExpansions like any growth).
	migrateGroups = 4
	// oldSlot marks a slot index that refers to the old table.
	oldSlot = 1 << 40
)

// roundGroups rounds a group count up so the table fills whole OS pages.
func roundGroups(n uint32) uint32 {
	bytes := (uint64(n)*groupBytes + osPage - 1) / osPage * osPage
	return uint32(bytes / groupBytes)
}

type table struct {
	mem     []byte // ngroups groups of groupBytes
	ngroups uint32
	live    uint32
	tombs   uint32
}

// index is one shard's index: the current table and, while it grows, the
// previous one, whose groups from next on still hold entries to migrate.
type index struct {
	table       // current
	old   table // being migrated into the current one; old.mem == nil when not
	next  uint32

	// Where the current table is, for PrefetchIndex, which reads it
	// without the shard lock: written under the lock whenever the current
	// table changes. A reader may see one field from before a change and
	// one from after; the worst that does is a prefetch of a useless
	// address, which never faults.
	hintMem    atomic.Uintptr
	hintGroups atomic.Uint32
}

// publish records the current table's place for PrefetchIndex.
func (ix *index) publish() {
	var base uintptr
	if ix.mem != nil {
		base = uintptr(unsafe.Pointer(&ix.mem[0]))
	}
	ix.hintMem.Store(base)
	ix.hintGroups.Store(ix.ngroups)
}

func (ix *index) migrating() bool { return ix.old.mem != nil }

// free unmaps both tables.
func (ix *index) free() {
	ix.table.free()
	ix.old.free()
	ix.next = 0
	ix.publish()
}

// memSlots counts the slots mapped, both tables (hash_bytes).
func (ix *index) memSlots() int {
	n := ix.slots()
	if ix.migrating() {
		n += ix.old.slots()
	}
	return n
}

// setRef points slot i (as returned by findLocked) at ref.
func (ix *index) setRef(i int, ref slab.Ref) {
	if i&oldSlot != 0 {
		ix.old.setRef(i&^oldSlot, ref)
		return
	}
	ix.table.setRef(i, ref)
}

// remove empties slot i (as returned by findLocked).
func (ix *index) remove(i int) {
	if i&oldSlot != 0 {
		ix.old.remove(i &^ oldSlot)
		return
	}
	ix.table.remove(i)
}

func hashKey(key []byte) uint64 { return xxhash.Sum64(key) }

func ctrlTag(h uint64) byte   { return 0x80 | byte(h>>41)&0x7f }
func itemTag(h uint64) uint32 { return uint32(h >> 48) }
func homeGroup(h uint64, n uint32) uint32 {
	return uint32(uint64(uint32(h)) * uint64(n) >> 32)
}

func newTable(ngroups uint32) (table, error) {
	ngroups = roundGroups(max(ngroups, 1))
	mem, err := slab.MapBytes(int(ngroups) * groupBytes)
	if err != nil {
		return table{}, err
	}
	return table{mem: mem, ngroups: ngroups}, nil
}

func (t *table) free() {
	if t.mem != nil {
		_ = slab.UnmapBytes(t.mem)
	}
	*t = table{}
}

func (t *table) slots() int { return int(t.ngroups) * groupSize }

// groupAt returns group g's bytes: 8 control bytes, then 8 refs.
func (t *table) groupAt(g uint32) []byte {
	o := int(g) * groupBytes
	return t.mem[o : o+groupBytes : o+groupBytes]
}

// group returns group g's 8 control bytes, slot 0 in the low byte.
func (t *table) group(g uint32) uint64 { return binary.LittleEndian.Uint64(t.groupAt(g)) }

// groupRef is the ref of slot j of a group from groupAt.
func groupRef(grp []byte, j int) slab.Ref {
	return slab.Ref(binary.LittleEndian.Uint32(grp[groupSize+j*4:]))
}

// ctrlOff and refOff are where slot i's control byte and ref are in mem.
func ctrlOff(i int) int { return i/groupSize*groupBytes + i%groupSize }
func refOff(i int) int  { return i/groupSize*groupBytes + groupSize + i%groupSize*4 }

func (t *table) ctrl(i int) byte       { return t.mem[ctrlOff(i)] }
func (t *table) setCtrl(i int, b byte) { t.mem[ctrlOff(i)] = b }
func (t *table) ref(i int) slab.Ref    { return slab.Ref(binary.LittleEndian.Uint32(t.mem[refOff(i):])) }
func (t *table) setRef(i int, ref slab.Ref) {
	binary.LittleEndian.PutUint32(t.mem[refOff(i):], uint32(ref))
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

// findLocked returns the slot holding the item with key (in the old table
// while a migration is on: then the slot has oldSlot set), or -1.
func (s *Store) findLocked(ix *index, h uint64, key []byte) (int, slab.Ref) {
	if i, ref := s.findIn(&ix.table, h, key); i >= 0 {
		return i, ref
	}
	if ix.migrating() {
		if i, ref := s.findIn(&ix.old, h, key); i >= 0 {
			return i | oldSlot, ref
		}
	}
	return -1, 0
}

// findIn returns the slot of t holding the item with key, or -1.
func (s *Store) findIn(t *table, h uint64, key []byte) (int, slab.Ref) {
	ct := ctrlTag(h)
	tag := itemTag(h)
	g := homeGroup(h, t.ngroups)
	for probes := uint32(0); probes < t.ngroups; probes++ {
		grp := t.groupAt(g)
		w := binary.LittleEndian.Uint64(grp)
		for m := matchByte(w, ct); m != 0; m &= m - 1 {
			j := bits.TrailingZeros64(m) / 8
			if grp[j] != ct {
				continue
			}
			ref := groupRef(grp, j)
			p := s.ptr(ref)
			st := loadState(p)
			if tagOf(st) == tag && getKlen(p) == len(key) && string(s.lay.key(p, st)) == string(key) {
				return int(g)*groupSize + j, ref
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

// insertLocked adds ref under hash h; the key must not be present. While
// the index grows it first migrates a few old groups; when the current
// table is full enough it starts growing it. The invariant behind it:
// current live + current deleted + old entries still to migrate stay at
// most 95% of the current table, so migrated entries always find a slot.
func (s *Store) insertLocked(ix *index, h uint64, ref slab.Ref) {
	if ix.migrating() {
		s.migrateLocked(ix, migrateGroups)
	}
	if (ix.live+ix.tombs+ix.old.live+1)*maxLoadD > uint32(ix.slots())*maxLoadN {
		if ix.migrating() {
			s.migrateLocked(ix, ix.old.ngroups) // finish it first
		}
		s.growLocked(ix)
		s.migrateLocked(ix, migrateGroups)
	}
	ix.put(h, ref)
}

func (t *table) put(h uint64, ref slab.Ref) {
	g := homeGroup(h, t.ngroups)
	for {
		if m := freeSlots(t.group(g)); m != 0 {
			i := int(g)*groupSize + bits.TrailingZeros64(m)/8
			if t.ctrl(i) == ctrlDel {
				t.tombs--
			}
			t.setCtrl(i, ctrlTag(h))
			t.setRef(i, ref)
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
		t.setCtrl(i, ctrlEmpty)
	} else {
		t.setCtrl(i, ctrlDel)
		t.tombs++
	}
	t.setRef(i, 0)
	t.live--
}

// growLocked starts a migration: the current table becomes the old one
// and a new table, 9/8 larger (or the same size when a quarter of its
// slots are tombstones), becomes current. No entry moves yet.
func (s *Store) growLocked(ix *index) {
	n := ix.ngroups
	if ix.tombs < ix.live/4 {
		n = n + n/8 + 1
	}
	nt, err := newTable(n)
	if err != nil {
		panic("lru: cannot map index table: " + err.Error())
	}
	ix.old = ix.table
	ix.table = nt
	ix.next = 0
	ix.publish()
	s.rehashes.Add(1)
	s.migrations.Add(1)
}

// migrateLocked moves the entries of up to groups old groups into the
// current table (keys are read from slab memory to recompute hashes), and
// frees the old table once it is empty.
func (s *Store) migrateLocked(ix *index, groups uint32) {
	old := &ix.old
	end := min(ix.next+groups, old.ngroups)
	for g := ix.next; g < end; g++ {
		for i := int(g) * groupSize; i < int(g+1)*groupSize; i++ {
			if old.ctrl(i)&0x80 == 0 {
				continue
			}
			ref := old.ref(i)
			p := s.ptr(ref)
			ix.put(hashKey(s.lay.key(p, loadState(p))), ref)
			// A tombstone keeps the probe sequences of the old
			// entries not yet moved intact.
			old.setCtrl(i, ctrlDel)
			old.setRef(i, 0)
			old.live--
			old.tombs++
		}
	}
	ix.next = end
	if ix.next == old.ngroups {
		old.free()
		ix.next = 0
		s.migrations.Add(-1)
	}
}

// migrateStep moves up to groups old groups of every shard whose index is
// growing (the background goroutine calls it, so that a migration also
// ends, and its old table is unmapped, when inserts stop). It returns how
// many shards are still migrating afterwards.
func (s *Store) migrateStep(groups uint32) int {
	if s.migrations.Load() == 0 {
		return 0
	}
	left := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		if sh.t.migrating() {
			s.migrateLocked(&sh.t, groups)
			if sh.t.migrating() {
				left++
			}
		}
		sh.mu.Unlock()
	}
	return left
}
