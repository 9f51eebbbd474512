package main

import (
	"bytes"
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

// The built binary serves on -p, names ignored options in its log, and exits
// 0 on SIGTERM after removing its pid file.
func TestBinaryServesAndStopsOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "slabcached")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
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
