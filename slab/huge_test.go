//go:build !slabheap

package slab

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
)

// vmFlags returns the VmFlags line of the mapping of this process that
// holds addr, from /proc/self/smaps.
func vmFlags(t *testing.T, addr uintptr) string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if first, _, _ := strings.Cut(line, " "); !strings.HasSuffix(first, ":") {
			if n, _ := fmt.Sscanf(first, "%x-%x", &lo, &hi); n == 2 {
				in = lo <= addr && addr < hi
				continue
			}
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return line
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return ""
}

func TestHugePages(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil {
		t.Skip("this kernel has no transparent huge pages")
	}
	for _, huge := range []bool{true, false} {
		cfg := DefaultConfig()
		cfg.MemLimit = 16 << 20
		cfg.HugePages = huge
		a, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		base := uintptr(a.base)
		if _, err := a.Alloc(1, 100); err != nil {
			t.Fatal(err)
		}
		flags := vmFlags(t, base)
		if got := strings.Contains(flags+" ", " hg "); got != huge {
			t.Errorf("HugePages %v: mapping's %q (hg: MADV_HUGEPAGE)", huge, flags)
		}
		if huge && base%hugePageSize != 0 {
			t.Errorf("HugePages: region at %#x, not on a huge page boundary", base)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
