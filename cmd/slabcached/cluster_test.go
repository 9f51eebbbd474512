package main

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/slabcache/slabcache/cluster"
	"github.com/slabcache/slabcache/cluster/membership"
	"github.com/slabcache/slabcache/cluster/ring"
)

// Each --cluster* option lands in its cluster.Config field.
func TestClusterOptions(t *testing.T) {
	keyring := filepath.Join(t.TempDir(), "keyring")
	if err := membership.WriteKeyring(keyring, []byte("0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args string
		want func(c *cluster.Config)
	}{
		{"", func(c *cluster.Config) {}},
		{"--cluster", func(c *cluster.Config) { c.Membership.Enabled = true }},
		{"--cluster-name=n1", func(c *cluster.Config) { c.Membership.NodeName = "n1" }},
		{"--cluster-advertise=cache-a:11211", func(c *cluster.Config) { c.Membership.MemcachedAddr = "cache-a:11211" }},
		{"--cluster-bind=127.0.0.2:7000", func(c *cluster.Config) { c.Membership.BindAddr, c.Membership.BindPort = "127.0.0.2", 7000 }},
		{"--cluster-gossip-advertise=10.1.1.1:7001", func(c *cluster.Config) {
			c.Membership.AdvertiseAddr, c.Membership.AdvertisePort = "10.1.1.1", 7001
		}},
		{"--cluster-join=10.0.0.1:7946,10.0.0.2 --cluster-join=10.0.0.3:7000", func(c *cluster.Config) {
			c.Membership.Join = []string{"10.0.0.1:7946", "10.0.0.2", "10.0.0.3:7000"}
		}},
		{"--cluster-retry-join=250ms", func(c *cluster.Config) { c.Membership.RetryJoinInterval = 250 * time.Millisecond }},
		{"--cluster-weight=3 --cluster-region=eu-1", func(c *cluster.Config) { c.Membership.Weight, c.Membership.Region = 3, "eu-1" }},
		{"--cluster-keyring=" + keyring, func(c *cluster.Config) { c.Membership.KeyringFile = keyring }},
		{"--cluster-placement=ketama-md5", func(c *cluster.Config) { c.Placement = ring.KindKetamaMD5 }},
		{"--cluster-placement=jump", func(c *cluster.Config) { c.Placement = ring.KindJump }},
		{"--cluster-mcrouter-config=/tmp/m.json --cluster-twemproxy-config=/tmp/t.yml --cluster-twemproxy-listen=127.0.0.1:22122", func(c *cluster.Config) {
			c.Files.McrouterPath, c.Files.TwemproxyPath, c.Files.TwemproxyListen = "/tmp/m.json", "/tmp/t.yml", "127.0.0.1:22122"
		}},
	}
	for _, tc := range tests {
		cmd, err := parseArgs(strings.Fields(tc.args), false)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		want := cluster.DefaultConfig()
		tc.want(&want)
		if !reflect.DeepEqual(cmd.cluster, want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.args, cmd.cluster, want)
		}
	}
}

// --cluster on a wildcard listen address needs --cluster-advertise.
func TestClusterNeedsAdvertiseOnWildcard(t *testing.T) {
	cmd, err := parseArgs([]string{"--cluster", "--cluster-bind=127.0.0.1:0"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := startCluster(cmd, "0.0.0.0:11211", zap.NewNop()); err == nil || !strings.Contains(err.Error(), "--cluster-advertise") {
		t.Fatalf("err = %v, want a request for --cluster-advertise", err)
	}
}

// Without --cluster-placement the node places keys as its only proxy file
// routes them; the twemproxy pool hashes as the placement; a proxy file
// that routes otherwise is written with a warning.
func TestChoosePlacement(t *testing.T) {
	for _, tc := range []struct {
		args     string
		want     ring.Kind
		hash     string
		warnings int
	}{
		{"", ring.KindKetama, "", 0},
		{"--cluster-twemproxy-config=/t.yml", ring.KindKetama, "fnv1a_64", 0},
		{"--cluster-mcrouter-config=/m.json", ring.KindCh3, "", 0},
		{"--cluster-mcrouter-config=/m.json --cluster-twemproxy-config=/t.yml", ring.KindKetama, "fnv1a_64", 1},
		{"--cluster-placement=ketama-md5 --cluster-twemproxy-config=/t.yml", ring.KindKetamaMD5, "md5", 0},
		{"--cluster-placement=ketama --cluster-mcrouter-config=/m.json", ring.KindKetama, "", 1},
		{"--cluster-placement=ch3 --cluster-mcrouter-config=/m.json --cluster-twemproxy-config=/t.yml", ring.KindCh3, "", 1},
		{"--cluster-placement=jump", ring.KindJump, "", 0},
	} {
		cmd, err := parseArgs(strings.Fields(tc.args), false)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		core, logs := observer.New(zapcore.WarnLevel)
		cfg := cmd.cluster
		choosePlacement(&cfg, cmd.placementSet, zap.New(core))
		if cfg.Placement != tc.want || cfg.Files.TwemproxyHash != tc.hash || logs.Len() != tc.warnings {
			t.Errorf("%q: placement %s, twemproxy hash %q, %d warnings; want %s, %q, %d", tc.args, cfg.Placement, cfg.Files.TwemproxyHash, logs.Len(), tc.want, tc.hash, tc.warnings)
		}
	}
}
