package bpf

import (
	"bytes"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"
)

// segID names a segment the way each of its observations shows it.
type segID struct {
	seq, ack uint32
	flags    byte
	len      int
}

func segOf(t *testing.T, e *Event) (segID, int) {
	t.Helper()
	ip := e.Data
	if len(ip) < 40 || ip[0]>>4 != 4 {
		t.Fatalf("not an IPv4 TCP packet: % x", ip)
	}
	off := int(ip[0]&0xf) * 4
	th := ip[off:]
	return segID{binary.BigEndian.Uint32(th[4:]), binary.BigEndian.Uint32(th[8:]), th[13], e.Len}, off + int(th[12]>>4)*4
}

// TestProbeStampsWire attaches the tcx programs to loopback and expects
// every segment the sockets sent and received there, stamped where it
// crossed lo in between: headers only, no socket, in the order socket
// egress, lo egress, lo ingress, socket ingress.
func TestProbeStampsWire(t *testing.T) {
	requireRoot(t)
	port, dial := sinkListener(t)
	p, err := Open(Options{Ports: []uint16{port}, Payload: PayloadAll, Wire: []string{"lo", "lo"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if w := p.Wire(); len(w) != 1 || w[0].Index != lo.Index || w[0].Name != "lo" {
		t.Fatalf("Wire() = %v, want lo once", w)
	}
	c := dial()
	if _, err := c.Write(bytes.Repeat([]byte("wire-"), 300)); err != nil {
		t.Fatal(err)
	}
	c.Close()

	// The four times of each segment: socket egress, lo egress, lo
	// ingress, socket ingress.
	times := map[segID]*[4]time.Time{}
	at := func(id segID, i int, ts time.Time) {
		if times[id] == nil {
			times[id] = &[4]time.Time{}
		}
		if !times[id][i].IsZero() {
			t.Errorf("segment %+v seen twice at point %d", id, i)
		}
		times[id][i] = ts
	}
	closed, wire := 0, 0
	deadline := time.After(10 * time.Second)
	for closed < 2 {
		select {
		case b := <-p.Events():
			for i := range b.Events {
				e := &b.Events[i]
				switch e.Kind {
				case KindPacket:
					id, _ := segOf(t, e)
					at(id, 3-3*int(e.Dir), e.TS) // egress 0, ingress 3
				case KindWire:
					wire++
					id, hl := segOf(t, e)
					if len(e.Data) != hl || e.Cookie != 0 || e.Cgroup != 0 || e.Ifindex != uint32(lo.Index) {
						t.Errorf("wire event: %d bytes (headers %d), cookie %d, cgroup %d, ifindex %d", len(e.Data), hl, e.Cookie, e.Cgroup, e.Ifindex)
					}
					at(id, 2-int(e.Dir), e.TS) // egress 1, ingress 2
				case KindSock:
					if e.Op == SockClosed {
						closed++
					}
				}
			}
			b.Release()
		case <-deadline:
			t.Fatalf("timed out: %d segments, %d closes", len(times), closed)
		}
	}
	if len(times) < 6 { // handshake, data, FIN and their ACKs at the least
		t.Fatalf("only %d segments seen", len(times))
	}
	for id, ts := range times {
		for i := range 4 {
			if ts[i].IsZero() {
				t.Fatalf("segment %+v not seen at point %d: %v", id, i, ts)
			}
			if i > 0 && ts[i].Before(ts[i-1]) {
				t.Errorf("segment %+v: point %d (%v) before point %d (%v)", id, i, ts[i], i-1, ts[i-1])
			}
		}
	}
	k, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if k.Wire < uint64(wire) || k.Lost != 0 {
		t.Fatalf("counters: wire %d (read %d), lost %d", k.Wire, wire, k.Lost)
	}
	t.Logf("%d segments, each at both sockets and both directions of lo", len(times))
}

// TestProbeWireUnknownInterface fails with a one-line error that says
// where to look.
func TestProbeWireUnknownInterface(t *testing.T) {
	requireRoot(t)
	_, err := Open(Options{Wire: []string{"nosuch0"}})
	if err == nil || !strings.Contains(err.Error(), `"nosuch0": not in this network namespace (ip -br link`) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v", err)
	}
}
