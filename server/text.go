package server

import (
	"go.uber.org/zap"

	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
)

// exec runs one parsed request and appends its reply to c.out.
func (c *conn) exec(r *proto.Request) {
	switch r.Command {
	case proto.CmdGet, proto.CmdGets, proto.CmdGat, proto.CmdGats:
		c.get(r)
	case proto.CmdSet, proto.CmdAdd, proto.CmdReplace, proto.CmdAppend, proto.CmdPrepend, proto.CmdCas, proto.CmdMetaSet:
		if r.Command == proto.CmdMetaSet {
			c.st[cCmdMeta]++
		}
		c.storeWhole(r)
	case proto.CmdDelete:
		c.delete(r)
	case proto.CmdIncr, proto.CmdDecr:
		c.delta(r)
	case proto.CmdTouch:
		c.touch(r)
	case proto.CmdFlushAll:
		c.flushAll(r)
	case proto.CmdVersion:
		c.out = proto.AppendVersion(c.out, Version)
	case proto.CmdVerbosity:
		c.s.verbosity.Store(int32(min(r.Level, 3)))
		c.s.applyVerbosity()
		if !r.NoReply {
			c.out = proto.AppendOK(c.out)
		}
	case proto.CmdQuit:
		c.closeAfter = true
	case proto.CmdCacheMemlimit:
		c.memlimit(r)
	case proto.CmdShutdown:
		c.shutdown(r)
	case proto.CmdMetaGet, proto.CmdMetaDelete, proto.CmdMetaArithmetic:
		c.st[cCmdMeta]++
		c.execMeta(r)
	case proto.CmdMetaNoop, proto.CmdMetaDebug:
		c.execMeta(r)
	case proto.CmdStats:
		c.execStats(r)
	case proto.CmdSlabs, proto.CmdLru, proto.CmdLruCrawler, proto.CmdWatch:
		c.execAdmin(r)
	case proto.CmdRefreshCerts:
		c.out = append(c.out, "Error TLS not enabled\r\n"...)
	case proto.CmdConfig, proto.CmdCluster:
		if d := c.s.discovery(); d != nil {
			if out, ok := d.AppendReply(c.out, r.Command, r.Args()); ok {
				c.out = out
				return
			}
		}
		c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
	default:
		// extstore (not built in), misbehave and debugtime (memcached
		// debug builds only): release memcached answers ERROR.
		c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
	}
}

// Hit implements lru.Hit for get, gets, gat and gats: it appends the VALUE
// line and the value.
func (c *conn) Hit(it *lru.Item) {
	c.hits++
	if c.withCAS {
		c.out = proto.AppendValueHeaderCAS(c.out, c.hitKey, it.Flags, it.Len, it.CAS)
	} else {
		c.out = proto.AppendValueHeader(c.out, c.hitKey, it.Flags, it.Len)
	}
	c.out = it.AppendValue(c.out)
	c.out = append(c.out, '\r', '\n')
	c.hitClass, c.hitSeg, c.hitLen = it.Class, it.Segment, it.Len
}

// get serves get, gets, gat and gats.
func (c *conn) get(r *proto.Request) {
	var args lru.GetArgs
	touch := r.Command == proto.CmdGat || r.Command == proto.CmdGats
	if touch {
		args.Touch = true
		args.Exptime = int64(r.Exptime)
	}
	c.withCAS = r.Command == proto.CmdGets || r.Command == proto.CmdGats
	for i := c.resume; i < len(r.Keys); i++ {
		if i > c.resume && len(c.out) > outputPause {
			c.resume = i
			c.suspended = true
			c.hitKey = nil
			return
		}
		key := r.Keys[i]
		c.hitKey = key
		c.st[cCmdGet]++
		if touch {
			c.st[cCmdTouch]++
		}
		hit := c.s.store.Get(key, &args, c)
		if hit {
			c.hitAdd(c.hitClass, c.hitSeg, touch)
		} else if touch {
			c.st[cTouchMisses]++
		} else {
			c.st[cGetMisses]++
		}
		if c.s.obs.on.Load() {
			c.observeGet(key, hit, c.hitClass, c.hitLen)
		}
	}
	c.hitKey = nil
	c.resume = 0
	c.out = proto.AppendEnd(c.out)
}

// storeArgs maps a text storage command onto the store's arguments.
func storeArgs(r *proto.Request, a *lru.SetArgs) {
	switch r.Command {
	case proto.CmdAdd:
		a.Mode = lru.ModeAdd
	case proto.CmdReplace:
		a.Mode = lru.ModeReplace
	case proto.CmdAppend:
		a.Mode = lru.ModeAppend
	case proto.CmdPrepend:
		a.Mode = lru.ModePrepend
	case proto.CmdCas:
		a.Mode = lru.ModeCAS
		a.CAS = r.CAS
	default:
		a.Mode = lru.ModeSet
	}
}

// storeWhole handles a storage command whose value is in r.Value.
func (c *conn) storeWhole(r *proto.Request) {
	res := c.s.store.Reserve(&c.resv, r.Key, r.ClientFlags, int64(r.Exptime), len(r.Value))
	if res != lru.Stored {
		c.storeFailed(r, res)
		return
	}
	c.resv.Write(r.Value)
	c.commit(r)
}

// storeFailed answers a storage command whose item could not be allocated,
// and, for set, removes the old item as memcached does (so a failed set
// never leaves stale data behind).
func (c *conn) storeFailed(r *proto.Request, res lru.Result) {
	c.st[cCmdSet]++
	e := proto.ErrOutOfMemory
	if res == lru.TooLarge {
		e = proto.ErrTooLarge
		c.st[cStoreTooLarge]++
	} else {
		c.st[cStoreNoMemory]++
	}
	if c.s.obs.on.Load() {
		c.observeStore(storeCmdName(r), r.Key, res, int64(r.Exptime), 0, r.ValueLen)
	}
	if r.Command == proto.CmdMetaSet {
		c.metaStoreFailed(r, e)
		return
	}
	if !r.NoReply {
		c.out = proto.AppendError(c.out, e)
	}
	if r.Command == proto.CmdSet {
		c.s.store.Delete(r.Key, nil)
	}
}

// commit publishes the filled reservation for r and answers.
func (c *conn) commit(r *proto.Request) {
	if r.Command == proto.CmdMetaSet {
		c.metaCommit(r)
		return
	}
	var a lru.SetArgs
	storeArgs(r, &a)
	sr := c.s.store.Commit(&c.resv, &a)
	c.st[cCmdSet]++
	c.classAdd(sr.Class, kCmdSet)
	if c.s.obs.on.Load() {
		c.observeStore(storeCmdName(r), r.Key, sr.Result, int64(r.Exptime), sr.Class, r.ValueLen)
	}
	if r.Command == proto.CmdCas {
		switch sr.Result {
		case lru.Stored:
			c.st[cCasHits]++
			c.classAdd(sr.Class, kCasHits)
		case lru.Exists:
			c.st[cCasBadval]++
			c.classAdd(sr.Class, kCasBadval)
		case lru.NotFound:
			c.st[cCasMisses]++
		}
	}
	if r.NoReply {
		return
	}
	c.out = appendResult(c.out, sr.Result)
}

// appendResult appends the text reply for a store result.
func appendResult(dst []byte, res lru.Result) []byte {
	switch res {
	case lru.Stored:
		return proto.AppendStored(dst)
	case lru.NotStored:
		return proto.AppendNotStored(dst)
	case lru.Exists:
		return proto.AppendExists(dst)
	case lru.NotFound:
		return proto.AppendNotFound(dst)
	case lru.Deleted:
		return proto.AppendDeleted(dst)
	case lru.Touched:
		return proto.AppendTouched(dst)
	case lru.TooLarge:
		return proto.AppendError(dst, proto.ErrTooLarge)
	case lru.NoMemory:
		return proto.AppendError(dst, proto.ErrOutOfMemory)
	case lru.NonNumeric:
		return proto.AppendError(dst, proto.ErrNonNumeric)
	case lru.BadKey:
		return proto.AppendError(dst, proto.ErrBadFormat)
	}
	return proto.AppendServerError(dst, "unexpected store result")
}

func (c *conn) delete(r *proto.Request) {
	var a lru.DeleteArgs
	res := c.s.store.Delete(r.Key, &a)
	if res == lru.Deleted {
		c.st[cDeleteHits]++
		c.classAdd(a.Class, kDeleteHits)
	} else {
		c.st[cDeleteMisses]++
	}
	if c.s.obs.on.Load() {
		c.observeDelete(r.Key)
	}
	if !r.NoReply {
		c.out = appendResult(c.out, res)
	}
}

func (c *conn) delta(r *proto.Request) {
	incr := r.Command == proto.CmdIncr
	d := c.s.store.Delta(r.Key, &lru.DeltaArgs{Incr: incr, Delta: r.Delta})
	switch {
	case d.Result == lru.Found && incr:
		c.st[cIncrHits]++
		c.classAdd(d.Class, kIncrHits)
	case d.Result == lru.Found:
		c.st[cDecrHits]++
		c.classAdd(d.Class, kDecrHits)
	case d.Result == lru.NotFound && incr:
		c.st[cIncrMisses]++
	case d.Result == lru.NotFound:
		c.st[cDecrMisses]++
	}
	if r.NoReply {
		return
	}
	switch d.Result {
	case lru.Found:
		c.out = proto.AppendNumber(c.out, d.Value)
	case lru.NoMemory:
		// memcached's incr/decr says this, not the storage wording.
		c.out = proto.AppendServerError(c.out, "out of memory")
	default:
		c.out = appendResult(c.out, d.Result)
	}
}

func (c *conn) touch(r *proto.Request) {
	c.st[cCmdTouch]++
	res, cls := c.s.store.TouchClass(r.Key, int64(r.Exptime))
	if res == lru.Touched {
		c.st[cTouchHits]++
		c.classAdd(cls, kTouchHits)
	} else {
		c.st[cTouchMisses]++
	}
	if !r.NoReply {
		c.out = appendResult(c.out, res)
	}
}

func (c *conn) flushAll(r *proto.Request) {
	if !c.s.set.FlushEnabled {
		if !r.NoReply {
			c.out = proto.AppendError(c.out, proto.ErrFlushDisabled)
		}
		return
	}
	c.st[cCmdFlush]++
	c.s.store.Flush(int64(r.Exptime))
	c.s.oldestLive.Store(c.s.clk.Now())
	if !r.NoReply {
		c.out = proto.AppendOK(c.out)
	}
}

func (c *conn) memlimit(r *proto.Request) {
	var reply string
	switch {
	case r.MemLimit < 8:
		reply = "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m"
	case r.MemLimit > 1000000000:
		reply = "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes"
	case c.s.store.SetMemoryLimit(int64(r.MemLimit)<<20) == nil:
		reply = "OK"
	default:
		// The store reserves address space at start for the larger of
		// -m and 4 GiB: unlike memcached, the limit cannot be raised
		// beyond that.
		reply = "MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust"
	}
	if !r.NoReply {
		c.out = proto.AppendLine(c.out, reply)
	}
}

func (c *conn) shutdown(r *proto.Request) {
	if !c.s.set.ShutdownCommand {
		c.out = proto.AppendError(c.out, proto.ErrShutdownDisabled)
		return
	}
	if a := r.Args(); len(a) > 1 || len(a) == 1 && string(a[0]) != "graceful" {
		c.out = proto.AppendError(c.out, proto.ErrShutdownMode)
		return
	}
	c.s.log.Info("shutdown command received", zap.Stringer("remote", addrStringer{c.gc.RemoteAddr()}))
	c.closeAfter = true
	c.s.shutdownAsync()
}

// storeCmdName is the storage command's name in watch logs.
func storeCmdName(r *proto.Request) string {
	switch r.Command {
	case proto.CmdAdd:
		return "add"
	case proto.CmdReplace:
		return "replace"
	case proto.CmdAppend:
		return "append"
	case proto.CmdPrepend:
		return "prepend"
	case proto.CmdCas:
		return "cas"
	case proto.CmdMetaSet:
		switch r.SetMode() {
		case proto.CmdAdd:
			return "add"
		case proto.CmdReplace:
			return "replace"
		case proto.CmdAppend:
			return "append"
		case proto.CmdPrepend:
			return "prepend"
		}
	}
	return "set"
}
