package lru

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// pinHit pins the item it is handed.
type pinHit struct {
	pieces [][]byte
	pin    Pin
	ok     bool
}

func (h *pinHit) Hit(it *Item) { h.pieces, h.pin, h.ok = it.Pin(nil) }

// value joins the pinned pieces.
func (h *pinHit) value() []byte { return bytes.Join(h.pieces, nil) }

func pinned(t *testing.T, s *Store, key string) *pinHit {
	t.Helper()
	var h pinHit
	if o := s.Get([]byte(key), nil, &h); o.Result != Found || !h.ok {
		t.Fatalf("get %s: %v, pinned %v", key, o.Result, h.ok)
	}
	return &h
}

func usedChunks(s *Store) (n int) {
	for _, cs := range s.ClassStats(nil) {
		n += cs.Slab.UsedChunks
	}
	return n
}

// A pinned value stays as it was, in memory nothing else gets, while its
// item is replaced, deleted and its chunk wanted by new items; Unpin then
// frees it.
func TestPinKeepsValueUntilUnpin(t *testing.T) {
	s, _ := newTestStore(t, testConfig())
	v1 := bytes.Repeat([]byte("1"), 100<<10)
	v2 := bytes.Repeat([]byte("2"), 100<<10)
	s.Set([]byte("big"), 0, 0, v1, nil)
	h := pinned(t, s, "big")
	h2 := pinned(t, s, "big") // a second reader of the same item
	s.Set([]byte("big"), 0, 0, v2, nil)
	mustGet(t, s, "big", string(v2))
	s.Delete([]byte("big"), nil)
	for i := range 20 {
		s.Set([]byte(fmt.Sprintf("k%d", i)), 0, 0, v2, nil)
	}
	if !bytes.Equal(h.value(), v1) || !bytes.Equal(h2.value(), v1) {
		t.Fatal("a pinned value changed")
	}
	if got := usedChunks(s); got != 21 {
		t.Fatalf("%d chunks in use, want 20 items and the pinned one", got)
	}
	s.Unpin(h.pin)
	if got := usedChunks(s); got != 21 {
		t.Fatalf("%d chunks in use with one pin left, want 21", got)
	}
	s.Unpin(h2.pin)
	if got := usedChunks(s); got != 20 {
		t.Fatalf("%d chunks in use after the last Unpin, want 20", got)
	}
	checkInv(t, s)
}

// Unpinning an item that is still stored leaves it as it is.
func TestUnpinLiveItem(t *testing.T) {
	s, _ := newTestStore(t, testConfig())
	v := bytes.Repeat([]byte("v"), 50<<10)
	s.Set([]byte("k"), 0, 0, v, nil)
	s.Unpin(pinned(t, s, "k").pin)
	mustGet(t, s, "k", string(v))
	if got := usedChunks(s); got != 1 {
		t.Fatalf("%d chunks in use", got)
	}
	checkInv(t, s)
}

// A page move waits while an item in the page is pinned (it reports the
// page busy), and moves it once it is unpinned.
func TestPinnedItemOnMovedPage(t *testing.T) {
	cfg := testConfig()
	cfg.SlabAutomove = 0
	s, _ := newTestStore(t, cfg)
	v := bytes.Repeat([]byte("m"), 100<<10)
	cls := fillPage(t, s, "f", len(v)) // the page to move holds fewer items
	if r := s.Set([]byte("a"), 0, 0, v, nil); r.Class != cls {
		t.Fatalf("item in class %d, the filler in %d", r.Class, cls)
	}
	h := pinned(t, s, "a")
	if err := s.Reassign(cls, 0); err == nil {
		t.Fatal("the page moved while a chunk in it was pinned")
	}
	if !bytes.Equal(h.value(), v) {
		t.Fatal("the pinned value changed")
	}
	mustGet(t, s, "a", string(v))
	s.Unpin(h.pin)
	if err := s.Reassign(cls, 0); err != nil {
		t.Fatal(err)
	}
	mustGet(t, s, "a", string(v))
	checkInv(t, s)
}

// A large item kept in several chunks is pinned whole: its pieces stay as
// they were while it is replaced, others take memory and pages move.
func TestPinChunkedItem(t *testing.T) {
	cfg := testConfig()
	cfg.SlabAutomove = 0
	s, _ := newTestStore(t, cfg)
	v := bytes.Repeat([]byte("0123456789abcdef"), 900<<10/16)
	s.Set([]byte("huge"), 0, 0, v, nil)
	h := pinned(t, s, "huge")
	if len(h.pieces) < 2 {
		t.Fatalf("%d pieces", len(h.pieces))
	}
	s.Set([]byte("huge"), 0, 0, bytes.Repeat([]byte("x"), len(v)), nil)
	for i := range 3 {
		s.Set([]byte(fmt.Sprintf("other%d", i)), 0, 0, bytes.Repeat([]byte("y"), len(v)), nil)
	}
	if !bytes.Equal(h.value(), v) {
		t.Fatal("a pinned chunked value changed")
	}
	for range 2 {
		s.Reassign(s.chunkClass, 0) // busy if it picks a page of the pinned item
	}
	if !bytes.Equal(h.value(), v) {
		t.Fatal("a pinned chunked value changed in a page move")
	}
	s.Unpin(h.pin)
	mustGet(t, s, "huge", strings.Repeat("x", len(v)))
	checkInv(t, s)
}

// A pinned item that memory pressure evicts keeps its value for its
// reader: a store that evicts it to take its chunk gets another chunk.
func TestPinnedItemEvictedKeepsValue(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryLimit = 2 << 20
	s, _ := newTestStore(t, cfg)
	v1 := bytes.Repeat([]byte("1"), 100<<10)
	v2 := bytes.Repeat([]byte("2"), 100<<10)
	s.Set([]byte("p"), 0, 0, v1, nil)
	h := pinned(t, s, "p")
	for i := range 100 {
		if r := s.Set([]byte(fmt.Sprintf("k%d", i)), 0, 0, v2, nil); r.Result != Stored {
			t.Fatalf("set k%d: %v", i, r.Result)
		}
	}
	mustMiss(t, s, "p")
	if st := s.Stats(); st.Evictions == 0 {
		t.Fatal("nothing was evicted")
	}
	if !bytes.Equal(h.value(), v1) {
		t.Fatal("the pinned value changed when its item was evicted")
	}
	s.Unpin(h.pin)
	checkInv(t, s)
}
