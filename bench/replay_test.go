package bench

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
)

// The traces are what their documentation says, and the same for a seed.
func TestTraces(t *testing.T) {
	cfg := TraceConfig{Keys: 1000, ScanLen: 50, ScanGap: 200, Phase: 300, Shift: 100, Reuse: 20}
	a, _ := NewTrace("zipf-scan", 7, cfg)
	b, _ := NewTrace("zipf-scan", 7, cfg)
	seen := map[uint64]bool{}
	for i := range 2000 {
		k := a.Next()
		if b.Next() != k {
			t.Fatal("zipf-scan differs for the same seed")
		}
		// Reads 200..249 (and every 250 after) are a scan of new keys.
		if inScan := i%250 >= 200; inScan != (k >= cfg.Keys) || inScan && seen[k] {
			t.Fatalf("read %d: key %d", i, k)
		}
		seen[k] = true
	}
	s, _ := NewTrace("shifting", 1, cfg)
	low := 0
	for i := range 3000 {
		k := s.Next()
		if i >= 2700 && k < 900 { // nine shifts of 100 later
			low++
		}
	}
	if low != 0 {
		t.Fatalf("shifting: %d reads of keys the popular set left", low)
	}
	r, _ := NewTrace("recency", 1, cfg)
	var keys []uint64
	reused := 0
	for range 10000 {
		k := r.Next()
		for j := max(0, len(keys)-200); j < len(keys); j++ {
			if keys[j] == k {
				reused++
				break
			}
		}
		keys = append(keys, k)
	}
	if reused < 6000 || reused > 7500 { // 70% rereads, nearly all within 200 reads
		t.Fatalf("recency: %d of 10000 reads reread a key of the last 200", reused)
	}
	if _, err := NewTrace("fifo", 1, cfg); err == nil {
		t.Fatal("an unknown trace was accepted")
	}
}

// fakeCache is a tiny memcached for Replay: get, set (noreply) and mn,
// holding at most cap keys (dropping one at random beyond).
func fakeCache(t *testing.T, capacity int) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		br, bw := bufio.NewReader(nc), bufio.NewWriter(nc)
		data := map[string]string{}
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			f := strings.Fields(line)
			switch f[0] {
			case "get":
				if v, ok := data[f[1]]; ok {
					bw.WriteString("VALUE " + f[1] + " 0 " + strconv.Itoa(len(v)) + "\r\n" + v + "\r\n")
				}
				bw.WriteString("END\r\n")
			case "set":
				v, _ := br.ReadString('\n')
				for k := range data {
					if len(data) < capacity {
						break
					}
					delete(data, k)
				}
				data[f[1]] = strings.TrimSuffix(v, "\r\n")
			case "mn":
				bw.WriteString("MN\r\n")
			}
			if br.Buffered() == 0 {
				bw.Flush()
			}
		}
	}()
	return l.Addr().String()
}

// Replay counts what the server answers: with room for every key, every
// reread hits; with little room, fewer do.
func TestReplayCountsHits(t *testing.T) {
	cfg := TraceConfig{Keys: 500}
	big, _ := NewTrace("recency", 3, cfg)
	res, err := Replay(context.Background(), fakeCache(t, 1<<20), big, 20000, 50, 10)
	if err != nil {
		t.Fatal(err)
	}
	// 30% of reads are of new keys; a reread can miss only when its key
	// was first read in the same batch.
	if r := res.HitRatio(); r < 0.66 || r > 0.71 || res.Requests != 20000 || res.WarmRequests != 15000 {
		t.Fatalf("room for all: hit ratio %.3f, %d reads (%d after warm-up)", r, res.Requests, res.WarmRequests)
	}
	small, _ := NewTrace("recency", 3, cfg)
	res2, err := Replay(context.Background(), fakeCache(t, 50), small, 20000, 50, 10)
	if err != nil {
		t.Fatal(err)
	}
	if res2.HitRatio() >= res.HitRatio()-0.05 {
		t.Fatalf("room for 50 keys: hit ratio %.3f, against %.3f with room for all", res2.HitRatio(), res.HitRatio())
	}
}
