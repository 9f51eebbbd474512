package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/testenv"
)

// restartProc is a server process a test started.
type restartProc struct {
	cmd    *exec.Cmd
	addr   string
	stderr testenv.Buffer // read while the process writes it
	done   chan error
}

// startPlain starts a slabcached on a free loopback port.
func startPlain(t *testing.T, bin string, extra ...string) *restartProc {
	t.Helper()
	return startProc(t, bin, append([]string{"--metrics-listen", "off"}, extra...)...)
}

// startProc starts bin (slabcached, or memcached given its flags) on a
// free loopback port, without UDP, with the extra arguments.
func startProc(t *testing.T, bin string, extra ...string) *restartProc {
	t.Helper()
	port := testenv.FreePort(t)
	p := &restartProc{addr: "127.0.0.1:" + strconv.Itoa(port), done: make(chan error, 1)}
	p.cmd = exec.Command(bin, append([]string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0"}, extra...)...)
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.cmd.Process.Kill() })
	if err := testenv.WaitListening(p.addr, 10*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.stderr.String())
	}
	return p
}

// startWithMemoryFile starts a slabcached with memory file file.
func startWithMemoryFile(t *testing.T, bin, file string, extra ...string) *restartProc {
	t.Helper()
	return startPlain(t, bin, append([]string{"-m", "64", "-A", "-e", file}, extra...)...)
}

// wait returns the process's exit error once it has stopped.
func (p *restartProc) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("still running after 20 s\n%s", p.stderr.String())
		return nil
	}
}

// talk sends the requests and reads until the reply ends with end.
func talk(t *testing.T, addr, req, end string) string {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := nc.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReaderSize(nc, 1<<20)
	var b strings.Builder
	for !strings.HasSuffix(b.String(), end) {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			t.Fatalf("reading reply: %v; got %.200q", err, b.String())
		}
	}
	return b.String()
}

// A graceful stop (SIGUSR1 or shutdown graceful) keeps every item for the
// next start with the same memory file; SIGTERM and kill -9 do not, and
// the start after them is empty; a metadata file slabcached did not write
// stops the start, as memcached's does.
func TestWarmRestart(t *testing.T) {
	bin := buildBinary(t)
	file := filepath.Join(t.TempDir(), "slabcached.mem")
	big := strings.Repeat("L", 700_000)
	p := startWithMemoryFile(t, bin, file)
	var load strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&load, "set k%d %d 0 %d noreply\r\nvalue-%d\r\n", i, i, len(fmt.Sprint(i))+6, i)
	}
	fmt.Fprintf(&load, "set large 5 0 %d\r\n%s\r\n", len(big), big)
	talk(t, p.addr, load.String(), "STORED\r\n")
	casLine := talk(t, p.addr, "gets k7\r\n", "END\r\n")
	talk(t, p.addr, "set short 0 2 1\r\nx\r\nset long 0 300 4\r\nlong\r\n", "STORED\r\nSTORED\r\n")

	p.cmd.Process.Signal(syscall.SIGUSR1)
	if err := p.wait(t); err != nil {
		t.Fatalf("SIGUSR1: %v\n%s", err, p.stderr.String())
	}
	if _, err := os.Stat(file + ".meta"); err != nil {
		t.Fatalf("no metadata after a graceful stop: %v", err)
	}
	time.Sleep(2500 * time.Millisecond) // "short" expires meanwhile

	p = startWithMemoryFile(t, bin, file)
	if got := talk(t, p.addr, "gets k7\r\n", "END\r\n"); got != casLine {
		t.Fatalf("after the restart gets k7 = %q, want %q (same value, flags and CAS)", got, casLine)
	}
	for _, i := range []int{0, 999, 1999} {
		want := fmt.Sprintf("VALUE k%d %d %d\r\nvalue-%d\r\nEND\r\n", i, i, len(fmt.Sprint(i))+6, i)
		if got := talk(t, p.addr, fmt.Sprintf("get k%d\r\n", i), "END\r\n"); got != want {
			t.Fatalf("get k%d = %q, want %q", i, got, want)
		}
	}
	if got := talk(t, p.addr, "get large\r\n", "END\r\n"); got != fmt.Sprintf("VALUE large 5 %d\r\n%s\r\nEND\r\n", len(big), big) {
		t.Fatalf("the large item did not survive: %.100q", got)
	}
	if got := talk(t, p.addr, "get short\r\n", "END\r\n"); got != "END\r\n" {
		t.Fatalf("an item that expired while stopped is served: %q", got)
	}
	if got := talk(t, p.addr, "mg long t v\r\n", "\r\n"); !strings.HasPrefix(got, "VA 4 t29") && !strings.HasPrefix(got, "VA 4 t28") {
		t.Fatalf("remaining TTL after the restart: %q, want about 297", got)
	}
	if got := talk(t, p.addr, "stats settings\r\n", "END\r\n"); !strings.Contains(got, "STAT memory_file "+file+"\r\n") {
		t.Fatalf("stats settings does not show the memory file")
	}
	if got := talk(t, p.addr, "stats\r\n", "END\r\n"); !strings.Contains(got, "STAT curr_items 2002\r\n") {
		t.Fatalf("curr_items after the restart: %s", got)
	}

	// shutdown graceful saves too; a second restart serves the same.
	talk(t, p.addr, "set after 0 0 1\r\nA\r\n", "STORED\r\n")
	nc, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.Write([]byte("shutdown graceful\r\n"))
	if err := p.wait(t); err != nil {
		t.Fatalf("shutdown graceful: %v\n%s", err, p.stderr.String())
	}
	nc.Close()
	p = startWithMemoryFile(t, bin, file)
	if got := talk(t, p.addr, "get after k1\r\n", "END\r\n"); got != "VALUE after 0 1\r\nA\r\nVALUE k1 1 7\r\nvalue-1\r\nEND\r\n" {
		t.Fatalf("after shutdown graceful: %q", got)
	}

	// SIGTERM is not graceful: no metadata, an empty start.
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(t); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	p = startWithMemoryFile(t, bin, file)
	if got := talk(t, p.addr, "get k1\r\n", "END\r\n"); got != "END\r\n" {
		t.Fatalf("served after SIGTERM: %q", got)
	}

	// kill -9 after a restart leaves nothing to trust either.
	talk(t, p.addr, "set z 0 0 1\r\nz\r\n", "STORED\r\n")
	p.cmd.Process.Signal(syscall.SIGUSR1)
	p.wait(t)
	p = startWithMemoryFile(t, bin, file)
	talk(t, p.addr, "get z\r\n", "END\r\n")
	p.cmd.Process.Kill()
	p.wait(t)
	p = startWithMemoryFile(t, bin, file)
	if got := talk(t, p.addr, "get z\r\n", "END\r\n"); got != "END\r\n" {
		t.Fatalf("served after kill -9: %q", got)
	}
	p.cmd.Process.Kill()
	p.wait(t)

	// An empty metadata file: refuse to start, as memcached does.
	if err := os.WriteFile(file+".meta", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-p", "0", "-U", "0", "-e", file, "--metrics-listen", "off").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
		t.Fatalf("started with an empty metadata file: %v\n%s", err, out)
	}
}

// Every item survives a graceful stop and start, checked one by one:
// SLABCACHED_RESTART_ITEMS items (default 50,000) with flags and TTLs;
// the time to serve again is logged (docs/operations.md quotes the run
// with 1,000,000).
func TestWarmRestartEveryItem(t *testing.T) {
	n := 50_000
	if v, err := strconv.Atoi(os.Getenv("SLABCACHED_RESTART_ITEMS")); err == nil && v > 0 {
		n = v
	}
	bin := buildBinary(t)
	file := filepath.Join(t.TempDir(), "slabcached.mem")
	if _, err := os.Stat("/dev/shm"); err == nil {
		file = filepath.Join("/dev/shm", fmt.Sprintf("slabcached-test-%d.mem", os.Getpid()))
		t.Cleanup(func() { os.Remove(file); os.Remove(file + ".meta") })
	}
	p := startWithMemoryFile(t, bin, file, "-m", "512")
	value := func(i int) string { return fmt.Sprintf("v%d-%d", i, i*7919%100003) }
	var b strings.Builder
	flush := func() {
		talk(t, p.addr, b.String()+"mn\r\n", "MN\r\n")
		b.Reset()
	}
	for i := range n {
		ttl := 0
		if i%3 == 0 {
			ttl = 3600
		}
		fmt.Fprintf(&b, "set k:%d %d %d %d noreply\r\n%s\r\n", i, i%65536, ttl, len(value(i)), value(i))
		if b.Len() > 1<<20 {
			flush()
		}
	}
	flush()
	p.cmd.Process.Signal(syscall.SIGUSR1)
	if err := p.wait(t); err != nil {
		t.Fatalf("SIGUSR1: %v", err)
	}
	start := time.Now()
	p = startWithMemoryFile(t, bin, file, "-m", "512")
	t.Logf("%d items: serving again %v after the start", n, time.Since(start))
	if got := talk(t, p.addr, "stats\r\n", "END\r\n"); !strings.Contains(got, fmt.Sprintf("STAT curr_items %d\r\n", n)) {
		t.Fatalf("curr_items after the restart is not %d", n)
	}
	for i := 0; i < n; i += 100 {
		var req strings.Builder
		end := min(i+100, n)
		for j := i; j < end; j++ {
			fmt.Fprintf(&req, "mg k:%d v f t\r\n", j)
		}
		got := talk(t, p.addr, req.String()+"mn\r\n", "MN\r\n")
		lines := strings.Split(got, "\r\n")
		for j := i; j < end; j++ {
			k := j - i
			head := fmt.Sprintf("VA %d f%d t", len(value(j)), j%65536)
			ttl, err := strconv.Atoi(strings.TrimPrefix(lines[2*k], head))
			okTTL := err == nil && (j%3 != 0 && ttl == -1 || j%3 == 0 && ttl > 3500 && ttl <= 3600)
			if !strings.HasPrefix(lines[2*k], head) || !okTTL || lines[2*k+1] != value(j) {
				t.Fatalf("k:%d after the restart: %q %q, want %s<ttl> %q", j, lines[2*k], lines[2*k+1], head, value(j))
			}
		}
	}
}

// Under a limit on address space (ulimit -v) the store reserves what it
// can for cache_memlimit instead of refusing to start: with 8 GiB of
// address space, -m 64 still raises to 2000 MiB.
func TestStartsUnderAddressSpaceLimit(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to set the limit with")
	}
	bin := buildBinary(t)
	port := testenv.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command("sh", "-c", `ulimit -v 8388608 && exec "$0" "$@"`, bin,
		"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "64", "--metrics-listen", "off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if err := testenv.WaitListening(addr, 10*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if got := talk(t, addr, "cache_memlimit 2000\r\n", "\r\n"); got != "OK\r\n" {
		t.Errorf("cache_memlimit 2000 under ulimit -v 8 GiB: %q", got)
	}
}
