package server

import (
	"bytes"
	"errors"
	"slices"
	"strconv"

	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
	"github.com/slabcache/slabcache/slab"
)

// The administrative commands: slabs, lru and lru_crawler with memcached
// 1.6.45's replies, and the cluster commands (config get cluster, cluster
// members) that Discovery answers. watch is in observers.go, stats in
// cmd_stats.go.

// discovery answers `config ...` and `cluster ...` through the cluster's
// Discovery, or ERROR as memcached (which knows neither) does.
func (c *conn) discovery(r *proto.Request) {
	if a := r.Args(); r.Command == proto.CmdConfig && len(a) == 2 && string(a[0]) == "get" && string(a[1]) == "hotkeys" && c.s.hot != nil {
		c.out = c.s.rep.appendConfig(c.out)
		return
	}
	if a := r.Args(); r.Command == proto.CmdCluster && len(a) >= 2 && string(a[0]) == "hotreads" && c.s.hot != nil {
		// The owner of hot keys this node holds copies of asks how
		// often they are read here (replicate.go).
		keys := make([]string, len(a)-1)
		for i, k := range a[1:] {
			keys[i] = string(k)
		}
		for i, rate := range c.s.hot.ReadsPerSec(keys) {
			c.out = proto.AppendStat(c.out, keys[i], strconv.FormatFloat(rate, 'f', 1, 64))
		}
		c.out = proto.AppendEnd(c.out)
		return
	}
	if a := r.Args(); r.Command == proto.CmdCluster && (len(a) == 1 || len(a) == 2) && string(a[0]) == "peer" && c.s.rep.peers.Load() != nil {
		// Another member's pooled connection (peers.Pool) says so: its
		// deletes are not forwarded again (movedOwner), and its copies
		// of hot keys are taken only when it owns the key here (commit).
		c.peer = true
		if len(a) == 2 {
			c.peerAddr = string(a[1])
		}
		c.out = proto.AppendOK(c.out)
		return
	}
	if a := r.Args(); r.Command == proto.CmdCluster && len(a) == 2 && string(a[0]) == "away" && c.s.rep.peers.Load() != nil {
		// A member restarted warm asks what was written here of its
		// keys while it was away (restore.go).
		c.out = c.s.appendAwayReport(c.out, string(a[1]))
		return
	}
	if a := r.Args(); r.Command == proto.CmdCluster && len(a) == 1 && string(a[0]) == "invalidations" {
		c.out = c.s.inv.appendLog(c.out)
		return
	}
	if d := c.s.discovery(); d != nil {
		if out, ok := d.AppendReply(c.out, r.Command, r.Args()); ok {
			c.out = out
			return
		}
	}
	c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
}

// slabs is `slabs reassign <src> <dst>` and `slabs automove ...`; as in
// memcached, sub-commands may be abbreviated.
func (c *conn) slabs(args [][]byte) {
	nt := len(args) + 1
	switch {
	case nt == 4 && prefixOf(args[0], "reassign"):
		if !c.s.set.SlabReassign {
			c.out = proto.AppendError(c.out, proto.ErrReassignDisabled)
			return
		}
		src, ok1 := proto.Tok32(args[1])
		dst, ok2 := proto.Tok32(args[2])
		if !ok1 || !ok2 {
			c.out = proto.AppendError(c.out, proto.ErrBadFormat)
			return
		}
		c.out = appendReassignReply(c.out, c.s.store.Reassign(int(src), int(dst)))
	case nt >= 3 && prefixOf(args[0], "automove"):
		c.slabsAutomove(args)
	default:
		c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
	}
}

// slabsAutomove is `slabs automove <0|1|2>`, `slabs automove ratio <r>`,
// `slabs automove freeratio <r>` and `slabs automove window <secs>`.
func (c *conn) slabsAutomove(args [][]byte) {
	nt := len(args) + 1
	sub := args[1]
	switch {
	case prefixOf(sub, "ratio"), prefixOf(sub, "freeratio"):
		var ratio float64
		ok := nt >= 4
		if ok {
			ratio, ok = proto.TokDouble(args[2])
		}
		if !ok {
			c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
			return
		}
		if prefixOf(sub, "ratio") {
			c.s.setLive(func(l *Settings) { l.SlabAutomoveRatio = ratio })
			c.s.store.SetAutomoveRatio(ratio)
		} else {
			c.s.setLive(func(l *Settings) { l.SlabAutomoveFreeRatio = ratio })
		}
	case prefixOf(sub, "window"):
		var w uint32
		ok := nt >= 4
		if ok {
			w, ok = proto.TokU32(args[2])
		}
		if !ok {
			c.out = proto.AppendError(c.out, proto.ErrBadFormat)
			return
		}
		if w < 3 || w > 1800 {
			c.out = proto.AppendError(c.out, proto.ErrAutomoveWindow)
			return
		}
		c.s.setLive(func(l *Settings) { l.SlabAutomoveWindow = int(w) })
		c.s.store.SetAutomoveWindow(int(w))
	default:
		level, ok := proto.TokU32(sub)
		if !ok {
			c.out = proto.AppendError(c.out, proto.ErrBadFormat)
			return
		}
		if level > 2 {
			c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
			return
		}
		c.s.store.SetAutomove(int(level))
		c.s.setLive(func(l *Settings) { l.SlabAutomove = int(level) })
	}
	c.out = proto.AppendOK(c.out)
}

// appendReassignReply appends the reply to `slabs reassign` for the store's
// answer.
func appendReassignReply(dst []byte, err error) []byte {
	switch {
	case err == nil:
		return proto.AppendOK(dst)
	case errors.Is(err, lru.ErrReassignBadClass):
		return proto.AppendError(dst, proto.ErrReassignBadClass)
	case errors.Is(err, lru.ErrReassignNoSpare):
		return proto.AppendError(dst, proto.ErrReassignNoSpare)
	case errors.Is(err, lru.ErrReassignSame):
		return proto.AppendError(dst, proto.ErrReassignSame)
	case errors.Is(err, lru.ErrReassignBusy):
		return proto.AppendError(dst, proto.ErrReassignBusy)
	case errors.Is(err, lru.ErrReassignDisabled):
		return proto.AppendError(dst, proto.ErrReassignDisabled)
	}
	return proto.AppendServerError(dst, err.Error())
}

// lru is `lru tune <hot%> <warm%> <hot max factor> <warm max factor>`,
// `lru mode <flat|segmented>` and `lru temp_ttl <ttl>` (the last two only
// with the LRU maintainer), sub-commands abbreviated as memcached allows.
func (c *conn) lru(args [][]byte) {
	s := c.s
	nt := len(args) + 1
	var sub []byte
	if nt > 1 {
		sub = args[0]
	} else if c.vv {
		// memcached answers a bare lru twice, as it goes on after the
		// first ERROR (process_lru_command): the client gets the second,
		// -vv prints both.
		c.vReply([]byte("ERROR"), false)
	}
	maint := s.set.LRUMaintainer
	switch {
	case nt >= 6 && prefixOf(sub, "tune"):
		hot, ok1 := proto.TokU32(args[1])
		warm, ok2 := proto.TokU32(args[2])
		hmax, ok3 := proto.TokDouble(args[3])
		wmax, ok4 := proto.TokDouble(args[4])
		switch {
		case !ok1 || !ok2 || !ok3 || !ok4:
			c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
		case uint64(hot)+uint64(warm) > 80:
			c.out = proto.AppendError(c.out, proto.ErrLRUPctSum)
		case wmax <= 0 || hmax <= 0:
			c.out = proto.AppendError(c.out, proto.ErrLRUFactors)
		default:
			s.store.SetLRUTune(int(hot), int(warm), hmax, wmax)
			s.setLive(func(l *Settings) {
				l.HotLRUPct, l.WarmLRUPct, l.HotMaxFactor, l.WarmMaxFactor = int(hot), int(warm), hmax, wmax
			})
			c.out = proto.AppendOK(c.out)
		}
	case nt >= 3 && maint && prefixOf(sub, "mode"):
		switch {
		case prefixOf(args[1], "flat"):
			s.store.SetLRUMode(false)
			s.setLive(func(l *Settings) { l.LRUSegmented = false })
			c.out = proto.AppendOK(c.out)
		case prefixOf(args[1], "segmented"):
			s.store.SetLRUMode(true)
			s.setLive(func(l *Settings) { l.LRUSegmented = true })
			c.out = proto.AppendOK(c.out)
		default:
			c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
		}
	case nt >= 3 && maint && prefixOf(sub, "temp_ttl"):
		ttl, ok := proto.Tok32(args[1])
		if !ok {
			c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
			return
		}
		s.setLive(func(l *Settings) {
			if ttl < 0 {
				s.store.SetTempTTL(0)
				l.TempLRU = false
			} else {
				s.store.SetTempTTL(uint32(ttl))
				l.TempLRU, l.TemporaryTTL = true, int(ttl)
			}
		})
		c.out = proto.AppendOK(c.out)
	default:
		c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
	}
}

// extstore is `extstore <setting> <value>` (and `extstore free_memchunks
// <class> <limit>`, which memcached accepts and ignores): it changes one of
// extstore's tunables, which slabcached keeps for "stats settings" as a
// memcached without ext_path does. Sub-commands are abbreviated as memcached
// allows, tried in its order, and any bad token answers ERROR.
func (c *conn) extstore(args [][]byte) {
	nt := len(args) + 1
	var set func(e *ExtstoreSettings)
	ok := false
	if nt >= 3 {
		sub, v := args[0], args[1]
		n, isU32 := proto.TokU32(v)
		switch {
		case prefixOf(sub, "free_memchunks") && nt > 3:
			_, limitOK := proto.TokU32(args[2])
			ok = isU32 && limitOK && n <= slab.MaxClasses // memcached: < MAX_NUMBER_OF_SLAB_CLASSES
		case prefixOf(sub, "max_frag") && !prefixOf(sub, "max_sleep"):
			f, good := proto.TokDouble(v)
			ok, set = good, func(e *ExtstoreSettings) { e.MaxFrag = f }
		case prefixOf(sub, "drop_unread") && !prefixOf(sub, "drop_under"):
			ok, set = isU32, func(e *ExtstoreSettings) { e.DropUnread = n != 0 }
		default:
			for _, t := range extstoreTunables {
				if prefixOf(sub, t.name) {
					ok, set = isU32, func(e *ExtstoreSettings) { *t.field(e) = n }
					break
				}
			}
		}
	}
	if !ok {
		c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
		return
	}
	if set != nil {
		c.s.setLive(func(l *Settings) { set(&l.Extstore) })
	}
	c.out = proto.AppendOK(c.out)
}

// extstoreTunables are the 32-bit settings of the extstore command in the
// order memcached tries them (an abbreviation takes the first it fits:
// "d" is drop_under, "m" max_sleep).
var extstoreTunables = []struct {
	name  string
	field func(e *ExtstoreSettings) *uint32
}{
	{"item_size", func(e *ExtstoreSettings) *uint32 { return &e.ItemSize }},
	{"item_age", func(e *ExtstoreSettings) *uint32 { return &e.ItemAge }},
	{"low_ttl", func(e *ExtstoreSettings) *uint32 { return &e.LowTTL }},
	{"recache_rate", func(e *ExtstoreSettings) *uint32 { return &e.RecacheRate }},
	{"compact_under", func(e *ExtstoreSettings) *uint32 { return &e.CompactUnder }},
	{"drop_under", func(e *ExtstoreSettings) *uint32 { return &e.DropUnder }},
	{"max_sleep", func(e *ExtstoreSettings) *uint32 { return &e.MaxSleep }},
}

// lruCrawler is `lru_crawler <crawl|metadump|mgdump> <classes>`,
// `lru_crawler <tocrawl|sleep> <n>` and `lru_crawler <enable|disable>`,
// sub-commands abbreviated as memcached allows.
func (c *conn) lruCrawler(r *proto.Request, args [][]byte, pipelined bool) {
	s := c.s
	nt := len(args) + 1
	var sub []byte
	if nt > 1 {
		sub = args[0]
	}
	switch {
	case nt == 3 && prefixOf(sub, "crawl"):
		if !s.store.CrawlerOn() {
			c.out = proto.AppendError(c.out, proto.ErrCrawlerDisabled)
			return
		}
		set, ok := parseClasses(args[1])
		switch {
		case !ok:
			c.out = proto.AppendError(c.out, proto.ErrCrawlerBadClass)
		case s.store.CrawlPassRunning():
			c.out = proto.AppendError(c.out, proto.ErrCrawlerBusy)
		case string(args[1]) == "hash":
			// memcached walks its hash table for dumps only.
			c.out = proto.AppendError(c.out, proto.ErrCrawlerUnknown)
		case set != nil && len(set) == 0:
			c.out = proto.AppendError(c.out, proto.ErrCrawlerNotStarted)
		case !s.store.CrawlClasses(classList(set)):
			c.out = proto.AppendError(c.out, proto.ErrCrawlerBusy)
		default:
			c.out = proto.AppendOK(c.out)
		}
	case nt == 3 && (prefixOf(sub, "metadump") || prefixOf(sub, "mgdump")):
		c.dump(prefixOf(sub, "mgdump") && !prefixOf(sub, "metadump"), args[1], pipelined)
	case nt == 3 && prefixOf(sub, "tocrawl"):
		n, ok := proto.TokU32(args[1])
		if !ok {
			c.out = proto.AppendError(c.out, proto.ErrBadFormat)
			return
		}
		s.setLive(func(l *Settings) { l.LRUCrawlerToCrawl = n })
		s.store.SetCrawlerToCrawl(n)
		c.out = proto.AppendOK(c.out)
	case nt == 3 && prefixOf(sub, "sleep"):
		n, ok := proto.TokU32(args[1])
		if !ok {
			c.out = proto.AppendError(c.out, proto.ErrBadFormat)
			return
		}
		if n > 1000000 {
			c.out = proto.AppendError(c.out, proto.ErrCrawlerSleep)
			return
		}
		s.setLive(func(l *Settings) { l.LRUCrawlerSleep = int(n) })
		c.out = proto.AppendOK(c.out)
	case nt == 2 && prefixOf(sub, "enable"):
		if s.store.CrawlerOn() {
			// memcached cannot start a second crawler thread.
			c.out = proto.AppendError(c.out, proto.ErrCrawlerStart)
			return
		}
		s.store.SetCrawler(true)
		s.setLive(func(l *Settings) { l.LRUCrawler = true })
		c.out = proto.AppendOK(c.out)
	case nt == 2 && prefixOf(sub, "disable"):
		s.store.SetCrawler(false)
		s.setLive(func(l *Settings) { l.LRUCrawler = false })
		c.out = proto.AppendOK(c.out)
	default:
		c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
	}
}

// parseClasses parses the classes of lru_crawler crawl, metadump and
// mgdump as memcached does: "all", "hash", or a comma-separated list of
// class ids from 1 to 63 (empty items skipped; none at all: an empty set,
// which memcached answers NOTSTARTED). nil means every class.
func parseClasses(arg []byte) (map[int]bool, bool) {
	if string(arg) == "all" || string(arg) == "hash" {
		return nil, true
	}
	set := map[int]bool{}
	for _, f := range bytes.Split(arg, []byte(",")) {
		if len(f) == 0 {
			continue
		}
		id, ok := proto.ParseUint32(f)
		if !ok || id < 1 || id >= 64 {
			return nil, false
		}
		set[int(id)] = true
	}
	return set, true
}

// classList returns the classes of set in order (nil for nil: all).
func classList(set map[int]bool) []int {
	if set == nil {
		return nil
	}
	out := make([]int, 0, len(set))
	for cls := range set {
		out = append(out, cls)
	}
	slices.Sort(out)
	return out
}

// dumpBudget is how many chunks one step of a dump examines.
const dumpBudget = 4096

// dumpState is an lru_crawler metadump or mgdump in progress.
type dumpState struct {
	active  bool
	cur     lru.DumpCursor
	classes map[int]bool  // nil: every class
	req     proto.Request // scratch for mgdump's lines
	checked []uint64      // items looked at by class, for crawler_items_checked; nil for a dump by hash table
}

// dump is `lru_crawler metadump` (OK, then key=... exp=... la=... cas=...
// fetch=... cls=... size=... flags=... per item, then END) and `lru_crawler
// mgdump` (OK, then mg <key> per item, then EN). A large dump stops when its output outgrows outputPause and goes on
// where it stopped once the client has read it, like a huge multi-get.
func (c *conn) dump(mg bool, classes []byte, pipelined bool) {
	ds := &c.more.dump
	if !ds.active {
		if !c.s.store.CrawlerOn() {
			c.out = proto.AppendError(c.out, proto.ErrCrawlerDisabled)
			return
		}
		if !c.s.set.DumpEnabled { // -X
			if mg {
				c.out = proto.AppendError(c.out, proto.ErrKeyDumpDisabled)
			} else {
				c.out = proto.AppendError(c.out, proto.ErrDumpDisabled)
			}
			return
		}
		if pipelined {
			if mg {
				c.out = proto.AppendError(c.out, proto.ErrPipelinedMgdump)
			} else {
				c.out = proto.AppendError(c.out, proto.ErrPipelinedMetadump)
			}
			return
		}
		set, ok := parseClasses(classes)
		if !ok {
			c.out = proto.AppendError(c.out, proto.ErrCrawlerBadClass)
			return
		}
		if set != nil && len(set) == 0 {
			c.out = proto.AppendError(c.out, proto.ErrCrawlerNotStarted)
			return
		}
		*ds = dumpState{active: true, classes: set}
		if string(classes) != "hash" {
			ds.checked = make([]uint64, slab.MaxClasses+1)
		}
		c.s.store.NoteDumpStart()
		c.out = proto.AppendOK(c.out) // memcached 1.6.45 acknowledges a dump first
	}
	cas := c.s.set.CASEnabled
	fn := func(d *lru.DumpItem) {
		if ds.classes != nil && !ds.classes[d.Class] {
			return
		}
		if ds.checked != nil {
			ds.checked[d.Class]++
		}
		if mg {
			c.out = appendMgDump(c.out, &ds.req, d.Key, d.KeyBinary)
			return
		}
		c.out = proto.AppendMetadumpLine(c.out, &proto.DumpItem{Key: d.Key, Exptime: d.Exptime,
			LastAccess: d.LastAccess, CAS: d.CAS, Fetched: d.Fetched, Class: d.Class,
			Size: lru.MemcachedItemSize(len(d.Key), d.Flags, d.Len, cas), Flags: d.Flags})
	}
	for !ds.cur.Done() {
		ds.cur = c.s.store.Dump(ds.cur, dumpBudget, fn)
		if ds.checked != nil {
			c.s.store.NoteDumpChecked(ds.checked)
		}
		if len(c.out) > outputPause && !ds.cur.Done() {
			c.more.suspended = true // continue once the client has read this
			return
		}
	}
	*ds = dumpState{}
	if mg {
		c.out = proto.AppendStatus(c.out, proto.StatusEN)
	} else {
		c.out = proto.AppendEnd(c.out)
	}
}

// appendMgDump appends the request "mg <key>" for one item, in base64 with
// the b flag when it was stored with a binary key, as memcached's mgdump
// does, and also when the key is not printable (a binary protocol key),
// which memcached prints as it is. req is scratch.
func appendMgDump(dst []byte, req *proto.Request, key []byte, binary bool) []byte {
	req.Reset()
	req.Command = proto.CmdMetaGet
	req.Key = key
	if binary || !proto.ValidKey(key) {
		req.AddFlag('b')
	}
	return proto.AppendRequest(dst, req)
}

// refreshCerts is refresh_certs: the TLS certificates are loaded again;
// OK, or memcached's message saying what failed.
func (c *conn) refreshCerts() {
	if !c.s.set.TLS {
		c.out = proto.AppendError(c.out, proto.ErrTLSNotEnabled)
		return
	}
	if msg := c.s.RefreshCerts(); msg != "" {
		c.out = append(append(c.out, msg...), "\r\n"...)
		return
	}
	c.out = append(c.out, "OK\r\n"...)
}
