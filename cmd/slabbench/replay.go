package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/slabcache/slabcache/bench"
	"github.com/slabcache/slabcache/proto"
)

// replayCmd replays synthetic traces against one or more servers and
// prints their hit ratios side by side (docs/memory.md).
func replayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("slabbench replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addrs := fs.String("addr", "127.0.0.1:11211", "servers, `name=host:port,...` (a bare host:port is named by itself); each gets the same stream in turn")
	traces := fs.String("trace", "all", "`traces` to replay, separated by commas: "+strings.Join(bench.TraceNames, ", ")+", or all")
	requests := fs.Uint64("requests", 2_000_000, "reads per trace")
	keys := fs.Uint64("keys", 1_000_000, "popular key space (zipf-scan, shifting; recency's mean reuse distance in reads)")
	skew := fs.Float64("skew", 0.9, "Zipf exponent")
	scanLen := fs.Uint64("scan-len", 0, "zipf-scan: keys per scan (default keys/4)")
	scanGap := fs.Uint64("scan-gap", 0, "zipf-scan: Zipf reads between scans (default keys/2)")
	reuse := fs.Uint64("reuse", 0, "recency: mean distance in reads to the read reused (default keys)")
	valueSize := fs.Int("value-size", 100, "bytes per value")
	batch := fs.Int("batch", 100, "gets per pipelined batch")
	seed := fs.Uint64("seed", 1, "seed of the traces")
	flush := fs.Bool("flush", false, "send flush_all to each server before each trace (restarting the servers is cleaner: flushed items still take memory until reclaimed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	type target struct{ name, addr string }
	var targets []target
	for _, a := range strings.Split(*addrs, ",") {
		name, addr, ok := strings.Cut(a, "=")
		if !ok {
			name, addr = a, a
		}
		targets = append(targets, target{name, addr})
	}
	names := bench.TraceNames
	if *traces != "all" {
		names = strings.Split(*traces, ",")
	}
	cfg := bench.TraceConfig{Keys: *keys, Skew: *skew, ScanLen: *scanLen, ScanGap: *scanGap, Reuse: *reuse}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "trace\tserver\thit ratio\tafter warm-up\treads/s")
	for _, name := range names {
		for _, tg := range targets {
			if *flush {
				if err := flushAll(tg.addr); err != nil {
					return err
				}
			}
			tr, err := bench.NewTrace(name, *seed, cfg)
			if err != nil {
				return err
			}
			res, err := bench.Replay(ctx, tg.addr, tr, *requests, *batch, *valueSize)
			if err != nil {
				return fmt.Errorf("%s against %s: %w", name, tg.name, err)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.4f\t%.4f\t%.0f\n", name, tg.name, res.HitRatio(), res.WarmHitRatio(),
				float64(res.Requests)/res.Elapsed.Seconds())
		}
	}
	return tw.Flush()
}

func flushAll(addr string) error {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	var rp proto.Reply
	if err := proto.NewConn(nc).Do(&proto.Request{Command: proto.CmdFlushAll}, &rp); err != nil {
		return err
	}
	if rp.Status != proto.StatusOK {
		return fmt.Errorf("flush_all on %s: %q", addr, rp.Line)
	}
	return nil
}
