package capture

import "time"

// obsKey identifies one TCP segment across capture points. Plain bytes
// and integers hash faster than netip values.
type obsKey struct {
	src, dst     [16]byte
	sport, dport uint16
	seq, ack     uint32
	paylen       uint32
	flags        uint8
}

type observation struct {
	frame uint64 // pcapng frame number (1-based)
	ts    time.Time
	slot  uint32
}

// observations remembers recent egress observations so that the same
// segment arriving at a local receiver's ingress is recognised. Bounded:
// the oldest are forgotten first.
type observations struct {
	m    map[obsKey]observation
	ring []obsKey
	next uint32
	used []bool
}

const obsSlots = 1 << 16

// An egress observation that no ingress matched within this time went to
// a remote peer.
const obsMaxAge = 5 * time.Second

func newObservations() *observations {
	return &observations{m: make(map[obsKey]observation, 1024), ring: make([]obsKey, obsSlots), used: make([]bool, obsSlots)}
}

func key(t *tcpInfo) obsKey {
	return obsKey{
		src: t.src.Addr().As16(), dst: t.dst.Addr().As16(),
		sport: t.src.Port(), dport: t.dst.Port(),
		seq: t.seq, ack: t.ack, flags: t.flags, paylen: t.paylen,
	}
}

func (o *observations) add(t *tcpInfo, frame uint64, ts time.Time) {
	slot := o.next
	o.next = (o.next + 1) % obsSlots
	if o.used[slot] {
		old := o.ring[slot]
		if ob, ok := o.m[old]; ok && ob.slot == slot {
			delete(o.m, old)
		}
	}
	k := key(t)
	o.ring[slot], o.used[slot] = k, true
	o.m[k] = observation{frame: frame, ts: ts, slot: slot}
}

// match returns the egress observation of the same segment, once.
func (o *observations) match(t *tcpInfo) (observation, bool) {
	k := key(t)
	ob, ok := o.m[k]
	if ok {
		delete(o.m, k)
	}
	return ob, ok
}

func (o *observations) expire(now time.Time) {
	for k, ob := range o.m {
		if now.Sub(ob.ts) > obsMaxAge {
			delete(o.m, k)
		}
	}
}
