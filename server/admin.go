package server

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
)

// The administrative commands: slabs, lru, lru_crawler and watch, with
// memcached 1.6.18's replies.

func (c *conn) execAdmin(r *proto.Request) {
	args := r.Args()
	switch r.Command {
	case proto.CmdSlabs:
		c.slabsCmd(args)
	case proto.CmdLru:
		c.lruCmd(args)
	case proto.CmdLruCrawler:
		c.lruCrawlerCmd(r, args)
	case proto.CmdWatch:
		c.startWatch(r)
	}
}

func argString(a [][]byte, i int) string {
	if i < len(a) {
		return string(a[i])
	}
	return ""
}

// slabsCmd is `slabs reassign <src> <dst>` and `slabs automove <0|1|2>`.
func (c *conn) slabsCmd(args [][]byte) {
	switch {
	case len(args) == 3 && string(args[0]) == "reassign":
		src, err1 := strconv.Atoi(string(args[1]))
		dst, err2 := strconv.Atoi(string(args[2]))
		if err1 != nil || err2 != nil {
			c.out = append(c.out, "CLIENT_ERROR bad command line format\r\n"...)
			return
		}
		c.out = append(c.out, reassignReply(c.s.store.Reassign(src, dst))...)
	case len(args) == 2 && string(args[0]) == "automove":
		mode, err := strconv.Atoi(string(args[1]))
		if err != nil || mode < 0 || mode > 2 {
			c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
			return
		}
		c.s.store.SetAutomove(mode)
		c.s.liveMu.Lock()
		c.s.live.SlabAutomove = mode
		c.s.liveMu.Unlock()
		c.out = proto.AppendOK(c.out)
	default:
		c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
	}
}

func reassignReply(err error) string {
	switch {
	case err == nil:
		return "OK\r\n"
	case errors.Is(err, lru.ErrReassignBadClass):
		return "BADCLASS invalid src or dst class id\r\n"
	case errors.Is(err, lru.ErrReassignNoSpare):
		return "NOSPARE source class has no spare pages\r\n"
	case errors.Is(err, lru.ErrReassignSame):
		return "SAME src and dst class are identical\r\n"
	case errors.Is(err, lru.ErrReassignBusy):
		return "BUSY currently processing reassign request\r\n"
	case errors.Is(err, lru.ErrReassignDisabled):
		return "CLIENT_ERROR slab reassignment disabled\r\n"
	}
	return "SERVER_ERROR " + err.Error() + "\r\n"
}

// lruCmd is `lru tune <hot%> <warm%> <hot max factor> <warm max factor>`,
// `lru mode <flat|segmented>` and `lru temp_ttl <ttl>`.
func (c *conn) lruCmd(args [][]byte) {
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
			c.out = append(c.out, "ERROR hot and warm pcts must not exceed 80\r\n"...)
			return
		}
		if hot < 1 || warm < 1 || hmax <= 0 || wmax <= 0 {
			c.out = append(c.out, "ERROR hot/warm pct or factor out of range\r\n"...)
			return
		}
		if err := s.store.SetLRUTune(hot, warm, hmax, wmax); err != nil {
			c.out = append(c.out, "ERROR hot/warm pct or factor out of range\r\n"...)
			return
		}
		s.liveMu.Lock()
		s.live.HotLRUPct, s.live.WarmLRUPct, s.live.HotMaxFactor, s.live.WarmMaxFactor = hot, warm, hmax, wmax
		s.liveMu.Unlock()
		c.out = proto.AppendOK(c.out)
	case len(args) == 2 && string(args[0]) == "mode":
		switch string(args[1]) {
		case "flat", "segmented":
			seg := string(args[1]) == "segmented"
			s.store.SetLRUMode(seg)
			s.liveMu.Lock()
			s.live.LRUSegmented = seg
			s.liveMu.Unlock()
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
		s.liveMu.Lock()
		if ttl < 0 {
			s.store.SetTempTTL(0)
			s.live.TempLRU = false
		} else {
			s.store.SetTempTTL(uint32(ttl))
			s.live.TempLRU, s.live.TemporaryTTL = true, ttl
		}
		s.liveMu.Unlock()
		c.out = proto.AppendOK(c.out)
	default:
		c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
	}
}

// lruCrawlerCmd is `lru_crawler <enable|disable|sleep N|tocrawl N|crawl
// CLASSES|metadump CLASSES|mgdump CLASSES>`.
func (c *conn) lruCrawlerCmd(r *proto.Request, args [][]byte) {
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
			c.out = append(c.out, "CLIENT_ERROR Bad argument\r\n"...)
			return
		}
		s.setLive(func(l *Settings) { l.LRUCrawlerSleep = n })
		c.out = proto.AppendOK(c.out)
	case sub == "tocrawl" && len(args) == 2:
		n, err := strconv.ParseUint(string(args[1]), 10, 32)
		if err != nil {
			c.out = append(c.out, "CLIENT_ERROR Bad argument\r\n"...)
			return
		}
		s.setLive(func(l *Settings) { l.LRUCrawlerToCrawl = uint32(n) })
		c.out = proto.AppendOK(c.out)
	case sub == "crawl" && len(args) == 2:
		if _, ok := c.parseClasses(string(args[1])); !ok {
			c.out = append(c.out, "BADCLASS invalid class id\r\n"...)
			return
		}
		if !s.store.CrawlerOn() {
			c.out = append(c.out, "CLIENT_ERROR lru crawler disabled\r\n"...)
			return
		}
		s.crawlNow()
		c.out = proto.AppendOK(c.out)
	case (sub == "metadump" || sub == "mgdump") && len(args) == 2:
		c.dump(r, sub == "mgdump", string(args[1]))
	default:
		c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
	}
}

// setLive changes the run-time settings `stats settings` reports.
func (s *Server) setLive(f func(*Settings)) {
	s.liveMu.Lock()
	f(&s.live)
	s.liveMu.Unlock()
}

// crawlNow starts one full crawler pass in the background (lru_crawler
// crawl), unless one is running.
func (s *Server) crawlNow() {
	if !s.crawling.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer s.crawling.Store(false)
		st := s.store.Stats()
		for i := 0; i < 1<<20 && s.store.Stats().LRUCrawlerStarts == st.LRUCrawlerStarts; i++ {
			s.store.CrawlOnce(4096)
		}
	}()
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

// dump is `lru_crawler metadump` (key=... exp=... la=... cas=... fetch=...
// cls=... size=... per item, then END) and `lru_crawler mgdump` (mg <key>
// per item, then EN; memcached 1.6.18 does not have it, later 1.6 releases
// do). A large dump stops when its output outgrows outputPause and goes on
// where it stopped once the client has read it, like a huge multi-get.
func (c *conn) dump(r *proto.Request, mg bool, classes string) {
	if !c.dumping {
		if !c.s.set.DumpEnabled { // -X
			c.out = append(c.out, "ERROR metadump not allowed\r\n"...)
			return
		}
		if !c.s.store.CrawlerOn() {
			c.out = append(c.out, "CLIENT_ERROR lru crawler disabled\r\n"...)
			return
		}
		set, ok := c.parseClasses(classes)
		if !ok {
			c.out = append(c.out, "BADCLASS invalid class id\r\n"...)
			return
		}
		c.dumping, c.dumpCur, c.dumpSet = true, lru.DumpCursor{}, set
	}
	cas := c.s.set.CASEnabled
	fn := func(d *lru.DumpItem) {
		if c.dumpSet != nil && !c.dumpSet[d.Class] {
			return
		}
		if mg {
			c.out = appendMgDump(c.out, d.Key)
			return
		}
		c.out = append(c.out, "key="...)
		c.out = appendKey(c.out, d.Key)
		c.out = append(c.out, " exp="...)
		c.out = strconv.AppendInt(c.out, d.Exptime, 10)
		c.out = append(c.out, " la="...)
		c.out = strconv.AppendInt(c.out, d.LastAccess, 10)
		c.out = append(c.out, " cas="...)
		c.out = strconv.AppendUint(c.out, d.CAS, 10)
		if d.Fetched {
			c.out = append(c.out, " fetch=yes cls="...)
		} else {
			c.out = append(c.out, " fetch=no cls="...)
		}
		c.out = strconv.AppendInt(c.out, int64(d.Class), 10)
		c.out = append(c.out, " size="...)
		c.out = strconv.AppendUint(c.out, dumpItemSize(d, cas), 10)
		c.out = append(c.out, '\n')
	}
	for !c.dumpCur.Done() {
		c.dumpCur = c.s.store.Dump(c.dumpCur, dumpBudget, fn)
		if len(c.out) > outputPause && !c.dumpCur.Done() {
			c.suspended = true // continue once the client has read this
			return
		}
	}
	c.dumping, c.dumpSet = false, nil
	if mg {
		c.out = append(c.out, "EN\r\n"...)
	} else {
		c.out = proto.AppendEnd(c.out)
	}
}

// appendMgDump appends "mg <key>" for one item, in base64 with the b flag
// when the key is not printable, as memcached's mgdump does.
func appendMgDump(dst, key []byte) []byte {
	dst = append(dst, "mg "...)
	for _, b := range key {
		if b <= ' ' || b >= 0x7f {
			dst = base64.StdEncoding.AppendEncode(dst, key)
			return append(dst, " b\r\n"...)
		}
	}
	dst = append(dst, key...)
	return append(dst, '\r', '\n')
}

// dumpItemSize is an item's size as memcached reports it in metadump and
// me (its 48-byte header, key and NUL, value and CRLF, CAS, flags).
func dumpItemSize(d *lru.DumpItem, cas bool) uint64 {
	n := 48 + len(d.Key) + 1 + d.Len + 2
	if cas {
		n += 8
	}
	if d.Flags != 0 {
		n += 4
	}
	return uint64(n)
}
