package client

import (
	"errors"
	"fmt"

	"github.com/slabcache/slabcache/proto"
)

// The client speaks memcached's text protocol through proto: requests are
// proto.Requests encoded by proto.AppendRequest, replies are read whole by
// a proto.Reader and mapped to this package's results here.

// errProtocol marks a reply that does not answer the request; the
// connection is then out of step and must be closed.
var errProtocol = errors.New("client: protocol error")

func unexpected(rp *proto.Reply) error { return fmt.Errorf("%w: %q", errProtocol, rp.Line) }

// getsRequest fills req with a gets of keys (CAS values included).
func getsRequest(req *proto.Request, keys ...string) {
	req.Reset()
	req.Command = proto.CmdGets
	for _, k := range keys {
		req.Keys = append(req.Keys, []byte(k))
	}
}

// storeRequest fills req with the storage command cmd for it (cas sends
// it.CAS).
func storeRequest(req *proto.Request, cmd proto.Command, it *Item) {
	req.Reset()
	req.Command = cmd
	req.Key = []byte(it.Key)
	req.ClientFlags = it.Flags
	req.Exptime = it.Expiration
	req.Value = it.Value
	req.CAS = it.CAS
}

// keyRequest fills req with a command on one key: delete, touch (exptime
// exp), incr or decr (delta).
func keyRequest(req *proto.Request, cmd proto.Command, key string, exp int32, delta uint64) {
	req.Reset()
	req.Command = cmd
	req.Key = []byte(key)
	req.Exptime = exp
	req.Delta = delta
}

// statusResult maps a one-line reply to nil or an error.
func statusResult(rp *proto.Reply) error {
	switch rp.Kind {
	case proto.ReplyStatus:
		switch rp.Status {
		case proto.StatusStored, proto.StatusDeleted, proto.StatusTouched, proto.StatusOK:
			return nil
		case proto.StatusNotStored:
			return ErrNotStored
		case proto.StatusExists:
			return ErrCASConflict
		case proto.StatusNotFound:
			return ErrCacheMiss
		}
	case proto.ReplyError:
		return rp.Err()
	}
	return unexpected(rp)
}

// valuesResult calls fn with each item of a retrieval reply; fn may keep
// the item (its value is a copy).
func valuesResult(rp *proto.Reply, fn func(*Item)) error {
	switch rp.Kind {
	case proto.ReplyValues:
		for _, v := range rp.Values {
			fn(&Item{Key: string(v.Key), Value: append([]byte(nil), v.Data...), Flags: v.Flags, CAS: v.CAS})
		}
		return nil
	case proto.ReplyError:
		return rp.Err()
	}
	return unexpected(rp)
}

// arithResult reads the reply to incr or decr.
func arithResult(rp *proto.Reply) (uint64, error) {
	switch rp.Kind {
	case proto.ReplyNumber:
		return rp.Number, nil
	case proto.ReplyStatus:
		if rp.Status == proto.StatusNotFound {
			return 0, ErrCacheMiss
		}
	case proto.ReplyError:
		return 0, rp.Err()
	}
	return 0, unexpected(rp)
}

// versionResult reads the reply to version.
func versionResult(rp *proto.Reply) (string, error) {
	switch rp.Kind {
	case proto.ReplyVersion:
		return string(rp.Text), nil
	case proto.ReplyError:
		return "", rp.Err()
	}
	return "", unexpected(rp)
}
