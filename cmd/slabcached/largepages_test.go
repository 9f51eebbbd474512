package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/testenv"
)

// hugeAdvised sums the sizes of the process's mappings that carry the
// MADV_HUGEPAGE advice ("hg" in smaps' VmFlags).
func hugeAdvised(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
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

// With -L the item memory (at least -m of it) is advised to the kernel as
// huge pages; without it, none of the process's memory is.
func TestLargePagesFlag(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil {
		t.Skip("this kernel has no transparent huge pages")
	}
	bin := buildBinary(t)
	for _, large := range []bool{false, true} {
		port := testenv.FreePort(t)
		args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "64", "--metrics-listen", "off"}
		if large {
			args = append(args, "-L")
		}
		cmd := exec.Command(bin, args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if err := testenv.WaitListening("127.0.0.1:"+strconv.Itoa(port), 10*time.Second); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal(err)
		}
		got := hugeAdvised(t, cmd.Process.Pid)
		cmd.Process.Kill()
		cmd.Wait()
		switch {
		case large && got < 64<<20:
			t.Errorf("-L: %d bytes advised as huge pages, want at least -m (64 MiB)", got)
		case !large && got != 0:
			t.Errorf("without -L: %d bytes advised as huge pages, want none", got)
		}
	}
}
