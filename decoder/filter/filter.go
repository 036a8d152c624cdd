// Package filter selects decoder events by method, status, address and
// stream. It wraps a Sink, so every source and output gets the same
// filters.
package filter

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/grpc"
	"github.com/hoptap/hoptap/decoder/hpack"
)

// Spec is what the user asked for. Empty fields match everything.
type Spec struct {
	Methods  []string // globs on :path; a leading "/" is optional
	Statuses []string // gRPC codes by number or name
	Hosts    []string // addresses or CIDRs; either end matches
	Ports    []uint16 // either end matches
	Streams  []uint32
}

// Empty reports whether the spec selects everything.
func (s Spec) Empty() bool {
	return len(s.Methods) == 0 && len(s.Statuses) == 0 && len(s.Hosts) == 0 && len(s.Ports) == 0 && len(s.Streams) == 0
}

// Filter is a decoder.Sink that passes on what Spec selects.
type Filter struct {
	next     decoder.Sink
	methods  []*regexp.Regexp
	statuses map[int64]bool
	prefixes []netip.Prefix
	ports    map[uint16]bool
	streams  map[uint32]bool
	// methodOf remembers each stream's method so that its frames can be
	// selected by it.
	methodOf map[streamKey]string
}

type streamKey struct {
	conn   uint64
	stream uint32
}

// New checks spec and returns a filter in front of next.
func New(spec Spec, next decoder.Sink) (*Filter, error) {
	f := &Filter{next: next, methodOf: map[streamKey]string{}}
	for _, m := range spec.Methods {
		if !strings.HasPrefix(m, "/") && !strings.HasPrefix(m, "*") {
			m = "/" + m
		}
		f.methods = append(f.methods, globRegexp(m))
	}
	if len(spec.Statuses) > 0 {
		f.statuses = map[int64]bool{}
		for _, s := range spec.Statuses {
			for _, one := range strings.Split(s, ",") {
				c, ok := grpc.CodeFromName(strings.TrimSpace(one))
				if !ok {
					return nil, fmt.Errorf("bad --status %q: want a gRPC code such as 0, OK, 14 or UNAVAILABLE", one)
				}
				f.statuses[int64(c)] = true
			}
		}
	}
	for _, h := range spec.Hosts {
		if p, err := netip.ParsePrefix(h); err == nil {
			f.prefixes = append(f.prefixes, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(strings.Trim(h, "[]"))
		if err != nil {
			return nil, fmt.Errorf("bad --host %q: want an IP address or CIDR", h)
		}
		f.prefixes = append(f.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	if len(spec.Ports) > 0 {
		f.ports = map[uint16]bool{}
		for _, p := range spec.Ports {
			f.ports[p] = true
		}
	}
	if len(spec.Streams) > 0 {
		f.streams = map[uint32]bool{}
		for _, s := range spec.Streams {
			f.streams[s] = true
		}
	}
	return f, nil
}

func (f *Filter) connOK(c *decoder.Conn) bool { return f.Ends(c.Client, c.Server) }

// Ends reports whether a connection between a and b passes the port and
// address filters; for sources that see packets, not connections.
func (f *Filter) Ends(a, b netip.AddrPort) bool {
	if f.ports != nil && !f.ports[a.Port()] && !f.ports[b.Port()] {
		return false
	}
	if len(f.prefixes) == 0 {
		return true
	}
	for _, p := range f.prefixes {
		if p.Contains(a.Addr()) || p.Contains(b.Addr()) {
			return true
		}
	}
	return false
}

func (f *Filter) methodOK(m grpc.Str) bool {
	if len(f.methods) == 0 {
		return true
	}
	if !m.OK {
		return false
	}
	for _, re := range f.methods {
		if re.MatchString(m.V) {
			return true
		}
	}
	return false
}

// Frame implements decoder.Sink.
func (f *Filter) Frame(e *decoder.FrameEvent) {
	if !f.connOK(e.Conn) {
		return
	}
	sid := e.Frame.StreamID
	if f.streams != nil && !f.streams[sid] {
		return
	}
	if len(f.methods) > 0 {
		k := streamKey{e.Conn.ID, sid}
		if e.HeadersShown && e.Dir == grpc.C2S {
			if p, ok := find(e.Headers, ":path"); ok {
				f.methodOf[k] = p
			}
		}
		m, ok := f.methodOf[k]
		if !f.methodOK(grpc.Str{V: m, OK: ok}) {
			return
		}
		if e.Dir == grpc.S2C && endsStream(e) {
			delete(f.methodOf, k)
		}
	}
	if f.statuses != nil {
		s, ok := find(e.Headers, "grpc-status")
		if !e.HeadersShown || !ok {
			return
		}
		c, valid := grpc.CodeFromName(s)
		if !valid || !f.statuses[int64(c)] {
			return
		}
	}
	f.next.Frame(e)
}

func endsStream(e *decoder.FrameEvent) bool {
	return e.Frame.Flags&1 != 0 && (e.Frame.Type == 0 || e.Frame.Type == 1) || e.Frame.Type == 3
}

func find(fs []hpack.Field, name string) (string, bool) {
	for _, h := range fs {
		if h.NameKnown && h.Name == name && h.ValueKnown {
			return h.Value, true
		}
	}
	return "", false
}

// Call implements decoder.Sink.
func (f *Filter) Call(e *decoder.CallEvent) {
	c := e.Call
	if !f.connOK(e.Conn) || (f.streams != nil && !f.streams[c.Stream]) || !f.methodOK(c.Method) {
		return
	}
	if f.statuses != nil && (!c.Status.OK || !f.statuses[c.Status.V]) {
		return
	}
	f.next.Call(e)
}

// Conn implements decoder.Sink. Connection events pass the address
// filters; stream, method and status filters select calls and frames only,
// so connection events are dropped under them.
func (f *Filter) Conn(e *decoder.ConnEvent) {
	if !f.connOK(e.Conn) || f.streams != nil || len(f.methods) > 0 || f.statuses != nil {
		return
	}
	f.next.Conn(e)
}

// ParsePorts parses "50051,8080" style lists.
func ParsePorts(ss []string) ([]uint16, error) {
	var out []uint16
	for _, s := range ss {
		for _, one := range strings.Split(s, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(one), 10, 16)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("bad port %q: want 1-65535", one)
			}
			out = append(out, uint16(n))
		}
	}
	return out, nil
}

// globRegexp compiles a method glob: "*" matches any run of characters,
// "/" included, so "*/Get*" and "/pkg.Svc/*" both do what they look like;
// "?" matches one character. Everything else is literal.
func globRegexp(glob string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, r := range glob {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
