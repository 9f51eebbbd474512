package client

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/slabcache/slabcache/proto"
)

// Hot keys: every node announces the hot keys it owns and has copied to
// other nodes (`config get hotkeys`). The client polls every alive node
// with the membership and sends each read of a hot key to one of the nodes
// that serve it, the one it has sent the fewest keys to lately, so its hot
// keys fill in around the load the other keys put on each node; a miss or
// an error there falls back to the owner. Writes always go to the owner, which invalidates the copies
// before it answers, so a read after an acknowledged write never returns
// the older value.

// hotSet maps a hot key to the addresses serving it, owner first.
type hotSet map[string][]string

// readHotKeys asks the node at addr for its replicated hot keys.
func readHotKeys(addr string, d dialer, timeout time.Duration) (hotSet, error) {
	nc, err := d.dial(addr)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(timeout))
	pc := proto.NewConn(nc)
	var rp proto.Reply
	if err := pc.Admin(&rp, false, proto.CmdConfig, "get", "hotkeys"); err != nil {
		return nil, err
	}
	if rp.Kind != proto.ReplyConfig {
		return nil, unexpected(&rp)
	}
	hs := hotSet{}
	lines := bytes.Split(rp.Value, []byte("\n"))
	for _, l := range lines[min(1, len(lines)):] { // the first line is the version
		f := strings.Fields(string(l))
		if len(f) >= 2 && f[1] == addr {
			hs[f[0]] = f[1:]
		}
	}
	return hs, nil
}

// refreshHot polls `config get hotkeys` from every alive node.
func (c *Client) refreshHot() {
	st := c.state.Load()
	all := hotSet{}
	for _, n := range st.nodes {
		if n.down.Load() {
			continue
		}
		hs, err := readHotKeys(n.addr, c.cfg.dialer(), c.cfg.Timeout)
		if err != nil {
			continue
		}
		for k, addrs := range hs {
			all[k] = addrs
		}
	}
	c.hot.Store(&all)
	c.forgetOldWrites()
}

// HotKeys returns the hot keys the client spreads, with the nodes that
// serve each (owner first).
func (c *Client) HotKeys() map[string][]string {
	p := c.hot.Load()
	if p == nil {
		return nil
	}
	out := make(map[string][]string, len(*p))
	for k, v := range *p {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// readNode picks the node to read key from: the owner (its node is owner)
// for a key that is not hot; for a hot key one of its serving nodes, by
// default the one this client has sent the fewest keys to lately. (The
// owner learns how often its copies are read from the nodes holding them,
// so it needs none of the reads itself to tell that the key is still hot.)
func (c *Client) readNode(key string, owner *node) *node {
	p := c.hot.Load()
	if p == nil {
		return owner
	}
	addrs, ok := (*p)[key]
	if !ok || len(addrs) < 2 || addrs[0] != owner.addr {
		// Not hot, or listed by a node that is not its owner on this
		// client's ring (the ring changed since, or the owner is down
		// and n stands in for it): the writes this client sends to n
		// do not reach that node's copies.
		return owner
	}
	if c.wroteLately(key) {
		return owner // (noteHotWrite)
	}
	var addr string
	switch {
	case c.cfg.HotKeyPerClient:
		// The same node for every read of the key by this client.
		h := c.pick
		for j := 0; j < len(key); j++ {
			h = (h ^ uint64(key[j])) * 1099511628211
		}
		addr = addrs[h%uint64(len(addrs))]
	case c.cfg.HotKeyRandom:
		addr = addrs[rand.IntN(len(addrs))]
	default:
		var best *node
		nodes := c.state.Load().nodes
		// From a random node on, so that ties do not all go to one.
		for j, start := 0, rand.IntN(len(addrs)); j < len(addrs); j++ {
			n := owner
			if a := addrs[(start+j)%len(addrs)]; a != owner.addr {
				n = nodeByAddr(nodes, a)
			}
			if n != nil && !n.down.Load() && (best == nil || n.sent.Load() < best.sent.Load()) {
				best = n
			}
		}
		if best == nil {
			return owner
		}
		return best
	}
	if addr == owner.addr {
		return owner
	}
	if n := nodeByAddr(c.state.Load().nodes, addr); n != nil && !n.down.Load() {
		return n
	}
	return owner
}

// noteHotWrite notes a write of key when it is hot: for a copy's lease
// this client reads it from its owner (wroteLately). The owner updates
// the copies before it answers a write, but a replica that did not answer
// in time is dropped from the key's copies without it, and keeps its
// older copy until the lease runs out; a client whose list of copies
// predates the drop would read it there. So a client reads its own writes
// at least; other clients' reads of that replica are bounded by the
// lease (docs/hotkeys.md).
func (c *Client) noteHotWrite(key string) {
	p := c.hot.Load()
	if p == nil {
		return
	}
	if _, ok := (*p)[key]; !ok {
		return
	}
	c.wrote.Store(key, time.Now())
}

// wroteLately reports whether this client wrote the hot key key within a
// copy's lease.
func (c *Client) wroteLately(key string) bool {
	at, ok := c.wrote.Load(key)
	return ok && time.Since(at.(time.Time)) <= copyLease
}

// forgetOldWrites drops the writes noted more than a copy's lease ago (each
// poll).
func (c *Client) forgetOldWrites() {
	c.wrote.Range(func(k, at any) bool {
		if time.Since(at.(time.Time)) > copyLease {
			c.wrote.CompareAndDelete(k, at)
		}
		return true
	})
}

func nodeByAddr(nodes []*node, addr string) *node {
	for _, n := range nodes {
		if n.addr == addr {
			return n
		}
	}
	return nil
}
