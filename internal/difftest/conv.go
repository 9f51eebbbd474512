package difftest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Conversation is one parsed conversation file: the server flags it needs and
// a list of actions played in order.
type Conversation struct {
	Name    string   // file name without directory, e.g. "storage.conv"
	Path    string   // path it was read from ("" when parsed from memory)
	Flags   []string // extra server command-line flags from the "flags" line
	actions []action
}

// actionKind says what one line of a conversation does.
type actionKind int

const (
	actSend   actionKind = iota // append text + "\r\n" to the pending bytes
	actRaw                      // append text to the pending bytes
	actWrite                    // write the pending bytes, read nothing
	actRecv                     // write pending + sentinel, read up to the sentinel's reply
	actClosed                   // write pending, read until the server closes
	actWait                     // write pending, read whatever comes for a while
	actSleep                    // sleep
	actConn                     // switch to another connection
	actClose                    // the client closes the current connection
)

// action is one line of a conversation.
type action struct {
	kind  actionKind
	line  int           // 1-based line number in the file
	text  string        // escaped text (send, raw)
	chunk int           // write: bytes per write (0 = all at once)
	dur   time.Duration // sleep, wait
	conn  int           // conn
}

// Step kinds as they appear in transcripts.
const (
	KindRecv   = "recv"
	KindClosed = "expect-close"
	KindWait   = "wait"
)

// ParseFile reads and parses one conversation file.
func ParseFile(path string) (*Conversation, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(filepath.Base(path), src)
	if err != nil {
		return nil, err
	}
	c.Path = path
	return c, nil
}

// Parse parses a conversation. The format is line based; blank lines and
// lines starting with '#' are ignored. Directives:
//
//	flags ARGS...      server flags this conversation needs (before any step);
//	                   ${testdata} stands for the corpus directory (files
//	                   a flag names, such as an auth file)
//	send TEXT          append TEXT and "\r\n" to the bytes to send
//	raw TEXT           append TEXT (no line ending added)
//	recv               send the pending bytes (one write, so several send lines
//	                   form a pipeline), then "mn\r\nversion\r\n", and read the
//	                   reply up to the "MN\r\nVERSION ...\r\n" those produce;
//	                   the step's reply is everything before that sentinel, so
//	                   a quiet (noreply) step records an empty reply
//	expect-close       send the pending bytes and read until the server closes
//	                   the connection (no sentinel is sent)
//	wait DURATION      send the pending bytes and record whatever arrives
//	                   within DURATION (no sentinel; for a server that must
//	                   stay silent while it waits for more bytes)
//	write [N]          send the pending bytes now, in writes of N bytes with a
//	                   1 ms pause between them (default: one write); read nothing
//	sleep DURATION     pause (memcached's clock ticks once a second: use
//	                   sparingly, e.g. "sleep 2100ms" for an expiry)
//	conn N             following actions use client connection N (1 is the
//	                   default; a connection is dialled when first used)
//	close              the client closes the current connection
//
// TEXT is escaped as Unescape describes, with the variables ${cas:KEY} (the
// CAS value of KEY in the latest VALUE line or meta reply with k and c flags)
// and ${cas} (the latest CAS value seen in any reply). Trailing blanks are
// refused: write \x20 for a trailing space. Pending bytes must be sent
// (recv, expect-close, wait or write) before sleep, conn, close or the end.
func Parse(name string, src []byte) (*Conversation, error) {
	c := &Conversation{Name: name}
	pending := false
	steps := 0
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSuffix(sc.Text(), "\r")
		trimmed := strings.TrimLeft(line, " \t")
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		errf := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %s", name, lineNo, fmt.Sprintf(format, args...))
		}
		if strings.TrimRight(line, " \t") != line {
			return nil, errf("trailing blank (write \\x20 for a trailing space)")
		}
		word, rest, _ := strings.Cut(trimmed, " ")
		a := action{line: lineNo}
		switch word {
		case "flags":
			if steps > 0 || pending || len(c.actions) > 0 {
				return nil, errf("flags must come before the first step")
			}
			for _, f := range strings.Fields(rest) {
				c.Flags = append(c.Flags, strings.ReplaceAll(f, "${testdata}", Dir()))
			}
			continue
		case "send", "raw":
			a.kind = actSend
			if word == "raw" {
				a.kind = actRaw
				if rest == "" {
					return nil, errf("raw needs text")
				}
			}
			a.text = rest
			if _, err := expand(nil, rest, anyVar, -1); err != nil {
				return nil, errf("%v", err)
			}
			pending = true
		case "recv", "expect-close":
			if rest != "" {
				return nil, errf("%s takes no argument", word)
			}
			a.kind = actRecv
			if word == "expect-close" {
				a.kind = actClosed
			}
			pending = false
			steps++
		case "wait", "sleep":
			d, err := time.ParseDuration(rest)
			if err != nil || d <= 0 || d > 10*time.Second {
				return nil, errf("%s needs a duration between 1ms and 10s, e.g. 300ms", word)
			}
			a.dur = d
			if word == "sleep" {
				if pending {
					return nil, errf("unsent bytes before sleep (add recv or write)")
				}
				a.kind = actSleep
			} else {
				a.kind = actWait
				pending = false
				steps++
			}
		case "write":
			a.kind = actWrite
			if rest != "" {
				n, err := strconv.Atoi(rest)
				if err != nil || n <= 0 {
					return nil, errf("write takes a positive chunk size")
				}
				a.chunk = n
			}
			if !pending {
				return nil, errf("write with nothing to send")
			}
			pending = false
		case "conn":
			n, err := strconv.Atoi(rest)
			if err != nil || n < 1 || n > 64 {
				return nil, errf("conn needs a number from 1 to 64")
			}
			if pending {
				return nil, errf("unsent bytes before conn (add recv or write)")
			}
			a.kind, a.conn = actConn, n
		case "close":
			if pending {
				return nil, errf("unsent bytes before close (add recv or write)")
			}
			a.kind = actClose
		default:
			return nil, errf("unknown directive %q", word)
		}
		c.actions = append(c.actions, a)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if pending {
		return nil, fmt.Errorf("%s: unsent bytes at the end (add recv)", name)
	}
	if steps == 0 {
		return nil, fmt.Errorf("%s: no step (recv, expect-close or wait)", name)
	}
	return c, nil
}

// anyVar accepts every variable, so parsing can check escapes before any
// value is known.
func anyVar(string) (string, error) { return "0", nil }
