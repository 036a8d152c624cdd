package capture

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"

	"github.com/hoptap/hoptap/bpf"
)

// Socket is what the capture knows of one end of connections: a local
// address in a cgroup, and the process last seen using a socket there.
// Unknown parts are zero and say so through their Has/Known flags: they
// are never guessed.
type Socket struct {
	Known      bool // the owning process was seen (a hook or the start-up scan)
	PID        uint32
	Comm       string
	Cgroup     uint64 // cgroup v2 id; 0 when unknown
	CgroupPath string // under the cgroup root; "" when unknown
	Local      netip.AddrPort
	HasLocal   bool   // Local was seen in a packet
	Cookie     uint64 // the socket last seen at this end
}

// Sockets is the capture's directory of the node's connection ends, by
// observer (Conn.Observer of Config.Views).
type Sockets struct{ s *session }

// Get looks an observer up.
func (k *Sockets) Get(observer uint64) Socket {
	var out Socket
	l, ok := k.s.locals.m[observer]
	if !ok {
		return out
	}
	out.Local, out.HasLocal, out.Cgroup, out.Cookie = l.addr, true, l.cgroup, l.cookie
	o := k.s.owners.get(l.cookie)
	if o == nil && l.owned != 0 {
		// The last socket seen here has no owner known (a listener's
		// handshake, a socket not used by its process yet): the end's
		// process is the one last seen on a socket here.
		o = k.s.owners.get(l.owned)
	}
	if o != nil {
		out.Known, out.PID, out.Comm = true, o.tgid, o.comm
		if o.cgroup != 0 {
			out.Cgroup = o.cgroup
		}
	}
	if out.Cgroup != 0 {
		out.CgroupPath = k.s.cgroups.Name(out.Cgroup)
	}
	return out
}

// End finds the end here of a connection as it sees itself: local is
// its address, remote its peer's. ok is false when no packet of that
// connection was seen.
func (k *Sockets) End(local, remote netip.AddrPort) (observer uint64, ok bool) {
	observer, ok = k.s.locals.byTuple[tupleOf(local, remote)]
	return observer, ok
}

// Peer finds the other end of a connection on this node: the observer
// whose local address is remote and whose peer is local. When a
// Service's cluster IP was translated (DNAT) between the two, the client
// sees the cluster IP as remote and the server sees the client's own
// address: the other end is then the only end here whose remote is
// local, or whose local address is remote. ok is false when that end is
// not on this node (or not seen yet), or when more than one end fits.
func (k *Sockets) Peer(local, remote netip.AddrPort) (observer uint64, ok bool) {
	l := &k.s.locals
	if observer, ok = l.byTuple[tupleOf(remote, local)]; ok {
		return observer, ok
	}
	self := l.byTuple[tupleOf(local, remote)]
	if o, found := l.byRemote[endOf(local)]; found && o != ambiguous && o != self {
		return o, true
	}
	if o, found := l.byLocal[endOf(remote)]; found && o != ambiguous && o != self {
		return o, true
	}
	return 0, false
}

// locals knows the node's connection ends. An end is a local address in
// a cgroup, not a socket: a connection's first packets are seen at the
// listening socket (the SYN, the handshake's last ACK) and the rest at
// the accepted one, and both must be one view of that end. The local
// address is the source at egress and the destination at ingress.
type locals struct {
	// Recent answers, by socket and direction: packets of a few sockets
	// take turns (a call's request leaves one socket and enters
	// another, its response goes back).
	recent  [recentObs]lastObs
	seed    maphash.Seed
	m       map[uint64]local // by observer
	byTuple map[tuple]uint64 // a connection as one end sees it → that end
	// For ends whose peer's view was translated (Peer): a remote address
	// → the end it is connected to, a local address → its end; ambiguous
	// when more than one.
	byRemote, byLocal map[endKey]uint64
	reset             uint64 // times the maps were emptied to stay bounded
	// learned counts connections learned: an end not found before may be
	// found only after it changes.
	learned uint64
	owners  *owners // the capture's, to keep each end's last owned socket
}

// ambiguous marks an address that more than one end has.
const ambiguous = 0

type local struct {
	addr   netip.AddrPort
	cgroup uint64
	cookie uint64
	owned  uint64 // the last socket seen here whose owner was known then
}

// endKey is an address and port as map keys want them: 18 bytes with no
// pointer, where a netip.AddrPort is 32 with one. The directory holds
// several per connection.
type endKey struct {
	addr [16]byte
	port uint16
}

func endOf(a netip.AddrPort) endKey { return endKey{a.Addr().As16(), a.Port()} }

type tuple struct{ local, remote endKey }

func tupleOf(local, remote netip.AddrPort) tuple { return tuple{endOf(local), endOf(remote)} }

type lastObs struct {
	cookie, cgroup uint64
	src, dst       netip.AddrPort
	dir            bpf.Dir
	obs            uint64
}

// recentObs is how many recent answers observe keeps.
const recentObs = 64

// maxLocals bounds the directory.
const maxLocals = 1 << 16

// observe returns the observer of a packet: the end it was seen at.
func (l *locals) observe(e *bpf.Event, t *tcpInfo) uint64 {
	if l.m == nil {
		l.seed = maphash.MakeSeed()
		l.m, l.byTuple = map[uint64]local{}, map[tuple]uint64{}
		l.byRemote, l.byLocal = map[endKey]uint64{}, map[endKey]uint64{}
	}
	slot := &l.recent[(e.Cookie<<1|uint64(e.Dir&1))%recentObs]
	if slot.obs != 0 && slot.cookie == e.Cookie && slot.cgroup == e.Cgroup && slot.dir == e.Dir &&
		slot.src == t.src && slot.dst == t.dst {
		return slot.obs
	}
	a, r := t.src, t.dst
	if e.Dir == bpf.Ingress {
		a, r = t.dst, t.src
	}
	var key [8 + 16 + 2]byte
	binary.LittleEndian.PutUint64(key[:], e.Cgroup)
	ip := a.Addr().As16()
	copy(key[8:], ip[:])
	binary.LittleEndian.PutUint16(key[24:], a.Port())
	obs := maphash.Bytes(l.seed, key[:]) | 1 // never 0, the file observer
	*slot = lastObs{cookie: e.Cookie, cgroup: e.Cgroup, src: t.src, dst: t.dst, dir: e.Dir, obs: obs}
	cur, ok := l.m[obs]
	if ok {
		// A server's end is its listening address: the sockets it
		// accepted take turns, and only the last one seen is kept.
		if l.seen(&cur, e.Cookie) {
			l.m[obs] = cur
		}
		if _, known := l.byTuple[tupleOf(a, r)]; !known {
			l.learn(a, r, obs)
		}
		return obs
	}
	if len(l.m) >= maxLocals || len(l.byTuple) >= maxLocals {
		// Far more ends than a node holds at once: start over rather than
		// grow; the next packet of each live connection fills it again.
		clear(l.m)
		clear(l.byTuple)
		clear(l.byRemote)
		clear(l.byLocal)
		clear(l.recent[:])
		l.reset++
	}
	cur = local{addr: a, cgroup: e.Cgroup}
	l.seen(&cur, e.Cookie)
	l.m[obs] = cur
	l.learn(a, r, obs)
	return obs
}

// seen notes that socket cookie was seen at end cur, and keeps as the
// end's owned socket the last one whose owner is known: this one, or the
// one it follows (whose owner may have shown itself only after its
// packets). It says whether cur changed.
func (l *locals) seen(cur *local, cookie uint64) bool {
	changed := cur.cookie != cookie
	if changed && cur.cookie != 0 && cur.owned != cur.cookie && l.known(cur.cookie) {
		cur.owned = cur.cookie
	}
	cur.cookie = cookie
	if cur.owned != cookie && l.known(cookie) {
		cur.owned, changed = cookie, true
	}
	return changed
}

func (l *locals) known(cookie uint64) bool { return l.owners != nil && l.owners.get(cookie) != nil }

// learn records a connection of end obs, from local a to remote r.
func (l *locals) learn(a, r netip.AddrPort, obs uint64) {
	l.learned++
	l.byTuple[tupleOf(a, r)] = obs
	for _, x := range [...]struct {
		m    map[endKey]uint64
		addr endKey
	}{{l.byRemote, endOf(r)}, {l.byLocal, endOf(a)}} {
		if cur, ok := x.m[x.addr]; !ok {
			x.m[x.addr] = obs
		} else if cur != obs {
			x.m[x.addr] = ambiguous
		}
	}
}

// closed forgets a closed connection's tuple; the end stays, since other
// connections may share it.
func (l *locals) closed(local, remote netip.AddrPort) {
	delete(l.byTuple, tupleOf(local, remote))
	// The addresses may be this connection's alone; later ones learn
	// them again.
	delete(l.byRemote, endOf(remote))
	delete(l.byLocal, endOf(local))
	clear(l.recent[:]) // the tuple must be learned again if reused
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
