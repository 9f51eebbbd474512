package lru

import (
	"fmt"

	"github.com/slabcache/slabcache/slab"
)

// Check verifies the store's structure: every LRU list is a consistent
// doubly linked list whose items are linked, in the right class and
// segment, and whose counts and byte totals match; every index entry names
// a linked item with that key in the right shard, and the index and the
// lists hold the same number of items; and the slab's page and chunk
// accounting holds, with every allocated chunk owned by a live item, a
// shard's spares or a reservation (counted in reserved). Call it only while no other goroutine
// uses the store. Tests call it after their steps when built with
// -tags invariants.
func (s *Store) Check(reserved int) error {
	var linked, withBumpBit uint64
	chunks := 0
	for i := range s.classes {
		c := &s.classes[i]
		cls := c.cls
		if cls < 1 || cls > s.slab.NumClasses() {
			continue
		}
		for g := Segment(0); g < numSegs; g++ {
			var n, bytes uint64
			prev := slab.Ref(0)
			for ref := c.head[g]; ref != 0; {
				p := s.ptr(ref)
				st := loadState(p)
				if lifecycle(st) != lcLinked {
					return fmt.Errorf("class %d %s: item %v in the list has lifecycle %d", cls, g, ref, lifecycle(st))
				}
				if segOf(st) != g {
					return fmt.Errorf("class %d %s: item %v says segment %s", cls, g, ref, segOf(st))
				}
				if s.lruOf(ref, st) != c {
					return fmt.Errorf("class %d %s: item %v belongs to class %d stripe %d", cls, g, ref, s.lruClass(ref, st), s.stripeOfState(st))
				}
				if getPrev(p) != prev {
					return fmt.Errorf("class %d %s: item %v prev %v, want %v", cls, g, ref, getPrev(p), prev)
				}
				n++
				if n > 1<<32 {
					return fmt.Errorf("class %d %s: list loops", cls, g)
				}
				bytes += uint64(s.itemBytes(p, st))
				if st&stBumpQ != 0 {
					withBumpBit++
				}
				chunks++
				if st&stChunked != 0 {
					chunks += int(*u32(p, s.lay.valOff(p, st)+4))
				}
				prev = ref
				ref = getNext(p)
			}
			if c.tail[g] != prev {
				return fmt.Errorf("class %d %s: tail %v, last item %v", cls, g, c.tail[g], prev)
			}
			if n != c.count[g] || bytes != c.bytes[g] {
				return fmt.Errorf("class %d %s: list has %d items %d bytes, counters say %d, %d", cls, g, n, bytes, c.count[g], c.bytes[g])
			}
			linked += n
		}
	}
	var indexed, queued uint64
	var migrating int32
	for i := range s.shards {
		sh := &s.shards[i]
		ix := &sh.t
		tables := []*table{&ix.table}
		if ix.migrating() {
			migrating++
			tables = append(tables, &ix.old)
			if ix.next >= ix.old.ngroups {
				return fmt.Errorf("shard %d: migration at group %d of %d", i, ix.next, ix.old.ngroups)
			}
		} else if ix.next != 0 || ix.old.live != 0 {
			return fmt.Errorf("shard %d: no old table but migration state %d/%d", i, ix.next, ix.old.live)
		}
		var live uint32
		for ti, t := range tables {
			var tlive, tombs uint32
			for j := range t.slots() {
				cb := t.ctrl(j)
				switch {
				case cb == ctrlDel:
					tombs++
				case cb&0x80 != 0:
					tlive++
					if ti == 1 && uint32(j/groupSize) < ix.next {
						return fmt.Errorf("shard %d: old slot %d is in an already migrated group", i, j)
					}
					ref := t.ref(j)
					p := s.ptr(ref)
					st := loadState(p)
					if lifecycle(st) != lcLinked {
						return fmt.Errorf("shard %d slot %d: item %v not linked", i, j, ref)
					}
					key := s.lay.key(p, st)
					h := hashKey(key)
					if s.shardFor(h) != sh || ctrlTag(h) != cb || itemTag(h) != tagOf(st) {
						return fmt.Errorf("shard %d slot %d: key %q hashes elsewhere", i, j, key)
					}
					// Found where it is stored, and in exactly one table.
					want := j
					if ti == 1 {
						want = j | oldSlot
					}
					if k, r := s.findLocked(ix, h, key); k != want || r != ref {
						return fmt.Errorf("shard %d: key %q found at slot %d, stored at %d (table %d)", i, key, k, j, ti)
					}
				}
			}
			if tlive != t.live || tombs != t.tombs {
				return fmt.Errorf("shard %d table %d: %d live %d deleted slots, counters say %d, %d", i, ti, tlive, tombs, t.live, t.tombs)
			}
			live += tlive
		}
		if (ix.live+ix.tombs+ix.old.live)*maxLoadD > uint32(ix.slots())*maxLoadN+maxLoadD {
			return fmt.Errorf("shard %d: %d live + %d deleted + %d to migrate over 95%% of %d slots", i, ix.live, ix.tombs, ix.old.live, ix.slots())
		}
		indexed += uint64(live)
		for j := range sh.spares {
			v := sh.spares[j].Load()
			if v == 0 {
				continue
			}
			ref := slab.Ref(v)
			st := loadState(s.ptr(ref))
			if lifecycle(st) != lcFree || st&stSpare == 0 || s.shardOfState(st) != sh || s.classOf(ref) != int(v>>32) {
				return fmt.Errorf("shard %d: spare %v (class %d) is not a spare chunk of this shard and class (state %#x)", i, ref, v>>32, st)
			}
			chunks++
		}
		if sh.nbump > bumpQLen {
			return fmt.Errorf("shard %d: bump queue overflow", i)
		}
		if sh.nbump > 0 && !sh.bumped.Load() {
			return fmt.Errorf("shard %d: %d moves queued but the shard is not marked", i, sh.nbump)
		}
		for _, ref := range sh.bumpq[:sh.nbump] {
			st := loadState(s.ptr(ref))
			if lifecycle(st) != lcLinked || st&stBumpQ == 0 || s.shardOfState(st) != sh {
				return fmt.Errorf("shard %d: bump queue names %v, which is not a queued linked item of this shard", i, ref)
			}
			queued++
		}
	}
	if migrating != s.migrations.Load() {
		return fmt.Errorf("%d shards migrate, the counter says %d", migrating, s.migrations.Load())
	}
	if queued != withBumpBit {
		return fmt.Errorf("%d items are marked queued for a bump, the queues hold %d", withBumpBit, queued)
	}
	if indexed != linked {
		return fmt.Errorf("index holds %d items, LRU lists %d", indexed, linked)
	}
	if err := s.slab.Check(); err != nil {
		return err
	}
	used := 0
	for cls := 1; cls <= s.slab.NumClasses(); cls++ {
		used += s.slab.ClassStats(cls).UsedChunks
	}
	if used < chunks || (reserved >= 0 && used != chunks+reserved) {
		return fmt.Errorf("slab has %d chunks in use; items own %d, reservations %d", used, chunks, reserved)
	}
	return nil
}
