package lru

import (
	"errors"
	"fmt"

	"github.com/slabcache/slabcache/slab"
)

// Config holds the store's settings, named after memcached's flags. Build
// it from DefaultConfig and change what you need; New validates it.
type Config struct {
	// OnEvict, when set, is called for each item evicted to make room
	// (`watch evictions`), with the shard lock held: it must be quick,
	// must not call the store, and must not keep the DumpItem or its Key.
	OnEvict func(*DumpItem)
	// OnAutomove, when set, is called for each page the automover
	// (slab_automove) moves from class src to class dst (0: the global
	// pool), or tried to move when ok is false (`watch sysevents`). The
	// mover's lock is held: it must be quick and must not call the store.
	OnAutomove func(src, dst int, ok bool)
	// OnCrawlerStatus, when set, is called as the crawler schedules an
	// LRU's next autocrawl after a run (`watch sysevents`), with the
	// crawler's lock held: it must be quick and must not call the store.
	OnCrawlerStatus func(CrawlerStatus)
	// MemoryLimit is the most memory for items, in bytes (-m is in MiB).
	// Rounded down to whole 1 MiB pages. Default 64 MiB. The hash index is
	// not counted, as in memcached.
	MemoryLimit int64
	// MemoryLimitMax is the most SetMemoryLimit may raise the limit to
	// (`cache_memlimit`), in bytes: its address space and page bookkeeping
	// are reserved at New, untouched until used. 0 means MemoryLimit.
	MemoryLimitMax int64
	// NoEvict returns NoMemory from stores instead of evicting live items
	// when memory is full (-M). Expired items are still reclaimed. Default false.
	NoEvict bool
	// LFU picks the victim among the items at the tail of COLD by how
	// often their keys were read (a frequency sketch), instead of taking
	// the tail (-o eviction=lfu; lfu.go). Default false.
	LFU bool
	// TrackSizes keeps memcached's item size histogram (-o track_sizes,
	// SizeHistogram): linked items by memcached's size of them, in 32-byte
	// steps. Default false; it costs an atomic add on every link and
	// unlink.
	TrackSizes bool
	// ItemSizeMax is the largest item in bytes (-I), measured as memcached
	// measures it (48-byte header, key + 1, value + 2, 8 for CAS, 4 for
	// nonzero flags), so the same values fit. Default 1 MiB; 1 KiB to 1 GiB
	// and at most MemoryLimit/2.
	ItemSizeMax int
	// GrowthFactor is the chunk size factor between classes (-f). Default 1.25.
	GrowthFactor float64
	// ClassSizes, when set, are the chunk sizes of the slab classes before
	// the largest (memcached's -o slab_sizes), in increasing order, in place
	// of GrowthFactor and MinChunkSpace's classes.
	ClassSizes []int
	// MinChunkSpace is the space for key+value+flags in the smallest chunk
	// (-n), in bytes. Default 48. The smallest chunk is the 24-byte header
	// plus this, at least 32.
	MinChunkSpace int
	// NoCAS drops the 8-byte CAS from every item (-C); CAS values read 0 and
	// cas commands never match. Default false.
	NoCAS bool
	// SlabChunkMax is the largest chunk (slab_chunk_max), in bytes; items
	// larger than this are stitched from chunks. Default 512 KiB (half a
	// page); 0 means the default. As in memcached it may not exceed
	// ItemSizeMax, so a smaller -I needs a smaller slab_chunk_max too.
	SlabChunkMax int
	// SlabReassign allows page moves between classes (slab_reassign).
	// Default true.
	SlabReassign bool
	// SlabAutomove picks the page mover's policy (slab_automove): 0 off (only
	// explicit Reassign), 1 move pages from classes with spare free chunks to
	// the global pool (once all the memory is in use) and from the class
	// with the oldest items to a class under eviction pressure, checked
	// once a second (AutomoveOnce); 2 the same, as in memcached 1.6.45.
	// Default 1. Needs SlabReassign.
	SlabAutomove int
	// SlabAutomoveWindow is how many of the automover's looks a class must
	// go without evictions or new pages before its spare pages go back to
	// the global pool (slab_automove_window). Default 10.
	SlabAutomoveWindow int
	// SlabAutomoveRatio: a page moves to a class under eviction pressure
	// only when that class's items are younger than this share of the
	// oldest class's (slab_automove_ratio). Default 0.8.
	SlabAutomoveRatio float64
	// LRUCrawler runs the background crawler that reclaims expired items
	// (lru_crawler). Default true.
	LRUCrawler bool
	// LRUMaintainer runs the background maintainer that moves items between
	// HOT, WARM and COLD (lru_maintainer). Default true. Without it items
	// move only when a store needs memory.
	LRUMaintainer bool
	// LRUStripes splits each class's LRU into this many independent
	// lists, each with its own lock, an item's list chosen by its key's
	// hash. One list (the default, as memcached) keeps eviction order
	// exactly least recently used within a class; with several, stores of
	// one class on many cores stop queueing on one lock, and order is
	// least recently used within a stripe (an eviction takes the tail of
	// the storing key's stripe first). HOT and WARM shares and ages apply
	// per stripe. 0 means 1; a power of two up to MaxLRUStripes.
	LRUStripes int
	// HotLRUPct is the most of a class's bytes HOT may hold, in percent
	// (hot_lru_pct). Default 20; 1..80.
	HotLRUPct int
	// WarmLRUPct is the most of a class's bytes WARM may hold, in percent
	// (warm_lru_pct). Default 40; 1..80, and HotLRUPct+WarmLRUPct <= 80.
	WarmLRUPct int
	// HotMaxFactor bounds the age of HOT items as a multiple of the COLD
	// tail's age (hot_max_factor). Default 0.2; 0 means no age bound.
	HotMaxFactor float64
	// WarmMaxFactor bounds the age of WARM items as a multiple of the COLD
	// tail's age (warm_max_factor). Default 2.0; 0 means no age bound.
	WarmMaxFactor float64
	// TempLRU puts items whose TTL is at most TemporaryTTL in the TEMP
	// segment, which is never bumped and only reclaimed (temp_lru).
	// Default false, as in memcached.
	TempLRU bool
	// TemporaryTTL is the TTL, in seconds, at or under which items go to
	// TEMP when TempLRU is on (temporary_ttl). Default 61.
	TemporaryTTL uint32
	// HashPower sets the initial index size to 2^HashPower slots, spread
	// over the shards (hashpower). Default 16; 0 means the default; at most 32.
	HashPower int
	// MemoryFile keeps item memory in this file instead of anonymous memory
	// (memcached's -e): best on tmpfs such as /dev/shm. With Restore, the
	// items a clean stop saved there (SaveSnapshot) are served again.
	MemoryFile string
	// HugePages backs item memory with transparent huge pages where the
	// kernel allows (slab.Config.HugePages; memcached's -L).
	HugePages bool
	// Restore is the snapshot ReadSnapshot found beside MemoryFile, or nil
	// to start empty.
	Restore *Snapshot
	// CrawlerToCrawl is memcached's lru_crawler_tocrawl: at most this many
	// items of each LRU (class and segment) are checked by a crawl run,
	// asked for or automatic; 0 means all. SetCrawlerToCrawl changes it.
	CrawlerToCrawl uint32
	// CrawlerItemsPerTick bounds the crawler's work: chunks examined per
	// background pass. Default 4096.
	CrawlerItemsPerTick int
	// FlushPrefixMax bounds the flushed prefixes kept until the crawler has
	// reclaimed their items (FlushPrefix). Default 65536.
	FlushPrefixMax int
}

// DefaultConfig returns memcached 1.6's defaults (segmented LRU, maintainer
// and crawler on, slab_automove 1). The memory and class shape come from
// slab.DefaultConfig; the server's defaults come from here.
func DefaultConfig() Config {
	sd := slab.DefaultConfig()
	return Config{
		MemoryLimit:         sd.MemLimit,
		ItemSizeMax:         1 << 20,
		GrowthFactor:        sd.Factor,
		MinChunkSpace:       sd.MinChunk - memcachedHeader,
		SlabChunkMax:        sd.ChunkMax,
		SlabReassign:        true,
		SlabAutomove:        1,
		SlabAutomoveWindow:  10,
		SlabAutomoveRatio:   0.8,
		LRUCrawler:          true,
		LRUMaintainer:       true,
		HotLRUPct:           20,
		WarmLRUPct:          40,
		HotMaxFactor:        0.2,
		WarmMaxFactor:       2.0,
		TemporaryTTL:        61,
		HashPower:           16,
		CrawlerItemsPerTick: 4096,
		FlushPrefixMax:      65536,
	}
}

// MaxLRUStripes is the most LRU stripes a class may have (LRUStripes).
const MaxLRUStripes = 16

// ErrConfig wraps every configuration error from New.
var ErrConfig = errors.New("lru: bad config")

func (c *Config) validate() error {
	d := DefaultConfig()
	if c.SlabChunkMax == 0 {
		c.SlabChunkMax = d.SlabChunkMax
	}
	if c.HashPower == 0 {
		c.HashPower = d.HashPower
	}
	if c.CrawlerItemsPerTick <= 0 {
		c.CrawlerItemsPerTick = d.CrawlerItemsPerTick
	}
	if c.LRUStripes == 0 {
		c.LRUStripes = 1
	}
	if c.FlushPrefixMax <= 0 {
		c.FlushPrefixMax = d.FlushPrefixMax
	}
	bad := func(f string, a ...any) error { return fmt.Errorf("%w: "+f, append([]any{ErrConfig}, a...)...) }
	switch {
	case c.MemoryLimit < slab.PageSize || c.MemoryLimit > slab.MaxMemLimit:
		return bad("MemoryLimit %d must be between 1 MiB and %d", c.MemoryLimit, int64(slab.MaxMemLimit))
	case c.ItemSizeMax < 1024 || c.ItemSizeMax > 1<<30:
		return bad("ItemSizeMax %d must be between 1 KiB and 1 GiB", c.ItemSizeMax)
	case int64(c.ItemSizeMax) > c.MemoryLimit/2:
		return bad("ItemSizeMax %d is over half of MemoryLimit", c.ItemSizeMax)
	case !(c.GrowthFactor > 1):
		return bad("GrowthFactor %v must be over 1", c.GrowthFactor)
	case c.MinChunkSpace < 0:
		return bad("MinChunkSpace %d is negative", c.MinChunkSpace)
	case c.SlabChunkMax < 1024 || c.SlabChunkMax > slab.PageSize || c.SlabChunkMax%slab.ChunkAlign != 0:
		return bad("SlabChunkMax %d must be a multiple of 8 between 1 KiB and one page", c.SlabChunkMax)
	case c.SlabChunkMax > c.ItemSizeMax:
		return bad("SlabChunkMax %d cannot be larger than ItemSizeMax %d", c.SlabChunkMax, c.ItemSizeMax)
	case c.SlabAutomove < 0 || c.SlabAutomove > 2:
		return bad("SlabAutomove %d must be 0, 1 or 2", c.SlabAutomove)
	case c.SlabAutomoveWindow < 0:
		return bad("SlabAutomoveWindow %d is negative", c.SlabAutomoveWindow)
	case c.SlabAutomoveRatio < 0 || c.SlabAutomoveRatio > 1:
		return bad("SlabAutomoveRatio %g must be between 0 and 1", c.SlabAutomoveRatio)
	case c.HotLRUPct < 1 || c.HotLRUPct > 80 || c.WarmLRUPct < 1 || c.WarmLRUPct > 80 || c.HotLRUPct+c.WarmLRUPct > 80:
		return bad("HotLRUPct %d and WarmLRUPct %d must be 1..80 and add up to at most 80", c.HotLRUPct, c.WarmLRUPct)
	case c.HotMaxFactor < 0 || c.WarmMaxFactor < 0:
		return bad("HotMaxFactor and WarmMaxFactor must not be negative")
	case c.LRUStripes < 1 || c.LRUStripes > MaxLRUStripes || c.LRUStripes&(c.LRUStripes-1) != 0:
		return bad("LRUStripes %d must be a power of two from 1 to %d", c.LRUStripes, MaxLRUStripes)
	case c.HashPower < 4 || c.HashPower > 32:
		return bad("HashPower %d must be 4..32", c.HashPower)
	}
	return nil
}

// memcachedHeader is sizeof(item) in memcached on 64-bit systems.
const memcachedHeader = 48

// MemcachedItemSize is memcached's ITEM_ntotal for an item: its 48-byte
// header, key and NUL, value and "\r\n", 8 bytes of CAS when CAS is on, 4
// bytes of client flags when they are not 0. The ItemSizeMax check uses it
// so that exactly the values memcached accepts fit, and the server reports
// it (me size=, metadump) because tools compare it with -I; slabcache
// stores an item in fewer bytes (Item.Size).
func MemcachedItemSize(klen int, flags uint32, vlen int, cas bool) int {
	n := memcachedHeader + klen + 1 + vlen + 2
	if flags != 0 {
		n += 4
	}
	if cas {
		n += 8
	}
	return n
}
