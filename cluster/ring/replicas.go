package ring

import "slices"

// Replicas returns the nodes that serve key when it is replicated on n
// nodes: its owner first, then the next distinct nodes after it on the ring
// (for ketama, the nodes of the following points clockwise; for placements
// without points, the following nodes in Nodes order, wrapping). Every
// client and server with the same membership computes the same set. It
// returns at most n indexes into Nodes, fewer when the ring has fewer
// nodes.
func Replicas(r Ring, key []byte, n int) []int {
	owner := r.Owner(key)
	if owner < 0 || n <= 0 {
		return nil
	}
	total := len(r.Nodes())
	n = min(n, total)
	out := make([]int, 1, n)
	out[0] = owner
	if k, ok := r.(*Ketama); ok && len(k.points) > 0 {
		lo := k.pointAt(k.hash(key))
		for i := 0; i < len(k.points) && len(out) < n; i++ {
			idx := int(k.points[(lo+i)%len(k.points)].index)
			if !slices.Contains(out, idx) {
				out = append(out, idx)
			}
		}
		return out
	}
	for i := 1; len(out) < n; i++ {
		out = append(out, (owner+i)%total)
	}
	return out
}
