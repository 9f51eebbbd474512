//go:build !amd64

package lru

// prefetch3 and prefetch4 do nothing on this architecture.
func prefetch3(a, b, c uintptr)    {}
func prefetch4(a, b, c, d uintptr) {}
func prefetch1(a uintptr)          {}
