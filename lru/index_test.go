package lru

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// migratingShards counts shards whose index is growing right now.
func migratingShards(s *Store) int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		if sh.t.migrating() {
			n++
		}
		sh.mu.Unlock()
	}
	return n
}

// The index grows through many incremental migrations while gets, sets,
// overwrites, deletes and page moves go on; after every step the store's
// full check passes (every linked item in exactly one table, counts, the
// load invariant) and every key reads back what was last stored.
func TestIndexGrowsIncrementallyUnderMixedOps(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryLimit = 64 << 20
	cfg.SlabAutomove = 0
	s, _ := newTestStore(t, cfg)
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[string][]byte{}
	// Keys of one shard, so that it grows many times with few items (and
	// the full check after each step stays cheap).
	n := 8000
	if testing.Short() {
		n = 3000
	}
	names := make([]string, 0, n)
	for j := 0; len(names) < n; j++ {
		k := fmt.Sprintf("key:%d", j)
		if s.shardFor(hashKey([]byte(k))) == &s.shards[0] {
			names = append(names, k)
		}
	}
	checksDuringMigration, checks, missing, moves := 0, 0, 0, 0
	val := func(i int) []byte {
		n := 20 + i%200
		if i%2 == 0 {
			// Half the values in two classes that grow past one page
			// (slabs reassign moves no class's only page).
			n = 1500 + i%400
		}
		return bytes.Repeat([]byte{byte('a' + i%26)}, n)
	}
	for i := 0; i < n; i++ {
		k := names[i]
		v := val(i)
		if r := s.Set([]byte(k), 0, 0, v, nil); r.Result != Stored {
			t.Fatalf("set %s: %v", k, r.Result)
		}
		want[k] = v
		switch rng.IntN(8) {
		case 0: // overwrite an older key with another size (maybe another class)
			o := names[rng.IntN(i+1)]
			if _, ok := want[o]; ok {
				nv := val(rng.IntN(1000))
				s.Set([]byte(o), 0, 0, nv, nil)
				want[o] = nv
			}
		case 1: // delete an older key
			o := names[rng.IntN(i+1)]
			r := s.Delete([]byte(o), nil).Result
			_, present := want[o]
			switch {
			case r == Deleted && !present:
				t.Fatalf("delete %s: deleted a key that is not there", o)
			case r != Deleted && present:
				missing++ // evicted by a page move (counted below)
			}
			delete(want, o)
		case 2: // read an older key
			o := names[rng.IntN(i+1)]
			r, ok := get(t, s, o, nil)
			w, present := want[o]
			switch {
			case ok && (!present || !bytes.Equal(r.value, w)):
				t.Fatalf("get %s: %q, want %v %q", o, r.value, present, w)
			case !ok && present:
				// Only a page move may have evicted it (counted below).
				missing++
				delete(want, o)
			}
		}
		if i%300 == 299 {
			// Move a page holding items to another class: its items
			// are rescued into free chunks (their index slots, in the
			// old table or the new, repointed) or evicted.
			for src := 1 + rng.IntN(8); src <= s.slab.NumClasses(); src++ {
				if cs := s.slab.ClassStats(src); cs.TotalPages > 1 && cs.UsedChunks > 0 {
					if s.Reassign(src, src%s.slab.NumClasses()+1) == nil {
						moves++
					}
					break
				}
			}
		}
		if mig := migratingShards(s) > 0; mig || i%50 == 0 || i == n-1 {
			if mig {
				checksDuringMigration++ // every step of a migration
			}
			checks++
			if err := s.Check(0); err != nil {
				t.Fatalf("after %d sets: %v", i+1, err)
			}
		}
	}
	for k, w := range want {
		r, ok := get(t, s, k, nil)
		if ok && !bytes.Equal(r.value, w) {
			t.Fatalf("%s: %q, want %q", k, r.value, w)
		}
		if !ok {
			missing++
		}
	}
	st := s.Stats()
	if uint64(missing) > st.Evictions {
		t.Fatalf("%d keys lost, only %d evicted (by page moves)", missing, st.Evictions)
	}
	if st.HashExpansions < 3 {
		t.Fatalf("only %d expansions: the test did not grow the index", st.HashExpansions)
	}
	if moves == 0 || s.mover.rescues == 0 {
		t.Fatalf("%d page moves rescued %d items: the test moved no items", moves, s.mover.rescues)
	}
	if checksDuringMigration == 0 {
		t.Fatalf("none of %d checks ran while a shard was migrating", checks)
	}
	t.Logf("%d expansions, %d of %d checks during migrations, %d items, %d page moves rescued %d items and evicted %d",
		st.HashExpansions, checksDuringMigration, checks, st.CurrItems, moves, s.mover.rescues, st.Evictions)
}

// A migration ends: once a shard has received enough inserts after it
// started to grow, its old table is gone and its memory unmapped.
func TestIndexMigrationCompletes(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryLimit = 32 << 20
	s, _ := newTestStore(t, cfg)
	sh := &s.shards[0]
	// Insert keys until shard 0 starts growing.
	i := 0
	next := func() {
		for {
			k := []byte(fmt.Sprintf("k%d", i))
			i++
			if s.shardFor(hashKey(k)) == sh {
				s.Set(k, 0, 0, []byte("v"), nil)
				return
			}
		}
	}
	for !sh.t.migrating() {
		next()
		if i > 5_000_000 {
			t.Fatal("shard 0 never grew")
		}
	}
	sh.mu.Lock()
	groups, oldSlots, newSlots := sh.t.old.ngroups, sh.t.old.slots(), sh.t.slots()
	sh.mu.Unlock()
	if newSlots <= oldSlots {
		t.Fatalf("grew from %d to %d slots", oldSlots, newSlots)
	}
	inserts := 0
	for sh.t.migrating() {
		next()
		inserts++
		if inserts > int(groups) {
			t.Fatalf("still migrating after %d inserts (%d old groups, %d per insert)", inserts, groups, migrateGroups)
		}
	}
	if sh.t.old.mem != nil || sh.t.old.live != 0 || sh.t.next != 0 {
		t.Fatalf("old table left behind: %+v", sh.t.old)
	}
	// Ceiling of groups/migrateGroups inserts (the first insert of a
	// migration moves its first groups too).
	if max := (int(groups) + migrateGroups - 1) / migrateGroups; inserts > max {
		t.Fatalf("migration took %d inserts, want at most %d", inserts, max)
	}
	if err := s.Check(0); err != nil {
		t.Fatal(err)
	}
	t.Logf("shard 0 grew %d -> %d slots; migrated in %d inserts", oldSlots, newSlots, inserts)
}

// A migration that inserts leave half done is finished by the background
// step, which the store's goroutine runs every pass.
func TestIndexMigrationFinishesInBackground(t *testing.T) {
	s, _ := newTestStore(t, testConfig())
	sh := &s.shards[0]
	for i := 0; !sh.t.migrating(); i++ {
		k := []byte(fmt.Sprintf("k%d", i))
		if s.shardFor(hashKey(k)) == sh {
			s.Set(k, 0, 0, []byte("v"), nil)
		}
		if i > 5_000_000 {
			t.Fatal("shard 0 never grew")
		}
	}
	passes := 0
	for s.migrateStep(8) > 0 {
		passes++
		if err := s.Check(0); err != nil {
			t.Fatal(err)
		}
		if passes > 1000 {
			t.Fatal("background migration does not end")
		}
	}
	if sh.t.migrating() || sh.t.old.mem != nil {
		t.Fatal("old table left behind")
	}
	if passes == 0 {
		t.Fatal("the migration was already over: the test proves nothing")
	}
}
