package client

import (
	"time"

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
	if n.full {
		return
	}
	if len(n.written) >= maxStandInKeys || !proto.QuietDeletable(key) {
		// Too many, or a key a delete cannot name: a flush_all.
		n.full, n.written = true, nil
		return
	}
	if n.written == nil {
		n.written = map[string]uint64{}
	}
	n.noteSeq++
	n.written[key] = n.noteSeq
}

// clearStandIns deletes on n, over cn, the keys noted for it (or sends a
// flush_all when there were too many) and forgets those it deleted.
func (c *Client) clearStandIns(n *node, cn *conn) error {
	n.notesMu.Lock()
	full := n.full
	keys := make([]string, 0, len(n.written))
	seqs := make([]uint64, 0, len(n.written))
	for k, s := range n.written {
		keys, seqs = append(keys, k), append(seqs, s)
	}
	n.notesMu.Unlock()
	if full {
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
		n.full = false
		n.notesMu.Unlock()
	}
	for sent := 0; sent < len(keys); {
		batch := keys[sent:min(sent+standInBatch, len(keys))]
		if err := cn.deleteQuietly(batch, c.cfg.Timeout); err != nil {
			return err
		}
		n.notesMu.Lock()
		for i, k := range batch {
			if n.written[k] == seqs[sent+i] { // else written on a stand-in again since
				delete(n.written, k)
			}
		}
		n.notesMu.Unlock()
		sent += len(batch)
	}
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
// each (proto.AppendQuietDeletes: only failures answer) and an mn, read
// to the MN.
func (cn *conn) deleteQuietly(keys []string, timeout time.Duration) error {
	cn.setDeadline(timeout)
	cn.buf = proto.AppendQuietDeletes(cn.buf[:0], keys)
	if _, err := cn.nc.Write(cn.buf); err != nil {
		return err
	}
	if err := cn.rd.Read(&cn.rp); err != nil {
		return err
	}
	if cn.rp.Kind != proto.ReplyMeta || cn.rp.Status != proto.StatusMN {
		return unexpected(&cn.rp)
	}
	return nil
}
