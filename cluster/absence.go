package cluster

import (
	"slices"
	"time"

	"github.com/slabcache/slabcache/cluster/discovery"
	"github.com/slabcache/slabcache/cluster/ring"
)

// A member's absence as this node saw it. While a member is away (failed,
// or left within AwayLeftFor) the server notes the keys written here that
// it would own (AwayOwner). When it comes back, those notes are all it
// missed here only if this node noted for it over the whole absence and
// the ring changed in no other way meanwhile (no key moved between the
// others, whose notes this node does not have). Absence tells a member
// that was restarted warm whether that holds, so that it can keep the
// items of its memory file that nobody wrote while it was away.

// AbsenceState is what Absence reports.
type AbsenceState int

const (
	// AbsenceUnknown: this node did not see the member leave (it joined
	// later, or was down itself), or forgot it (away longer than
	// AwayLeftFor), or the member was never away.
	AbsenceUnknown AbsenceState = iota
	// AbsenceAway: the member is away, or its return is not on this
	// node's ring yet.
	AbsenceAway
	// AbsenceChanged: the ring changed in other ways since the member
	// went away.
	AbsenceChanged
	// AbsenceClean: the member is back, and the ring changed only by its
	// going and its return.
	AbsenceClean
)

var absenceNames = [...]string{"unknown", "away", "changed", "clean"}

// String returns the state's name: unknown, away, changed or clean.
func (s AbsenceState) String() string { return absenceNames[s] }

// absence is one member's last absence.
type absence struct {
	since   time.Time // when this node saw it go away
	before  time.Time // the ring change before that (zero for none)
	back    time.Time // when its return reached this node's ring (zero while away)
	changes int       // other ring changes since it went away
}

// absenceKeep is how long a return is remembered.
const absenceKeep = AwayLeftFor

// noteAbsencesLocked updates the absences from placement old to p
// (n.ringMu held).
func (n *Node) noteAbsencesLocked(old, p *placement) {
	now := time.Now()
	if n.absent == nil {
		n.absent = map[string]*absence{}
	}
	var added, removed []string
	if p.ring != old.ring {
		added, removed = ringDiff(old.ring, p.ring)
	}
	for addr, a := range n.absent {
		switch {
		case !a.back.IsZero() && now.Sub(a.back) > absenceKeep:
			delete(n.absent, addr)
		case old.ring == p.ring:
			if a.back.IsZero() && !p.down[addr] {
				delete(n.absent, addr) // forgotten (AwayLeftFor): its keys are no longer noted
			}
		case a.back.IsZero() && slices.Contains(added, addr):
			if !old.down[addr] {
				delete(n.absent, addr) // back after it was forgotten
				continue
			}
			a.back = now
			if len(added) > 1 || len(removed) > 0 {
				a.changes++
			}
		default:
			a.changes++
		}
	}
	for addr := range p.down {
		if old.down[addr] {
			continue
		}
		a := &absence{since: now}
		if old.prev != nil {
			a.before = old.since
		}
		if len(added) > 0 || len(removed) > 1 || len(removed) == 1 && removed[0] != addr {
			a.changes++ // it went away in a change that also moved other members
		}
		n.absent[addr] = a
	}
}

// ringDiff returns the members on b and not on a, and those on a and not
// on b.
func ringDiff(a, b ring.Ring) (added, removed []string) {
	has := func(r ring.Ring, addr string) bool {
		return slices.ContainsFunc(r.Nodes(), func(x ring.Node) bool { return x.Addr == addr })
	}
	for _, x := range b.Nodes() {
		if !has(a, x.Addr) {
			added = append(added, x.Addr)
		}
	}
	for _, x := range a.Nodes() {
		if !has(b, x.Addr) {
			removed = append(removed, x.Addr)
		}
	}
	return added, removed
}

// Absence is how this node saw a member's last absence.
type Absence struct {
	State AbsenceState
	// Since is when the member went away, and Before when the ring
	// changed before that (zero for none): keys that moved in that
	// change were still settling on the member when it went.
	Since, Before time.Time
}

// Absence reports how this node saw member addr's last absence (the zero
// Absence, AbsenceUnknown, for one it does not know).
func (n *Node) Absence(addr string) Absence {
	n.ringMu.Lock()
	defer n.ringMu.Unlock()
	a := n.absent[addr]
	p := n.rings.Load()
	if a == nil || p == nil {
		return Absence{}
	}
	r := Absence{State: AbsenceClean, Since: a.since, Before: a.before}
	switch {
	case a.changes > 0:
		r.State = AbsenceChanged
	case a.back.IsZero() && !p.down[addr]:
		return Absence{} // forgotten
	case a.back.IsZero():
		r.State = AbsenceAway
	}
	return r
}

// Neighbours returns the memcached addresses of the other members of this
// node's region (of all, when it has none): alive (alive or leaving) and
// failed.
func (n *Node) Neighbours() (alive, failed []string) {
	return n.others(func(m discovery.Member) bool { return n.region == "" || m.Region == n.region })
}
