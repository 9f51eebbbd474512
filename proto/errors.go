package proto

import "errors"

// ErrIncomplete is returned by Parse and ParseReply when buf does not yet
// hold a whole request or reply. Request.Need (Reply.Need) then holds the
// minimum number of further bytes worth waiting for before parsing again.
var ErrIncomplete = errors.New("proto: incomplete")

// Error is a protocol error with memcached's exact reply line. The values
// below are the only ones; compare with ==. Parse returns them with the
// number of bytes to consume; Request.Swallow says how many further bytes
// memcached discards (only ms errors after its data length was read).
type Error struct {
	reply string // the reply line including "\r\n"; empty when closing silently
	text  string // the reply line without "\r\n", or a description when closing
	close bool
}

// Error returns the reply text without the line ending.
func (e *Error) Error() string { return e.text }

// Reply returns the exact line to send, "\r\n" included; it is empty for
// errors after which memcached closes the connection without a word.
func (e *Error) Reply() string { return e.reply }

// Close reports whether the connection must be closed (after sending Reply,
// if any).
func (e *Error) Close() bool { return e.close }

// allErrors lists every Error value, for LookupError; the constructors
// below register them.
var allErrors []*Error

func register(e *Error) *Error {
	allErrors = append(allErrors, e)
	return e
}

func replyErr(line string) *Error { return register(&Error{reply: line + "\r\n", text: line}) }

func closeErr(why string) *Error { return register(&Error{text: why, close: true}) }

func replyCloseErr(line string) *Error {
	return register(&Error{reply: line + "\r\n", text: line, close: true})
}

// The protocol errors of memcached 1.6.45, each with its exact reply. This is
// the one place where error texts live; checked against the real server by
// TestErrorsAgainstMemcached.
var (
	// ErrUnknownCommand: unknown command, wrong number of tokens.
	ErrUnknownCommand = replyErr("ERROR")
	// ErrBadFormat: a line too short or with too few tokens, key too long,
	// bad number in a storage command line, negative or oversize data
	// length, bad verbosity level, bad base64 key for me.
	ErrBadFormat = replyErr("CLIENT_ERROR bad command line format")
	// ErrGetKeyTooLong: a key of get, gets, gat or gats longer than
	// MaxKeyLen. memcached 1.6.45 sends the error line followed by an empty
	// line, and drops every reply of the same read that it had not yet
	// sent (the server discards its pending output before appending this).
	ErrGetKeyTooLong = register(&Error{reply: "CLIENT_ERROR bad command line format\r\n\r\n", text: "CLIENT_ERROR bad command line format"})
	// ErrBadDataChunk: the data block of a storage command was not followed
	// by "\r\n". memcached consumes the command line and exactly the
	// announced length plus two bytes, then parses what follows as a new
	// command.
	ErrBadDataChunk = replyErr("CLIENT_ERROR bad data chunk")
	// ErrInvalidExptime: touch, gat, gats and flush_all with a bad exptime.
	ErrInvalidExptime = replyErr("CLIENT_ERROR invalid exptime argument")
	// ErrInvalidDelta: incr/decr with a bad delta.
	ErrInvalidDelta = replyErr("CLIENT_ERROR invalid numeric delta argument")
	// ErrLineTooLong: more than MaxLineLen bytes without a newline on a
	// line that is not a get/gets. memcached closes without a reply.
	ErrLineTooLong = closeErr("proto: line too long")
	// ErrHTTP: an unknown command whose last token starts with "HTTP/".
	// memcached closes without a reply.
	ErrHTTP = closeErr("proto: HTTP request")

	// Meta command errors.

	ErrDuplicateFlag = replyErr("CLIENT_ERROR duplicate flag")
	ErrInvalidFlag   = replyErr("CLIENT_ERROR invalid flag")
	// ErrBadToken: bad number in an N, T, R or C token.
	ErrBadToken = replyErr("CLIENT_ERROR bad token in command line format")
	// ErrDecodingKey: the b flag with a key that is not base64.
	ErrDecodingKey       = replyErr("CLIENT_ERROR error decoding key")
	ErrInvalidInitial    = replyErr("CLIENT_ERROR invalid numeric initial value")
	ErrInvalidDeltaValue = replyErr("CLIENT_ERROR invalid numeric delta value")
	ErrMTokenLength      = replyErr("CLIENT_ERROR incorrect length for M token")
	ErrOpaqueTooLong     = replyErr("CLIENT_ERROR opaque token too long")
	// ErrFlagsTooLong: a meta command with more than MaxMetaTokens tokens.
	ErrFlagsTooLong = replyErr("CLIENT_ERROR options flags are too long")
	// ErrInvalidOrDuplicate: any flag error of ma (memcached does not pass
	// on the precise text for it).
	ErrInvalidOrDuplicate = replyErr("CLIENT_ERROR invalid or duplicate flag")
	ErrMsInvalidMode      = replyErr("CLIENT_ERROR invalid mode for ms M token")
	ErrMaInvalidMode      = replyErr("CLIENT_ERROR invalid mode for ma M token")

	// Errors the server raises while executing a well-formed request.

	// ErrTooLarge: a value over the item size limit (-I). memcached swallows
	// the data block; for set (and ms) it also unlinks the old item.
	ErrTooLarge = replyErr("SERVER_ERROR object too large for cache")
	// ErrOutOfMemory: no memory to store the item (with -M); swallowed like
	// ErrTooLarge.
	ErrOutOfMemory = replyErr("SERVER_ERROR out of memory storing object")
	// ErrGetNoMemory: a multi-get whose replies cannot be held; memcached
	// drops the replies not yet sent and answers this.
	ErrGetNoMemory = replyErr("SERVER_ERROR out of memory writing get response")
	// ASCII authentication (-Y): the replies to a connection that has not
	// authenticated.
	ErrUnauthenticated    = replyErr("CLIENT_ERROR unauthenticated")
	ErrAuthTokenTooLong   = replyErr("CLIENT_ERROR auth token too long")
	ErrBadLineTermination = replyErr("CLIENT_ERROR bad command line termination")
	ErrBadAuthToken       = replyErr("CLIENT_ERROR bad authentication token format")
	ErrAuthFailure        = replyErr("CLIENT_ERROR authentication failure")
	// ErrNonNumeric: incr, decr or ma on a value that is not a number.
	ErrNonNumeric = replyErr("CLIENT_ERROR cannot increment or decrement non-numeric value")
	// ErrTooManyConnections: sent before closing a connection over -c.
	ErrTooManyConnections = replyCloseErr("ERROR Too many open connections")
	// ErrFlushDisabled: flush_all under -F (checked before the exptime).
	ErrFlushDisabled = replyErr("CLIENT_ERROR flush_all not allowed")
	// ErrFlushPrefixDisabled: flush_prefix (or md A) under -F.
	ErrFlushPrefixDisabled = replyErr("CLIENT_ERROR flush_prefix not allowed")
	// ErrPrefixTableFull: flush_prefix while the table of flushed prefixes
	// awaiting reclaim is full (slabcache only).
	ErrPrefixTableFull = replyErr("SERVER_ERROR too many flushed prefixes awaiting reclaim")
	// ErrShutdownDisabled: shutdown without -A.
	ErrShutdownDisabled = replyErr("SERVER_ERROR: shutdown not enabled")
	// ErrShutdownMode: shutdown with an argument other than "graceful".
	ErrShutdownMode = replyErr("CLIENT_ERROR invalid shutdown mode")
	// ErrArithNoMemory: incr, decr or ma could not allocate the new value
	// (not the storage commands' wording).
	ErrArithNoMemory = replyErr("SERVER_ERROR out of memory")

	// Replies of the admin commands other than OK, with memcached's words.
	// Some are not errors to a client (BUSY, NOSPARE) but, like errors,
	// are one fixed line.

	// slabs reassign.
	ErrReassignBadClass = replyErr("BADCLASS invalid src or dst class id")
	ErrReassignNoSpare  = replyErr("NOSPARE source class has no spare pages")
	ErrReassignSame     = replyErr("SAME src and dst class are identical")
	ErrReassignBusy     = replyErr("BUSY currently processing reassign request")
	ErrReassignDisabled = replyErr("CLIENT_ERROR slab reassignment disabled")
	// slabs automove window.
	ErrAutomoveWindow = replyErr("CLIENT_ERROR automove window too low or too high")
	// lru tune.
	ErrLRUPctSum  = replyErr("ERROR hot and warm pcts must not exceed 80")
	ErrLRUFactors = replyErr("ERROR hot/warm age factors must be greater than 0")
	// lru_crawler.
	ErrCrawlerSleep      = replyErr("CLIENT_ERROR sleep must be one second or less")
	ErrCrawlerBadClass   = replyErr("BADCLASS invalid class id")
	ErrCrawlerDisabled   = replyErr("CLIENT_ERROR lru crawler disabled")
	ErrCrawlerBusy       = replyErr("BUSY currently processing crawler request")
	ErrCrawlerStart      = replyErr("ERROR failed to start lru crawler thread")
	ErrCrawlerNotStarted = replyErr("NOTSTARTED no items to crawl")    // an empty class list
	ErrCrawlerUnknown    = replyErr("ERROR an unknown error happened") // crawl hash: a hash walk is for dumps only
	ErrDumpDisabled      = replyErr("ERROR metadump not allowed")      // -X
	ErrKeyDumpDisabled   = replyErr("ERROR key dump not allowed")      // mgdump under -X
	ErrPipelinedMetadump = replyErr("ERROR cannot pipeline other commands before metadump")
	ErrPipelinedMgdump   = replyErr("ERROR cannot pipeline other commands before mgdump")
	// watch under -W, stats detail with a bad argument.
	ErrWatchDisabled  = replyErr("CLIENT_ERROR watch commands not allowed")
	ErrPipelinedWatch = replyErr("ERROR cannot pipeline other commands before watch")
	ErrDetailUsage    = replyErr("CLIENT_ERROR usage: stats detail on|off|dump")
	// stats detail and stats cachedump under -X; stats cachedump's
	// argument errors.
	ErrDetailDisabled    = replyErr("CLIENT_ERROR stats detail not allowed")
	ErrCachedumpDisabled = replyErr("CLIENT_ERROR stats cachedump not allowed")
	ErrBadCommandLine    = replyErr("CLIENT_ERROR bad command line")
	ErrIllegalSlabID     = replyErr("CLIENT_ERROR Illegal slab id")
	// cache_memlimit.
	ErrMemlimitTooSmall = replyErr("MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m")
	ErrMemlimitNotBytes = replyErr("MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes")
	ErrMemlimitAdjust   = replyErr("MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust")
	// refresh_certs without TLS.
	ErrTLSNotEnabled = replyErr("Error TLS not enabled")
)
