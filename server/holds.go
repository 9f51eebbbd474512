package server

import "github.com/slabcache/slabcache/lru"

// memcached's replies to get, gets, gat, gats, mg and the binary GET and
// TOUCH families point into the item until they are written, and while
// one does, an incr, decr or ma of the same item cannot rewrite it in
// place (do_add_delta checks the item's reference count): it stores a new
// item with just the digits, not fetched, with a new CAS. slabcached
// copies values into its replies and holds no item, so a connection
// notes each item its unsent replies would hold (holdReply) and names
// them to the store (conn.Holds, lru.DeltaArgs.Held), and the same
// requests read back as they do from memcached.

// heldReply is an item a reply in out would hold, from offset off.
type heldReply struct {
	it  lru.HeldItem
	off int
}

// maxHolds bounds the items noted per event; past it a multi-get's later
// keys are not noted (an incr of one of them then rewrites in place).
const maxHolds = 256

// holdReply notes that the reply about to be appended at off to out holds
// it.
func (c *conn) holdReply(it *lru.Item, off int) {
	if len(c.holds) < maxHolds {
		c.holds = append(c.holds, heldReply{it: it.Held(), off: off})
	}
}

// Holds implements lru.Holder: whether a reply memcached would not have
// written yet holds x.
func (c *conn) Holds(x lru.HeldItem) bool {
	from := c.sentMark
	if c.udp != nil {
		from = c.udp.writtenEnd()
	}
	for _, h := range c.holds {
		if h.it == x && h.off >= from && h.off < len(c.out) {
			return true
		}
	}
	return false
}

// dropHolds forgets the items of the replies from off on in out, which
// were dropped unsent.
func (c *conn) dropHolds(off int) {
	n := 0
	for _, h := range c.holds {
		if h.off < off {
			c.holds[n] = h
			n++
		}
	}
	c.holds = c.holds[:n]
}
