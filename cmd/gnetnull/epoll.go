package main

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/slabcache/slabcache/internal/ticks"
)

// runEpoll serves the same protocol as the gnet handler from one loop
// over epoll written here, with no gnet in between: the floor of a Go
// server on Linux without gnet's poller and buffers. With raw, the
// non-blocking calls (reads, writes, a poll with a zero timeout) are raw
// system calls that skip the scheduler's entersyscall and exitsyscall; a
// poll that may block always goes through the scheduler, which must be
// free to run other goroutines meanwhile.
func runEpoll(addr string, port int, raw bool) error {
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return err
	}
	ip := net.ParseIP(addr).To4()
	if ip == nil {
		return fmt.Errorf("-l %s: an IPv4 address is needed with -poller epoll", addr)
	}
	sa := &unix.SockaddrInet4{Port: port}
	copy(sa.Addr[:], ip)
	if err := unix.Bind(lfd, sa); err != nil {
		return err
	}
	if err := unix.Listen(lfd, 1024); err != nil {
		return err
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lfd)}); err != nil {
		return err
	}
	l := &epollLoop{epfd: epfd, lfd: lfd, raw: raw}
	return l.run()
}

type epollConn struct {
	fd  int
	in  []byte // bytes read and not yet taken by a request
	buf []byte // the read buffer in's bytes live in
	c   conn
}

type epollLoop struct {
	epfd, lfd int
	raw       bool
	conns     []*epollConn // by descriptor
	yieldAt   int64
}

func (l *epollLoop) wait(events []unix.EpollEvent, msec int) (int, error) {
	if l.raw && msec == 0 {
		r, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_WAIT, uintptr(l.epfd),
			uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
		if e != 0 {
			return 0, e
		}
		return int(r), nil
	}
	return unix.EpollWait(l.epfd, events, msec)
}

func (l *epollLoop) read(fd int, p []byte) (int, error) {
	if !l.raw {
		return unix.Read(fd, p)
	}
	return rawIO(unix.SYS_READ, fd, p)
}

func (l *epollLoop) write(fd int, p []byte) (int, error) {
	if !l.raw {
		return unix.Write(fd, p)
	}
	return rawIO(unix.SYS_WRITE, fd, p)
}

// rawIO is read(2) or write(2) as a raw system call.
func rawIO(trap uintptr, fd int, p []byte) (int, error) {
	r, _, e := syscall.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

func (l *epollLoop) run() error {
	events := make([]unix.EpollEvent, 128)
	msec := -1
	for {
		n, err := l.wait(events, msec)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			// As gnet: after an empty non-blocking poll, let other
			// goroutines run, then block.
			runtime.Gosched()
			msec = -1
			continue
		}
		msec = 0
		for i := 0; i < n; i++ {
			fd := int(events[i].Fd)
			if fd == l.lfd {
				l.accept()
				continue
			}
			if fd < len(l.conns) && l.conns[fd] != nil {
				l.serve(l.conns[fd])
			}
		}
		if now := ticks.Now(); now-l.yieldAt > int64(yieldEvery) {
			l.yieldAt = now
			runtime.Gosched()
		}
	}
}

func (l *epollLoop) accept() {
	for {
		fd, _, err := unix.Accept4(l.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			return
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		for fd >= len(l.conns) {
			l.conns = append(l.conns, nil)
		}
		ec := &epollConn{fd: fd, buf: make([]byte, 64<<10), c: conn{out: make([]byte, 0, 4096)}}
		ec.in = ec.buf[:0]
		l.conns[fd] = ec
		unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)})
	}
}

func (l *epollLoop) close(ec *epollConn) {
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, ec.fd, nil)
	unix.Close(ec.fd)
	l.conns[ec.fd] = nil
}

func (l *epollLoop) serve(ec *epollConn) {
	// Keep what a previous read left at the buffer's start.
	if len(ec.in) > 0 && &ec.in[0] != &ec.buf[0] {
		ec.in = ec.buf[:copy(ec.buf, ec.in)]
	}
	if len(ec.in) == len(ec.buf) {
		ec.buf = append(ec.buf, make([]byte, len(ec.buf))...)
		ec.in = ec.buf[:len(ec.in)]
	}
	n, err := l.read(ec.fd, ec.buf[len(ec.in):])
	if err == unix.EAGAIN {
		return
	}
	if err != nil || n <= 0 {
		l.close(ec)
		return
	}
	ec.in = ec.buf[:len(ec.in)+n]
	off := 0
	for off < len(ec.in) {
		rest := ec.in[off:]
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			break
		}
		line := bytes.TrimSuffix(rest[:nl], []byte{'\r'})
		m, ok := ec.c.handle(line, rest[nl+1:])
		if !ok {
			break
		}
		off += nl + 1 + m
	}
	ec.in = ec.in[off:]
	out := ec.c.out
	for len(out) > 0 {
		w, err := l.write(ec.fd, out)
		if err == unix.EAGAIN {
			continue // a benchmark's replies are small; spin rather than queue
		}
		if err != nil {
			l.close(ec)
			return
		}
		out = out[w:]
	}
	ec.c.out = ec.c.out[:0]
}
