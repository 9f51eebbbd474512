package testenv

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// HugeAdvised returns how many bytes of process pid's mappings carry the
// transparent huge page advice (MADV_HUGEPAGE: "hg" in the VmFlags of
// /proc/PID/smaps; pid 0 is this process). It skips the test where the
// kernel has no transparent huge pages or no smaps.
func HugeAdvised(t testing.TB, pid int) int64 {
	t.Helper()
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil {
		t.Skip("this kernel has no transparent huge pages")
	}
	path := "/proc/self/smaps"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/smaps", pid)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	defer f.Close()
	var size, total int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "Size:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			size = kb << 10
		}
		if v, ok := strings.CutPrefix(line, "VmFlags:"); ok && strings.Contains(v+" ", " hg ") {
			total += size
		}
	}
	return total
}
