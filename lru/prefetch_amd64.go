package lru

// prefetch hints the CPU to bring the cache line at addr closer. It never
// faults, whatever addr is.
func prefetch(addr uintptr)
