package proto

import (
	"fmt"
	"strings"
)

// describe renders the fields of a parsed request that are set, in a fixed
// order, so table tests can state a whole request in one string.
func describe(r *Request) string {
	var b strings.Builder
	b.WriteString(r.Command.String())
	if r.Key != nil {
		fmt.Fprintf(&b, " key=%q", r.Key)
	}
	if r.Command.IsRetrieval() {
		b.WriteString(" keys=[")
		for i, k := range r.Keys {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.Write(k)
		}
		b.WriteByte(']')
	}
	if r.KeyBinary {
		b.WriteString(" binary")
	}
	if r.nflags > 0 {
		fmt.Fprintf(&b, " flags=%q", r.MetaFlags())
	}
	if r.ClientFlags != 0 {
		fmt.Fprintf(&b, " F=%d", r.ClientFlags)
	}
	if r.Exptime != 0 {
		fmt.Fprintf(&b, " exp=%d", r.Exptime)
	}
	if r.VivifyTTL != 0 {
		fmt.Fprintf(&b, " N=%d", r.VivifyTTL)
	}
	if r.RecacheTTL != 0 {
		fmt.Fprintf(&b, " R=%d", r.RecacheTTL)
	}
	if r.CAS != 0 {
		fmt.Fprintf(&b, " cas=%d", r.CAS)
	}
	if r.Delta != 0 {
		fmt.Fprintf(&b, " delta=%d", r.Delta)
	}
	if r.Initial != 0 {
		fmt.Fprintf(&b, " J=%d", r.Initial)
	}
	if r.Mode != 0 {
		fmt.Fprintf(&b, " M=%c", r.Mode)
	}
	if r.Opaque != nil {
		fmt.Fprintf(&b, " O=%q", r.Opaque)
	}
	if r.Level != 0 {
		fmt.Fprintf(&b, " level=%d", r.Level)
	}
	if r.MemLimit != 0 {
		fmt.Fprintf(&b, " mb=%d", r.MemLimit)
	}
	if r.Command.IsStorage() {
		fmt.Fprintf(&b, " len=%d", r.ValueLen)
		if r.Value != nil {
			fmt.Fprintf(&b, " value=%q", r.Value)
		}
	}
	if r.nargs > 0 {
		fmt.Fprintf(&b, " args=%q", r.Args())
	}
	if r.NoReply {
		b.WriteString(" noreply")
	}
	return b.String()
}

// errDesc is the part of a request that matters with an *Error.
func errDesc(r *Request) string {
	s := r.Command.String()
	if r.NoReply {
		s += " noreply"
	}
	return s
}
