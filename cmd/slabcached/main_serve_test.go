package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/slabcache/slabcache/internal/testenv"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
	buildOut  []byte
)

// buildBinary builds slabcached once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "slabcached-test")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "slabcached")
		buildOut, buildErr = exec.Command("go", "build", "-o", buildPath, ".").CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build: %v\n%s", buildErr, buildOut)
	}
	return buildPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildPath != "" {
		os.RemoveAll(filepath.Dir(buildPath))
	}
	os.Exit(code)
}

// roundTrip sends one version request and returns the reply line.
func roundTrip(t *testing.T, network, addr string) string {
	t.Helper()
	nc, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write([]byte("set k 0 0 2\r\nhi\r\nget k\r\n"))
	var got []byte
	buf := make([]byte, 64)
	for len(got) < 30 {
		n, err := nc.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	return string(got)
}

// waitGone waits until path no longer exists.
func waitGone(t *testing.T, path string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if _, err := os.Stat(path); os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still exists after %v", path, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// -s serves on a Unix socket created with the -a mask, and only there;
// the socket file is removed when SIGINT (Ctrl-C) stops it gracefully.
func TestUnixSocketWithMask(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "mc.sock")
	port := testenv.FreePort(t)
	cmd := exec.Command(buildBinary(t), "-s", sock, "-a", "660", "-p", strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if nc, err := net.Dial("unix", sock); err == nil {
			nc.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not listening on the unix socket")
		}
		time.Sleep(20 * time.Millisecond)
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v, want a socket with 0660", fi.Mode())
	}
	if got := roundTrip(t, "unix", sock); got != "STORED\r\nVALUE k 0 2\r\nhi\r\nEND\r\n" {
		t.Fatalf("reply %q", got)
	}
	if nc, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond); err == nil {
		nc.Close()
		t.Error("-s also listens on TCP; memcached's -s disables network support")
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGINT: %v", err)
	}
	waitGone(t, sock, 5*time.Second)
}

// daemon is a slabcached started with -d on port: the process it left
// running, its pid file and its log file (stderr of both).
type daemon struct {
	proc    *os.Process
	pidPath string
	log     string
}

// startDaemon runs `slabcached -d -p port -P <pid file>`, checks that the
// command exits 0 and that the pid file names another process than the
// command's own, and kills that process when the test ends.
func startDaemon(t *testing.T, port int) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{pidPath: filepath.Join(dir, "pid"), log: filepath.Join(dir, "log")}
	logf, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(buildBinary(t), "-d", "-p", strconv.Itoa(port), "-P", d.pidPath)
	cmd.Stderr = logf // a file: a pipe would keep Wait waiting for the daemon
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("slabcached -d: %v", err)
	}
	t.Logf("-d returned after %v", time.Since(start))
	raw, err := os.ReadFile(d.pidPath)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid == cmd.Process.Pid {
		t.Fatalf("pid file %q: want the daemon's pid, not the parent's %d", raw, cmd.Process.Pid)
	}
	d.proc, _ = os.FindProcess(pid)
	t.Cleanup(func() {
		d.proc.Kill()
		if t.Failed() {
			log, _ := os.ReadFile(d.log)
			t.Logf("daemon log:\n%s", log)
		}
	})
	return d
}

// -d: the command returns 0 once the daemon serves; the daemon runs in its
// own session, writes the -P pid file with its own pid, and removes it when
// SIGTERM stops it.
func TestDaemonize(t *testing.T) {
	port := testenv.FreePort(t)
	d := startDaemon(t, port)
	pid := d.proc.Pid
	if sid, err := unix.Getsid(pid); err != nil || sid != pid {
		t.Errorf("daemon session id %d (%v), want its own session %d", sid, err, pid)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if got := roundTrip(t, "tcp", addr); got != "STORED\r\nVALUE k 0 2\r\nhi\r\nEND\r\n" {
		t.Fatalf("daemon reply %q", got)
	}
	d.proc.Signal(syscall.SIGTERM)
	waitGone(t, d.pidPath, 10*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for d.proc.Signal(syscall.Signal(0)) == nil {
		if time.Now().After(deadline) {
			t.Fatal("daemon still running 5 s after its pid file went")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A command line memcached refuses makes slabcached exit with memcached's
// status (1 for what its option loop cannot read, 64 for bad values) and
// message, checked against the reference memcached when it is present.
func TestBadCommandLinesExitAsMemcached(t *testing.T) {
	ref := testenv.FindReference()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--no-such-flag"}, 1, "unrecognized option '--no-such-flag'\nIllegal argument \"?\""},
		{[]string{"-z"}, 1, "invalid option -- 'z'\nIllegal argument \"?\""},
		{[]string{"-o", "no_such_option"}, 1, `Illegal suboption "no_such_option"`},
		{[]string{"-m", "64", "-I", "128m"}, 64, "Cannot set item size limit higher than 1/2 of memory max."},
		{[]string{"-B", "bogus"}, 64, "Invalid value for binding protocol: bogus"},
	} {
		var stderr bytes.Buffer
		args := append([]string{"-p", "0", "-U", "0"}, c.args...)
		cmd := exec.Command(buildBinary(t), args...)
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != c.code {
			t.Errorf("%v: %v, want exit status %d", c.args, err, c.code)
		}
		if !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: stderr lacks %q:\n%s", c.args, c.want, stderr.String())
		}
		if ref == "" {
			continue
		}
		mc := exec.Command(ref, append(args, "-u", "root")...)
		var mcErr bytes.Buffer
		mc.Stderr = &mcErr
		err = mc.Run()
		if !errors.As(err, &ee) || ee.ExitCode() != c.code || !strings.Contains(mcErr.String(), c.want) {
			t.Errorf("%v: memcached exits %v saying %q; the test expects %d and %q", c.args, err, mcErr.String(), c.code, c.want)
		}
	}
}

// Arguments that are not options are ignored, with a notice, as memcached
// ignores them.
func TestPositionalArgumentsIgnored(t *testing.T) {
	cmd, err := parseArgs([]string{"-p", "1", "foo", "--", "bar"}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{`"foo"`, `"bar"`} {
		if !slices.ContainsFunc(cmd.notices, func(n string) bool { return strings.Contains(n, a) }) {
			t.Errorf("no notice names %s: %q", a, cmd.notices)
		}
	}
}

// The built binary serves on -p, names ignored options in its log, and exits
// 0 on SIGTERM after removing its pid file.
func TestBinaryServesAndStopsOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	bin := buildBinary(t)
	port := testenv.FreePort(t)
	pid := filepath.Join(dir, "pid")
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-l", "127.0.0.1", "-p", strconv.Itoa(port), "-u", "nobody", "-P", pid)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := testenv.WaitListening(addr, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write([]byte("set k 0 0 2\r\nhi\r\nget k\r\n"))
	buf := make([]byte, 64)
	n, _ := nc.Read(buf)
	for n < 30 {
		m, err := nc.Read(buf[n:])
		if err != nil {
			break
		}
		n += m
	}
	if got := string(buf[:n]); got != "STORED\r\nVALUE k 0 2\r\nhi\r\nEND\r\n" {
		t.Fatalf("reply %q", got)
	}
	nc.Close()
	time.Sleep(200 * time.Millisecond) // the pid file is written after the listener opens
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15 s of SIGTERM")
	}
	log := stderr.String()
	wants := []string{"slabcached started", "slabcached stopped"}
	if os.Geteuid() != 0 {
		wants = append(wants, "-u nobody ignored") // as root, -u is obeyed
	}
	for _, want := range wants {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if _, err := exec.Command("test", "-e", pid).CombinedOutput(); err == nil {
		t.Error("pid file left behind after exit")
	}
}

// --metrics-listen serves Prometheus metrics: slabcached's own, the Go
// runtime's (GC pauses) and the process's, and they follow traffic.
func TestMetricsEndpoint(t *testing.T) {
	port, mport := testenv.FreePort(t), testenv.FreePort(t)
	maddr := "127.0.0.1:" + strconv.Itoa(mport)
	cmd := exec.Command(buildBinary(t), "-p", strconv.Itoa(port), "--metrics-listen", maddr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := testenv.WaitListening(addr, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := testenv.WaitListening(maddr, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, "tcp", addr) // one set, one get hit
	resp, err := http.Get("http://" + maddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`slabcached_commands_total{command="get",status="hit"} 1`,
		`slabcached_commands_total{command="set",status=""} 1`,
		`slabcached_request_duration_seconds_bucket{command="get",le="+Inf"} 1`,
		"slabcached_items 1",
		"go_gc_duration_seconds",
		"process_resident_memory_bytes",
		`slabcached_info{version="`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// memcached's port rules: -p -1 and -U -1 take ports the system picks,
// -p 0 turns TCP off (UDP alone is served), and MEMCACHED_PORT_FILENAME
// names a file listing the bound ports.
func TestPortFileAndPortRules(t *testing.T) {
	bin := buildBinary(t)
	run := func(args ...string) map[string]int {
		t.Helper()
		pf := filepath.Join(t.TempDir(), "ports")
		cmd := exec.Command(bin, append([]string{"-l", "127.0.0.1", "--metrics-listen", "off"}, args...)...)
		cmd.Env = append(os.Environ(), "MEMCACHED_PORT_FILENAME="+pf)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
		deadline := time.Now().Add(10 * time.Second)
		for {
			b, err := os.ReadFile(pf)
			if err == nil {
				ports := map[string]int{}
				for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
					if k, v, ok := strings.Cut(line, ": "); ok {
						ports[k], _ = strconv.Atoi(v)
					}
				}
				if p := ports["UDP INET"]; p != 0 {
					// The UDP socket answers.
					uc, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(p))
					if err != nil {
						t.Fatal(err)
					}
					uc.SetDeadline(time.Now().Add(5 * time.Second))
					uc.Write([]byte("\x00\x01\x00\x00\x00\x01\x00\x00version\r\n"))
					buf := make([]byte, 100)
					n, err := uc.Read(buf)
					if err != nil || !strings.HasPrefix(string(buf[8:n]), "VERSION ") {
						t.Fatalf("%v: UDP reply %q %v", args, buf[:n], err)
					}
					uc.Close()
				}
				return ports
			}
			if time.Now().After(deadline) {
				t.Fatalf("%v: no port file", args)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if p := run("-p", "-1"); p["TCP INET"] == 0 || len(p) != 1 {
		t.Errorf("-p -1: %v", p)
	}
	if p := run("-p", "-1", "-U", "-1"); p["TCP INET"] == 0 || p["UDP INET"] == 0 {
		t.Errorf("-p -1 -U -1: %v", p)
	}
	udp := testenv.FreePort(t)
	if p := run("-p", "0", "-U", strconv.Itoa(udp)); p["UDP INET"] != udp || len(p) != 1 {
		t.Errorf("-p 0 -U %d: %v", udp, p)
	}
	if p := run("-p", "0"); len(p) != 0 {
		t.Errorf("-p 0: %v", p)
	}
}

// The Go scheduler gets one P per event loop and one for the background
// work, never more than the CPUs, unless GOMAXPROCS is set.
func TestProcsFor(t *testing.T) {
	for _, c := range []struct {
		threads, cpus int
		env           string
		want          int
		ok            bool
	}{
		{4, 64, "", 5, true},
		{1, 64, "", 2, true},
		{2, 2, "", 2, true}, // the default -t: one loop per CPU
		{8, 2, "", 2, true}, // more loops than CPUs
		{1, 1, "", 1, true}, // pinned to one CPU
		{4, 64, "3", 0, false},
	} {
		n, ok := procsFor(c.threads, c.cpus, c.env)
		if n != c.want || ok != c.ok {
			t.Errorf("procsFor(%d, %d, %q) = %d, %v; want %d, %v", c.threads, c.cpus, c.env, n, ok, c.want, c.ok)
		}
	}
}

// A SIGTERM sent the moment -d returns, before any request, still stops the
// daemon cleanly: the pid file goes with it.
func TestDaemonStopsCleanlyRightAfterStart(t *testing.T) {
	d := startDaemon(t, testenv.FreePort(t))
	d.proc.Signal(syscall.SIGTERM)
	waitGone(t, d.pidPath, 10*time.Second)
}
