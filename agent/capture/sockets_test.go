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

// A client dials a Service's cluster IP and kube-proxy translates it to
// the server pod's address: the client's socket sees the cluster IP, the
// server's sees the client. Each still finds the other's end, and an end
// whose peer is elsewhere finds none.
func TestLocalsPeerThroughDNAT(t *testing.T) {
	var l locals
	client := netip.MustParseAddrPort("198.18.128.5:40001")
	clusterIP := netip.MustParseAddrPort("198.19.0.10:10000")
	server := netip.MustParseAddrPort("198.18.128.6:10000")
	far := netip.MustParseAddrPort("198.18.129.9:40009") // a client on another node
	cl := l.observe(&bpf.Event{Cookie: 1, Cgroup: 7, Dir: bpf.Egress}, &tcpInfo{ok: true, src: client, dst: clusterIP})
	sv := l.observe(&bpf.Event{Cookie: 2, Cgroup: 8, Dir: bpf.Ingress}, &tcpInfo{ok: true, src: client, dst: server})
	l.observe(&bpf.Event{Cookie: 3, Cgroup: 8, Dir: bpf.Ingress}, &tcpInfo{ok: true, src: far, dst: server})
	dir := &Sockets{s: &session{locals: l}}
	if obs, ok := dir.Peer(client, clusterIP); !ok || obs != sv {
		t.Errorf("the client does not find the server's end: %x %v, want %x", obs, ok, sv)
	}
	if obs, ok := dir.Peer(server, client); !ok || obs != cl {
		t.Errorf("the server does not find the client's end: %x %v, want %x", obs, ok, cl)
	}
	if obs, ok := dir.Peer(server, far); ok {
		t.Errorf("a client on another node found here: %x", obs)
	}
	// A second pod with the same loopback address makes it ambiguous:
	// no answer rather than a guess.
	lo := netip.MustParseAddrPort("127.0.0.1:8080")
	loClient := netip.MustParseAddrPort("127.0.0.1:50000")
	l.observe(&bpf.Event{Cookie: 4, Cgroup: 9, Dir: bpf.Ingress}, &tcpInfo{ok: true, src: loClient, dst: lo})
	l.observe(&bpf.Event{Cookie: 5, Cgroup: 10, Dir: bpf.Ingress}, &tcpInfo{ok: true, src: loClient, dst: lo})
	if obs, ok := dir.Peer(loClient, netip.MustParseAddrPort("127.0.0.1:9999")); ok {
		t.Errorf("an address two ends have answered: %x", obs)
	}
}

// An end's process is the one last seen on a socket there: a later
// packet of a socket with no owner known (the listener's handshake of the
// next connection) does not make the end's process unknown.
func TestLocalsEndKeepsItsOwner(t *testing.T) {
	s := &session{owners: newOwners()} // cgroup 0 throughout: no names to look up
	s.locals.owners = s.owners
	srv := netip.MustParseAddrPort("198.18.0.2:50051")
	c1 := netip.MustParseAddrPort("198.18.0.3:40001")
	c2 := netip.MustParseAddrPort("198.18.0.4:40002")
	s.owners.set(&bpf.Event{Kind: bpf.KindOwner, Cookie: 101, TGID: 42, Comm: "server"})
	end := s.locals.observe(&bpf.Event{Cookie: 101, Dir: bpf.Egress}, &tcpInfo{ok: true, src: srv, dst: c1})
	if got := (&Sockets{s: s}).Get(end); !got.Known || got.PID != 42 || got.Cookie != 101 {
		t.Fatalf("end after its accepted socket's packet: %+v", got)
	}
	s.locals.observe(&bpf.Event{Cookie: 100, Dir: bpf.Ingress}, &tcpInfo{ok: true, src: c2, dst: srv}) // the listener
	if got := (&Sockets{s: s}).Get(end); !got.Known || got.PID != 42 || got.Comm != "server" || got.Cookie != 100 {
		t.Errorf("end after the listener's packet: %+v, want pid 42 known, cookie 100", got)
	}
	// A socket whose owner shows itself only after its packets, then the
	// listener again: the end is that socket's process.
	s.locals.observe(&bpf.Event{Cookie: 102, Dir: bpf.Ingress}, &tcpInfo{ok: true, src: c1, dst: srv})
	s.owners.set(&bpf.Event{Kind: bpf.KindOwner, Cookie: 102, TGID: 43, Comm: "server2"})
	c3 := netip.MustParseAddrPort("198.18.0.5:40003") // the next connection's SYN
	s.locals.observe(&bpf.Event{Cookie: 100, Dir: bpf.Ingress}, &tcpInfo{ok: true, src: c3, dst: srv})
	if got := (&Sockets{s: s}).Get(end); !got.Known || got.PID != 43 {
		t.Errorf("end after a socket owned late, then the listener: %+v, want pid 43", got)
	}
	// With no socket of the end's owned, it is unknown, not guessed.
	other := s.locals.observe(&bpf.Event{Cookie: 300, Dir: bpf.Egress}, &tcpInfo{ok: true, src: c2, dst: srv})
	if got := (&Sockets{s: s}).Get(other); got.Known {
		t.Errorf("an end with no owned socket is known: %+v", got)
	}
}
