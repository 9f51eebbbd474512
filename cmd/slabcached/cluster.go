package main

// The cluster helper (issue 8) owns this file and extends it with the
// --cluster* options. This first version starts a standalone node, so that
// `config get cluster` answers with this server alone, as without clustering.

import (
	"go.uber.org/zap"

	"github.com/slabcache/slabcache/cluster"
)

// startCluster starts the node's cluster features for a server listening on
// memcachedAddr.
func startCluster(cmd *command, memcachedAddr string, log *zap.Logger) (*cluster.Node, error) {
	cfg := cluster.DefaultConfig()
	cfg.Membership.MemcachedAddr = memcachedAddr
	return cluster.Start(cfg)
}
