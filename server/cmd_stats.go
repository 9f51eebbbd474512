package server

import (
	"net"
	"os"
	"sort"
	"strconv"
	"syscall"

	"github.com/slabcache/slabcache/internal/clock"
	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
)

// `stats` in every form memcached 1.6.45 knows, with its field names and
// order: the general form, settings, reset, items, slabs, conns, sizes,
// cachedump and detail (observers.go). None of them is on a request's hot
// path.

// stats answers `stats` and its sub-commands, abbreviated as memcached
// allows (it compares "reset", "detail", "settings", "cachedump", "conns"
// and "extstore" over the token's length, in that order; "items", "slabs"
// and "sizes" whole).
func (c *conn) stats(r *proto.Request) {
	// memcached's counters include the commands before this one in the
	// same read (and stats reset clears them): publish ours first.
	c.flushCounters()
	args := r.Args()
	if len(args) == 0 {
		c.out = c.s.appendGeneralStats(c.out)
		c.out = proto.AppendEnd(c.out)
		return
	}
	sub := args[0]
	switch {
	case prefixOf(sub, "reset"):
		c.s.resetCounters()
		c.out = proto.AppendStatus(c.out, proto.StatusReset)
	case prefixOf(sub, "detail"):
		if !c.s.set.DumpEnabled {
			c.out = proto.AppendError(c.out, proto.ErrDetailDisabled)
			return
		}
		if len(args) < 2 {
			c.out = proto.AppendError(c.out, proto.ErrDetailUsage)
			return
		}
		c.statsDetail(args[1])
	case prefixOf(sub, "settings"):
		for _, st := range c.s.liveSettings().StatsSettings(c.s.flushedAt.Load()) {
			c.out = proto.AppendStat(c.out, st.Name, st.Value)
		}
		c.out = proto.AppendEnd(c.out)
	case prefixOf(sub, "cachedump"):
		c.cachedump(args)
	case prefixOf(sub, "conns"):
		c.out = c.appendStatsConns(c.out)
	case prefixOf(sub, "extstore"):
		// extstore's pages: a memcached without ext_path has none.
		c.out = proto.AppendEnd(c.out)
	case string(sub) == "items":
		c.out = c.s.appendStatsItems(c.out)
	case string(sub) == "slabs":
		c.out = c.s.appendStatsSlabs(c.out)
	case string(sub) == "sizes":
		c.out = c.s.appendStatsSizes(c.out)
	case string(sub) == "hotkeys":
		c.out = c.s.appendStatsHotKeys(c.out)
	case string(sub) == "warmup":
		c.out = c.s.appendStatsWarmup(c.out)
	default:
		c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
	}
}

// cachedump is `stats cachedump <class> <limit>`: up to limit items (0:
// all) of the class's HOT segment, as memcached lists them, then END.
func (c *conn) cachedump(args [][]byte) {
	if !c.s.set.DumpEnabled {
		c.out = proto.AppendError(c.out, proto.ErrCachedumpDisabled)
		return
	}
	if len(args) < 3 {
		c.out = proto.AppendError(c.out, proto.ErrBadCommandLine)
		return
	}
	id, ok1 := proto.TokU32(args[1])
	limit, ok2 := proto.TokU32(args[2])
	if !ok1 || !ok2 {
		c.out = proto.AppendError(c.out, proto.ErrBadFormat)
		return
	}
	if id >= 64 {
		c.out = proto.AppendError(c.out, proto.ErrIllegalSlabID)
		return
	}
	// memcached's reply holds at most 2 MiB, "END\r\n\0" included.
	const maxDump = 2<<20 - 6
	n, start := uint32(0), len(c.out)
	c.s.store.ColdItems(int(id), func(d *lru.DumpItem) bool {
		if limit != 0 && n >= limit {
			return false
		}
		if d.KeyBinary {
			return true // as memcached: a binary key is not printed
		}
		exp := int64(0)
		if d.Exptime >= 0 {
			exp = d.Exptime
		}
		at := len(c.out)
		c.out = proto.AppendCachedumpLine(c.out, d.Key, d.Len, exp)
		if len(c.out)-start > maxDump {
			c.out = c.out[:at]
			return false
		}
		n++
		return true
	})
	c.out = proto.AppendEnd(c.out)
}

// appendGeneralStats appends the lines of `stats` in memcached 1.6.45's
// order. Fields without a meaning in slabcached (libevent, napi ids, auth)
// are printed with the values memcached prints when the feature is off.
func (s *Server) appendGeneralStats(dst []byte) []byte {
	t := s.totals()
	ls := s.store.Stats()
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	u := func(name string, v uint64) { dst = proto.AppendStatUint(dst, name, v) }
	i := func(name string, v int64) { dst = proto.AppendStatInt(dst, name, v) }
	b := func(name string, v bool) {
		if v {
			u(name, 1)
		} else {
			u(name, 0)
		}
	}
	i("pid", int64(os.Getpid()))
	i("uptime", int64(clock.Uptime(s.clk)))
	i("time", s.clk.Epoch()+int64(s.clk.Now()))
	dst = proto.AppendStat(dst, "version", Version)
	dst = proto.AppendStat(dst, "libevent", "gnet-v2.10.0")
	i("pointer_size", 64)
	dst = proto.AppendStatMicros(dst, "rusage_user", uint64(ru.Utime.Sec)*1e6+uint64(ru.Utime.Usec))
	dst = proto.AppendStatMicros(dst, "rusage_system", uint64(ru.Stime.Sec)*1e6+uint64(ru.Stime.Usec))
	i("max_connections", int64(s.set.MaxConns))
	// memcached counts its listening sockets as connections, and prints
	// one fewer than it counts.
	i("curr_connections", s.counts.curr.Load()+max(s.counts.listening.Load()-1, 0))
	total := s.counts.total.Load()
	if s.counts.listenInTotal.Load() {
		total += uint64(s.counts.listening.Load())
	}
	u("total_connections", total)
	if s.set.MaxConnsFast {
		u("rejected_connections", s.counts.rejected.Load()) // as memcached: only then
	}
	i("connection_structures", s.counts.listening.Load()+int64(s.counts.fds.count()))
	u("response_obj_oom", s.counts.respOOM.Load())
	// slabcached has no response objects or read-buffer pool: one reply
	// buffer and gnet's input buffer per connection.
	i("response_obj_count", s.counts.curr.Load())
	u("response_obj_bytes", 0)
	i("read_buf_count", s.counts.curr.Load())
	u("read_buf_bytes", 0)
	u("read_buf_bytes_free", 0)
	// Connections closed because they sent requests without reading the
	// replies past the input cap.
	u("read_buf_oom", s.counts.outputClosed.Load())
	u("reserved_fds", 0)
	u("cmd_get", t[cCmdGet])
	u("cmd_set", t[cCmdSet])
	u("cmd_flush", t[cCmdFlush])
	u("cmd_touch", t[cCmdTouch])
	u("cmd_meta", t[cCmdMeta])
	u("get_hits", t[cGetHits])
	u("get_misses", t[cGetMisses])
	u("get_expired", ls.GetExpired)
	u("get_flushed", ls.GetFlushed)
	u("delete_misses", t[cDeleteMisses])
	u("delete_hits", t[cDeleteHits])
	u("incr_misses", t[cIncrMisses])
	u("incr_hits", t[cIncrHits])
	u("decr_misses", t[cDecrMisses])
	u("decr_hits", t[cDecrHits])
	u("cas_misses", t[cCasMisses])
	u("cas_hits", t[cCasHits])
	u("cas_badval", t[cCasBadval])
	u("touch_hits", t[cTouchHits])
	u("touch_misses", t[cTouchMisses])
	u("store_too_large", t[cStoreTooLarge])
	u("store_no_memory", t[cStoreNoMemory])
	u("auth_cmds", t[cAuthCmds])
	u("auth_errors", t[cAuthErrors])
	if s.set.IdleTimeout > 0 {
		u("idle_kicks", s.counts.idleKicks.Load())
	}
	u("bytes_read", t[cBytesRead])
	u("bytes_written", t[cBytesWritten])
	i("limit_maxbytes", ls.LimitMaxbytes)
	accepting, offNum, offMicros := s.net.listenState()
	b("accepting_conns", accepting)
	u("listen_disabled_num", offNum)
	u("time_in_listen_disabled_us", offMicros)
	i("threads", int64(s.set.Threads))
	u("conn_yields", s.counts.connYields.Load())
	i("hash_power_level", int64(ls.HashPowerLevel))
	i("hash_bytes", ls.HashBytes)
	b("hash_is_expanding", ls.HashExpanding > 0)
	if s.set.SlabReassign {
		u("slab_reassign_rescues", ls.SlabReassignRescues)
		u("slab_reassign_chunk_rescues", ls.SlabReassignChunkRescues)
		u("slab_reassign_inline_reclaim", ls.SlabReassignInlineReclaim)
		u("slab_reassign_busy_items", ls.SlabReassignBusyItems)
		u("slab_reassign_busy_deletes", ls.SlabReassignBusyDeletes)
		// A page move here never waits for memory (items it cannot
		// rescue are evicted, slab_reassign_evictions_nomem in metrics).
		u("slab_reassign_busy_nomem", 0)
		dst = proto.AppendStat(dst, "slab_reassign_last_busy_status", "none")
		b("slab_reassign_running", ls.SlabReassignRunning)
		u("slabs_moved", ls.SlabsMoved)
	}
	if s.liveSettings().LRUCrawler { // lru_crawler enable|disable changes it
		b("lru_crawler_running", s.store.CrawlPassRunning())
		u("lru_crawler_starts", ls.LRUCrawlerStarts)
	}
	if s.set.LRUMaintainer {
		u("lru_maintainer_juggles", ls.MaintainerJuggles)
	}
	u("malloc_fails", ls.MallocFails)
	u("log_worker_dropped", 0)
	u("log_worker_written", 0)
	u("log_watcher_skipped", s.obs.skippedTotal.Load())
	u("log_watcher_sent", s.obs.sent.Load())
	u("log_watchers", uint64(s.obs.watcherCount()))
	if s.set.TLS {
		if s.set.SSLSessionCache {
			u("ssl_new_sessions", s.tls.newSessions.Load())
		}
		// memcached counts here only a handshake that failed in bytes
		// already waiting when it accepted the connection, a race with
		// the client's first write; slabcached counts every TLS failure
		// as ssl_proto_errors, as memcached does otherwise (tlsConn.fail).
		u("ssl_handshake_errors", 0)
		u("ssl_proto_errors", s.tls.protoErrors.Load())
		u("time_since_server_cert_refresh", uint64(s.clk.Now()-s.tls.refreshed.Load()))
	}
	u("unexpected_napi_ids", s.napi.unexpected.Load())
	u("round_robin_fallback", s.napi.fallback.Load())
	u("bytes", ls.Bytes)
	u("curr_items", ls.CurrItems)
	u("total_items", ls.TotalItems)
	i("slab_global_page_pool", int64(ls.SlabGlobalPagePool))
	u("expired_unfetched", ls.ExpiredUnfetched)
	u("evicted_unfetched", ls.EvictedUnfetched)
	// As memcached: the segmented LRU's counters only while its
	// maintainer runs (whatever `lru mode` says).
	if s.set.LRUMaintainer {
		u("evicted_active", ls.EvictedActive)
	}
	u("evictions", ls.Evictions)
	u("reclaimed", ls.Reclaimed)
	u("crawler_reclaimed", ls.CrawlerReclaimed)
	u("crawler_items_checked", ls.CrawlerChecked)
	u("lrutail_reflocked", 0)
	if s.set.LRUMaintainer {
		u("moves_to_cold", ls.MovesToCold)
		u("moves_to_warm", ls.MovesToWarm)
		u("moves_within_lru", ls.MovesWithinLRU)
		u("direct_reclaims", ls.DirectReclaims)
		u("lru_bumps_dropped", 0)
	}
	// slabcache's namespace flushes and relayed invalidations
	// (docs/invalidation.md), once there has been one: until then `stats`
	// reads as memcached's.
	ps := s.store.PrefixStats()
	members, relays := s.inv.backlog()
	relayed := s.inv.relayed.Load() + s.inv.forwarded.Load() + s.inv.failures.Load() + s.inv.caughtUp.Load() + uint64(relays)
	if t[cCmdFlushPrefix] != 0 || ps.Pending != 0 || ps.Reclaimed != 0 {
		u("cmd_flush_prefix", t[cCmdFlushPrefix])
		i("flush_prefix_pending", int64(ps.Pending))
		u("flush_prefix_reclaimed", ps.Reclaimed)
	}
	if relayed != 0 {
		u("invalidation_relays_received", s.inv.relayed.Load())
		u("invalidation_relay_duplicates", s.inv.dups.Load())
		u("invalidation_relay_gaps", s.inv.gaps.Load())
		u("invalidation_caught_up", s.inv.caughtUp.Load())
		u("invalidation_relays_sent", s.inv.forwarded.Load())
		u("invalidation_relay_failures", s.inv.failures.Load())
		i("invalidation_backlog_members", int64(members))
		i("invalidation_backlog", int64(relays))
	}
	return dst
}

// appendStatsItems is `stats items`: one block per class holding items.
func (s *Server) appendStatsItems(dst []byte) []byte {
	cls := s.store.ClassStats(nil)
	ct := s.classTotals()
	temp := s.liveSettings().TempLRU
	// The segment counters only while the maintainer runs, as memcached.
	maint := s.set.LRUMaintainer
	for i := range cls {
		cs := &cls[i]
		if cs.Number == 0 {
			continue
		}
		k := ct[cs.Class]
		u := func(name string, v uint64) { dst = proto.AppendStatClass(dst, "items:", cs.Class, name, v) }
		u("number", cs.Number)
		if maint {
			u("number_hot", cs.NumberHot)
			u("number_warm", cs.NumberWarm)
			u("number_cold", cs.NumberCold)
			if temp {
				u("number_temp", cs.NumberTemp)
			}
			u("age_hot", uint64(cs.AgeHot))
			u("age_warm", uint64(cs.AgeWarm))
		}
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
		if maint {
			u("evicted_active", cs.EvictedActive)
		}
		u("crawler_reclaimed", cs.CrawlerReclaimed)
		u("crawler_items_checked", cs.CrawlerChecked)
		u("lrutail_reflocked", cs.LRUTailReflocked)
		if maint {
			u("moves_to_cold", cs.MovesToCold)
			u("moves_to_warm", cs.MovesToWarm)
			u("moves_within_lru", cs.MovesWithinLRU)
			u("direct_reclaims", cs.DirectReclaims)
			u("hits_to_hot", k[kHitsToHot])
			u("hits_to_warm", k[kHitsToWarm])
			u("hits_to_cold", k[kHitsToCold])
			u("hits_to_temp", k[kHitsToTemp])
		}
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
		u := func(name string, v uint64) { dst = proto.AppendStatClass(dst, "", cs.Class, name, v) }
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
	secs := func(since uint32) string { return strconv.FormatUint(uint64(now-min(now, since)), 10) }
	// All in the order of their descriptors, as memcached walks its table
	// of connections.
	type row struct {
		fd     int
		fields [][2]string
	}
	var rows []row
	for _, l := range s.net.boundListeners() {
		rows = append(rows, row{l.fd, [][2]string{
			{"addr", l.statsAddr()}, {"state", "conn_listening"}, {"secs_since_last_cmd", secs(s.net.bootAt.Load())}}})
	}
	// UDP sockets, once per thread serving each, as memcached lists its
	// per-thread UDP connections.
	for _, sock := range s.net.udp.boundSockets() {
		for _, fd := range sock.threadFDs {
			rows = append(rows, row{fd, [][2]string{
				{"UDP", "UDP"}, {"addr", "udp:" + sock.addr}, {"state", "conn_read"}, {"secs_since_last_cmd", secs(s.net.udp.last.Load())}}})
		}
	}
	// Read each connection's fields while it is registered: gnet clears
	// a connection's addresses after OnClose, which unregisters it under
	// the same lock.
	s.net.eachConn(func(o *conn) {
		remote := connAddr(o.gc.RemoteAddr())
		if _, unixConn := o.gc.RemoteAddr().(*net.UnixAddr); unixConn {
			// memcached keeps no peer address for a unix socket's
			// clients and prints the empty one's family.
			remote = "?:<AF 0>"
		}
		f := [][2]string{{"addr", remote}}
		if local := connAddr(o.gc.LocalAddr()); local != "" {
			f = append(f, [2]string{"listen_addr", local})
		}
		f = append(f, [2]string{"state", o.stateName(o == c)}, [2]string{"secs_since_last_cmd", secs(o.lastActive.Load())})
		rows = append(rows, row{o.gc.Fd(), f})
	})
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].fd < rows[j].fd })
	for _, r := range rows {
		for _, f := range r.fields {
			dst = proto.AppendStatID(dst, r.fd, f[0], f[1])
		}
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
	switch c.between.Load() {
	case waitFirst:
		return "conn_new_cmd"
	case waitSwallow:
		return "conn_swallow"
	}
	return "conn_read"
}

// appendStatsSizes is `stats sizes`: with -o track_sizes, the linked
// items by memcached's size of them (its header included, so the sizes
// are memcached's for the same data), one line per nonempty 32-byte
// bucket; without it memcached's disabled status.
func (s *Server) appendStatsSizes(dst []byte) []byte {
	if !s.store.SizeHistogram(func(size int, count uint32) {
		dst = proto.AppendStatUint(dst, strconv.Itoa(size), uint64(count))
	}) {
		dst = proto.AppendStat(dst, "sizes_status", "disabled")
	}
	return proto.AppendEnd(dst)
}
