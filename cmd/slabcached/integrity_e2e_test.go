package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/testenv"
	"github.com/slabcache/slabcache/proto"
)

// Values stay whole and current while the server evicts, moves pages
// between classes and stores values in chunks: clients over the text,
// meta and binary protocols pipeline sets and gets of values from 20 B to
// 900 KiB into 64 MiB, first mostly large values and then only small ones
// over many more keys (which needs the large classes' pages), while
// another client keeps asking for pages to move. Every hit must be a
// value written for that key, byte for byte, with the flags written with
// it; on the keys a client alone writes, the version it stored last (a
// miss is an eviction), and none after a store failed for lack of memory
// (memcached unlinks the old value then). The same load runs against
// memcached 1.6.45 first when it is at hand, which checks the test's own
// expectations.
//
// SLABCACHED_SOAK_SECONDS=N runs each phase N seconds (default 3, 1
// with -short).
func TestValuesIntactUnderEvictionAndPageMoves(t *testing.T) {
	phase := 3 * time.Second
	if testing.Short() {
		phase = time.Second
	}
	if v, err := strconv.Atoi(os.Getenv("SLABCACHED_SOAK_SECONDS")); err == nil && v > 0 {
		phase = time.Duration(v) * time.Second
	}
	if ref := testenv.FindReference(); ref != "" {
		t.Run("memcached", func(t *testing.T) {
			soak(t, testenv.StartReference(t, "-m", "64", "-t", "2"), phase)
		})
	} else {
		t.Logf("memcached %s not found: the load runs against slabcached only", testenv.ReferenceVersion)
	}
	t.Run("slabcached", func(t *testing.T) {
		p := startPlain(t, buildBinary(t), "-m", "64", "-t", "2")
		soak(t, p.addr, phase)
	})
}

// soakLoad is the state of one run of the load.
type soakLoad struct {
	addr                string
	bad                 atomic.Int64
	errs                chan string
	hits, stores, fails atomic.Int64
	ver                 atomic.Uint64
	small               atomic.Bool // second phase: small values over more keys
}

func (l *soakLoad) fail(format string, a ...any) {
	l.bad.Add(1)
	select {
	case l.errs <- fmt.Sprintf(format, a...):
	default:
	}
}

func soak(t *testing.T, addr string, phase time.Duration) {
	l := &soakLoad{addr: addr, errs: make(chan string, 20)}
	movedBefore := statInt(t, addr, "slabs_moved")
	stop := time.Now().Add(2 * phase)
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.worker(w, stop)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(phase)
		l.small.Store(true)
		l.mover(stop)
	}()
	wg.Wait()
	close(l.errs)
	for e := range l.errs {
		t.Error(e)
	}
	moved := statInt(t, addr, "slabs_moved") - movedBefore
	evictions := statInt(t, addr, "evictions")
	t.Logf("%d hits checked, %d stores, %d out of memory, %d evictions, %d pages moved", l.hits.Load(), l.stores.Load(), l.fails.Load(), evictions, moved)
	if l.bad.Load() != 0 {
		t.Fatalf("%d wrong replies", l.bad.Load())
	}
	if l.hits.Load() == 0 || evictions == 0 || moved == 0 {
		t.Fatalf("the load did not do what it is for: %d hits, %d evictions, %d pages moved", l.hits.Load(), evictions, moved)
	}
}

// mover asks for a page of the class with the most pages to move to the
// class of the small values every 100 ms.
func (l *soakLoad) mover(stop time.Time) {
	nc, err := net.Dial("tcp", l.addr)
	if err != nil {
		l.fail("mover: %v", err)
		return
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	for time.Now().Before(stop) {
		time.Sleep(100 * time.Millisecond)
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(nc, "stats slabs\r\n")
		pages := map[int]int{}
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				l.fail("mover: %v", err)
				return
			}
			if line == "END\r\n" {
				break
			}
			var cls, n int
			if _, err := fmt.Sscanf(line, "STAT %d:total_pages %d", &cls, &n); err == nil {
				pages[cls] = n
			}
		}
		src := 0
		for cls, n := range pages {
			if cls > 5 && n > pages[src] {
				src = cls
			}
		}
		if src == 0 {
			continue
		}
		dst := 1 + rand.IntN(4) // 20-220 byte values land in classes 1-5
		fmt.Fprintf(nc, "slabs reassign %d %d\r\n", src, dst)
		if _, err := br.ReadString('\n'); err != nil {
			l.fail("mover: %v", err)
			return
		}
	}
}

// soakValue is version ver of key's value, n bytes at least: the key,
// the version and the length, then letters that follow from them.
func soakValue(key string, ver uint64, n int) []byte {
	hdr := fmt.Sprintf("%s|%d|%d|", key, ver, n)
	for n < len(hdr) {
		n = len(hdr) + 2
		hdr = fmt.Sprintf("%s|%d|%d|", key, ver, n)
	}
	b := make([]byte, n)
	copy(b, hdr)
	x := uint32(ver*2654435761) ^ crc32.ChecksumIEEE([]byte(key))
	for i := len(hdr); i < n; i++ {
		x = x*1664525 + 1013904223
		b[i] = 'a' + byte(x>>24)%26
	}
	return b
}

// check verifies a hit on key and returns the version it holds.
func (l *soakLoad) check(wire, key string, v []byte, flags uint32) uint64 {
	l.hits.Add(1)
	parts := bytes.SplitN(v, []byte("|"), 4)
	if len(parts) != 4 || string(parts[0]) != key {
		l.fail("%s: %s holds %q...", wire, key, v[:min(len(v), 60)])
		return 0
	}
	ver, _ := strconv.ParseUint(string(parts[1]), 10, 64)
	n, _ := strconv.Atoi(string(parts[2]))
	if n != len(v) || !bytes.Equal(v, soakValue(key, ver, n)) {
		l.fail("%s: %s version %d: %d bytes, not the %d written", wire, key, ver, len(v), n)
		return ver
	}
	if want := crc32.ChecksumIEEE(v); flags != want {
		l.fail("%s: %s version %d: flags %d, written %d", wire, key, ver, flags, want)
	}
	return ver
}

// soakOp is one request of a batch.
type soakOp struct {
	set  bool
	keys []string // one for a set
	ver  uint64   // of a set
}

func (l *soakLoad) worker(w int, stop time.Time) {
	r := rand.New(rand.NewPCG(uint64(w), 1))
	protos := []string{"text", "meta", "binary"}
	wire := protos[w%3]
	// last: the version this worker stored last of each of its own keys
	// (0: none, or the store failed and the key must miss).
	last := map[string]uint64{}
	for time.Now().Before(stop) {
		nc, err := net.Dial("tcp", l.addr)
		if err != nil {
			l.fail("dial: %v", err)
			return
		}
		br, bw := bufio.NewReaderSize(nc, 1<<16), bufio.NewWriterSize(nc, 1<<16)
		for i := 0; i < 500 && time.Now().Before(stop); i++ {
			ops := l.batch(r, w)
			nc.SetDeadline(time.Now().Add(20 * time.Second))
			err := l.send(wire, bw, ops)
			if err == nil {
				err = l.receive(wire, br, ops, last)
			}
			if err != nil {
				l.fail("%s: %v", wire, err)
				nc.Close()
				return
			}
		}
		nc.Close()
	}
}

func (l *soakLoad) batch(r *rand.Rand, w int) []soakOp {
	key := func() string {
		nkeys := 4000
		if l.small.Load() {
			nkeys = 200000
		}
		if r.IntN(2) == 0 {
			return fmt.Sprintf("own:%d:%d", w, r.IntN(nkeys/6))
		}
		return fmt.Sprintf("shared:%d", r.IntN(nkeys))
	}
	var ops []soakOp
	for range 1 + r.IntN(16) {
		if r.IntN(3) == 0 {
			ops = append(ops, soakOp{set: true, keys: []string{key()}, ver: l.ver.Add(1)})
			continue
		}
		ks := []string{key()}
		for r.IntN(3) == 0 && len(ks) < 10 {
			ks = append(ks, key())
		}
		ops = append(ops, soakOp{keys: ks})
	}
	return ops
}

// valueLen: most values small, some up to 900 KiB (stored in chunks).
func (l *soakLoad) valueLen(r *rand.Rand) int {
	if l.small.Load() {
		return 20 + r.IntN(200)
	}
	switch x := r.IntN(100); {
	case x < 60:
		return 20 + r.IntN(200)
	case x < 90:
		return 200 + r.IntN(4000)
	case x < 98:
		return 4000 + r.IntN(60000)
	default:
		return 60000 + r.IntN(900000)
	}
}

func (l *soakLoad) send(wire string, bw *bufio.Writer, ops []soakOp) error {
	r := rand.New(rand.NewPCG(ops[0].ver, uint64(len(ops))))
	for i, op := range ops {
		switch {
		case op.set:
			k := op.keys[0]
			v := soakValue(k, op.ver, l.valueLen(r))
			flags := crc32.ChecksumIEEE(v)
			switch wire {
			case "text":
				fmt.Fprintf(bw, "set %s %d 0 %d\r\n%s\r\n", k, flags, len(v), v)
			case "meta":
				fmt.Fprintf(bw, "ms %s %d F%d O%d\r\n%s\r\n", k, len(v), flags, i, v)
			case "binary":
				bw.Write(proto.AppendBinRequest(nil, &proto.BinRequest{Opcode: proto.BinOpSet, Opaque: uint32(i), Flags: flags, Key: []byte(k), Value: v}))
			}
		case wire == "text":
			fmt.Fprintf(bw, "get %s\r\n", strings.Join(op.keys, " "))
		case wire == "meta":
			for _, k := range op.keys {
				fmt.Fprintf(bw, "mg %s v f k s O%d\r\n", k, i)
			}
		default:
			for _, k := range op.keys {
				bw.Write(proto.AppendBinRequest(nil, &proto.BinRequest{Opcode: proto.BinOpGetK, Opaque: uint32(i), Key: []byte(k)}))
			}
		}
	}
	if wire == "meta" {
		bw.WriteString("mn\r\n")
	}
	return bw.Flush()
}

// stored notes a store's outcome for the worker's own keys.
func (l *soakLoad) stored(op soakOp, ok bool, last map[string]uint64) {
	k := op.keys[0]
	if ok {
		l.stores.Add(1)
	} else {
		l.fails.Add(1)
	}
	if strings.HasPrefix(k, "own:") {
		last[k] = 0
		if ok {
			last[k] = op.ver
		}
	}
}

// hit checks a hit's version on the worker's own keys.
func (l *soakLoad) hit(wire, k string, ver uint64, last map[string]uint64) {
	if want, ok := last[k]; ok && strings.HasPrefix(k, "own:") && ver != want {
		if want == 0 {
			l.fail("%s: %s holds version %d after a store of it failed", wire, k, ver)
		} else {
			l.fail("%s: %s holds version %d, stored last %d", wire, k, ver, want)
		}
	}
}

func (l *soakLoad) receive(wire string, br *bufio.Reader, ops []soakOp, last map[string]uint64) error {
	line := func() (string, error) {
		s, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		if !strings.HasSuffix(s, "\r\n") {
			return "", fmt.Errorf("reply line %q", s)
		}
		return s[:len(s)-2], nil
	}
	value := func(n int) ([]byte, error) {
		b := make([]byte, n+2)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		if string(b[n:]) != "\r\n" {
			return nil, fmt.Errorf("a value of %d bytes not followed by CRLF", n)
		}
		return b[:n], nil
	}
	const noMemory = "SERVER_ERROR out of memory storing object"
	for i, op := range ops {
		switch wire {
		case "text":
			if op.set {
				s, err := line()
				if err != nil {
					return err
				}
				if s != "STORED" && s != noMemory {
					return fmt.Errorf("set %s: %q", op.keys[0], s)
				}
				l.stored(op, s == "STORED", last)
				continue
			}
			next := 0
			for {
				s, err := line()
				if err != nil {
					return err
				}
				if s == "END" {
					break
				}
				var k string
				var flags uint32
				var n int
				if _, err := fmt.Sscanf(s, "VALUE %s %d %d", &k, &flags, &n); err != nil {
					return fmt.Errorf("get %v: %q", op.keys, s)
				}
				for next < len(op.keys) && op.keys[next] != k {
					next++
				}
				if next == len(op.keys) {
					return fmt.Errorf("get %v: VALUE of %s", op.keys, k)
				}
				next++
				v, err := value(n)
				if err != nil {
					return err
				}
				l.hit(wire, k, l.check(wire, k, v, flags), last)
			}
		case "meta":
			for _, k := range op.keys {
				s, err := line()
				if err != nil {
					return err
				}
				opaque := "O" + strconv.Itoa(i)
				if op.set {
					if s != "HD "+opaque && s != noMemory {
						return fmt.Errorf("ms %s: %q", k, s)
					}
					l.stored(op, s != noMemory, last)
					continue
				}
				if s == "EN" || strings.HasPrefix(s, "EN ") {
					continue
				}
				f := strings.Fields(s)
				n, err := strconv.Atoi(f[min(1, len(f)-1)])
				if f[0] != "VA" || err != nil || !slices.Contains(f, "k"+k) || !slices.Contains(f, "s"+f[1]) || !slices.Contains(f, opaque) {
					return fmt.Errorf("mg %s: %q", k, s)
				}
				var flags uint64
				for _, x := range f[2:] {
					if x[0] == 'f' {
						flags, _ = strconv.ParseUint(x[1:], 10, 32)
					}
				}
				v, err := value(n)
				if err != nil {
					return err
				}
				l.hit(wire, k, l.check(wire, k, v, uint32(flags)), last)
			}
		case "binary":
			for _, k := range op.keys {
				pkt := make([]byte, proto.BinHeaderLen)
				if _, err := io.ReadFull(br, pkt); err != nil {
					return err
				}
				pkt = append(pkt, make([]byte, binary.BigEndian.Uint32(pkt[8:]))...)
				if _, err := io.ReadFull(br, pkt[proto.BinHeaderLen:]); err != nil {
					return err
				}
				var rp proto.BinResponse
				if _, err := proto.ParseBinResponse(pkt, &rp); err != nil || rp.Opaque != uint32(i) {
					return fmt.Errorf("request %d (%s): reply % x: %v", i, k, pkt[:proto.BinHeaderLen], err)
				}
				if op.set {
					if rp.Status != proto.BinStatusSuccess && rp.Status != proto.BinStatusENOMEM {
						return fmt.Errorf("set %s: status %#x %q", k, rp.Status, rp.Value)
					}
					l.stored(op, rp.Status == proto.BinStatusSuccess, last)
					continue
				}
				if rp.Status == proto.BinStatusKeyENOENT {
					continue
				}
				if rp.Status != proto.BinStatusSuccess || len(rp.Extras) != 4 || string(rp.Key) != k {
					return fmt.Errorf("getk %s: status %#x, extras %d, key %q", k, rp.Status, len(rp.Extras), rp.Key)
				}
				l.hit(wire, k, l.check(wire, k, rp.Value, rp.Flags), last)
			}
		}
	}
	if wire == "meta" {
		if s, err := line(); err != nil || s != "MN" {
			return fmt.Errorf("mn: %q %v", s, err)
		}
	}
	return nil
}
