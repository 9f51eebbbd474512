// Package client is a Go memcached client for a slabcache cluster. It
// routes each key to its node with a cluster/ring placement, keeps the ring
// current by polling `config get cluster` (ElastiCache's discovery command,
// which slabcached answers) on any live node, fans multi-gets out to the
// nodes in parallel, bounds every operation with timeouts, and marks a
// node that stops answering down, failing its keys fast, until membership
// drops it or it answers again.
//
// It speaks memcached's text protocol over pooled connections, encoding
// requests and reading replies with proto.
//
// This package may import cluster/ring, cluster/discovery, proto and the
// standard library; it must not import lru or server (internal/archtest
// checks it).
package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slabcache/slabcache/cluster/discovery"
	"github.com/slabcache/slabcache/cluster/ring"
	"github.com/slabcache/slabcache/internal/keynotes"
	"github.com/slabcache/slabcache/proto"
)

// Item is a cache entry.
type Item struct {
	// Key is at most 250 bytes, without spaces or control characters.
	Key string
	// Value is the data.
	Value []byte
	// Flags are opaque client flags stored with the value.
	Flags uint32
	// Expiration in memcached's convention: 0 never, up to 30 days
	// relative seconds, else a Unix time.
	Expiration int32
	// CAS is the compare-and-swap token returned by Get and GetMulti and
	// checked by CompareAndSwap.
	CAS uint64
}

// Errors.
var (
	// ErrCacheMiss: the key is not in the cache.
	ErrCacheMiss = errors.New("client: cache miss")
	// ErrNotStored: add found the key, or replace/append/prepend did not.
	ErrNotStored = errors.New("client: item not stored")
	// ErrCASConflict: the item changed since its CAS token was read.
	ErrCASConflict = errors.New("client: compare-and-swap conflict")
	// ErrMalformedKey: the key is empty, longer than 250 bytes, or holds
	// spaces or control characters.
	ErrMalformedKey = errors.New("client: malformed key")
	// ErrNodeDown: the key's node stopped answering and is marked down;
	// the operation was not attempted.
	ErrNodeDown = errors.New("client: node is down")
	// ErrNoNodes: the cluster has no alive node.
	ErrNoNodes = errors.New("client: no alive node")
	// ErrNoDiscovery: no discovery endpoint answered `config get cluster`.
	ErrNoDiscovery = errors.New("client: no discovery endpoint answered")
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("client: closed")
)

// ServerError is an ERROR, CLIENT_ERROR or SERVER_ERROR reply; Line is the
// reply line.
type ServerError = proto.ServerError

// Config configures a Client.
type Config struct {
	// Endpoints are memcached addresses ("host:port") of cluster nodes to
	// ask for the membership with `config get cluster`. Required. Once the
	// membership is known, every alive member is also asked.
	Endpoints []string
	// Servers, instead of Endpoints, is a fixed list of memcached
	// addresses ("host:port") to hash keys over, for servers that do not
	// answer `config get cluster` (stock memcached): no discovery, no hot
	// keys; nodes that stop answering are still marked down and probed.
	Servers []string
	// Placement is the ring placement. The zero value, ring.KindKetama,
	// follows the placement the cluster advertises (`config get
	// placement`, slabcached's --cluster-placement) and is ketama where
	// the cluster says nothing (Servers, stock memcached, ElastiCache);
	// any other value is used as given.
	Placement ring.Kind
	// FixedPlacement uses Placement as given even when it is the zero
	// value and the cluster advertises another placement.
	FixedPlacement bool
	// PollInterval is how often the membership is polled and nodes marked
	// down are probed. Default 1s; 0 means the default; negative turns
	// polling off (the membership read by New is kept).
	PollInterval time.Duration
	// DialTimeout bounds connecting to a node. Default 500ms; 0 means the
	// default.
	DialTimeout time.Duration
	// TLS, when set, is the configuration connections to the nodes speak
	// TLS with (nodes started with -Z). Nodes are dialled by the address
	// they advertise: set ServerName, or verify the chain yourself, when
	// their certificates do not name those addresses.
	TLS *tls.Config
	// Timeout bounds each operation's reads and writes on a connection.
	// Default 1s; 0 means the default.
	Timeout time.Duration
	// MaxIdleConnsPerNode is how many idle connections are kept per node.
	// Default 4; 0 means the default.
	MaxIdleConnsPerNode int
	// IgnoreHotKeys turns off reading hot keys from their replicas: every
	// read goes to the owner (hotkeys.go).
	IgnoreHotKeys bool
	// GutterTTL: while a key's owner is marked down, its requests go to a
	// stand-in, the next node after it on the ring that is not down, and
	// values stored there expire within GutterTTL (Facebook's gutter
	// pool), so stale copies do not outlive the owner's return for long.
	// Default 10s; negative turns it off (keys of a down owner fail with
	// ErrNodeDown).
	GutterTTL time.Duration
	// HotKeyPerClient reads each hot key from one node per client (chosen
	// by hashing the key with a number drawn at New) instead of the
	// default: the node, among those serving the key, to which this client
	// has sent the fewest requests lately (docs/hotkeys.md compares them).
	HotKeyPerClient bool
	// HotKeyRandom reads each hot key from a node drawn at random among
	// those serving it, instead of the least loaded one.
	HotKeyRandom bool
}

// Defaults.
const (
	DefaultPollInterval        = time.Second
	DefaultDialTimeout         = 500 * time.Millisecond
	DefaultTimeout             = time.Second
	DefaultMaxIdleConnsPerNode = 4
	DefaultGutterTTL           = 10 * time.Second
)

func (c Config) withDefaults() (Config, error) {
	if len(c.Endpoints) == 0 && len(c.Servers) == 0 {
		return c, errors.New("client: no discovery endpoints")
	}
	if len(c.Servers) > 0 {
		c.IgnoreHotKeys = true
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxIdleConnsPerNode <= 0 {
		c.MaxIdleConnsPerNode = DefaultMaxIdleConnsPerNode
	}
	if c.GutterTTL == 0 {
		c.GutterTTL = DefaultGutterTTL
	}
	if _, err := ring.New(c.Placement, nil); err != nil {
		return c, err
	}
	return c, nil
}

// Client is safe for concurrent use.
type Client struct {
	cfg   Config
	state atomic.Pointer[state]

	mu       sync.Mutex             // serializes applying views
	lastFrom string                 // endpoint of the last applied view
	hot      atomic.Pointer[hotSet] // hot keys and their serving nodes (hotkeys.go)
	wrote    sync.Map               // hot key -> time.Time: written by this client lately (noteHotWrite)
	pick     uint64                 // this client's seed for HotKeyPerClient
	// gone holds the nodes membership dropped while keys written on
	// stand-ins for them were still to be deleted on them (standins.go),
	// by address, with when they were dropped (mu held).
	gone map[string]goneNode

	stop   chan struct{}
	wg     sync.WaitGroup
	closed atomic.Bool
}

// state is one membership with its ring and node handles.
type state struct {
	view  discovery.View
	ring  ring.Ring
	nodes []*node // by ring index
}

// New reads the membership from the first endpoint that answers and starts
// polling. It fails when no endpoint answers.
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, stop: make(chan struct{}), pick: rand.Uint64() | 1}
	if len(cfg.Servers) > 0 {
		v := discovery.View{Version: 1}
		for _, a := range cfg.Servers {
			m := discovery.Member{Name: a, Addr: a, Status: discovery.StatusAlive, Weight: 1}
			if err := m.Validate(); err != nil {
				return nil, fmt.Errorf("client: server %q: %w", a, err)
			}
			v.Members = append(v.Members, m)
		}
		c.apply("", v)
	} else if err := c.Refresh(); err != nil {
		return nil, err
	}
	if !cfg.IgnoreHotKeys {
		c.refreshHot()
	}
	if cfg.PollInterval > 0 {
		c.wg.Add(1)
		go c.poll()
	}
	return c, nil
}

// Close stops polling and closes idle connections.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	close(c.stop)
	c.wg.Wait()
	for _, n := range c.state.Load().nodes {
		n.closeIdle()
	}
	return nil
}

func (c *Client) poll() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if len(c.cfg.Servers) == 0 {
				_ = c.Refresh()
			}
			c.probeDown()
			if !c.cfg.IgnoreHotKeys {
				c.refreshHot()
			}
			for _, n := range c.state.Load().nodes {
				n.sent.Store(n.sent.Load() / 2) // increments racing this are lost: a count, not a ledger
			}
		case <-c.stop:
			return
		}
	}
}

// Refresh polls the membership now: it asks the endpoint that answered
// last, then the other alive members, then the configured endpoints, and
// applies the first answer.
func (c *Client) Refresh() error {
	var errs []error
	for _, ep := range c.candidates() {
		v, _, err := discover(ep, c.cfg.dialer(), c.cfg.Timeout)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.apply(ep, v)
		return nil
	}
	return fmt.Errorf("%w: %w", ErrNoDiscovery, errors.Join(errs...))
}

// candidates lists discovery endpoints in the order to try.
func (c *Client) candidates() []string {
	seen := map[string]bool{}
	var out []string
	add := func(a string) {
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	c.mu.Lock()
	add(c.lastFrom)
	c.mu.Unlock()
	if st := c.state.Load(); st != nil {
		for _, n := range st.nodes {
			if !n.down.Load() {
				add(n.addr)
			}
		}
	}
	for _, e := range c.cfg.Endpoints {
		add(e)
	}
	return out
}

// apply installs v if its members differ from the current ones. Versions
// of different nodes are not comparable (each node counts its own
// changes), so the member lists are compared instead.
func (c *Client) apply(from string, v discovery.View) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastFrom = from
	old := c.state.Load()
	nodes := discovery.RingNodes(v.Members)
	kind := c.placement(v.Placement)
	if old != nil && old.ring.Kind() == kind && slices.Equal(old.ring.Nodes(), nodes) {
		if old.view.Version != v.Version {
			c.state.Store(&state{view: v, ring: old.ring, nodes: old.nodes})
		}
		return
	}
	r, err := ring.New(kind, nodes)
	if err != nil {
		return // withDefaults checked the placement, placement the advertised one
	}
	st := &state{view: v, ring: r, nodes: make([]*node, len(nodes))}
	reuse := map[string]*node{}
	if old != nil {
		for _, n := range old.nodes {
			reuse[n.addr] = n
		}
	}
	for i, rn := range nodes {
		if n, ok := reuse[rn.Addr]; ok {
			st.nodes[i] = n
			delete(reuse, rn.Addr)
		} else if g, ok := c.gone[rn.Addr]; ok {
			// Back with keys written on stand-ins while it was away:
			// down until the probe has deleted them there.
			g.n.markDown()
			st.nodes[i] = g.n
			delete(c.gone, rn.Addr)
		} else {
			st.nodes[i] = newNode(rn.Addr, c.cfg.MaxIdleConnsPerNode)
		}
	}
	c.state.Store(st)
	for _, n := range reuse { // dropped by membership
		n.closeIdle()
		c.dropped(n, st)
	}
}

// placement returns the ring placement for a view whose cluster advertises
// the placement named advertised ("" for none): Config.Placement, or the
// advertised one when Config.Placement is the zero value and not fixed.
func (c *Client) placement(advertised string) ring.Kind {
	if c.cfg.Placement != ring.KindKetama || c.cfg.FixedPlacement || advertised == "" {
		return c.cfg.Placement
	}
	k, err := ring.ParseKind(advertised)
	if err != nil {
		return c.cfg.Placement // a placement this client does not know
	}
	return k
}

// Placement returns the ring placement the client routes by: Config.Placement
// or the one the cluster advertises (see Config.Placement).
func (c *Client) Placement() ring.Kind {
	if st := c.state.Load(); st != nil {
		return st.ring.Kind()
	}
	return c.cfg.Placement
}

// probeDown dials nodes marked down and marks up those that answer.
func (c *Client) probeDown() {
	st := c.state.Load()
	for _, n := range st.nodes {
		if !n.down.Load() {
			c.clearOnStandIns(n) // what a stand-in did not take the last time
			continue
		}
		cn, err := n.dial(c.cfg.dialer())
		if err != nil {
			continue
		}
		cn.setDeadline(c.cfg.Timeout)
		cn.req.Reset()
		cn.req.Command = proto.CmdVersion
		cn.buf = proto.AppendRequest(cn.buf[:0], &cn.req)
		_, err = cn.nc.Write(cn.buf)
		if err == nil {
			if err = cn.rd.Read(&cn.rp); err == nil {
				_, err = versionResult(&cn.rp)
			}
		}
		if err == nil {
			// Before the node serves again: its copies of the keys
			// written on stand-ins meanwhile go; then once more for
			// the writes that chose a stand-in while this ran.
			err = c.clearStandIns(n, cn)
		}
		if err != nil {
			cn.nc.Close()
			continue
		}
		n.standMu.Lock()
		n.down.Store(false)
		n.standMu.Unlock()
		if err := c.clearStandIns(n, cn); err != nil {
			cn.nc.Close()
			n.down.Store(true)
			continue
		}
		n.put(cn)
		c.clearOnStandIns(n)
	}
}

// View returns the membership the client routes by.
func (c *Client) View() discovery.View { return c.state.Load().view }

// Owner returns the memcached address of the node that owns key, or ""
// when there is no alive node.
func (c *Client) Owner(key string) string {
	st := c.state.Load()
	i := st.ring.OwnerString(key)
	if i < 0 {
		return ""
	}
	return st.nodes[i].addr
}

// Down reports whether the node at addr is marked down.
func (c *Client) Down(addr string) bool {
	for _, n := range c.state.Load().nodes {
		if n.addr == addr {
			return n.down.Load()
		}
	}
	return false
}

// validKey reports whether k is a legal memcached key.
func validKey(k string) bool {
	if len(k) == 0 || len(k) > 250 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// nodeFor returns the node owning key, or its stand-in while the owner is
// down (see standIn).
func (c *Client) nodeFor(key string) (*node, error) {
	n, _, err := c.nodeOrStandIn(key, false)
	return n, err
}

// nodeForWrite is nodeFor for a request that changes key: when it goes to
// a stand-in, the owner notes the key (standins.go).
func (c *Client) nodeForWrite(key string) (*node, error) {
	n, _, err := c.nodeOrStandIn(key, true)
	return n, err
}

// standIn returns the next node after the owner of key on the ring that is
// not down (the gutter), or nil.
func (c *Client) standIn(st *state, key string) *node {
	if c.cfg.GutterTTL <= 0 {
		return nil
	}
	for _, i := range ring.Replicas(st.ring, []byte(key), len(st.nodes))[1:] {
		if n := st.nodes[i]; !n.down.Load() {
			return n
		}
	}
	return nil
}

// nodeOrStandIn returns the node to send key's requests to, and whether it
// is a stand-in for a down owner; for a write (write true) to a stand-in,
// the owner notes the key first.
func (c *Client) nodeOrStandIn(key string, write bool) (*node, bool, error) {
	if c.closed.Load() {
		return nil, false, ErrClosed
	}
	if !validKey(key) {
		return nil, false, ErrMalformedKey
	}
	if write {
		c.noteHotWrite(key)
	}
	st := c.state.Load()
	i := st.ring.OwnerString(key)
	if i < 0 {
		return nil, false, ErrNoNodes
	}
	n := st.nodes[i]
	if n.down.Load() {
		if write {
			n.standMu.RLock()
			defer n.standMu.RUnlock()
			if !n.down.Load() {
				return n, false, nil // marked up meanwhile
			}
		}
		if s := c.standIn(st, key); s != nil {
			if write {
				n.noteStandIn(key, s)
			}
			return s, true, nil
		}
		return nil, false, fmt.Errorf("%w: %s", ErrNodeDown, n.addr)
	}
	return n, false, nil
}

// do runs one request/reply exchange on a pooled connection of n: fill
// builds the request in the connection's Request, result interprets the
// reply. A network error marks n down; any error but a plain status closes
// the connection.
func (c *Client) do(n *node, fill func(req *proto.Request), result func(rp *proto.Reply) error) error {
	return c.doWithin(n, c.cfg.Timeout, fill, result)
}

// doWithin is do with its own bound on reads and writes.
func (c *Client) doWithin(n *node, timeout time.Duration, fill func(req *proto.Request), result func(rp *proto.Reply) error) error {
	cn, err := n.get(c.cfg.dialer())
	if err != nil {
		n.markDown()
		return fmt.Errorf("client: %s: %w", n.addr, err)
	}
	n.sent.Add(1)
	cn.setDeadline(timeout)
	fill(&cn.req)
	cn.buf = proto.AppendRequest(cn.buf[:0], &cn.req)
	if _, err := cn.nc.Write(cn.buf); err != nil {
		cn.nc.Close()
		n.markDown()
		return fmt.Errorf("client: %s: %w", n.addr, err)
	}
	err = cn.rd.Read(&cn.rp)
	if err == nil {
		err = result(&cn.rp)
	}
	switch {
	case err == nil, errors.Is(err, ErrCacheMiss), errors.Is(err, ErrNotStored), errors.Is(err, ErrCASConflict):
		n.put(cn)
	default:
		cn.nc.Close()
		var se *ServerError
		if !errors.As(err, &se) && !errors.Is(err, errProtocol) && !errors.Is(err, proto.ErrBadReply) {
			n.markDown()
			err = fmt.Errorf("client: %s: %w", n.addr, err)
		}
	}
	return err
}

// Get returns the item stored under key, with its CAS token. A hot key is
// read from one of the nodes serving it, falling back to its owner. While
// the owner is down the key is read from its stand-in (getStandIn).
func (c *Client) Get(key string) (*Item, error) {
	n, stand, err := c.nodeOrStandIn(key, false)
	if err != nil {
		return nil, err
	}
	if stand {
		return c.getStandIn(n, key)
	}
	if r := c.readNode(key, n); r != n {
		if it, err := c.getCopy(r, key); err == nil {
			return it, nil
		}
	}
	return c.getFrom(n, key)
}

// getStandIn reads key from n, which stands in for its down owner. Only
// a value that lives at most GutterTTL there counts: one stored there as a
// stand-in's (store caps them), or a hot key's copy (its lease is shorter).
// An item that never expires or lives longer is n's own: from a time n
// owned the key, or written by a client whose ring was behind; the owner
// took the key's writes since, so it is older than what the owner held.
// It is deleted there, and the read misses.
func (c *Client) getStandIn(n *node, key string) (*Item, error) {
	got, other, err := c.getWithin(n, key, c.cfg.GutterTTL)
	if err == nil && other {
		err = c.deleteOn(n, key)
	}
	if err != nil {
		return nil, err
	}
	if got == nil {
		return nil, ErrCacheMiss
	}
	return got, nil
}

// copyLease is the longest a hot key's copy lives on a replica (the
// servers' lease): its owner refreshes it before then.
const copyLease = 10 * time.Second

// getCopy reads a hot key's copy from n, a node its owner lists. Only an
// item that lives at most copyLease there is its owner's copy: an item that
// lives longer is n's own, from a time n owned the key or written by a
// client whose ring was behind, and the owner's writes do not reach it
// (while the owner's list a client holds is older than a change of the
// ring, n may take the key for its own). The read misses then, and the
// caller reads the owner.
func (c *Client) getCopy(n *node, key string) (*Item, error) {
	got, _, err := c.getWithin(n, key, copyLease)
	if err != nil {
		return nil, err
	}
	if got == nil {
		return nil, ErrCacheMiss
	}
	return got, nil
}

// getWithin reads key from n with its TTL (mg v f t c): the item when it
// lives at most max there; other reports one that lives longer or never
// expires (got is nil then).
func (c *Client) getWithin(n *node, key string, max time.Duration) (got *Item, other bool, err error) {
	err = c.do(n, func(req *proto.Request) {
		keyRequest(req, proto.CmdMetaGet, key, 0, 0)
		for _, f := range []byte("vfct") {
			req.AddFlag(f)
		}
	}, func(rp *proto.Reply) error {
		if rp.Kind == proto.ReplyError {
			return rp.Err()
		}
		if rp.Kind != proto.ReplyMeta {
			return unexpected(rp)
		}
		switch rp.Status {
		case proto.StatusEN:
			return nil
		case proto.StatusVA:
		default:
			return unexpected(rp)
		}
		if ttl, ok := rp.FlagInt('t'); !ok || !within(ttl, max) {
			other = true
			return nil
		}
		f, _ := rp.FlagUint('f')
		cas, _ := rp.FlagUint('c')
		got = &Item{Key: key, Value: append([]byte(nil), rp.Value...), Flags: uint32(f), CAS: cas}
		return nil
	})
	return got, other, err
}

// within reports whether an item with ttl seconds left (-1: none) lives
// at most max.
func within(ttl int64, max time.Duration) bool {
	return ttl >= 0 && ttl <= int64(max/time.Second)
}

// deleteOn deletes key on n; a miss is success.
func (c *Client) deleteOn(n *node, key string) error {
	err := c.do(n, func(req *proto.Request) { keyRequest(req, proto.CmdDelete, key, 0, 0) }, statusResult)
	if errors.Is(err, ErrCacheMiss) {
		return nil
	}
	return err
}

// getFrom reads key from node n.
func (c *Client) getFrom(n *node, key string) (*Item, error) {
	var got *Item
	err := c.do(n, func(req *proto.Request) { getsRequest(req, key) },
		func(rp *proto.Reply) error {
			return valuesResult(rp, func(it *Item) {
				if it.Key == key {
					got = it
				}
			})
		})
	if err != nil {
		return nil, err
	}
	if got == nil {
		return nil, ErrCacheMiss
	}
	return got, nil
}

// GetMulti returns the items found among keys, keyed by key. Keys are
// grouped by node and each node's group is fetched with one request, all
// nodes in parallel. When some nodes fail, the items of the others are
// returned with the first error.
func (c *Client) GetMulti(keys []string) (map[string]*Item, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	st := c.state.Load()
	groups := map[*node][]string{}
	copies := map[string][2]*node{} // hot keys: the node to read a copy from, and the owner
	standIns := map[string]*node{}  // keys of down owners, read from stand-ins (getStandIn)
	for _, k := range keys {
		if !validKey(k) {
			return nil, ErrMalformedKey
		}
		i := st.ring.OwnerString(k)
		if i < 0 {
			return nil, ErrNoNodes
		}
		n := st.nodes[i]
		if n.down.Load() {
			if s := c.standIn(st, k); s != nil {
				standIns[k] = s
				continue
			}
		}
		if r := c.readNode(k, n); r != n {
			copies[k] = [2]*node{r, n}
			continue
		}
		groups[n] = append(groups[n], k)
	}
	out := make(map[string]*Item, len(keys))
	var (
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	found := func(k string, it *Item) {
		mu.Lock()
		out[k] = it
		mu.Unlock()
	}
	// Stand-ins' and copies' keys one by one (getStandIn, getCopy: they
	// check each item's TTL); a copy that misses comes from its owner.
	rest := map[*node][]string{} // under mu
	var wg sync.WaitGroup
	for k, n := range standIns {
		wg.Go(func() {
			it, err := c.getStandIn(n, k)
			switch {
			case err == nil:
				found(k, it)
			case !errors.Is(err, ErrCacheMiss):
				fail(err)
			}
		})
	}
	for k, rn := range copies {
		wg.Go(func() {
			if it, err := c.getCopy(rn[0], k); err == nil {
				found(k, it)
				return
			}
			mu.Lock()
			rest[rn[1]] = append(rest[rn[1]], k)
			mu.Unlock()
		})
	}
	// The owners' keys: one request per node, all in parallel.
	fetch := func(groups map[*node][]string) {
		var wg sync.WaitGroup
		for n, ks := range groups {
			if n.down.Load() {
				fail(fmt.Errorf("%w: %s", ErrNodeDown, n.addr))
				continue
			}
			n.sent.Add(int64(len(ks) - 1)) // do counts one
			wg.Go(func() {
				var items []*Item
				err := c.do(n, func(req *proto.Request) { getsRequest(req, ks...) },
					func(rp *proto.Reply) error {
						return valuesResult(rp, func(it *Item) { items = append(items, it) })
					})
				if err != nil {
					fail(err)
					return
				}
				for _, it := range items {
					found(it.Key, it)
				}
			})
		}
		wg.Wait()
	}
	fetch(groups)
	wg.Wait()
	if len(rest) > 0 {
		fetch(rest)
	}
	return out, firstErr
}

func (c *Client) store(cmd proto.Command, it *Item) error {
	n, gutter, err := c.nodeOrStandIn(it.Key, true)
	if err != nil {
		return err
	}
	if gutter {
		// On a stand-in the value lives at most GutterTTL.
		capped := *it
		max := int32(c.cfg.GutterTTL / time.Second)
		if capped.Expiration == 0 || capped.Expiration > max {
			capped.Expiration = max
		}
		it = &capped
	}
	return c.do(n, func(req *proto.Request) { storeRequest(req, cmd, it) }, statusResult)
}

// Set stores it unconditionally.
func (c *Client) Set(it *Item) error { return c.store(proto.CmdSet, it) }

// Add stores it only if its key is absent; ErrNotStored otherwise.
func (c *Client) Add(it *Item) error { return c.store(proto.CmdAdd, it) }

// Replace stores it only if its key is present; ErrNotStored otherwise.
func (c *Client) Replace(it *Item) error { return c.store(proto.CmdReplace, it) }

// Append appends it.Value to the existing value; ErrNotStored if absent.
func (c *Client) Append(it *Item) error { return c.store(proto.CmdAppend, it) }

// Prepend prepends it.Value to the existing value; ErrNotStored if absent.
func (c *Client) Prepend(it *Item) error { return c.store(proto.CmdPrepend, it) }

// CompareAndSwap stores it only if the item was not changed since it.CAS
// was read: ErrCASConflict if it was, ErrCacheMiss if it is gone.
func (c *Client) CompareAndSwap(it *Item) error { return c.store(proto.CmdCas, it) }

// Delete removes key; ErrCacheMiss if it was absent.
func (c *Client) Delete(key string) error {
	n, err := c.nodeForWrite(key)
	if err != nil {
		return err
	}
	return c.do(n, func(req *proto.Request) { keyRequest(req, proto.CmdDelete, key, 0, 0) }, statusResult)
}

// flushRelayWait is how much longer than Timeout FlushPrefix waits: the
// node answers once every member has applied the flush, or once the ones
// that do not answer have timed out (a second).
const flushRelayWait = 2 * time.Second

// FlushPrefix makes every item stored so far under keys that start with
// prefix a miss, on every node of the cluster (slabcached's flush_prefix;
// prefix must end with the servers' key delimiter, ':' by default). It is
// sent to one node, which relays it to the others and answers when all
// have applied it. A *ServerError names the members that have not yet
// (down or not answering): they get it when they answer again. Stock
// memcached answers ERROR (a *ServerError too).
func (c *Client) FlushPrefix(prefix string) error {
	n, err := c.nodeFor(prefix)
	if err != nil {
		return err
	}
	return c.doWithin(n, c.cfg.Timeout+flushRelayWait, func(req *proto.Request) {
		keyRequest(req, proto.CmdFlushPrefix, prefix, 0, 0)
	}, statusResult)
}

// DeleteEverywhere deletes key on its owner and, before answering, on
// every node of the other regions (`md <key> G`; docs/invalidation.md):
// for data that changed in a database every region caches. ErrCacheMiss
// when the owner did not hold it (the other regions are cleared all the
// same); a *ServerError names the nodes that have not applied it yet (they
// will when they answer again). Without regions it is Delete.
func (c *Client) DeleteEverywhere(key string) error {
	n, err := c.nodeForWrite(key)
	if err != nil {
		return err
	}
	return c.doWithin(n, c.cfg.Timeout+flushRelayWait, func(req *proto.Request) {
		keyRequest(req, proto.CmdMetaDelete, key, 0, 0)
		req.AddFlag('G')
	}, func(rp *proto.Reply) error {
		switch {
		case rp.Kind == proto.ReplyMeta && rp.Status == proto.StatusHD:
			return nil
		case rp.Kind == proto.ReplyMeta && rp.Status == proto.StatusNF:
			return ErrCacheMiss
		case rp.Kind == proto.ReplyError:
			return rp.Err()
		}
		return unexpected(rp)
	})
}

// Touch sets key's expiration; ErrCacheMiss if absent.
func (c *Client) Touch(key string, exp int32) error {
	n, err := c.nodeForWrite(key)
	if err != nil {
		return err
	}
	return c.do(n, func(req *proto.Request) { keyRequest(req, proto.CmdTouch, key, exp, 0) }, statusResult)
}

func (c *Client) arith(cmd proto.Command, key string, delta uint64) (uint64, error) {
	n, err := c.nodeForWrite(key)
	if err != nil {
		return 0, err
	}
	var v uint64
	err = c.do(n, func(req *proto.Request) { keyRequest(req, cmd, key, 0, delta) },
		func(rp *proto.Reply) error {
			var err error
			v, err = arithResult(rp)
			return err
		})
	return v, err
}

// Increment adds delta to the decimal value under key (wrapping at 2^64)
// and returns the new value; ErrCacheMiss if absent.
func (c *Client) Increment(key string, delta uint64) (uint64, error) {
	return c.arith(proto.CmdIncr, key, delta)
}

// Decrement subtracts delta (stopping at 0) and returns the new value.
func (c *Client) Decrement(key string, delta uint64) (uint64, error) {
	return c.arith(proto.CmdDecr, key, delta)
}

// node is one cache node: its address, idle connections and down mark.
type node struct {
	addr string
	idle chan *conn
	down atomic.Bool
	// sent counts the keys this client asked of the node lately (halved
	// at every poll): the load hot-key reads are balanced by.
	sent atomic.Int64
	// standMu is held shared by a write that goes to a stand-in from the
	// choice to the note of its key, and exclusively to mark the node up,
	// so that every such write is noted before the node serves again.
	standMu sync.RWMutex
	// written holds the keys written on stand-ins while the node was down,
	// deleted on it before it serves again (standins.go); full past
	// maxStandInKeys: a flush_all instead. Nil until the first.
	notesMu sync.Mutex
	written *keynotes.Set
	// onStandIns holds the same keys by the stand-in they were written
	// on: once the node serves again they are deleted there too
	// (standins.go).
	onStandIns map[*node]*keynotes.Set
}

func newNode(addr string, maxIdle int) *node {
	return &node{addr: addr, idle: make(chan *conn, maxIdle)}
}

type conn struct {
	nc  net.Conn
	rd  *proto.Reader
	rp  proto.Reply
	req proto.Request
	buf []byte
}

func (cn *conn) setDeadline(d time.Duration) { _ = cn.nc.SetDeadline(time.Now().Add(d)) }

func (n *node) dial(d dialer) (*conn, error) {
	nc, err := d.dial(n.addr)
	if err != nil {
		return nil, err
	}
	return &conn{nc: nc, rd: proto.NewReader(nc)}, nil
}

func (n *node) get(d dialer) (*conn, error) {
	select {
	case cn := <-n.idle:
		return cn, nil
	default:
		return n.dial(d)
	}
}

func (n *node) put(cn *conn) {
	if cap(cn.buf) > 1<<20 {
		cn.buf = nil // do not keep a huge request buffer
	}
	select {
	case n.idle <- cn:
	default:
		cn.nc.Close()
	}
}

func (n *node) markDown() {
	if !n.down.Swap(true) {
		n.closeIdle()
	}
}

func (n *node) closeIdle() {
	for {
		select {
		case cn := <-n.idle:
			cn.nc.Close()
		default:
			return
		}
	}
}

// dialer connects to nodes: in the clear, or with TLS when tls is set.
type dialer struct {
	timeout time.Duration
	tls     *tls.Config
}

func (c *Config) dialer() dialer { return dialer{timeout: c.DialTimeout, tls: c.TLS} }

func (d dialer) dial(addr string) (net.Conn, error) {
	nd := &net.Dialer{Timeout: d.timeout}
	if d.tls != nil {
		return tls.DialWithDialer(nd, "tcp", addr, d.tls)
	}
	return nd.Dial("tcp", addr)
}
