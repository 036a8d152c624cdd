package capture

import (
	"net/netip"

	"github.com/hoptap/hoptap/bpf"
)

// Socket is what the capture knows of one socket. Unknown parts are
// zero and say so through their Has/Known flags: they are never guessed.
type Socket struct {
	Known      bool // the owning process was seen (a hook or the start-up scan)
	PID        uint32
	Comm       string
	Cgroup     uint64 // cgroup v2 id; 0 when unknown
	CgroupPath string // under the cgroup root; "" when unknown
	Local      netip.AddrPort
	HasLocal   bool // Local was seen in a packet of this socket
}

// Sockets is the capture's directory of sockets, by cookie.
type Sockets struct{ s *session }

// Get looks a socket up.
func (k *Sockets) Get(cookie uint64) Socket {
	var out Socket
	if o := k.s.owners.get(cookie); o != nil {
		out.Known, out.PID, out.Comm, out.Cgroup = true, o.tgid, o.comm, o.cgroup
	}
	if l, ok := k.s.locals.m[cookie]; ok {
		out.Local, out.HasLocal = l.addr, true
		if out.Cgroup == 0 {
			out.Cgroup = l.cgroup
		}
	}
	if out.Cgroup != 0 {
		out.CgroupPath = k.s.cgroups.Name(out.Cgroup)
	}
	return out
}

// Peer finds the other local socket of a connection: the one whose local
// address is remote and whose peer is local. ok is false when that end
// is not on this node (or not seen yet).
func (k *Sockets) Peer(local, remote netip.AddrPort) (cookie uint64, ok bool) {
	cookie, ok = k.s.locals.byTuple[tuple{local: remote, remote: local}]
	return cookie, ok
}

// locals maps socket cookies to their local address and cgroup, as their
// packets show them (the source at egress, the destination at ingress),
// and connections' tuples, as each socket sees them, to the socket.
type locals struct {
	m       map[uint64]local
	byTuple map[tuple]uint64
	reset   uint64 // times the maps were emptied to stay bounded
}

type local struct {
	addr   netip.AddrPort
	remote netip.AddrPort
	cgroup uint64
}

type tuple struct{ local, remote netip.AddrPort }

// maxLocals bounds the directory; sockets leave it when they close.
const maxLocals = 1 << 16

func (l *locals) closed(cookie uint64) {
	if old, ok := l.m[cookie]; ok {
		delete(l.byTuple, tuple{old.addr, old.remote})
		delete(l.m, cookie)
	}
}

func (l *locals) learn(e *bpf.Event, t *tcpInfo) {
	if l.m == nil {
		l.m, l.byTuple = map[uint64]local{}, map[tuple]uint64{}
	}
	a, r := t.src, t.dst
	if e.Dir == bpf.Ingress {
		a, r = t.dst, t.src
	}
	if cur, ok := l.m[e.Cookie]; ok && cur.addr == a && cur.remote == r {
		return
	}
	if len(l.m) >= maxLocals {
		// Far more sockets than a node holds at once: start over rather
		// than grow; the next packet of each live socket fills it again.
		clear(l.m)
		clear(l.byTuple)
		l.reset++
	}
	if old, ok := l.m[e.Cookie]; ok {
		delete(l.byTuple, tuple{old.addr, old.remote})
	}
	l.m[e.Cookie] = local{addr: a, remote: r, cgroup: e.Cgroup}
	l.byTuple[tuple{a, r}] = e.Cookie
}

// progress is the summary so far, with the kernel's counters.
func (s *session) progress() *Summary {
	sum := s.summary()
	if k, err := s.probe.Counters(); err == nil {
		sum.Kernel = k
		sum.BothEnds += k.Twins
	}
	return sum
}
