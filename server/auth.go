package server

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/slabcache/slabcache/proto"
)

// ASCII authentication (-Y), as memcached 1.6 does it: until a text
// connection authenticates, its only accepted command is a set whose value
// is "user password" matching a line "user:password" of the auth file; the
// key, flags and exptime are ignored and nothing is stored. Anything else
// answers CLIENT_ERROR unauthenticated.

// Limits of memcached's ASCII authentication.
const (
	authMaxEntries = 8     // lines of the auth file read (memcached's MAX_ENTRIES)
	authMaxLine    = 256   // a line's longest useful length (MAX_ENTRY_LEN)
	authMaxToken   = 16384 // longest "user password" value (MAX_AUTH_REQ_LEN)
	authMinLine    = 6     // shortest possible set line (MIN_AUTH_REQ_LEN)
)

// authEntry is one user of the auth file.
type authEntry struct{ user, pass []byte }

// authTable is the loaded auth file; swapped whole on reload.
type authTable struct {
	entries atomic.Pointer[[]authEntry]
}

// Errors of LoadAuthFile, with memcached's messages (the caller adds the
// file name and the system's reason as memcached does).
var (
	//lint:ignore ST1005 memcached's message, word for word
	ErrAuthFileOpen      = errors.New("Could not open authfile")
	ErrAuthFileMalformed = errors.New("has a malformed entry. Should be 'user:password'")
)

// parseAuthFile reads lines "user:password" (at most authMaxEntries),
// as memcached's authfile_load.
func parseAuthFile(data []byte) ([]authEntry, error) {
	var out []authEntry
	for len(data) > 0 && len(out) < authMaxEntries {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(line) > authMaxLine-1 {
			line = line[:authMaxLine-1]
		}
		user, pass, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return nil, ErrAuthFileMalformed
		}
		if i := bytes.IndexAny(pass, "\r\x00"); i >= 0 {
			pass = pass[:i]
		}
		out = append(out, authEntry{user: user, pass: pass})
	}
	return out, nil
}

// LoadAuthFile reads the -Y file into the server: at start, and again on
// SIGHUP as memcached does. A reload that fails keeps the users loaded
// before.
func (s *Server) LoadAuthFile() error {
	if s.set.AuthFile == "" {
		return nil
	}
	data, err := os.ReadFile(s.set.AuthFile)
	if err != nil {
		return fmt.Errorf("%w [%s], error %w", ErrAuthFileOpen, s.set.AuthFile, err)
	}
	entries, err := parseAuthFile(data)
	if err != nil {
		//lint:ignore ST1005 memcached's message, word for word
		return fmt.Errorf("Authfile [%s] %w", s.set.AuthFile, err)
	}
	s.auth.entries.Store(&entries)
	return nil
}

// peerCredentials is what this node authenticates with on other members
// (hot-key copies) when it runs with -Y: the first entry of its auth file,
// which a cluster's members share.
func (s *Server) peerCredentials() (user, pass string, ok bool) {
	p := s.auth.entries.Load()
	if s.set.AuthFile == "" || p == nil || len(*p) == 0 {
		return "", "", false
	}
	return string((*p)[0].user), string((*p)[0].pass), true
}

// authCheck reports whether user and pass match an entry.
func (s *Server) authCheck(user, pass []byte) bool {
	p := s.auth.entries.Load()
	if p == nil {
		return false
	}
	ok := 0
	for _, e := range *p {
		if len(e.user) == len(user) && len(e.pass) == len(pass) {
			ok |= subtle.ConstantTimeCompare(e.user, user) & subtle.ConstantTimeCompare(e.pass, pass)
		}
	}
	return ok == 1
}

// processAuth handles the input of a text connection that has not
// authenticated (memcached's try_read_command_asciiauth). It returns the
// bytes consumed and whether to close now; memcached closes without
// writing the replies it holds (dropUnsent).
func (c *conn) processAuth(buf []byte) (int, bool) {
	if c.authLen == 0 {
		if len(buf) < 3 {
			c.in.need = 3 // memcached waits for three bytes
			return 0, false
		}
		el := bytes.IndexByte(buf, '\n')
		if el < 0 {
			if len(buf) > 2048 {
				c.dropUnsent()
				return 0, true
			}
			c.in.need = len(buf) + 1
			return 0, false
		}
		c.in.need = 0
		if el < authMinLine {
			c.dropUnsent()
			return 0, true
		}
		size, ok := authLine(buf[:el])
		switch {
		case !ok:
			c.authAnswer(proto.ErrUnauthenticated.Reply())
			return el + 1, false
		case size > authMaxToken:
			c.authAnswer(proto.ErrAuthTokenTooLong.Reply())
			return el + 1, false
		}
		c.authLen = int(size) + 2
		return el + 1, false // the value next (the caller comes back)
	}
	if c.authLen > mcReadBuffer && len(buf) >= mcReadBuffer {
		// memcached reads the value into its 16 KB buffer: one that does
		// not fit fills it, and its next read (of nothing) closes the
		// connection.
		c.dropUnsent()
		return 0, true
	}
	if len(buf) < c.authLen {
		c.in.need = min(c.authLen, mcReadBuffer)
		return 0, false
	}
	return c.authValue(buf)
}

// authValue checks the "user password" value of an authentication, all of
// it in buf.
func (c *conn) authValue(buf []byte) (int, bool) {
	n := c.authLen
	cont := buf[:n]
	c.authLen = 0
	c.in.need = 0
	if !bytes.HasSuffix(cont, []byte("\r\n")) {
		c.authAnswer(proto.ErrBadLineTermination.Reply())
		return n, false
	}
	user, pass, found := bytes.Cut(cont[:n-2], []byte(" "))
	if !found {
		c.authAnswer(proto.ErrBadAuthToken.Reply())
		return n, false
	}
	c.st[cAuthCmds]++
	if !c.s.authCheck(user, pass) {
		c.st[cAuthErrors]++
		c.authAnswer(proto.ErrAuthFailure.Reply())
		return n, false
	}
	c.authAnswer("STORED\r\n")
	c.authed = true
	return n, false
}

// authAnswer puts the reply to a command of a connection that has not
// authenticated in out. memcached keeps those replies in one response
// object, its current one until it writes (it starts one only when it has
// none), so each replaces the one before it since the last point where it
// wrote: a client that sends several such commands at once gets only the
// last one's reply. Before authentication out holds nothing else, so the
// reply memcached has not written yet is all of out after sentMark. Each
// counts against memcached's commands per event, as any other (spend).
func (c *conn) authAnswer(line string) {
	c.out = append(c.out[:min(c.sentMark, len(c.out))], line...)
	c.spend()
}

// authLine reads the size of an authentication's "set <key> <flags>
// <exptime> <size>" line (without its newline) as memcached does: the line
// must begin with "set" and have at least five tokens separated by spaces
// (tabs belong to tokens), the fifth all digits. memcached's tokenizer is
// given the line without its newline and drops its last byte unless the
// one before is a CR (then both), so a line ended by a bare newline loses
// the size's last digit.
func authLine(line []byte) (uint32, bool) {
	if !bytes.HasPrefix(line, []byte("set")) {
		return 0, false
	}
	if line[len(line)-2] == '\r' {
		line = line[:len(line)-2]
	} else {
		line = line[:len(line)-1]
	}
	for i := 0; ; i++ {
		line = bytes.TrimLeft(line, " ")
		if len(line) == 0 {
			return 0, false
		}
		tok := line
		if j := bytes.IndexByte(line, ' '); j >= 0 {
			tok, line = line[:j], line[j:]
		} else {
			line = nil
		}
		if i == 4 {
			return proto.TokU32(tok)
		}
	}
}
