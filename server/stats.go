package server

import (
	"os"
	"syscall"

	"github.com/slabcache/slabcache/proto"
)

// execStats answers `stats` and its sub-commands.
func (c *conn) execStats(r *proto.Request) {
	args := r.Args()
	if len(args) == 0 {
		c.out = c.s.appendGeneralStats(c.out)
		c.out = proto.AppendEnd(c.out)
		return
	}
	switch string(args[0]) {
	case "settings":
		for _, st := range c.s.liveSettings().StatsSettings(c.s.oldestLive.Load()) {
			c.out = proto.AppendStat(c.out, st.Name, st.Value)
		}
		c.out = proto.AppendEnd(c.out)
	case "reset":
		c.s.resetCounters()
		c.out = proto.AppendLine(c.out, "RESET")
	case "items":
		c.out = c.s.appendStatsItems(c.out)
	case "slabs":
		c.out = c.s.appendStatsSlabs(c.out)
	case "conns":
		c.out = c.appendStatsConns(c.out)
	case "sizes":
		c.out = appendStatsSizes(c.out)
	case "sizes_disable":
		// memcached answers these two with the status line alone (no END).
		c.out = proto.AppendStat(c.out, "sizes_status", "disabled")
	case "sizes_enable":
		// The histogram is not kept: memcached's error form.
		c.out = proto.AppendStat(c.out, "sizes_status", "error")
		c.out = proto.AppendStat(c.out, "sizes_error", "not_supported")
	case "detail":
		c.statsDetail(r)
	default:
		c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
	}
}

// liveSettings returns the settings with the values changed at run time.
func (s *Server) liveSettings() *Settings {
	s.liveMu.Lock()
	set := s.live
	s.liveMu.Unlock()
	set.Verbosity = int(s.verbosity.Load())
	return &set
}

// appendGeneralStats appends the lines of `stats` in memcached 1.6.18's
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
	i("uptime", int64(s.clk.Now()))
	i("time", s.clk.Epoch()+int64(s.clk.Now()))
	dst = proto.AppendStat(dst, "version", Version)
	dst = proto.AppendStat(dst, "libevent", "gnet-v2.10.0")
	i("pointer_size", 64)
	dst = proto.AppendStatMicros(dst, "rusage_user", uint64(ru.Utime.Sec)*1e6+uint64(ru.Utime.Usec))
	dst = proto.AppendStatMicros(dst, "rusage_system", uint64(ru.Stime.Sec)*1e6+uint64(ru.Stime.Usec))
	i("max_connections", int64(s.set.MaxConns))
	i("curr_connections", s.currConns.Load())
	u("total_connections", s.totalConns.Load())
	u("rejected_connections", s.rejectedConns.Load())
	i("connection_structures", s.currConns.Load())
	u("response_obj_oom", 0)
	// slabcached has no response objects or read-buffer pool: one reply
	// buffer and gnet's input buffer per connection.
	i("response_obj_count", s.currConns.Load())
	u("response_obj_bytes", 0)
	i("read_buf_count", s.currConns.Load())
	u("read_buf_bytes", 0)
	u("read_buf_bytes_free", 0)
	// Connections closed because they sent requests without reading the
	// replies past the input cap.
	u("read_buf_oom", s.outputClosed.Load())
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
	u("auth_cmds", 0)
	u("auth_errors", 0)
	u("bytes_read", t[cBytesRead])
	u("bytes_written", t[cBytesWritten])
	i("limit_maxbytes", ls.LimitMaxbytes)
	b("accepting_conns", !s.stopping.Load())
	u("listen_disabled_num", 0)
	u("time_in_listen_disabled_us", 0)
	i("threads", int64(s.set.Threads))
	u("conn_yields", 0)
	i("hash_power_level", int64(ls.HashPowerLevel))
	i("hash_bytes", ls.HashBytes)
	b("hash_is_expanding", ls.HashExpanding > 0)
	u("slab_reassign_rescues", ls.SlabReassignRescues)
	u("slab_reassign_chunk_rescues", ls.SlabReassignChunkRescues)
	u("slab_reassign_evictions_nomem", ls.SlabReassignEvictionsNomem)
	u("slab_reassign_inline_reclaim", ls.SlabReassignInlineReclaim)
	u("slab_reassign_busy_items", ls.SlabReassignBusyItems)
	u("slab_reassign_busy_deletes", ls.SlabReassignBusyDeletes)
	b("slab_reassign_running", ls.SlabReassignRunning)
	u("slabs_moved", ls.SlabsMoved)
	if s.set.LRUCrawler {
		u("lru_crawler_running", 0)
		u("lru_crawler_starts", ls.LRUCrawlerStarts)
	}
	if s.set.LRUMaintainer {
		u("lru_maintainer_juggles", ls.MaintainerJuggles)
	}
	u("malloc_fails", ls.MallocFails)
	u("log_worker_dropped", 0)
	u("log_worker_written", 0)
	u("log_watcher_skipped", 0)
	u("log_watcher_sent", 0)
	u("log_watchers", 0)
	u("unexpected_napi_ids", 0)
	u("round_robin_fallback", 0)
	u("bytes", ls.Bytes)
	u("curr_items", ls.CurrItems)
	u("total_items", ls.TotalItems)
	i("slab_global_page_pool", int64(ls.SlabGlobalPagePool))
	u("expired_unfetched", ls.ExpiredUnfetched)
	u("evicted_unfetched", ls.EvictedUnfetched)
	if s.set.LRUSegmented {
		u("evicted_active", ls.EvictedActive)
	}
	u("evictions", ls.Evictions)
	u("reclaimed", ls.Reclaimed)
	u("crawler_reclaimed", ls.CrawlerReclaimed)
	u("crawler_items_checked", ls.CrawlerChecked)
	u("lrutail_reflocked", 0)
	if s.set.LRUSegmented {
		u("moves_to_cold", ls.MovesToCold)
		u("moves_to_warm", ls.MovesToWarm)
		u("moves_within_lru", ls.MovesWithinLRU)
		u("direct_reclaims", ls.DirectReclaims)
		u("lru_bumps_dropped", 0)
	}
	return dst
}
