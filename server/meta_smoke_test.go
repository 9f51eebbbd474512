package server_test

import (
	"testing"

	"github.com/slabcache/slabcache/internal/difftest"
)

// The meta conversations (until the meta corpus exists, the harness's meta
// smoke conversation: ms, mg with v c t f s k O, CAS compare, ma with N J,
// me, md q, mn) get the same replies from slabcached as from memcached.
func TestMetaConversationsMatchMemcached(t *testing.T) {
	files := difftest.Files(t, "harness")
	difftest.Run(t, difftest.Memcached, difftest.Binary(slabcachedBinary(t)), &difftest.Options{Parallel: true}, files...)
}
