package lru

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/slabcache/slabcache/internal/clock"
)

// Overwriting a key reuses the chunk the previous value freed: the
// allocator hands out no new chunk, and stats slabs counts the spare as
// free, as memcached would after freeing the old item.
func TestOverwriteReusesChunks(t *testing.T) {
	s, _ := newTestStore(t, testConfig())
	v := bytes.Repeat([]byte("v"), 100)
	for i := 0; i < 64; i++ {
		s.Set([]byte(fmt.Sprintf("k%02d", i)), 0, 0, v, nil)
	}
	allocs := s.slab.ClassStats(3).Allocs
	for round := 0; round < 50; round++ {
		for i := 0; i < 64; i++ {
			if r := s.Set([]byte(fmt.Sprintf("k%02d", i)), uint32(round), 0, v, nil); r.Result != Stored || r.Class != 3 {
				t.Fatalf("set: %+v", r)
			}
		}
	}
	// Each shard keeps at most numSpares chunks; 64 keys over 256 shards
	// leave each key's old chunk in its own shard, so after the first
	// round no overwrite needs the allocator.
	if got := s.slab.ClassStats(3).Allocs - allocs; got > 64 {
		t.Fatalf("50 rounds of 64 overwrites took %d chunks from the allocator", got)
	}
	cs := s.ClassStats(nil)
	if len(cs) != 1 || cs[0].Number != 64 || cs[0].Slab.UsedChunks != 64 || cs[0].Slab.FreeChunks != cs[0].Slab.TotalChunks-64 {
		t.Fatalf("class stats %+v", cs)
	}
	for i := 0; i < 64; i++ {
		r := mustGet(t, s, fmt.Sprintf("k%02d", i), string(v))
		if r.it.Flags != 49 {
			t.Fatalf("flags %d", r.it.Flags)
		}
	}
	checkInv(t, s)
}

// A page move frees the spare chunks on the page it empties.
func TestReassignFreesSpares(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryLimit = 4 << 20
	cfg.SlabAutomove = 0
	s, _ := newTestStore(t, cfg)
	v := bytes.Repeat([]byte("x"), 100)
	per := s.slab.ChunksPerPage(3)
	fillPage(t, s, "f", 100) // a full page of class 3 the move leaves alone
	n := per / 2             // then half a page
	for round := uint32(0); round < 2; round++ {
		for i := 0; i < n; i++ {
			s.Set([]byte(fmt.Sprintf("k%05d", i)), round, 0, v, nil)
		}
	}
	if got := s.slab.ClassStats(3).TotalPages; got != 2 {
		t.Fatalf("class 3 has %d pages", got)
	}
	if s.spareCounts()[3] == 0 {
		t.Fatal("overwrites left no spare chunk")
	}
	if err := s.Reassign(3, 0); err != nil {
		t.Fatal(err)
	}
	if got := s.spareCounts()[3]; got != 0 {
		t.Fatalf("%d spares left after the page holding them moved", got)
	}
	// The n items were rescued into a new page.
	if cs := s.ClassStats(nil); len(cs) != 1 || cs[0].Slab.UsedChunks != per+n || cs[0].Slab.TotalPages != 2 {
		t.Fatalf("class stats %+v", cs)
	}
	for i := 0; i < n; i++ {
		if r := mustGet(t, s, fmt.Sprintf("k%05d", i), string(v)); r.it.Flags != 1 {
			t.Fatalf("k%05d flags %d", i, r.it.Flags)
		}
	}
	checkInv(t, s)
}

// Overwrites from several goroutines while pages move: no value is lost or
// mixed up, and the accounting holds afterwards.
func TestSparesUnderConcurrentOverwritesAndMoves(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryLimit = 8 << 20
	cfg.SlabAutomove = 0
	s, _ := newTestStore(t, cfg)
	const keys = 2000
	val := func(g, i int) []byte { return bytes.Repeat([]byte{byte('a' + g)}, 90+i%20) }
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < 20; r++ {
				for i := g; i < keys; i += 4 {
					if o := s.Set([]byte(fmt.Sprintf("k%05d", i)), uint32(r), 0, val(g, i), nil); o.Result != Stored {
						t.Errorf("set: %v", o.Result)
						return
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			s.Reassign(3, 0)
			s.Reassign(4, 0)
		}
	}()
	wg.Wait()
	for i := 0; i < keys; i++ {
		r := mustGet(t, s, fmt.Sprintf("k%05d", i), string(val(i%4, i)))
		if r.it.Flags != 19 {
			t.Fatalf("k%05d flags %d", i, r.it.Flags)
		}
	}
	checkInv(t, s)
}

// Spare chunks are free after a restart: the new process finds only the
// items, and their chunks are the only ones in use.
func TestRestartLeavesSparesFree(t *testing.T) {
	cfg := restartConfig(t)
	const epoch = 1_700_000_000
	s, err := New(cfg, clock.NewFake(epoch))
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		for i := range 1000 {
			set(t, s, fmt.Sprintf("k%04d", i), fmt.Sprintf("value %d of %04d", round, i), 0, 0, nil)
		}
	}
	if s.spareCounts()[1] == 0 { // 53-byte items: the 96-byte class
		t.Fatal("overwrites left no spare chunk")
	}
	stopClean(t, s)
	s2 := reopenStore(t, cfg, epoch+5)
	if rep := s2.Restored(); !rep.Restored || rep.Items != 1000 {
		t.Fatalf("Restored() = %+v", rep)
	}
	used := 0
	for _, cs := range s2.ClassStats(nil) {
		used += cs.Slab.UsedChunks
	}
	if used != 1000 {
		t.Fatalf("%d chunks in use after the restart, for 1000 items", used)
	}
	for i := range 1000 {
		mustGet(t, s2, fmt.Sprintf("k%04d", i), fmt.Sprintf("value 2 of %04d", i))
	}
	checkInv(t, s2)
}
