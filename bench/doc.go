// Package bench is the engine of the slabbench load generator: it drives
// many memcached connections from a few goroutines (closed loop with
// pipelining, or open loop at a fixed rate with latency measured from the
// intended send time), draws keys from uniform, gaussian or zipf
// distributions, records latency in HdrHistograms and reports the result as
// a table, as JSON and as PNG plots.
//
// It speaks to servers only through the narrow codec.Codec interface
// (bench/codec), so proto's client side can replace that codec later. It
// must not import server, lru, slab or cluster: it measures servers from the
// outside, as a client would.
package bench
