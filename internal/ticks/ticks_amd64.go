package ticks

// rdtsc returns the time-stamp counter (RDTSC).
func rdtsc() int64

// cpuid returns the registers CPUID leaf sets.
func cpuid(leaf uint32) (eax, ebx, ecx, edx uint32)

// haveInvariantTSC reports whether the counter runs at a constant rate in
// every power state (CPUID 0x80000007, EDX bit 8: Linux's nonstop_tsc).
func haveInvariantTSC() bool {
	if max, _, _, _ := cpuid(0x80000000); max < 0x80000007 {
		return false
	}
	_, _, _, edx := cpuid(0x80000007)
	return edx&(1<<8) != 0
}
