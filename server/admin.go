package server

import "github.com/slabcache/slabcache/proto"

// TEMPORARY: slabs, lru, lru_crawler and watch are being written by the
// observability helper (issue 6), who replaces this file.
func (c *conn) execAdmin(r *proto.Request) {
	c.out = proto.AppendServerError(c.out, "command not implemented yet")
}
