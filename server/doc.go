// Package server is slabcached's network server: it serves memcached's text
// and meta protocols on gnet event loops over an lru.Store, wiring proto,
// lru and cluster together. Only cmd imports it.
//
// The files, by concern:
//
//   - server.go: Server and its life cycle (New, Start, Shutdown), Options,
//     the Discovery hook for the cluster commands.
//   - settings.go: Settings, memcached's configuration with memcached's names,
//     its validation and `stats settings`; StoreConfig maps it onto the store.
//   - transport.go: the gnet handler, the listening sockets, the registry of
//     open connections, the tick that closes idle ones.
//   - conn.go: one connection's state and its input loop: parse every complete
//     request of an event (proto.Parse), stream large values into a store
//     reservation, write all replies in one write, pause a client that does
//     not read its replies; the prefetcher, which starts loading the index
//     entries and items of the requests that follow the one executing.
//   - exec.go: the one dispatch from a parsed request to its command, and the
//     mapping of store results onto replies.
//   - cmd_text.go, cmd_meta.go, cmd_admin.go, cmd_stats.go: command execution:
//     the classic commands, the meta commands, the admin commands (slabs,
//     lru, lru_crawler, cluster discovery) and every form of stats.
//   - observers.go: what watches the traffic without being on its path when
//     unused: `watch` log streams and `stats detail` prefix counters.
//   - counters.go, metrics.go: request counters kept per event loop without
//     atomics on the request path, and the native Prometheus metrics.
//
// Every reply's bytes come from proto's encoders and Error values; the
// server decides which reply, never how it is spelt.
package server
