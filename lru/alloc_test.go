package lru

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"testing"
)

// conn stands for a server connection: it implements Hit by appending a
// reply into its own output buffer.
type conn struct {
	out []byte
}

func (c *conn) Hit(it *Item) {
	c.out = append(c.out, "VALUE k "...)
	c.out = strconv.AppendUint(c.out, uint64(it.Flags), 10)
	c.out = append(c.out, ' ')
	c.out = strconv.AppendInt(c.out, int64(it.Len), 10)
	c.out = append(c.out, "\r\n"...)
	c.out = it.AppendValue(c.out)
	c.out = append(c.out, "\r\n"...)
}

func TestHotPathsDoNotAllocate(t *testing.T) {
	s, _ := newTestStore(t, testConfig())
	key := []byte("some:key:1234")
	val := make([]byte, 100)
	s.Set(key, 1, 0, val, nil)
	c := &conn{out: make([]byte, 0, 4096)}
	cases := map[string]func(){
		"Get": func() {
			c.out = c.out[:0]
			if s.Get(key, nil, c).Result != Found {
				t.Fatal("miss")
			}
		},
		"GetTouch": func() {
			c.out = c.out[:0]
			s.Get(key, &GetArgs{Touch: true, Exptime: 100}, c)
		},
		"Miss": func() { s.Get([]byte("absent"), nil, c) },
		"Set":  func() { s.Set(key, 1, 0, val, nil) },
		"SetCAS": func() {
			s.Set(key, 1, 0, val, &SetArgs{Mode: ModeCAS, CAS: 1})
		},
		"Reserve/Write/Commit": func() {
			var r Reservation
			s.Reserve(&r, key, 0, 0, len(val))
			r.Write(val[:50])
			r.Write(val[50:])
			s.Commit(&r, nil)
		},
		"Touch":         func() { s.Touch(key, 0) },
		"PrefetchItem":  func() { s.PrefetchItem(s.PrefetchIndex(key)) },
		"PrefetchIndex": func() { s.PrefetchIndex(key) },
		"Delete":        func() { s.Delete([]byte("absent"), nil) },
		"Incr": func() {
			s.Set([]byte("n"), 0, 0, []byte("1"), nil)
			s.Delta([]byte("n"), &DeltaArgs{Incr: true, Delta: 1})
		},
	}
	for name, f := range cases {
		f()
		if n := testing.AllocsPerRun(200, f); n != 0 {
			t.Errorf("%s allocates %v times per call", name, n)
		}
	}
}

// Many goroutines store, read, delete and count on overlapping keys while
// the background goroutine runs; run with -race. Afterwards the structure
// is intact and every key holds a value some writer wrote.
func TestConcurrentMixed(t *testing.T) { forStripes(t, testConcurrentMixed) }

func testConcurrentMixed(t *testing.T, stripes int) {
	cfg := testConfig()
	cfg.LRUStripes = stripes
	cfg.MemoryLimit = 4 << 20
	cfg.SlabAutomove = 2
	s, clk := newTestStore(t, cfg)
	s.Start()
	workers, ops := 4, 20000
	if testing.Short() || raceEnabled {
		ops = 4000
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := &conn{}
			var r Reservation
			for i := 0; i < ops; i++ {
				k := []byte(fmt.Sprintf("k%d", (i*7+w)%500))
				switch i % 9 {
				case 0, 1, 2:
					c.out = c.out[:0]
					s.Get(k, nil, c)
				case 3:
					s.Set(k, uint32(w), int64(i%5), []byte(fmt.Sprintf("v%d-%d", w, i)), nil)
				case 4:
					n := 100 + i%3000
					if i%97 == 4 {
						n = 300000 + i%400000 // chunked
					}
					v := make([]byte, n)
					if s.Reserve(&r, k, 0, 0, len(v)) == Stored {
						r.Write(v)
						s.Commit(&r, &SetArgs{Mode: Mode(i % 5)})
					}
				case 5:
					s.Delete(k, nil)
				case 6:
					s.Delta(k, &DeltaArgs{Incr: true, Delta: 1, Vivify: true})
				case 7:
					s.Get(k, &GetArgs{Vivify: true, VivifyExptime: 30, Recache: true, RecacheExptime: 10}, c)
				case 8:
					if w == 0 && i%900 == 8 {
						clk.Advance(1)
						s.CrawlOnce(500)
						s.AutomoveOnce()
					}
					s.Touch(k, 10)
				}
			}
		}(w)
	}
	wg.Wait()
	s.Stop()
	if err := s.Check(0); err != nil {
		t.Fatal(err)
	}
}

// checkHit verifies that a value is made only of its key's fill byte.
type checkHit struct {
	want byte
	bad  int
	buf  []byte
}

func (c *checkHit) Hit(it *Item) {
	c.buf = it.AppendValue(c.buf[:0])
	if len(c.buf) != it.Len {
		c.bad++
	}
	for _, b := range c.buf {
		if b != c.want {
			c.bad++
			return
		}
	}
}

// Readers never see a torn or foreign value while writers overwrite keys
// and pages are moved between classes underneath them.
func TestConcurrentValuesIntactDuringPageMoves(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryLimit = 32 << 20
	cfg.SlabAutomove = 0
	s, _ := newTestStore(t, cfg)
	const nkeys = 400
	fillByte := func(k int) byte { return byte('a' + k%26) }
	ops := 20000
	if testing.Short() || raceEnabled {
		ops = 3000
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := &checkHit{}
			for i := 0; i < ops; i++ {
				k := (i*13 + w*7) % nkeys
				key := []byte(fmt.Sprintf("key%d", k))
				if i%3 == 0 {
					n := 50 + (i*31+w)%(k*40+1)
					if k%4 != 0 {
						// Most keys in four classes of 20-40 KB
						// values, which then span several pages each
						// (slabs reassign moves no class's only page).
						n = 20000 + (i*31+w)%20000
					}
					if k%50 == 0 {
						n = 600000 + i%1000
					}
					v := bytes.Repeat([]byte{fillByte(k)}, n)
					s.Set(key, 0, 0, v, nil)
				} else {
					c.want = fillByte(k)
					s.Get(key, nil, c)
				}
			}
			if c.bad != 0 {
				t.Errorf("worker %d saw %d bad values", w, c.bad)
			}
		}(w)
	}
	moverDone := make(chan struct{})
	go func() {
		defer close(moverDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s.Reassign(1+i%s.slab.NumClasses(), 0)
			s.MaintainOnce()
		}
	}()
	wg.Wait()
	close(stop)
	<-moverDone
	if st := s.Stats(); st.SlabsMoved == 0 {
		t.Fatal("no page moved during the test")
	}
	if err := s.Check(0); err != nil {
		t.Fatal(err)
	}
}
