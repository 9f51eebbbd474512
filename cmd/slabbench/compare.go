package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/slabcache/slabcache/bench/compare"
)

func compareCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("slabbench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := compare.DefaultConfig()
	c.B.Name = "slabcached"
	// The reference is memcached 1.6.45: $MEMCACHED_REFERENCE, else the
	// copy beside the checkout (CONTRIBUTING.md), else Debian's memcached.
	if ref := os.Getenv("MEMCACHED_REFERENCE"); ref != "" {
		c.A.Binary = ref
	} else if ref := besideCheckout("memcached-1.6.45/memcached"); ref != "" {
		c.A.Binary = ref
	}
	c.Memtier = os.Getenv("MEMTIER")
	if c.Memtier == "" {
		c.Memtier = besideCheckout("memtier_benchmark/memtier_benchmark")
	}
	if c.Memtier == "" {
		c.Memtier, _ = exec.LookPath("memtier_benchmark")
	}
	aArgs := strings.Join(compare.MemcachedArgs(), " ")
	var bArgs string
	fs.StringVar(&c.A.Binary, "a-binary", c.A.Binary, "server A (the reference): $MEMCACHED_REFERENCE when set, else memcached 1.6.45 beside the checkout (../shared/memcached-1.6.45), else Debian's memcached")
	fs.StringVar(&c.A.Name, "a-name", c.A.Name, "name of server A in the report")
	fs.StringVar(&aArgs, "a-args", aArgs, "extra arguments for A after -l 127.0.0.1 -p PORT -m MB -t N")
	fs.StringVar(&c.B.Binary, "b-binary", "", "server B (under test), e.g. bin/slabcached (required)")
	fs.StringVar(&c.B.Name, "b-name", c.B.Name, "name of server B in the report")
	fs.StringVar(&bArgs, "b-args", "", "extra arguments for B after -l 127.0.0.1 -p PORT -m MB -t N")
	fs.IntVar(&c.MemoryMB, "m", c.MemoryMB, "memory limit in MB given to both servers (-m)")
	fs.IntVar(&c.Threads, "t", c.Threads, "threads given to both servers (-t)")
	fs.StringVar(&c.ServerCPUs, "server-cpus", c.ServerCPUs, "taskset CPU list for the servers (empty: unpinned)")
	fs.StringVar(&c.LoadCPUs, "load-cpus", c.LoadCPUs, "taskset CPU list for the load generator and memcaslap (empty: unpinned)")
	fs.IntVar(&c.Rounds, "rounds", c.Rounds, "pairs of runs per workload (A B in odd rounds, B A in even ones)")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "length of each measured run")
	fs.IntVar(&c.Conns, "conns", c.Conns, "connections per run")
	fs.Uint64Var(&c.Keys, "keys", c.Keys, "key space of the workloads")
	fs.IntVar(&c.MemItems, "mem-items", c.MemItems, "items loaded for the memory-per-item test (0 skips it)")
	fs.StringVar(&c.Memcaslap, "memcaslap", c.Memcaslap, "path of Debian's memcaslap (empty skips it)")
	fs.StringVar(&c.Memtier, "memtier", c.Memtier, "path of memtier_benchmark: $MEMTIER, else the copy beside the checkout, else on $PATH (empty skips its workloads)")
	fs.StringVar(&c.OutDir, "out", c.OutDir, "directory for report.md, report.json, plots and server logs")
	only := fs.String("workloads", "", "comma-separated workload names to run (default all: "+workloadNames(c.Workloads)+")")
	quick := fs.Bool("quick", false, "smoke test: 1 round of 1s runs, 10000 keys, 20000 items for the memory test")
	inProcess := fs.Bool("in-process", false, "run the load generator inside this process instead of a pinned child process")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.B.Binary == "" {
		return fmt.Errorf("compare: -b-binary is required (to try the machinery, give /usr/bin/memcached with -b-name memcached-b -b-args %q)", aArgs)
	}
	c.A.Args, c.B.Args = strings.Fields(aArgs), strings.Fields(bArgs)
	if *quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		q := c
		q.Quick()
		// Flags given explicitly win over -quick.
		if !set["rounds"] {
			c.Rounds = q.Rounds
		}
		if !set["duration"] {
			c.Duration = q.Duration
		}
		if !set["keys"] {
			c.Keys = q.Keys
		}
		if !set["mem-items"] {
			c.MemItems = q.MemItems
		}
	}
	if *only != "" {
		var ws []compare.Workload
		for _, name := range strings.Split(*only, ",") {
			found := false
			for _, w := range c.Workloads {
				if w.Name == strings.TrimSpace(name) {
					ws, found = append(ws, w), true
				}
			}
			if !found {
				return fmt.Errorf("compare: unknown workload %q (have %s)", name, workloadNames(c.Workloads))
			}
		}
		c.Workloads = ws
	}
	if err := os.MkdirAll(c.OutDir, 0o755); err != nil {
		return err
	}
	if !*inProcess {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		cmd := []string{self}
		if c.LoadCPUs != "" {
			cmd = []string{"taskset", "-c", c.LoadCPUs, self}
		}
		c.Loader = &compare.ExecLoader{Command: cmd, Env: loaderEnv(), Dir: c.OutDir}
	}
	c.Log = stderr
	rep, err := compare.Run(ctx, c)
	if rep != nil {
		if merr := rep.WriteMarkdown(stdout); merr != nil && err == nil {
			err = merr
		}
		fmt.Fprintln(stderr, "wrote", filepath.Join(c.OutDir, "report.md"), "and report.json")
	}
	return err
}

func workloadNames(ws []compare.Workload) string {
	var names []string
	for _, w := range ws {
		names = append(names, w.Name)
	}
	return strings.Join(names, ",")
}

// loaderEnv is the environment of the load-generator child: ours (tests set
// a variable here that makes the test binary act as slabbench).
func loaderEnv() []string { return os.Environ() }

// besideCheckout returns the path of name in the shared directory beside
// the checkout this runs in (../shared from the module root), or "".
func besideCheckout(name string) string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "..", "shared", name)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				return p
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
