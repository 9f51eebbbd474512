package main

import (
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/slabcache/slabcache/internal/testenv"
)

// With -L the item memory (at least -m of it) is advised to the kernel as
// huge pages; without it, none of the process's memory is.
func TestLargePagesFlag(t *testing.T) {
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
		got := testenv.HugeAdvised(t, cmd.Process.Pid)
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
