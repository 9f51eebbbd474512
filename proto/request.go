package proto

// Limits of memcached 1.6.45 that the parser enforces.
const (
	// MaxKeyLen is the longest key (KEY_MAX_LENGTH). For meta commands with
	// the b flag it bounds the base64 text, not the decoded key.
	MaxKeyLen = 250
	// MaxBinaryKeyLen is the longest key a meta command can send with the
	// b flag: its base64 form must fit in MaxKeyLen.
	MaxBinaryKeyLen = MaxKeyLen / 4 * 3
	// MaxLineLen: a line that is not a get or gets and has more than this
	// many bytes buffered without a newline closes the connection.
	MaxLineLen = 2048
	// MaxMetaTokens is the most tokens a meta command may have, command and
	// key included (MFLAG_MAX_OPT_LENGTH).
	MaxMetaTokens = 20
	// MaxMetaFlags is the most flags a meta command can carry.
	MaxMetaFlags = MaxMetaTokens - 2
	// MaxOpaqueLen is the longest O token, the letter O included: the
	// opaque itself is at most 31 bytes.
	MaxOpaqueLen = 32
	// MaxArgs is the most admin arguments kept (MaxTokens less the
	// command).
	MaxArgs = MaxTokens - 1
)

// Request is one parsed request. Parse fills it in place; reuse one per
// connection. Byte slices point into the buffer given to Parse (or into the
// Request itself for a decoded base64 key): they are valid only until that
// buffer is reused, so copy what you keep. A Request built by hand is the
// input of AppendRequest (the client side).
type Request struct {
	// Command is what was parsed. On an *Error it is the command whose line
	// was refused, CmdNone when the command word itself was unknown.
	Command Command

	// Key is the key of single-key commands, after base64 decoding for meta
	// commands with the b flag (see KeyBinary).
	Key []byte
	// Keys are the keys of get, gets, gat and gats, in order (duplicates
	// kept). The slice is reused and only grows.
	Keys [][]byte

	// ClientFlags: the flags of set/add/replace/append/prepend/cas, and the
	// F token of ms.
	ClientFlags uint32
	// Exptime is the protocol expiry as sent (0 never, up to 30 days
	// relative, else absolute Unix time, negative expired): storage
	// commands, touch, gat, gats, the delay of flush_all, the T token of
	// meta commands (see HasFlag('T')).
	Exptime int32
	// VivifyTTL is the N token of mg and ma (autovivify on miss with this
	// TTL).
	VivifyTTL int32
	// RecacheTTL is the R token of mg (win the recache when the TTL left is
	// below it).
	RecacheTTL int32
	// CAS: the unique of cas; the C token of mg, ms, md, ma (compare).
	CAS uint64
	// CASIn is the E token of mg, ms, md, ma: the CAS value to give the
	// item stored, changed or created (see HasFlag('E')).
	CASIn uint64
	// Delta: incr/decr; the D token of ma, 1 when absent.
	Delta uint64
	// Initial is the J token of ma: the value created on a vivifying miss.
	Initial uint64
	// Mode is the byte after M: ms E A P R S (see SetMode), ma I + D - (see
	// Decr); 0 when absent. Parse gives a space for an M with no byte after
	// it; with the M flag, AppendRequest writes any other value after the
	// letter.
	Mode byte
	// KeyBinary is true when a meta command carried the b flag (me: a
	// third token "b") and Key was decoded from base64.
	KeyBinary bool
	// Opaque is the O token of a meta command without its letter (at most
	// 31 bytes); the reply echoes it.
	Opaque []byte
	// NoReply is set by a trailing "noreply" on the classic commands. It also
	// says whether memcached would suppress an error reply: when Parse
	// returns an *Error and NoReply is true, send nothing. Meta commands use
	// the q flag instead (HasFlag('q')); their errors are always sent.
	NoReply bool
	// Level is the verbosity level.
	Level uint32
	// MemLimit is the argument of cache_memlimit, in megabytes.
	MemLimit uint32

	// ValueLen is the announced length of the data block of a storage
	// command, "\r\n" excluded (0 .. 2^31-3).
	ValueLen int
	// Value is the data block, "\r\n" excluded, once it has all arrived.
	Value []byte
	// HeaderLen is the length of the command line, newline included. For a
	// storage command whose data block has not all arrived, Parse returns
	// ErrIncomplete with the header fields and HeaderLen already set, so the
	// server can refuse an oversize value at once (reply ErrTooLarge, drop
	// HeaderLen bytes and then ValueLen+2 more as they arrive).
	HeaderLen int
	// Need is set with ErrIncomplete: the least number of further bytes
	// that can change the outcome.
	Need int
	// Swallow is set with an *Error: after the n bytes Parse returned, this
	// many more bytes (the data block, possibly not yet arrived) are to be
	// discarded, as memcached does for ms errors found after the data length.
	Swallow int

	// AcceptPush is set by the caller and kept by Reset: ms takes the H
	// flag, a cluster member's hand-over push. Otherwise H is an invalid
	// flag, as in memcached.
	AcceptPush bool

	args  [MaxArgs][]byte
	nargs uint8

	flags  [MaxMetaFlags]byte // meta flag letters in request order
	nflags uint8
	seen   [2]uint64 // bitmap of flag letters present

	keyBuf [MaxKeyLen]byte // decoded base64 key

	p parser // Parse's scratch space
}

// Reset clears r for reuse, keeping the capacity of Keys.
func (r *Request) Reset() {
	keys := r.Keys[:0]
	r.Command = CmdNone
	r.Key = nil
	r.Keys = keys
	r.ClientFlags = 0
	r.Exptime = 0
	r.VivifyTTL = 0
	r.RecacheTTL = 0
	r.CAS = 0
	r.CASIn = 0
	r.Delta = 0
	r.Initial = 0
	r.Mode = 0
	r.KeyBinary = false
	r.Opaque = nil
	r.NoReply = false
	r.Level = 0
	r.MemLimit = 0
	r.ValueLen = 0
	r.Value = nil
	r.HeaderLen = 0
	r.Need = 0
	r.Swallow = 0
	r.nargs = 0
	r.nflags = 0
	r.seen = [2]uint64{}
}

// Args returns the tokens after the command word of an admin command (at
// most MaxArgs; memcached does not see more either).
func (r *Request) Args() [][]byte { return r.args[:r.nargs] }

// AddArg appends an admin argument (client side). It reports false when
// MaxArgs are already there.
func (r *Request) AddArg(a []byte) bool {
	if int(r.nargs) >= MaxArgs {
		return false
	}
	r.args[r.nargs] = a
	r.nargs++
	return true
}

// MetaFlags returns the flag letters of a meta command in request order.
// Replies echo return flags in this order.
func (r *Request) MetaFlags() []byte { return r.flags[:r.nflags] }

// HasFlag reports whether the meta command carried flag f.
func (r *Request) HasFlag(f byte) bool {
	return f < 128 && r.seen[f>>6]&(1<<(f&63)) != 0
}

// AddFlag appends meta flag f (client side; its value, if any, comes from
// the matching field: O Opaque, T Exptime, N VivifyTTL, R RecacheTTL, F
// ClientFlags, C CAS, J Initial, D Delta, M Mode; b makes AppendRequest
// encode Key in base64). It reports false for a duplicate, a byte that is
// not a letter, or more than MaxMetaFlags.
func (r *Request) AddFlag(f byte) bool {
	if f >= 128 || r.HasFlag(f) || int(r.nflags) >= MaxMetaFlags {
		return false
	}
	r.seen[f>>6] |= 1 << (f & 63)
	r.flags[r.nflags] = f
	r.nflags++
	if f == 'b' {
		r.KeyBinary = true
	}
	return true
}

// SetMode returns the storage command an ms performs: CmdSet (also when
// no M token), CmdAdd (ME), CmdAppend (MA), CmdPrepend (MP), CmdReplace (MR).
// Like memcached, the server turns set and replace into a compare-and-swap
// when a C token is present.
func (r *Request) SetMode() Command {
	switch r.Mode {
	case 'E':
		return CmdAdd
	case 'A':
		return CmdAppend
	case 'P':
		return CmdPrepend
	case 'R':
		return CmdReplace
	}
	return CmdSet
}

// Decr reports whether an ma decrements (MD or M-); it increments by
// default.
func (r *Request) Decr() bool { return r.Mode == 'D' || r.Mode == '-' }
