package server_test

import (
	"testing"

	"github.com/slabcache/slabcache/internal/difftest"
)

// Every meta conversation of the corpus (internal/difftest/testdata/meta:
// each flag of mg, ms, md, ma, mn and me, their error paths, the documented
// patterns, text and meta mixed in one pipeline), and the harness's meta
// smoke conversation, get the same replies from slabcached as from Debian's
// memcached, byte for byte after normalisation.
func TestMetaConversationsMatchMemcached(t *testing.T) {
	files := append(difftest.Files(t, "meta"), difftest.Files(t, "harness")...)
	difftest.Run(t, difftest.Memcached, difftest.Binary(slabcachedBinary(t)), &difftest.Options{Parallel: true}, files...)
}
