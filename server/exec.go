package server

import (
	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
)

// exec runs one parsed request and appends its reply to c.out. It is the
// one place where a command, as proto recognised it, meets its code.
func (c *conn) exec(r *proto.Request) {
	if r.NoReply && r.Command.IsAdmin() {
		// memcached's out_string drops every reply of a command whose
		// last token is noreply, whatever the command.
		mark := len(c.out)
		defer func() { c.out = c.out[:mark] }()
	}
	if c.vv {
		defer c.vExecReply(r, len(c.out)) // (before noreply's cut above)
	}
	switch r.Command {
	case proto.CmdGet, proto.CmdGets, proto.CmdGat, proto.CmdGats:
		c.get(r)
	case proto.CmdSet, proto.CmdAdd, proto.CmdReplace, proto.CmdAppend, proto.CmdPrepend, proto.CmdCas, proto.CmdMetaSet:
		c.storeWhole(r)
	case proto.CmdDelete:
		c.delete(r)
	case proto.CmdIncr, proto.CmdDecr:
		c.delta(r)
	case proto.CmdTouch:
		c.touch(r)
	case proto.CmdFlushAll:
		c.flushAll(r)
	case proto.CmdFlushPrefix:
		c.flushPrefix(r)
	case proto.CmdVersion:
		c.out = proto.AppendVersion(c.out, Version)
	case proto.CmdVerbosity:
		c.verbosity(r)
	case proto.CmdQuit:
		c.closeAfter = true
	case proto.CmdCacheMemlimit:
		c.memlimit(r)
	case proto.CmdShutdown:
		c.shutdown(r)
	case proto.CmdMetaGet:
		c.metaGet(r)
	case proto.CmdMetaDelete:
		if r.HasFlag('A') {
			c.flushPrefix(r)
			return
		}
		c.metaDelete(r)
	case proto.CmdMetaArithmetic:
		c.metaArith(r)
	case proto.CmdMetaNoop:
		c.out = proto.AppendMetaNoop(c.out)
	case proto.CmdMetaDebug:
		c.metaDebug(r)
	case proto.CmdStats:
		c.stats(r)
	case proto.CmdSlabs:
		c.slabs(r.Args())
	case proto.CmdLru:
		c.lru(r.Args())
	case proto.CmdLruCrawler:
		c.lruCrawler(r, r.Args(), c.pipelined())
	case proto.CmdWatch:
		c.startWatch(r)
	case proto.CmdConfig, proto.CmdCluster:
		c.discovery(r)
	case proto.CmdRefreshCerts:
		c.refreshCerts()
	case proto.CmdExtstore:
		c.extstore(r.Args())
	default:
		// misbehave and debugtime (memcached debug builds only): release
		// memcached answers ERROR.
		c.out = proto.AppendError(c.out, proto.ErrUnknownCommand)
	}
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
	return proto.AppendServerError(dst, "unexpected store result "+res.String())
}

// metaStatus maps a store result onto a meta return code.
func metaStatus(res lru.Result) proto.Status {
	switch res {
	case lru.Stored, lru.Deleted, lru.Touched, lru.Found:
		return proto.StatusHD
	case lru.NotStored:
		return proto.StatusNS
	case lru.Exists:
		return proto.StatusEX
	}
	return proto.StatusNF
}

// storeMode maps a storage command (ms: its mode) onto the store's.
func storeMode(cmd proto.Command) lru.Mode {
	switch cmd {
	case proto.CmdAdd:
		return lru.ModeAdd
	case proto.CmdReplace:
		return lru.ModeReplace
	case proto.CmdAppend:
		return lru.ModeAppend
	case proto.CmdPrepend:
		return lru.ModePrepend
	case proto.CmdCas:
		return lru.ModeCAS
	}
	return lru.ModeSet
}

// storeCmd is the storage command r performs: its own, or an ms's mode.
func storeCmd(r *proto.Request) proto.Command {
	if r.Command == proto.CmdMetaSet {
		// memcached turns a set or replace with a CAS value into a cas.
		m := r.SetMode()
		if (m == proto.CmdSet || m == proto.CmdReplace) && r.HasFlag('C') {
			return proto.CmdCas
		}
		return m
	}
	return r.Command
}

// prefixOf reports whether tok is a prefix of word, the way memcached
// compares sub-commands (strncmp over the token's length): "g" and
// "graceful" both name graceful; an empty token names anything.
func prefixOf(tok []byte, word string) bool {
	return len(tok) <= len(word) && string(tok) == word[:len(tok)]
}

// isWrite reports whether cmd changes the item of its key (hot-key
// sampling and copies, warm-up).
func isWrite(cmd proto.Command) bool {
	switch {
	case cmd.IsStorage(), cmd == proto.CmdDelete, cmd == proto.CmdIncr, cmd == proto.CmdDecr,
		cmd == proto.CmdTouch, cmd == proto.CmdMetaDelete, cmd == proto.CmdMetaArithmetic:
		return true
	}
	return false
}

// isBinWrite is isWrite for a binary opcode (without its quiet bit).
func isBinWrite(op proto.BinOpcode) bool {
	switch op {
	case proto.BinOpSet, proto.BinOpAdd, proto.BinOpReplace, proto.BinOpDelete, proto.BinOpIncrement,
		proto.BinOpDecrement, proto.BinOpAppend, proto.BinOpPrepend, proto.BinOpTouch:
		return true
	}
	return false
}
