package ring

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// coversByHashes is Covers by brute force: the owners on both rings at
// every point of either ring and just past it (every arc of either starts
// or ends there), found by each ring's own lookup.
func coversByHashes(sub, super *Ketama, addr string) bool {
	var hs []uint32
	for _, r := range []*Ketama{sub, super} {
		for _, p := range r.points {
			hs = append(hs, p.value, p.value+1)
		}
	}
	hs = append(hs, 0, ^uint32(0))
	for _, h := range hs {
		if sub.nodes[sub.ownerOfHash(h)].Addr == addr && super.nodes[super.ownerOfHash(h)].Addr != addr {
			return false
		}
	}
	return true
}

// A ketama ring that lost a node covers the others' keys of the ring it
// came from (they only gained), and not the other way round; a node's
// return gives keys to that node only. Random rings of random weights
// agree with the brute force; other placements answer false unless the
// rings are the same.
func TestCovers(t *testing.T) {
	nodes := func(addrs ...string) []Node {
		var ns []Node
		for _, a := range addrs {
			ns = append(ns, Node{Addr: a})
		}
		return ns
	}
	full, _ := New(KindKetamaMD5, nodes("10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211", "10.0.0.4:11211"))
	without, _ := New(KindKetamaMD5, nodes("10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.4:11211"))
	for _, a := range []string{"10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.4:11211"} {
		if !Covers(full, without, a) {
			t.Errorf("%s: its keys with 10.0.0.3 back are not all its keys without it", a)
		}
		if Covers(without, full, a) {
			t.Errorf("%s: took none of 10.0.0.3's keys when it left", a)
		}
	}
	if Covers(full, without, "10.0.0.3:11211") {
		t.Error("10.0.0.3's return gave it no key")
	}
	if !Covers(without, full, "10.0.0.3:11211") {
		t.Error("10.0.0.3 owns keys on a ring without it")
	}

	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[bool]int{}
	for round := range 300 {
		var a, b []Node
		for i := range 2 + rng.IntN(8) {
			n := Node{Addr: fmt.Sprintf("10.0.1.%d:11211", i), Weight: 1 + rng.IntN(3)}
			if rng.IntN(4) > 0 {
				a = append(a, n)
			}
			if rng.IntN(4) > 0 {
				if rng.IntN(5) == 0 {
					n.Weight++
				}
				b = append(b, n)
			}
		}
		if len(a) == 0 || len(b) == 0 {
			continue
		}
		ra, rb := newKetama(a, KindKetama), newKetama(b, KindKetama)
		for _, n := range a {
			got, want := Covers(ra, rb, n.Addr), coversByHashes(ra, rb, n.Addr)
			seen[want]++
			if got != want {
				t.Fatalf("round %d, %s: Covers %v, by hashes %v (sub %v, super %v)", round, n.Addr, got, want, a, b)
			}
		}
	}
	t.Logf("%d covered, %d not", seen[true], seen[false])
	if seen[true] < 50 || seen[false] < 50 {
		t.Fatalf("random rings gave %d covered and %d not: too few of one to test", seen[true], seen[false])
	}

	j1, _ := New(KindJump, nodes("10.0.0.1:11211", "10.0.0.2:11211"))
	j2, _ := New(KindJump, nodes("10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"))
	j3, _ := New(KindJump, nodes("10.0.0.1:11211", "10.0.0.2:11211"))
	if Covers(j1, j2, "10.0.0.1:11211") || !Covers(j1, j3, "10.0.0.1:11211") {
		t.Error("jump rings: Covers answers other than false for different rings and true for the same")
	}
	if Covers(full, j2, "10.0.0.1:11211") {
		t.Error("rings of different kinds compared")
	}
}
