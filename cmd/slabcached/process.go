package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// daemonEnv marks the background copy of a daemonized slabcached; its value
// is the file descriptor of the pipe that reports readiness.
const daemonEnv = "SLABCACHED_DAEMON_FD"

// daemonize is -d: start a copy of this program in a new session, detached
// from the terminal, wait until it serves (or fails), and exit. Go cannot
// fork, so the copy is a fresh process with the same arguments.
func daemonize(stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "slabcached: -d: %v\n", err)
		return exitFail
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(stderr, "slabcached: -d: %v\n", err)
		return exitFail
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(stderr, "slabcached: -d: %v\n", err)
		return exitFail
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), daemonEnv+"=3")
	cmd.Stdin, cmd.Stdout = devnull, devnull
	// Logs keep going where the parent's went (memcached -d keeps stderr).
	cmd.Stderr = stderr
	if f, ok := stderr.(*os.File); ok {
		cmd.Stderr = f
	}
	cmd.ExtraFiles = []*os.File{pw}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "slabcached: -d: %v\n", err)
		return exitFail
	}
	pw.Close()
	line, _ := bufio.NewReader(pr).ReadString('\n')
	if line != "ready\n" {
		fmt.Fprintln(stderr, "slabcached: -d: the daemon failed to start")
		return exitFail
	}
	cmd.Process.Release()
	return exitOK
}

// daemonReady tells a waiting parent (-d) that the server is listening.
func daemonReady() {
	fd := os.Getenv(daemonEnv)
	if fd == "" {
		return
	}
	n, err := strconv.Atoi(fd)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(n), "daemon-ready")
	if f == nil {
		return
	}
	f.WriteString("ready\n")
	f.Close()
	os.Unsetenv(daemonEnv)
}

// lockMemory is -k: lock current and future memory into RAM.
func lockMemory() error {
	return unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE)
}

// dropPrivileges is -u: when running as root, become name. The flag parser
// already dropped -u with a notice when not root.
func dropPrivileges(name string) error {
	if name == "" || os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return err
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return err
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return err
	}
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return err
	}
	if err := syscall.Setgid(gid); err != nil {
		return err
	}
	return syscall.Setuid(uid)
}
