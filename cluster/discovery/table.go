package discovery

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Table is the current membership with its version, and the encoded
// replies of ConfigGetClusterCommand and MembersCommand ready to send.
// Readers (the server's event loops) never block and never allocate;
// Update is for one writer at a time (it takes a lock).
type Table struct {
	mu  sync.Mutex // serializes Update
	cur atomic.Pointer[tableSnapshot]
}

type tableSnapshot struct {
	view    View
	config  []byte // reply to `config get cluster`
	members []byte // reply to `cluster members`
}

// NewTable returns a table at version 1 holding members. Members that fail
// Validate are dropped.
func NewTable(members []Member) *Table {
	t := &Table{}
	t.cur.Store(newSnapshot(1, clean(members)))
	return t
}

func clean(members []Member) []Member {
	out := make([]Member, 0, len(members))
	for _, m := range Sorted(members) {
		if m.Validate() == nil {
			out = append(out, m)
		}
	}
	return out
}

func newSnapshot(version uint64, members []Member) *tableSnapshot {
	return &tableSnapshot{
		view:    View{Version: version, Members: members},
		config:  AppendConfigCluster(nil, version, members),
		members: AppendMembers(nil, members),
	}
}

// Update replaces the membership. When it differs from the current one in
// any member or field, the version increments and Update returns true;
// otherwise nothing changes and it returns false. Members that fail
// Validate are dropped. Safe for concurrent use.
func (t *Table) Update(members []Member) bool {
	members = clean(members)
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.cur.Load()
	if slices.Equal(old.view.Members, members) {
		return false
	}
	t.cur.Store(newSnapshot(old.view.Version+1, members))
	return true
}

// View returns the current membership. The caller must not modify the
// members slice.
func (t *Table) View() View { return t.cur.Load().view }

// Version returns the current version.
func (t *Table) Version() uint64 { return t.cur.Load().view.Version }

// AppendConfigCluster appends the reply to `config get cluster` to dst.
// It does not allocate when dst has room.
func (t *Table) AppendConfigCluster(dst []byte) []byte {
	return append(dst, t.cur.Load().config...)
}

// AppendMembers appends the reply to `cluster members` to dst. It does not
// allocate when dst has room.
func (t *Table) AppendMembers(dst []byte) []byte {
	return append(dst, t.cur.Load().members...)
}
