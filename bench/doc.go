// Package bench is the engine of the slabbench load generator: it drives
// many memcached connections from a few goroutines (closed loop with
// pipelining, or open loop at a fixed rate with latency measured from the
// intended send time), draws keys from uniform, gaussian or zipf
// distributions, records latency in HdrHistograms and reports the result as
// a table, as JSON and as PNG plots.
//
// It speaks to servers through proto's client side (requests encoded by
// proto, replies read by proto.Reader), text or meta as the protocol
// interface chooses. It must not import server, lru, slab or cluster: it
// measures servers from the outside, as a client would.
package bench
