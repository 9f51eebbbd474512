package main

import (
	"io"
	"os"
	"runtime/pprof"
	"runtime/trace"

	"go.uber.org/zap"
)

// cpuProfileEnv names a file to write a CPU profile of the whole run to
// (from start until a graceful stop), for `go tool pprof`. An environment
// variable rather than a flag: memcached has no such flag, and a profile is
// a developer's tool (docs/benchmarks.md shows its use).
const cpuProfileEnv = "SLABCACHED_CPUPROFILE"

// traceEnv names a file to write a Go execution trace of the whole run to
// (`go tool trace`): which goroutine ran on which thread and when, and
// what woke it, for the scheduler's share of a request's cost.
const traceEnv = "SLABCACHED_TRACE"

// startCPUProfile starts profiling into path and returns the function that
// ends it, or nil when path is empty or the profile cannot start.
func startCPUProfile(path string, log *zap.Logger) func() {
	return record(cpuProfileEnv, path, pprof.StartCPUProfile, pprof.StopCPUProfile, log)
}

// startTrace starts an execution trace into path and returns the function
// that ends it, or nil when path is empty or the trace cannot start.
func startTrace(path string, log *zap.Logger) func() {
	return record(traceEnv, path, trace.Start, trace.Stop, log)
}

// record creates path and runs start on it; the function it returns runs
// stop and closes the file. env names the setting in log lines.
func record(env, path string, start func(io.Writer) error, stop func(), log *zap.Logger) func() {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		log.Warn(env+": cannot create the file", zap.Error(err))
		return nil
	}
	if err := start(f); err != nil {
		log.Warn(env+": cannot start", zap.Error(err))
		f.Close()
		return nil
	}
	log.Info("recording", zap.String("env", env), zap.String("path", path))
	return func() {
		stop()
		f.Close()
	}
}
