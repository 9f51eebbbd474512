//go:build !amd64

package lru

// prefetch1, prefetch3 and prefetch4 do nothing on this architecture.
func prefetch1(a uintptr)          {}
func prefetch3(a, b, c uintptr)    {}
func prefetch4(a, b, c, d uintptr) {}
