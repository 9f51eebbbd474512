package server

import (
	"errors"
	"strconv"
	"strings"

	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
)

// The administrative commands: slabs, lru and lru_crawler with memcached
// 1.6.18's replies, and the cluster commands (config get cluster, cluster
// members) that Discovery answers. watch is in observers.go, stats in
// cmd_stats.go.

// discovery answers `config ...` and `cluster ...` through the cluster's
// Discovery, or ERROR as memcached (which knows neither) does.
func (c *conn) discovery(r *proto.Request) {
	if d := c.s.discovery(); d != nil {
		if out, ok := d.AppendReply(c.out, r.Command, r.Args()); ok {
			c.out = out
			return
		}
	}
	c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
}

func argString(a [][]byte, i int) string {
	if i < len(a) {
		return string(a[i])
	}
	return ""
}

// slabs is `slabs reassign <src> <dst>` and `slabs automove <0|1|2>`.
func (c *conn) slabs(args [][]byte) {
	switch {
	case len(args) == 3 && string(args[0]) == "reassign":
		src, err1 := strconv.Atoi(string(args[1]))
		dst, err2 := strconv.Atoi(string(args[2]))
		if err1 != nil || err2 != nil {
			c.out = proto.AppendError(c.out, proto.ErrBadFormat)
			return
		}
		c.out = appendReassignReply(c.out, c.s.store.Reassign(src, dst))
	case len(args) == 2 && string(args[0]) == "automove":
		mode, err := strconv.Atoi(string(args[1]))
		if err != nil || mode < 0 || mode > 2 {
			c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
			return
		}
		c.s.store.SetAutomove(mode)
		c.s.setLive(func(l *Settings) { l.SlabAutomove = mode })
		c.out = proto.AppendOK(c.out)
	default:
		c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
	}
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
// `lru mode <flat|segmented>` and `lru temp_ttl <ttl>`.
func (c *conn) lru(args [][]byte) {
	s := c.s
	switch {
	case len(args) == 5 && string(args[0]) == "tune":
		hot, e1 := strconv.Atoi(string(args[1]))
		warm, e2 := strconv.Atoi(string(args[2]))
		hmax, e3 := strconv.ParseFloat(string(args[3]), 64)
		wmax, e4 := strconv.ParseFloat(string(args[4]), 64)
		if e1 != nil || e2 != nil || e3 != nil || e4 != nil {
			c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
			return
		}
		if hot+warm > 80 {
			c.out = proto.AppendError(c.out, proto.ErrLRUPctSum)
			return
		}
		if hot < 1 || warm < 1 || hmax <= 0 || wmax <= 0 || s.store.SetLRUTune(hot, warm, hmax, wmax) != nil {
			c.out = proto.AppendError(c.out, proto.ErrLRUOutOfRange)
			return
		}
		s.setLive(func(l *Settings) {
			l.HotLRUPct, l.WarmLRUPct, l.HotMaxFactor, l.WarmMaxFactor = hot, warm, hmax, wmax
		})
		c.out = proto.AppendOK(c.out)
	case len(args) == 2 && string(args[0]) == "mode":
		switch string(args[1]) {
		case "flat", "segmented":
			seg := string(args[1]) == "segmented"
			s.store.SetLRUMode(seg)
			s.setLive(func(l *Settings) { l.LRUSegmented = seg })
			c.out = proto.AppendOK(c.out)
		default:
			c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
		}
	case len(args) == 2 && string(args[0]) == "temp_ttl":
		ttl, err := strconv.Atoi(string(args[1]))
		if err != nil {
			c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
			return
		}
		s.setLive(func(l *Settings) {
			if ttl < 0 {
				s.store.SetTempTTL(0)
				l.TempLRU = false
			} else {
				s.store.SetTempTTL(uint32(ttl))
				l.TempLRU, l.TemporaryTTL = true, ttl
			}
		})
		c.out = proto.AppendOK(c.out)
	default:
		c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
	}
}

// lruCrawler is `lru_crawler <enable|disable|sleep N|tocrawl N|crawl
// CLASSES|metadump CLASSES|mgdump CLASSES>`.
func (c *conn) lruCrawler(r *proto.Request, args [][]byte) {
	s := c.s
	sub := argString(args, 0)
	switch {
	case sub == "enable" && len(args) == 1:
		s.store.SetCrawler(true)
		s.setLive(func(l *Settings) { l.LRUCrawler = true })
		c.out = proto.AppendOK(c.out)
	case sub == "disable" && len(args) == 1:
		s.store.SetCrawler(false)
		s.setLive(func(l *Settings) { l.LRUCrawler = false })
		c.out = proto.AppendOK(c.out)
	case sub == "sleep" && len(args) == 2:
		n, err := strconv.Atoi(string(args[1]))
		if err != nil || n < 0 || n > 1000000 {
			c.out = proto.AppendError(c.out, proto.ErrCrawlerBadArgument)
			return
		}
		s.setLive(func(l *Settings) { l.LRUCrawlerSleep = n })
		c.out = proto.AppendOK(c.out)
	case sub == "tocrawl" && len(args) == 2:
		n, err := strconv.ParseUint(string(args[1]), 10, 32)
		if err != nil {
			c.out = proto.AppendError(c.out, proto.ErrCrawlerBadArgument)
			return
		}
		s.setLive(func(l *Settings) { l.LRUCrawlerToCrawl = uint32(n) })
		c.out = proto.AppendOK(c.out)
	case sub == "crawl" && len(args) == 2:
		if _, ok := c.parseClasses(string(args[1])); !ok {
			c.out = proto.AppendError(c.out, proto.ErrCrawlerBadClass)
			return
		}
		if !s.store.CrawlerOn() {
			c.out = proto.AppendError(c.out, proto.ErrCrawlerDisabled)
			return
		}
		if !s.store.CrawlPass() {
			c.out = proto.AppendError(c.out, proto.ErrCrawlerBusy)
			return
		}
		c.out = proto.AppendOK(c.out)
	case (sub == "metadump" || sub == "mgdump") && len(args) == 2:
		c.dump(r, sub == "mgdump", string(args[1]))
	default:
		c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
	}
}

// parseClasses parses "all", "hash" or a comma-separated list of class ids
// into a set (nil: every class).
func (c *conn) parseClasses(arg string) (map[int]bool, bool) {
	if arg == "all" || arg == "hash" {
		return nil, true
	}
	set := map[int]bool{}
	n := c.s.classCount()
	for _, f := range strings.Split(arg, ",") {
		id, err := strconv.Atoi(f)
		if err != nil || id < 1 || id > n {
			return nil, false
		}
		set[id] = true
	}
	return set, true
}

// dumpBudget is how many chunks one step of a dump examines.
const dumpBudget = 4096

// dumpState is an lru_crawler metadump or mgdump in progress.
type dumpState struct {
	active  bool
	cur     lru.DumpCursor
	classes map[int]bool  // nil: every class
	req     proto.Request // scratch for mgdump's lines
}

// dump is `lru_crawler metadump` (key=... exp=... la=... cas=... fetch=...
// cls=... size=... per item, then END) and `lru_crawler mgdump` (mg <key>
// per item, then EN; memcached 1.6.18 does not have it, later 1.6 releases
// do). A large dump stops when its output outgrows outputPause and goes on
// where it stopped once the client has read it, like a huge multi-get.
func (c *conn) dump(r *proto.Request, mg bool, classes string) {
	ds := &c.more.dump
	if !ds.active {
		if !c.s.set.DumpEnabled { // -X
			c.out = proto.AppendError(c.out, proto.ErrDumpDisabled)
			return
		}
		if !c.s.store.CrawlerOn() {
			c.out = proto.AppendError(c.out, proto.ErrCrawlerDisabled)
			return
		}
		set, ok := c.parseClasses(classes)
		if !ok {
			c.out = proto.AppendError(c.out, proto.ErrCrawlerBadClass)
			return
		}
		*ds = dumpState{active: true, classes: set}
	}
	cas := c.s.set.CASEnabled
	fn := func(d *lru.DumpItem) {
		if ds.classes != nil && !ds.classes[d.Class] {
			return
		}
		if mg {
			c.out = appendMgDump(c.out, &ds.req, d.Key)
			return
		}
		c.out = proto.AppendMetadumpLine(c.out, &proto.DumpItem{Key: d.Key, Exptime: d.Exptime,
			LastAccess: d.LastAccess, CAS: d.CAS, Fetched: d.Fetched, Class: d.Class,
			Size: lru.MemcachedItemSize(len(d.Key), d.Flags, d.Len, cas)})
	}
	for !ds.cur.Done() {
		ds.cur = c.s.store.Dump(ds.cur, dumpBudget, fn)
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
// the b flag when the key is not printable, as memcached's mgdump does. req
// is scratch.
func appendMgDump(dst []byte, req *proto.Request, key []byte) []byte {
	req.Reset()
	req.Command = proto.CmdMetaGet
	req.Key = key
	if !proto.ValidKey(key) {
		req.AddFlag('b')
	}
	return proto.AppendRequest(dst, req)
}
