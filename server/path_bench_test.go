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
// cache's do). BenchmarkRequestPathSet and BenchmarkRequestPathMeta run
// sets of 100-byte values and `mg <key> v f t` the same way, and
// BenchmarkRequestPathMultiGet gets of 10 keys (one op: one key). Run:
//
//	go test -run '^$' -bench RequestPath -benchtime 2s -count 3 ./server/
func BenchmarkRequestPath(b *testing.B) { benchRequestPaths(b, "get") }

func BenchmarkRequestPathSet(b *testing.B) { benchRequestPaths(b, "set") }

func BenchmarkRequestPathMeta(b *testing.B) { benchRequestPaths(b, "mg") }

func BenchmarkRequestPathMultiGet(b *testing.B) { benchRequestPaths(b, "get10") }

func benchRequestPaths(b *testing.B, cmd string) {
	for _, keys := range []int{1, 200000} {
		for _, depth := range []int{1, 16} {
			b.Run(fmt.Sprintf("keys%d/depth%d", keys, depth), func(b *testing.B) {
				benchRequestPath(b, cmd, keys, depth)
			})
		}
	}
}

func benchRequestPath(b *testing.B, cmd string, keys, depth int) {
	// The server's defaults (hot-key detection on, sampling one request
	// in 100), with room for every key: no evictions.
	c := newTestConnWith(b, func(s *Settings) { s.MaxBytes = 256 << 20 })
	value := bytes.Repeat([]byte("v"), 100)
	reqs := make([][]byte, keys)
	for i := range reqs {
		k := fmt.Sprintf("key:%09d", i)
		set := fmt.Appendf(nil, "set %s 0 0 100\r\n%s\r\n", k, value)
		c.run(set)
		switch cmd {
		case "get":
			reqs[i] = fmt.Appendf(nil, "get %s\r\n", k)
		case "set":
			reqs[i] = set
		case "mg":
			reqs[i] = fmt.Appendf(nil, "mg %s v f t\r\n", k)
		case "get10":
			reqs[i] = []byte(k)
		}
	}
	per := 1 // keys per request
	if cmd == "get10" {
		per = 10
	}
	c.flushCounters()
	// A fixed pseudo-random order of the keys (the same in every run).
	order := make([]int32, 1<<16)
	x := uint32(1)
	for i := range order {
		x = x*1664525 + 1013904223
		order[i] = int32(int(x>>8) % keys)
	}
	batches := make([][]byte, len(order)/(depth*per))
	for i := range batches {
		for j, k := range order[i*depth*per : (i+1)*depth*per] {
			if per == 1 {
				batches[i] = append(batches[i], reqs[k]...)
				continue
			}
			if j%per == 0 {
				batches[i] = append(batches[i], "get"...)
			}
			batches[i] = append(append(batches[i], ' '), reqs[k]...)
			if j%per == per-1 {
				batches[i] = append(batches[i], "\r\n"...)
			}
		}
	}
	want := map[string][]byte{
		"get":   fmt.Appendf(nil, "VALUE key:%09d 0 100\r\n", order[0]),
		"set":   []byte("STORED\r\n"),
		"mg":    []byte("VA 100 f0 t-1\r\n"),
		"get10": fmt.Appendf(nil, "VALUE key:%09d 0 100\r\n", order[0]),
	}[cmd]
	if got := c.run(batches[0]); !bytes.HasPrefix(got, want) {
		b.Fatalf("reply %q, want %q...", got, want)
	}
	c.flushCounters()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += depth * per {
		c.run(batches[(i/(depth*per))%len(batches)])
		c.flushCounters()
	}
	b.StopTimer()
	counter := cGetHits
	if cmd == "set" {
		counter = cCmdSet
	}
	c.loop.mu.Lock()
	got := c.loop.c[counter]
	c.loop.mu.Unlock()
	if want := uint64(b.N); got < want {
		b.Fatalf("%d counted after %d requests", got, want)
	}
}
