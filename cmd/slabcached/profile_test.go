package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
)

// The profile and trace environment variables each leave a file the Go
// tools read: a gzipped profile and an execution trace (its header).
func TestProfileAndTraceFiles(t *testing.T) {
	dir := t.TempDir()
	prof, tr := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "run.trace")
	stopProf := startCPUProfile(prof, zap.NewNop())
	stopTrace := startTrace(tr, zap.NewNop())
	if stopProf == nil || stopTrace == nil {
		t.Fatal("profile or trace did not start")
	}
	x := 0
	for i := range 1_000_000 {
		x += i * i
	}
	_ = x
	stopTrace()
	stopProf()
	if b, err := os.ReadFile(prof); err != nil || !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Errorf("CPU profile: %v, %d bytes, not gzip", err, len(b))
	}
	if b, err := os.ReadFile(tr); err != nil || !bytes.HasPrefix(b, []byte("go 1.")) {
		t.Errorf("trace: %v, starts %q", err, b[:min(len(b), 16)])
	}
	if startTrace("", zap.NewNop()) != nil || startCPUProfile("", zap.NewNop()) != nil {
		t.Error("an empty path started a recording")
	}
	if startTrace(filepath.Join(dir, "no", "such", "dir"), zap.NewNop()) != nil {
		t.Error("an uncreatable file started a recording")
	}
}
