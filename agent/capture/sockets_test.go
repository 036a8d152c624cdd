package capture

import (
	"net/netip"
	"testing"

	"github.com/hoptap/hoptap/bpf"
)

// A listener's SYNs from two clients, then the accepted sockets' packets:
// one end (observer) for the server, and both connections' tuples known,
// so that each client's end finds the server's.
func TestLocalsEnds(t *testing.T) {
	var l locals
	srv := netip.MustParseAddrPort("198.18.0.2:50051")
	c1 := netip.MustParseAddrPort("198.18.0.3:40001")
	c2 := netip.MustParseAddrPort("198.18.0.4:40002")
	in := func(cookie uint64, from netip.AddrPort) uint64 {
		return l.observe(&bpf.Event{Cookie: cookie, Cgroup: 7, Dir: bpf.Ingress}, &tcpInfo{ok: true, src: from, dst: srv})
	}
	listener := in(100, c1)
	if got := in(100, c2); got != listener {
		t.Fatalf("the second SYN at the listener is another end: %x, want %x", got, listener)
	}
	if got := in(101, c1); got != listener {
		t.Fatalf("the accepted socket is another end: %x, want %x", got, listener)
	}
	if got := in(101, c1); got != listener { // the cached answer
		t.Fatalf("cached: %x, want %x", got, listener)
	}
	for _, c := range []netip.AddrPort{c1, c2} {
		if obs, ok := (&Sockets{s: &session{locals: l}}).Peer(c, srv); !ok || obs != listener {
			t.Errorf("client %s does not find the server's end: %x %v", c, obs, ok)
		}
	}
	// The client's own end is another observer.
	cl := l.observe(&bpf.Event{Cookie: 200, Cgroup: 8, Dir: bpf.Egress}, &tcpInfo{ok: true, src: c1, dst: srv})
	if cl == listener || cl == 0 {
		t.Fatalf("client end %x", cl)
	}
	l.closed(srv, c1)
	if _, ok := (&Sockets{s: &session{locals: l}}).Peer(c1, srv); ok {
		t.Error("a closed connection's tuple is still known")
	}
}
