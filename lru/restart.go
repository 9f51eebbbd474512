package lru

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slabcache/slabcache/internal/clock"
	"github.com/slabcache/slabcache/slab"
)

// Warm restart, as memcached's -e: item memory lives in a file mapping
// (Config.MemoryFile). At a clean stop the server stops the store's
// background work and calls SaveSnapshot, which writes the metadata a new
// process needs to trust the file into MemoryFile+".meta": the settings that
// shape memory, the clock, the page owners, the LRU lists' ends and the
// index size. A new process reads it with ReadSnapshot, which removes it at
// once, so a process that dies without a clean stop leaves no metadata and
// the next start is empty: memory is never trusted unless the last user
// said it was consistent.
//
// Reopening walks every LRU list from its tail, checks each item (its chunk
// belongs to the list's class, its lifecycle, segment and links agree, its
// key hashes to the tag it carries, a large item's chunks point back to
// it), drops those that expired or were flushed meanwhile, relinks the
// others in the same order, rebuilds the hash index, and claims their
// chunks from the allocator; unclaimed chunks are free. Times are moved
// from the old clock to the new one, so downtime counts toward expiry. Any
// inconsistency abandons the file and starts empty.

// snapshotTag is the first line of the metadata file.
const snapshotTag = "Tslabcached-restart"

// snapshotFormat changes when the item layout or the metadata changes: a
// file written by another format is not reused.
const snapshotFormat = "1"

// ErrSnapshot reports a metadata file that cannot be read at all (empty, or
// not one slabcached wrote). memcached refuses to start on such a file.
var ErrSnapshot = errors.New("lru: corrupt restart metadata file")

// Snapshot is the metadata a clean stop saved beside a memory file.
type Snapshot struct {
	kv map[string]string
}

// Note returns what SetRestartNote recorded as name before the save that
// wrote this snapshot ("" for nothing).
func (sn *Snapshot) Note(name string) string { return sn.kv["note."+name] }

// SetRestartNote records value as name in the metadata the next
// SaveSnapshot writes, for the process that starts from it
// (Snapshot.Note). Neither may hold a space or a line break.
func (s *Store) SetRestartNote(name, value string) {
	if strings.ContainsAny(name, " \r\n") || strings.ContainsAny(value, "\r\n") {
		panic("lru: SetRestartNote: a space or line break in " + strconv.Quote(name))
	}
	s.notesMu.Lock()
	defer s.notesMu.Unlock()
	if s.notes == nil {
		s.notes = map[string]string{}
	}
	s.notes[name] = value
}

// MetaPath is the metadata file of memory file path.
func MetaPath(path string) string { return path + ".meta" }

// ReadSnapshot reads and removes the metadata beside memory file path. It
// returns nil and no error when there is none (start empty); ErrSnapshot
// when there is one that is not slabcached's.
func ReadSnapshot(path string) (*Snapshot, error) {
	mp := MetaPath(path)
	b, err := os.ReadFile(mp)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lru: restart metadata: %w", err)
	}
	// Whatever happens next, this metadata is used once.
	if err := os.Remove(mp); err != nil {
		return nil, fmt.Errorf("lru: restart metadata: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 64<<20)
	if !sc.Scan() || sc.Text() != snapshotTag {
		return nil, fmt.Errorf("%w %s", ErrSnapshot, mp)
	}
	s := &Snapshot{kv: map[string]string{}}
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "K"), " ")
		if !ok || !strings.HasPrefix(sc.Text(), "K") {
			return nil, fmt.Errorf("%w %s: bad line %.40q", ErrSnapshot, mp, sc.Text())
		}
		s.kv[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrSnapshot, mp, err)
	}
	return s, nil
}

// shape is what must be the same for a memory file to be reused.
func (cfg *Config) shape() [][2]string {
	return [][2]string{
		{"format", snapshotFormat},
		{"page_size", strconv.Itoa(slab.PageSize)},
		{"maxbytes", strconv.FormatInt(cfg.MemoryLimit, 10)},
		{"maxbytes_max", strconv.FormatInt(cfg.MemoryLimitMax, 10)},
		{"chunk_size", strconv.Itoa(cfg.MinChunkSpace)},
		{"growth_factor", strconv.FormatFloat(cfg.GrowthFactor, 'g', -1, 64)},
		{"item_size_max", strconv.Itoa(cfg.ItemSizeMax)},
		{"slab_chunk_max", strconv.Itoa(cfg.SlabChunkMax)},
		{"use_cas", strconv.FormatBool(!cfg.NoCAS)},
		{"slab_sizes", sizesString(cfg.ClassSizes)},
	}
}

// sizesString writes class sizes as -o slab_sizes takes them ("" for
// none).
func sizesString(sizes []int) string {
	if sizes != nil && len(sizes) == 0 {
		return "-" // one class only
	}
	var b []byte
	for i, n := range sizes {
		if i > 0 {
			b = append(b, '-')
		}
		b = strconv.AppendInt(b, int64(n), 10)
	}
	return string(b)
}

// Check tells why the snapshot cannot be used with cfg, or returns nil.
func (sn *Snapshot) Check(cfg Config) error {
	for _, kv := range cfg.shape() {
		got, ok := sn.kv[kv[0]]
		if !ok && kv[0] == "slab_sizes" {
			ok = true // written before slab_sizes existed: none
		}
		if !ok || got != kv[1] {
			return fmt.Errorf("%s was %q, is now %q", kv[0], got, kv[1])
		}
	}
	return nil
}

func (sn *Snapshot) int(k string) (int64, error) {
	v, err := strconv.ParseInt(sn.kv[k], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q", k, sn.kv[k])
	}
	return v, nil
}

// RestoreReport tells what New did with a Config.Restore snapshot.
type RestoreReport struct {
	Restored bool   // the items of the memory file are being served
	Items    int    // items reopened
	Dropped  int    // items that expired or were flushed while stopped
	Reason   string // why the memory file was not reused (Restored false)
}

// Restored reports what became of the snapshot given to New (the zero
// value when there was none).
func (s *Store) Restored() RestoreReport { return s.restored }

// reopen builds a store over the memory file of cfg.Restore, or an empty
// one (over a zeroed file) when the snapshot cannot be trusted.
func reopen(cfg Config, clk clock.Clock) (*Store, error) {
	sn := cfg.Restore
	reason := ""
	if err := sn.Check(cfg); err != nil {
		reason = "settings differ: " + err.Error()
	} else {
		groups, err := sn.int("index_groups")
		if err != nil || groups <= 0 || groups > math.MaxUint32 {
			reason = "bad index size"
		} else {
			s, err := build(cfg, clk, true, uint32(groups))
			if err != nil {
				return nil, err
			}
			if !s.slab.Kept() {
				reason = "the memory file is not the size the snapshot describes"
			} else if err := s.restore(sn); err != nil {
				reason = err.Error()
			} else {
				return s, nil
			}
			if err := s.Close(); err != nil {
				return nil, err
			}
		}
	}
	s, err := build(cfg, clk, false, 0)
	if err != nil {
		return nil, err
	}
	s.restored.Reason = reason
	return s, nil
}

// restore rebuilds the allocator, the LRU lists and the index of a store
// built over a kept memory file. On error the store must be closed.
func (s *Store) restore(sn *Snapshot) error {
	pages, err := hex.DecodeString(sn.kv["pages"])
	if err != nil {
		return fmt.Errorf("pages: %v", err)
	}
	if err := s.slab.Reopen(slab.Layout{Classes: pages}); err != nil {
		return err
	}
	oldEpoch, err := sn.int("epoch")
	if err != nil {
		return err
	}
	stopped, err := sn.int("stop_time")
	if err != nil {
		return err
	}
	if time.Now().Unix() < stopped {
		return errors.New("the clock went back since the stop")
	}
	ol, err := sn.int("oldest_live")
	if err != nil {
		return err
	}
	// Times are relative to a clock's epoch: old + delta is the same
	// instant on this process's clock.
	delta := oldEpoch - s.clk.Epoch()
	nowOld := int64(s.clk.Now()) - delta // now, on the old clock
	flushCAS := make([]uint64, len(s.shards))
	if v := sn.kv["flush_cas"]; v != "" {
		for _, f := range strings.Split(v, ",") {
			i, c, ok := strings.Cut(f, ":")
			n, err1 := strconv.Atoi(i)
			x, err2 := strconv.ParseUint(c, 10, 64)
			if !ok || err1 != nil || err2 != nil || n < 0 || n >= len(flushCAS) {
				return fmt.Errorf("flush_cas: %q", f)
			}
			flushCAS[n] = x
		}
	}
	r := restorer{s: s, delta: delta, nowOld: nowOld, oldestLive: ol, flushCAS: flushCAS}
	if v := sn.kv["lru"]; v != "" {
		for _, f := range strings.Split(v, ",") {
			var cls, seg int
			var head, tail uint32
			if _, err := fmt.Sscanf(f, "%d:%d:%d:%d", &cls, &seg, &head, &tail); err != nil ||
				cls < 1 || cls > s.slab.NumClasses() || seg < 0 || seg >= int(numSegs) {
				return fmt.Errorf("lru: %q", f)
			}
			if err := r.list(cls, Segment(seg), slab.Ref(head), slab.Ref(tail)); err != nil {
				return err
			}
		}
	}
	next := r.maxCAS>>casShardBits + 1
	for i := range s.shards {
		s.shards[i].casNext = next
	}
	if ol > nowOld {
		// A flush_all with a delay still to come.
		s.oldestLive.Store(uint32(ol + delta))
	}
	if hp, err := sn.int("hashpower"); err == nil && hp > int64(s.hashPower.Load()) && hp <= 32 {
		s.hashPower.Store(int32(hp))
	}
	s.restored = RestoreReport{Restored: true, Items: r.items, Dropped: r.dropped}
	return nil
}

// restorer walks the saved LRU lists.
type restorer struct {
	s          *Store
	delta      int64 // old clock + delta = new clock
	nowOld     int64
	oldestLive int64
	flushCAS   []uint64
	maxCAS     uint64
	items      int
	dropped    int
}

// list relinks the items of one saved LRU list, oldest first.
func (r *restorer) list(cls int, seg Segment, head, tail slab.Ref) error {
	s := r.s
	bad := func(ref slab.Ref, why string) error {
		return fmt.Errorf("class %d %s list: item %#x: %s", cls, seg, uint32(ref), why)
	}
	// A list runs from head (newest) to tail through next links, and back
	// through prev links; the walk goes from the tail through prev.
	var walked slab.Ref // the item walked before, p's next
	limit := s.slab.MaxPages() * (slab.PageSize / slab.MinChunkSize)
	for ref, n := tail, 0; ref != 0; n++ {
		if n > limit {
			return bad(ref, "the list loops")
		}
		if ref.Page() >= uint32(s.slab.MaxPages()) || s.slab.PageClass(ref.Page()) == 0 {
			return bad(ref, "not in a page of any class")
		}
		p := s.ptr(ref)
		st := loadState(p)
		switch {
		case lifecycle(st) != lcLinked:
			return bad(ref, "not a linked item")
		case segOf(st) != seg || s.lruClass(ref, st) != cls:
			return bad(ref, "in another list")
		case getNext(p) != walked:
			return bad(ref, "links disagree")
		}
		klen := getKlen(p)
		size := s.slab.ChunkSize(s.classOf(ref))
		vo := int(s.lay.valOff(p, st))
		if st&stChunked != 0 {
			vo += chunkTblHdr
		}
		if klen == 0 || klen > KeyMaxLen || vo > size {
			return bad(ref, "bad key length")
		}
		key := s.lay.key(p, st)
		h := hashKey(key)
		if itemTag(h) != tagOf(st) {
			return bad(ref, "key does not match its hash tag")
		}
		newer := getPrev(p)
		if s.headBytes(p, st) > size {
			return bad(ref, "larger than its chunk")
		}
		if st&stChunked != 0 {
			t := s.chunksOf(p, st)
			if t.vlen <= 0 || t.n != s.chunkCount(t.vlen) {
				return bad(ref, "bad chunk table")
			}
		}
		if r.gone(p) {
			r.dropped++
			storeState(p, lcFree)
		} else {
			if err := r.keep(cls, seg, ref, p, st, h, key); err != nil {
				return bad(ref, err.Error())
			}
		}
		walked, ref = ref, newer
	}
	if walked != head {
		return fmt.Errorf("class %d %s list: ends at %#x, saved head %#x", cls, seg, uint32(walked), uint32(head))
	}
	return nil
}

// gone reports whether item p expired or was flushed while stopped (or
// before: lazily expired items stay in memory until found).
func (r *restorer) gone(p itemPtr) bool {
	if e := int64(getExp(p)); e != 0 && e <= r.nowOld {
		return true
	}
	if ol := r.oldestLive; ol != 0 && ol <= r.nowOld && int64(getAtime(p)) <= ol {
		return true
	}
	sh := r.s.shardOfState(loadState(p))
	return r.s.casFlushed(p, r.flushCAS[sh.id])
}

// keep claims item p's chunks, moves its times to the new clock and links
// it at the head of its list and into the index.
func (r *restorer) keep(cls int, seg Segment, ref slab.Ref, p itemPtr, st uint32, h uint64, key []byte) error {
	s := r.s
	if st&stChunked != 0 {
		t := s.chunksOf(p, st)
		for j := 0; j < t.n; j++ {
			d := t.ref(j)
			if d == 0 || d.Page() >= uint32(s.slab.MaxPages()) || s.slab.PageClass(d.Page()) == 0 {
				return errors.New("a data chunk is missing")
			}
			dp := s.ptr(d)
			if lifecycle(loadState(dp)) != lcData || slab.Ref(*u32(dp, offDataHead)) != ref {
				return errors.New("a data chunk belongs to another item")
			}
			if err := s.slab.Claim(d, dataHdr+t.used(j)); err != nil {
				return err
			}
		}
	}
	if err := s.slab.Claim(ref, s.headBytes(p, st)); err != nil {
		return err
	}
	sh := s.shardFor(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if i, _ := s.findLocked(&sh.t, h, key); i >= 0 {
		return errors.New("its key is stored twice")
	}
	if e := getExp(p); e != 0 {
		setExp(p, uint32(int64(e)+r.delta))
	}
	setAtime(p, uint32(max(int64(getAtime(p))+r.delta, 1)))
	storeState(p, st&^stBumpQ)
	if c := s.lay.cas(p); c > r.maxCAS {
		r.maxCAS = c
	}
	// Into its stripe under this process's LRUStripes, which may differ
	// from the saving one's.
	c := s.lruOf(ref, st)
	c.mu.Lock()
	s.lruLinkLocked(c, ref, p, seg, s.itemBytes(p, st))
	c.mu.Unlock()
	if s.sizes != nil {
		s.countSize(p, st, 1)
	}
	s.insertLocked(&sh.t, h, ref)
	r.items++
	return nil
}

// SaveSnapshot writes the metadata a later process needs to reopen the
// memory file (MetaPath), after syncing the file. Call it on a clean stop,
// after Stop and once no request runs; then Close. It does nothing without
// a memory file.
func (s *Store) SaveSnapshot() error {
	if s.cfg.MemoryFile == "" {
		return nil
	}
	s.reclaimForSave()
	if err := s.slab.Sync(); err != nil {
		return fmt.Errorf("lru: syncing the memory file: %w", err)
	}
	var b bytes.Buffer
	b.WriteString(snapshotTag + "\n")
	kv := func(k, v string) { fmt.Fprintf(&b, "K%s %s\n", k, v) }
	for _, x := range s.cfg.shape() {
		kv(x[0], x[1])
	}
	kv("epoch", strconv.FormatInt(s.clk.Epoch(), 10))
	kv("current_time", strconv.FormatUint(uint64(s.clk.Now()), 10))
	kv("stop_time", strconv.FormatInt(time.Now().Unix(), 10))
	kv("oldest_live", strconv.FormatUint(uint64(s.oldestLive.Load()), 10))
	var groups uint64
	var fc []string
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		if sh.t.migrating() {
			s.migrateLocked(&sh.t, sh.t.old.ngroups)
		}
		groups += uint64(sh.t.ngroups)
		if sh.flushCAS != 0 {
			fc = append(fc, fmt.Sprintf("%d:%d", i, sh.flushCAS))
		}
		sh.mu.Unlock()
	}
	// Each shard's table reopens at the mean size, so the index (and
	// hash_power_level) is as large as it had grown.
	kv("hashpower", strconv.Itoa(int(s.hashPower.Load())))
	kv("index_groups", strconv.FormatUint((groups+uint64(len(s.shards))-1)/uint64(len(s.shards)), 10))
	kv("flush_cas", strings.Join(fc, ","))
	kv("pages", hex.EncodeToString(s.slab.Layout().Classes))
	var lists []string
	for i := s.stripes(); i < len(s.classes); i++ {
		c := &s.classes[i] // one list per class and segment in each stripe
		c.mu.Lock()
		for g := range numSegs {
			if c.head[g] != 0 {
				lists = append(lists, fmt.Sprintf("%d:%d:%d:%d", c.cls, g, uint32(c.head[g]), uint32(c.tail[g])))
			}
		}
		c.mu.Unlock()
	}
	kv("lru", strings.Join(lists, ","))
	s.notesMu.Lock()
	for _, k := range slices.Sorted(maps.Keys(s.notes)) {
		kv("note."+k, s.notes[k])
	}
	s.notesMu.Unlock()
	mp := MetaPath(s.cfg.MemoryFile)
	tmp := mp + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("lru: restart metadata: %w", err)
	}
	if err := os.Rename(tmp, mp); err != nil {
		return fmt.Errorf("lru: restart metadata: %w", err)
	}
	return nil
}
