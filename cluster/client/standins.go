package client

import (
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
// flush_all).

// maxStandInKeys bounds the keys noted for one node.
const maxStandInKeys = 1 << 16

// standInBatch is how many deletes go to the node in one round trip.
const standInBatch = 512

// noteStandIn notes that key is written on a stand-in while n is down.
func (n *node) noteStandIn(key string) {
	n.notesMu.Lock()
	defer n.notesMu.Unlock()
	if n.written == nil {
		n.written = keynotes.New(maxStandInKeys)
	}
	n.written.Note(key, proto.QuietDeletable(key)) // else (or too many) a flush_all
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
