// Package testenv helps tests find the external programs they need
// (memcached, memccapable, nutcracker, ...) and free loopback ports.
//
// When the environment variable CI is "true", a missing program fails the
// test instead of skipping it, so nothing is silently skipped in CI.
// Only tests import this package.
package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// LookPath returns the path of the program name, or ends the test: a skip
// normally, a failure when CI=true.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	// Debian puts some programs in sbin, which is not always on PATH.
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
		cand := dir + "/" + name
		if st, err := os.Stat(cand); err == nil && st.Mode()&0o111 != 0 {
			return cand
		}
	}
	msg := fmt.Sprintf("%s not found; install the Debian packages listed in the Makefile (make deps)", name)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitListening waits until addr accepts TCP connections or the timeout ends.
func WaitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %v: %w", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ReferenceVersion is the memcached release slabcached is held to.
const ReferenceVersion = "1.6.45"

// ReferenceEnv names the environment variable that gives the path of a
// memcached 1.6.45 binary (the reference of the differential tests).
const ReferenceEnv = "MEMCACHED_REFERENCE"

// ReferenceMemcached returns the path of the reference memcached 1.6.45
// binary: $MEMCACHED_REFERENCE, or memcached-1.6.45/memcached in a folder
// named shared beside the checkout (where the development machines keep it).
// Without one the test is skipped, saying how to provide it: Debian's
// memcached is an older release whose replies differ.
func ReferenceMemcached(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(ReferenceEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", ReferenceEnv, p, err)
		}
		return p
	}
	if p := FindReference(); p != "" {
		return p
	}
	t.Skipf("memcached %s not found: set %s to the path of a memcached %s binary (build it from its release tarball with ./configure && make)",
		ReferenceVersion, ReferenceEnv, ReferenceVersion)
	return ""
}

// FindReference returns the path of the reference memcached binary as
// ReferenceMemcached finds it, or "" when there is none.
func FindReference() string {
	if p := os.Getenv(ReferenceEnv); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		return ""
	}
	if root, err := moduleRoot(); err == nil {
		p := filepath.Join(filepath.Dir(root), "shared", "memcached-"+ReferenceVersion, "memcached")
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// moduleRoot returns the directory holding the module's go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// StartReference starts the reference memcached 1.6.45 (ReferenceMemcached)
// on a free loopback port with the given extra arguments and returns its
// address; it is killed when the test ends.
func StartReference(t testing.TB, args ...string) string {
	t.Helper()
	return startMemcached(t, ReferenceMemcached(t), args)
}

// StartMemcached starts Debian's memcached on a free loopback port with the
// given extra arguments and returns its address; it is killed when the test
// ends. Tests that check replies against memcached use StartReference.
func StartMemcached(t testing.TB, args ...string) string {
	t.Helper()
	return startMemcached(t, LookPath(t, "memcached"), args)
}

func startMemcached(t testing.TB, bin string, args []string) string {
	t.Helper()
	return StartServer(t, func(port int) *exec.Cmd {
		all := append([]string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0"}, args...)
		if os.Geteuid() == 0 {
			all = append(all, "-u", "root")
		}
		return exec.Command(bin, all...)
	})
}

// StartServer starts the server cmd returns for a port (one that listens
// on 127.0.0.1:port) on a free port, and returns its address once it
// answers there; it is killed when t ends, and what it wrote to stdout and
// stderr is logged if the test failed. FreePort's port may be taken by
// another test's server before the process binds it: the process then
// exits at once, while that other server may answer the dial. So a start
// counts once the process still runs a moment after its port answers;
// otherwise it is started again on another port, three times at most.
func StartServer(t testing.TB, cmd func(port int) *exec.Cmd) string {
	t.Helper()
	for attempt := 1; ; attempt++ {
		port := FreePort(t)
		c := cmd(port)
		out := &Buffer{}
		c.Stdout, c.Stderr = out, out
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		var exitErr error
		exited := make(chan struct{})
		go func() {
			exitErr = c.Wait()
			close(exited)
		}()
		t.Cleanup(func() {
			_ = c.Process.Kill()
			<-exited
			if t.Failed() && out.Len() > 0 {
				t.Logf("output of %s %s:\n%s", filepath.Base(c.Path), strings.Join(c.Args[1:], " "), out.String())
			}
		})
		addr := "127.0.0.1:" + strconv.Itoa(port)
		if answers(t, addr, exited) {
			return addr
		}
		if attempt == 3 {
			t.Fatalf("%s %s exited before listening (%v), three times; its output:\n%s",
				c.Path, strings.Join(c.Args[1:], " "), exitErr, out.String())
		}
	}
}

// answers waits until addr accepts connections and reports whether the
// server started for it still runs 50 ms later; false when it exited.
func answers(t testing.TB, addr string, exited <-chan struct{}) bool {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			return false
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not listening after 10s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-exited:
		return false
	case <-time.After(50 * time.Millisecond):
		return true
	}
}

var (
	slabOnce sync.Once
	slabPath string
	slabErr  error
	slabOut  []byte
)

// BuildSlabcached builds cmd/slabcached once per test process into a
// temporary directory and returns the binary's path (for packages that
// may not import the server, and tests that need a real process).
func BuildSlabcached(t testing.TB) string {
	t.Helper()
	slabOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			slabErr = err
			return
		}
		removeStaleBuilds()
		dir, err := os.MkdirTemp("", fmt.Sprintf("slabcached-build-%d-", os.Getpid()))
		if err != nil {
			slabErr = err
			return
		}
		slabPath = filepath.Join(dir, "slabcached")
		cmd := exec.Command("go", "build", "-o", slabPath, "./cmd/slabcached")
		cmd.Dir = root
		slabOut, slabErr = cmd.CombinedOutput()
	})
	if slabErr != nil {
		t.Fatalf("building slabcached: %v\n%s", slabErr, slabOut)
	}
	return slabPath
}

// removeStaleBuilds removes the binaries BuildSlabcached left behind for
// test processes that have ended (a test process cannot remove its own on
// exit without a TestMain in every package).
func removeStaleBuilds() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "slabcached-build-*-*"))
	for _, d := range dirs {
		f := strings.SplitN(filepath.Base(d), "-", 4)
		if len(f) < 4 {
			continue
		}
		pid, err := strconv.Atoi(f[2])
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}

// StartSlabcached starts slabcached (BuildSlabcached) on a free loopback
// port with the given extra arguments and returns its address; it is
// killed when the test ends.
func StartSlabcached(t testing.TB, args ...string) string {
	t.Helper()
	return startMemcached(t, BuildSlabcached(t), append([]string{"--metrics-listen", "off"}, args...))
}
