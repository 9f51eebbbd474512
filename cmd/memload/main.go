// Command memload measures resident memory per item: it loads N items
// (15-byte keys, 100-byte values by default) into an lru.Store in this
// process, then the same items into a memcached it starts, and prints
// VmRSS-based bytes per item for both, two ways: total RSS / items, and
// (RSS loaded - RSS empty) / items. See docs/memory.md.
//
// Usage: go run ./cmd/memload [-n 1000000] [-klen 15] [-vlen 100] [-chunk-space 48] [-memcached PATH]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/slabcache/slabcache/internal/clock"
	"github.com/slabcache/slabcache/internal/testenv"
	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
)

func main() {
	n := flag.Int("n", 1_000_000, "items to load")
	klen := flag.Int("klen", 15, "key length in bytes")
	vlen := flag.Int("vlen", 100, "value length in bytes")
	ref := testenv.FindReference() // memcached 1.6.45: $MEMCACHED_REFERENCE or beside the checkout
	if ref == "" {
		ref = "/usr/bin/memcached"
	}
	mc := flag.String("memcached", ref, "memcached binary (default: memcached 1.6.45 from $MEMCACHED_REFERENCE or beside the checkout, else Debian's); empty to skip")
	chunk := flag.Int("chunk-space", 48, "-n for both servers: the smallest class is 48 bytes plus this")
	large := flag.Bool("large-pages", false, "back our item memory with transparent huge pages, as slabcached -L does")
	flag.Parse()
	if *klen < 8 {
		fatal(fmt.Errorf("klen must be at least 8"))
	}
	memMiB := int64(*n)*int64(*klen+*vlen+64)/(1<<20) + 64

	ours := loadOurs(*n, *klen, *vlen, *chunk, memMiB, *large)
	fmt.Printf("slabcache: items %d, RSS empty %d KiB, loaded %d KiB: total %.1f B/item, loaded-empty %.1f B/item\n",
		*n, ours.empty/1024, ours.loaded/1024, float64(ours.loaded)/float64(*n), float64(ours.loaded-ours.empty)/float64(*n))
	if *mc == "" {
		return
	}
	theirs, err := loadMemcached(*mc, *n, *klen, *vlen, *chunk, memMiB)
	if err != nil {
		fatal(err)
	}
	fmt.Printf("memcached: items %d, RSS empty %d KiB, loaded %d KiB: total %.1f B/item, loaded-empty %.1f B/item\n",
		theirs.items, theirs.empty/1024, theirs.loaded/1024, float64(theirs.loaded)/float64(*n), float64(theirs.loaded-theirs.empty)/float64(*n))
	fmt.Printf("ratio slabcache/memcached: total %.3f, loaded-empty %.3f\n",
		float64(ours.loaded)/float64(theirs.loaded), float64(ours.loaded-ours.empty)/float64(theirs.loaded-theirs.empty))
}

type result struct {
	empty, loaded int64
	items         int
}

func key(dst []byte, i, klen int) []byte {
	dst = append(dst[:0], "key:"...)
	s := strconv.Itoa(i)
	for j := len(s) + 4; j < klen; j++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

func loadOurs(n, klen, vlen, chunk int, memMiB int64, large bool) result {
	cfg := lru.DefaultConfig()
	cfg.MemoryLimit = memMiB << 20
	cfg.MinChunkSpace = chunk
	cfg.HugePages = large
	s, err := lru.New(cfg, clock.NewFake(0))
	if err != nil {
		fatal(err)
	}
	// The background goroutine, as in the server: it also finishes the
	// index migrations that the last inserts started.
	s.Start()
	defer s.Stop()
	settle()
	var r result
	r.empty = rss("self")
	val := bytes.Repeat([]byte("v"), vlen)
	var k []byte
	for i := 0; i < n; i++ {
		k = key(k, i, klen)
		if res := s.Set(k, 0, 0, val, nil); res.Result != lru.Stored {
			fatal(fmt.Errorf("set %d: %v", i, res.Result))
		}
	}
	settle()
	r.loaded = rss("self")
	if os.Getenv("MEMLOAD_DEBUG") != "" {
		b, _ := os.ReadFile("/proc/self/status")
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Rss") || strings.HasPrefix(l, "VmRSS") {
				fmt.Println(l)
			}
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("go heap: sys %d KiB, inuse %d KiB, released %d KiB, stacks %d KiB, other %d KiB\n", ms.Sys/1024, ms.HeapInuse/1024, ms.HeapReleased/1024, ms.StackSys/1024, (ms.Sys-ms.HeapSys)/1024)
	}
	st := s.Stats()
	if st.CurrItems != uint64(n) || st.Evictions != 0 {
		fatal(fmt.Errorf("store holds %d items, %d evictions", st.CurrItems, st.Evictions))
	}
	fmt.Printf("slabcache: index %d KiB, pages %d KiB\n", st.HashBytes/1024, st.TotalMalloced/1024)
	runtime.KeepAlive(s)
	return r
}

// settle returns freed Go heap to the OS so RSS shows live memory only.
func settle() {
	runtime.GC()
	debug.FreeOSMemory()
	time.Sleep(100 * time.Millisecond)
}

func loadMemcached(bin string, n, klen, vlen, chunk int, memMiB int64) (result, error) {
	var r result
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-u", "root", "-U", "0", "-l", "127.0.0.1", "-p", strconv.Itoa(port), "-m", strconv.FormatInt(memMiB, 10), "-n", strconv.Itoa(chunk))
	if err := cmd.Start(); err != nil {
		return r, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var c net.Conn
	for i := 0; i < 100; i++ {
		if c, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return r, err
	}
	defer c.Close()
	pc := proto.NewConn(c)
	var rp proto.Reply
	sync := func() error {
		if err := pc.Do(&proto.Request{Command: proto.CmdVersion}, &rp); err != nil {
			return err
		}
		if rp.Kind != proto.ReplyVersion {
			return fmt.Errorf("memcached said %q", rp.Line)
		}
		return nil
	}
	if err := sync(); err != nil {
		return r, err
	}
	time.Sleep(200 * time.Millisecond)
	pid := strconv.Itoa(cmd.Process.Pid)
	r.empty = rss(pid)
	val := bytes.Repeat([]byte("v"), vlen)
	var k, out []byte
	for i := 0; i < n; i++ {
		k = key(k, i, klen)
		out = proto.AppendSetRequest(out, k, 0, 0, val, true)
		if len(out) >= 1<<20 || i == n-1 {
			if _, err := c.Write(out); err != nil {
				return r, err
			}
			out = out[:0]
		}
	}
	if err := sync(); err != nil {
		return r, err
	}
	// Let the hash table expansion thread finish and free the old table.
	time.Sleep(2 * time.Second)
	st, err := pc.Stats()
	if err != nil {
		return r, err
	}
	r.items, _ = strconv.Atoi(st["curr_items"])
	r.loaded = rss(pid)
	if r.items != n {
		return r, fmt.Errorf("memcached holds %d of %d items", r.items, n)
	}
	return r, nil
}

// rss returns VmRSS in bytes of a process ("self" or a pid).
func rss(pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	fatal(fmt.Errorf("no VmRSS in /proc/%s/status", pid))
	return 0
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "memload:", err)
	os.Exit(1)
}
