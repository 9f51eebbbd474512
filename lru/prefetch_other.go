//go:build !amd64

package lru

// prefetch2 and prefetch3 do nothing on this architecture.
func prefetch2(a, b uintptr)    {}
func prefetch3(a, b, c uintptr) {}
