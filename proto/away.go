package proto

import (
	"encoding/hex"
	"fmt"
)

// `cluster away <member>` (slabcache, not in memcached) asks a cluster
// member what it noted for another member while that one was away: the
// keys written there that it would own. The reply is
//
//	member <addr> <state>
//	key <key in hex>        (one line per key, when state is clean)
//	prefix <prefix in hex>  (one line per namespace flushed, when clean)
//	END
//
// state is how the answering node saw the member's absence: unknown,
// away, changed or clean.

// AppendAwayHead appends the first line of the reply to `cluster away`.
func AppendAwayHead(dst []byte, member, state string) []byte {
	dst = append(dst, "member "...)
	dst = append(dst, member...)
	dst = append(dst, ' ')
	dst = append(dst, state...)
	return append(dst, "\r\n"...)
}

// AppendAwayKey appends one key line of the reply to `cluster away`.
func AppendAwayKey(dst []byte, key string) []byte {
	dst = append(dst, "key "...)
	dst = hex.AppendEncode(dst, []byte(key))
	return append(dst, "\r\n"...)
}

// AppendAwayPrefix appends one namespace line of the reply to `cluster
// away`.
func AppendAwayPrefix(dst []byte, prefix string) []byte {
	dst = append(dst, "prefix "...)
	dst = hex.AppendEncode(dst, []byte(prefix))
	return append(dst, "\r\n"...)
}

// AwayNotes is a reply to `cluster away`.
type AwayNotes struct {
	State    string
	Keys     [][]byte // written there
	Prefixes [][]byte // namespaces flushed there
}

// ParseAwayNotes reads the reply to `cluster away <member>` (read with
// Reader.ReadList). A member that does not know the command (ERROR)
// cannot vouch for the absence: its state is unknown.
func ParseAwayNotes(rp *Reply, member string) (AwayNotes, error) {
	if rp.Kind == ReplyError {
		return AwayNotes{State: "unknown"}, nil
	}
	if rp.Kind != ReplyList || len(rp.Lines) == 0 {
		return AwayNotes{}, fmt.Errorf("%w: %q to cluster away", ErrBadReply, rp.Line)
	}
	head := rp.Lines[0]
	word, rest := cutWord(head)
	addr, rest := cutWord(rest)
	st, rest := cutWord(rest)
	if string(word) != "member" || string(addr) != member || len(st) == 0 || len(rest) != 0 {
		return AwayNotes{}, fmt.Errorf("%w: %q to cluster away %s", ErrBadReply, head, member)
	}
	n := AwayNotes{State: string(st)}
	for _, l := range rp.Lines[1:] {
		word, rest := cutWord(l)
		b, err := hex.DecodeString(string(rest))
		switch {
		case err == nil && len(b) > 0 && string(word) == "key":
			n.Keys = append(n.Keys, b)
		case err == nil && len(b) > 0 && string(word) == "prefix":
			n.Prefixes = append(n.Prefixes, b)
		default:
			return AwayNotes{}, fmt.Errorf("%w: %q in the reply to cluster away", ErrBadReply, l)
		}
	}
	return n, nil
}
