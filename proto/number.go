package proto

import (
	"math"
	"math/big"
	"strconv"
)

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
//     length of 4294967297 reads one byte. Checked against memcached 1.6.45.

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

// The mcmc conversions (memcached 1.6.45's vendor/mcmc): strict decimal
// tokens, used for most numbers since its parser rewrite. No white space, no
// '+'; a '-' only for the signed forms; at most 11 bytes for the 32-bit
// forms and 22 for the 64-bit ones; overflow is an error.
const (
	mcmcMax32 = 11
	mcmcMax64 = 22
)

// toktoU64 is mcmc_toktou64 (and, with max 11 and a 32-bit bound,
// mcmc_toktou32).
func toktoUint(b []byte, maxLen int, limit uint64) (uint64, bool) {
	if len(b) > maxLen {
		return 0, false
	}
	var sum uint64
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, false
		}
		if sum > (limit-uint64(d))/10 {
			return 0, false
		}
		sum = sum*10 + uint64(d)
	}
	return sum, true
}

// tokU32 is mcmc_toktou32.
func tokU32(b []byte) (uint32, bool) {
	v, ok := toktoUint(b, mcmcMax32, math.MaxUint32)
	return uint32(v), ok
}

// tokU64 is mcmc_toktou64.
func tokU64(b []byte) (uint64, bool) { return toktoUint(b, mcmcMax64, math.MaxUint64) }

// tokInt is mcmc_tokto32 / mcmc_tokto64: an optional '-' then digits.
func tokInt(b []byte, maxLen int, min, max int64) (int64, bool) {
	if len(b) > maxLen {
		return 0, false
	}
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	var sum int64
	for _, c := range b {
		d := int64(c - '0')
		if c < '0' || c > '9' {
			return 0, false
		}
		if neg {
			if sum < (min+d)/10 {
				return 0, false
			}
			sum = sum*10 - d
		} else {
			if sum > (max-d)/10 {
				return 0, false
			}
			sum = sum*10 + d
		}
	}
	return sum, true
}

// tok32 is mcmc_tokto32.
func tok32(b []byte) (int32, bool) {
	v, ok := tokInt(b, mcmcMax32, math.MinInt32, math.MaxInt32)
	return int32(v), ok
}

// TokU32 is the strict unsigned 32-bit decimal of memcached 1.6.45's parser
// (mcmc_toktou32), for the server's admin sub-commands.
func TokU32(b []byte) (uint32, bool) { return tokU32(b) }

// Tok32 is the strict signed 32-bit decimal (mcmc_tokto32).
func Tok32(b []byte) (int32, bool) { return tok32(b) }

// ParseUint32 is memcached's safe_strtoul (leading space and a sign
// allowed), for class lists.
func ParseUint32(b []byte) (uint32, bool) { return parseUint32(b) }

// TokDouble is memcached's mc_toktod: safe_strtod (ParseDouble) on a token
// of at most 31 bytes (it copies the token to a 32-byte buffer).
func TokDouble(b []byte) (float64, bool) {
	if len(b) > 31 {
		return 0, false
	}
	return ParseDouble(b)
}

// ParseDouble is memcached's safe_strtod, with glibc's strtod syntax:
// leading white space, a sign, then decimal digits with an optional point
// and exponent, a hexadecimal number ("0x1A", "0x1p-2": the exponent is
// optional), "inf", "infinity" or "nan" with an optional "(chars)", in any
// case. The number must end the token or be followed by white space.
// Overflow and an inexact underflow (to a subnormal or zero) are refused
// (ERANGE), as glibc reports them; Go's ParseFloat differs on hex without an exponent,
// underscores and underflow.
func ParseDouble(b []byte) (float64, bool) {
	i := 0
	for i < len(b) && isCSpace(b[i]) {
		i++
	}
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	rest := b[i:]
	var v float64
	var end int
	switch {
	case hasFoldPrefix(rest, "infinity"):
		v, end = math.Inf(1), i+8
	case hasFoldPrefix(rest, "inf"):
		v, end = math.Inf(1), i+3
	case hasFoldPrefix(rest, "nan"):
		v, end = math.NaN(), i+3
		if end < len(b) && b[end] == '(' {
			j := end + 1
			for j < len(b) && (isAlnum(b[j]) || b[j] == '_') {
				j++
			}
			if j < len(b) && b[j] == ')' {
				end = j + 1
			}
		}
	default:
		n, f, tiny, ok := scanFloat(rest)
		if !ok {
			return 0, false
		}
		if math.IsInf(f, 0) || tiny {
			return 0, false // ERANGE
		}
		v, end = f, i+n
	}
	if !tailOK(b, end) {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}

// scanFloat reads the longest decimal or hexadecimal floating-point number
// at the start of b, as strtod does: n is the bytes it takes (0 with ok
// false when there is none); tiny is true for a nonzero number that rounds
// to zero or inexactly to a subnormal.
func scanFloat(b []byte) (n int, f float64, tiny, ok bool) {
	hex := len(b) > 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X') &&
		(isHexDigit(b[2]) || (b[2] == '.' && len(b) > 3 && isHexDigit(b[3])))
	digit, expChar, start := isDigit, byte('e'), 0
	if hex {
		digit, expChar, start = isHexDigit, 'p', 2
	}
	i, digits, nonzero := start, 0, false
	for ; i < len(b) && digit(b[i]); i++ {
		digits++
		nonzero = nonzero || b[i] != '0'
	}
	if i < len(b) && b[i] == '.' {
		for i++; i < len(b) && digit(b[i]); i++ {
			digits++
			nonzero = nonzero || b[i] != '0'
		}
	}
	if digits == 0 {
		return 0, 0, false, false
	}
	mant := i
	if i < len(b) && b[i]|0x20 == expChar {
		j := i + 1
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j < len(b) && isDigit(b[j]) {
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			i = j
		}
	}
	s := string(b[:i])
	if hex && i == mant {
		s += "p0" // Go wants the binary exponent that C makes optional
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) {
		return 0, 0, false, false
	}
	if nonzero && math.Abs(f) < 0x1p-1022 {
		// glibc reports underflow only for an inexact result. A decimal of
		// at most 31 bytes is never exactly a subnormal; a hexadecimal one
		// may be.
		tiny = true
		if hex {
			exact, _, err := big.ParseFloat(s, 0, 1024, big.ToNearestEven)
			tiny = err != nil || new(big.Float).SetFloat64(f).Cmp(exact) != 0
		}
	}
	return i, f, tiny, true
}

func isDigit(c byte) bool    { return c-'0' <= 9 }
func isHexDigit(c byte) bool { return c-'0' <= 9 || (c|0x20)-'a' <= 5 }
func isAlnum(c byte) bool    { return c-'0' <= 9 || (c|0x20)-'a' <= 25 }

// hasFoldPrefix reports whether b starts with the lower-case ASCII word w,
// in any case.
func hasFoldPrefix(b []byte, w string) bool {
	if len(b) < len(w) {
		return false
	}
	for i := 0; i < len(w); i++ {
		if b[i]|0x20 != w[i] {
			return false
		}
	}
	return true
}
