package proto

import "encoding/base64"

// Keys of meta commands with the b flag are base64. memcached's decoder
// (base64.c, from hostap) is lenient in ways clients may depend on, so it is
// reproduced exactly: bytes outside the alphabet are skipped, the number of
// alphabet bytes ('=' included) must be a non-zero multiple of four, and
// decoding stops after the first group of four that holds padding. It
// returns 0 for anything it refuses.

const b64Invalid = 0x80

var b64Table = func() (t [256]byte) {
	for i := range t {
		t[i] = b64Invalid
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	t['='] = 0
	return t
}()

// b64Decode decodes src into dst as memcached's base64_decode does and
// returns the decoded length, 0 on failure. dst must hold len(src)*3/4
// bytes.
func b64Decode(dst []byte, src []byte) int {
	count := 0
	for _, c := range src {
		if b64Table[c] != b64Invalid {
			count++
		}
	}
	if count == 0 || count%4 != 0 {
		return 0
	}
	var block [4]byte
	pos, n, pad := 0, 0, 0
	for _, c := range src {
		v := b64Table[c]
		if v == b64Invalid {
			continue
		}
		if c == '=' {
			pad++
		}
		block[n] = v
		n++
		if n == 4 {
			dst[pos] = block[0]<<2 | block[1]>>4
			dst[pos+1] = block[1]<<4 | block[2]>>2
			dst[pos+2] = block[2]<<6 | block[3]
			pos += 3
			n = 0
			if pad > 0 {
				switch pad {
				case 1:
					pos--
				case 2:
					pos -= 2
				default:
					return 0
				}
				break
			}
		}
	}
	return pos
}

// appendBase64 appends the standard padded base64 encoding of src, which is
// what memcached's base64_encode writes.
func appendBase64(dst, src []byte) []byte {
	return base64.StdEncoding.AppendEncode(dst, src)
}
