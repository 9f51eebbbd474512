package server

import (
	"bytes"
	"fmt"
	"testing"
)

// BenchmarkRequestPath runs gets through the request path with no socket:
// parsing, the store, the reply and the counters, as an event does
// (without the read and write system calls, which cost the same for any
// server). One op is one get; depth 1 flushes the counters after every
// get, as an unpipelined event does, depth 16 after 16. keys1 hits one
// item (no cache misses: the path's own cost), keys200000 items in an
// order unrelated to memory (each get misses the CPU caches, as a large
// cache's do). Run:
//
//	go test -run '^$' -bench RequestPath -benchtime 2s -count 3 ./server/
func BenchmarkRequestPath(b *testing.B) {
	for _, keys := range []int{1, 200000} {
		for _, depth := range []int{1, 16} {
			b.Run(fmt.Sprintf("keys%d/depth%d", keys, depth), func(b *testing.B) {
				benchRequestPath(b, keys, depth)
			})
		}
	}
}

func benchRequestPath(b *testing.B, keys, depth int) {
	// The server's defaults (hot-key detection on, sampling one request
	// in 100), with room for every key: no evictions.
	c := newTestConnWith(b, func(s *Settings) { s.MaxBytes = 256 << 20 })
	value := bytes.Repeat([]byte("v"), 100)
	reqs := make([][]byte, keys)
	for i := range reqs {
		k := fmt.Sprintf("key:%09d", i)
		c.run(fmt.Appendf(nil, "set %s 0 0 100\r\n%s\r\n", k, value))
		reqs[i] = fmt.Appendf(nil, "get %s\r\n", k)
	}
	c.flushCounters()
	// A fixed pseudo-random order of the keys (the same in every run).
	order := make([]int32, 1<<16)
	x := uint32(1)
	for i := range order {
		x = x*1664525 + 1013904223
		order[i] = int32(int(x>>8) % keys)
	}
	batches := make([][]byte, len(order)/depth)
	for i := range batches {
		for _, k := range order[i*depth : (i+1)*depth] {
			batches[i] = append(batches[i], reqs[k]...)
		}
	}
	want := fmt.Appendf(nil, "VALUE %s 0 100\r\n", reqs[order[0]][4:len(reqs[order[0]])-2])
	if got := c.run(batches[0]); !bytes.HasPrefix(got, want) {
		b.Fatalf("reply %q, want %q...", got, want)
	}
	c.flushCounters()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += depth {
		c.run(batches[(i/depth)%len(batches)])
		c.flushCounters()
	}
	b.StopTimer()
	if got, want := c.loop.c[cGetHits].Load(), uint64(b.N); got < want {
		b.Fatalf("get_hits %d after %d gets", got, want)
	}
}
