package server

import (
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/slabcache/slabcache/proto"
)

// Catching up (docs/invalidation.md). Every invalidation has a stamp,
// `<origin>/<n>/<region>`: the node that accepted it (process id and start
// time), its number there, and that node's region ("-" for none). Every
// node keeps the last maxLogged invalidations it applied, stamped (`cluster
// invalidations` lists them). When a member comes back (alive again after
// being failed, as this node sees it), this node sends it every entry of
// the last catchUpWindow; it applies those it had not: so an invalidation
// reaches a member that missed it even when the node that accepted it is
// gone with its backlog.

const (
	maxLogged     = 4096
	catchUpWindow = 10 * time.Minute
)

type logEntry struct {
	stamp string
	kind  byte
	key   []byte
	at    time.Time
}

// invLog is a ring of the last maxLogged entries.
type invLog struct {
	entries []logEntry
	next    int
}

func makeStamp(origin string, n uint64, region string) string {
	if region == "" {
		region = "-"
	}
	return origin + "/" + strconv.FormatUint(n, 10) + "/" + region
}

// stampOrigin returns the origin part of a stamp.
func stampOrigin(st string) string {
	o, _, _ := strings.Cut(st, "/")
	return o
}

// stampRegion returns the region part of a stamp ("" for none).
func stampRegion(st string) string {
	r := st[strings.LastIndexByte(st, '/')+1:]
	if r == "-" {
		return ""
	}
	return r
}

func validStamp(st string) bool {
	parts := strings.Split(st, "/")
	if len(parts) != 3 || parts[0] == "" || parts[2] == "" {
		return false
	}
	_, err := strconv.ParseUint(parts[1], 10, 64)
	return err == nil
}

// region returns this node's region ("" for none).
func (iv *invalidator) region() string {
	if p := iv.peers(); p != nil {
		return p.Region()
	}
	return ""
}

// recordLocked adds an applied invalidation to the log (iv.mu held).
func (iv *invalidator) recordLocked(st string, kind byte, key []byte) {
	if _, ok := iv.logged[st]; ok {
		return
	}
	e := logEntry{stamp: st, kind: kind, key: append([]byte(nil), key...), at: time.Now()}
	l := &iv.log
	if len(l.entries) < maxLogged {
		l.entries = append(l.entries, e)
	} else {
		delete(iv.logged, l.entries[l.next].stamp)
		l.entries[l.next] = e
		l.next = (l.next + 1) % maxLogged
	}
	iv.logged[st] = struct{}{}
}

// appendLog appends the reply to `cluster invalidations`: one line per
// logged entry, oldest first, `<stamp> <kind> <unix ns> <key in hex>`.
func (iv *invalidator) appendLog(dst []byte) []byte {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	l := &iv.log
	for i := range l.entries {
		e := &l.entries[(l.next+i)%len(l.entries)]
		dst = append(dst, e.stamp...)
		dst = append(dst, ' ', e.kind, ' ')
		dst = strconv.AppendInt(dst, e.at.UnixNano(), 10)
		dst = append(dst, ' ')
		dst = hex.AppendEncode(dst, e.key)
		dst = append(dst, "\r\n"...)
	}
	return proto.AppendEnd(dst)
}

// catchUp sends the members that came back since the last tick (alive
// again after this node saw them fail, however briefly) the invalidations of
// the last catchUpWindow in this node's log, unsequenced (relay number 0):
// they apply those they have not applied. A member that was stopped or cut
// off sees nothing happen to the others while it is away; they see it come
// back, and each of them sends what it knows.
func (iv *invalidator) catchUp(alive []string, returns map[string]uint64) {
	iv.mu.Lock()
	for a, n := range returns {
		if n > iv.returns[a] {
			iv.behind[a] = true
		}
	}
	iv.returns = returns
	var back []string
	for a := range iv.behind {
		if slices.Contains(alive, a) {
			back = append(back, a)
		} else {
			delete(iv.behind, a) // gone again: caught up when it returns
		}
	}
	var entries []relayEntry
	if len(back) > 0 {
		l := &iv.log
		for i := range l.entries {
			e := &l.entries[(l.next+i)%len(l.entries)]
			if time.Since(e.at) <= catchUpWindow {
				entries = append(entries, relayEntry{kind: e.kind, key: e.key, stamp: e.stamp})
			}
		}
	}
	iv.mu.Unlock()
	for _, a := range back {
		sent := 0
		var err error
		for _, e := range entries {
			if err = iv.send(a, e); err != nil {
				break
			}
			sent++
		}
		if err != nil {
			iv.s.log.Warn("catching up a member that came back; trying again next second", zap.String("member", a), zap.Error(err))
			continue
		}
		iv.mu.Lock()
		delete(iv.behind, a)
		iv.mu.Unlock()
		if sent > 0 {
			iv.s.log.Info("sent a member that came back the invalidations it may have missed", zap.String("member", a), zap.Int("sent", sent))
		}
	}
}
