package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/testenv"
)

// rssOf returns the resident set size of pid in bytes (VmRSS) and its
// anonymous part (RssAnon: the memory the process allocated, as opposed to
// the pages of its executable and libraries, which are shared and clean).
func rssOf(pid int) (rss, anon int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "RssAnon:":
			anon = kb << 10
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("no VmRSS for %d", pid)
	}
	return rss, anon, nil
}

// floodSets writes values of random sizes from 1 B to maxValue on conns
// connections until the deadline, reading every reply, and returns the
// number of sets and of failed ones.
func floodSets(t *testing.T, addr string, conns, maxValue int, until time.Time) (sets, failed int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer nc.Close()
			nc.SetDeadline(until.Add(30 * time.Second))
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			w := bufio.NewWriterSize(nc, 64<<10)
			br := bufio.NewReader(nc)
			value := bytes.Repeat([]byte("v"), maxValue)
			n, bad := 0, 0
			for i := 0; time.Now().Before(until); i++ {
				size := 1 + rng.IntN(maxValue)
				fmt.Fprintf(w, "set flood:%d:%d 0 0 %d\r\n", c, i, size)
				w.Write(value[:size])
				w.WriteString("\r\n")
				if err := w.Flush(); err != nil {
					t.Error(err)
					return
				}
				line, err := br.ReadString('\n')
				if err != nil {
					t.Error(err)
					return
				}
				n++
				if line != "STORED\r\n" {
					bad++
				}
			}
			mu.Lock()
			sets += n
			failed += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	return sets, failed
}

// TestRSSBoundUnderLargeValueFlood writes random values of 1 B to 512 KiB
// from four connections into slabcached -m 64 and samples its resident
// memory: the memory it allocates (RssAnon) must stay within -m plus 10%
// plus 8 MiB: values stream into slab memory and no buffer grows with
// them. The executable's own pages (about 13 MiB of a Go binary with its
// libraries, the same at rest as under load) come on top in VmRSS; the
// test logs both. SLABCACHED_FLOOD_SECONDS sets the length (default 10, 5
// with -short; docs/memory.md quotes 30). With the reference memcached present, it runs the same
// flood against it and logs its peaks too (docs/memory.md).
func TestRSSBoundUnderLargeValueFlood(t *testing.T) {
	secs := 10
	if testing.Short() {
		secs = 5
	}
	if v := os.Getenv("SLABCACHED_FLOOD_SECONDS"); v != "" {
		secs, _ = strconv.Atoi(v)
	}
	const memMB = 64
	limit := int64(memMB<<20)*11/10 + 8<<20
	run := func(name string, bin string, args ...string) (int64, int64) {
		port := testenv.FreePort(t)
		all := append([]string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", strconv.Itoa(memMB)}, args...)
		cmd := exec.Command(bin, all...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		addr := "127.0.0.1:" + strconv.Itoa(port)
		if err := testenv.WaitListening(addr, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		var peak, peakAnon int64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				if r, a, err := rssOf(cmd.Process.Pid); err == nil {
					peak, peakAnon = max(peak, r), max(peakAnon, a)
				}
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
		sets, failed := floodSets(t, addr, 4, 512<<10, time.Now().Add(time.Duration(secs)*time.Second))
		close(stop)
		<-sampled
		t.Logf("%s: %d sets (%d not stored) in %d s, peak RSS %.1f MiB, of which allocated (RssAnon) %.1f MiB",
			name, sets, failed, secs, float64(peak)/(1<<20), float64(peakAnon)/(1<<20))
		if failed > sets/100 {
			t.Errorf("%s: %d of %d sets failed", name, failed, sets)
		}
		return peak, peakAnon
	}
	peak, anon := run("slabcached", buildBinary(t), "--metrics-listen", "off")
	if ref := testenv.FindReference(); ref != "" {
		mc, mcAnon := run("memcached "+testenv.ReferenceVersion, ref, "-u", "root")
		t.Logf("peak RSS slabcached/memcached: %.2f (allocated: %.2f)", float64(peak)/float64(mc), float64(anon)/float64(mcAnon))
	}
	if anon > limit {
		t.Fatalf("peak allocated memory %.1f MiB, over -m %d + 10%% + 8 MiB = %.1f MiB", float64(anon)/(1<<20), memMB, float64(limit)/(1<<20))
	}
}
