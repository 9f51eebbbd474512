// Package membership keeps the list of slabcache nodes current with serf
// gossip: join through seed addresses, graceful leave, failure detection
// tuned to mark a dead node failed in about a second and a half, encrypted
// gossip with a serf keyring file, and a change callback.
//
// Each node gossips its memcached address, weight and region as serf tags;
// Members turns them into discovery.Member values. Without clustering a
// node's membership is just itself.
//
// This package imports serf, memberlist, zap and cluster/discovery; it must
// not import lru, server or any other slabcache package (internal/archtest
// checks it).
package membership

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
	"go.uber.org/zap"

	"github.com/slabcache/slabcache/cluster/discovery"
)

// Membership is one node's view of the cluster. Its methods are safe for
// concurrent use.
type Membership struct {
	cfg    Config
	log    *zap.Logger
	serf   *serf.Serf // nil when clustering is off
	events chan serf.Event

	dirty chan struct{} // capacity 1: a change waits for the notifier
	stop  chan struct{}
	wg    sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// ErrClosed is returned by Join and Leave after Leave or Close.
var ErrClosed = errors.New("membership: closed")

// New starts the node's membership. With clustering on it binds the gossip
// port, joins the seeds of cfg.Join (retrying in the background when
// cfg.RetryJoinInterval is set and none answers), and starts delivering
// changes to cfg.OnChange. Call Leave or Close to stop it.
func New(cfg Config) (*Membership, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &Membership{
		cfg:   cfg,
		log:   cfg.Logger,
		dirty: make(chan struct{}, 1),
		stop:  make(chan struct{}),
	}
	if m.log == nil {
		m.log = zap.NewNop()
	}
	m.log = m.log.Named("membership")
	if cfg.Enabled {
		if err := m.startSerf(); err != nil {
			return nil, err
		}
	}
	m.markDirty() // OnChange sees the initial list
	m.wg.Add(1)
	go m.notifier()
	if cfg.Enabled && len(cfg.Join) > 0 {
		if _, err := m.Join(cfg.Join...); err != nil {
			if cfg.RetryJoinInterval == 0 {
				m.Close()
				return nil, err
			}
			m.log.Warn("cannot join seeds yet; retrying", zap.Strings("seeds", cfg.Join), zap.Error(err))
			m.wg.Add(1)
			go m.retryJoin()
		}
	}
	return m, nil
}

func (m *Membership) startSerf() error {
	c := m.cfg
	sc := serf.DefaultConfig()
	sc.NodeName = c.NodeName
	sc.Tags = c.tags()
	m.events = make(chan serf.Event, 256)
	sc.EventCh = m.events
	sc.ReconnectTimeout = c.ReconnectTimeout
	sc.BroadcastTimeout = c.LeaveTimeout
	sc.LeavePropagateDelay = 3 * c.GossipInterval
	logger := log.New(&zapWriter{log: m.log.Named("serf")}, "", 0)
	sc.Logger = logger
	sc.KeyringFile = c.KeyringFile

	ml := memberlist.DefaultLANConfig()
	ml.Name = c.NodeName
	ml.BindAddr = c.BindAddr
	ml.BindPort = c.BindPort
	ml.AdvertiseAddr = c.AdvertiseAddr
	ml.AdvertisePort = c.AdvertisePort
	if c.AdvertisePort == 0 {
		ml.AdvertisePort = c.BindPort
	}
	ml.ProbeInterval = c.ProbeInterval
	ml.ProbeTimeout = c.ProbeTimeout
	ml.SuspicionMult = c.SuspicionMult
	ml.SuspicionMaxTimeoutMult = 1
	ml.GossipInterval = c.GossipInterval
	ml.TCPTimeout = 2 * time.Second
	ml.PushPullInterval = 15 * time.Second
	ml.GossipToTheDeadTime = 15 * time.Second
	ml.Logger = logger
	if c.KeyringFile != "" {
		kr, err := LoadKeyring(c.KeyringFile)
		if err != nil {
			return err
		}
		ml.Keyring = kr
		ml.GossipVerifyIncoming = true
		ml.GossipVerifyOutgoing = true
	}
	sc.MemberlistConfig = ml

	s, err := serf.Create(sc)
	if err != nil {
		return fmt.Errorf("membership: starting gossip on %s: %w", net.JoinHostPort(c.BindAddr, strconv.Itoa(c.BindPort)), err)
	}
	m.serf = s
	m.wg.Add(1)
	go m.pump()
	return nil
}

// pump drains serf's event channel quickly (serf blocks when it is full)
// and wakes the notifier.
func (m *Membership) pump() {
	defer m.wg.Done()
	for {
		select {
		case e := <-m.events:
			if me, ok := e.(serf.MemberEvent); ok {
				for _, mem := range me.Members {
					m.log.Info("member "+eventVerb(me.Type),
						zap.String("name", mem.Name),
						zap.String("addr", mem.Tags[tagAddr]),
						zap.String("gossip", net.JoinHostPort(mem.Addr.String(), strconv.Itoa(int(mem.Port)))))
				}
				m.markDirty()
			}
		case <-m.stop:
			return
		}
	}
}

func eventVerb(t serf.EventType) string {
	switch t {
	case serf.EventMemberJoin:
		return "joined"
	case serf.EventMemberLeave:
		return "left"
	case serf.EventMemberFailed:
		return "failed"
	case serf.EventMemberUpdate:
		return "updated"
	case serf.EventMemberReap:
		return "reaped"
	}
	return t.String()
}

func (m *Membership) markDirty() {
	select {
	case m.dirty <- struct{}{}:
	default:
	}
}

// notifier calls OnChange, one call at a time, with the newest list.
func (m *Membership) notifier() {
	defer m.wg.Done()
	for {
		select {
		case <-m.dirty:
			if m.cfg.OnChange != nil {
				m.cfg.OnChange(m.Members())
			}
		case <-m.stop:
			return
		}
	}
}

func (m *Membership) retryJoin() {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.RetryJoinInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			n, err := m.Join(m.cfg.Join...)
			if err == nil {
				m.log.Info("joined the cluster", zap.Int("seeds_reached", n))
				return
			}
			if errors.Is(err, ErrClosed) {
				return
			}
			m.log.Debug("join retry failed", zap.Error(err))
		case <-m.stop:
			return
		}
	}
}

// Join contacts the given gossip addresses ("host:port", or "host" for
// port 7946) and merges their membership into ours. It returns how many
// answered; an error when none did. With clustering off it fails.
func (m *Membership) Join(addrs ...string) (int, error) {
	if m.serf == nil {
		return 0, fmt.Errorf("membership: clustering is off")
	}
	select {
	case <-m.stop:
		return 0, ErrClosed
	default:
	}
	n, err := m.serf.Join(addrs, true)
	if n > 0 {
		return n, nil
	}
	if err == nil {
		err = errors.New("no seed answered")
	}
	return 0, fmt.Errorf("membership: joining %v: %w", addrs, err)
}

// Local returns this node as a member.
func (m *Membership) Local() discovery.Member {
	if m.serf == nil {
		return m.selfMember()
	}
	return toMember(m.serf.LocalMember())
}

func (m *Membership) selfMember() discovery.Member {
	return discovery.Member{
		Name:   m.cfg.NodeName,
		Addr:   m.cfg.MemcachedAddr,
		Status: discovery.StatusAlive,
		Weight: m.cfg.Weight,
		Region: m.cfg.Region,
	}
}

// GossipAddr returns the address other nodes reach this node's gossip at,
// "ip:port", or "" with clustering off.
func (m *Membership) GossipAddr() string {
	if m.serf == nil {
		return ""
	}
	l := m.serf.LocalMember()
	return net.JoinHostPort(l.Addr.String(), strconv.Itoa(int(l.Port)))
}

// Members returns every member this node knows, in name order, with its
// status: alive, leaving, left (until reaped) or failed (until
// ReconnectTimeout). Members that do not gossip a valid memcached address
// (a serf agent that is not slabcache) are left out. With clustering off
// it is this node alone.
func (m *Membership) Members() []discovery.Member {
	if m.serf == nil {
		return []discovery.Member{m.selfMember()}
	}
	sms := m.serf.Members()
	out := make([]discovery.Member, 0, len(sms))
	for _, sm := range sms {
		mem := toMember(sm)
		if mem.Validate() != nil {
			continue
		}
		out = append(out, mem)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func toMember(sm serf.Member) discovery.Member {
	w, err := strconv.Atoi(sm.Tags[tagWeight])
	if err != nil || w < 0 {
		w = 1
	}
	ip := sm.Addr.String()
	return discovery.Member{
		Name:       sm.Name,
		Addr:       sm.Tags[tagAddr],
		IP:         ip,
		GossipAddr: net.JoinHostPort(ip, strconv.Itoa(int(sm.Port))),
		Status:     toStatus(sm.Status),
		Weight:     w,
		Region:     sm.Tags[tagRegion],
	}
}

func toStatus(s serf.MemberStatus) discovery.Status {
	switch s {
	case serf.StatusAlive:
		return discovery.StatusAlive
	case serf.StatusLeaving:
		return discovery.StatusLeaving
	case serf.StatusLeft:
		return discovery.StatusLeft
	default:
		return discovery.StatusFailed
	}
}

// Leave leaves the cluster gracefully: the other nodes learn at once that
// this node left (instead of detecting a failure), then gossip stops. Call
// it on SIGTERM. It blocks for up to about LeaveTimeout.
func (m *Membership) Leave() error {
	if m.serf == nil {
		return m.Close()
	}
	select {
	case <-m.stop:
		return ErrClosed
	default:
	}
	err := m.serf.Leave()
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close stops gossip without leaving: the other nodes will mark this node
// failed, as if it had crashed. It waits for the callback goroutine to
// finish. Calling it again does nothing.
func (m *Membership) Close() error {
	m.closeOnce.Do(func() {
		if m.serf != nil {
			m.closeErr = m.serf.Shutdown()
		}
		close(m.stop)
		m.wg.Wait()
	})
	return m.closeErr
}

// zapWriter turns serf's and memberlist's log lines ("[LEVEL] text") into
// zap entries.
type zapWriter struct {
	log *zap.Logger
}

var _ io.Writer = (*zapWriter)(nil)

func (w *zapWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	msg := func(prefix string) string { return string(bytes.TrimSpace(line[len(prefix):])) }
	switch {
	case bytes.HasPrefix(line, []byte("[DEBUG]")):
		w.log.Debug(msg("[DEBUG]"))
	case bytes.HasPrefix(line, []byte("[INFO]")):
		w.log.Info(msg("[INFO]"))
	case bytes.HasPrefix(line, []byte("[WARN]")):
		w.log.Warn(msg("[WARN]"))
	case bytes.HasPrefix(line, []byte("[ERR]")):
		w.log.Error(msg("[ERR]"))
	case bytes.HasPrefix(line, []byte("[ERROR]")):
		w.log.Error(msg("[ERROR]"))
	default:
		w.log.Info(string(line))
	}
	return len(p), nil
}
