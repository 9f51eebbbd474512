package server

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// napiCounts keeps memcached's NAPI-id bookkeeping under -N: memcached
// gives each worker thread the NAPI id (the receive queue of the network
// card) of the first connection it is handed, and hands later
// connections with that id to the same thread. slabcached leaves the
// placement to gnet but keeps the same table, so that `stats` reports
// round_robin_fallback (connections that came with no NAPI id, as on
// loopback) and unexpected_napi_ids (more ids than threads) as memcached
// would for the same connections.
type napiCounts struct {
	mu         sync.Mutex
	ids        []int // per thread; 0 = not yet given one
	last       int   // the last thread given an id; -1: none
	fallback   atomic.Uint64
	unexpected atomic.Uint64
}

// napiDispatch counts a socket handed to the event loops (an accepted
// connection, or a UDP socket once per thread, as memcached dispatches
// it) when -N is set.
func (s *Server) napiDispatch(fd int) {
	if s.set.NapiIDs <= 0 {
		return
	}
	id, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_INCOMING_NAPI_ID)
	if err != nil || id == 0 {
		s.napi.fallback.Add(1)
		return
	}
	s.napi.assign(id, max(s.set.Threads, 1))
}

// assign is memcached's select_thread_by_napi_id without the thread: the
// first thread holding id, else the next thread with none; when every
// thread holds another id, the table starts over and the miss is counted.
func (n *napiCounts) assign(id, threads int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.ids) != threads {
		n.ids, n.last = make([]int, threads), -1
	}
	for {
		for i := range n.ids {
			if n.last < i {
				n.ids[i], n.last = id, i
				return
			}
			if n.ids[i] == id {
				return
			}
		}
		n.unexpected.Add(1)
		clear(n.ids)
		n.last = -1
	}
}
