package server

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// listener is a listening socket as `stats conns` shows it.
type listener struct {
	fd   int
	addr string // "tcp:host:port" or "unix:path"
}

// listeners finds the server's listening sockets among this process's file
// descriptors (gnet does not expose them): a TCP socket in state LISTEN on
// the server's port, or the Unix socket at its path. Looked up once.
func (s *Server) listeners() []listener {
	s.lnOnce.Do(func() { s.ln = s.findListeners() })
	return s.ln
}

func (s *Server) findListeners() []listener {
	inodes := map[string]int{} // socket inode -> fd
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, e := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || !strings.HasPrefix(target, "socket:[") {
			continue
		}
		if fd, err := strconv.Atoi(e.Name()); err == nil {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = fd
		}
	}
	var out []listener
	if s.set.SocketPath != "" {
		eachProcLine("/proc/net/unix", func(f []string) {
			// Num RefCount Protocol Flags Type St Inode Path
			if len(f) >= 8 && f[7] == s.set.SocketPath {
				if fd, ok := inodes[f[6]]; ok {
					out = append(out, listener{fd, "unix:" + s.set.SocketPath})
				}
			}
		})
		return out
	}
	_, port, _ := strings.Cut(s.Addr(), ":")
	for strings.Contains(port, ":") { // an IPv6 address
		_, port, _ = strings.Cut(port, ":")
	}
	want, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil
	}
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		eachProcLine(file, func(f []string) {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			if len(f) < 10 || f[3] != "0A" {
				return
			}
			i := strings.LastIndexByte(f[1], ':')
			p, err := strconv.ParseUint(f[1][i+1:], 16, 16)
			if err != nil || p != want {
				return
			}
			if fd, ok := inodes[f[9]]; ok {
				out = append(out, listener{fd, "tcp:" + s.Addr()})
			}
		})
	}
	return out
}

func eachProcLine(path string, fn func([]string)) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fn(strings.Fields(sc.Text()))
	}
}
