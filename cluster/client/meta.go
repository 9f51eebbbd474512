package client

import (
	"github.com/slabcache/slabcache/proto"
)

// Meta-protocol operations for leases and versioned writes (memcached
// 1.6's mg N/R with its W, X and Z flags; ms with C, E and I; md with I).
// cluster/client/aside builds its cache-aside loader on them; they work
// against slabcached and stock memcached alike.

// Lease is what LeaseGet found.
type Lease struct {
	// Hit: an item was there. It may be the empty placeholder a winner's
	// miss created (Won or AlreadyWon set, no value of the caller's).
	Hit   bool
	Value []byte
	Flags uint32
	CAS   uint64
	// TTL is the item's remaining seconds, -1 for none.
	TTL int64
	// Won (W): this caller is the one to recache the item: on a miss (the
	// placeholder was created for it), when its TTL is under the recache
	// window, or when it was marked stale.
	Won bool
	// Stale (X): the item was marked stale (MarkStale).
	Stale bool
	// AlreadyWon (Z): another caller already won; its value is coming.
	AlreadyWon bool
}

// LeaseGet reads key with a lease (`mg <key> v f c t N<vivify> R<recache>`):
// on a miss the server creates an empty placeholder living vivify seconds
// and hands this caller the win; a hit whose remaining TTL is under recache
// seconds wins once too. Every other caller sees AlreadyWon until the
// winner stores. vivify or recache 0 leaves that flag out (vivify 0: a
// plain read, a miss is not Hit).
//
// While the key's owner is down the read goes to its stand-in, where an
// item found that is not a stand-in's value (see Get) is deleted and the
// read made again.
func (c *Client) LeaseGet(key string, vivify, recache int32) (*Lease, error) {
	n, stand, err := c.nodeOrStandIn(key, false)
	if err != nil {
		return nil, err
	}
	l, err := c.leaseGet(n, key, vivify, recache)
	if err != nil || !stand || !l.Hit || l.Won || l.AlreadyWon || within(l.TTL, c.cfg.GutterTTL) {
		return l, err
	}
	if err := c.deleteOn(n, key); err != nil {
		return nil, err
	}
	return c.leaseGet(n, key, vivify, recache)
}

func (c *Client) leaseGet(n *node, key string, vivify, recache int32) (*Lease, error) {
	var l *Lease
	err := c.do(n, func(req *proto.Request) {
		keyRequest(req, proto.CmdMetaGet, key, 0, 0)
		for _, f := range []byte("vfct") {
			req.AddFlag(f)
		}
		if vivify > 0 {
			req.AddFlag('N')
			req.VivifyTTL = vivify
		}
		if recache > 0 {
			req.AddFlag('R')
			req.RecacheTTL = recache
		}
	}, func(rp *proto.Reply) error {
		if rp.Kind == proto.ReplyError {
			return rp.Err()
		}
		if rp.Kind != proto.ReplyMeta {
			return unexpected(rp)
		}
		l = &Lease{TTL: -1}
		switch rp.Status {
		case proto.StatusEN:
			return nil
		case proto.StatusVA, proto.StatusHD:
		default:
			return unexpected(rp)
		}
		l.Hit = true
		l.Value = append([]byte(nil), rp.Value...)
		f, _ := rp.FlagUint('f')
		l.Flags = uint32(f)
		l.CAS, _ = rp.FlagUint('c')
		if ttl, ok := rp.FlagInt('t'); ok {
			l.TTL = ttl
		}
		_, l.Won = rp.Flag('W')
		_, l.Stale = rp.Flag('X')
		_, l.AlreadyWon = rp.Flag('Z')
		return nil
	})
	return l, err
}

// SetOptions are the conditions of SetMeta.
type SetOptions struct {
	// CompareCAS, when non-zero, stores only if the item's CAS is this
	// (ms C): ErrCASConflict otherwise, ErrCacheMiss if it is gone.
	CompareCAS uint64
	// NewCAS, when non-zero, is the CAS the stored item gets (ms E): a
	// caller-supplied version, such as a row version.
	NewCAS uint64
	// Add stores only if the key is absent (ms ME): ErrNotStored if not.
	Add bool
}

// SetMeta stores it with ms, under the conditions of o.
func (c *Client) SetMeta(it *Item, o SetOptions) error {
	n, err := c.nodeForWrite(it.Key)
	if err != nil {
		return err
	}
	return c.do(n, func(req *proto.Request) {
		keyRequest(req, proto.CmdMetaSet, it.Key, it.Expiration, 0)
		req.AddFlag('T')
		req.AddFlag('F')
		req.ClientFlags = it.Flags
		if o.CompareCAS != 0 {
			req.AddFlag('C')
			req.CAS = o.CompareCAS
		}
		if o.NewCAS != 0 {
			req.AddFlag('E')
			req.CASIn = o.NewCAS
		}
		if o.Add {
			req.AddFlag('M')
			req.Mode = 'E'
		}
		req.Value = it.Value
		req.ValueLen = len(it.Value)
	}, metaStatus)
}

// MarkStale marks key stale (`md <key> I T<ttl>`): readers get it with
// Stale set and one of them wins the recache; it lives ttl seconds more
// at most (0 keeps its TTL). ErrCacheMiss when absent.
func (c *Client) MarkStale(key string, ttl int32) error {
	n, err := c.nodeForWrite(key)
	if err != nil {
		return err
	}
	return c.do(n, func(req *proto.Request) {
		keyRequest(req, proto.CmdMetaDelete, key, ttl, 0)
		req.AddFlag('I')
		if ttl > 0 {
			req.AddFlag('T')
		}
	}, metaStatus)
}

// metaStatus maps a meta reply without value to nil or an error.
func metaStatus(rp *proto.Reply) error {
	switch rp.Kind {
	case proto.ReplyMeta:
		switch rp.Status {
		case proto.StatusHD:
			return nil
		case proto.StatusNS:
			return ErrNotStored
		case proto.StatusEX:
			return ErrCASConflict
		case proto.StatusNF:
			return ErrCacheMiss
		}
	case proto.ReplyError:
		return rp.Err()
	}
	return unexpected(rp)
}
