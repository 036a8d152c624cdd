package capture

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/hoptap/hoptap/bpf"
)

// point is where a segment was observed: a socket (ifindex 0) or an
// interface of --wire, in a direction.
type point struct {
	ifindex uint32
	dir     bpf.Dir
}

func (p point) socket() bool { return p.ifindex == 0 }

// A segment's path through the node starts at a socket's egress and
// ends at a socket's ingress.
func (p point) startsPath() bool { return p.socket() && p.dir == bpf.Egress }
func (p point) endsPath() bool   { return p.socket() && p.dir == bpf.Ingress }

// segKey names one segment at every point of its path through the node.
// Addresses and ports are left out on purpose: NAT between a socket and
// an interface rewrites them, and sequence and acknowledgment numbers
// with length and flags tell segments apart just as well.
type segKey struct {
	seq, ack, len uint32
	flags         uint8
}

type hopSlot struct {
	k     segKey
	used  bool
	at    point
	frame uint64
	ts    int64
}

// hopRef is the observation of a segment right before this one.
type hopRef struct {
	ok    bool
	at    point
	frame uint64
	after time.Duration
}

type hopKey struct{ from, to point }

type hopStat struct {
	n       uint64
	samples []time.Duration // a uniform reservoir of at most maxHopSamples
	max     time.Duration
}

// Bounds: the segments remembered (a segment's observations follow each
// other closely in the ring buffer: they happen on one CPU, in one pass
// through the stack), the hops told apart, the samples kept of each.
const (
	hopSlots      = 1 << 13
	maxHops       = 64
	maxHopSamples = 1 << 14
	// A segment held longer than this between two points is not one
	// pass through the node: the same bytes sent again.
	maxHopAge = time.Second
)

// hops follows each segment through the points that saw it: a local
// sender's socket egress, the chosen interfaces, a local receiver's
// socket ingress. Each observation is paired with the one before it, and
// the time between them is a hop of that pair of points.
type hops struct {
	slots      []hopSlot
	stats      map[hopKey]*hopStat
	other      uint64 // hops past maxHops pairs of points, not told apart
	disordered uint64 // pairs read out of time order: neither hop is known
	rng        *rand.Rand
}

func newHops() *hops {
	return &hops{slots: make([]hopSlot, hopSlots), stats: map[hopKey]*hopStat{}, rng: rand.New(rand.NewPCG(1, 2))}
}

func (k segKey) slot() uint32 {
	h := k.seq*0x9e3779b1 ^ k.ack*0x85ebca6b ^ k.len ^ uint32(k.flags)<<24
	return (h ^ h>>15) & (hopSlots - 1)
}

// observe records that the segment of t (len bytes from its IP header)
// was at p, and returns the observation before it, if that was this
// segment's previous point on one path. A socket egress starts a path,
// a socket ingress ends one.
func (h *hops) observe(t *tcpInfo, length int, p point, frame uint64, ts time.Time) hopRef {
	k := segKey{seq: t.seq, ack: t.ack, len: uint32(length), flags: t.flags}
	s := &h.slots[k.slot()]
	now := ts.UnixNano()
	var ref hopRef
	if s.used && s.k == k && !p.startsPath() && !s.at.endsPath() {
		d := time.Duration(now - s.ts)
		switch {
		case d < 0:
			// Read out of order (two CPUs wrote the ring): which came
			// first is not known here. Keep the later.
			h.disordered++
			return ref
		case d <= maxHopAge:
			ref = hopRef{ok: true, at: s.at, frame: s.frame, after: d}
			h.add(hopKey{s.at, p}, d)
		}
	}
	*s = hopSlot{k: k, used: true, at: p, frame: frame, ts: now}
	return ref
}

func (h *hops) add(k hopKey, d time.Duration) {
	st := h.stats[k]
	if st == nil {
		if len(h.stats) >= maxHops {
			h.other++
			return
		}
		st = &hopStat{}
		h.stats[k] = st
	}
	st.n++
	st.max = max(st.max, d)
	if len(st.samples) < maxHopSamples {
		st.samples = append(st.samples, d)
	} else if i := h.rng.Uint64N(st.n); i < maxHopSamples {
		st.samples[i] = d
	}
}

// Hop is the time segments took from one point of the node to the next.
type Hop struct {
	From, To      string // "socket egress", "lo egress", ...
	Segments      uint64
	P50, P99, Max time.Duration
	rank          int
}

// rank orders points along a path: a socket's egress, an interface, a
// socket's ingress.
func rank(p point) int {
	switch {
	case p.startsPath():
		return 0
	case p.endsPath():
		return 2
	}
	return 1
}

// summary lists the hops in path order, then busiest first; ifcs name
// the interfaces.
func (h *hops) summary(ifcs []bpf.WireInterface) []Hop {
	var out []Hop
	for k, st := range h.stats {
		s := slices.Clone(st.samples)
		out = append(out, Hop{
			From: pointName(k.from, ifcs), To: pointName(k.to, ifcs),
			Segments: st.n, P50: pct(s, 0.5), P99: pct(s, 0.99), Max: st.max,
			rank: rank(k.from)*3 + rank(k.to),
		})
	}
	// Along a path: from sockets' egress, through the interfaces, to
	// sockets' ingress; then the busiest first.
	slices.SortFunc(out, func(a, b Hop) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(b.Segments, a.Segments), cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	return out
}

func pointName(p point, ifcs []bpf.WireInterface) string {
	if p.socket() {
		return "socket " + p.dir.String()
	}
	return ifName(ifcs, p.ifindex) + " " + p.dir.String()
}

// ifName is an interface's name from the probe's list, or its index.
func ifName(ifcs []bpf.WireInterface, i uint32) string {
	for _, w := range ifcs {
		if uint32(w.Index) == i {
			return w.Name
		}
	}
	return fmt.Sprintf("if%d", i)
}

// recents is the connections seen lately, so that the wire stamps of
// only those the filters kept are kept. Bounded: a full set takes no
// more until housekeeping forgets the quiet ones.
type recents struct {
	m map[connKey]time.Time
}

const maxRecents = 1 << 16

func newRecents() *recents { return &recents{m: map[connKey]time.Time{}} }

func (r *recents) add(k connKey, ts time.Time) {
	if _, ok := r.m[k]; ok || len(r.m) < maxRecents {
		r.m[k] = ts
	}
}

func (r *recents) has(k connKey) bool { _, ok := r.m[k]; return ok }

func (r *recents) expire(now time.Time) {
	for k, ts := range r.m {
		if now.Sub(ts) > obsMaxAge {
			delete(r.m, k)
		}
	}
}
