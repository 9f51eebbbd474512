package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"time"

	"github.com/slabcache/slabcache/proto"
)

// Synthetic traces for comparing eviction policies: the same request
// stream, regenerated from its seed, replayed against each server as a
// cache-aside client would (a read; on a miss, a write of the value), and
// the hit ratio counted. See docs/memory.md.

// TraceNames lists the traces NewTrace knows, in the order reports use.
var TraceNames = []string{"zipf-scan", "shifting", "recency"}

// TraceConfig sizes a trace.
type TraceConfig struct {
	Keys     uint64  // popular key space of zipf-scan and shifting
	Skew     float64 // Zipf exponent (default 0.9)
	ScanLen  uint64  // zipf-scan: keys per scan (default Keys/4)
	ScanGap  uint64  // zipf-scan: Zipf reads between scans (default Keys/2)
	Phase    uint64  // shifting: reads per phase (default Keys/2)
	Shift    uint64  // shifting: how far the popular set moves per phase (default Keys/10)
	NewShare float64 // recency: share of reads of a key never read (default 0.3)
	Reuse    uint64  // recency: mean distance, in reads, to the read reused (default Keys)
}

func (c TraceConfig) withDefaults() TraceConfig {
	def := func(v *uint64, d uint64) {
		if *v == 0 {
			*v = max(d, 1)
		}
	}
	def(&c.Keys, 1_000_000)
	if c.Skew == 0 {
		c.Skew = 0.9
	}
	def(&c.ScanLen, c.Keys/4)
	def(&c.ScanGap, c.Keys/2)
	def(&c.Phase, c.Keys/2)
	def(&c.Shift, c.Keys/10)
	if c.NewShare == 0 {
		c.NewShare = 0.3
	}
	def(&c.Reuse, c.Keys)
	return c
}

// Trace is a request stream: the keys of successive reads.
type Trace interface {
	Next() uint64
}

// NewTrace returns the named trace from seed:
//
//   - zipf-scan: reads of Keys keys with Zipf popularity, interrupted every
//     ScanGap reads by a scan of ScanLen keys never read before (a batch
//     job, a crawler): the frequent keys should survive the scans.
//   - shifting: Zipf popularity whose popular set moves by Shift keys every
//     Phase reads: yesterday's favourites must give way.
//   - recency: a share NewShare of reads are of new keys, the others reread
//     a key read on average Reuse reads earlier: what was read recently is
//     read again, the case LRU is made for.
func NewTrace(name string, seed uint64, cfg TraceConfig) (Trace, error) {
	cfg = cfg.withDefaults()
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	switch name {
	case "zipf-scan":
		z, err := NewZipf(cfg.Keys, cfg.Skew)
		if err != nil {
			return nil, err
		}
		return &scanTrace{r: r, z: z, cfg: cfg, next: cfg.Keys}, nil
	case "shifting":
		z, err := NewZipf(cfg.Keys, cfg.Skew)
		if err != nil {
			return nil, err
		}
		return &shiftTrace{r: r, z: z, cfg: cfg}, nil
	case "recency":
		return &recencyTrace{r: r, cfg: cfg, hist: make([]uint64, 1<<22)}, nil
	}
	return nil, fmt.Errorf("bench: unknown trace %q (want zipf-scan, shifting or recency)", name)
}

type scanTrace struct {
	r        *rand.Rand
	z        *Zipf
	cfg      TraceConfig
	n        uint64 // reads since the last scan
	scanLeft uint64
	next     uint64 // the next never-read key
}

func (t *scanTrace) Next() uint64 {
	if t.scanLeft > 0 {
		t.scanLeft--
		t.next++
		return t.next - 1
	}
	if t.n++; t.n == t.cfg.ScanGap {
		t.n, t.scanLeft = 0, t.cfg.ScanLen
	}
	return t.z.Next(t.r)
}

type shiftTrace struct {
	r      *rand.Rand
	z      *Zipf
	cfg    TraceConfig
	n      uint64
	offset uint64
}

func (t *shiftTrace) Next() uint64 {
	if t.n++; t.n == t.cfg.Phase {
		t.n = 0
		t.offset += t.cfg.Shift
	}
	// Popular ranks land on keys that move; past the key space they are new.
	return t.z.Next(t.r) + t.offset
}

type recencyTrace struct {
	r    *rand.Rand
	cfg  TraceConfig
	hist []uint64 // the last reads' keys, a ring
	n    uint64   // reads so far
	next uint64
}

func (t *recencyTrace) Next() uint64 {
	var k uint64
	if t.n == 0 || t.r.Float64() < t.cfg.NewShare {
		k = t.next
		t.next++
	} else {
		d := uint64(t.r.ExpFloat64()*float64(t.cfg.Reuse)) + 1
		d = min(d, t.n, uint64(len(t.hist)))
		k = t.hist[(t.n-d)%uint64(len(t.hist))]
	}
	t.hist[t.n%uint64(len(t.hist))] = k
	t.n++
	return k
}

// ReplayResult is one replay against one server.
type ReplayResult struct {
	Requests uint64
	Hits     uint64
	// WarmRequests and WarmHits count the reads after the first quarter
	// of the trace, once the cache has filled.
	WarmRequests, WarmHits uint64
	Elapsed                time.Duration
}

// HitRatio is Hits / Requests.
func (r ReplayResult) HitRatio() float64 { return ratio(r.Hits, r.Requests) }

// WarmHitRatio is the hit ratio after the first quarter.
func (r ReplayResult) WarmHitRatio() float64 { return ratio(r.WarmHits, r.WarmRequests) }

func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Replay sends requests reads of tr to the server at addr, in pipelined
// batches of batch gets; after each batch, a set of every key that
// missed (noreply, then mn as a barrier). Values are valueSize bytes.
func Replay(ctx context.Context, addr string, tr Trace, requests uint64, batch, valueSize int) (ReplayResult, error) {
	var res ReplayResult
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return res, err
	}
	defer nc.Close()
	rd := proto.NewReader(nc)
	var rp proto.Reply
	value := bytes.Repeat([]byte{'v'}, valueSize)
	keys := make([][]byte, 0, batch)
	var req, keyBuf []byte
	noop := proto.Request{Command: proto.CmdMetaNoop}
	warmFrom := requests / 4
	start := time.Now()
	for res.Requests < requests {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		keys, req, keyBuf = keys[:0], req[:0], keyBuf[:0]
		for len(keys) < batch && res.Requests+uint64(len(keys)) < requests {
			n := len(keyBuf)
			keyBuf = strconv.AppendUint(append(keyBuf, "trace:"...), tr.Next(), 10)
			keys = append(keys, keyBuf[n:])
			req = proto.AppendGetRequest(req, keyBuf[n:])
		}
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := nc.Write(req); err != nil {
			return res, err
		}
		req = req[:0]
		for _, k := range keys {
			if err := rd.Read(&rp); err != nil {
				return res, err
			}
			if rp.Kind != proto.ReplyValues || len(rp.Values) > 1 {
				return res, fmt.Errorf("bench: replay: get answered %q", rp.Line)
			}
			hit := len(rp.Values) == 1
			res.Requests++
			warm := res.Requests > warmFrom
			if warm {
				res.WarmRequests++
			}
			if hit {
				res.Hits++
				if warm {
					res.WarmHits++
				}
				continue
			}
			req = proto.AppendSetRequest(req, k, 0, 0, value, true)
		}
		if len(req) > 0 {
			req = proto.AppendRequest(req, &noop)
			if _, err := nc.Write(req); err != nil {
				return res, err
			}
			if err := rd.Read(&rp); err != nil {
				return res, err
			}
			if rp.Kind != proto.ReplyMeta || rp.Status != proto.StatusMN {
				return res, fmt.Errorf("bench: replay: sets answered %q", rp.Line)
			}
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}
