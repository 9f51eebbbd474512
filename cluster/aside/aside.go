// Package aside is a cache-aside layer over cluster/client that never
// stampedes the database behind the cache. GetOrLoad reads a key with a
// memcached lease (meta protocol `mg N R`): on a miss exactly one caller,
// across every process and host, wins and runs the loader; the others
// wait briefly for its value or take a stale one. Within a process,
// concurrent callers of one key share one round trip.
//
// On top of that: stale-while-revalidate (a soft TTL after which one
// caller refreshes in the background while everyone is served the current
// value), TTL jitter, negative caching, versioned writes, circuit breakers
// around every cache node and around the loader, an optional in-process
// near cache, optional compression, and Prometheus metrics. It works
// against slabcached and against stock memcached (1.6 or later, which has
// the meta protocol), with discovery or a fixed server list.
//
// Values it stores carry client flags of its own (FlagAside and the bits
// below it), so its entries can be told from a lease's empty placeholder;
// keys it manages should not be written by other clients with other flags
// (they read as misses).
package aside

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/maypok86/otter/v2"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/sync/singleflight"

	"github.com/slabcache/slabcache/cluster/client"
)

// Client flags of stored values.
const (
	// FlagAside marks a value stored by this package.
	FlagAside uint32 = 1 << 31
	// FlagNegative marks a cached "not found" (negative caching).
	FlagNegative uint32 = 1 << 30
	// FlagCompressed marks an s2-compressed value.
	FlagCompressed uint32 = 1 << 29
	// FlagVersioned marks a value written by Set: its CAS is the caller's
	// version.
	FlagVersioned uint32 = 1 << 28
)

// Errors.
var (
	// ErrNotFound: the loader says the key does not exist (a loader
	// returns it, or wraps it); GetOrLoad returns it for cached negatives.
	ErrNotFound = errors.New("aside: not found")
	// ErrLoaderUnavailable: the loader's circuit breaker is open and no
	// stale value was there to serve.
	ErrLoaderUnavailable = errors.New("aside: loader unavailable (circuit open)")
	// ErrOlderVersion: Set found a version at least as new in the cache.
	ErrOlderVersion = errors.New("aside: a newer version is cached")
)

// Loader loads the value of key from the source of truth. It returns
// ErrNotFound (possibly wrapped) when the key does not exist.
type Loader func(ctx context.Context, key string) ([]byte, error)

// Config configures a Cache. Zero values take the defaults.
type Config struct {
	// TTL is how long a loaded value is fresh. Default 5 minutes.
	TTL time.Duration
	// StaleFor is how long after TTL a value may still be served while
	// one caller refreshes it in the background (stale-while-revalidate,
	// memcached's recache window). The cache keeps values TTL+StaleFor.
	// Default 0: no soft window.
	StaleFor time.Duration
	// Jitter spreads every TTL the helper stores by up to this fraction
	// either way, so keys loaded together do not expire together. Default
	// 0.1; negative turns it off.
	Jitter float64
	// NegativeTTL is how long a "not found" is cached. Default 30 s;
	// negative turns negative caching off.
	NegativeTTL time.Duration
	// LockTTL is how long a lease's placeholder lives: a winner that dies
	// blocks others at most this long. Default 10 s.
	LockTTL time.Duration
	// WaitTimeout bounds how long a caller waits for another's load before
	// it runs the loader itself (without storing). Default 2 s.
	WaitTimeout time.Duration
	// AllowStale serves values marked stale (Invalidate) at once while
	// one caller reloads them, instead of waiting for the reload.
	AllowStale bool
	// LoaderTimeout bounds a background refresh. Default 10 s.
	LoaderTimeout time.Duration
	// Retries is how many times a failed cache read is retried (with
	// backoff from 5 ms). Default 1; negative means none.
	Retries int
	// BreakerFailures opens a breaker after this many consecutive
	// failures. Default 5.
	BreakerFailures uint32
	// BreakerOpen is how long an open breaker stays open before it lets
	// one request try. Default 5 s.
	BreakerOpen time.Duration
	// NearCacheBytes turns on the in-process near cache with this many
	// bytes of values. Default 0 (off).
	NearCacheBytes uint64
	// NearTTL is how long a near-cache entry is served without asking the
	// cache. Default 1 s.
	NearTTL time.Duration
	// CompressAbove compresses values of at least this many bytes with s2
	// when that makes them smaller. Default 0 (off).
	CompressAbove int
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.TTL, 5*time.Minute)
	def(&c.NegativeTTL, 30*time.Second)
	def(&c.LockTTL, 10*time.Second)
	def(&c.WaitTimeout, 2*time.Second)
	def(&c.LoaderTimeout, 10*time.Second)
	def(&c.BreakerOpen, 5*time.Second)
	def(&c.NearTTL, time.Second)
	if c.Jitter == 0 {
		c.Jitter = 0.1
	}
	if c.Retries == 0 {
		c.Retries = 1
	}
	if c.BreakerFailures == 0 {
		c.BreakerFailures = 5
	}
	return c
}

// Cache is safe for concurrent use.
type Cache struct {
	cl     *client.Client
	cfg    Config
	flight singleflight.Group
	loader *gobreaker.CircuitBreaker[[]byte]
	near   *otter.Cache[string, nearEntry]

	mu       sync.Mutex
	breakers map[string]*gobreaker.CircuitBreaker[any] // by node address

	// answered holds, per key with a flight under way, a channel closed
	// once the cache has answered that flight's lease read: a caller whose
	// deadline is half gone with no answer goes to the loader (hedge).
	answered sync.Map // string -> chan struct{}

	m metrics
}

type nearEntry struct {
	value []byte
	cas   uint64
}

// New returns a Cache over cl.
func New(cl *client.Client, cfg Config) (*Cache, error) {
	cfg = cfg.withDefaults()
	c := &Cache{cl: cl, cfg: cfg, breakers: map[string]*gobreaker.CircuitBreaker[any]{}}
	c.loader = gobreaker.NewCircuitBreaker[[]byte](c.breakerSettings("loader", func(err error) bool {
		return err == nil || errors.Is(err, ErrNotFound)
	}))
	if cfg.NearCacheBytes > 0 {
		near, err := otter.New(&otter.Options[string, nearEntry]{
			MaximumWeight:    cfg.NearCacheBytes,
			Weigher:          func(k string, e nearEntry) uint32 { return uint32(len(k) + len(e.value) + 64) },
			ExpiryCalculator: otter.ExpiryWriting[string, nearEntry](cfg.NearTTL),
		})
		if err != nil {
			return nil, err
		}
		c.near = near
	}
	return c, nil
}

func (c *Cache) breakerSettings(name string, ok func(error) bool) gobreaker.Settings {
	return gobreaker.Settings{
		Name:         name,
		Timeout:      c.cfg.BreakerOpen,
		ReadyToTrip:  func(n gobreaker.Counts) bool { return n.ConsecutiveFailures >= c.cfg.BreakerFailures },
		IsSuccessful: ok,
	}
}

// nodeBreaker returns the breaker of the node that owns key.
func (c *Cache) nodeBreaker(key string) *gobreaker.CircuitBreaker[any] {
	addr := c.cl.Owner(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.breakers[addr]
	if b == nil {
		b = gobreaker.NewCircuitBreaker[any](c.breakerSettings("node "+addr, nodeAnswered))
		c.breakers[addr] = b
	}
	return b
}

// nodeAnswered reports whether a cache operation's outcome is the node
// answering: success, a miss, a conflict or a refusal.
func nodeAnswered(err error) bool {
	return err == nil || errors.Is(err, client.ErrCacheMiss) || errors.Is(err, client.ErrCASConflict) ||
		errors.Is(err, client.ErrNotStored)
}

// cacheOp runs op against the node owning key through its breaker,
// retrying failures (not misses) with backoff.
func (c *Cache) cacheOp(ctx context.Context, key string, op func() error) error {
	b := c.nodeBreaker(key)
	backoff := 5 * time.Millisecond
	for try := 0; ; try++ {
		_, err := b.Execute(func() (any, error) { return nil, op() })
		if nodeAnswered(err) {
			return err
		}
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) || try >= c.cfg.Retries {
			c.m.cacheErrors.Add(1)
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// ttl returns d jittered, in memcached's seconds (at least 1).
func (c *Cache) ttl(d time.Duration) int32 {
	if c.cfg.Jitter > 0 {
		d += time.Duration((rand.Float64()*2 - 1) * c.cfg.Jitter * float64(d))
	}
	s := int32(d / time.Second)
	return max(s, 1)
}

// encode returns the stored form of value and its flags.
func (c *Cache) encode(value []byte) ([]byte, uint32) {
	if c.cfg.CompressAbove > 0 && len(value) >= c.cfg.CompressAbove {
		if z := s2.Encode(nil, value); len(z) < len(value) {
			c.m.compressed.Add(1)
			return z, FlagAside | FlagCompressed
		}
		c.m.incompressible.Add(1)
	}
	return value, FlagAside
}

// decode returns the value of a stored form.
func decode(v []byte, flags uint32) ([]byte, error) {
	if flags&FlagCompressed != 0 {
		return s2.Decode(nil, v)
	}
	return v, nil
}

// Result says how GetOrLoad got its value.
type Result uint8

// The Results.
const (
	FromNear   Result = iota + 1 // the in-process near cache
	FromCache                    // the cache, fresh
	FromStale                    // the cache, stale (a refresh is under way)
	FromLoader                   // this call's loader (stored for the others)
	FromWait                     // another caller's load, after waiting
	FromBypass                   // the loader, the cache being unavailable or the wait too long
)

var resultNames = [...]string{"", "near", "cache", "stale", "loader", "wait", "bypass"}

func (r Result) String() string { return resultNames[r] }

type got struct {
	value []byte
	res   Result
}

// GetOrLoad returns the value of key: from the near cache, from the cache,
// or from loader, which runs once per key per expiry across all callers
// (see the package doc). The returned slice must not be modified.
func (c *Cache) GetOrLoad(ctx context.Context, key string, loader Loader) ([]byte, error) {
	v, _, err := c.Get(ctx, key, loader)
	return v, err
}

// Get is GetOrLoad that also says where the value came from.
func (c *Cache) Get(ctx context.Context, key string, loader Loader) ([]byte, Result, error) {
	if c.near != nil {
		if e, ok := c.near.GetIfPresent(key); ok {
			c.m.nearHits.Add(1)
			if e.value == nil {
				return nil, FromNear, ErrNotFound
			}
			return e.value, FromNear, nil
		}
	}
	ch := c.flight.DoChan(key, func() (any, error) {
		ans, _ := c.answered.LoadOrStore(key, make(chan struct{}))
		defer c.answered.Delete(key)
		g, err := c.get(context.WithoutCancel(ctx), key, loader, ans.(chan struct{}))
		return g, err
	})
	var hedge <-chan time.Time
	if dl, ok := ctx.Deadline(); ok {
		t := time.NewTimer(time.Until(dl) / 2)
		defer t.Stop()
		hedge = t.C
	}
	for {
		select {
		case r := <-ch:
			if r.Shared {
				c.m.coalesced.Add(1)
			}
			g, _ := r.Val.(got)
			return g.value, g.res, r.Err
		case <-hedge:
			hedge = nil
			ans, ok := c.answered.Load(key)
			if !ok {
				continue // the flight is over: its result is coming
			}
			select {
			case <-ans.(chan struct{}):
				continue // the cache answered: another caller's load is coming
			default:
			}
			// Half the deadline gone and the cache silent: the loader.
			c.m.hedges.Add(1)
			v, err := c.load(ctx, key, loader)
			return v, FromBypass, err
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
}

// get is one round of GetOrLoad for key (singleflight's function).
func (c *Cache) get(ctx context.Context, key string, loader Loader, answered chan struct{}) (got, error) {
	deadline := time.Now().Add(c.cfg.WaitTimeout)
	wait := 2 * time.Millisecond
	for first := true; ; first = false {
		var l *client.Lease
		err := c.cacheOp(ctx, key, func() error {
			var err error
			l, err = c.cl.LeaseGet(key, int32(c.cfg.LockTTL/time.Second), int32(c.cfg.StaleFor/time.Second))
			return err
		})
		if first && err == nil {
			close(answered)
		}
		if err != nil {
			// The cache is unavailable: straight to the loader.
			v, err := c.load(ctx, key, loader)
			return got{v, FromBypass}, err
		}
		ours := l.Hit && l.Flags&FlagAside != 0 // a value this package stored
		switch {
		case ours && !l.Won && !l.AlreadyWon && !l.Stale:
			c.m.hits.Add(1)
			return c.served(key, l, FromCache)
		case ours && l.Won && !l.Stale && l.Flags&FlagNegative != 0:
			// A cached not-found lives NegativeTTL, soft window or not.
			return c.served(key, l, FromCache)
		case ours && l.Won && !l.Stale:
			// Past the soft TTL: serve it, refresh it in the background.
			c.m.staleServed.Add(1)
			go c.refresh(key, loader, l.CAS)
			return c.served(key, l, FromStale)
		case ours && l.Stale && c.cfg.AllowStale:
			c.m.staleServed.Add(1)
			if l.Won {
				go c.refresh(key, loader, l.CAS)
			}
			return c.served(key, l, FromStale)
		case ours && l.AlreadyWon && !l.Stale:
			// In the soft window, someone else refreshes.
			c.m.staleServed.Add(1)
			return c.served(key, l, FromStale)
		case l.Won, l.Hit && !ours && !l.AlreadyWon:
			// A miss (placeholder), a stale value not to be served, or
			// a value some other client stored under our key: this
			// caller loads, for everyone.
			c.m.misses.Add(1)
			v, err := c.load(ctx, key, loader)
			c.store(ctx, key, v, err, l.CAS)
			return got{v, FromLoader}, err
		}
		// Another caller is loading: wait for its value, then load
		// without storing.
		if time.Now().After(deadline) {
			c.m.waitTimeouts.Add(1)
			if ours && l.Stale {
				c.m.staleServed.Add(1)
				return c.served(key, l, FromStale)
			}
			v, err := c.load(ctx, key, loader)
			return got{v, FromBypass}, err
		}
		c.m.waits.Add(1)
		select {
		case <-ctx.Done():
			return got{}, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 10*time.Millisecond)
	}
}

// served turns a lease's value into GetOrLoad's result (and near-cache
// entry).
func (c *Cache) served(key string, l *client.Lease, res Result) (got, error) {
	if l.Flags&FlagNegative != 0 {
		c.m.negativeHits.Add(1)
		c.nearSet(key, nil, l.CAS)
		return got{nil, res}, ErrNotFound
	}
	v, err := decode(l.Value, l.Flags)
	if err != nil {
		return got{}, err
	}
	if res == FromCache {
		c.nearSet(key, v, l.CAS)
	}
	return got{v, res}, nil
}

func (c *Cache) nearSet(key string, v []byte, cas uint64) {
	if c.near == nil {
		return
	}
	if e, ok := c.near.GetIfPresent(key); ok && e.cas == cas {
		return
	}
	c.near.Set(key, nearEntry{value: v, cas: cas})
}

// load runs the loader through its breaker.
func (c *Cache) load(ctx context.Context, key string, loader Loader) ([]byte, error) {
	c.m.loads.Add(1)
	v, err := c.loader.Execute(func() ([]byte, error) { return loader(ctx, key) })
	switch {
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		c.m.loaderRejected.Add(1)
		return nil, ErrLoaderUnavailable
	case err != nil && !errors.Is(err, ErrNotFound):
		c.m.loadErrors.Add(1)
	}
	return v, err
}

// store writes what a won lease loaded: the value, or a negative entry,
// with the lease's CAS, so that a write made meanwhile wins. A loader
// error stores nothing (the placeholder runs out; the stale value, if
// any, stays).
func (c *Cache) store(ctx context.Context, key string, v []byte, lerr error, cas uint64) {
	var it client.Item
	switch {
	case lerr == nil:
		data, flags := c.encode(v)
		it = client.Item{Key: key, Value: data, Flags: flags, Expiration: c.ttl(c.cfg.TTL + c.cfg.StaleFor)}
	case errors.Is(lerr, ErrNotFound) && c.cfg.NegativeTTL > 0:
		it = client.Item{Key: key, Flags: FlagAside | FlagNegative, Expiration: c.ttl(c.cfg.NegativeTTL)}
	default:
		return
	}
	err := c.cacheOp(ctx, key, func() error { return c.cl.SetMeta(&it, client.SetOptions{CompareCAS: cas}) })
	if err == nil {
		c.m.stores.Add(1)
		if lerr == nil {
			c.nearSet(key, v, 0)
		}
	}
}

// refresh reloads key in the background for a caller that won the recache
// of a value it served.
func (c *Cache) refresh(key string, loader Loader, cas uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.LoaderTimeout)
	defer cancel()
	c.m.refreshes.Add(1)
	v, err := c.load(ctx, key, loader)
	c.store(ctx, key, v, err, cas)
}

// Set writes value under key with a caller-supplied version (a row
// version, an update timestamp): stored only if the cached version is
// older, so a slow writer never overwrites a newer value (write-through).
// ErrOlderVersion when a version at least as new is there. A value the
// loader stored has no version: Set replaces it (and a load that raced
// with Set loses: it stores only over its own lease).
func (c *Cache) Set(ctx context.Context, key string, value []byte, version uint64) error {
	if version == 0 {
		return errors.New("aside: version must be positive")
	}
	data, flags := c.encode(value)
	it := client.Item{Key: key, Value: data, Flags: flags | FlagVersioned, Expiration: c.ttl(c.cfg.TTL + c.cfg.StaleFor)}
	for range 8 {
		var l *client.Lease
		err := c.cacheOp(ctx, key, func() error {
			var err error
			l, err = c.cl.LeaseGet(key, 0, 0)
			return err
		})
		if err != nil {
			return err
		}
		o := client.SetOptions{NewCAS: version}
		switch {
		case !l.Hit:
			o.Add = true
		case l.Flags&FlagVersioned != 0 && !l.Stale && l.CAS >= version:
			return ErrOlderVersion
		default:
			o.CompareCAS = l.CAS
		}
		err = c.cacheOp(ctx, key, func() error { return c.cl.SetMeta(&it, o) })
		if errors.Is(err, client.ErrCASConflict) || errors.Is(err, client.ErrNotStored) || errors.Is(err, client.ErrCacheMiss) {
			continue // raced with another writer: look again
		}
		if err == nil {
			c.nearInvalidate(key)
		}
		return err
	}
	return client.ErrCASConflict
}

// Invalidate marks key stale: the next reader wins its reload; with
// AllowStale the others are served the stale value meanwhile. The value
// lives StaleFor more at most (LockTTL when StaleFor is 0).
func (c *Cache) Invalidate(ctx context.Context, key string) error {
	c.nearInvalidate(key)
	keep := c.cfg.StaleFor
	if keep == 0 {
		keep = c.cfg.LockTTL
	}
	err := c.cacheOp(ctx, key, func() error { return c.cl.MarkStale(key, int32(keep/time.Second)) })
	if errors.Is(err, client.ErrCacheMiss) {
		return nil
	}
	return err
}

func (c *Cache) nearInvalidate(key string) {
	if c.near != nil {
		c.near.Invalidate(key)
	}
}
