package discovery

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/slabcache/slabcache/cluster/ring"
)

// DefaultPool is the pool name the generated proxy configs use.
const DefaultPool = "slabcache"

// McrouterGutterTTL is the most seconds a set that mcrouter fails over to
// a stand-in server lives there (McrouterConfig).
const McrouterGutterTTL = 10

// DefaultTwemproxyListen is the listen address of the generated twemproxy
// pool: twemproxy's customary port 22121 on loopback.
const DefaultTwemproxyListen = "127.0.0.1:22121"

// McrouterConfig returns an mcrouter config routing every request to one
// pool of the alive members, hashed with Ch3 (mcrouter's default, which
// cluster/ring's KindCh3 reproduces), with a gutter: a request whose
// server fails (TKO, connect or data timeout) goes to the server the key
// hashes to with the salt "gutter" in the same pool, and sets sent there
// live McrouterGutterTTL seconds at most, so copies on the stand-in do not
// outlive the owner's outage for long (the Go client's GutterTTL):
//
//	{"pools": {"<pool>": {"servers": ["host:port", ...]}},
//	 "route": {"type": "FailoverWithExptimeRoute",
//	   "normal": {"type": "PoolRoute", "pool": "<pool>", "hash": {"hash_func": "Ch3"}},
//	   "failover": [{"type": "PoolRoute", "pool": "<pool>", "hash": {"hash_func": "Ch3", "salt": "gutter"}}],
//	   "failover_exptime": 10}}
//
// Servers are listed in the order given (Table keeps members sorted by
// name); Ch3 depends on it. Ch3 is unweighted, so weights are not written.
// An empty pool name means DefaultPool.
func McrouterConfig(members []Member, pool string) ([]byte, error) {
	if pool == "" {
		pool = DefaultPool
	}
	type poolCfg struct {
		Servers []string `json:"servers"`
	}
	type hashCfg struct {
		HashFunc string `json:"hash_func"`
		Salt     string `json:"salt,omitempty"`
	}
	type poolRoute struct {
		Type string  `json:"type"`
		Pool string  `json:"pool"`
		Hash hashCfg `json:"hash"`
	}
	type failoverRoute struct {
		Type            string      `json:"type"`
		Normal          poolRoute   `json:"normal"`
		Failover        []poolRoute `json:"failover"`
		FailoverExptime int         `json:"failover_exptime"`
	}
	cfg := struct {
		Pools map[string]poolCfg `json:"pools"`
		Route failoverRoute      `json:"route"`
	}{
		Pools: map[string]poolCfg{pool: {Servers: []string{}}},
		Route: failoverRoute{
			Type:            "FailoverWithExptimeRoute",
			Normal:          poolRoute{Type: "PoolRoute", Pool: pool, Hash: hashCfg{HashFunc: "Ch3"}},
			Failover:        []poolRoute{{Type: "PoolRoute", Pool: pool, Hash: hashCfg{HashFunc: "Ch3", Salt: "gutter"}}},
			FailoverExptime: McrouterGutterTTL,
		},
	}
	p := cfg.Pools[pool]
	for _, m := range Alive(members) {
		p.Servers = append(p.Servers, m.Addr)
	}
	cfg.Pools[pool] = p
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// TwemproxyConfig returns a twemproxy (nutcracker) YAML pool of the alive
// members with distribution ketama and the key hash hash ("fnv1a_64", the
// default when empty, or "md5"), each server as "host:port:weight" without
// a name, so twemproxy hashes exactly what RingNodes gives cluster/ring's
// KindKetama (fnv1a_64) or KindKetamaMD5 (md5). Empty pool and listen
// mean DefaultPool and DefaultTwemproxyListen.
func TwemproxyConfig(members []Member, pool, listen, hash string) ([]byte, error) {
	if pool == "" {
		pool = DefaultPool
	}
	if listen == "" {
		listen = DefaultTwemproxyListen
	}
	switch hash {
	case "":
		hash = "fnv1a_64"
	case "fnv1a_64", "md5":
	default:
		return nil, fmt.Errorf("discovery: twemproxy hash %q: want fnv1a_64 or md5", hash)
	}
	if !isToken(pool) || strings.ContainsAny(pool, ":#\"'") {
		return nil, fmt.Errorf("discovery: bad twemproxy pool name %q", pool)
	}
	if _, _, err := splitAddr(listen); err != nil {
		return nil, fmt.Errorf("discovery: twemproxy listen address %q: %v", listen, err)
	}
	var b strings.Builder
	b.WriteString("# Written by slabcache on each membership change; do not edit.\n")
	fmt.Fprintf(&b, "%s:\n  listen: %s\n  hash: %s\n  distribution: ketama\n  auto_eject_hosts: false\n  servers:\n", pool, listen, hash)
	for _, m := range Alive(members) {
		b.WriteString("   - ")
		b.WriteString(m.Addr)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(m.weight()))
		b.WriteByte('\n')
	}
	return []byte(b.String()), nil
}

// TwemproxyHash returns the key hash of the twemproxy ketama pool that
// routes keys as placement k: "fnv1a_64" for ring.KindKetama, "md5" for
// ring.KindKetamaMD5, and false for the placements twemproxy does not have
// (Ch3, jump).
func TwemproxyHash(k ring.Kind) (string, bool) {
	switch k {
	case ring.KindKetama:
		return "fnv1a_64", true
	case ring.KindKetamaMD5:
		return "md5", true
	}
	return "", false
}

// RoutingMismatch says how the config generated for proxy ("mcrouter",
// hashed with Ch3, or "twemproxy", TwemproxyHash) routes keys when it
// cannot route them as placement k does, and what that costs; it returns
// "" when the proxy routes as k.
func RoutingMismatch(proxy string, k ring.Kind) string {
	switch proxy {
	case "mcrouter":
		if k != ring.KindCh3 {
			return fmt.Sprintf("mcrouter routes keys by ch3, not by the cluster's placement %s: warm-up and hot-key copies will not follow its routing", k)
		}
	case "twemproxy":
		if _, ok := TwemproxyHash(k); !ok {
			return fmt.Sprintf("twemproxy has no %s placement: the pool routes keys by ketama with fnv1a_64, and warm-up and hot-key copies will not follow its routing", k)
		}
	}
	return ""
}

// WriteFileAtomic writes data to path so that readers see either the old
// or the new content, never a mix: it writes a temporary file in the same
// directory, syncs it and renames it over path.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// ProxyFiles says where to write the generated proxy configs. Empty paths
// are not written.
type ProxyFiles struct {
	// McrouterPath is the mcrouter config file (mcrouter reloads it by
	// itself when it changes).
	McrouterPath string
	// TwemproxyPath is the twemproxy YAML file (twemproxy reads it at
	// start; restart it to apply a change).
	TwemproxyPath string
	// TwemproxyListen is the listen address written in the twemproxy pool;
	// empty means DefaultTwemproxyListen.
	TwemproxyListen string
	// TwemproxyHash is the key hash written in the twemproxy pool:
	// "fnv1a_64" (empty means it) or "md5".
	TwemproxyHash string
	// Pool is the pool name in both files; empty means DefaultPool.
	Pool string
}

// Write writes both files for members, atomically each.
func (p ProxyFiles) Write(members []Member) error {
	if p.McrouterPath != "" {
		data, err := McrouterConfig(members, p.Pool)
		if err != nil {
			return err
		}
		if err := WriteFileAtomic(p.McrouterPath, data, 0o644); err != nil {
			return fmt.Errorf("discovery: writing mcrouter config: %w", err)
		}
	}
	if p.TwemproxyPath != "" {
		data, err := TwemproxyConfig(members, p.Pool, p.TwemproxyListen, p.TwemproxyHash)
		if err != nil {
			return err
		}
		if err := WriteFileAtomic(p.TwemproxyPath, data, 0o644); err != nil {
			return fmt.Errorf("discovery: writing twemproxy config: %w", err)
		}
	}
	return nil
}
