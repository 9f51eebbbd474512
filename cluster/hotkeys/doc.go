// Package hotkeys finds the keys that take a large share of a node's reads.
//
// Each event loop owns a Sampler: it counts every read and write and offers
// one request in SampleRate (at random intervals) to a Space-Saving top-K
// summary, without a lock, an atomic or an allocation. When the server's
// clock enters a new window the loop hands its summary to the Detector
// through a slot only it writes; the Detector's goroutine merges the
// summaries of every loop, smooths them over a few windows, and decides:
//
//   - a key turns hot when its guaranteed share of the node's reads (its
//     summary count less the count it may have inherited) reaches Threshold,
//     from at least MinSamples samples, while the node serves at least
//     MinRate reads a second;
//   - a hot key is then counted exactly in every sampler (pinned), and
//     leaves after LeaveWindows windows in a row under half the threshold.
//
// The package imports only the standard library and internal/clock (whose
// second turns close the windows).
package hotkeys
