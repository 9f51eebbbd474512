package lru

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/slabcache/slabcache/internal/clock"
	"github.com/slabcache/slabcache/internal/invariants"
)

// The trace test replays random operations against the store and against
// model, a plain map with memcached's rules written out directly, and
// compares every result. Memory is large enough that nothing is evicted, so
// the two must agree exactly.

type mItem struct {
	value []byte
	flags uint32
	exp   uint32
	cas   uint64
}

type model struct {
	clk   *clock.Fake
	items map[string]*mItem
}

func (m *model) live(k string) *mItem {
	it := m.items[k]
	if it == nil {
		return nil
	}
	if it.exp != 0 && it.exp <= m.clk.Now() {
		delete(m.items, k)
		return nil
	}
	return it
}

// opSource yields the random choices of one trace; a fuzz input or a PRNG.
type opSource interface {
	n(max int) int
}

type rngSource struct{ r *rand.Rand }

func (s rngSource) n(max int) int { return s.r.IntN(max) }

type bytesSource struct{ b []byte }

func (s *bytesSource) n(max int) int {
	if len(s.b) < 2 {
		return 0
	}
	v := int(binary.LittleEndian.Uint16(s.b))
	s.b = s.b[2:]
	return v % max
}

type tracer struct {
	t     testing.TB
	s     *Store
	m     *model
	src   opSource
	nkeys int
	c     rec
}

func newTracer(t testing.TB, src opSource, nkeys int, mem int64) *tracer {
	cfg := DefaultConfig()
	cfg.MemoryLimit = mem
	cfg.ItemSizeMax = 2 << 20
	s, clk := newTestStore(t, cfg)
	return &tracer{t: t, s: s, m: &model{clk: clk, items: map[string]*mItem{}}, src: src, nkeys: nkeys}
}

func (tr *tracer) value() []byte {
	var n int
	switch tr.src.n(100) {
	case 0:
		if tr.src.n(4) == 0 {
			n = 500000 + tr.src.n(300000) // chunked
		} else {
			n = tr.src.n(2000)
		}
	case 1, 2, 3:
		n = tr.src.n(20000)
	case 4, 5, 6, 7, 8, 9:
		return strconv.AppendUint(nil, uint64(tr.src.n(1000)), 10) // numeric
	default:
		n = tr.src.n(200)
	}
	off := tr.src.n(len(pattern) - n)
	return append([]byte(nil), pattern[off:off+n]...)
}

// pattern is the source of value bytes: a value is a random slice of it.
var pattern = func() []byte {
	b := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range b {
		b[i] = byte('a' + r.IntN(26))
	}
	return b
}()

func (tr *tracer) exptime() int64 {
	switch tr.src.n(10) {
	case 0:
		return int64(1 + tr.src.n(20))
	case 1:
		return -1
	default:
		return 0
	}
}

func (tr *tracer) step(i int) {
	t, s, m := tr.t, tr.s, tr.m
	k := fmt.Sprintf("key%d", tr.src.n(tr.nkeys))
	kb := []byte(k)
	if tr.src.n(50) == 0 {
		// large values only on a few keys, so memory never fills
		k = fmt.Sprintf("big%d", tr.src.n(12))
		kb = []byte(k)
	}
	now := m.clk.Now()
	switch op := tr.src.n(20); op {
	case 0, 1, 2, 3, 4, 5: // get, sometimes with touch
		args := &GetArgs{}
		touch := tr.src.n(5) == 0
		var exp int64
		if touch {
			exp = tr.exptime()
			args.Touch, args.Exptime = true, exp
		}
		tr.c = rec{value: tr.c.value[:0]}
		ok := s.Get(kb, args, &tr.c).Result == Found
		it := m.live(k)
		if ok != (it != nil) {
			t.Fatalf("op %d get %s: store found=%v, model %v", i, k, ok, it != nil)
		}
		if ok {
			if !bytes.Equal(tr.c.value, it.value) || tr.c.it.Flags != it.flags || tr.c.it.CAS != it.cas {
				t.Fatalf("op %d get %s: store %q/%d/%d, model %q/%d/%d", i, k, trunc(tr.c.value), tr.c.it.Flags, tr.c.it.CAS, trunc(it.value), it.flags, it.cas)
			}
			if touch {
				it.exp = clock.Expiry(m.clk, exp)
			}
			if tr.c.it.Exptime != it.exp {
				t.Fatalf("op %d get %s: exptime %d, model %d", i, k, tr.c.it.Exptime, it.exp)
			}
		}
	case 6, 7, 8, 9, 10: // store modes
		mode := Mode(tr.src.n(6))
		v := tr.value()
		flags := uint32(tr.src.n(3))
		exp := tr.exptime()
		args := &SetArgs{Mode: mode}
		it := m.live(k)
		if mode == ModeCAS || tr.src.n(10) == 0 {
			if it != nil && tr.src.n(2) == 0 {
				args.CAS = it.cas
			} else {
				args.CAS = uint64(1 + tr.src.n(1000))
			}
		}
		var res Outcome
		if tr.src.n(2) == 0 {
			res = s.Set(kb, flags, exp, v, args)
		} else {
			var r Reservation
			if rr := s.Reserve(&r, kb, flags, exp, len(v)); rr != Stored {
				t.Fatalf("op %d reserve %s: %v", i, k, rr)
			}
			for off := 0; off < len(v); {
				n := 1 + tr.src.n(len(v)-off+1)
				n = min(n, len(v)-off)
				r.Write(v[off : off+n])
				off += n
			}
			res = s.Commit(&r, args)
		}
		want := NotStored
		effMode := mode
		if args.CAS != 0 && (mode == ModeSet || mode == ModeReplace) {
			effMode = ModeCAS
		}
		switch {
		case it == nil && (effMode == ModeSet || effMode == ModeAdd):
			m.items[k] = &mItem{value: v, flags: flags, exp: clock.Expiry(m.clk, exp)}
			want = Stored
		case it == nil && effMode == ModeCAS:
			want = NotFound
		case it == nil:
		case effMode == ModeAdd:
		case effMode == ModeCAS:
			if args.CAS == it.cas {
				m.items[k] = &mItem{value: v, flags: flags, exp: clock.Expiry(m.clk, exp)}
				want = Stored
			} else {
				want = Exists
			}
		case mode == ModeAppend || mode == ModePrepend:
			if args.CAS != 0 && args.CAS != it.cas {
				want = Exists
				break
			}
			nv := append([]byte(nil), it.value...)
			if mode == ModeAppend {
				nv = append(nv, v...)
			} else {
				nv = append(append([]byte(nil), v...), it.value...)
			}
			if MemcachedItemSize(len(k), it.flags, len(nv), true) > s.cfg.ItemSizeMax {
				break
			}
			m.items[k] = &mItem{value: nv, flags: it.flags, exp: it.exp}
			want = Stored
		default: // set, replace
			m.items[k] = &mItem{value: v, flags: flags, exp: clock.Expiry(m.clk, exp)}
			want = Stored
		}
		if res.Result != want {
			t.Fatalf("op %d store %s mode %d cas %d (model cas %v): %v, want %v", i, k, mode, args.CAS, it, res.Result, want)
		}
		if want == Stored {
			if res.CAS == 0 {
				t.Fatalf("op %d: stored with CAS 0", i)
			}
			if nit := m.items[k]; nit.exp != 0 && nit.exp <= now {
				delete(m.items, k) // stored already expired
			} else {
				nit.cas = res.CAS
			}
		}
	case 11, 12: // delete
		it := m.live(k)
		var args DeleteArgs
		if it != nil && tr.src.n(4) == 0 {
			args.CAS = it.cas + uint64(tr.src.n(2))
		}
		res := s.Delete(kb, &args).Result
		want := NotFound
		if it != nil {
			if args.CAS != 0 && args.CAS != it.cas {
				want = Exists
			} else {
				want = Deleted
				delete(m.items, k)
			}
		}
		if res != want {
			t.Fatalf("op %d delete %s: %v, want %v", i, k, res, want)
		}
	case 13, 14: // incr / decr
		incr := tr.src.n(2) == 0
		d := uint64(tr.src.n(100))
		if tr.src.n(20) == 0 {
			d = ^uint64(0) - uint64(tr.src.n(5))
		}
		res := s.Delta(kb, &DeltaArgs{Incr: incr, Delta: d})
		it := m.live(k)
		switch {
		case it == nil:
			if res.Result != NotFound {
				t.Fatalf("op %d delta %s: %v, want NotFound", i, k, res.Result)
			}
		default:
			v, ok := parseUint(it.value)
			if !ok || len(it.value) == 0 || len(it.value) > maxSmallValue || MemcachedItemSize(len(k), it.flags, len(it.value), true) > s.cfg.SlabChunkMax-64 && len(it.value) > 100000 {
				if res.Result != NonNumeric {
					t.Fatalf("op %d delta %s on %q: %v, want NonNumeric", i, k, trunc(it.value), res.Result)
				}
				break
			}
			if incr {
				v += d
			} else if d > v {
				v = 0
			} else {
				v -= d
			}
			digits := strconv.AppendUint(nil, v, 10)
			if len(digits) <= len(it.value) {
				nv := bytes.Repeat([]byte(" "), len(it.value))
				copy(nv, digits)
				it.value = nv
			} else {
				it.value = digits
			}
			it.cas = res.CAS
			if res.Result != Found || res.Value != v {
				t.Fatalf("op %d delta %s: %+v, want %d", i, k, res, v)
			}
		}
	case 15: // touch
		exp := tr.exptime()
		res := s.Touch(kb, exp).Result
		it := m.live(k)
		if (res == Touched) != (it != nil) {
			t.Fatalf("op %d touch %s: %v, model has=%v", i, k, res, it != nil)
		}
		if it != nil {
			it.exp = clock.Expiry(m.clk, exp)
		}
	case 16:
		m.clk.Advance(uint32(tr.src.n(3)))
	case 17:
		if tr.src.n(5000) == 0 {
			s.Flush(0)
			m.items = map[string]*mItem{}
		}
	case 18:
		if tr.src.n(20) == 0 {
			s.MaintainOnce()
		}
	case 19:
		if tr.src.n(20) == 0 {
			s.CrawlOnce(1 + tr.src.n(2000))
		}
	}
}

func trunc(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

func (tr *tracer) finish() {
	if st := tr.s.Stats(); st.Evictions != 0 || st.OutOfMemory != 0 {
		tr.t.Fatalf("trace evicted (%d) or ran out of memory (%d): the model cannot follow", st.Evictions, st.OutOfMemory)
	}
	if err := tr.s.Check(0); err != nil {
		tr.t.Fatal(err)
	}
	live := 0
	for k := range tr.m.items {
		if tr.m.live(k) != nil {
			live++
		}
	}
	tr.s.CrawlOnce(1 << 30) // to the end of memory
	tr.s.CrawlOnce(1 << 30) // and a full pass
	if st := tr.s.Stats(); int(st.CurrItems) != live {
		tr.t.Fatalf("store holds %d items after a full crawl, model %d", st.CurrItems, live)
	}
}

func TestTraceAgainstModel(t *testing.T) {
	ops := 2_000_000
	if testing.Short() || raceEnabled {
		ops = 150_000
	}
	tr := newTracer(t, rngSource{rand.New(rand.NewPCG(42, 7))}, 3000, 96<<20)
	for i := 0; i < ops; i++ {
		tr.step(i)
		if invariants.Enabled && i%100_000 == 99_999 {
			if err := tr.s.Check(0); err != nil {
				t.Fatalf("after op %d: %v", i, err)
			}
		}
	}
	tr.finish()
}

// FuzzOps drives the same operations from the fuzzer's bytes.
func FuzzOps(f *testing.F) {
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{6, 0, 1, 0, 3, 0, 0, 0}, 40))
	f.Add([]byte("\x07\x00\x00\x00\x05\x00\x01\x00\x00\x00\x02\x00\x0d\x00\x01\x00\x01\x00\x01\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		src := &bytesSource{b: data}
		tr := newTracer(t, src, 16, 48<<20)
		for i := 0; len(src.b) >= 2 && i < 2000; i++ {
			tr.step(i)
		}
		tr.finish()
	})
}
