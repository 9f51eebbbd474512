//go:build !amd64

package lru

// prefetch does nothing on this architecture.
func prefetch(uintptr) {}
