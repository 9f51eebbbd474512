// Command slabcached is the memcached-compatible cache server.
//
// It takes memcached's command-line flags with memcached's meanings (see
// docs/flags.md). This package parses and checks them; it must not be
// imported by anything.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Exit codes, as memcached's: 64 (EX_USAGE) for a bad command line.
const (
	exitOK    = 0
	exitUsage = 64
	exitFail  = 1
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Geteuid() == 0))
}

// run is main without the process: it parses args and returns the exit code.
func run(args []string, stdout, stderr io.Writer, isRoot bool) int {
	cmd, err := parseArgs(args, isRoot)
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			printUsage(stderr)
			fmt.Fprintln(stderr)
		}
		fmt.Fprintf(stderr, "slabcached: %v\n", err)
		return exitUsage
	}
	switch {
	case cmd.help:
		printUsage(stdout)
		return exitOK
	case cmd.version:
		printVersion(stdout)
		return exitOK
	}
	for _, n := range cmd.notices {
		fmt.Fprintf(stderr, "slabcached: %s\n", n)
	}
	// The network server is built in a later round (issue 4); until then say
	// so instead of pretending to serve.
	fmt.Fprintln(stderr, "slabcached: the command line is valid, but this build has no network server yet; not serving")
	return exitFail
}
