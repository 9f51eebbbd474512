package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("pseudo-terminal number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("opening the pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

func TestLogsAreJSONUnlessOnATerminal(t *testing.T) {
	level := zap.NewAtomicLevelAt(zap.InfoLevel)

	// A pipe, as under a service manager: one JSON object per line.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	newLogger(w, level).Info("slabcached started", zap.String("version", "x"))
	w.Close()
	line, _ := bufio.NewReader(r).ReadString('\n')
	var obj map[string]any
	if err := json.Unmarshal([]byte(line), &obj); err != nil || obj["msg"] != "slabcached started" || obj["version"] != "x" {
		t.Fatalf("on a pipe: %q is not the JSON event (%v)", line, err)
	}

	// A terminal: zap's console encoding, tab-separated, level in capitals.
	master, slave := openPTY(t)
	newLogger(slave, level).Info("slabcached started", zap.String("version", "x"))
	master.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err = bufio.NewReader(master).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the terminal: %v", err)
	}
	f := strings.Split(strings.TrimRight(line, "\r\n"), "\t")
	if len(f) != 4 || f[1] != "INFO" || f[2] != "slabcached started" || f[3] != `{"version": "x"}` || strings.HasPrefix(line, "{") {
		t.Fatalf("on a terminal: %q, want time, INFO, message, fields separated by tabs", line)
	}
}
