package discovery

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/slabcache/slabcache/proto"
)

// View is one version of the cluster membership.
type View struct {
	// Version increments on every membership change; it starts at 1.
	Version uint64
	// Members, sorted by name. A View parsed from `config get cluster`
	// holds the alive members only, with empty names, in the server's order.
	Members []Member
	// Placement is the key placement the cluster advertises (`config get
	// placement`: "ketama", "ketama-md5", "ch3" or "jump"), filled in by
	// clients that ask for it; empty when the server does not say.
	Placement string
}

// Errors of the parsers.
var (
	// ErrUnsupported: the server answered ERROR, it does not know the
	// command (plain memcached answers so to both commands).
	ErrUnsupported = errors.New("discovery: command not supported by the server")
	// ErrMalformed: the reply does not follow the format.
	ErrMalformed = errors.New("discovery: malformed reply")
)

// AppendConfigCluster appends the reply to `config get cluster` for the
// alive members in ElastiCache's format:
//
//	CONFIG cluster 0 <bytes>\r\n
//	<version>\n
//	<host>|<ip>|<port> <host>|<ip>|<port> ...\n
//	\r\n
//	END\r\n
//
// where <bytes> counts the two lines between the header and the final
// "\r\n". Members that are not alive are left out.
func AppendConfigCluster(dst []byte, version uint64, members []Member) []byte {
	var body []byte
	body = strconv.AppendUint(body, version, 10)
	body = append(body, '\n')
	first := true
	for _, m := range members {
		if m.Status != StatusAlive {
			continue
		}
		host, port, err := splitAddr(m.Addr)
		if err != nil {
			continue // Validate keeps these out of a Table
		}
		if !first {
			body = append(body, ' ')
		}
		first = false
		ip := m.IP
		if ip == "" {
			ip = host
		}
		body = append(body, host...)
		body = append(body, '|')
		body = append(body, ip...)
		body = append(body, '|')
		body = strconv.AppendInt(body, int64(port), 10)
	}
	body = append(body, '\n')
	return proto.AppendConfig(dst, "cluster", body)
}

// AppendMembers appends the reply to `cluster members`: one line per
// member, then END.
//
//	MEMBER <name> <memcached-addr> <gossip-addr> <status> <weight> <region>\r\n
//	...
//	END\r\n
//
// An empty gossip address or region is written as "-"; weight 0 as 1.
func AppendMembers(dst []byte, members []Member) []byte {
	for _, m := range members {
		dst = append(dst, "MEMBER "...)
		dst = append(dst, m.Name...)
		dst = append(dst, ' ')
		dst = append(dst, m.Addr...)
		dst = append(dst, ' ')
		dst = appendDash(dst, m.GossipAddr)
		dst = append(dst, ' ')
		dst = append(dst, m.Status.String()...)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(m.weight()), 10)
		dst = append(dst, ' ')
		dst = appendDash(dst, m.Region)
		dst = append(dst, "\r\n"...)
	}
	return proto.AppendEnd(dst)
}

func appendDash(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, '-')
	}
	return append(dst, s...)
}

// ConfigGetClusterRequest returns the request `config get cluster`,
// ElastiCache's discovery command.
func ConfigGetClusterRequest() *proto.Request {
	r := &proto.Request{Command: proto.CmdConfig}
	r.AddArg([]byte("get"))
	r.AddArg([]byte("cluster"))
	return r
}

// MembersRequest returns the request `cluster members`, slabcache's member
// listing.
func MembersRequest() *proto.Request {
	r := &proto.Request{Command: proto.CmdCluster}
	r.AddArg([]byte("members"))
	return r
}

// PlacementRequest returns the request `config get placement`, which a
// slabcached node answers with the key placement its ring uses.
func PlacementRequest() *proto.Request {
	r := &proto.Request{Command: proto.CmdConfig}
	r.AddArg([]byte("get"))
	r.AddArg([]byte("placement"))
	return r
}

// AppendConfigPlacement appends the reply to `config get placement`, in
// the frame of `config get cluster`: the placement's name on one line.
//
//	CONFIG placement 0 <bytes>\r\n<name>\n\r\nEND\r\n
func AppendConfigPlacement(dst []byte, name string) []byte {
	return proto.AppendConfig(dst, "placement", append([]byte(name), '\n'))
}

// ReadConfigPlacement reads a reply to `config get placement` from rd and
// returns the placement's name (ErrUnsupported when the server answers
// ERROR: memcached, or a slabcached without placements).
func ReadConfigPlacement(rd *proto.Reader) (string, error) {
	var rp proto.Reply
	if err := rd.Read(&rp); err != nil {
		if errors.Is(err, proto.ErrBadReply) {
			err = fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return "", err
	}
	switch {
	case rp.Kind == proto.ReplyError:
		return "", replyError(&rp)
	case rp.Kind != proto.ReplyConfig || string(rp.Key) != "placement":
		return "", fmt.Errorf("%w: %q", ErrMalformed, rp.Line)
	}
	name := strings.TrimRight(string(rp.Value), "\r\n")
	if name == "" || !isToken(name) {
		return "", fmt.Errorf("%w: placement %q", ErrMalformed, rp.Value)
	}
	return name, nil
}

// replyError maps an error reply to an error: ErrUnsupported for a plain
// ERROR (the server does not know the command), the reply otherwise.
func replyError(rp *proto.Reply) error {
	if string(rp.Line) == "ERROR" {
		return ErrUnsupported
	}
	return fmt.Errorf("discovery: %w", rp.Err())
}

// ReadConfigCluster reads a reply to `config get cluster` from rd.
func ReadConfigCluster(rd *proto.Reader) (View, error) {
	var rp proto.Reply
	if err := rd.Read(&rp); err != nil {
		if errors.Is(err, proto.ErrBadReply) {
			err = fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return View{}, err
	}
	switch {
	case rp.Kind == proto.ReplyError:
		return View{}, replyError(&rp)
	case rp.Kind != proto.ReplyConfig || string(rp.Key) != "cluster":
		return View{}, fmt.Errorf("%w: %q", ErrMalformed, rp.Line)
	}
	return ParseConfigBody(rp.Value)
}

// ParseConfigBody parses the data block of a `config get cluster` reply:
// the version line and the line of host|ip|port entries.
func ParseConfigBody(body []byte) (View, error) {
	lines := strings.Split(strings.TrimRight(string(body), "\r\n"), "\n")
	v, err := strconv.ParseUint(strings.TrimSpace(lines[0]), 10, 64)
	if err != nil {
		return View{}, fmt.Errorf("%w: version %q", ErrMalformed, lines[0])
	}
	view := View{Version: v}
	if len(lines) < 2 {
		return view, nil
	}
	if len(lines) > 2 {
		return View{}, fmt.Errorf("%w: %d lines in the data block, want 2", ErrMalformed, len(lines))
	}
	for _, e := range strings.Fields(lines[1]) {
		p := strings.Split(e, "|")
		if len(p) != 3 {
			return View{}, fmt.Errorf("%w: entry %q is not host|ip|port", ErrMalformed, e)
		}
		host := p[0]
		if host == "" {
			host = p[1]
		}
		port, err := strconv.Atoi(p[2])
		if err != nil || port <= 0 || port > 65535 || host == "" {
			return View{}, fmt.Errorf("%w: entry %q", ErrMalformed, e)
		}
		view.Members = append(view.Members, Member{
			Addr:   net.JoinHostPort(host, p[2]),
			IP:     p[1],
			Status: StatusAlive,
			Weight: 1,
		})
	}
	return view, nil
}

// ReadMembers reads a reply to `cluster members` from rd.
func ReadMembers(rd *proto.Reader) ([]Member, error) {
	var rp proto.Reply
	if err := rd.ReadList(&rp); err != nil {
		return nil, err
	}
	if rp.Kind == proto.ReplyError {
		return nil, replyError(&rp)
	}
	out := make([]Member, 0, len(rp.Lines))
	for _, line := range rp.Lines {
		m, err := parseMemberLine(string(line))
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func parseMemberLine(line string) (Member, error) {
	f := strings.Split(line, " ")
	if len(f) != 7 || f[0] != "MEMBER" {
		return Member{}, fmt.Errorf("%w: member line %q", ErrMalformed, line)
	}
	st, err := ParseStatus(f[4])
	if err != nil {
		return Member{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	w, err := strconv.Atoi(f[5])
	if err != nil || w < 0 {
		return Member{}, fmt.Errorf("%w: weight in %q", ErrMalformed, line)
	}
	m := Member{Name: f[1], Addr: f[2], GossipAddr: undash(f[3]), Status: st, Weight: w, Region: undash(f[6])}
	if err := m.Validate(); err != nil {
		return Member{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if m.GossipAddr != "" {
		if h, _, err := net.SplitHostPort(m.GossipAddr); err == nil {
			m.IP = h
		}
	}
	return m, nil
}

func undash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}
