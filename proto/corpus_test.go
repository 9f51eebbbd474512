package proto

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

var writeCorpus = flag.Bool("write-corpus", false, "rewrite the seed corpora under testdata/fuzz from the table tests")

// TestWriteFuzzCorpus regenerates the committed seed corpora from the
// table tests when run with -write-corpus:
//
//	go test ./proto -run TestWriteFuzzCorpus -write-corpus
//
// Inputs the fuzzer found stay alongside.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("run with -write-corpus to regenerate testdata/fuzz")
	}
	write := func(target string, data []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
		name := filepath.Join(dir, "seed-"+hex.EncodeToString(sum[:8]))
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range parseCases {
		write("FuzzParse", []byte(c.in))
	}
	for _, c := range replyCases {
		write("FuzzParseReply", []byte(c.in))
	}
	for i := 0; i < int(numCommands); i++ {
		for _, tail := range []string{"key\x07\x01\x02\x03\x04\x05\x06\x07\x08\x09", "\x05\x10abcdefgh\xff\xfe\x11\x12\x13\x14\x15\x16\x17"} {
			write("FuzzRoundTrip", append([]byte{byte(i), 3}, tail...))
		}
	}
}
