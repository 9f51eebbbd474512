package server

import (
	"errors"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/slabcache/slabcache/cluster/peers"
	"github.com/slabcache/slabcache/internal/clock"
	"github.com/slabcache/slabcache/lru"
	"github.com/slabcache/slabcache/proto"
)

// Hot-key replication (docs/hotkeys.md). When a key this node owns turns
// hot, the node copies it to HotKeyReplicas-1 other nodes (ring.Spread)
// with a lease (a TTL of at most replicaLease, never beyond the item's own),
// and refreshes the copies every half lease while the key stays hot. A
// write to a replicated key is applied here, then every copy is updated to
// the key's new state (the new value, or deleted), and only then does the
// client get its reply: the connection is parked (conn.park) while a
// goroutine pushes, so no client that saw STORED or DELETED can read the
// older value from a replica afterwards, and the copies stay warm under
// writes. Pushes of one key are serialized and each reads the key when it
// runs, so a slow push never lands after a newer one. A replica that does
// not answer within the peer timeout is dropped from the key's replica set
// (its copy runs out with its lease); that is counted and logged.

// Peers is what replication needs from the cluster (cluster.Node).
type Peers interface {
	// Replicas returns the memcached addresses of the nodes that serve key
	// on count nodes, the owner first, and this node's index among them
	// (-1 when it is none of them).
	Replicas(key []byte, count int) (addrs []string, self int)
	// Others returns the addresses of the other members of every region:
	// alive, and down (failed, may come back). Namespace flushes are
	// relayed to them.
	Others() (alive, down []string)
	// Remote is Others for the members of other regions only: deletes
	// that must reach every region are relayed to them.
	Remote() (alive, down []string)
	// Departed returns the members that left lately and may still serve
	// while they drain: namespace flushes are sent to them where they
	// answer.
	Departed() []string
	// Region returns this node's region ("" for none).
	Region() string
	// Self returns this node's memcached address, as Replicas names it.
	Self() string
	// Returns counts, by member address, the times each member came back
	// after this node saw it fail or leave: such a member is sent the
	// recent invalidations it may have missed.
	Returns() map[string]uint64
}

// replicaLease bounds the life of a copy that is no longer refreshed.
const replicaLease = 10 * time.Second

// maxReplicated bounds the hot keys one owner copies at a time, and
// copyShare the bytes of their copies, as a share of the owner's memory
// limit (-m / copyShare): so the copies from one owner take at most that
// much on any other node (docs/hotkeys.md).
const (
	maxReplicated = 64
	copyShare     = 64
)

type replicator struct {
	s     *Server
	peers atomic.Pointer[peersBox]
	pool  peers.Pool

	// keys: the hot keys this node owns and copies. The map is never
	// changed once stored: hot-set changes (rare) copy it under mu, so
	// writes look a key up without a lock.
	mu    sync.Mutex
	keys  atomic.Pointer[map[string]*repKey]
	epoch atomic.Uint64 // bumps when keys or a replica set changes (config get hotkeys)
	// ring counts the ring's changes (ringChanged): a key's replica set
	// is placed again at its first push after one.
	ring atomic.Uint64

	pushes, failures, bytes atomic.Uint64
	refused                 atomic.Uint64 // copies refused here (copyRefused)
	held                    atomic.Int64  // bytes of the current copies of all keys (each copy counted once)

	// remote: reads per second of each replicated key on its replicas, as
	// they last reported them (pollRemote), for keys every replica of
	// which answered. reportFailures counts the asks that failed;
	// unanswered (by address) logs a failing replica once until it
	// answers again. pollMu serializes polls.
	remote         atomic.Pointer[map[string]float64]
	reportFailures atomic.Uint64
	pollMu         sync.Mutex
	unanswered     map[string]bool

	stop chan struct{}
	done chan struct{}
}

type peersBox struct{ p Peers }

// peersAs returns the cluster as T, what one part of the server needs
// from it (cluster.Node has it all): false with no cluster, or one without
// T.
func peersAs[T any](s *Server) (T, bool) {
	if b := s.rep.peers.Load(); b != nil {
		t, ok := b.p.(T)
		return t, ok
	}
	var none T
	return none, false
}

// repKey is one replicated key. mu orders its copies and invalidations: a
// refresh that read the old value finishes before an invalidation starts.
type repKey struct {
	mu       sync.Mutex
	size     int64    // bytes of its current copy (key and value), in held
	owner    string   // this node's address, as the ring names it
	replicas []string // the other nodes holding a copy (mu)
	// refused: the replicas that refused the last copy (their ring gives
	// the key to another node, copyRefused): still sent the next one,
	// but not named to clients, who would read there whatever that
	// other node copies (mu).
	refused []string
	ring    uint64 // replicator.ring when replicas were placed (mu)
	// retiring: the key is no longer to be copied, its copies are being
	// deleted (retire); closed: they are, and no push runs for it (mu).
	retiring atomic.Bool
	closed   bool
	buf      []byte
	// shown: a copy of replicas for readers on event loops, which must
	// not wait for mu (held across network calls).
	shown atomic.Pointer[[]string]
}

func (rk *repKey) publish() {
	s := slices.DeleteFunc(slices.Clone(rk.replicas), func(a string) bool { return slices.Contains(rk.refused, a) })
	rk.shown.Store(&s)
}

// errCopyRefused: a replica refused a copy (copyRefused); forEach keeps it
// among the replicas but does not name it to clients.
var errCopyRefused = errors.New("copy refused")

func (r *replicator) init(s *Server) {
	r.s = s
	r.keys.Store(&map[string]*repKey{})
	r.pool = peers.Pool{Timeout: 250 * time.Millisecond, DialTimeout: 250 * time.Millisecond, Auth: s.peerCredentials, TLS: s.MemberTLS,
		Self: func() string {
			if b := r.peers.Load(); b != nil && b.p != nil {
				return b.p.Self()
			}
			return ""
		}}
}

// SetPeers turns replication of hot keys on (nil turns it off). cmd calls
// it with the cluster node once clustering runs.
func (s *Server) SetPeers(p Peers) {
	s.rep.peers.Store(&peersBox{p})
	s.refreshAway()
	s.refreshWarm()
	s.startRestoreCheck()
}

func (r *replicator) start() {
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		every(r.stop, replicaLease/2, func() {
			for k := range *r.keys.Load() {
				r.push(k)
			}
		})
	})
	wg.Go(func() { every(r.stop, time.Duration(max(r.s.set.HotKeyWindow, 1))*time.Second, r.pollRemote) })
	go func() {
		wg.Wait()
		close(r.done)
	}()
}

// pollRemote asks every node holding copies of this node's hot keys how
// often it reads them (`cluster hotreads`), once a hot-key window: clients
// spread a hot key's reads unevenly (to the nodes they load least), so its
// owner cannot tell its total from its own share.
func (r *replicator) pollRemote() {
	r.pollMu.Lock()
	defer r.pollMu.Unlock()
	keys := *r.keys.Load()
	byAddr := map[string][]string{}
	for k, rk := range keys {
		for _, a := range *rk.shown.Load() {
			byAddr[a] = append(byAddr[a], k)
		}
	}
	got := map[string]map[string]float64{} // addr -> key -> reads/s
	for addr, ks := range byAddr {
		m, err := r.pool.HotReads(addr, ks)
		got[addr] = m
		if err == nil {
			delete(r.unanswered, addr)
			continue
		}
		// Its keys that went unreported: the owner scales its own reads.
		r.reportFailures.Add(1)
		if !r.unanswered[addr] {
			r.s.log.Warn("hot key replica did not report the reads of its copies", zap.String("replica", addr), zap.Error(err))
			if r.unanswered == nil {
				r.unanswered = map[string]bool{}
			}
			r.unanswered[addr] = true
		}
	}
	remote := map[string]float64{}
	for k, rk := range keys {
		sum, all := 0.0, true
		for _, a := range *rk.shown.Load() {
			v, ok := got[a][k]
			sum, all = sum+v, all && ok
		}
		if all {
			remote[k] = sum
		}
	}
	r.remote.Store(&remote)
}

// remoteReads is the hot-key detector's Config.Remote: the reads per
// second of key on its replicas, when every one of them reported.
func (r *replicator) remoteReads(key string) (float64, bool) {
	p := r.remote.Load()
	if p == nil {
		return 0, false
	}
	v, ok := (*p)[key]
	return v, ok
}

func (r *replicator) close() {
	if r.stop != nil {
		close(r.stop)
		<-r.done
		r.stop = nil
	}
	r.pool.Close()
}

// hot is told of hot-set changes (from the detector's goroutine).
func (r *replicator) hot(key string, hot bool) {
	b := r.peers.Load()
	if b == nil || b.p == nil {
		return
	}
	if !hot {
		if rk := r.lookup(key); rk != nil && !rk.retiring.Swap(true) {
			go func() {
				rk.mu.Lock()
				defer rk.mu.Unlock()
				r.retire(key, rk, "")
			}()
		}
		return
	}
	ring := r.ring.Load()
	addrs, self := b.p.Replicas([]byte(key), r.s.set.hotKeyCopies())
	if self != 0 || len(addrs) < 2 {
		return // not the owner, or nobody to copy to
	}
	rk := &repKey{owner: addrs[0], replicas: append([]string(nil), addrs[1:]...), ring: ring}
	rk.publish()
	r.update(func(keys map[string]*repKey) bool {
		if old, ok := keys[key]; ok && !old.retiring.Load() || !ok && len(keys) >= maxReplicated {
			return false
		}
		keys[key] = rk // (replacing one being retired)
		return true
	})
	// Not on the detector's goroutine: a slow replica must not hold up
	// the next window.
	go r.push(key)
}

// update applies change to a copy of the key set and stores it when change
// reports a change.
func (r *replicator) update(change func(keys map[string]*repKey) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := maps.Clone(*r.keys.Load())
	if change(keys) {
		r.keys.Store(&keys)
		r.epoch.Add(1)
	}
}

// retire stops copying key (rk): its copies are deleted first, while
// writes to it still wait for its pushes, which then find it closed; so no
// client that has its reply to a write can read an older copy, even
// through a list of hot keys read before. A node that does not answer the
// delete keeps its copy until the lease runs out (a failed member serves
// nothing). The copy of keep (the key's new owner, or "") stays: it is
// the key's value there now. rk.mu held.
func (r *replicator) retire(key string, rk *repKey, keep string) {
	if rk.closed {
		return
	}
	rk.retiring.Store(true)
	r.deleteCopies(key, slices.DeleteFunc(slices.Clone(rk.replicas), func(a string) bool { return a == keep }))
	rk.closed = true
	r.update(func(keys map[string]*repKey) bool {
		if keys[key] != rk {
			return false // replaced: the key turned hot again meanwhile
		}
		delete(keys, key)
		return true
	})
	r.release(rk)
}

// ringChanged places the replica sets again for the ring that changed:
// each key's next push, started now, deletes the copies of the nodes no
// longer among its replicas, or all but the new owner's when this node
// no longer owns it (place); and the keys hot here that this node owns
// now and does not copy yet are copied.
func (r *replicator) ringChanged() {
	r.ring.Add(1)
	keys := *r.keys.Load()
	for k := range keys {
		go r.push(k)
	}
	if r.s.hot == nil {
		return
	}
	for _, k := range r.s.hot.Hot() {
		if _, ok := keys[k.Key]; !ok {
			r.hot(k.Key, true)
		}
	}
}

// place brings rk's replica set in line with the ring when the ring has
// changed since it was placed, and reports whether this node still
// copies key. A node that is no longer among the replicas has its copy
// deleted; when this node no longer owns the key, every copy but the new
// owner's is deleted and the key is no longer copied here (its new owner
// copies it if it stays hot there). Until then a client writing to the
// new owner could read the older value from a copy this node made.
// rk.mu held.
func (r *replicator) place(key string, rk *repKey) bool {
	ring := r.ring.Load()
	b := r.peers.Load()
	if rk.ring == ring || b == nil || b.p == nil {
		return true
	}
	rk.ring = ring
	addrs, self := b.p.Replicas([]byte(key), r.s.set.hotKeyCopies())
	if self != 0 || len(addrs) < 2 {
		keep := "" // the new owner
		if len(addrs) > 0 {
			keep = addrs[0]
		}
		r.retire(key, rk, keep)
		return false
	}
	want := addrs[1:]
	if slices.Equal(want, rk.replicas) {
		return true
	}
	var gone []string
	for _, a := range rk.replicas {
		if !slices.Contains(want, a) {
			gone = append(gone, a)
		}
	}
	r.deleteCopies(key, gone)
	rk.replicas = append([]string(nil), want...)
	rk.refused = slices.DeleteFunc(rk.refused, func(a string) bool { return !slices.Contains(want, a) })
	rk.publish()
	r.epoch.Add(1)
	return true
}

// release stops counting rk's copy in held (rk.mu held).
func (r *replicator) release(rk *repKey) {
	r.held.Add(-rk.size)
	rk.size = 0
}

// lookup returns the state of a copied key, or nil.
func (r *replicator) lookup(key string) *repKey { return (*r.keys.Load())[key] }

// replicasOf returns the copies of key (nil when it is not replicated).
func (r *replicator) replicasOf(key string) []string {
	if rk := r.lookup(key); rk != nil {
		return *rk.shown.Load()
	}
	return nil
}

// appendConfig is the reply to `config get hotkeys`, framed as `config get
// cluster`: a version line (it changes whenever the set or a replica set
// does), then one line per hot key this node owns and copies: the key and
// the addresses serving it, this node first.
func (r *replicator) appendConfig(dst []byte) []byte {
	data := strconv.AppendUint(nil, r.epoch.Load(), 10)
	data = append(data, '\n')
	set := *r.keys.Load()
	for _, k := range slices.Sorted(maps.Keys(set)) {
		rk := set[k]
		data = append(data, k...)
		data = append(data, ' ')
		data = append(data, rk.owner...)
		for _, a := range *rk.shown.Load() {
			data = append(data, ' ')
			data = append(data, a...)
		}
		data = append(data, '\n')
	}
	return proto.AppendConfig(dst, "hotkeys", data)
}

// has reports whether key is copied: one atomic load, and a map lookup
// only while some key is.
func (r *replicator) has(key []byte) bool {
	keys := *r.keys.Load()
	if len(keys) == 0 {
		return false
	}
	_, ok := keys[string(key)]
	return ok
}

// copyHit captures an item for a copy.
type copyHit struct {
	buf   []byte
	flags uint32
	cas   uint64
	ttl   int64
}

func (h *copyHit) Hit(it *lru.Item) {
	h.buf = it.AppendValue(h.buf[:0])
	h.flags = it.Flags
	h.cas = it.CAS
	h.ttl = it.TTL()
}

// push copies key's current state to its replicas: its value, flags, CAS
// and a lease, or a delete when it is gone.
func (r *replicator) push(key string) {
	rk := r.lookup(key)
	if rk == nil {
		return
	}
	rk.mu.Lock()
	defer rk.mu.Unlock()
	if rk.closed || !r.place(key, rk) {
		return
	}
	h := copyHit{buf: rk.buf}
	o := r.s.store.Get([]byte(key), &lru.GetArgs{NoBump: true}, &h)
	rk.buf = h.buf
	size := int64(0)
	if o.Result == lru.Found {
		size = int64(len(key) + len(h.buf))
	}
	if grow := size - rk.size; grow > 0 && r.held.Load()+grow > r.s.set.MaxBytes/copyShare {
		// The copies would pass their share of memory: this key is
		// served by its owner alone.
		r.retire(key, rk, "")
		r.s.log.Info("hot key not copied: its copies would pass their memory share",
			zap.String("key", key), zap.Int64("bytes", size), zap.Int64("share", r.s.set.MaxBytes/copyShare))
		return
	}
	r.held.Add(size - rk.size)
	rk.size = size
	ttl := int64(replicaLease / time.Second)
	if h.ttl >= 0 && h.ttl < ttl {
		ttl = h.ttl
	}
	if o.Result != lru.Found || ttl <= 0 { // gone, or expiring within the second: no copy outlives it
		r.forEach(key, rk, false, func(addr string) error { return r.pool.Delete(addr, []byte(key)) })
		return
	}
	r.forEach(key, rk, true, func(addr string) error {
		err := r.pool.Set(addr, []byte(key), h.flags, int32(ttl), h.cas, h.buf)
		if errors.Is(err, peers.ErrRefused) {
			return errCopyRefused // it does not see this node as the owner yet
		}
		if err == nil {
			r.pushes.Add(1)
			r.bytes.Add(uint64(len(h.buf)))
		}
		return err
	})
}

// copyRefused reports whether a copy of a hot key that the member at
// c.peerAddr sends must be refused: on this node's ring another node owns
// the key. The member's ring and this one differ while a change spreads,
// or right after a partition heals, when a member cut off still takes
// itself for the owner of keys written on the others meanwhile; its copy
// would overwrite the owner's newer value, or be served from here to
// clients that follow the owner's list of hot keys. What this node holds
// of the key is deleted with the refusal, even when it owns the key: which
// of the two rings is behind cannot be told here. When this node's is,
// its item (a client's write from when it owned the key, or a copy) is
// older than what the sender, the owner by now, holds; when the sender's
// is (a partition just healed, or the change has not reached it), the
// sender took writes of the key lately from clients whose ring is behind
// too, and this node's item may be the older. A read here misses (or,
// the key having just moved here, fetches it from its previous owner)
// rather than return an older value.
func (c *conn) copyRefused(key []byte) bool {
	b := c.s.rep.peers.Load()
	if b == nil || b.p == nil {
		return false
	}
	addrs, _ := b.p.Replicas(key, 1)
	if len(addrs) == 0 || addrs[0] == c.peerAddr {
		return false
	}
	c.s.store.Delete(key, nil)
	c.s.rep.refused.Add(1)
	return true
}

// deleteCopies deletes key on the nodes at addrs, which no longer hold
// a copy of it for this node, in parallel. One that does not answer is
// gone (a failed member) or cut off, where its copy ends with its lease.
func (r *replicator) deleteCopies(key string, addrs []string) {
	var wg sync.WaitGroup
	for _, addr := range addrs {
		wg.Go(func() {
			if err := r.pool.Delete(addr, []byte(key)); err != nil {
				r.s.log.Debug("hot key copy not deleted", zap.String("key", key), zap.String("node", addr), zap.Error(err))
			}
		})
	}
	wg.Wait()
}

// forEach runs op against every replica of rk in parallel (rk.mu held) and
// drops those that fail; with copying (op stores a copy), it notes which
// refused it and which took it (rk.refused).
func (r *replicator) forEach(key string, rk *repKey, copying bool, op func(addr string) error) {
	errs := make([]error, len(rk.replicas))
	var wg sync.WaitGroup
	for i, addr := range rk.replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = op(addr)
		}()
	}
	wg.Wait()
	kept := rk.replicas[:0]
	var refused []string
	for i, addr := range rk.replicas {
		switch {
		case errs[i] == nil:
			kept = append(kept, addr)
			if !copying && slices.Contains(rk.refused, addr) {
				refused = append(refused, addr) // a delete does not say it takes copies now
			}
		case errors.Is(errs[i], errCopyRefused):
			kept = append(kept, addr)
			refused = append(refused, addr)
		default:
			r.failures.Add(1)
			r.epoch.Add(1)
			r.s.log.Warn("hot key replica dropped", zap.String("key", key), zap.String("replica", addr), zap.Error(errs[i]))
		}
	}
	shown := !slices.Equal(refused, rk.refused) // named to clients or no longer
	if shown {
		r.epoch.Add(1)
	}
	if shown || len(kept) != len(rk.replicas) {
		rk.replicas, rk.refused = kept, refused
		rk.publish()
	}
}

// replicatedWrite reports whether request r changes a key that has
// copies so that they must follow before it is answered: a write, or a
// touch (gat, gats, mg T) that leaves the item less time than a copy's
// lease (the copies would outlive it; with more time they run out
// first).
func (c *conn) replicatedWrite(r *proto.Request) bool {
	switch {
	case isWrite(r.Command):
		return c.s.rep.has(r.Key)
	case r.Command == proto.CmdGat || r.Command == proto.CmdGats:
		for _, k := range r.Keys {
			if c.s.rep.has(k) {
				return c.s.shortensCopies(int64(r.Exptime))
			}
		}
	case r.Command == proto.CmdMetaGet && r.HasFlag('T'):
		return c.s.rep.has(r.Key) && c.s.shortensCopies(int64(r.Exptime))
	}
	return false
}

// copiedKeys returns the keys whose copies must follow request r before
// it is answered (replicatedWrite), nil for none: for a read a test of
// its command, for a write to a key not copied one atomic load.
func (c *conn) copiedKeys(r *proto.Request) [][]byte {
	if !c.replicatedWrite(r) {
		return nil
	}
	if r.Command != proto.CmdGat && r.Command != proto.CmdGats {
		return [][]byte{r.Key}
	}
	var keys [][]byte
	for _, k := range r.Keys {
		if c.s.rep.has(k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// replicatedBinWrite is replicatedWrite for the binary protocol (a
// touch: GAT, GATK).
func (c *conn) replicatedBinWrite(r *proto.BinRequest) bool {
	switch base := r.Base(); {
	case isBinWrite(base):
		return c.s.rep.has(r.Key)
	case base == proto.BinOpGAT || base == proto.BinOpGATK:
		return c.s.rep.has(r.Key) && c.s.shortensCopies(int64(r.Exptime))
	}
	return false
}

// shortensCopies reports whether a touch to the protocol expiry exptime
// leaves an item less time than a copy's lease.
func (s *Server) shortensCopies(exptime int64) bool {
	d := clock.Expiry(s.clk, exptime)
	return d != 0 && d < s.clk.Now()+uint32(replicaLease/time.Second)
}

// sendAfterPush updates the copies of keys, then sends the reply
// datagrams to sender to from socket fd (UDP: no connection to park, so
// the replies wait here).
func (r *replicator) sendAfterPush(fd int, to unix.Sockaddr, keys []string, datagrams [][]byte) {
	go func() {
		for _, k := range keys {
			r.push(k)
		}
		if to == nil {
			return
		}
		for _, d := range datagrams {
			_ = unix.Sendto(fd, d, 0, to)
		}
	}()
}

// udpHold, for a datagram, notes keys for a push before the datagram's
// replies are sent (serveDatagram) and returns true; for a connection it
// returns false (the connection parks instead).
func (c *conn) udpHold(keys [][]byte) bool {
	if c.udp == nil {
		return false
	}
	for _, k := range keys {
		c.udp.push = append(c.udp.push, string(k))
	}
	return true
}

// park holds the replies from mark on (a write to a replicated key) and
// stops the connection until every copy of keys has the new state; then
// the loop is woken, writes them and goes on with the input (onTraffic).
func (c *conn) park(keys [][]byte, mark int) {
	c.held = append(c.held[:0], c.out[mark:]...)
	c.out = c.out[:mark]
	ks, r := make([]string, len(keys)), &c.s.rep
	for i, k := range keys {
		ks[i] = string(k)
	}
	c.parkWith(func() {
		for _, k := range ks {
			r.push(k)
		}
	})
}

// parkWith stops the connection while fn runs on a goroutine; then the
// loop is woken, writes the held replies and goes on with the input.
func (c *conn) parkWith(fn func()) {
	c.parked = true
	c.parkDone.Store(false)
	gc := c.gc
	go func() {
		fn()
		c.parkDone.Store(true)
		if gc != nil {
			gc.Wake(nil)
		}
	}()
}
