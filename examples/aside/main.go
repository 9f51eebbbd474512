// Command aside shows cluster/aside in front of a slow database: many
// goroutines read a few keys whose values expire every TTL, and the
// database sees one query per key per expiry, however many readers.
//
//	make run &                      # a slabcached on 127.0.0.1:11211
//	go run ./examples/aside         # or: -servers host:port (stock memcached) -duration 10s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slabcache/slabcache/cluster/aside"
	"github.com/slabcache/slabcache/cluster/client"
)

func main() {
	servers := flag.String("servers", "127.0.0.1:11211", "memcached or slabcached addresses, comma-separated (a fixed list: no discovery)")
	readers := flag.Int("readers", 200, "goroutines reading")
	keys := flag.Int("keys", 5, "keys they read")
	duration := flag.Duration("duration", 5*time.Second, "how long they read")
	ttl := flag.Duration("ttl", time.Second, "fresh TTL of a loaded value")
	staleFor := flag.Duration("stale-for", 5*time.Second, "served stale this long after TTL while one reader refreshes")
	flag.Parse()

	cl, err := client.New(client.Config{Servers: strings.Split(*servers, ",")})
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	cache, err := aside.New(cl, aside.Config{TTL: *ttl, StaleFor: *staleFor, NearCacheBytes: 1 << 20, NearTTL: 100 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}

	// The database: 100 ms a query; user:404 does not exist.
	var queries atomic.Int64
	db := func(ctx context.Context, key string) ([]byte, error) {
		queries.Add(1)
		time.Sleep(100 * time.Millisecond)
		if key == "user:404" {
			return nil, aside.ErrNotFound
		}
		return []byte(fmt.Sprintf(`{"key":%q,"loaded":%q}`, key, time.Now().Format(time.RFC3339Nano))), nil
	}

	var reads, notFound atomic.Int64
	stop := time.Now().Add(*duration)
	var wg sync.WaitGroup
	for r := range *readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := r; time.Now().Before(stop); i++ {
				key := fmt.Sprintf("user:%d", i%*keys)
				if i%50 == 0 {
					key = "user:404"
				}
				_, err := cache.GetOrLoad(context.Background(), key, db)
				switch {
				case errors.Is(err, aside.ErrNotFound):
					notFound.Add(1)
				case err != nil:
					log.Print(err)
				}
				reads.Add(1)
			}
		}()
	}
	wg.Wait()
	st := cache.Stats()
	fmt.Printf("%d reads in %v by %d readers over %d keys (+1 missing), TTL %v, stale for %v\n",
		reads.Load(), *duration, *readers, *keys, *ttl, *staleFor)
	fmt.Printf("database queries: %d (about one per key per TTL, not one per read)\n", queries.Load())
	fmt.Printf("near-cache hits %d, cache hits %d, stale served %d, cached not-found %d, coalesced %d, waits %d\n",
		st.NearHits, st.Hits, st.StaleServed, st.NegativeHits, st.Coalesced, st.Waits)
}
