//go:build !amd64

package lru

// prefetch2, prefetch3 and prefetch4 do nothing on this architecture.
func prefetch2(a, b uintptr)       {}
func prefetch3(a, b, c uintptr)    {}
func prefetch4(a, b, c, d uintptr) {}
