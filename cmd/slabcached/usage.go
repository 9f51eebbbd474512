package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/slabcache/slabcache/server"
)

// printVersion writes what -V prints: as memcached, the program's name and
// the version the version command reports (memcached's release first).
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "slabcached %s\n", server.Version)
}

// printUsage writes what -h prints: memcached's option list with
// slabcached's defaults and differences.
func printUsage(w io.Writer) {
	d := server.DefaultSettings()
	printVersion(w)
	fmt.Fprintf(w, `-p, --port=<num>          TCP port to listen on (default: %d)
-U, --udp-port=<num>      UDP port to listen on (default: 0, off)
-s, --unix-socket=<file>  UNIX socket to listen on (disables network support)
-a, --unix-mask=<mask>    access mask for UNIX socket, in octal (default: %o)
-A, --enable-shutdown     enable ascii "shutdown" command
-l, --listen=<addr>       interface to listen on (default: %s); a list separated
                          by ',' or repeated -l; each may be host:port or [ipv6]:port;
                          '*' means every interface; with -Z an entry may start with
                          'notls:' (no TLS), 'btls:' (no client certificate asked) or
                          'mtls:' (a client certificate required)
-d, --daemon              run as a daemon
-u, --user=<user>         assume identity of <username> (only when run as root;
                          ignored with a notice otherwise)
-m, --memory-limit=<num>  item memory in megabytes (default: %d)
-M, --disable-evictions   return error on memory exhausted instead of evicting
-c, --conn-limit=<num>    max simultaneous connections (default: %d)
-k, --lock-memory         lock down all paged memory
-v, --verbose             verbose (print errors/warnings while in event loop)
-vv                       very verbose (also print client commands/responses)
-vvv                      extremely verbose (internal state transitions)
    --verbose=<n>         set the verbosity level directly
-h, --help                print this help and exit
-V, --version             print version and exit
-P, --pidfile=<file>      save PID in <file>
-f, --slab-growth-factor=<num> chunk size growth factor (default: %.2f)
-n, --slab-min-size=<bytes> min space used for key+value+flags (default: %d)
-L, --enable-largepages   try to use large memory pages (if available)
-D <char>                 use <char> as the delimiter between key prefixes and IDs
                          for per-prefix stats ("stats detail"); turns them on
-t, --threads=<num>       number of event loops (default: the number of CPUs, %d here)
-R, --max-reqs-per-event  maximum number of requests per event (default: %d)
-C, --disable-cas         disable use of CAS
-b, --listen-backlog=<num> set the backlog queue limit (default: %d)
-B, --protocol=<name>     protocol - one of ascii, binary, or auto (default: auto-negotiate)
-Y, --auth-file=<file>    enable ASCII protocol authentication. format:
                          user:pass\nuser2:pass2\n (at most 8 users; reloaded on SIGHUP)
-S, --enable-sasl         turn on Sasl authentication (binary protocol, PLAIN; users and
                          passwords in the file $MEMCACHED_SASL_PWDB, user:password lines)
-Z, --enable-ssl          enable TLS/SSL (docs/tls.md)
-I, --max-item-size=<num> adjusts max item size, with k, m or g suffix
                          (default: 1m, min: 1k, max: 1g, at most half of -m)
-F, --disable-flush-all   disable flush_all command
-X, --disable-dumping     disable stats cachedump and lru_crawler metadump
-W, --disable-watch       disable watch commands (live logging)
-o, --extended            comma separated list of extended options
                          most options have a 'no_' prefix to disable
   - maxconns_fast:       immediately close new connections after limit (default: enabled)
   - hashpower:           log2 of the initial index size, 12 to 32 (default: 0, automatic)
   - no_hashexpand:       do not grow the index
   - no_prefetch:         do not load the next requests' index entries and items ahead
   - slab_reassign:       allow pages to move between slab classes (default: enabled)
   - slab_automove:       0 off, 1 background (default), 2 the same as 1
   - slab_automove_ratio: a page goes to an evicting class whose tail age is under
                          this share of the oldest class's (default: 0.80)
   - slab_automove_window: seconds of history for slab_automove (default: 10)
   - slab_chunk_max:      largest slab chunk in kilobytes; larger items are chained (default: %d)
   - no_chunked_items:    slab_chunk_max = one page (1 MiB)
   - lru_crawler:         background expiry crawler (default: enabled)
   - lru_crawler_sleep:   microseconds to sleep between items (default: %d)
   - lru_crawler_tocrawl: max items to crawl per slab per run (default: 0, unlimited)
   - lru_maintainer:      segmented LRU with a background mover (default: enabled)
   - hot_lru_pct:         pct of slab memory to reserve for hot lru (default: %d)
   - warm_lru_pct:        pct of slab memory to reserve for warm lru (default: %d)
   - hot_max_factor:      items idle > cold lru age * this drop from hot lru (default: %.2f)
   - warm_max_factor:     items idle > cold lru age * this drop from warm (default: %.2f)
   - temporary_ttl:       TTLs at most this go to a separate LRU, not evicted (default: %d)
   - idle_timeout:        seconds before an idle connection is closed (default: 0, never)
   - lru_stripes:         LRU lists per slab class, each with its own lock: 1, 2, 4, 8
                          or 16, or 0: 1 up to 4 threads, then threads/2 (default: 1)
   - hotkeys:             on|off: hot-key detection (default: on)
   - hotkey_sample_rate:  sample one request in N (default: 100)
   - hotkey_top_k:        keys each event loop's summary keeps (default: 64)
   - hotkey_window:       seconds per window (default: 1)
   - hotkey_threshold:    share of reads that makes a key hot (default: 0.01)
   - hotkey_min_rate:     reads/s under which nothing is hot (default: 1000)
   - hotkey_replicas:     nodes serving a hot key, owner included, or all (default: 3)
   - warmup_secs:         after a ring change, fill moved keys from their previous owner (default: 60)
   - warmup_rate:         MB/s at which a previous owner pushes the items that moved (default: 4; 0 off)
   - drain_secs:          on SIGTERM, serve on after leaving while others fill from us (default: 10)
   - eviction:            lru|lfu: which item goes when memory is full (default: lru,
                          memcached's; lfu keeps what is read often through scans)
   - invalidation_broadcast: with regions, every delete also deletes in the other regions
   - ssl_chain_cert:      certificate chain file in PEM format
   - ssl_key:             private key, if not part of the -ssl_chain_cert
   - ssl_keyformat:       private key format: 1 PEM, 2 DER (default: 1)
   - ssl_verify_mode:     peer certificate verification mode, default is 0(None).
                          valid values are 0(None), 1(Request), 2(Require)
                          or 3(Once)
   - ssl_ciphers:         TLS 1.0-1.2 cipher suites, OpenSSL or IANA names separated by ':'
   - ssl_ca_cert:         PEM format file of acceptable client CA's
   - ssl_wbuf_size:       size in kilobytes of per-connection SSL output buffer
                          (default: 16; reported only)
   - ssl_session_cache:   enable session resumption (session tickets)
   - ssl_min_version:     minimum protocol version to accept (default: tlsv1.2)
                          valid values are 0(tlsv1.0), 1(tlsv1.1), 2(tlsv1.2), or 3(tlsv1.3).
   - ssl_kernel_tls:      accepted, no effect (Go's TLS has no kernel offload)
   - read_buf_mem_limit:  megabytes for all connection buffers (default: 0, unlimited)
   - watcher_logbuf_size: kilobytes per watcher (default: %d)
   - worker_logbuf_size:  kilobytes per event loop for watch logs (default: %d)
   - track_sizes:         enable dynamic reports for 'stats sizes' command.
   - modern:              nothing (as in memcached 1.6)
   - no_modern:           defaults of memcached 1.4: no slab_reassign, no automove,
                          no maxconns_fast, no lru_crawler, no lru_maintainer,
                          slab_chunk_max = 1 MiB
   - slab_sizes:          the slab class chunk sizes, dash-separated (96-120-200),
                          instead of -f and -n; the last class is slab_chunk_max
   - sock_cookie_id:      attributes an ID to a socket for ip filtering/firewalls
   - tail_repair_time, hash_algorithm, inline_ascii_resp, resp_obj_mem_limit,
     slab_automove_freeratio, drop_privileges, no_drop_privileges: accepted,
     no effect
   - extstore's ext_* options: accepted, no effect (there is no extstore; stats
     settings reports them; they are not named here, so scripts that look for
     them in -h find none)
-r, --enable-coredumps    maximize core file limit
-i, --license             print the licence note and exit
-e, --memory-file=<file>  keep item memory in <file> (e.g. on /dev/shm) for a warm restart
                          after SIGUSR1 (docs/operations.md)
-N, --napi-ids=<num>      count connections' NAPI ids in stats (round_robin_fallback,
                          unexpected_napi_ids); gnet places them on event loops
Not supported (refused with a message): -o proxy_*.
Prometheus metrics (docs/metrics.md):
--metrics-listen=<addr>   serve /metrics on host:port, or off (default: 127.0.0.1:9151;
                          if the port is taken, a warning is logged and the cache serves
                          without metrics)
Clustering (docs/cluster.md):
--cluster                 turn serf gossip membership on (off: discovery answers with this node)
--cluster-name=<name>     unique node name (default: the host name)
--cluster-advertise=<host:port>   memcached address given to clients (default: -l:-p;
                          required with --cluster when listening on a wildcard address)
--cluster-bind=<ip:port>  gossip TCP and UDP (default: 0.0.0.0:7946)
--cluster-gossip-advertise=<ip:port>  gossip address other nodes use (default: the bind address)
--cluster-join=<host:port>[,...]  seeds to join (repeatable)
--cluster-retry-join=<duration>   retry period while no seed answers (default: 1s; 0: fail)
--cluster-weight=<n>      relative capacity on a ketama ring (default: 1)
--cluster-region=<name>   region: clients and the ring see its members only
--cluster-placement=<name>  key placement: ketama, ketama-md5, ch3 or jump; advertised to
                          clients (config get placement); warm-up and hot-key copies follow it
                          (default: ch3 when the only proxy file is mcrouter's, else ketama)
--cluster-keyring=<file>  serf keyring: encrypted gossip; nodes without a key cannot join
--cluster-mcrouter-config=<file>   mcrouter config rewritten on every membership change
--cluster-twemproxy-config=<file>  twemproxy pool rewritten on every membership change
--cluster-twemproxy-listen=<ip:port>  listen address of that pool (default: 127.0.0.1:22121)
`, d.Port, d.SocketMask, d.Listen, d.MaxBytes>>20, d.MaxConns, d.Factor, d.ChunkSize,
		runtime.NumCPU(), d.ReqsPerEvent, d.Backlog, d.SlabChunkMax>>10, d.LRUCrawlerSleep,
		d.HotLRUPct, d.WarmLRUPct, d.HotMaxFactor, d.WarmMaxFactor, d.TemporaryTTL,
		d.WatcherLogbufSize>>10, d.WorkerLogbufSize>>10)
}
