package server

import (
	"net"
	"sort"
	"strconv"

	"github.com/slabcache/slabcache/proto"
)

// The `stats` sub-commands other than the general form, settings and reset:
// items, slabs, conns, sizes and detail, with memcached 1.6.18's field names
// and order. None of them is on a request's hot path.

// appendClassStat appends "STAT <prefix><cls>:<name> <v>".
func appendClassStat(dst []byte, prefix string, cls int, name string, v uint64) []byte {
	dst = append(dst, "STAT "...)
	dst = append(dst, prefix...)
	dst = strconv.AppendInt(dst, int64(cls), 10)
	dst = append(dst, ':')
	dst = append(dst, name...)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, v, 10)
	return append(dst, '\r', '\n')
}

// appendStatsItems is `stats items`: one block per class holding items.
func (s *Server) appendStatsItems(dst []byte) []byte {
	cls := s.store.ClassStats(nil)
	ct := s.classTotals()
	temp := s.liveSettings().TempLRU
	for i := range cls {
		cs := &cls[i]
		if cs.Number == 0 {
			continue
		}
		k := ct[cs.Class]
		u := func(name string, v uint64) { dst = appendClassStat(dst, "items:", cs.Class, name, v) }
		u("number", cs.Number)
		u("number_hot", cs.NumberHot)
		u("number_warm", cs.NumberWarm)
		u("number_cold", cs.NumberCold)
		if temp {
			u("number_temp", cs.NumberTemp)
		}
		u("age_hot", uint64(cs.AgeHot))
		u("age_warm", uint64(cs.AgeWarm))
		u("age", uint64(cs.Age))
		u("mem_requested", cs.MemRequested)
		u("evicted", cs.Evicted)
		u("evicted_nonzero", cs.EvictedNonzero)
		u("evicted_time", uint64(cs.EvictedTime))
		u("outofmemory", cs.OutOfMemory)
		u("tailrepairs", cs.TailRepairs)
		u("reclaimed", cs.Reclaimed)
		u("expired_unfetched", cs.ExpiredUnfetched)
		u("evicted_unfetched", cs.EvictedUnfetched)
		u("evicted_active", cs.EvictedActive)
		u("crawler_reclaimed", cs.CrawlerReclaimed)
		u("crawler_items_checked", cs.CrawlerChecked)
		u("lrutail_reflocked", cs.LRUTailReflocked)
		u("moves_to_cold", cs.MovesToCold)
		u("moves_to_warm", cs.MovesToWarm)
		u("moves_within_lru", cs.MovesWithinLRU)
		u("direct_reclaims", cs.DirectReclaims)
		u("hits_to_hot", k[kHitsToHot])
		u("hits_to_warm", k[kHitsToWarm])
		u("hits_to_cold", k[kHitsToCold])
		u("hits_to_temp", k[kHitsToTemp])
	}
	return proto.AppendEnd(dst)
}

// appendStatsSlabs is `stats slabs`: one block per class holding pages,
// then active_slabs and total_malloced. The per-class request counters
// (get_hits, cmd_set, cas_hits, cas_badval, ...) are what Prometheus'
// memcached_exporter requires.
func (s *Server) appendStatsSlabs(dst []byte) []byte {
	cls := s.store.ClassStats(nil)
	ct := s.classTotals()
	active := 0
	for i := range cls {
		cs := &cls[i]
		sl := &cs.Slab
		if sl.TotalPages == 0 {
			continue
		}
		active++
		k := ct[cs.Class]
		u := func(name string, v uint64) { dst = appendClassStat(dst, "", cs.Class, name, v) }
		u("chunk_size", uint64(sl.ChunkSize))
		u("chunks_per_page", uint64(sl.ChunksPerPage))
		u("total_pages", uint64(sl.TotalPages))
		u("total_chunks", uint64(sl.TotalChunks))
		u("used_chunks", uint64(sl.UsedChunks))
		u("free_chunks", uint64(sl.FreeChunks))
		u("free_chunks_end", 0) // pages are carved whole: no partly carved page
		u("get_hits", k[kGetHits])
		u("cmd_set", k[kCmdSet])
		u("delete_hits", k[kDeleteHits])
		u("incr_hits", k[kIncrHits])
		u("decr_hits", k[kDecrHits])
		u("cas_hits", k[kCasHits])
		u("cas_badval", k[kCasBadval])
		u("touch_hits", k[kTouchHits])
	}
	st := s.store.Stats()
	dst = proto.AppendStatInt(dst, "active_slabs", int64(active))
	dst = proto.AppendStatInt(dst, "total_malloced", st.TotalMalloced)
	return proto.AppendEnd(dst)
}

// connAddr formats an address as memcached does in `stats conns`.
func connAddr(a net.Addr) string {
	switch a := a.(type) {
	case *net.TCPAddr:
		return "tcp:" + a.String()
	case *net.UnixAddr:
		return "unix:" + a.Name
	case nil:
		return ""
	}
	return a.Network() + ":" + a.String()
}

// appendStatsConns is `stats conns`: the listening sockets, then every
// client connection, keyed by file descriptor.
func (c *conn) appendStatsConns(dst []byte) []byte {
	s := c.s
	now := s.clk.Now()
	line := func(fd int, name, v string) {
		dst = append(dst, "STAT "...)
		dst = strconv.AppendInt(dst, int64(fd), 10)
		dst = append(dst, ':')
		dst = append(dst, name...)
		dst = append(dst, ' ')
		dst = append(dst, v...)
		dst = append(dst, '\r', '\n')
	}
	for _, l := range s.listeners() {
		line(l.fd, "addr", l.addr)
		line(l.fd, "state", "conn_listening")
		line(l.fd, "secs_since_last_cmd", strconv.FormatUint(uint64(now), 10))
	}
	// Read each connection's fields while it is registered: gnet clears
	// a connection's addresses after OnClose, which unregisters it under
	// the same lock.
	type row struct {
		fd                  int
		remote, local, stat string
		idle                uint32
	}
	s.loopsMu.Lock()
	rows := make([]row, 0, len(s.conns))
	for o := range s.conns {
		rows = append(rows, row{o.gc.Fd(), connAddr(o.gc.RemoteAddr()), connAddr(o.gc.LocalAddr()),
			o.stateName(o == c), now - min(now, o.lastActive.Load())})
	}
	s.loopsMu.Unlock()
	sort.Slice(rows, func(i, j int) bool { return rows[i].fd < rows[j].fd })
	for _, r := range rows {
		line(r.fd, "addr", r.remote)
		if r.local != "" {
			line(r.fd, "listen_addr", r.local)
		}
		line(r.fd, "state", r.stat)
		line(r.fd, "secs_since_last_cmd", strconv.FormatUint(uint64(r.idle), 10))
	}
	return proto.AppendEnd(dst)
}

// stateName is the memcached connection state closest to what the
// connection is doing, as another connection can see it.
func (c *conn) stateName(self bool) string {
	switch {
	case self:
		return "conn_parse_cmd"
	case c.watching.Load():
		return "conn_watch"
	case c.paused.Load():
		return "conn_mwrite"
	case c.reading.Load():
		return "conn_nread"
	}
	return "conn_waiting"
}

// appendStatsSizes is `stats sizes`: the item size histogram is not
// kept (memcached keeps it only with -o track_sizes or after
// `stats sizes_enable`), so the answer is memcached's disabled status.
func appendStatsSizes(dst []byte) []byte {
	dst = proto.AppendStat(dst, "sizes_status", "disabled")
	return proto.AppendEnd(dst)
}

// classCount is the number of slab classes, for range checks.
func (s *Server) classCount() int { return s.store.Slabs().NumClasses() }
