package keynotes

import "testing"

func TestSet(t *testing.T) {
	s := New(3)
	s.Note("a", true)
	s.Note("b", true)
	b := s.Take()
	if len(b.Keys) != 2 || b.Full {
		t.Fatalf("took %v", b)
	}
	s.Note("a", true) // again while the delivery runs
	s.Note("c", true)
	s.Done(b, len(b.Keys), false)
	if s.Len() != 2 || s.Empty() {
		t.Fatalf("after the delivery: %d keys, want a (noted again) and c", s.Len())
	}
	if s.Note("d", true) || !s.Note("e", true) || !s.Full() || s.Len() != 0 {
		t.Fatalf("past the bound: full %v, %d keys", s.Full(), s.Len())
	}
	b = s.Take()
	s.Done(b, 0, true)
	if !s.Empty() {
		t.Fatal("not empty after a flush")
	}
	if !s.Note("x y", false) || !s.Full() {
		t.Fatal("a key no delete names did not make the set full")
	}
}
