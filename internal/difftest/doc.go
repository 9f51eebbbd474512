// Package difftest is the differential test harness: it plays scripted
// conversations (testdata/*/*.conv) against a memcached-compatible server,
// records what the server answered as a Transcript, and compares two
// transcripts byte for byte after normalising only what legitimately differs
// between two correct servers (CAS values, version strings, time-dependent
// numbers, process ids).
//
// The reference is memcached 1.6.45 (testenv.ReferenceMemcached). Its replies to every
// conversation are stored next to the conversation as a golden file
// (NAME.golden), recorded with
//
//	go test ./internal/difftest -run TestCorpusMatchesMemcached -update
//
// so the corpus can be reviewed without running anything, and a server can be
// checked against the goldens where memcached is not installed (RunGolden) or
// against a live memcached started by the test (Run).
//
// A server's tests use it like this (slabcached built once, then started
// fresh for every conversation with the conversation's flags):
//
//	bin := buildSlabcached(t) // e.g. go build -o t.TempDir()/slabcached ./cmd/slabcached
//	difftest.Run(t, difftest.Memcached, difftest.Binary(bin), &difftest.Options{Parallel: true},
//		difftest.Files(t, "text")...)
//
// and, to check against the recorded goldens without memcached,
// difftest.RunGolden(t, difftest.Binary(bin), nil, difftest.Files(t, "text")...).
//
// The conversation format is described in testdata/README.md and in the
// comment of Parse. Only tests import this package; it imports the standard
// library and internal/testenv, never the server, the store or the parser
// (it must keep working as an independent judge of them).
package difftest
