//go:build !amd64

package ticks

func rdtsc() int64 { return nanotime() }

func haveInvariantTSC() bool { return false }
