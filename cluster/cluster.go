// Package cluster is what the server calls to be cluster-aware. It wires
// membership (serf gossip, cluster/membership) to discovery (the versioned
// member table and its `config get cluster` and `cluster members` replies,
// cluster/discovery) and rewrites the mcrouter and twemproxy config files
// on every membership change.
//
// The subpackages: ring (key placement: ketama, Ch3, jump), membership,
// discovery, and client (a Go client that routes keys by the ring and
// follows membership by polling `config get cluster`).
//
// cluster and its subpackages must not import lru or server; they may
// import proto and internal. A server uses it like this:
//
//	node, err := cluster.Start(cfg)        // at start-up
//	if reply, ok := node.AppendReply(out, req.Command, req.Args()); ok { ... } // admin commands
//	node.Leave()                          // on SIGTERM
package cluster

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/slabcache/slabcache/cluster/discovery"
	"github.com/slabcache/slabcache/cluster/membership"
	"github.com/slabcache/slabcache/cluster/ring"
	"github.com/slabcache/slabcache/proto"
)

// Config configures a node's cluster features.
type Config struct {
	// Membership configures gossip; Membership.Enabled turns clustering
	// on. Membership.MemcachedAddr is required even when clustering is
	// off: discovery answers with it. Membership.OnChange, if set, is
	// called after the table and files are updated (same rules as in
	// membership.Config).
	Membership membership.Config
	// Files says where to write the mcrouter and twemproxy configs on
	// every membership change. Default: no files.
	Files discovery.ProxyFiles
	// Placement is how keys are placed on the members: the ring the node
	// uses for ownership (warm-up, hot-key copies) and advertises to
	// clients with `config get placement`. Default ring.KindKetama.
	Placement ring.Kind
}

// DefaultConfig returns membership.DefaultConfig and no files.
func DefaultConfig() Config {
	return Config{Membership: membership.DefaultConfig()}
}

// Node is a running node's cluster state. Its methods are safe for
// concurrent use; the Append methods never block and do not allocate when
// dst has room.
type Node struct {
	mem       *membership.Membership
	table     *discovery.Table // set once Start has the first member list
	ready     atomic.Bool      // table is set
	files     discovery.ProxyFiles
	log       *zap.Logger
	kind      ring.Kind // Config.Placement
	kindReply []byte    // the reply to `config get placement`

	onRing   atomic.Pointer[func()]             // called after each change of the ring (OnRingChange)
	changing atomic.Pointer[func()]             // called just before (OnRingChanging)
	self     string                             // this node's memcached address
	region   string                             // this node's region: the table and ring hold its members only
	all      atomic.Pointer[[]discovery.Member] // every member, all regions (Others)
	every    *discovery.Table                   // every member, all regions (`cluster members`)

	retMu   sync.Mutex
	status  map[string]discovery.Status // by address, as last seen
	left    map[string]time.Time        // by address: when a member was first seen leaving or left (AwayOwner)
	returns map[string]uint64           // by address: times the member came back (Returns)
	rings   atomic.Pointer[placement]   // the ring of the current view (Replicas, PreviousOwner)
	ringMu  sync.Mutex                  // serializes placeRing
	absent  map[string]*absence         // by address: the last time each member was away (Absence; ringMu)
	eras    []ringEra                   // the rings of the last AwayLeftFor, oldest first, the current last (gainedLocked; ringMu)
	// returning is the ring GaveUp's tests judge by once set
	// (JudgeGaveUpOnReturn): this node's, back.
	returning atomic.Pointer[ring.Ring]

	write chan struct{} // capacity 1: files are stale
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

// Start starts membership, fills the discovery table and writes the proxy
// config files once (an error writing them is returned: a wrong path shows
// at start-up). Later writes happen in the background on each change;
// their errors are logged.
func Start(cfg Config) (*Node, error) {
	if _, err := ring.New(cfg.Placement, nil); err != nil {
		return nil, err
	}
	n := &Node{
		kind:      cfg.Placement,
		kindReply: discovery.AppendConfigPlacement(nil, cfg.Placement.String()),
		self:      cfg.Membership.MemcachedAddr,
		region:    cfg.Membership.Region,
		files:     cfg.Files,
		log:       cfg.Membership.Logger,
		write:     make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	if n.log == nil {
		n.log = zap.NewNop()
	}
	n.log = n.log.Named("cluster")
	user := cfg.Membership.OnChange
	mcfg := cfg.Membership
	mcfg.OnChange = func(ms []discovery.Member) {
		if !n.ready.Load() {
			// Start builds the table from a fresher list, then re-reads.
			if user != nil {
				user(ms)
			}
			return
		}
		n.all.Store(&ms)
		n.noteReturns(ms)
		n.every.Update(ms)
		if n.table.Update(n.inRegion(ms)) {
			n.placeRing()
			n.log.Info("membership changed", zap.Uint64("version", n.table.Version()), zap.Int("alive", len(discovery.Alive(ms))), zap.Int("known", len(ms)))
			select {
			case n.write <- struct{}{}:
			default:
			}
		}
		if user != nil {
			user(ms)
		}
	}
	mem, err := membership.New(mcfg)
	if err != nil {
		return nil, err
	}
	n.mem = mem
	ms := mem.Members()
	n.all.Store(&ms)
	n.noteReturns(ms)
	n.table = discovery.NewTable(n.inRegion(ms)) // version 1
	n.every = discovery.NewTable(ms)
	n.ready.Store(true)
	ms = mem.Members()
	n.all.Store(&ms)
	n.every.Update(ms)
	n.table.Update(n.inRegion(ms)) // changes that raced with the above
	n.placeRing()
	if err := n.files.Write(n.table.View().Members); err != nil {
		mem.Close()
		return nil, err
	}
	n.wg.Add(1)
	go n.writer()
	return n, nil
}

func (n *Node) writer() {
	defer n.wg.Done()
	for {
		select {
		case <-n.write:
			if err := n.files.Write(n.table.View().Members); err != nil {
				n.log.Error("writing proxy configs", zap.Error(err))
			}
		case <-n.stop:
			return
		}
	}
}

// AppendConfigCluster appends the reply to `config get cluster`.
func (n *Node) AppendConfigCluster(dst []byte) []byte { return n.table.AppendConfigCluster(dst) }

// AppendMembers appends the reply to `cluster members`: every member of
// every region (`config get cluster` lists this node's region only).
func (n *Node) AppendMembers(dst []byte) []byte { return n.every.AppendMembers(dst) }

// AppendConfigPlacement appends the reply to `config get placement`.
func (n *Node) AppendConfigPlacement(dst []byte) []byte { return append(dst, n.kindReply...) }

// AppendReply answers the admin commands this package serves, as proto
// parsed them: `config get cluster` and `config get placement` (CmdConfig)
// and `cluster members` (CmdCluster). It appends the reply and returns true, or returns dst and
// false for other arguments, which the server answers as memcached would.
func (n *Node) AppendReply(dst []byte, cmd proto.Command, args [][]byte) ([]byte, bool) {
	switch {
	case cmd == proto.CmdConfig && len(args) == 2 && string(args[0]) == "get" && string(args[1]) == "cluster":
		return n.AppendConfigCluster(dst), true
	case cmd == proto.CmdConfig && len(args) == 2 && string(args[0]) == "get" && string(args[1]) == "placement":
		return n.AppendConfigPlacement(dst), true
	case cmd == proto.CmdCluster && len(args) == 1 && string(args[0]) == "members":
		return n.AppendMembers(dst), true
	}
	return dst, false
}

// inRegion returns the members of this node's region (all of them when it
// has none): each region is a cluster of its own for clients, proxies and
// key placement.
func (n *Node) inRegion(ms []discovery.Member) []discovery.Member {
	if n.region == "" {
		return ms
	}
	var out []discovery.Member
	for _, m := range ms {
		if m.Region == n.region {
			out = append(out, m)
		}
	}
	return out
}

// Others returns the memcached addresses of the other members of every
// region: alive (alive or leaving) and down (failed; they may come back).
// Members that left are in neither.
func (n *Node) Others() (alive, down []string) {
	return n.others(func(discovery.Member) bool { return true })
}

// Region returns this node's region ("" for none).
func (n *Node) Region() string { return n.region }

// DepartedFor is how long after a member left (gracefully) it counts as
// departed (Departed): long enough for its drain (drain_secs, 10 s by
// default), while it serves clients whose view is behind.
const DepartedFor = time.Minute

// Departed returns the memcached addresses of the members of every
// region that left within DepartedFor: they may still serve while they
// drain, so a namespace flush is sent to them too, where they answer.
func (n *Node) Departed() []string {
	n.retMu.Lock()
	defer n.retMu.Unlock()
	var out []string
	for _, m := range *n.all.Load() {
		if at, ok := n.left[m.Addr]; ok && m.Status == discovery.StatusLeft && m.Addr != n.self && time.Since(at) < DepartedFor {
			out = append(out, m.Addr)
		}
	}
	return out
}

// Self returns this node's memcached address, as the ring names it.
func (n *Node) Self() string { return n.self }

// Remote is Others restricted to the members of other regions (none when
// this node has no region).
func (n *Node) Remote() (alive, down []string) {
	if n.region == "" {
		return nil, nil
	}
	return n.others(func(m discovery.Member) bool { return m.Region != n.region })
}

// others returns the memcached addresses of the other members keep
// accepts: alive (alive or leaving) and down (failed).
func (n *Node) others(keep func(discovery.Member) bool) (alive, down []string) {
	for _, m := range *n.all.Load() {
		if m.Addr == n.self || !keep(m) {
			continue
		}
		switch m.Status {
		case discovery.StatusAlive, discovery.StatusLeaving:
			alive = append(alive, m.Addr)
		case discovery.StatusFailed:
			down = append(down, m.Addr)
		}
	}
	return alive, down
}

// noteReturns counts, for each member, its changes to alive from failed,
// left or leaving.
func (n *Node) noteReturns(ms []discovery.Member) {
	n.retMu.Lock()
	defer n.retMu.Unlock()
	if n.status == nil {
		n.status, n.returns = map[string]discovery.Status{}, map[string]uint64{}
	}
	for _, m := range ms {
		if prev, ok := n.status[m.Addr]; ok && prev != discovery.StatusAlive && m.Status == discovery.StatusAlive {
			n.returns[m.Addr]++
		}
		if leaves(m.Status) && !leaves(n.status[m.Addr]) {
			if n.left == nil {
				n.left = map[string]time.Time{}
			}
			n.left[m.Addr] = time.Now()
		}
		n.status[m.Addr] = m.Status
	}
}

// leaves reports whether st is a graceful leave's (leaving, then left).
func leaves(st discovery.Status) bool {
	return st == discovery.StatusLeaving || st == discovery.StatusLeft
}

// Returns reports, for each member that ever came back (alive again after
// this node saw it fail, however briefly, or leave), how many times it
// did: a member that was cut off, stopped or restarted (warm, with its
// items) may have missed what happened meanwhile.
func (n *Node) Returns() map[string]uint64 {
	n.retMu.Lock()
	defer n.retMu.Unlock()
	out := make(map[string]uint64, len(n.returns))
	for a, c := range n.returns {
		out[a] = c
	}
	return out
}

// View returns the current membership and its version.
func (n *Node) View() discovery.View { return n.table.View() }

// Version returns the discovery version; it increments on every change.
func (n *Node) Version() uint64 { return n.table.Version() }

// Membership returns the underlying membership (Join, GossipAddr, ...).
func (n *Node) Membership() *membership.Membership { return n.mem }

// Leave leaves the cluster gracefully (call it on SIGTERM) and stops.
func (n *Node) Leave() error {
	err := n.mem.Leave()
	n.shutdown()
	return err
}

// Close stops without leaving: the other nodes will see a failure.
func (n *Node) Close() error {
	err := n.mem.Close()
	n.shutdown()
	return err
}

// placement is the ring of one membership version, with the ring before
// it and when it replaced that one (for warm-up, PreviousOwner).
type placement struct {
	version uint64
	ring    ring.Ring
	prev    ring.Ring
	since   time.Time
	// prev2 is the ring before prev, and prevSince when prev replaced it
	// (nil and zero when there was none): GaveUpBefore.
	prev2     ring.Ring
	prevSince time.Time
	// away is the ring of the alive members and those away (failed, or
	// left within AwayLeftFor) when there are some (nil otherwise), and
	// down those away: a key whose owner there is down is written
	// elsewhere while it is away (AwayOwner). awayEnds is when the first
	// member that left drops out of it (zero for none).
	away     ring.Ring
	down     map[string]bool
	awayEnds time.Time
}

// placeRing builds the ring of the current view when its alive members
// changed, keeping the one it replaces.
func (n *Node) placeRing() {
	if n.placeRingLocked() {
		if fn := n.onRing.Load(); fn != nil {
			(*fn)()
		}
	}
}

// placeRingLocked builds the ring and reports whether it changed.
func (n *Node) placeRingLocked() bool {
	n.ringMu.Lock()
	defer n.ringMu.Unlock()
	v := n.table.View()
	nodes := discovery.RingNodes(v.Members)
	old := n.rings.Load()
	if old != nil && slices.Equal(old.ring.Nodes(), nodes) {
		if away, down, ends := n.awayRing(v.Members); !maps.Equal(down, old.down) {
			p := *old
			p.away, p.down, p.awayEnds = away, down, ends
			n.noteAbsencesLocked(old, &p)
			n.rings.Store(&p) // who is away changed, not the ring
		}
		return false
	}
	r, err := ring.New(n.kind, nodes)
	if err != nil {
		return false
	}
	p := &placement{version: v.Version, ring: r, since: time.Now()}
	p.away, p.down, p.awayEnds = n.awayRing(v.Members)
	switch {
	case old == nil || len(old.ring.Nodes()) == 1 && old.ring.Nodes()[0].Addr == n.self:
		// This node is joining: before it, the others held its keys.
		p.prev = n.ringWithout(nodes)
	default:
		p.prev = old.ring
		if old.prev != nil {
			p.prev2, p.prevSince = old.prev, old.since
		}
	}
	if old != nil {
		n.noteAbsencesLocked(old, p)
	}
	n.addEraLocked(r, p.since)
	if fn := n.changing.Load(); fn != nil {
		(*fn)()
	}
	n.rings.Store(p)
	return true
}

// AwayLeftFor is how long after a member starts to leave the keys it would
// own are still noted (AwayOwner): a node restarted warm from its memory file
// (docs/operations.md) comes back within it.
const AwayLeftFor = 10 * time.Minute

// awayRing returns the ring of the members alive or away (failed, or left
// within AwayLeftFor), those away, and when the first of those that left
// drops out; nil, nil and zero when none is away.
func (n *Node) awayRing(ms []discovery.Member) (ring.Ring, map[string]bool, time.Time) {
	n.retMu.Lock()
	defer n.retMu.Unlock()
	var down map[string]bool
	var in []discovery.Member // on the ring: alive, or away counted as alive
	var ends time.Time
	for _, m := range ms {
		if m.Addr == n.self {
			// Leaving, this node is away for the others, not for itself:
			// it notes nothing for itself (nor deletes its keys on
			// itself before its hand-over push).
			m.Status = discovery.StatusAlive
		}
		switch m.Status {
		case discovery.StatusLeaving, discovery.StatusLeft:
			at, ok := n.left[m.Addr]
			if !ok || time.Since(at) >= AwayLeftFor {
				continue
			}
			if e := at.Add(AwayLeftFor); ends.IsZero() || e.Before(ends) {
				ends = e
			}
			fallthrough
		case discovery.StatusFailed:
			if down == nil {
				down = map[string]bool{}
			}
			down[m.Addr] = true
			m.Status = discovery.StatusAlive
			in = append(in, m)
		case discovery.StatusAlive:
			in = append(in, m)
		}
	}
	if down == nil {
		return nil, nil, time.Time{}
	}
	r, err := ring.New(n.kind, discovery.RingNodes(in))
	if err != nil {
		return nil, nil, time.Time{}
	}
	return r, down, ends
}

// Away reports whether some member of this node's region is away (failed,
// or left within AwayLeftFor): it may come back with the items it held,
// and AwayOwner names the keys it would own. The server asks every tick;
// a member that left drops out here AwayLeftFor after it left.
func (n *Node) Away() bool {
	p := n.rings.Load()
	if p != nil && !p.awayEnds.IsZero() && time.Now().After(p.awayEnds) {
		n.ringMu.Lock()
		if p = n.rings.Load(); !p.awayEnds.IsZero() && time.Now().After(p.awayEnds) {
			q := *p
			q.away, q.down, q.awayEnds = n.awayRing(n.table.View().Members)
			n.rings.Store(&q)
			p = &q
		}
		n.ringMu.Unlock()
	}
	return p != nil && p.away != nil
}

// AwayOwner returns, for a key whose owner would be a member that is away
// (Away) were it alive, that member's memcached address. While the member
// is away its keys are read and written on the others; when it comes back
// (a partition heals, a paused process resumes, a node restarts warm) its
// copies of the keys written or deleted meanwhile are stale.
func (n *Node) AwayOwner(key []byte) (string, bool) {
	p := n.rings.Load()
	if p == nil || p.away == nil {
		return "", false
	}
	if o := ownerOf(p.away, key); p.down[o] {
		return o, true
	}
	return "", false
}

// OnRingChange sets fn to be called after each change of the ring, on the
// goroutine that made it (it must not block).
func (n *Node) OnRingChange(fn func()) { n.onRing.Store(&fn) }

// OnRingChanging sets fn to be called just before each change of the ring
// takes effect (it must not block, and must not call the Node): a server
// turns on there the checks its writes make while keys move, so that no
// write falls between the new ring and OnRingChange's call.
func (n *Node) OnRingChanging(fn func()) { n.changing.Store(&fn) }

// RingChanged returns when the ring last changed (zero before any change
// that moved keys to or from this node's view).
func (n *Node) RingChanged() time.Time {
	if p := n.rings.Load(); p != nil && p.prev != nil {
		return p.since
	}
	return time.Time{}
}

// PreviousOwner returns, for a key this node owns since the last change of
// the ring, the memcached address of the node that owned it before, and
// when the change happened. ok is false for a key this node does not own,
// owned already, or when there was no earlier ring.
func (n *Node) PreviousOwner(key []byte) (addr string, since time.Time, ok bool) {
	p := n.rings.Load()
	if p == nil || p.prev == nil {
		return "", time.Time{}, false
	}
	if ownerOf(p.ring, key) != n.self {
		return "", time.Time{}, false
	}
	old := ownerOf(p.prev, key)
	if old == "" || old == n.self {
		return "", time.Time{}, false
	}
	return old, p.since, true
}

// Owns reports whether key is this node's by the current ring (true
// before there is one).
func (n *Node) Owns(key []byte) bool {
	p := n.rings.Load()
	return p == nil || ownerOf(p.ring, key) == n.self
}

// GaveUp returns a test of the keys this node owned before the last change
// of the ring and another node owns when the test runs (the ring may have
// changed again since): the items it holds of them are older than what
// their owner may hold by then. nil before any change.
func (n *Node) GaveUp() func(key []byte) bool {
	p := n.rings.Load()
	if p == nil || p.prev == nil {
		return nil
	}
	prev := p.prev
	return func(key []byte) bool {
		if ownerOf(prev, key) != n.self {
			return false
		}
		if r := n.returning.Load(); r != nil {
			return ownerOf(*r, key) != n.self
		}
		return !n.Owns(key)
	}
}

// JudgeGaveUpOnReturn makes the tests GaveUp returned judge a key by the
// ring this node would come back to (the members alive now, and itself)
// instead of the current one. A node that stops to restart warm drops the
// items of the keys it gave up before it saves its memory file (nothing
// hides them after the restart); by this ring those are the keys it gave
// to others and will not own again, not its own, given up by its going.
func (n *Node) JudgeGaveUpOnReturn() {
	ms := slices.Clone(n.table.View().Members)
	i := slices.IndexFunc(ms, func(m discovery.Member) bool { return m.Addr == n.self })
	if i < 0 {
		ms = append(ms, discovery.Member{Addr: n.self})
		i = len(ms) - 1
	}
	ms[i].Status = discovery.StatusAlive
	if r, err := ring.New(n.kind, discovery.RingNodes(ms)); err == nil {
		n.returning.Store(&r)
	}
}

// GaveUpBefore reports whether key moved away from this node in the ring
// change before the last one, and when that change was.
func (n *Node) GaveUpBefore(key []byte) (time.Time, bool) {
	p := n.rings.Load()
	if p == nil || p.prev2 == nil {
		return time.Time{}, false
	}
	return p.prevSince, ownerOf(p.prev2, key) == n.self && ownerOf(p.prev, key) != n.self
}

// MovedTo returns, for a key this node owned before the last change of
// the ring and another node owns now, that node's memcached address
// (hand-over of hot items after a change).
func (n *Node) MovedTo(key []byte) (addr string, ok bool) {
	p := n.rings.Load()
	if p == nil || p.prev == nil {
		return "", false
	}
	if ownerOf(p.prev, key) != n.self {
		return "", false
	}
	cur := ownerOf(p.ring, key)
	return cur, cur != "" && cur != n.self
}

// Handoff returns, for a node about to leave, where each of its keys goes
// when it is gone: for a key this node owns in the current ring, the owner
// in the same ring without this node (ok false for other keys, or when no
// other node is alive).
func (n *Node) Handoff() func(key []byte) (addr string, ok bool) {
	p := n.rings.Load()
	if p == nil {
		return func([]byte) (string, bool) { return "", false }
	}
	cur, without := p.ring, n.ringWithout(p.ring.Nodes())
	return func(key []byte) (string, bool) {
		if without == nil || ownerOf(cur, key) != n.self {
			return "", false
		}
		to := ownerOf(without, key)
		return to, to != ""
	}
}

// ringWithout returns the ring of nodes without this node, or nil when
// this node is not among them or is the only one.
func (n *Node) ringWithout(nodes []ring.Node) ring.Ring {
	others := slices.DeleteFunc(slices.Clone(nodes), func(x ring.Node) bool { return x.Addr == n.self })
	if len(others) == 0 || len(others) == len(nodes) {
		return nil
	}
	r, err := ring.New(n.kind, others)
	if err != nil {
		return nil
	}
	return r
}

// ownerOf returns the address of key's owner on r ("" for none).
func ownerOf(r ring.Ring, key []byte) string {
	if o := r.Owner(key); o >= 0 {
		return r.Nodes()[o].Addr
	}
	return ""
}

// Replicas returns the memcached addresses of the nodes that serve key
// when it is replicated on count nodes (ring.Spread over the alive
// members, ketama as the Go client and the generated twemproxy pool place
// keys): the owner first. self is this node's index among them, or -1.
func (n *Node) Replicas(key []byte, count int) (addrs []string, self int) {
	p := n.rings.Load()
	if p == nil {
		return nil, -1
	}
	nodes := p.ring.Nodes()
	self = -1
	for i, x := range ring.Spread(p.ring, key, count) {
		addrs = append(addrs, nodes[x].Addr)
		if nodes[x].Addr == n.self {
			self = i
		}
	}
	return addrs, self
}

func (n *Node) shutdown() {
	n.once.Do(func() {
		close(n.stop)
		n.wg.Wait()
	})
}
