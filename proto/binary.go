package proto

// Binary protocol codec (work in progress).

// Framing constants of the binary protocol.
const (
	// BinReqMagic is the first byte of every binary request.
	BinReqMagic = 0x80
	// BinResMagic is the first byte of every binary response.
	BinResMagic = 0x81
	// BinHeaderLen is the length of a binary request or response header.
	BinHeaderLen = 24
)

// BinOpcode is a binary protocol command code.
type BinOpcode uint8

// BinStatus is a binary protocol response status.
type BinStatus uint16

// BinRequest is one parsed binary request.
type BinRequest struct {
	// Opcode is the command.
	Opcode BinOpcode
}

// ParseBinary reads one binary request from the front of buf.
func ParseBinary(buf []byte, r *BinRequest) (n int, err error) {
	return 0, ErrIncomplete
}
