package server

import "github.com/slabcache/slabcache/proto"

// TEMPORARY: the meta commands are being written by the meta helper (issue
// 5), who replaces this file. Until then every meta command but mn is
// refused with a server error, never acknowledged.

func (c *conn) execMeta(r *proto.Request) {
	if r.Command == proto.CmdMetaNoop {
		c.out = proto.AppendMetaNoop(c.out)
		return
	}
	c.out = proto.AppendServerError(c.out, "meta commands not implemented yet")
}

// metaCommit completes an ms whose value is in the reservation.
func (c *conn) metaCommit(r *proto.Request) {
	c.s.store.Abort(&c.resv)
	c.out = proto.AppendServerError(c.out, "meta commands not implemented yet")
}

// metaStoreFailed answers an ms whose item could not be allocated.
func (c *conn) metaStoreFailed(r *proto.Request, e *proto.Error) {
	c.out = proto.AppendError(c.out, e)
}
