package slab

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
)

// Class sizes printed by `memcached -vv` (1.6.45, sizeof(item) = 48) for the
// default -n 48 -f 1.25, and for -n 24 -f 1.5.
var memcachedDefault = []int{96, 120, 152, 192, 240, 304, 384, 480, 600, 752, 944, 1184, 1480, 1856, 2320, 2904, 3632, 4544, 5680, 7104, 8880, 11104, 13880, 17352, 21696, 27120, 33904, 42384, 52984, 66232, 82792, 103496, 129376, 161720, 202152, 252696, 315872, 394840, 524288}
var memcachedN24F15 = []int{72, 112, 168, 256, 384, 576, 864, 1296, 1944, 2920, 4384, 6576, 9864, 14800, 22200, 33304, 49960, 74944, 112416, 168624, 252936, 524288}

func TestClassSizesMatchMemcached(t *testing.T) {
	for _, tc := range []struct {
		min    int
		factor float64
		want   []int
	}{{96, 1.25, memcachedDefault}, {72, 1.5, memcachedN24F15}} {
		cfg := DefaultConfig()
		cfg.MinChunk, cfg.Factor = tc.min, tc.factor
		got := ClassSizes(cfg)
		if len(got) != len(tc.want) {
			t.Fatalf("min %d f %v: %d classes %v, want %d", tc.min, tc.factor, len(got), got, len(tc.want))
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("min %d f %v: class %d size %d, want %d", tc.min, tc.factor, i+1, got[i], tc.want[i])
			}
		}
	}
	// The default is memcached's: class ids name the same chunk sizes.
	got := ClassSizes(DefaultConfig())
	if len(got) != len(memcachedDefault) || got[0] != 96 || got[2] != 152 {
		t.Fatalf("default classes %v", got)
	}
	// Sizes (slab_sizes) replace MinChunk and Factor, rounded up to 8,
	// then ChunkMax; none at all leaves ChunkMax alone.
	cfg := DefaultConfig()
	cfg.Sizes = []int{100, 203, 1000}
	if got := ClassSizes(cfg); !slices.Equal(got, []int{104, 208, 1000, PageSize / 2}) {
		t.Fatalf("classes of Sizes %v: %v", cfg.Sizes, got)
	}
	a := newAlloc(t, cfg)
	if a.NumClasses() != 4 || a.ChunkSize(2) != 208 {
		t.Fatalf("allocator of Sizes %v: %d classes, class 2 of %d bytes", cfg.Sizes, a.NumClasses(), a.ChunkSize(2))
	}
	cfg.Sizes = []int{}
	if got := ClassSizes(cfg); !slices.Equal(got, []int{PageSize / 2}) {
		t.Fatalf("classes of no Sizes: %v", got)
	}
}

func newAlloc(t *testing.T, cfg Config) *Allocator {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func TestConfigValidation(t *testing.T) {
	bad := []func(*Config){
		func(c *Config) { c.MemLimit = PageSize - 1 },
		func(c *Config) { c.MinChunk = 8 },
		func(c *Config) { c.Factor = 1 },
		func(c *Config) { c.ChunkMax = PageSize + 8 },
		func(c *Config) { c.ChunkMax = 1001 },
		func(c *Config) { c.Sizes = []int{100, 100} },
		func(c *Config) { c.Sizes = []int{16, 100} },
		func(c *Config) { c.Sizes = []int{100, PageSize} },
		func(c *Config) { c.Sizes = make([]int, MaxClasses) },
	}
	for i, f := range bad {
		cfg := DefaultConfig()
		f(&cfg)
		if _, err := New(cfg); !errors.Is(err, ErrBadConfig) {
			t.Errorf("case %d: New = %v, want ErrBadConfig", i, err)
		}
	}
}

func TestClassFor(t *testing.T) {
	a := newAlloc(t, DefaultConfig())
	for n := 1; n <= PageSize/2; n += 7 {
		c := a.ClassFor(n)
		if c == 0 || a.ChunkSize(c) < n || (c > 1 && a.ChunkSize(c-1) >= n) {
			t.Fatalf("ClassFor(%d) = %d (size %d)", n, c, a.ChunkSize(c))
		}
	}
	if a.ClassFor(PageSize/2+1) != 0 {
		t.Fatal("ClassFor over ChunkMax should be 0")
	}
}

// The memory limit is a hard cap: a class takes pages until MemLimit is
// used up, then Alloc fails; freed chunks are reused.
func TestAllocUntilFullThenReuse(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MemLimit = 3 * PageSize
	a := newAlloc(t, cfg)
	cls := a.ClassFor(1000)
	per := a.ChunksPerPage(cls)
	seen := map[Ref]bool{}
	var refs []Ref
	for {
		r, err := a.Alloc(cls)
		if errors.Is(err, ErrNoMemory) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if seen[r] {
			t.Fatalf("chunk %v handed out twice", r)
		}
		seen[r] = true
		refs = append(refs, r)
		// Writing the whole chunk must stay inside the region.
		b := a.Bytes(r)
		for i := range b {
			b[i] = byte(len(refs))
		}
	}
	if len(refs) != 3*per {
		t.Fatalf("allocated %d chunks, want %d (3 pages of %d)", len(refs), 3*per, per)
	}
	// Chunks do not overlap: each still holds its own fill byte.
	for i, r := range refs {
		for _, c := range a.Bytes(r) {
			if c != byte(i+1) {
				t.Fatalf("chunk %d overwritten", i)
			}
		}
	}
	if s := a.Stats(); s.TotalMalloced != 3*PageSize {
		t.Fatalf("total_malloced %d", s.TotalMalloced)
	}
	// Another class gets nothing now.
	if _, err := a.Alloc(1); !errors.Is(err, ErrNoMemory) {
		t.Fatalf("other class Alloc = %v, want ErrNoMemory", err)
	}
	a.Free(refs[5])
	r, err := a.Alloc(cls)
	if err != nil || r != refs[5] {
		t.Fatalf("Alloc after Free = %v, %v; want the freed chunk %v", r, err, refs[5])
	}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
	st := a.ClassStats(cls)
	if st.TotalPages != 3 || st.UsedChunks != 3*per || st.FreeChunks != 0 || st.Fails == 0 {
		t.Fatalf("class stats %+v", st)
	}
}

func TestDoubleFreePanics(t *testing.T) {
	a := newAlloc(t, DefaultConfig())
	r, _ := a.Alloc(3)
	a.Free(r)
	defer func() {
		if recover() == nil {
			t.Fatal("double free did not panic")
		}
	}()
	a.Free(r)
}

// A page drained of its chunks moves to another class (or the pool), and
// the memory limit still holds.
func TestPageMove(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MemLimit = 2 * PageSize
	a := newAlloc(t, cfg)
	small, big := a.ClassFor(100), a.ClassFor(2000)
	var refs []Ref
	for {
		r, err := a.Alloc(small)
		if err != nil {
			break
		}
		refs = append(refs, r)
	}
	if _, err := a.Alloc(big); !errors.Is(err, ErrNoMemory) {
		t.Fatal("big class should be starved")
	}
	// Free a few chunks of the first page so StartDrain prefers it.
	per := a.ChunksPerPage(small)
	for _, r := range refs[:10] {
		a.Free(r)
	}
	p, ok := a.StartDrain(small)
	if !ok || p != refs[0].Page() {
		t.Fatalf("StartDrain = %d, %v; want emptiest page %d", p, ok, refs[0].Page())
	}
	// The draining page serves no allocations, even with free chunks.
	if _, err := a.AllocNoGrow(small); !errors.Is(err, ErrNoMemory) {
		t.Fatal("allocation from a draining page")
	}
	if a.FinishDrain(p, big) {
		t.Fatal("FinishDrain succeeded with chunks still allocated")
	}
	var got []Ref
	for from := 0; from < per; {
		got, from = a.ChunkRefs(p, from, 1000, got)
	}
	if len(got) != per-10 {
		t.Fatalf("ChunkRefs found %d allocated chunks, want %d", len(got), per-10)
	}
	for _, r := range got {
		a.Free(r)
	}
	if !a.FinishDrain(p, big) {
		t.Fatal("FinishDrain failed on an empty page")
	}
	if _, err := a.Alloc(big); err != nil {
		t.Fatalf("big class after move: %v", err)
	}
	if s := a.Stats(); s.PagesMoved != 1 || s.TotalMalloced != 2*PageSize {
		t.Fatalf("stats after move %+v", s)
	}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
	// To the pool and back.
	p2, ok := a.StartDrain(small)
	if !ok {
		t.Fatal("no second page")
	}
	got = got[:0]
	got, _ = a.ChunkRefs(p2, 0, per, got)
	for _, r := range got {
		a.Free(r)
	}
	if !a.FinishDrain(p2, 0) {
		t.Fatal("move to pool failed")
	}
	if s := a.Stats(); s.PoolPages != 1 {
		t.Fatalf("pool pages %d", s.PoolPages)
	}
	if _, err := a.Alloc(1); err != nil {
		t.Fatalf("class 1 should take the pooled page: %v", err)
	}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
}

// fillPage allocates a page's worth of chunks of class cls.
func fillPage(t *testing.T, a *Allocator, cls int) []Ref {
	t.Helper()
	var refs []Ref
	for range a.ChunksPerPage(cls) {
		r, err := a.Alloc(cls)
		if err != nil {
			t.Fatalf("class %d: %v", cls, err)
		}
		refs = append(refs, r)
	}
	return refs
}

// A class that found memory full fails its next allocations at once, and
// takes a page again as soon as one comes back to the pool.
func TestFullClassTakesAPageBackFromThePool(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MemLimit = 2 * PageSize
	a := newAlloc(t, cfg)
	small, big := a.ClassFor(100), a.ClassFor(2000)
	fillPage(t, a, small)
	bigRefs := fillPage(t, a, big)
	for range 3 {
		if _, err := a.Alloc(small); !errors.Is(err, ErrNoMemory) {
			t.Fatalf("Alloc with memory full = %v, want ErrNoMemory", err)
		}
	}
	if st := a.ClassStats(small); st.Fails != 3 {
		t.Fatalf("fails %d, want 3", st.Fails)
	}
	p, ok := a.StartDrain(big)
	if !ok {
		t.Fatal("no page to drain")
	}
	for _, r := range bigRefs {
		a.Free(r)
	}
	if !a.FinishDrain(p, 0) {
		t.Fatal("move to the pool failed")
	}
	if _, err := a.Alloc(small); err != nil {
		t.Fatalf("the full class does not take the pooled page: %v", err)
	}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
}

// A full class whose last page moves away still gets a first page again,
// beyond the limit as any class without pages does.
func TestFullClassLeftWithoutPagesGetsAFirstPage(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MemLimit = 2 * PageSize
	cfg.MemReserve = 4 * PageSize
	a := newAlloc(t, cfg)
	small, big := a.ClassFor(100), a.ClassFor(2000)
	refs := fillPage(t, a, small)
	fillPage(t, a, big)
	if _, err := a.Alloc(small); !errors.Is(err, ErrNoMemory) {
		t.Fatalf("Alloc with memory full = %v, want ErrNoMemory", err)
	}
	p, ok := a.StartDrain(small)
	if !ok {
		t.Fatal("no page to drain")
	}
	for _, r := range refs {
		a.Free(r)
	}
	if !a.FinishDrain(p, big) {
		t.Fatal("moving the page failed")
	}
	if _, err := a.Alloc(small); err != nil {
		t.Fatalf("a class without pages gets no first page: %v", err)
	}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestAbortDrain(t *testing.T) {
	a := newAlloc(t, DefaultConfig())
	r, _ := a.Alloc(2)
	p, ok := a.StartDrain(2)
	if !ok || p != r.Page() {
		t.Fatal("StartDrain")
	}
	a.AbortDrain(p)
	if r2, err := a.AllocNoGrow(2); err != nil || r2.Page() != p {
		t.Fatalf("after AbortDrain the page serves again: %v %v", r2, err)
	}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
}

// Random alloc/free across classes against a set of live refs.
func TestRandomAllocFree(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MemLimit = 8 * PageSize
	a := newAlloc(t, cfg)
	rng := rand.New(rand.NewPCG(1, 2))
	live := map[Ref]int{}
	var order []Ref
	n := 200000
	if testing.Short() {
		n = 20000
	}
	for i := 0; i < n; i++ {
		if rng.IntN(3) > 0 || len(order) == 0 {
			cls := 1 + rng.IntN(a.NumClasses())
			r, err := a.Alloc(cls)
			if err != nil {
				continue
			}
			if _, dup := live[r]; dup {
				t.Fatalf("live chunk %v returned again", r)
			}
			if a.PageClass(r.Page()) != cls {
				t.Fatalf("chunk of class %d on a page of class %d", cls, a.PageClass(r.Page()))
			}
			live[r] = cls
			order = append(order, r)
		} else {
			j := rng.IntN(len(order))
			r := order[j]
			order[j] = order[len(order)-1]
			order = order[:len(order)-1]
			delete(live, r)
			a.Free(r)
		}
	}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
	used := 0
	for c := 1; c <= a.NumClasses(); c++ {
		used += a.ClassStats(c).UsedChunks
	}
	if used != len(live) {
		t.Fatalf("classes count %d used chunks, %d live", used, len(live))
	}
}

func TestAllocFreeNoAllocs(t *testing.T) {
	a := newAlloc(t, DefaultConfig())
	r, _ := a.Alloc(4)
	a.Free(r)
	if n := testing.AllocsPerRun(1000, func() {
		r, _ := a.Alloc(4)
		a.Free(r)
	}); n != 0 {
		t.Fatalf("Alloc+Free allocates %v times", n)
	}
}

func BenchmarkAllocFree(b *testing.B) {
	a, _ := New(DefaultConfig())
	defer a.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, err := a.Alloc(4)
			if err != nil {
				b.Fatal(err)
			}
			a.Free(r)
		}
	})
}

// Walking pages (as the crawler does) while other goroutines allocate, and
// so add pages to classes, is safe; run with -race.
func TestChunkRefsWhilePagesJoinClasses(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MemLimit = 16 * PageSize
	a := newAlloc(t, cfg)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20000; i++ {
			if _, err := a.Alloc(1 + i%a.NumClasses()); err != nil {
				return
			}
		}
	}()
	var buf []Ref
	for walking := true; walking; {
		select {
		case <-done:
			walking = false
		default:
		}
		for p := uint32(0); p < uint32(a.MaxPages()); p++ {
			buf, _ = a.ChunkRefs(p, 0, 1<<idxBits, buf[:0])
			for _, r := range buf {
				if r.Page() != p {
					t.Fatalf("ref %v outside page %d", r, p)
				}
			}
			a.PageUsed(p)
		}
	}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
}

// cache_memlimit: a lowered limit stops new pages (even below what is in
// use), raising it back gives them again, and nothing beyond the region
// reserved at New is accepted.
func TestSetLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MemLimit = 4 * PageSize
	a := newAlloc(t, cfg)
	cls := a.NumClasses() // the largest class: two chunks per page
	var refs []Ref
	for range 4 { // two pages
		r, err := a.Alloc(cls)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r)
	}
	if !a.SetLimit(PageSize) {
		t.Fatal("SetLimit(1 page) refused")
	}
	if a.Stats().LimitMaxbytes != PageSize || a.FreePagesLeft() != 0 {
		t.Fatalf("after lowering: limit %d, pages left %d", a.Stats().LimitMaxbytes, a.FreePagesLeft())
	}
	if _, err := a.Alloc(cls); err == nil {
		t.Fatal("allocated a new page over a lowered limit")
	}
	// Freed chunks in pages already held stay usable.
	a.Free(refs[0])
	if _, err := a.Alloc(cls); err != nil {
		t.Fatalf("reusing a freed chunk under the lowered limit: %v", err)
	}
	if _, err := a.Alloc(cls); err == nil {
		t.Fatal("allocated past the lowered limit after reusing the freed chunk")
	}
	if !a.SetLimit(4 * PageSize) {
		t.Fatal("raising back to the start limit refused")
	}
	if _, err := a.Alloc(cls); err != nil {
		t.Fatalf("after raising the limit: %v", err)
	}
	if a.SetLimit(5*PageSize) || a.SetLimit(PageSize-1) {
		t.Fatal("accepted a limit outside 1 page .. the reserved region")
	}
}

// As in memcached, a class that holds no page gets its first one even when
// memory is at the limit (from the reserve), and no more than that.
func TestFirstPageOfAClassBeyondTheLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MemLimit = 3 * PageSize
	cfg.MemReserve = 10 * PageSize
	a := newAlloc(t, cfg)
	full := a.ClassFor(1000)
	for {
		if _, err := a.Alloc(full); err != nil {
			break
		}
	}
	if st := a.ClassStats(full); st.TotalPages != 3 {
		t.Fatalf("class %d holds %d pages at a limit of 3", full, st.TotalPages)
	}
	other := a.ClassFor(100)
	per := a.ChunksPerPage(other)
	for i := 0; i < per; i++ {
		if _, err := a.Alloc(other); err != nil {
			t.Fatalf("chunk %d of the first page of class %d: %v", i, other, err)
		}
	}
	if _, err := a.Alloc(other); !errors.Is(err, ErrNoMemory) {
		t.Fatalf("a second page beyond the limit: %v, want ErrNoMemory", err)
	}
	if st := a.ClassStats(other); st.TotalPages != 1 {
		t.Fatalf("class %d holds %d pages, want 1", other, st.TotalPages)
	}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
}

// RefOf inverts Pointer for chunks of every class.
func TestRefOf(t *testing.T) {
	a := newAlloc(t, DefaultConfig())
	for cls := 1; cls <= a.NumClasses(); cls++ {
		for range 3 {
			r, err := a.Alloc(cls)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.RefOf(a.Pointer(r)); got != r {
				t.Fatalf("class %d: RefOf(Pointer(%#x)) = %#x", cls, uint32(r), uint32(got))
			}
		}
	}
}

// The reserve past the limit is address space only (no access, so it is
// not counted as committed memory where the kernel counts strictly); a
// raised limit opens pages as classes take them, and item memory there
// works like any other.
func TestReserveOpensAsNeeded(t *testing.T) {
	if !OffHeap {
		t.Skip("slab memory is Go heap memory in this build")
	}
	cfg := DefaultConfig()
	cfg.MemLimit, cfg.MemReserve = 4<<20, 1<<30
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if want := uint32((4 + MaxClasses + commitStep - 1) / commitStep * commitStep); a.committed != want {
		t.Fatalf("%d pages open at start, want %d (the limit and a first page per class, rounded)", a.committed, want)
	}
	tail := uintptr(a.base) + uintptr(a.committed)*PageSize
	if perm := mapPerm(t, tail); perm != "---p" {
		t.Errorf("the reserve past the open pages is mapped %q, want no access", perm)
	}
	if perm := mapPerm(t, uintptr(a.base)); perm != "rw-p" {
		t.Errorf("the open pages are mapped %q", perm)
	}
	if !a.SetLimit(512 << 20) {
		t.Fatal("SetLimit(512 MiB) refused within a 1 GiB reserve")
	}
	big := a.NumClasses()
	per := a.ChunksPerPage(big)
	for i := range 300 * per {
		r, err := a.Alloc(big)
		if err != nil {
			t.Fatalf("alloc %d: %v", i, err)
		}
		b := a.Bytes(r)
		b[0], b[len(b)-1] = 1, 2 // faults if the page were not open
	}
	if a.CarvedPages() != 300 || a.committed < 300 || a.committed%commitStep != 0 {
		t.Fatalf("carved %d pages, open %d", a.CarvedPages(), a.committed)
	}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
}

// mapPerm returns the permissions /proc/self/maps lists for the mapping
// holding addr.
func mapPerm(t *testing.T, addr uintptr) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skipf("no /proc/self/maps: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		var lo, hi uintptr
		var perm string
		if _, err := fmt.Sscanf(line, "%x-%x %s", &lo, &hi, &perm); err == nil && lo <= addr && addr < hi {
			return perm
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return ""
}
