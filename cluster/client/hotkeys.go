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
// that serve it, chosen at random per request (which spreads one client's
// reads as well as many clients'); a miss or an error there falls back to
// the owner. Writes always go to the owner, which invalidates the copies
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

// readNode picks the node to read key from: for a hot key one of its
// serving nodes at random, else the owner. owner is the owner's node.
func (c *Client) readNode(key string, owner *node) *node {
	p := c.hot.Load()
	if p == nil {
		return owner
	}
	addrs, ok := (*p)[key]
	if !ok || len(addrs) < 2 {
		return owner
	}
	i := rand.IntN(len(addrs))
	if c.cfg.HotKeyPerClient {
		// The same node for every read of the key by this client.
		h := c.pick
		for j := 0; j < len(key); j++ {
			h = (h ^ uint64(key[j])) * 1099511628211
		}
		i = int(h % uint64(len(addrs)))
	}
	addr := addrs[i]
	if addr == owner.addr {
		return owner
	}
	for _, n := range c.state.Load().nodes {
		if n.addr == addr && !n.down.Load() {
			return n
		}
	}
	return owner
}
