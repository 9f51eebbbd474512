package server

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math/bits"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/slabcache/slabcache/internal/clock"
	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
)

// Watchers (`watch fetchers mutations evictions`) and prefix statistics
// (`stats detail on|off|dump`). Both cost the request path one atomic load
// while nobody watches and detail is off: observers.on.

const (
	watchFetchers = 1 << iota
	watchMutations
	watchEvictions
	watchDeletions
	watchConnEvents
	watchSysEvents
	watchHotkeys // slabcached's: hot-key enter and leave events (hotkeys.go)
)

type watcher struct {
	c     *conn
	obs   *observers
	kinds int
	// Lines waiting for the watcher are bounded by watcher_logbuf_size, as
	// in memcached: queued counts bytes handed to the watcher's event loop
	// and not yet written; lines that would pass the bound, there or in the
	// connection's output buffer, are counted in skipped and announced with
	// "skipped=N" before the next line that fits.
	queued  atomic.Int64
	skipped atomic.Uint64
}

// send hands data to the watcher's event loop, which writes it unless the
// watcher already has more than limit bytes waiting.
func (w *watcher) send(data []byte, limit int) {
	if len(data) == 0 {
		return
	}
	n := int64(len(data))
	if w.queued.Load()+n > int64(limit) {
		lines := uint64(bytes.Count(data, []byte{'\n'}))
		w.skipped.Add(lines)
		w.obs.skippedTotal.Add(lines)
		return
	}
	w.queued.Add(n)
	err := w.c.gc.Wake(func(_ gnet.Conn, err error) error {
		gc := w.c.gc // the TLS session on a TLS listener
		w.queued.Add(-n)
		if err != nil {
			return nil
		}
		lines := uint64(bytes.Count(data, []byte{'\n'}))
		if gc.OutboundBuffered()+len(data) > limit {
			w.skipped.Add(lines)
			w.obs.skippedTotal.Add(lines)
			return nil
		}
		w.obs.sent.Add(lines)
		if k := w.skipped.Swap(0); k > 0 {
			gc.Write(strconv.AppendUint([]byte("skipped="), k, 10))
			gc.Write([]byte{'\n'})
		}
		gc.Write(data)
		return nil
	})
	if err != nil {
		w.queued.Add(-n)
	}
}

// announceSkipped writes "skipped=N" for lines dropped while the watcher
// was full once all its output has gone to the socket, without waiting for
// the next line (OnTick calls it): a watcher that stops reading until it
// sees the notice still gets it.
func (w *watcher) announceSkipped() {
	if w.skipped.Load() == 0 || w.queued.Load() > 0 {
		return
	}
	w.c.gc.Wake(func(_ gnet.Conn, err error) error {
		gc := w.c.gc
		if err != nil || gc.OutboundBuffered() > 0 {
			return nil
		}
		if k := w.skipped.Swap(0); k > 0 {
			gc.Write(append(strconv.AppendUint([]byte("skipped="), k, 10), '\n'))
		}
		return nil
	})
}

type observers struct {
	on atomic.Bool // any watcher, or detail on

	mu       sync.Mutex
	watchers []*watcher
	kinds    int // union of the watchers' kinds
	evictBuf []byte
	evictCap int // -o watcher_logbuf_size: eviction lines beyond it are dropped until sent
	detailOn bool
	detail   map[string]*[4]uint64 // prefix -> get, hit, set, del
	order    []string              // prefixes in first-seen order
	delim    byte                  // -D: where a key's prefix ends
	gid      atomic.Uint64

	// log_watcher_skipped, log_watcher_sent: lines dropped for watchers that
	// fell behind, and lines written to watchers.
	skippedTotal atomic.Uint64
	sent         atomic.Uint64
}

// clearDetail forgets the prefixes `stats detail dump` lists (stats reset,
// as memcached's stats_prefix_clear).
func (o *observers) clearDetail() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.detail != nil {
		o.detail = map[string]*[4]uint64{}
	}
	o.order = o.order[:0]
}

// watcherCount is log_watchers.
func (o *observers) watcherCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.watchers)
}

// connEvent logs a connection opening (conn_new) or closing (conn_close
// with reason) for connevents watchers, in memcached's format.
func (o *observers) connEvent(c *conn, closing bool, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.kinds&watchConnEvents == 0 {
		return
	}
	b := o.logPrefix(nil)
	if closing {
		b = append(b, "type=conn_close rip="...)
	} else {
		b = append(b, "type=conn_new rip="...)
	}
	transport := "local"
	port := 0
	switch a := c.gc.RemoteAddr().(type) {
	case *net.TCPAddr:
		b = append(b, a.IP.String()...)
		port, transport = a.Port, "tcp"
	default:
		b = append(b, "unix"...)
	}
	b = append(b, " rport="...)
	b = strconv.AppendInt(b, int64(port), 10)
	b = append(b, " transport="...)
	b = append(b, transport...)
	if closing {
		b = append(b, " reason="...)
		b = append(b, reason...)
	}
	b = append(b, " cfd="...)
	b = strconv.AppendInt(b, int64(c.gc.Fd()), 10)
	b = append(b, '\n')
	for _, w := range o.watchers {
		if w.kinds&watchConnEvents != 0 && w.c != c {
			w.send(bytes.Clone(b), o.evictCap)
		}
	}
}

// tlsError logs a TLS failure on connection fd for connevents watchers, in
// memcached's format (type=conntlserr).
func (o *observers) tlsError(fd int, msg string) {
	o.logLine(watchConnEvents, func(b []byte) []byte {
		b = append(b, "type=conntlserr fd="...)
		b = strconv.AppendInt(b, int64(fd), 10)
		b = append(b, " msg="...)
		return append(b, msg...)
	})
}

// slabMoved is the store's OnAutomove hook: a page the automover moved
// from class src to class dst (0: the global pool), or failed to, logged
// for sysevents watchers as memcached's slab_move line.
func (o *observers) slabMoved(src, dst int, ok bool) {
	o.logLine(watchSysEvents, func(b []byte) []byte {
		b = append(b, "type=slab_move src="...)
		b = strconv.AppendInt(b, int64(src), 10)
		b = append(b, " dst="...)
		b = strconv.AppendInt(b, int64(dst), 10)
		if ok {
			return append(b, " state=ok"...)
		}
		return append(b, " state=fail"...)
	})
}

// crawlerStatus is the store's OnCrawlerStatus hook: an LRU's next
// autocrawl scheduled after a run, logged for sysevents watchers as
// memcached's lru_crawler line.
func (o *observers) crawlerStatus(st lru.CrawlerStatus) {
	o.logLine(watchSysEvents, func(b []byte) []byte {
		b = appendField(b, "type=lru_crawler crawler=", uint64(st.Class))
		b = append(b, " lru="...)
		b = append(b, [...]string{"hot", "warm", "cold", "temp"}[st.LRU&3]...)
		b = appendField(b, " low_mark=", st.LowMark)
		b = appendField(b, " next_reclaims=", st.Reclaims)
		b = appendField(b, " since_run=", uint64(st.SinceRun))
		b = appendField(b, " next_run=", uint64(st.NextRun))
		b = appendField(b, " elapsed=", uint64(st.Elapsed))
		b = appendField(b, " examined=", st.Examined)
		return appendField(b, " reclaimed=", st.Reclaimed)
	})
}

// appendField appends name and v in decimal.
func appendField(b []byte, name string, v uint64) []byte {
	return strconv.AppendUint(append(b, name...), v, 10)
}

// logLine sends the watchers of kind one log line: the time and log
// number, what appendTo adds, a newline. appendTo runs only when such a
// watcher exists.
func (o *observers) logLine(kind int, appendTo func([]byte) []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.kinds&kind == 0 {
		return
	}
	b := append(appendTo(o.logPrefix(nil)), '\n')
	for _, w := range o.watchers {
		if w.kinds&kind != 0 {
			w.send(bytes.Clone(b), o.evictCap)
		}
	}
}

// init sets the observers up from the settings: the eviction log bound and
// -D (prefix statistics on from the start).
func (o *observers) init(s Settings) {
	o.evictCap = s.WatcherLogbufSize
	o.delim = s.PrefixDelimiter
	if s.DetailEnabled {
		o.detailOn = true
		o.detail = map[string]*[4]uint64{}
		o.refreshLocked()
	}
}

// watchLog is the watch log lines one connection gathered during an event,
// sent to the watchers at its end (publishWatch).
type watchLog struct {
	lines []byte
	kinds int
}

func (o *observers) refreshLocked() {
	o.kinds = 0
	for _, w := range o.watchers {
		o.kinds |= w.kinds
	}
	// Hot-key events come from the detector, not from requests.
	o.on.Store(o.kinds&^watchHotkeys != 0 || o.detailOn)
}

// startWatch turns c into a watcher (`watch [fetchers] [mutations]
// [evictions] [deletions] [connevents] [sysevents] ...`; no argument
// means fetchers, as in memcached, and names may be abbreviated).
// memcached's other streams (rawcmds, which it never writes to, and the
// proxy's) are accepted and stay silent.
func (c *conn) startWatch(r *proto.Request) {
	if !c.s.set.WatchEnabled {
		c.out = proto.AppendError(c.out, proto.ErrWatchDisabled)
		return
	}
	if c.pipelined() {
		c.out = proto.AppendError(c.out, proto.ErrPipelinedWatch)
		return
	}
	kinds := 0
	for _, a := range r.Args() {
		switch {
		case prefixOf(a, "rawcmds"):
		case prefixOf(a, "evictions"):
			kinds |= watchEvictions
		case prefixOf(a, "fetchers"):
			kinds |= watchFetchers
		case prefixOf(a, "mutations"):
			kinds |= watchMutations
		case prefixOf(a, "connevents"):
			kinds |= watchConnEvents
		case prefixOf(a, "sysevents"):
			kinds |= watchSysEvents
		case prefixOf(a, "proxyreqs"),
			prefixOf(a, "proxyevents"), prefixOf(a, "proxyuser"):
		case prefixOf(a, "deletions"):
			kinds |= watchDeletions
		case prefixOf(a, "hotkeys"):
			kinds |= watchHotkeys
		default:
			c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
			return
		}
	}
	if len(r.Args()) == 0 {
		kinds = watchFetchers
	}
	o := &c.s.obs
	o.mu.Lock()
	o.watchers = append(o.watchers, &watcher{c: c, obs: o, kinds: kinds})
	o.refreshLocked()
	o.mu.Unlock()
	c.watching.Store(true)
	c.out = proto.AppendOK(c.out)
}

// stopWatch removes c from the watchers (its connection closed).
func (o *observers) stopWatch(c *conn) {
	o.mu.Lock()
	for i, w := range o.watchers {
		if w.c == c {
			o.watchers = append(o.watchers[:i], o.watchers[i+1:]...)
			break
		}
	}
	o.refreshLocked()
	o.mu.Unlock()
}

// logPrefix appends "ts=<sec.usec> gid=<n> ".
func (o *observers) logPrefix(dst []byte) []byte {
	now := time.Now()
	dst = append(dst, "ts="...)
	dst = strconv.AppendInt(dst, now.Unix(), 10)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, int64(now.Nanosecond()/1000), 10) // not padded, as memcached's %d
	dst = append(dst, " gid="...)
	dst = strconv.AppendUint(dst, o.gid.Add(1), 10)
	return append(dst, ' ')
}

// observeGet records a retrieval of key that ended as o (fetchers, and
// detail unless it is a meta command's: memcached counts only text and
// binary commands per prefix). An item the retrieval created (mg with N)
// was not found.
func (c *conn) observeGet(key []byte, o lru.Outcome, meta bool) {
	obs := &c.s.obs
	obs.mu.Lock()
	kinds, detail := obs.kinds, obs.detailOn
	obs.mu.Unlock()
	hit := o.Result == lru.Found
	if detail && !meta {
		obs.count(key, 0, hit)
	}
	if kinds&watchFetchers != 0 {
		c.logFetch(key, hit && !o.Created, o.Gone, o.Class, o.Len)
	}
}

// observeLookup logs, for watch fetchers, the item lookup that a command
// other than a retrieval makes before it acts (storage, incr, decr, touch,
// delete, md, ma, me): memcached logs those as item_get lines too. It is
// called before the command changes the item, and returns what it saw
// (NotFound when fetchers are not watched).
func (c *conn) observeLookup(key []byte) lru.Outcome {
	obs := &c.s.obs
	obs.mu.Lock()
	kinds := obs.kinds
	obs.mu.Unlock()
	if kinds&watchFetchers == 0 {
		return lru.Outcome{Result: lru.NotFound}
	}
	o := c.s.store.Peek(key, noHit{})
	c.logFetch(key, o.Result == lru.Found, o.Gone, o.Class, o.Len)
	return o
}

// observeVivify logs what memcached logs when ma or a binary INCREMENT or
// DECREMENT creates a missing counter: a second lookup that finds nothing,
// then the number stored as an add with the time to live ttl (ma: none;
// memcached sets N's after the store).
func (c *conn) observeVivify(key []byte, o lru.Outcome, ttl uint32) {
	obs := &c.s.obs
	obs.mu.Lock()
	kinds := obs.kinds
	obs.mu.Unlock()
	if kinds&watchFetchers != 0 {
		c.logFetch(key, false, lru.Absent, 0, 0)
	}
	if kinds&watchMutations != 0 {
		c.logStore(key, "stored", "add", ttl, o.Class, len(strconv.AppendUint(nil, o.Value, 10)))
	}
}

// logStore appends one item_store line (watch mutations) as memcached
// prints it.
func (c *conn) logStore(key []byte, status, cmd string, ttl uint32, cls, size int) {
	b := c.s.obs.logPrefix(c.wlog.lines)
	b = append(b, "type=item_store key="...)
	b = proto.AppendURIKey(b, key)
	b = append(b, " status="...)
	b = append(b, status...)
	b = append(b, " cmd="...)
	b = append(b, cmd...)
	b = append(b, " ttl="...)
	b = strconv.AppendUint(b, uint64(ttl), 10)
	c.endLogLine(b, cls, size, watchMutations)
}

// endLogLine ends an item line of kind with the fields memcached ends it
// with (clsid, cfd, size) and adds it to this event's watch log.
func (c *conn) endLogLine(b []byte, cls, size, kind int) {
	b = append(b, " clsid="...)
	b = strconv.AppendInt(b, int64(cls), 10)
	b = append(b, " cfd="...)
	b = strconv.AppendInt(b, int64(c.gc.Fd()), 10)
	b = append(b, " size="...)
	b = strconv.AppendInt(b, int64(size), 10)
	c.wlog.lines = append(b, '\n')
	c.wlog.kinds |= kind
}

// noHit is a Hit that reads nothing.
type noHit struct{}

func (noHit) Hit(*lru.Item) {}

// logFetch appends one item_get line: found, or else not_found, or
// expired or flushed when the lookup reclaimed such an item.
func (c *conn) logFetch(key []byte, found bool, gone lru.Gone, cls, size int) {
	b := c.s.obs.logPrefix(c.wlog.lines)
	b = append(b, "type=item_get key="...)
	b = proto.AppendURIKey(b, key)
	switch {
	case found:
		b = append(b, " status=found"...)
	case gone == lru.Expired:
		b = append(b, " status=expired"...)
	case gone == lru.Flushed:
		b = append(b, " status=flushed"...)
	default:
		b = append(b, " status=not_found"...)
	}
	if !found {
		cls, size = 0, 0
	}
	c.endLogLine(b, cls, size, watchFetchers)
}

// storeStatus is the logger's name for a store result.
func storeStatus(res lru.Result) string {
	switch res {
	case lru.Stored:
		return "stored"
	case lru.NotStored:
		return "not_stored"
	case lru.Exists:
		return "exists"
	case lru.NotFound:
		return "not_found"
	case lru.TooLarge:
		return "too_large"
	case lru.NoMemory:
		return "no_memory"
	}
	return "unknown"
}

// detailSet counts a text store for its key's prefix when stats detail is
// on (what observeStore counts, for a store counted when its line was
// read).
func (c *conn) detailSet(key []byte) {
	obs := &c.s.obs
	obs.mu.Lock()
	detail := obs.detailOn
	obs.mu.Unlock()
	if detail {
		obs.count(key, 2, false)
	}
}

// observeStore records the storage command r that ended as o (mutations;
// detail, for its prefix, unless it was counted when its line was read,
// prefix false, or it is an ms). Like memcached it logs the item the
// command built: when stored, its length and time to live as stored (an
// append's are the combined item's); otherwise the request's. A store
// that could not allocate logs no size. ttl is memcached's unsigned 32-bit difference, so an item
// already expired (a negative exptime) shows a number near 2^32.
func (c *conn) observeStore(r *proto.Request, o lru.Outcome, prefix bool) {
	obs := &c.s.obs
	obs.mu.Lock()
	kinds, detail := obs.kinds, obs.detailOn
	obs.mu.Unlock()
	if detail && prefix && !r.Command.IsMeta() {
		obs.count(r.Key, 2, false)
	}
	if kinds&watchMutations == 0 {
		return
	}
	var exp, now uint32
	size, cls := r.ValueLen, o.Class
	switch o.Result {
	case lru.Stored:
		exp, now, size = o.Exptime, o.Now, o.Len
	case lru.TooLarge, lru.NoMemory:
		// memcached's call passes the descriptor where the class goes.
		size, cls = 0, int(uint8(c.gc.Fd()))
	default:
		now = c.s.clk.Now()
		secs := r.Exptime
		if r.Command == proto.CmdMetaSet && r.HasFlag('N') && (r.SetMode() == proto.CmdAppend || r.SetMode() == proto.CmdPrepend) {
			// memcached builds an append or prepend with N with N's
			// time to live, whatever T says.
			secs = r.VivifyTTL
		}
		exp = clock.Expiry(c.s.clk, int64(secs))
	}
	c.logStore(r.Key, storeStatus(o.Result), storeCmd(r).String(), watchTTL(exp, now), cls, size)
}

// watchTTL is an item_store line's ttl for an expiry: 0 for none, else
// the seconds left in 32 bits, as memcached takes them (an item stored
// already expired wraps around).
func watchTTL(exp, now uint32) uint32 {
	if exp == 0 {
		return 0
	}
	return exp - now
}

// observeBinStoreFailed records a binary store that could not allocate
// its item (res: TooLarge or NoMemory): counted by stats detail, and for
// SET, ADD and REPLACE logged as memcached 1.6.45 logs it, whose call
// passes its arguments one place off: cmd=null, no time to live, the
// connection's descriptor (as a byte) for the class and the request's
// expiration, less 2, for the size. APPEND and PREPEND log nothing.
func (c *conn) observeBinStoreFailed(r *proto.BinRequest, t *proto.Request, res lru.Result) {
	obs := &c.s.obs
	obs.mu.Lock()
	kinds, detail := obs.kinds, obs.detailOn
	obs.mu.Unlock()
	if detail {
		obs.count(r.Key, 2, false)
	}
	if kinds&watchMutations == 0 || t.Command == proto.CmdAppend || t.Command == proto.CmdPrepend {
		return
	}
	size := int32(r.Exptime) - 2 // memcached's nbytes - 2, nbytes being the expiration
	if int32(r.Exptime) <= 0 {
		size = 0
	}
	c.logStore(r.Key, storeStatus(res), "null", 0, int(uint8(c.gc.Fd())), int(size))
}

// observeDelete records a delete or md that ended as out (detail,
// deletions). An md with x stores an empty item in its place first, logged
// as memcached logs it: a set of 0 bytes, with T's time to live or none;
// an md with I then marks the item stale and logs no deletion.
func (c *conn) observeDelete(r *proto.Request, out lru.Outcome) {
	o := &c.s.obs
	o.mu.Lock()
	kinds, detail := o.kinds, o.detailOn
	o.mu.Unlock()
	if detail && !r.Command.IsMeta() {
		o.count(r.Key, 3, false)
	}
	meta := r.Command == proto.CmdMetaDelete
	if out.Result != lru.Deleted {
		return
	}
	if meta && r.HasFlag('x') && kinds&watchMutations != 0 {
		var ttl uint32
		if r.HasFlag('T') {
			ttl = watchTTL(clock.Expiry(c.s.clk, int64(r.Exptime)), c.s.clk.Now())
		}
		c.logStore(r.Key, "stored", "set", ttl, out.Class, 0)
	}
	// memcached logs no deletion for a binary DELETE, nor for md with I.
	if kinds&watchDeletions == 0 || meta && r.HasFlag('I') || c.bin {
		return
	}
	b := o.logPrefix(c.wlog.lines)
	b = append(b, "type=deleted key="...)
	b = proto.AppendURIKey(b, r.Key)
	if meta {
		b = append(b, " cmd=md clsid="...)
	} else {
		b = append(b, " cmd=delete clsid="...)
	}
	b = strconv.AppendInt(b, int64(out.Class), 10)
	b = append(b, " size="...)
	b = strconv.AppendInt(b, int64(out.Len), 10)
	c.wlog.lines = append(b, '\n')
	c.wlog.kinds |= watchDeletions
}

// maxDetailPrefixes is how many prefixes stats detail counts at most
// (memcached's MAX_PREFIX_COUNT); keys of other prefixes are not counted.
const maxDetailPrefixes = 1 << 16

// count adds one to field f (0 get, 2 set, 3 del; a get hit also counts
// field 1) of key's prefix. Keys without the delimiter have no prefix and
// are not counted, as in memcached.
func (o *observers) count(key []byte, f int, hit bool) {
	i := bytes.IndexByte(key, o.delim)
	if i < 0 || bytes.IndexByte(key[:i], 0) >= 0 {
		return // memcached reads the prefix up to a NUL: then it has none
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.detailOn {
		return
	}
	ctr := o.detail[string(key[:i])]
	if ctr == nil {
		if len(o.detail) >= maxDetailPrefixes {
			return // memcached's bound on the table
		}
		ctr = new([4]uint64)
		p := string(key[:i])
		o.detail[p] = ctr
		o.order = append(o.order, p)
	}
	ctr[f]++
	if hit {
		ctr[1]++
	}
}

// publish sends the log lines this connection gathered during the event to
// the watchers that asked for them.
func (c *conn) publishWatch() {
	if len(c.wlog.lines) == 0 {
		return
	}
	o := &c.s.obs
	o.mu.Lock()
	for _, w := range o.watchers {
		if w.kinds&c.wlog.kinds != 0 && w.c != c {
			w.send(c.wlog.filter(w.kinds), o.evictCap)
		}
	}
	o.mu.Unlock()
	c.wlog.lines = c.wlog.lines[:0]
	c.wlog.kinds = 0
}

// filter returns a copy of the gathered lines a watcher of kinds wants.
func (l *watchLog) filter(kinds int) []byte {
	if l.kinds&^kinds == 0 {
		return bytes.Clone(l.lines)
	}
	var out []byte
	for rest := l.lines; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n') + 1
		line := rest[:i]
		rest = rest[i:]
		kind := watchMutations
		switch {
		case bytes.Contains(line, []byte(" type=item_get ")):
			kind = watchFetchers
		case bytes.Contains(line, []byte(" type=deleted ")):
			kind = watchDeletions
		}
		if kind&kinds != 0 {
			out = append(out, line...)
		}
	}
	return out
}

// evicted is the store's OnEvict hook: it formats the eviction for the
// watchers; OnTick sends it.
func (o *observers) evicted(d *lru.DumpItem) {
	if !o.on.Load() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.kinds&watchEvictions == 0 || len(o.evictBuf) > o.evictCap {
		return
	}
	b := o.logPrefix(o.evictBuf)
	b = append(b, "type=eviction key="...)
	b = proto.AppendURIKey(b, d.Key)
	if d.Fetched {
		b = append(b, " fetch=yes ttl="...)
	} else {
		b = append(b, " fetch=no ttl="...)
	}
	ttl := int64(-1)
	if d.Exptime >= 0 {
		ttl = d.Exptime - time.Now().Unix()
	}
	b = strconv.AppendInt(b, ttl, 10)
	b = append(b, " la="...)
	b = strconv.AppendInt(b, d.LastAccess, 10)
	b = append(b, " clsid="...)
	b = strconv.AppendInt(b, int64(d.Class), 10)
	b = append(b, " size="...)
	b = strconv.AppendInt(b, int64(d.Len), 10)
	o.evictBuf = append(b, '\n')
}

// flushEvictions sends the gathered eviction lines (from OnTick).
func (o *observers) flushEvictions() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.evictBuf) == 0 {
		return
	}
	for _, w := range o.watchers {
		if w.kinds&watchEvictions != 0 {
			w.send(bytes.Clone(o.evictBuf), o.evictCap)
		}
	}
	o.evictBuf = o.evictBuf[:0]
}

// announceSkipped tells watchers that dropped lines how many, once they
// have room again (from OnTick).
func (o *observers) announceSkipped() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, w := range o.watchers {
		w.announceSkipped()
	}
}

// statsDetail is `stats detail on|off|dump`.
func (c *conn) statsDetail(arg []byte) {
	o := &c.s.obs
	switch {
	case prefixOf(arg, "on"):
		o.mu.Lock()
		o.detailOn = true
		if o.detail == nil {
			o.detail = map[string]*[4]uint64{}
		}
		o.refreshLocked()
		o.mu.Unlock()
		c.out = proto.AppendOK(c.out)
	case prefixOf(arg, "off"):
		o.mu.Lock()
		o.detailOn = false
		o.refreshLocked()
		o.mu.Unlock()
		c.out = proto.AppendOK(c.out)
	case prefixOf(arg, "dump"):
		o.mu.Lock()
		for _, p := range detailOrder(o.order) {
			v := o.detail[p]
			c.out = proto.AppendDetailPrefix(c.out, p, v[0], v[1], v[2], v[3])
		}
		o.mu.Unlock()
		c.out = proto.AppendEnd(c.out)
	default:
		c.out = proto.AppendError(c.out, proto.ErrDetailUsage)
	}
}

// detailOrder returns the prefixes (first seen first) in the order
// memcached's stats detail dump lists them: its prefix table has 256
// buckets chosen by the murmur3 hash of the prefix (its default key hash),
// walked in order, each bucket's newest prefix first.
func detailOrder(seen []string) []string {
	type entry struct {
		bucket uint32
		at     int
	}
	es := make([]entry, len(seen))
	for i, p := range seen {
		es[i] = entry{murmur3([]byte(p)) % 256, i}
	}
	slices.SortFunc(es, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.bucket, b.bucket), cmp.Compare(b.at, a.at))
	})
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = seen[e.at]
	}
	return out
}

// murmur3 is MurmurHash3_x86_32 with seed 0, memcached's default key hash.
func murmur3(data []byte) uint32 {
	const c1, c2 = 0xcc9e2d51, 0x1b873593
	var h uint32
	n := len(data) / 4 * 4
	for i := 0; i < n; i += 4 {
		k := binary.LittleEndian.Uint32(data[i:])
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
		h = bits.RotateLeft32(h, 13)
		h = h*5 + 0xe6546b64
	}
	var k uint32
	switch len(data) & 3 {
	case 3:
		k ^= uint32(data[n+2]) << 16
		fallthrough
	case 2:
		k ^= uint32(data[n+1]) << 8
		fallthrough
	case 1:
		k ^= uint32(data[n])
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
	}
	h ^= uint32(len(data))
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}
