package compare

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slabcache/slabcache/proto"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat. Linux exports
// these in USER_HZ, which is 100 on every architecture it supports.
const userHZ = 100

// ProcUserSysCPU returns the user and the system CPU seconds used so far by
// every thread of process pid, from /proc/<pid>/stat.
func ProcUserSysCPU(pid int) (user, sys float64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	return parseStatUserSys(b)
}

// parseStatUserSys reads utime and stime (fields 14 and 15) from a stat
// line. The command name (field 2) may hold spaces, so fields are counted
// after its closing parenthesis.
func parseStatUserSys(b []byte) (user, sys float64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("compare: malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, 0, errors.New("compare: short /proc stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("compare: bad utime/stime in /proc stat: %q %q", f[11], f[12])
	}
	return float64(ut) / userHZ, float64(st) / userHZ, nil
}

// ProcRSS returns the resident set size of process pid in bytes (VmRSS in
// /proc/<pid>/status).
func ProcRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	return parseStatusRSS(b)
}

func parseStatusRSS(b []byte) (int64, error) {
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		line := s.Text()
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("compare: unexpected VmRSS line %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("compare: VmRSS %q: %w", line, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("compare: no VmRSS in /proc status")
}

// SystemCPU returns the machine's busy CPU seconds (user, nice, system, irq,
// softirq of all CPUs) and the seconds stolen by the hypervisor, from the
// first line of /proc/stat.
func SystemCPU() (busy, steal float64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	return parseProcStat(b)
}

func parseProcStat(b []byte) (busy, steal float64, err error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("compare: unexpected /proc/stat line %q", line)
	}
	var v [8]uint64 // user nice system idle iowait irq softirq steal
	for i := range v {
		if v[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("compare: /proc/stat: %w", err)
		}
	}
	busy = float64(v[0]+v[1]+v[2]+v[5]+v[6]) / userHZ
	return busy, float64(v[7]) / userHZ, nil
}

// Server says how to start one of the two servers.
type Server struct {
	// Name labels the server in reports ("memcached", "slabcached").
	Name string `json:"name"`
	// Binary is the path of the executable.
	Binary string `json:"binary"`
	// Args are extra arguments after the common ones
	// (-l 127.0.0.1 -p PORT -m MB -t THREADS).
	Args []string `json:"args"`
}

// process is a running server.
type process struct {
	srv  Server
	addr string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// startServer starts srv on a free loopback port, pinned to cpus when not
// empty, and waits until it accepts connections.
func startServer(ctx context.Context, srv Server, memMB, threads int, cpus, logDir string) (*process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-m", strconv.Itoa(memMB), "-t", strconv.Itoa(threads)}
	args = append(args, srv.Args...)
	name, argv := srv.Binary, args
	if cpus != "" {
		name, argv = "taskset", append([]string{"-c", cpus, srv.Binary}, args...)
	}
	cmd := exec.Command(name, argv...)
	logf, err := os.Create(filepath.Join(logDir, "server-"+safeName(srv.Name)+".log"))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logf, "# %s %s\n", name, strings.Join(argv, " "))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("compare: starting %s: %w", srv.Name, err)
	}
	p := &process{srv: srv, addr: addr, cmd: cmd, done: make(chan struct{}), log: logf}
	go func() { _ = cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			// Ask something so that we know the server answers, not only listens.
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, serr := proto.NewConn(c).Stats()
			c.Close()
			if serr == nil {
				return p, nil
			}
			err = serr
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("compare: %s exited at start-up (%v); see %s", srv.Name, cmd.ProcessState, logf.Name())
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("compare: %s not answering on %s: %w", srv.Name, addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// stop ends the server: SIGTERM, then SIGKILL after 5 seconds.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
}

// alive reports whether the server is still running.
func (p *process) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stats returns the server's "stats" output.
func (p *process) stats(args string) (map[string]string, error) {
	c, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return proto.NewConn(c).Stats(strings.Fields(args)...)
}

// flushAll empties the server (memcached's flush_all is lazy: memory stays).
func (p *process) flushAll() error {
	c, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var rp proto.Reply
	if err := proto.NewConn(c).Do(&proto.Request{Command: proto.CmdFlushAll}, &rp); err != nil {
		return err
	}
	if rp.Status != proto.StatusOK {
		return fmt.Errorf("compare: flush_all on %s: %q", p.srv.Name, rp.Line)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}
