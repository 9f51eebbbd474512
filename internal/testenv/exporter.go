package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// MemcachedExporterVersion is the Prometheus memcached_exporter release the
// tests run against slabcached.
const MemcachedExporterVersion = "v0.16.0"

var (
	exporterOnce sync.Once
	exporterPath string
	exporterErr  error
)

// BuildMemcachedExporter returns the path of Prometheus' memcached_exporter
// at MemcachedExporterVersion, built once from the Go module proxy into the
// user cache directory (a throwaway module: `go install` refuses the
// module because the proxy here will not list its versions). When the build
// is impossible (no network, no proxy) the test is skipped, or fails when
// CI=true.
func BuildMemcachedExporter(t testing.TB) string {
	t.Helper()
	exporterOnce.Do(func() { exporterPath, exporterErr = buildExporter() })
	if exporterErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot build memcached_exporter %s: %v", MemcachedExporterVersion, exporterErr)
		}
		t.Skipf("cannot build memcached_exporter %s: %v", MemcachedExporterVersion, exporterErr)
	}
	return exporterPath
}

func buildExporter() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "slabcache", "memcached_exporter-"+MemcachedExporterVersion)
	bin := filepath.Join(dir, "memcached_exporter")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	gomod := "module slabcache.test/exporter\n\ngo 1.22\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		return "", err
	}
	run := func(args ...string) error {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %v: %v\n%s", args, err, out)
		}
		return nil
	}
	if err := run("get", "github.com/prometheus/memcached_exporter@"+MemcachedExporterVersion); err != nil {
		return "", err
	}
	tmp := bin + ".tmp"
	if err := run("build", "-o", tmp, "github.com/prometheus/memcached_exporter/cmd/memcached_exporter"); err != nil {
		return "", err
	}
	return bin, os.Rename(tmp, bin)
}
