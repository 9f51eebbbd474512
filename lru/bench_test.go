package lru

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/slabcache/slabcache/internal/clock"
)

func benchStore(b *testing.B, n int) (*Store, [][]byte) { return benchStoreStripes(b, n, 1) }

// benchStoreStripes is benchStore with the given LRU stripes per class.
func benchStoreStripes(b *testing.B, n, stripes int) (*Store, [][]byte) {
	cfg := DefaultConfig()
	cfg.MemoryLimit = 512 << 20
	cfg.LRUStripes = stripes
	s, err := New(cfg, clock.NewFake(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	keys := make([][]byte, n)
	val := make([]byte, 100)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("key:%011d", i))
		s.Set(keys[i], 0, 0, val, nil)
	}
	return s, keys
}

// BenchmarkGet: a hit on a 100-byte value, reply appended to a buffer.
func BenchmarkGet(b *testing.B) {
	s, keys := benchStore(b, 1<<16)
	c := &conn{out: make([]byte, 0, 1024)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.out = c.out[:0]
		s.Get(keys[i&(len(keys)-1)], nil, c)
	}
}

func BenchmarkGetMiss(b *testing.B) {
	s, _ := benchStore(b, 1<<16)
	c := &conn{}
	k := []byte("key:absent-key-")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.Get(k, nil, c)
	}
}

// BenchmarkSet overwrites existing keys with 100-byte values.
func BenchmarkSet(b *testing.B) {
	s, keys := benchStore(b, 1<<16)
	val := make([]byte, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Set(keys[i&(len(keys)-1)], 0, 0, val, nil)
	}
}

// BenchmarkSetEvicting stores new keys into a full store.
func BenchmarkSetEvicting(b *testing.B) {
	cfg := DefaultConfig()
	cfg.MemoryLimit = 16 << 20
	s, err := New(cfg, clock.NewFake(0))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	val := make([]byte, 100)
	key := []byte("key:00000000000")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		x := i
		for j := len(key) - 1; j >= 4; j-- {
			key[j] = byte('0' + x%10)
			x /= 10
		}
		s.Set(key, 0, 0, val, nil)
	}
}

// BenchmarkSetEvictingParallel stores new keys into a full store from
// every goroutine (each store evicts), with one LRU stripe per class and
// with 8.
func BenchmarkSetEvictingParallel(b *testing.B) {
	for _, stripes := range []int{1, 8} {
		b.Run(fmt.Sprintf("stripes=%d", stripes), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.MemoryLimit = 16 << 20
			cfg.LRUStripes = stripes
			s, err := New(cfg, clock.NewFake(0))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var seed atomic.Uint64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				val := make([]byte, 100)
				key := []byte("key:00000000000")
				x0 := seed.Add(1) << 40
				for i := uint64(0); pb.Next(); i++ {
					x := x0 | i
					for j := len(key) - 1; j >= 4; j-- {
						key[j] = byte('a' + x%16)
						x /= 16
					}
					s.Set(key, 0, 0, val, nil)
				}
			})
		})
	}
}

// BenchmarkGetParallel and BenchmarkSetParallel show scaling with
// GOMAXPROCS (run with -cpu 1,2,4).
func BenchmarkGetParallel(b *testing.B) {
	s, keys := benchStore(b, 1<<16)
	var seed atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := &conn{out: make([]byte, 0, 1024)}
		i := int(seed.Add(7919))
		for pb.Next() {
			c.out = c.out[:0]
			s.Get(keys[i&(len(keys)-1)], nil, c)
			i++
		}
	})
}

func BenchmarkSetParallel(b *testing.B) { benchSetParallel(b, 1) }

// BenchmarkSetParallelStriped is BenchmarkSetParallel with each class's
// LRU in 8 stripes (Config.LRUStripes), so that concurrent stores of one
// class mostly take different LRU locks.
func BenchmarkSetParallelStriped(b *testing.B) { benchSetParallel(b, 8) }

func benchSetParallel(b *testing.B, stripes int) {
	s, keys := benchStoreStripes(b, 1<<16, stripes)
	var seed atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		val := make([]byte, 100)
		i := int(seed.Add(7919))
		for pb.Next() {
			s.Set(keys[i&(len(keys)-1)], 0, 0, val, nil)
			i++
		}
	})
}

// BenchmarkMixedParallel: 90% gets, 10% overwrites, keys walked in the
// order they were stored.
func BenchmarkMixedParallel(b *testing.B) { benchMixed(b, 1) }

// BenchmarkMixedScatteredParallel is BenchmarkMixedParallel with keys
// taken in an order unrelated to the order they were stored in (and so to
// where their items lie in memory), as a cache's clients take them;
// MixedParallel walks the keys in load order, which the CPU's prefetcher
// rewards as long as overwrites leave items in that order.
func BenchmarkMixedScatteredParallel(b *testing.B) { benchMixed(b, 40503) }

// benchMixed runs the mixed load, key i being keys[i*stride mod len(keys)]
// (an odd stride visits every key).
func benchMixed(b *testing.B, stride int) {
	s, keys := benchStore(b, 1<<16)
	var seed atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := &conn{out: make([]byte, 0, 1024)}
		val := make([]byte, 100)
		i := int(seed.Add(7919))
		for pb.Next() {
			k := keys[(i*stride)&(len(keys)-1)]
			if i%10 == 0 {
				s.Set(k, 0, 0, val, nil)
			} else {
				c.out = c.out[:0]
				s.Get(k, nil, c)
			}
			i++
		}
	})
}

// BenchmarkGetLookAhead reads 1,000,000 items (15-byte keys, 100-byte
// values, 152 MB of item memory: more than the CPU's caches) in a random
// order, as a server reads a pipelined batch: "plain" gets one key after
// the other, "ahead" first prefetches the index entries of the key 8 reads
// ahead and the item of the next one, as the server's look-ahead does.
func BenchmarkGetLookAhead(b *testing.B) {
	const n, depth = 1_000_000, 8
	s, keys := benchStore(b, n)
	for s.migrateStep(1<<20) > 0 { // as the maintainer does after a load
	}
	// The keys in reading order, one after the other in memory as in a
	// batch of requests: reading them costs no cache miss.
	buf := make([]byte, 0, n*15)
	for i := range keys {
		buf = append(buf, keys[(uint64(i)*0x9E3779B97F4A7C15>>11)%n]...)
	}
	for i := range keys {
		keys[i] = buf[i*15 : (i+1)*15 : (i+1)*15]
	}
	c := &conn{out: make([]byte, 0, 1024)}
	b.Run("plain", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			c.out = c.out[:0]
			s.Get(keys[i%n], nil, c)
		}
	})
	b.Run("ahead", func(b *testing.B) {
		var hashes [depth + 1]uint64
		for j := 0; j < depth; j++ {
			hashes[j] = s.PrefetchIndex(keys[j%n])
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			hashes[(i+depth)%(depth+1)] = s.PrefetchIndex(keys[(i+depth)%n])
			s.PrefetchItem(hashes[(i+1)%(depth+1)])
			c.out = c.out[:0]
			s.Get(keys[i%n], nil, c)
		}
	})
}

// BenchmarkMaintainerMoves times the LRU maintainer alone under a 1:9
// set:get load over 262,144 items (random keys): every 100 operations (of
// ten requests each) one maintainer pass moves HOT and WARM tails to COLD
// and applies the queued COLD-to-WARM moves. Only the passes are timed;
// ns/op is their time per operation, moves/op how many items they moved.
func BenchmarkMaintainerMoves(b *testing.B) { benchMaintainer(b, 100) }

// BenchmarkMaintainerFrequent is BenchmarkMaintainerMoves with a pass
// every 10 operations (100 requests), as a server at 50,000 requests a
// second makes one a millisecond: most shards then have no move queued.
func BenchmarkMaintainerFrequent(b *testing.B) { benchMaintainer(b, 10) }

func benchMaintainer(b *testing.B, maintEvery int) {
	const n = 1 << 18
	s, keys := benchStore(b, n)
	for s.MaintainOnce() > 0 {
	}
	c := &conn{out: make([]byte, 0, 1024)}
	val := make([]byte, 100)
	x := uint64(88172645463325252)
	moves := 0
	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		for range 10 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			if x%10 == 0 {
				s.Set(keys[x%n], 0, 0, val, nil)
			} else {
				c.out = c.out[:0]
				s.Get(keys[x%n], nil, c)
			}
		}
		if i%maintEvery == maintEvery-1 {
			b.StartTimer()
			moves += s.MaintainOnce()
			b.StopTimer()
		}
	}
	b.ReportMetric(float64(moves)/float64(b.N), "moves/op")
}
