package main

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/slabcache/slabcache/cluster"
	"github.com/slabcache/slabcache/cluster/membership"
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
