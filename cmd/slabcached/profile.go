package main

import (
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

// startCPUProfile starts profiling into path and returns the function that
// ends it, or nil when path is empty or the profile cannot start.
func startCPUProfile(path string, log *zap.Logger) func() {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		log.Warn(cpuProfileEnv+": cannot create the profile", zap.Error(err))
		return nil
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Warn(cpuProfileEnv+": cannot start profiling", zap.Error(err))
		f.Close()
		return nil
	}
	log.Info("writing a CPU profile", zap.String("path", path))
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// traceEnv names a file to write a Go execution trace of the whole run to
// (`go tool trace`): which goroutine ran on which thread and when, and
// what woke it, for the scheduler's share of a request's cost.
const traceEnv = "SLABCACHED_TRACE"

// startTrace starts an execution trace into path and returns the function
// that ends it, or nil when path is empty or the trace cannot start.
func startTrace(path string, log *zap.Logger) func() {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		log.Warn(traceEnv+": cannot create the trace", zap.Error(err))
		return nil
	}
	if err := trace.Start(f); err != nil {
		log.Warn(traceEnv+": cannot start tracing", zap.Error(err))
		f.Close()
		return nil
	}
	log.Info("writing an execution trace", zap.String("path", path))
	return func() {
		trace.Stop()
		f.Close()
	}
}
