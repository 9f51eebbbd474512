package ring

import (
	"fmt"
	"slices"
	"testing"
)

// Both placements (Replicas, the ring successors; Spread, rendezvous
// hashing) start with the owner, hold distinct nodes, are capped by the
// ring's size, and are the same for the same membership; over many keys
// every node is in a set about as often.
func TestReplicas(t *testing.T) {
	var nodes []Node
	for i := range 5 {
		nodes = append(nodes, Node{Addr: fmt.Sprintf("127.0.0.%d:11211", i+1)})
	}
	places := map[string]func(Ring, []byte, int) []int{"Replicas": Replicas, "Spread": Spread}
	for name, place := range places {
		for _, kind := range []Kind{KindKetama, KindCh3, KindJump} {
			r, err := New(kind, nodes)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := New(kind, nodes)
			count := make([]int, len(nodes))
			for i := range 10_000 {
				key := []byte(fmt.Sprintf("key:%d", i))
				rs := place(r, key, 3)
				if len(rs) != 3 || rs[0] != r.Owner(key) {
					t.Fatalf("%s %v %s: %v, owner %d", name, kind, key, rs, r.Owner(key))
				}
				if rs[0] == rs[1] || rs[1] == rs[2] || rs[0] == rs[2] {
					t.Fatalf("%s %v %s: %v not distinct", name, kind, key, rs)
				}
				if fmt.Sprint(place(again, key, 3)) != fmt.Sprint(rs) {
					t.Fatalf("%s %v %s: another ring of the same members gives %v", name, kind, key, place(again, key, 3))
				}
				for _, x := range rs {
					count[x]++
				}
			}
			for i, c := range count {
				if c < 4000 || c > 8000 {
					t.Errorf("%s %v: node %d is in the set of %d of 10,000 keys (expected about 6,000)", name, kind, i, c)
				}
			}
			if rs := place(r, []byte("k"), 9); len(rs) != 5 {
				t.Errorf("%s %v: %d nodes on a ring of 5", name, kind, len(rs))
			}
		}
	}
}

// Spread places the copies of keys that share a ketama neighbourhood
// independently, and moves only the copies a removed node held.
func TestSpread(t *testing.T) {
	var nodes []Node
	for i := range 5 {
		nodes = append(nodes, Node{Addr: fmt.Sprintf("127.0.0.6%d:11211", i+1)})
	}
	// Ten keys that differ in their last digit share their ketama owner
	// and their ring successors; their copies do not all go to the same
	// nodes.
	r, _ := New(KindKetama, nodes)
	succ := map[string]bool{}
	spread := map[int]int{}
	owner := r.Owner([]byte("key:00000000000"))
	for i := range 10 {
		key := []byte(fmt.Sprintf("key:%011d", i))
		if r.Owner(key) != owner {
			continue
		}
		succ[fmt.Sprint(Replicas(r, key, 3))] = true
		for _, x := range Spread(r, key, 3)[1:] {
			spread[x]++
		}
	}
	if len(succ) != 1 {
		t.Fatalf("expected the neighbouring keys to share their ring successors, got %v", succ)
	}
	if len(spread) != len(nodes)-1 {
		t.Errorf("copies of the neighbouring keys on %d of the %d other nodes: %v", len(spread), len(nodes)-1, spread)
	}

	// Removing a node moves only the copies it held.
	fewer, _ := New(KindKetama, nodes[:4])
	for i := range 2_000 {
		key := []byte(fmt.Sprintf("user:%d", i))
		before, after := Spread(r, key, 3), Spread(fewer, key, 3)
		if slices.Contains(before, 4) || before[0] != after[0] {
			continue // held by the removed node, or the owner moved
		}
		if fmt.Sprint(before) != fmt.Sprint(after) {
			t.Fatalf("%s: copies moved from %v to %v though node 4 held none", key, before, after)
		}
	}
}
