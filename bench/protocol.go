package bench

import (
	"errors"
	"fmt"

	"github.com/slabcache/slabcache/proto"
)

// protocol is how the generator asks for gets and sets in one of
// memcached's protocols. The wire format is proto's: a protocol only
// chooses the requests (get or mg, set or ms) and counts the hits in their
// replies. Implementations keep their per-connection state in the proto
// values passed in, so one protocol serves every connection.
type protocol interface {
	// name is the protocol name as the -protocol flag spells it.
	name() string
	// appendGet appends one request that fetches every key in keys (a
	// multi-get when len(keys) > 1), using req as scratch.
	appendGet(dst []byte, req *proto.Request, keys [][]byte) []byte
	// appendSet appends an unconditional store of value under key.
	appendSet(dst []byte, req *proto.Request, key, value []byte, flags uint32, exptime int32) []byte
	// readGet reads the whole reply to a request made by appendGet with
	// nkeys keys and returns how many keys were found. A
	// *proto.ServerError means the server answered with an error and the
	// stream is still in step; any other error means it is not.
	readGet(rd *proto.Reader, rp *proto.Reply, nkeys int) (hits int, err error)
	// readSet reads the reply to appendSet: nil when stored, a
	// *proto.ServerError when refused (NOT_STORED, NS, SERVER_ERROR, ...),
	// another error when the stream is lost.
	readSet(rd *proto.Reader, rp *proto.Reply) error
}

// errUnexpectedReply reports a reply that does not answer the request; the
// stream is out of step.
var errUnexpectedReply = errors.New("bench: unexpected reply")

func protocolByName(name string) (protocol, error) {
	switch name {
	case "text":
		return textProtocol{}, nil
	case "meta":
		return metaProtocol{}, nil
	}
	return nil, fmt.Errorf("bench: unknown protocol %q (want text or meta)", name)
}

func unexpected(rp *proto.Reply) error {
	return fmt.Errorf("%w: %q", errUnexpectedReply, rp.Line)
}

// refused turns a reply that is a refusal into a *proto.ServerError.
func refused(rp *proto.Reply) error { return &proto.ServerError{Line: string(rp.Line)} }

// textProtocol is the classic text protocol: get k1 k2 ... and set.
type textProtocol struct{}

func (textProtocol) name() string { return "text" }

func (textProtocol) appendGet(dst []byte, req *proto.Request, keys [][]byte) []byte {
	req.Reset()
	req.Command = proto.CmdGet
	req.Keys = append(req.Keys, keys...)
	return proto.AppendRequest(dst, req)
}

func (textProtocol) appendSet(dst []byte, req *proto.Request, key, value []byte, flags uint32, exptime int32) []byte {
	return proto.AppendSetRequest(dst, key, flags, exptime, value, false)
}

func (textProtocol) readGet(rd *proto.Reader, rp *proto.Reply, nkeys int) (int, error) {
	if err := rd.Read(rp); err != nil {
		return 0, err
	}
	switch rp.Kind {
	case proto.ReplyValues:
		if len(rp.Values) > nkeys {
			return len(rp.Values), unexpected(rp)
		}
		return len(rp.Values), nil
	case proto.ReplyError:
		return 0, rp.Err()
	}
	return 0, unexpected(rp)
}

func (textProtocol) readSet(rd *proto.Reader, rp *proto.Reply) error {
	if err := rd.Read(rp); err != nil {
		return err
	}
	switch {
	case rp.Kind == proto.ReplyStatus && rp.Status == proto.StatusStored:
		return nil
	case rp.Kind == proto.ReplyError:
		return rp.Err()
	case rp.Kind == proto.ReplyStatus && (rp.Status == proto.StatusNotStored || rp.Status == proto.StatusExists || rp.Status == proto.StatusNotFound):
		return refused(rp)
	}
	return unexpected(rp)
}

// metaProtocol is the meta protocol: "mg key v" for one key; for several,
// quiet "mg key v q" requests closed by "mn" (misses are silent, hits
// answer VA, MN ends the batch); "ms key len [F] [T]" for sets.
type metaProtocol struct{}

func (metaProtocol) name() string { return "meta" }

func (metaProtocol) appendGet(dst []byte, req *proto.Request, keys [][]byte) []byte {
	for _, k := range keys {
		req.Reset()
		req.Command = proto.CmdMetaGet
		req.Key = k
		req.AddFlag('v')
		if len(keys) > 1 {
			req.AddFlag('q')
		}
		dst = proto.AppendRequest(dst, req)
	}
	if len(keys) > 1 {
		req.Reset()
		req.Command = proto.CmdMetaNoop
		dst = proto.AppendRequest(dst, req)
	}
	return dst
}

func (metaProtocol) appendSet(dst []byte, req *proto.Request, key, value []byte, flags uint32, exptime int32) []byte {
	req.Reset()
	req.Command = proto.CmdMetaSet
	req.Key = key
	req.Value = value
	if flags != 0 {
		req.AddFlag('F')
		req.ClientFlags = flags
	}
	if exptime != 0 {
		req.AddFlag('T')
		req.Exptime = exptime
	}
	return proto.AppendRequest(dst, req)
}

func (metaProtocol) readGet(rd *proto.Reader, rp *proto.Reply, nkeys int) (int, error) {
	hits := 0
	var firstErr error
	for {
		if err := rd.Read(rp); err != nil {
			return hits, err
		}
		switch {
		case rp.Kind == proto.ReplyMeta && rp.Status == proto.StatusVA:
			hits++
			if hits > nkeys {
				return hits, unexpected(rp)
			}
			if nkeys == 1 {
				return hits, nil
			}
		case rp.Kind == proto.ReplyMeta && rp.Status == proto.StatusEN && nkeys == 1:
			return 0, nil
		case rp.Kind == proto.ReplyMeta && rp.Status == proto.StatusMN && nkeys > 1:
			return hits, firstErr
		case rp.Kind == proto.ReplyError:
			if nkeys == 1 {
				return 0, rp.Err()
			}
			if firstErr == nil {
				firstErr = rp.Err()
			}
		default:
			return hits, unexpected(rp)
		}
	}
}

func (metaProtocol) readSet(rd *proto.Reader, rp *proto.Reply) error {
	if err := rd.Read(rp); err != nil {
		return err
	}
	switch {
	case rp.Kind == proto.ReplyMeta && rp.Status == proto.StatusHD:
		return nil
	case rp.Kind == proto.ReplyError:
		return rp.Err()
	case rp.Kind == proto.ReplyMeta && (rp.Status == proto.StatusNS || rp.Status == proto.StatusEX || rp.Status == proto.StatusNF):
		return refused(rp)
	}
	return unexpected(rp)
}
