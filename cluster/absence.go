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
	// AbsenceWarming: clean, but the member went soon after keys moved to
	// it (Absence.Before), when they may not have settled there: the
	// member itself knows whether they had (the server reports it; the
	// cluster does not).
	AbsenceWarming
)

var absenceNames = [...]string{"unknown", "away", "changed", "clean", "warming"}

// String returns the state's name: unknown, away, changed, clean or
// warming.
func (s AbsenceState) String() string { return absenceNames[s] }

// absence is one member's last absence.
type absence struct {
	since   time.Time // when this node saw it go away
	before  time.Time // when keys it owned then last moved to it (gainedLocked)
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
		a := &absence{since: now, before: n.gainedLocked(addr)}
		if len(added) > 0 || len(removed) > 1 || len(removed) == 1 && removed[0] != addr {
			a.changes++ // it went away in a change that also moved other members
		}
		n.absent[addr] = a
	}
}

// ringEra is a ring and when it took effect here.
type ringEra struct {
	ring  ring.Ring
	since time.Time
}

// maxEras bounds the rings kept for gainedLocked: past it the oldest are
// dropped, and a member's gains are judged from those kept.
const maxEras = 32

// addEraLocked records that r took effect at since, and drops the rings
// replaced more than AwayLeftFor ago (n.ringMu held).
func (n *Node) addEraLocked(r ring.Ring, since time.Time) {
	n.eras = append(n.eras, ringEra{ring: r, since: since})
	drop := max(len(n.eras)-maxEras, 0)
	for drop < len(n.eras)-1 && since.Sub(n.eras[drop+1].since) > AwayLeftFor {
		drop++
	}
	n.eras = slices.Delete(n.eras, 0, drop)
}

// gainedLocked returns when member addr last took keys that it owns on
// the current ring, as far as the rings kept tell: the start of the
// latest ring whose predecessor did not give addr all of them
// (ring.Covers), or of the oldest kept when every one did; zero when
// none is kept (n.ringMu held).
func (n *Node) gainedLocked(addr string) time.Time { return gained(n.eras, addr) }

// gained is gainedLocked over eras, the last of them current.
func gained(eras []ringEra, addr string) time.Time {
	if len(eras) == 0 {
		return time.Time{}
	}
	cur := eras[len(eras)-1].ring
	for i := len(eras) - 1; i > 0; i-- {
		if !ring.Covers(cur, eras[i-1].ring, addr) {
			return eras[i].since
		}
	}
	return eras[0].since
}

// LastGained returns when this node last took keys that it owned on the
// last ring it was on, as far as the rings kept tell (its join, when they
// go back to it: before that it owned none); zero when it was on none.
func (n *Node) LastGained() time.Time {
	n.ringMu.Lock()
	defer n.ringMu.Unlock()
	on := func(r ring.Ring) bool {
		return slices.ContainsFunc(r.Nodes(), func(x ring.Node) bool { return x.Addr == n.self })
	}
	for i := len(n.eras) - 1; i >= 0; i-- {
		if on(n.eras[i].ring) {
			return gained(n.eras[:i+1], n.self)
		}
	}
	return time.Time{}
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
	// Since is when the member went away, and Before when keys it owned
	// then had last moved to it, as far as this node's rings of the last
	// AwayLeftFor tell (the start of the oldest of them when none of them
	// gave it keys; zero for none): such keys were still settling on the
	// member when it went, if that was soon after. The return of another
	// member that had gone (a rolling restart, on a ketama ring) gives it
	// none.
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
