package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/slabcache/slabcache/cluster/client"
	"github.com/slabcache/slabcache/internal/testenv"
)

// tlsLine sends req over a new TLS connection and returns the first reply
// line.
func tlsLine(t *testing.T, addr string, cfg *tls.Config, req string) string {
	t.Helper()
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("TLS dial %s: %v", addr, err)
	}
	return lineOver(t, nc, addr, req, 10*time.Second)
}

// A cluster whose members require client certificates (-Z,
// ssl_verify_mode=2, a CA file): the Go client reaches every node over TLS,
// and the members' own traffic (a flush_prefix relayed to every member
// before OK) goes over TLS with their certificates.
func TestClusterOverTLS(t *testing.T) {
	tc, ip := newTestCluster(t, 91, 3)
	certs := testenv.WriteCerts(t)
	tlsArgs := []string{"-Z", "-o", "ssl_chain_cert=" + certs.ServerCert + ",ssl_key=" + certs.ServerKey +
		",ssl_ca_cert=" + certs.CA + ",ssl_verify_mode=2"}
	var addrs []string
	for i := range 3 {
		extra := tlsArgs
		if i > 0 {
			extra = append([]string{"--cluster-join", ip(0) + ":7946"}, tlsArgs...)
		}
		addrs = append(addrs, tc.start(fmt.Sprintf("t%d", i+1), ip(i), extra...).addr())
	}
	cfg := certs.ClientConfig(t, true)
	// Every member must know the others: flush_prefix below is relayed to
	// the members the node it is sent to knows (the second joined before
	// the third and learns of it by gossip).
	deadline := time.Now().Add(15 * time.Second)
	for _, addr := range addrs {
		for {
			_, all, err := client.DiscoverTLS(addr, time.Second, cfg)
			alive := 0
			for _, m := range all {
				if m.Status.String() == "alive" {
					alive++
				}
			}
			if err == nil && alive == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("members over TLS seen by %s: %v %v", addr, all, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if nc, err := tls.Dial("tcp", addrs[0], certs.ClientConfig(t, false)); err == nil {
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		nc.Write([]byte("version\r\n"))
		if line, err := bufio.NewReader(nc).ReadString('\n'); err == nil {
			t.Fatalf("a client without a certificate was served: %q", line)
		}
		nc.Close()
	}

	cl, err := client.New(client.Config{Endpoints: addrs[:1], TLS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var keys []string
	for i := range 90 {
		k := fmt.Sprintf("ns:%d", i)
		keys = append(keys, k)
		if err := cl.Set(&client.Item{Key: k, Value: []byte("v")}); err != nil {
			t.Fatalf("set %s over TLS: %v", k, err)
		}
	}
	if got, err := cl.GetMulti(keys); err != nil || len(got) != len(keys) {
		t.Fatalf("get over TLS: %d of %d (%v)", len(got), len(keys), err)
	}
	if got := tlsLine(t, addrs[1], cfg, "flush_prefix ns:\r\n"); got != "OK\r\n" {
		t.Fatalf("flush_prefix relayed over TLS: %q", got)
	}
	if got, err := cl.GetMulti(keys); err != nil || len(got) != 0 {
		t.Fatalf("after flush_prefix: %d of %d keys served (%v)", len(got), len(keys), err)
	}
}
