package ring

import (
	"fmt"
	"testing"
)

// The replica set starts with the owner, holds distinct nodes, is capped by
// the ring's size, and is the same for the same membership; over many keys
// every node is a replica about as often.
func TestReplicas(t *testing.T) {
	var nodes []Node
	for i := range 5 {
		nodes = append(nodes, Node{Addr: fmt.Sprintf("127.0.0.%d:11211", i+1)})
	}
	for _, kind := range []Kind{KindKetama, KindCh3, KindJump} {
		r, err := New(kind, nodes)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := New(kind, nodes)
		count := make([]int, len(nodes))
		for i := range 10_000 {
			key := []byte(fmt.Sprintf("key:%d", i))
			rs := Replicas(r, key, 3)
			if len(rs) != 3 || rs[0] != r.Owner(key) {
				t.Fatalf("%v %s: replicas %v, owner %d", kind, key, rs, r.Owner(key))
			}
			if rs[0] == rs[1] || rs[1] == rs[2] || rs[0] == rs[2] {
				t.Fatalf("%v %s: replicas %v not distinct", kind, key, rs)
			}
			if fmt.Sprint(Replicas(again, key, 3)) != fmt.Sprint(rs) {
				t.Fatalf("%v %s: another ring of the same members gives %v", kind, key, Replicas(again, key, 3))
			}
			for _, x := range rs {
				count[x]++
			}
		}
		for i, c := range count {
			if c < 4000 || c > 8000 {
				t.Errorf("%v: node %d is a replica of %d of 10,000 keys (expected about 6,000)", kind, i, c)
			}
		}
		if rs := Replicas(r, []byte("k"), 9); len(rs) != 5 {
			t.Errorf("%v: %d replicas on a ring of 5", kind, len(rs))
		}
	}
}
