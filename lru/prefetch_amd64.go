package lru

// prefetch1, prefetch3 and prefetch4 hint the CPU to bring the cache
// lines at their addresses closer (one call for several: the call costs
// more than the hint). They never fault, whatever the addresses are.
func prefetch1(a uintptr)
func prefetch3(a, b, c uintptr)
func prefetch4(a, b, c, d uintptr)
