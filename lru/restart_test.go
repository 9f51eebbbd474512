package lru

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slabcache/slabcache/internal/clock"
)

// restartConfig is a store over a memory file in a test directory.
func restartConfig(t *testing.T) Config {
	cfg := testConfig()
	cfg.MemoryLimit = 16 << 20
	cfg.MemoryFile = filepath.Join(t.TempDir(), "memory")
	return cfg
}

// stopClean stops s as a clean stop does: background work ends, the
// snapshot is written, memory is released.
func stopClean(t *testing.T, s *Store) {
	t.Helper()
	s.Stop()
	if err := s.SaveSnapshot(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// reopenStore starts a store over cfg's memory file with whatever snapshot
// is there, on a clock whose epoch is later by downtime seconds.
func reopenStore(t *testing.T, cfg Config, epoch int64) *Store {
	t.Helper()
	sn, err := ReadSnapshot(cfg.MemoryFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(MetaPath(cfg.MemoryFile)); !os.IsNotExist(err) {
		t.Fatalf("the metadata file is still there after it was read: %v", err)
	}
	cfg.Restore = sn
	s, err := New(cfg, clock.NewFake(epoch))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Items of every shape survive a clean stop and start: small and chunked
// values, flags, CAS, remaining TTL, LRU order; what expired or was flushed
// while stopped is gone; new CAS values stay above the old ones.
func TestRestartKeepsItems(t *testing.T) {
	cfg := restartConfig(t)
	const epoch = 1_700_000_000
	clk := clock.NewFake(epoch)
	s, err := New(cfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("0123456789", 70_000) // 700 KB: a chunked item
	want := map[string]string{"large": big}
	cas := map[string]uint64{}
	for i := range 3000 {
		k, v := fmt.Sprintf("key:%d", i), strings.Repeat(string(rune('a'+i%26)), i%700)
		if r := set(t, s, k, v, uint32(i), 0, nil); r.Result != Stored {
			t.Fatalf("set %s: %v", k, r.Result)
		}
		want[k] = v
	}
	if r := set(t, s, "large", big, 7, 0, nil); r.Result != Stored {
		t.Fatalf("set large: %v", r.Result)
	}
	for i := 0; i < 3000; i += 7 {
		k := fmt.Sprintf("key:%d", i)
		s.Delete([]byte(k), nil)
		delete(want, k)
	}
	set(t, s, "short", "gone after the stop", 0, 5, nil)
	set(t, s, "long", "still here", 3, 200, nil)
	want["long"] = "still here"
	for k := range want {
		cas[k] = mustGet(t, s, k, want[k]).it.CAS
	}
	clk.Advance(3)
	stopClean(t, s)

	// Ten seconds later, on a clock with a later epoch.
	s2 := reopenStore(t, cfg, epoch+13)
	rep := s2.Restored()
	if !rep.Restored || rep.Items != len(want) || rep.Dropped != 1 {
		t.Fatalf("Restored() = %+v, want %d items and 1 dropped", rep, len(want))
	}
	checkInv(t, s2)
	for k, v := range want {
		r := mustGet(t, s2, k, v)
		if r.it.CAS != cas[k] {
			t.Fatalf("%s: CAS %d after the restart, was %d", k, r.it.CAS, cas[k])
		}
	}
	if r := mustGet(t, s2, "key:1", want["key:1"]); r.it.Flags != 1 {
		t.Fatalf("flags %d, want 1", r.it.Flags)
	}
	mustMiss(t, s2, "short")
	mustMiss(t, s2, "key:7")
	// "long" was stored with 200 s to live, 3 s before the stop, and the
	// store was down 10 s: 187 s are left.
	if r := mustGet(t, s2, "long", "still here"); r.it.TTL() != 187 {
		t.Fatalf("TTL after the restart = %d, want 187", r.it.TTL())
	}
	r := mustSet(t, s2, "new", "value")
	if r.CAS <= cas["large"] || r.CAS <= cas["key:2999"] {
		t.Fatalf("a new CAS %d is not above the old ones", r.CAS)
	}
	st := s2.Stats()
	if st.CurrItems != uint64(len(want)+1) {
		t.Fatalf("curr_items %d, want %d", st.CurrItems, len(want)+1)
	}
	// Memory freed by what was dropped is reused, and the store runs on.
	for i := range 5000 {
		mustSet(t, s2, fmt.Sprintf("more:%d", i), strings.Repeat("x", 500))
	}
	checkInv(t, s2)
}

// A second clean stop and start works as the first.
func TestRestartTwice(t *testing.T) {
	cfg := restartConfig(t)
	s, err := New(cfg, clock.NewFake(1_700_000_000))
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, s, "a", "1")
	stopClean(t, s)
	s2 := reopenStore(t, cfg, 1_700_000_100)
	mustGet(t, s2, "a", "1")
	mustSet(t, s2, "b", "2")
	stopClean(t, s2)
	s3 := reopenStore(t, cfg, 1_700_000_200)
	mustGet(t, s3, "a", "1")
	mustGet(t, s3, "b", "2")
}

// Classes from slab_sizes are kept across a restart with the same sizes,
// and the size histogram (track_sizes) counts the items restored.
func TestRestartWithSlabSizes(t *testing.T) {
	cfg := restartConfig(t)
	cfg.ClassSizes = []int{64, 200, 1000, 4000}
	cfg.TrackSizes = true
	s, err := New(cfg, clock.NewFake(1_700_000_000))
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, s, "a", "1")
	mustSet(t, s, "b", strings.Repeat("b", 500))
	stopClean(t, s)
	s2 := reopenStore(t, cfg, 1_700_000_100)
	if rep := s2.Restored(); !rep.Restored || rep.Items != 2 {
		t.Fatalf("Restored() = %+v, want 2 items", rep)
	}
	mustGet(t, s2, "a", "1")
	mustGet(t, s2, "b", strings.Repeat("b", 500))
	// memcached's sizes: 48 + key and NUL + value and CRLF + 8 of CAS,
	// rounded up to a multiple of 32.
	got := map[int]uint32{}
	s2.SizeHistogram(func(size int, n uint32) { got[size] = n })
	if len(got) != 2 || got[64] != 1 || got[576] != 1 {
		t.Fatalf("size histogram after the restart: %v, want 1 at 64 (a, 61 bytes) and 1 at 576 (b, 560)", got)
	}
	s2.Delete([]byte("b"), nil)
	got = map[int]uint32{}
	s2.SizeHistogram(func(size int, n uint32) { got[size] = n })
	if len(got) != 1 || got[64] != 1 {
		t.Fatalf("size histogram after deleting b: %v", got)
	}
}

// Without a clean stop there is no metadata, and the next start is empty
// even though the memory file still holds items.
func TestRestartWithoutCleanStopStartsEmpty(t *testing.T) {
	cfg := restartConfig(t)
	s, err := New(cfg, clock.NewFake(0))
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, s, "a", "1")
	s.Close() // a stop without SaveSnapshot, as after kill -9
	s2 := reopenStore(t, cfg, 0)
	if rep := s2.Restored(); rep.Restored {
		t.Fatalf("Restored() = %+v without a snapshot", rep)
	}
	mustMiss(t, s2, "a")
	mustSet(t, s2, "b", "2")
}

// A snapshot that does not fit is not used: other memory settings, a
// damaged item, a damaged list. The store starts empty and says why.
func TestRestartRefusesWhatItCannotTrust(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, cfg *Config)
		reason string
	}{
		{"other -m", func(_ *testing.T, cfg *Config) { cfg.MemoryLimit = 32 << 20 }, "maxbytes"},
		{"other -f", func(_ *testing.T, cfg *Config) { cfg.GrowthFactor = 1.5 }, "growth_factor"},
		{"slab_sizes", func(_ *testing.T, cfg *Config) { cfg.ClassSizes = []int{96, 200, 1000} }, "slab_sizes"},
		{"slab_sizes with one class", func(_ *testing.T, cfg *Config) { cfg.ClassSizes = []int{} }, "slab_sizes"},
		{"other -C", func(_ *testing.T, cfg *Config) { cfg.NoCAS = true }, "use_cas"},
		{"damaged key", func(t *testing.T, cfg *Config) {
			b, err := os.ReadFile(cfg.MemoryFile)
			if err != nil {
				t.Fatal(err)
			}
			i := strings.Index(string(b), "victim")
			if i < 0 {
				t.Fatal("key not found in the memory file")
			}
			b[i] = 'V'
			if err := os.WriteFile(cfg.MemoryFile, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "hash tag"},
		{"damaged metadata", func(t *testing.T, cfg *Config) {
			mp := MetaPath(cfg.MemoryFile)
			b, err := os.ReadFile(mp)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(b), "\n")
			for i, l := range lines {
				if strings.HasPrefix(l, "Klru ") {
					lines[i] = "Klru 1:2:5:5"
				}
			}
			os.WriteFile(mp, []byte(strings.Join(lines, "\n")), 0o600)
		}, "list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := restartConfig(t)
			s, err := New(cfg, clock.NewFake(0))
			if err != nil {
				t.Fatal(err)
			}
			mustSet(t, s, "victim", "value")
			stopClean(t, s)
			tc.change(t, &cfg)
			s2 := reopenStore(t, cfg, 0)
			rep := s2.Restored()
			if rep.Restored || !strings.Contains(rep.Reason, tc.reason) {
				t.Fatalf("Restored() = %+v, want refused for %q", rep, tc.reason)
			}
			mustMiss(t, s2, "victim")
			mustSet(t, s2, "b", "2")
			mustGet(t, s2, "b", "2")
		})
	}
}

// An empty or foreign metadata file is an error (memcached refuses to start
// on one), and it is removed all the same.
func TestReadSnapshotRefusesForeignFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "memory")
	for _, content := range []string{"", "Tmain\nKmaxbytes 1\n"} {
		if err := os.WriteFile(MetaPath(path), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadSnapshot(path); !errors.Is(err, ErrSnapshot) {
			t.Fatalf("ReadSnapshot of %q: %v, want ErrSnapshot", content, err)
		}
		if _, err := os.Stat(MetaPath(path)); !os.IsNotExist(err) {
			t.Fatal("the metadata file was left in place")
		}
	}
	if sn, err := ReadSnapshot(path); sn != nil || err != nil {
		t.Fatalf("ReadSnapshot without a file = %v, %v", sn, err)
	}
}
