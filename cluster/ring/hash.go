package ring

import (
	"crypto/md5"
	"encoding/binary"
)

// KeyHash hashes a key to a point on a ketama ring.
type KeyHash func(key []byte) uint32

// FNV1a64 is twemproxy's "fnv1a_64" key hash. Despite its name it is
// 32-bit FNV-1a: the 64-bit offset basis and prime truncated to 32 bits
// (0x84222325 and 0x1b3), and each byte sign-extended as C's char is, so
// bytes of 0x80 and above flip the high bits too.
func FNV1a64(key []byte) uint32 {
	h := uint32(0x84222325)
	for _, c := range key {
		h ^= uint32(int32(int8(c)))
		h *= 0x1b3
	}
	return h
}

// MD5 is the md5 key hash of twemproxy and libmemcached: the first four
// bytes of MD5(key) as a little-endian uint32.
func MD5(key []byte) uint32 {
	d := md5.Sum(key)
	return binary.LittleEndian.Uint32(d[:4])
}

const murmurM = 0xc6a4a7935bd1e995

// MurmurHash64A is Austin Appleby's 64-bit MurmurHash2 for 64-bit
// platforms, reading 8-byte blocks little-endian as x86 does.
func MurmurHash64A(key []byte, seed uint32) uint64 {
	const r = 47
	h := uint64(seed) ^ (uint64(len(key)) * murmurM)
	for len(key) >= 8 {
		k := binary.LittleEndian.Uint64(key)
		k *= murmurM
		k ^= k >> r
		k *= murmurM
		h ^= k
		h *= murmurM
		key = key[8:]
	}
	if len(key) > 0 {
		for i := len(key) - 1; i >= 0; i-- {
			h ^= uint64(key[i]) << (8 * uint(i))
		}
		h *= murmurM
	}
	h ^= h >> r
	h *= murmurM
	h ^= h >> r
	return h
}
