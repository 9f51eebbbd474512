package ring

import "slices"

// Covers reports whether every key addr owns on ring sub, addr also owns
// on ring super: false when some key would have moved to addr going from
// super to sub. It is exact for two ketama rings of the same kind (their
// arcs are compared) and for rings of the same nodes; for other rings it
// answers false, as a key may have moved.
func Covers(sub, super Ring, addr string) bool {
	if sub.Kind() == super.Kind() && slices.Equal(sub.Nodes(), super.Nodes()) {
		return true
	}
	a, ok1 := sub.(*Ketama)
	b, ok2 := super.(*Ketama)
	if !ok1 || !ok2 || a.kind != b.kind {
		return false
	}
	if len(a.points) == 0 {
		return true
	}
	if len(b.points) == 0 {
		return false
	}
	// Between two consecutive values of the two rings' points together,
	// each ring has one owner: its first point at or after the upper
	// value (the wrap after the last value has the owner of the first).
	// So the owners at each value decide.
	i, j := 0, 0
	for i < len(a.points) || j < len(b.points) {
		var v uint32
		switch {
		case j == len(b.points) || i < len(a.points) && a.points[i].value <= b.points[j].value:
			v = a.points[i].value
		default:
			v = b.points[j].value
		}
		for i < len(a.points) && a.points[i].value < v {
			i++
		}
		for j < len(b.points) && b.points[j].value < v {
			j++
		}
		if a.nodes[a.points[i%len(a.points)].index].Addr == addr && b.nodes[b.points[j%len(b.points)].index].Addr != addr {
			return false
		}
		// Past v in both.
		for i < len(a.points) && a.points[i].value == v {
			i++
		}
		for j < len(b.points) && b.points[j].value == v {
			j++
		}
	}
	return true
}
