package client

import (
	"slices"
	"time"

	"github.com/slabcache/slabcache/internal/keynotes"
	"github.com/slabcache/slabcache/proto"
)

// Writes on stand-ins. While a node is marked down its keys are written on
// stand-ins (GutterTTL), and the node itself, when it answers again, still
// holds its older copies of them: of a key set meanwhile the old value, of
// a key deleted meanwhile the item. So a write that goes to a stand-in is
// noted on the owner's node first, and before the node is marked up again
// its copies of those keys are deleted (past maxStandInKeys, everything:
// flush_all). Once it is up, the stand-ins' copies are deleted too: the
// owner takes the key's writes again, and if it went down again before
// they expire, a read from the stand-in (getStandIn) would find a value
// from the earlier time, older than the owner's (past maxStandInKeys on
// one stand-in, its copies are left to expire within GutterTTL). The same
// holds when membership drops the node: the notes wait for its return
// (dropped), and the stand-ins' copies go at once.

// maxStandInKeys bounds the keys noted for one node.
const maxStandInKeys = 1 << 16

// standInBatch is how many deletes go to the node in one round trip.
const standInBatch = 512

// noteStandIn notes that key is written on stand-in s while n is down.
func (n *node) noteStandIn(key string, s *node) {
	n.notesMu.Lock()
	defer n.notesMu.Unlock()
	if n.written == nil {
		n.written = keynotes.New(maxStandInKeys)
	}
	n.written.Note(key, proto.QuietDeletable(key)) // else (or too many) a flush_all
	if n.onStandIns == nil {
		n.onStandIns = map[*node]*keynotes.Set{}
	}
	on := n.onStandIns[s]
	if on == nil {
		on = keynotes.New(maxStandInKeys)
		n.onStandIns[s] = on
	}
	on.Note(key, proto.QuietDeletable(key))
}

// goneTTL is how long a dropped node's keys written on stand-ins are kept
// for its return (the cluster's members keep theirs as long).
const goneTTL = 10 * time.Minute

// goneNode is a node membership dropped, with keys to delete on it.
type goneNode struct {
	n  *node
	at time.Time
}

// dropped runs when membership drops node n (c.mu held; st is the new
// state). The keys written on stand-ins while it was down stay noted for
// its return (c.gone). Their stand-ins' copies go at once where the
// stand-in is not the key's owner now: its writes go to that owner from
// now on, and if n came back and went down again, a read from the
// stand-in would find the older copy.
func (c *Client) dropped(n *node, st *state) {
	for a, g := range c.gone {
		if time.Since(g.at) > goneTTL {
			delete(c.gone, a)
		}
	}
	n.notesMu.Lock()
	on := n.onStandIns
	n.onStandIns = nil
	if n.written != nil && !n.written.Empty() {
		if c.gone == nil {
			c.gone = map[string]goneNode{}
		}
		c.gone[n.addr] = goneNode{n: n, at: time.Now()}
	}
	n.notesMu.Unlock()
	for s, set := range on {
		if set.Full() || !slices.Contains(st.nodes, s) {
			continue // past the bound, or dropped too: they expire within GutterTTL
		}
		var keys []string
		for _, k := range set.Take().Keys {
			if i := st.ring.OwnerString(k); i < 0 || st.nodes[i] != s {
				keys = append(keys, k)
			}
		}
		if len(keys) > 0 {
			go c.deleteMany(s, keys)
		}
	}
}

// deleteMany deletes keys on n, in batches, and returns how many it
// deleted before an error (best effort: a stand-in's copy expires within
// GutterTTL).
func (c *Client) deleteMany(n *node, keys []string) int {
	cn, err := n.get(c.cfg.dialer())
	if err != nil {
		return 0
	}
	sent := 0
	for sent < len(keys) {
		batch := keys[sent:min(sent+standInBatch, len(keys))]
		if err := cn.deleteQuietly(batch, c.cfg.Timeout); err != nil {
			cn.nc.Close()
			return sent
		}
		sent += len(batch)
	}
	n.put(cn)
	return sent
}

// clearOnStandIns deletes, on the stand-ins, the keys written there while
// n was down (n serves again). A stand-in that does not answer keeps its
// keys for the next time; one past maxStandInKeys (full), or no longer a
// member, is forgotten: its copies expire within GutterTTL.
func (c *Client) clearOnStandIns(n *node) {
	st := c.state.Load()
	n.notesMu.Lock()
	type todo struct {
		s *node
		b keynotes.Batch
	}
	var all []todo
	for s, on := range n.onStandIns {
		if on.Full() || !slices.Contains(st.nodes, s) {
			delete(n.onStandIns, s) // its copies expire within GutterTTL
			continue
		}
		if !on.Empty() {
			all = append(all, todo{s, on.Take()})
		}
	}
	n.notesMu.Unlock()
	for _, t := range all {
		sent := c.deleteMany(t.s, t.b.Keys)
		n.notesMu.Lock()
		if on := n.onStandIns[t.s]; on != nil {
			on.Done(t.b, sent, false)
			if on.Empty() {
				delete(n.onStandIns, t.s)
			}
		}
		n.notesMu.Unlock()
	}
}

// clearStandIns deletes on n, over cn, the keys noted for it (or sends a
// flush_all when there were too many) and forgets those it deleted.
func (c *Client) clearStandIns(n *node, cn *conn) error {
	n.notesMu.Lock()
	if n.written == nil || n.written.Empty() {
		n.notesMu.Unlock()
		return nil
	}
	b := n.written.Take()
	n.notesMu.Unlock()
	if b.Full {
		cn.setDeadline(c.cfg.Timeout)
		cn.req.Reset()
		cn.req.Command = proto.CmdFlushAll
		if err := cn.exchange(); err != nil {
			return err
		}
		if cn.rp.Kind != proto.ReplyStatus || cn.rp.Status != proto.StatusOK {
			return unexpected(&cn.rp)
		}
		n.notesMu.Lock()
		n.written.Done(b, 0, true)
		n.notesMu.Unlock()
	}
	for sent := 0; sent < len(b.Keys); {
		batch := b.Keys[sent:min(sent+standInBatch, len(b.Keys))]
		if err := cn.deleteQuietly(batch, c.cfg.Timeout); err != nil {
			n.notesMu.Lock()
			n.written.Done(b, sent, false)
			n.notesMu.Unlock()
			return err
		}
		sent += len(batch)
	}
	n.notesMu.Lock()
	n.written.Done(b, len(b.Keys), false) // keys written on a stand-in again since stay
	n.notesMu.Unlock()
	return nil
}

// exchange sends cn.req and reads one reply into cn.rp.
func (cn *conn) exchange() error {
	cn.buf = proto.AppendRequest(cn.buf[:0], &cn.req)
	if _, err := cn.nc.Write(cn.buf); err != nil {
		return err
	}
	return cn.rd.Read(&cn.rp)
}

// deleteQuietly deletes keys in one round trip: a quiet meta delete for
// each (proto.AppendQuietDeletes: only NF for a key that was not there,
// and failures, answer) and an mn, read to the MN.
func (cn *conn) deleteQuietly(keys []string, timeout time.Duration) error {
	cn.setDeadline(timeout)
	cn.buf = proto.AppendQuietDeletes(cn.buf[:0], keys)
	if _, err := cn.nc.Write(cn.buf); err != nil {
		return err
	}
	for {
		if err := cn.rd.Read(&cn.rp); err != nil {
			return err
		}
		if done, err := proto.QuietDeleteReply(&cn.rp); done || err != nil {
			return err
		}
	}
}
