package proto

import "testing"

func TestErrorValues(t *testing.T) {
	if len(allErrors) < 25 {
		t.Fatalf("only %d errors registered", len(allErrors))
	}
	seen := map[string]bool{}
	for _, e := range allErrors {
		if e == ErrGetKeyTooLong {
			// ErrBadFormat's text, sent with memcached's extra empty line.
			if e.Reply() != ErrBadFormat.Reply()+"\r\n" || e.Error() != ErrBadFormat.Error() {
				t.Errorf("ErrGetKeyTooLong: %q %q", e.Reply(), e.Error())
			}
			continue
		}
		if seen[e.Error()] {
			t.Errorf("duplicate error text %q", e.Error())
		}
		seen[e.Error()] = true
		switch {
		case e.Reply() == "" && !e.Close():
			t.Errorf("%q neither replies nor closes", e.Error())
		case e.Reply() != "":
			if e.Reply() != e.Error()+"\r\n" {
				t.Errorf("reply %q does not match text %q", e.Reply(), e.Error())
			}
			if got := LookupError([]byte(e.Error())); got != e {
				t.Errorf("LookupError(%q) = %v", e.Error(), got)
			}
		}
	}
	if LookupError([]byte("CLIENT_ERROR something else")) != nil || LookupError([]byte("STORED")) != nil {
		t.Error("LookupError matched a line that is no error")
	}
	if !ErrTooManyConnections.Close() || ErrTooManyConnections.Reply() != "ERROR Too many open connections\r\n" {
		t.Error("ErrTooManyConnections must reply, then close")
	}
	if ErrHTTP.Reply() != "" || !ErrHTTP.Close() || ErrLineTooLong.Reply() != "" || !ErrLineTooLong.Close() {
		t.Error("memcached closes silently on HTTP requests and long lines")
	}
}
