package proto

// Command identifies a request. The zero value CmdNone means "not
// recognised" (Parse then returns ErrUnknownCommand or another error).
type Command uint8

// The commands of a release build of memcached 1.6.45's text and meta
// protocol, built with extstore (the debug-build commands answer ERROR
// there, as here), plus config (ElastiCache discovery), cluster
// (slabcache's member listing) and flush_prefix (slabcache's namespace
// flush).
const (
	CmdNone Command = iota

	// Retrieval: Keys holds the keys; gat and gats also Exptime.
	CmdGet
	CmdGets
	CmdGat
	CmdGats

	// Storage: Key, ClientFlags, Exptime, ValueLen, Value, NoReply; cas
	// also CAS.
	CmdSet
	CmdAdd
	CmdReplace
	CmdAppend
	CmdPrepend
	CmdCas

	CmdDelete        // Key, NoReply; Args: origin and sequence of a slabcache relay
	CmdIncr          // Key, Delta, NoReply
	CmdDecr          // Key, Delta, NoReply
	CmdTouch         // Key, Exptime, NoReply
	CmdFlushAll      // Exptime (0 when absent), NoReply
	CmdVerbosity     // Level, NoReply
	CmdVersion       // no fields
	CmdQuit          // no fields
	CmdCacheMemlimit // MemLimit (megabytes), NoReply
	CmdFlushPrefix   // Key (the prefix), NoReply; Args: origin and sequence of a relay; not in memcached

	// Meta commands: Key (decoded when KeyBinary), flags in request order
	// (MetaFlags) and the values of their tokens.
	CmdMetaGet        // mg
	CmdMetaSet        // ms: also ValueLen and Value
	CmdMetaDelete     // md
	CmdMetaArithmetic // ma
	CmdMetaNoop       // mn
	CmdMetaDebug      // me: Key, KeyBinary

	// Admin commands: tokenised only; Args holds the tokens after the
	// command word, for the server to interpret.
	CmdStats
	CmdSlabs
	CmdLru
	CmdLruCrawler
	CmdWatch
	CmdShutdown
	CmdRefreshCerts
	CmdExtstore // memcached built with extstore: its tunables
	CmdConfig   // not in memcached: ElastiCache "config get cluster"
	CmdCluster  // not in memcached: slabcache's "cluster members"

	numCommands
)

var commandNames = [numCommands]string{
	CmdNone:           "none",
	CmdGet:            "get",
	CmdGets:           "gets",
	CmdGat:            "gat",
	CmdGats:           "gats",
	CmdSet:            "set",
	CmdAdd:            "add",
	CmdReplace:        "replace",
	CmdAppend:         "append",
	CmdPrepend:        "prepend",
	CmdCas:            "cas",
	CmdDelete:         "delete",
	CmdIncr:           "incr",
	CmdDecr:           "decr",
	CmdTouch:          "touch",
	CmdFlushAll:       "flush_all",
	CmdVerbosity:      "verbosity",
	CmdVersion:        "version",
	CmdQuit:           "quit",
	CmdCacheMemlimit:  "cache_memlimit",
	CmdFlushPrefix:    "flush_prefix",
	CmdMetaGet:        "mg",
	CmdMetaSet:        "ms",
	CmdMetaDelete:     "md",
	CmdMetaArithmetic: "ma",
	CmdMetaNoop:       "mn",
	CmdMetaDebug:      "me",
	CmdStats:          "stats",
	CmdSlabs:          "slabs",
	CmdLru:            "lru",
	CmdLruCrawler:     "lru_crawler",
	CmdWatch:          "watch",
	CmdShutdown:       "shutdown",
	CmdRefreshCerts:   "refresh_certs",
	CmdExtstore:       "extstore",
	CmdConfig:         "config",
	CmdCluster:        "cluster",
}

// String returns the command word as sent on the wire ("get", "mg", ...).
func (c Command) String() string {
	if c < numCommands {
		return commandNames[c]
	}
	return "unknown"
}

// IsStorage reports whether c carries a data block (set, add, replace,
// append, prepend, cas, ms).
func (c Command) IsStorage() bool {
	return (c >= CmdSet && c <= CmdCas) || c == CmdMetaSet
}

// IsRetrieval reports whether c is get, gets, gat or gats.
func (c Command) IsRetrieval() bool { return c >= CmdGet && c <= CmdGats }

// IsMeta reports whether c is one of the meta commands.
func (c Command) IsMeta() bool { return c >= CmdMetaGet && c <= CmdMetaDebug }

// IsAdmin reports whether c is an admin command whose arguments are left
// in Args for the server to interpret.
func (c Command) IsAdmin() bool { return c >= CmdStats && c < numCommands }
