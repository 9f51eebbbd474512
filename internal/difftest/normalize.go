package difftest

import (
	"bytes"
	"path"
	"strconv"
	"strings"
)

// walkReply splits a reply into protocol lines and value data. Each line
// (including its "\n", or the unterminated rest) goes to line; the data block
// announced by a "VALUE key flags bytes [cas]" or "VA bytes ..." line (bytes
// plus its "\r\n", or whatever part of it arrived) goes to data untouched, so
// nothing inside a value is ever normalised or mistaken for a reply line.
func walkReply(b []byte, line func(l []byte), data func(d []byte)) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		var l []byte
		if i < 0 {
			l, b = b, nil
		} else {
			l, b = b[:i+1], b[i+1:]
		}
		line(l)
		if n := dataLen(l); n >= 0 {
			n = min(n+2, len(b))
			data(b[:n])
			b = b[n:]
		}
	}
}

// dataLen returns the payload length announced by a VALUE or VA line, or -1.
func dataLen(l []byte) int {
	f := strings.Fields(string(l))
	switch {
	case len(f) >= 4 && f[0] == "VALUE":
		n, err := strconv.Atoi(f[3])
		if err == nil && n >= 0 {
			return n
		}
	case len(f) >= 2 && f[0] == "VA":
		n, err := strconv.Atoi(f[1])
		if err == nil && n >= 0 {
			return n
		}
	}
	return -1
}

// metaCodes are the first tokens of meta-protocol reply lines.
var metaCodes = map[string]bool{"HD": true, "VA": true, "EN": true, "NF": true, "NS": true, "EX": true, "MN": true, "ME": true}

// captureVars records the CAS values a reply carries, for ${cas} and
// ${cas:KEY} in later steps.
func captureVars(reply []byte, vars map[string]string) {
	walkReply(reply, func(l []byte) {
		f := strings.Fields(string(l))
		if len(f) == 5 && f[0] == "VALUE" {
			vars["cas"] = f[4]
			vars["cas:"+f[1]] = f[4]
			return
		}
		if len(f) == 0 || !metaCodes[f[0]] || f[0] == "ME" {
			return
		}
		var cas, key string
		for _, tok := range f[1:] {
			if len(tok) > 1 && tok[0] == 'c' && isDigits(tok[1:]) {
				cas = tok[1:]
			}
			if len(tok) > 1 && tok[0] == 'k' {
				key = tok[1:]
			}
		}
		if cas != "" {
			vars["cas"] = cas
			if key != "" {
				vars["cas:"+key] = cas
			}
		}
	}, func([]byte) {})
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Normalizer rewrites the parts of replies that differ between two correct
// servers, and nothing else:
//
//   - CAS values (the 5th token of a VALUE line; c<N> in meta replies; cas= in
//     me replies) become <cas1>, <cas2>, ... numbered by first appearance in
//     the transcript, so "the same CAS twice" and "a new CAS after a change"
//     still have to match; a CAS of 0 (CAS disabled) is kept as is.
//   - "VERSION x.y.z" becomes "VERSION <version>".
//   - STAT lines whose name matches VolatileStats keep their name and get the
//     value <volatile>.
//   - In meta replies, t<N> (remaining TTL, except t-1) becomes t<ttl> and
//     l<N> (seconds since last access) becomes l<la>; in me replies exp=N
//     (except -1) and la=N become exp=<ttl> and la=<la>.
//
// Value data is never touched.
type Normalizer struct {
	// VolatileStats are path.Match patterns of STAT names whose values are
	// not compared (pid, uptime, ... "items:*:age").
	VolatileStats []string
}

// DefaultVolatileStats lists the general "stats" fields whose values depend
// on time, the process, the machine or memcached's internal memory layout
// rather than on the conversation.
var DefaultVolatileStats = []string{
	// process and time
	"pid", "uptime", "time", "version", "libevent", "pointer_size",
	"rusage_user", "rusage_system",
	// connections the harness and the starter make, and their buffers
	"curr_connections", "total_connections", "connection_structures",
	"reserved_fds", "response_obj_*", "read_buf_*", "bytes_read", "bytes_written",
	// threads and background work whose pace is timing-dependent
	"threads", "lru_crawler_starts", "lru_maintainer_juggles",
	"moves_to_cold", "moves_to_warm", "moves_within_lru",
	"time_in_listen_disabled_us",
	// memory layout: hash table and per-item overhead are the implementation's own
	"hash_power_level", "hash_bytes", "hash_is_expanding", "bytes",
	"slab_global_page_pool", "lrutail_reflocked",
	// stats items / stats slabs
	"items:*:age", "items:*:age_*", "items:*:*_hot_age", "items:*:*_warm_age",
}

// DefaultNormalizer returns the Normalizer used by Run and RunGolden.
func DefaultNormalizer() *Normalizer {
	return &Normalizer{VolatileStats: append([]string(nil), DefaultVolatileStats...)}
}

// Transcript returns a normalised copy of t. CAS numbering runs through the
// whole transcript, across connections.
func (n *Normalizer) Transcript(t *Transcript) *Transcript {
	out := &Transcript{Name: t.Name, Steps: make([]Step, len(t.Steps))}
	cas := casLabeler{}
	for i, s := range t.Steps {
		s.Reply = n.reply(s.Reply, cas)
		out.Steps[i] = s
	}
	return out
}

// casLabeler maps a server's CAS values to <casN> in order of appearance.
type casLabeler map[string]string

func (c casLabeler) label(v string) string {
	if v == "0" {
		return v
	}
	if l, ok := c[v]; ok {
		return l
	}
	l := "<cas" + strconv.Itoa(len(c)+1) + ">"
	c[v] = l
	return l
}

func (n *Normalizer) reply(b []byte, cas casLabeler) []byte {
	var out []byte
	walkReply(b, func(l []byte) {
		out = append(out, n.line(l, cas)...)
	}, func(d []byte) {
		out = append(out, d...)
	})
	return out
}

// line normalises one reply line, keeping its ending.
func (n *Normalizer) line(l []byte, cas casLabeler) []byte {
	body := l
	var end []byte
	if bytes.HasSuffix(body, []byte("\r\n")) {
		body, end = body[:len(body)-2], []byte("\r\n")
	} else if bytes.HasSuffix(body, []byte("\n")) {
		body, end = body[:len(body)-1], []byte("\n")
	}
	s := string(body)
	f := strings.Split(s, " ")
	switch {
	case len(f) == 5 && f[0] == "VALUE" && isDigits(f[4]):
		f[4] = cas.label(f[4])
	case len(f) >= 2 && f[0] == "VERSION":
		f = []string{"VERSION", "<version>"}
	case len(f) == 3 && f[0] == "STAT" && n.volatile(f[1]):
		f[2] = "<volatile>"
	case len(f) >= 1 && f[0] == "ME":
		for i := 2; i < len(f); i++ {
			k, v, ok := strings.Cut(f[i], "=")
			if !ok {
				continue
			}
			switch {
			case k == "cas" && isDigits(v):
				f[i] = "cas=" + cas.label(v)
			case k == "exp" && v != "-1":
				f[i] = "exp=<ttl>"
			case k == "la":
				f[i] = "la=<la>"
			}
		}
	case len(f) >= 1 && metaCodes[f[0]]:
		for i := 1; i < len(f); i++ {
			tok := f[i]
			if len(tok) < 2 {
				continue
			}
			switch {
			case tok[0] == 'c' && isDigits(tok[1:]):
				f[i] = "c" + cas.label(tok[1:])
			case tok[0] == 't' && isDigits(tok[1:]):
				f[i] = "t<ttl>"
			case tok[0] == 'l' && isDigits(tok[1:]):
				f[i] = "l<la>"
			}
		}
	default:
		return l
	}
	return append([]byte(strings.Join(f, " ")), end...)
}

func (n *Normalizer) volatile(name string) bool {
	for _, p := range n.VolatileStats {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}
