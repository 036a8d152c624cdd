package capture

import (
	"net/netip"
	"time"

	"github.com/hoptap/hoptap/bpf"
)

// pidFilter keeps the connections that have a socket of the chosen
// processes. A socket's process is known only once it makes a syscall
// (connect, getsockname, ...); an accepted socket's first packets arrive
// before that, so packets of undecided connections are held, within
// bounds, until the owner is known.
type pidFilter struct {
	want       map[uint32]bool
	conns      map[connKey]*pidConn
	byCookie   map[uint64]connKey // sockets of undecided connections
	held       int                // bytes held in all
	dropped    uint64             // observations of other connections
	heldTotal  uint64             // observations that waited for their owner
	boundDrops uint64             // held observations given up at the limits
}

type connKey struct{ a, b netip.AddrPort }

func mkConnKey(x, y netip.AddrPort) connKey {
	if x.Compare(y) > 0 {
		x, y = y, x
	}
	return connKey{x, y}
}

type pidState uint8

const (
	pidPending pidState = iota
	pidSelected
	pidRejected
)

type pidConn struct {
	state    pidState
	held     []heldPacket
	bytes    int
	first    time.Time
	last     time.Time
	closedAt time.Time
}

type heldPacket struct {
	ev bpf.Event
	t  tcpInfo
}

// Hold limits: per connection, in all, and how long a connection may stay
// undecided.
const (
	holdPerConn    = 256
	holdConnBytes  = 4 << 20
	holdTotalBytes = 64 << 20
	holdMaxAge     = 5 * time.Second
	maxPIDConns    = 1 << 18
)

type admitResult uint8

const (
	admitNow admitResult = iota
	admitHold
	admitDrop
)

func newPIDFilter(pids []uint32) *pidFilter {
	f := &pidFilter{want: map[uint32]bool{}, conns: map[connKey]*pidConn{}, byCookie: map[uint64]connKey{}}
	for _, p := range pids {
		f.want[p] = true
	}
	return f
}

func (f *pidFilter) admit(e *bpf.Event, t *tcpInfo, ow *owners) admitResult {
	if !t.ok {
		f.dropped++
		return admitDrop
	}
	k := mkConnKey(t.src, t.dst)
	c := f.conns[k]
	if c == nil {
		if len(f.conns) >= maxPIDConns {
			f.prune(e.TS, true)
		}
		c = &pidConn{first: e.TS}
		f.conns[k] = c
	}
	c.last = e.TS
	switch c.state {
	case pidSelected:
		return admitNow
	case pidRejected:
		f.dropped++
		return admitDrop
	}
	if o := ow.get(e.Cookie); o != nil && f.want[o.tgid] {
		// Held packets go first; the caller handles this one after.
		c.state = pidSelected
		return admitNow
	}
	if len(c.held) >= holdPerConn || c.bytes+len(e.Data) > holdConnBytes || f.held+len(e.Data) > holdTotalBytes {
		f.boundDrops += uint64(len(c.held)) + 1
		f.dropped++
		f.reject(c)
		return admitDrop
	}
	h := heldPacket{ev: *e, t: *t}
	h.ev.Data = append([]byte(nil), e.Data...)
	c.held = append(c.held, h)
	c.bytes += len(e.Data)
	f.held += len(e.Data)
	f.heldTotal++
	f.byCookie[e.Cookie] = k
	return admitHold
}

// release returns a selected connection's held packets.
func (f *pidFilter) release(c *pidConn) []heldPacket {
	h := c.held
	c.held, f.held, c.bytes = nil, f.held-c.bytes, 0
	return h
}

// owned is told of a socket's process; when it is a wanted one, the
// packets its connection held are returned, in order.
func (f *pidFilter) owned(e *bpf.Event) []heldPacket {
	k, ok := f.byCookie[e.Cookie]
	if !ok {
		return nil
	}
	delete(f.byCookie, e.Cookie)
	c := f.conns[k]
	if c == nil || c.state != pidPending || !f.want[e.TGID] {
		return nil
	}
	c.state = pidSelected
	return f.release(c)
}

// pending returns, for a connection just selected by admit, the packets
// held before it.
func (f *pidFilter) pending(t *tcpInfo) []heldPacket {
	c := f.conns[mkConnKey(t.src, t.dst)]
	if c == nil || len(c.held) == 0 {
		return nil
	}
	return f.release(c)
}

func (f *pidFilter) reject(c *pidConn) {
	f.dropped += uint64(len(c.held))
	f.held -= c.bytes
	c.held, c.bytes, c.state = nil, 0, pidRejected
}

func (f *pidFilter) closed(a, b netip.AddrPort, ts time.Time) {
	if c := f.conns[mkConnKey(a, b)]; c != nil {
		c.closedAt = ts
	}
}

func (f *pidFilter) expire(now time.Time) { f.prune(now, false) }

// prune gives up on connections undecided for too long and forgets closed
// or idle ones; when full, it forgets rejected ones first.
func (f *pidFilter) prune(now time.Time, full bool) {
	for k, c := range f.conns {
		switch {
		case c.state == pidPending && now.Sub(c.first) > holdMaxAge:
			f.boundDrops += uint64(len(c.held))
			f.reject(c)
		case !c.closedAt.IsZero() && now.Sub(c.closedAt) > 10*time.Second,
			now.Sub(c.last) > 10*time.Minute,
			full && c.state == pidRejected:
			if c.state == pidPending {
				f.reject(c)
			}
			delete(f.conns, k)
		}
	}
	for ck, k := range f.byCookie {
		if c := f.conns[k]; c == nil || c.state != pidPending {
			delete(f.byCookie, ck)
		}
	}
}
