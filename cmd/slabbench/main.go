// Command slabbench is the project's load generator for memcached-protocol
// servers, and the side-by-side comparison of two servers.
//
//	slabbench run [flags]       load one server and report (the default)
//	slabbench compare [flags]   memcached (A) against another server (B)
//	slabbench replay [flags]    hit ratios of servers on synthetic traces
//
// `slabbench run -h` and `slabbench compare -h` list the flags. The engine
// is package bench; the comparison is package bench/compare.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/slabcache/slabcache/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(realMain(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run":
		err = runCmd(ctx, args, stdout, stderr)
	case "compare":
		err = compareCmd(ctx, args, stdout, stderr)
	case "replay":
		err = replayCmd(ctx, args, stdout, stderr)
	case "help":
		fmt.Fprintln(stdout, "usage: slabbench [run|compare|replay] [flags]; slabbench run -h, slabbench compare -h, slabbench replay -h")
		return 0
	default:
		err = fmt.Errorf("unknown subcommand %q (want run, compare or replay)", cmd)
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "slabbench:", err)
		return 1
	}
	return 0
}

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("slabbench run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := bench.DefaultConfig()
	cfg.RegisterFlags(fs)
	jsonOut := fs.String("json", "", "write the result as JSON to this `file` (- for stdout, which then gets no table)")
	plots := fs.String("plot", "", "write PNG plots to `prefix`-latency.png and prefix-throughput.png (cluster mode: prefix-hitratio.png and prefix-throughput.png)")
	label := fs.String("label", "", "name of the server in plot legends (default the target address)")
	quiet := fs.Bool("quiet", false, "no progress line each second")
	cpuProfile := fs.String("cpuprofile", "", "write the load generator's own CPU profile to `file`")
	discover := fs.String("discover", "", "cluster mode: route every key through the Go client, which follows the membership and hot keys of the cluster `host:port` belongs to; reports requests per node")
	noHot := fs.Bool("no-hotkeys", false, "cluster mode: the client sends every read to the key's owner (ignores hot keys)")
	perClient := fs.Bool("hotkey-per-client", false, "cluster mode: each worker's client reads a hot key from one node of its own (default: the node the client sent the fewest keys to lately)")
	random := fs.Bool("hotkey-random", false, "cluster mode: the client reads a hot key from a node drawn at random per read (default: the node it sent the fewest keys to lately)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *discover != "" {
		return clusterRun(ctx, cfg, clusterOpts{discover: *discover, noHot: *noHot, perClient: *perClient, random: *random, quiet: *quiet, json: *jsonOut, plot: *plots}, stdout, stderr)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var progress bench.Progress
	if !*quiet {
		progress = func(p bench.TimelinePoint) { fmt.Fprintln(stderr, bench.ProgressLine(p)) }
	}
	res, err := bench.Run(ctx, cfg, progress)
	if res == nil {
		return err
	}
	if *jsonOut != "-" {
		if terr := res.WriteTable(stdout); terr != nil && err == nil {
			err = terr
		}
	}
	if *jsonOut != "" {
		if jerr := writeJSON(*jsonOut, res, stdout); jerr != nil && err == nil {
			err = jerr
		}
	}
	if *plots != "" && !cfg.IsPrefillOnly() {
		name := *label
		if name == "" {
			name = cfg.Addr
		}
		files, perr := bench.WritePlots(res, *plots, name)
		if perr != nil && err == nil {
			err = perr
		}
		for _, f := range files {
			fmt.Fprintln(stderr, "wrote", f)
		}
	}
	return err
}

func writeJSON(path string, res *bench.Result, stdout io.Writer) error {
	if path == "-" {
		return res.WriteJSON(stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := res.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
