package aside

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/testenv"
)

// The stampede across processes: 1,000 goroutines in 4 processes call
// GetOrLoad on the same cold key at the same moment, with a 100 ms loader.
// The loader runs once in all; the callers' latencies are logged (p99
// against the loader's 100 ms; docs/client.md).
func TestStampedeAcrossProcesses(t *testing.T) {
	const procs, perProc = 4, 250
	addr := testenv.StartSlabcached(t)
	start := time.Now().Add(time.Second)
	type result struct {
		Loads     int64
		Latencies []time.Duration
		Errors    []string
	}
	results := make([]result, procs)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestStampedeChild$", "-test.v")
			cmd.Env = append(os.Environ(), "ASIDE_STAMPEDE="+addr+","+strconv.FormatInt(start.UnixNano(), 10)+","+strconv.Itoa(perProc))
			out, err := cmd.Output()
			if err != nil {
				t.Errorf("child %d: %v\n%s", i, err, out)
				return
			}
			for _, line := range strings.Split(string(out), "\n") {
				if v, ok := strings.CutPrefix(line, "RESULT "); ok {
					if err := json.Unmarshal([]byte(v), &results[i]); err != nil {
						t.Errorf("child %d: %v", i, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	var loads int64
	var lat []time.Duration
	for i, r := range results {
		loads += r.Loads
		lat = append(lat, r.Latencies...)
		for _, e := range r.Errors {
			t.Errorf("child %d: %s", i, e)
		}
	}
	if len(lat) != procs*perProc {
		t.Fatalf("%d callers answered, want %d", len(lat), procs*perProc)
	}
	if loads != 1 {
		t.Fatalf("the loader ran %d times across %d processes, want 1", loads, procs)
	}
	slices.Sort(lat)
	t.Logf("%d callers in %d processes, 100 ms loader, ran once: p50 %v, p99 %v, max %v",
		len(lat), procs, lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
}

// TestStampedeChild is one process of TestStampedeAcrossProcesses (it
// runs only when that test starts it).
func TestStampedeChild(t *testing.T) {
	spec := os.Getenv("ASIDE_STAMPEDE")
	if spec == "" {
		t.Skip("run by TestStampedeAcrossProcesses")
	}
	parts := strings.Split(spec, ",")
	addr := parts[0]
	startNs, _ := strconv.ParseInt(parts[1], 10, 64)
	n, _ := strconv.Atoi(parts[2])
	c := newCache(t, addr, Config{})
	var loads atomic.Int64
	loader := func(ctx context.Context, key string) ([]byte, error) {
		loads.Add(1)
		time.Sleep(100 * time.Millisecond)
		return []byte("loaded"), nil
	}
	time.Sleep(time.Until(time.Unix(0, startNs)))
	lat := make([]time.Duration, n)
	errs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			v, err := c.GetOrLoad(context.Background(), "stampede", loader)
			lat[i] = time.Since(t0)
			if err != nil || string(v) != "loaded" {
				errs[i] = fmt.Sprintf("%q %v", v, err)
			}
		}()
	}
	wg.Wait()
	var bad []string
	for _, e := range errs {
		if e != "" {
			bad = append(bad, e)
		}
	}
	b, _ := json.Marshal(map[string]any{"Loads": loads.Load(), "Latencies": lat, "Errors": bad})
	fmt.Printf("RESULT %s\n", b)
}
