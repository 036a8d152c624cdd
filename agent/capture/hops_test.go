package capture

import (
	"testing"
	"time"

	"github.com/hoptap/hoptap/bpf"
)

func TestHopsFollowOnePath(t *testing.T) {
	h := newHops()
	seg := &tcpInfo{seq: 100, ack: 7, flags: 0x18}
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Microsecond) }
	sockOut, sockIn := point{dir: bpf.Egress}, point{dir: bpf.Ingress}
	vethIn, vethOut := point{ifindex: 5, dir: bpf.Ingress}, point{ifindex: 6, dir: bpf.Egress}

	if r := h.observe(seg, 1500, sockOut, 1, at(0)); r.ok {
		t.Fatalf("a socket's egress starts a path, got %+v", r)
	}
	if r := h.observe(seg, 1500, vethIn, 2, at(3)); !r.ok || r.at != sockOut || r.frame != 1 || r.after != 3*time.Microsecond {
		t.Fatalf("veth ingress: %+v", r)
	}
	// Another segment (length differs) in between changes nothing.
	other := &tcpInfo{seq: 100, ack: 7, flags: 0x18}
	if r := h.observe(other, 52, vethIn, 3, at(4)); r.ok {
		t.Fatalf("a different segment matched: %+v", r)
	}
	if r := h.observe(seg, 1500, vethOut, 4, at(5)); !r.ok || r.at != vethIn || r.frame != 2 || r.after != 2*time.Microsecond {
		t.Fatalf("veth egress: %+v", r)
	}
	if r := h.observe(seg, 1500, sockIn, 5, at(9)); !r.ok || r.at != vethOut || r.after != 4*time.Microsecond {
		t.Fatalf("socket ingress: %+v", r)
	}
	// A path ends at a socket's ingress: the same bytes again (a
	// retransmission) start anew, at a wire point or at a socket.
	if r := h.observe(seg, 1500, vethIn, 6, at(200)); r.ok {
		t.Fatalf("after a socket's ingress: %+v", r)
	}
	if r := h.observe(seg, 1500, sockOut, 7, at(201)); r.ok {
		t.Fatalf("a socket's egress after a wire point: %+v", r)
	}
	// Too long between two points: not one pass through the node.
	if r := h.observe(seg, 1500, vethIn, 8, at(201).Add(maxHopAge+time.Nanosecond)); r.ok {
		t.Fatalf("older than maxHopAge: %+v", r)
	}
	// Out of time order (two CPUs): unknown, counted, and the later kept.
	if r := h.observe(seg, 1500, vethOut, 9, at(100)); r.ok || h.disordered != 1 {
		t.Fatalf("out of order: %+v, disordered %d", r, h.disordered)
	}

	got := h.summary([]bpf.WireInterface{{Name: "veth-a", Index: 5}, {Name: "veth-b", Index: 6}})
	want := []Hop{
		{From: "socket egress", To: "veth-a ingress", Segments: 1, P50: 3 * time.Microsecond, P99: 3 * time.Microsecond, Max: 3 * time.Microsecond},
		{From: "veth-a ingress", To: "veth-b egress", Segments: 1, P50: 2 * time.Microsecond, P99: 2 * time.Microsecond, Max: 2 * time.Microsecond},
		{From: "veth-b egress", To: "socket ingress", Segments: 1, P50: 4 * time.Microsecond, P99: 4 * time.Microsecond, Max: 4 * time.Microsecond},
	}
	if len(got) != len(want) {
		t.Fatalf("summary %+v", got)
	}
	for i := range want {
		got[i].rank = 0
		if got[i] != want[i] {
			t.Errorf("hop %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestHopsBounded: the pairs of points told apart and the samples kept
// of each stay within their bounds, and the percentiles still come from
// all of a hop's segments (a uniform reservoir).
func TestHopsBounded(t *testing.T) {
	h := newHops()
	t0 := time.Unix(1000, 0)
	for i := range maxHops + 10 {
		seg := &tcpInfo{seq: uint32(i)}
		h.observe(seg, 40, point{dir: bpf.Egress}, 1, t0)
		h.observe(seg, 40, point{ifindex: uint32(i + 1)}, 2, t0.Add(time.Microsecond))
	}
	if len(h.stats) != maxHops || h.other != 10 {
		t.Fatalf("%d pairs kept, %d past the bound", len(h.stats), h.other)
	}
	h = newHops()
	const n = 4 * maxHopSamples
	for i := range n {
		seg := &tcpInfo{seq: uint32(i)}
		h.observe(seg, 40, point{dir: bpf.Egress}, 1, t0)
		// Hop times 1..n ns: the true median is n/2.
		h.observe(seg, 40, point{ifindex: 1}, 2, t0.Add(time.Duration(i+1)))
	}
	hop := h.summary(nil)[0]
	st := h.stats[hopKey{point{dir: bpf.Egress}, point{ifindex: 1}}]
	if len(st.samples) != maxHopSamples || hop.Segments != n || hop.Max != n {
		t.Fatalf("%d samples, %+v", len(st.samples), hop)
	}
	if d := float64(hop.P50)/(n/2) - 1; d > 0.05 || d < -0.05 {
		t.Errorf("p50 %s from the reservoir, want about %d ns", hop.P50, n/2)
	}
}
