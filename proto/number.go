package proto

import "math"

// Numbers are parsed the way memcached's safe_strtoul, safe_strtol and
// safe_strtoull (util.c) do on 64-bit Linux, because clients rely on what
// they accept:
//
//   - leading white space (\t \n \v \f \r; a token holds no space) and one
//     '+' or '-' sign are accepted;
//   - the digits may be followed by the end of the token or by a white-space
//     byte, after which anything is ignored ("5\tjunk" is 5);
//   - the value is computed in 64 bits like strtoul/strtol (so "-1" wraps and
//     is then refused as negative, but "-18446744073709551615" is 1), and a
//     magnitude beyond 64 bits is refused (ERANGE);
//   - the 32-bit variants then truncate, as memcached's assignment to a
//     uint32_t/int32_t does: flags 4294967297 are stored as 1, and a data
//     length of 4294967297 reads one byte. Checked against memcached 1.6.18.

// isCSpace reports whether c is white space for C's isspace in the "C"
// locale.
func isCSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

// cscan scans like glibc's strtoull in base 10. ok is false when there are
// no digits; overflow is true when the magnitude exceeds 2^64-1.
func cscan(b []byte) (mag uint64, neg bool, end int, ok, overflow bool) {
	i := 0
	for i < len(b) && isCSpace(b[i]) {
		i++
	}
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	start := i
	for i < len(b) && b[i]-'0' <= 9 {
		d := uint64(b[i] - '0')
		if !overflow {
			if mag > (math.MaxUint64-d)/10 {
				overflow = true
			} else {
				mag = mag*10 + d
			}
		}
		i++
	}
	if i == start {
		return 0, false, 0, false, false
	}
	return mag, neg, i, true, overflow
}

// tailOK is memcached's check after strtoul: the number must end the token
// or be followed by white space.
func tailOK(b []byte, end int) bool { return end == len(b) || isCSpace(b[end]) }

func hasMinus(b []byte) bool {
	for _, c := range b {
		if c == '-' {
			return true
		}
	}
	return false
}

// parseUint64 is safe_strtoull.
func parseUint64(b []byte) (uint64, bool) {
	mag, neg, end, ok, overflow := cscan(b)
	if !ok || overflow || !tailOK(b, end) {
		return 0, false
	}
	v := mag
	if neg {
		v = -mag
	}
	if int64(v) < 0 && hasMinus(b) {
		return 0, false
	}
	return v, true
}

// parseUint32 is safe_strtoul on a 64-bit system: strtoul is 64 bits wide
// and the result is truncated to 32.
func parseUint32(b []byte) (uint32, bool) {
	v, ok := parseUint64(b)
	return uint32(v), ok
}

// parseInt32 is safe_strtol on a 64-bit system: strtol is 64 bits wide (out
// of range is an error) and the result is truncated to 32.
func parseInt32(b []byte) (int32, bool) {
	mag, neg, end, ok, overflow := cscan(b)
	if !ok || overflow || !tailOK(b, end) {
		return 0, false
	}
	var v int64
	if neg {
		if mag > 1<<63 {
			return 0, false
		}
		v = -int64(mag)
	} else {
		if mag > math.MaxInt64 {
			return 0, false
		}
		v = int64(mag)
	}
	return int32(v), true
}
