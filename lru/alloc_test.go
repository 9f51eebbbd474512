package lru

import (
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
			if !s.Get(key, nil, c) {
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
		"Touch":  func() { s.Touch(key, 0) },
		"Delete": func() { s.Delete([]byte("absent"), nil) },
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
func TestConcurrentMixed(t *testing.T) {
	cfg := testConfig()
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
					v := make([]byte, 100+i%3000)
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
