package tcp

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/hoptap/hoptap/decoder/packet"
)

func TestInOrder(t *testing.T) {
	x := newConv(t, Config{})
	l0, l1 := len(x.src[0]), len(x.src[1])
	x.handshake()
	x.send(0, 0, 10)
	x.send(0, 10, 20)
	x.ack[1] = 30
	x.send(1, 0, 40)
	x.ack[0] = 40
	x.send(0, 30, l0-30)
	x.ack[1] = l0
	x.send(1, 40, l1-40)
	x.fin(0, l0)
	x.ack[1] = l0 + 1
	x.fin(1, l1)
	x.ack[0] = l1 + 1
	x.pureAck(0, l0+1) // the last ACK reaches a closed connection

	cr := x.r.only()
	checkLog(t, cr, "open", "handshake", "data 0 10", "data 0 20", "data 1 40",
		fmt.Sprintf("data 0 %d", l0-30), fmt.Sprintf("data 1 %d", l1-40), "fin 0", "fin 1", "close fin")
	checkStream(t, cr, AtoB, x.src[0])
	checkStream(t, cr, BtoA, x.src[1])
	c := cr.c
	if c.A != epCli || c.B != epSrv || !c.SawSYN {
		t.Errorf("A=%v B=%v SawSYN=%v, want client %v, server %v, true", c.A, c.B, c.SawSYN, epCli, epSrv)
	}
	if c.Midstream(AtoB) || c.Midstream(BtoA) {
		t.Error("Midstream true on a connection seen from its SYN")
	}
	if c.Bytes(AtoB) != uint64(l0) || c.Bytes(BtoA) != uint64(l1) {
		t.Errorf("Bytes = %d, %d; want %d, %d", c.Bytes(AtoB), c.Bytes(BtoA), l0, l1)
	}
	st := x.a.Stats()
	want := Stats{Segments: 11, Conns: 1}
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	if x.a.Buffered() != 0 {
		t.Errorf("Buffered() = %d after a clean close", x.a.Buffered())
	}
}

// span is src[off:end] of one side.
type span struct{ off, end int }

func TestOutOfOrder(t *testing.T) {
	l := len(payload)
	segs := []span{{0, 10}, {10, 25}, {25, 40}, {40, 60}, {60, l}}
	tests := []struct {
		name  string
		order []int
	}{
		{"in order", []int{0, 1, 2, 3, 4}},
		{"reversed", []int{4, 3, 2, 1, 0}},
		{"swap pair", []int{0, 2, 1, 3, 4}},
		{"first last", []int{1, 2, 3, 4, 0}},
		{"interleaved", []int{3, 1, 4, 0, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newConv(t, Config{})
			x.handshake()
			for _, i := range tt.order {
				x.send(0, segs[i].off, segs[i].end-segs[i].off)
			}
			if x.a.Buffered() != 0 {
				t.Errorf("Buffered() = %d after the holes filled", x.a.Buffered())
			}
			x.a.Flush(x.tick())
			cr := x.r.only()
			checkStream(t, cr, AtoB, x.src[0])
			if cr.why != CloseEnd {
				t.Errorf("close reason %v, want end", cr.why)
			}
			if st := x.a.Stats(); st.Gaps != 0 || st.Retransmitted != 0 {
				t.Errorf("stats %+v: gaps or retransmissions", st)
			}
		})
	}
}

func TestRetransmissions(t *testing.T) {
	l := len(payload)
	tests := []struct {
		name    string
		segs    []span
		retrans uint64
	}{
		{"duplicate", []span{{0, 10}, {0, 10}, {10, l}}, 1},
		{"duplicate of older", []span{{0, 10}, {10, 20}, {0, 10}, {20, l}}, 1},
		{"duplicate of held", []span{{20, 30}, {20, 30}, {0, 20}, {30, l}}, 0},
		{"every segment twice", []span{{0, 30}, {0, 30}, {30, 60}, {30, 60}, {60, l}, {60, l}}, 3},
		{"old after the end", []span{{0, l}, {10, 20}, {0, 1}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newConv(t, Config{})
			x.handshake()
			for _, s := range tt.segs {
				x.send(0, s.off, s.end-s.off)
			}
			x.a.Flush(x.tick())
			checkStream(t, x.r.only(), AtoB, x.src[0])
			if st := x.a.Stats(); st.Retransmitted != tt.retrans || st.Gaps != 0 {
				t.Errorf("Retransmitted=%d Gaps=%d, want %d, 0", st.Retransmitted, st.Gaps, tt.retrans)
			}
		})
	}
}

func TestOverlaps(t *testing.T) {
	l := len(payload)
	tests := []struct {
		name string
		segs []span
	}{
		{"each overlaps the last", []span{{0, 10}, {5, 20}, {15, 30}, {25, l}}},
		{"retransmission covers more", []span{{0, 10}, {0, 30}, {20, l}}},
		{"held segments overlap", []span{{20, 40}, {10, 30}, {0, 15}, {35, l}}},
		{"fill covers held ones", []span{{10, 20}, {30, 40}, {0, 50}, {45, l}}},
		{"one byte steps", []span{{2, 3}, {1, 2}, {0, 1}, {0, 4}, {3, l}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newConv(t, Config{})
			x.handshake()
			for _, s := range tt.segs {
				x.send(0, s.off, s.end-s.off)
			}
			x.a.Flush(x.tick())
			checkStream(t, x.r.only(), AtoB, x.src[0])
			if st := x.a.Stats(); st.Gaps != 0 {
				t.Errorf("%d gaps", st.Gaps)
			}
			if x.a.Buffered() != 0 {
				t.Errorf("Buffered() = %d", x.a.Buffered())
			}
		})
	}
}

func TestHoleFilled(t *testing.T) {
	x := newConv(t, Config{ReorderWindow: 4})
	l := len(payload)
	x.handshake()
	x.send(0, 10, 10)
	x.send(0, 20, 10)
	if x.a.Buffered() != 20 {
		t.Errorf("Buffered() = %d, want 20", x.a.Buffered())
	}
	// The server has not acknowledged past the hole: no reason to give up.
	for range 10 {
		x.pureAck(1, 0)
	}
	x.send(0, 0, 10)
	x.send(0, 30, l-30)
	x.a.Flush(x.tick())
	cr := x.r.only()
	checkLog(t, cr, "open", "handshake", "data 0 10", "data 0 10", "data 0 10", fmt.Sprintf("data 0 %d", l-30), "close end")
	checkStream(t, cr, AtoB, x.src[0])
	if st := x.a.Stats(); st.OutOfOrder != 2 {
		t.Errorf("OutOfOrder = %d, want 2", st.OutOfOrder)
	}
}

// TestHoleLostByAck: bytes the peer acknowledged but the capture lacks
// are declared lost once ReorderWindow later packets have passed, and
// not before.
func TestHoleLostByAck(t *testing.T) {
	l := len(payload)
	for _, w := range []int{1, 3, 16} {
		t.Run(fmt.Sprintf("window %d", w), func(t *testing.T) {
			t.Run("held data after the hole", func(t *testing.T) {
				x := newConv(t, Config{ReorderWindow: w})
				x.handshake()
				x.send(0, 10, 10) // [0,10) is never captured
				x.ack[1] = 20
				x.pureAck(1, 0) // the server has it all
				for range w - 1 {
					x.pureAck(1, 0)
				}
				if len(x.r.only().dirs[0].gaps) != 0 {
					t.Fatalf("gap after %d later packets, window %d", w-1, w)
				}
				x.pureAck(1, 0)
				cr := x.r.only()
				checkLog(t, cr, "open", "handshake", "gap 0 10", "data 0 10")
				x.send(0, 20, l-20)
				x.send(0, 0, 10) // too late: already reported lost
				x.a.Flush(x.tick())
				checkStream(t, cr, AtoB, x.src[0], gapAt{0, 10})
				if st := x.a.Stats(); st.Gaps != 1 || st.GapBytes != 10 || st.BufferDrops != 0 {
					t.Errorf("stats %+v", st)
				}
			})
			t.Run("filled by the last packet of the window", func(t *testing.T) {
				x := newConv(t, Config{ReorderWindow: w})
				x.handshake()
				x.send(0, 10, 10)
				x.ack[1] = 20
				x.pureAck(1, 0)
				for range w - 1 {
					x.pureAck(1, 0)
				}
				x.send(0, 0, 10)
				x.send(0, 20, l-20)
				x.a.Flush(x.tick())
				checkStream(t, x.r.only(), AtoB, x.src[0])
			})
			t.Run("nothing held after the hole", func(t *testing.T) {
				x := newConv(t, Config{ReorderWindow: w})
				x.handshake()
				x.send(0, 0, 10) // [10,30) is never captured
				x.ack[1] = 30
				for range w + 1 {
					x.pureAck(1, 0)
				}
				x.send(0, 30, l-30)
				x.a.Flush(x.tick())
				checkStream(t, x.r.only(), AtoB, x.src[0], gapAt{10, 20})
			})
			t.Run("FIN behind the hole", func(t *testing.T) {
				x := newConv(t, Config{ReorderWindow: w})
				x.handshake()
				x.a.Add(x.seg(0, 10, l-10, packet.FlagFIN))
				x.ack[1] = l + 1 // acknowledges the FIN too
				for range w + 1 {
					x.pureAck(1, 0)
				}
				cr := x.r.only()
				checkLog(t, cr, "open", "handshake", "gap 0 10", fmt.Sprintf("data 0 %d", l-10), "fin 0")
				checkStream(t, cr, AtoB, x.src[0], gapAt{0, 10})
			})
		})
	}
}

func TestFlushHoles(t *testing.T) {
	l := len(payload)
	t.Run("held data", func(t *testing.T) {
		x := newConv(t, Config{})
		x.handshake()
		x.send(0, 0, 10)
		x.send(0, 20, 10)
		x.send(0, 40, l-40)
		x.a.Flush(x.tick())
		cr := x.r.only()
		checkLog(t, cr, "open", "handshake", "data 0 10", "gap 0 10", "data 0 10", "gap 0 10", fmt.Sprintf("data 0 %d", l-40), "close end")
		checkStream(t, cr, AtoB, x.src[0], gapAt{10, 10}, gapAt{30, 10})
		st := x.a.Stats()
		if st.Gaps != 2 || st.GapBytes != 20 {
			t.Errorf("Gaps=%d GapBytes=%d, want 2, 20", st.Gaps, st.GapBytes)
		}
		if st.BufferDrops != 0 {
			t.Errorf("BufferDrops = %d: no buffer limit was hit", st.BufferDrops)
		}
		if x.a.Conns() != 0 || x.a.Buffered() != 0 {
			t.Errorf("Conns()=%d Buffered()=%d after Flush", x.a.Conns(), x.a.Buffered())
		}
	})
	t.Run("acknowledged tail", func(t *testing.T) {
		x := newConv(t, Config{})
		x.handshake()
		x.send(0, 0, 10)
		x.ack[1] = 30
		x.pureAck(1, 0)
		x.a.Flush(x.tick())
		cr := x.r.only()
		checkLog(t, cr, "open", "handshake", "data 0 10", "gap 0 20", "close end")
		checkStream(t, cr, AtoB, x.src[0][:30], gapAt{10, 20})
	})
	t.Run("held FIN", func(t *testing.T) {
		x := newConv(t, Config{})
		x.handshake()
		x.a.Add(x.seg(0, 10, l-10, packet.FlagFIN))
		x.a.Flush(x.tick())
		cr := x.r.only()
		checkLog(t, cr, "open", "handshake", "gap 0 10", fmt.Sprintf("data 0 %d", l-10), "fin 0", "close end")
		checkStream(t, cr, AtoB, x.src[0], gapAt{0, 10})
	})
	t.Run("RST", func(t *testing.T) {
		x := newConv(t, Config{})
		x.handshake()
		x.send(0, 0, 10)
		x.send(0, 20, 10)
		x.a.Add(x.seg(1, 0, 0, packet.FlagRST))
		cr := x.r.only()
		checkLog(t, cr, "open", "handshake", "data 0 10", "gap 0 10", "data 0 10", "reset 1", "close rst")
	})
}

func TestSnapLength(t *testing.T) {
	l := len(payload)
	cut := func(x *conv, off, n, keep int) *packet.Segment {
		s := x.seg(0, off, n, packet.FlagPSH)
		s.Payload = s.Payload[:keep]
		return s
	}
	t.Run("in order", func(t *testing.T) {
		x := newConv(t, Config{})
		x.handshake()
		x.a.Add(cut(x, 0, 10, 6))
		x.send(0, 10, 10)
		x.a.Add(cut(x, 20, 10, 0)) // only headers captured
		x.send(0, 30, l-30)
		x.a.Flush(x.tick())
		cr := x.r.only()
		checkLog(t, cr, "open", "handshake", "data 0 6", "gap 0 4", "data 0 10", "gap 0 10", fmt.Sprintf("data 0 %d", l-30), "close end")
		checkStream(t, cr, AtoB, x.src[0], gapAt{6, 4}, gapAt{20, 10})
		if st := x.a.Stats(); st.Truncated != 2 || st.Gaps != 2 || st.GapBytes != 14 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("out of order", func(t *testing.T) {
		x := newConv(t, Config{})
		x.handshake()
		x.a.Add(cut(x, 10, 10, 5))
		x.send(0, 20, l-20)
		x.send(0, 0, 10)
		x.a.Flush(x.tick())
		checkStream(t, x.r.only(), AtoB, x.src[0], gapAt{15, 5})
	})
	t.Run("retransmission overlaps the cut", func(t *testing.T) {
		x := newConv(t, Config{})
		x.handshake()
		x.a.Add(cut(x, 10, 20, 5))
		x.send(0, 5, 10) // overlaps the captured part only
		x.send(0, 0, 5)
		x.send(0, 30, l-30)
		x.a.Flush(x.tick())
		checkStream(t, x.r.only(), AtoB, x.src[0], gapAt{15, 15})
	})
	t.Run("FIN on a cut segment", func(t *testing.T) {
		x := newConv(t, Config{})
		x.handshake()
		s := x.seg(0, 0, l, packet.FlagFIN)
		s.Payload = s.Payload[:l-7]
		x.a.Add(s)
		cr := x.r.only()
		checkLog(t, cr, "open", "handshake", fmt.Sprintf("data 0 %d", l-7), "gap 0 7", "fin 0")
	})
}

func TestFIN(t *testing.T) {
	l0, l1 := len(payload), len(payload)
	t.Run("FIN with data", func(t *testing.T) {
		x := newConv(t, Config{})
		x.handshake()
		x.send(0, 0, 10)
		x.a.Add(x.seg(0, 10, l0-10, packet.FlagFIN))
		x.send(1, 0, l1)
		x.fin(1, l1)
		cr := x.r.only()
		checkLog(t, cr, "open", "handshake", "data 0 10", fmt.Sprintf("data 0 %d", l0-10), "fin 0",
			fmt.Sprintf("data 1 %d", l1), "fin 1", "close fin")
	})
	t.Run("FIN before the data it follows", func(t *testing.T) {
		x := newConv(t, Config{})
		x.handshake()
		x.fin(0, l0)
		x.send(0, 30, l0-30)
		x.send(0, 0, 30)
		x.fin(0, l0) // retransmitted FIN
		cr := x.r.only()
		checkLog(t, cr, "open", "handshake", "data 0 30", fmt.Sprintf("data 0 %d", l0-30), "fin 0")
		checkStream(t, cr, AtoB, x.src[0])
		x.a.Flush(x.tick())
		if cr.why != CloseEnd {
			t.Errorf("close %v, want end: only one side finished", cr.why)
		}
	})
	t.Run("data after a FIN-ACK exchange is ignored", func(t *testing.T) {
		x := newConv(t, Config{})
		x.handshake()
		x.send(0, 0, l0)
		x.fin(0, l0)
		x.fin(1, 0)
		x.send(0, 0, l0) // late retransmission
		cr := x.r.only()
		checkLog(t, cr, "open", "handshake", fmt.Sprintf("data 0 %d", l0), "fin 0", "fin 1", "close fin")
		if x.a.Conns() != 1 {
			t.Errorf("Conns() = %d: a closed connection is kept for its trailing packets", x.a.Conns())
		}
	})
}

func TestRST(t *testing.T) {
	x := newConv(t, Config{})
	x.handshake()
	x.send(0, 0, 10)
	x.a.Add(x.seg(1, 0, 0, packet.FlagRST))
	x.send(0, 10, 10)                       // after the reset: ignored
	x.a.Add(x.seg(1, 0, 0, packet.FlagRST)) // a second reset too
	cr := x.r.only()
	checkLog(t, cr, "open", "handshake", "data 0 10", "reset 1", "close rst")
	if !cr.dirs[BtoA].rst {
		t.Error("reset not recorded on the server's direction")
	}

	// A reset for a connection never seen tells nothing.
	y := x.other(epCli6, epSrv6)
	y.a.Add(y.seg(1, 0, 0, packet.FlagRST))
	if len(x.r.conns) != 1 || x.a.Conns() != 1 {
		t.Errorf("a lone RST opened a connection")
	}
}

func TestMidstream(t *testing.T) {
	x := newConv(t, Config{})
	l := len(payload)
	// The server speaks first; the client's first segment is a pure ACK.
	x.send(1, 7, 13)
	x.pureAck(0, 3)
	x.send(0, 3, 10)
	x.send(1, 20, l-20)
	x.send(0, 13, l-13)
	x.a.Flush(x.tick())
	cr := x.r.only()
	c := cr.c
	if c.A != epSrv || c.B != epCli {
		t.Errorf("A=%v B=%v: A should be the first sender, %v", c.A, c.B, epSrv)
	}
	if c.SawSYN || !c.Midstream(AtoB) || !c.Midstream(BtoA) {
		t.Errorf("SawSYN=%v Midstream=%v,%v", c.SawSYN, c.Midstream(AtoB), c.Midstream(BtoA))
	}
	checkLog(t, cr, "open", "data 0 13", "data 1 10", fmt.Sprintf("data 0 %d", l-20), fmt.Sprintf("data 1 %d", l-13), "close end")
	checkStream(t, cr, AtoB, x.src[1][7:])
	checkStream(t, cr, BtoA, x.src[0][3:])
	if st := x.a.Stats(); st.Midstream != 1 || st.Conns != 1 {
		t.Errorf("Midstream=%d Conns=%d, want 1, 1", st.Midstream, st.Conns)
	}
	if !c.SYN.IsZero() || !c.SYNACK.IsZero() || !c.ACK.IsZero() {
		t.Error("handshake times set on a connection joined mid-way")
	}
}

func TestSYNACKFirst(t *testing.T) {
	x := newConv(t, Config{})
	l := len(payload)
	x.synAck() // the SYN was not captured
	x.pureAck(0, 0)
	x.send(0, 0, l)
	x.send(1, 0, l)
	x.a.Flush(x.tick())
	cr := x.r.only()
	c := cr.c
	if c.A != epCli || c.B != epSrv || !c.SawSYN {
		t.Errorf("A=%v B=%v SawSYN=%v, want the client %v as A", c.A, c.B, c.SawSYN, epCli)
	}
	if cr.a != epCli {
		t.Errorf("A was %v at Open, want %v", cr.a, epCli)
	}
	checkLog(t, cr, "open", "handshake", fmt.Sprintf("data 0 %d", l), fmt.Sprintf("data 1 %d", l), "close end")
	checkStream(t, cr, AtoB, x.src[0])
	checkStream(t, cr, BtoA, x.src[1])
	if !c.SYN.IsZero() || c.SYNACK != t0.Add(time.Millisecond) || c.ACK != t0.Add(2*time.Millisecond) {
		t.Errorf("SYN=%v SYNACK=%v ACK=%v", c.SYN, c.SYNACK, c.ACK)
	}
	if c.Midstream(BtoA) {
		t.Error("the server's direction began with its SYN-ACK, yet Midstream")
	}
}

func TestSYNRetransmitted(t *testing.T) {
	x := newConv(t, Config{})
	l := len(payload)
	x.syn()
	x.synAck()
	x.syn() // retransmitted SYN
	x.pureAck(0, 0)
	x.send(1, 0, l)
	x.a.Flush(x.tick())
	cr := x.r.only()
	if cr.c.A != epCli {
		t.Errorf("A = %v, want %v", cr.c.A, epCli)
	}
	checkLog(t, cr, "open", "handshake", fmt.Sprintf("data 1 %d", l), "close end")
}

func TestHandshakeTimestamps(t *testing.T) {
	x := newConv(t, Config{})
	x.syn()
	*x.clk = x.clk.Add(20 * time.Microsecond)
	x.synAck()
	*x.clk = x.clk.Add(300 * time.Microsecond)
	x.pureAck(0, 0)
	c := x.r.only().c
	syn := t0.Add(time.Millisecond)
	synack := syn.Add(20*time.Microsecond + time.Millisecond)
	ack := synack.Add(300*time.Microsecond + time.Millisecond)
	if c.SYN != syn || c.SYNACK != synack || c.ACK != ack {
		t.Errorf("SYN=%v SYNACK=%v ACK=%v; want %v %v %v", c.SYN, c.SYNACK, c.ACK, syn, synack, ack)
	}
	if c.First != syn || c.Last != ack {
		t.Errorf("First=%v Last=%v", c.First, c.Last)
	}
	checkLog(t, x.r.only(), "open", "handshake")
}

func TestSequenceWrap(t *testing.T) {
	l := len(payload)
	for _, isn := range []uint32{0xffffffff, 0xfffffff0, 0xffffffff - uint32(l)/2, 0x7ffffff8} {
		t.Run(fmt.Sprintf("isn %#x", isn), func(t *testing.T) {
			x := newConv(t, Config{ReorderWindow: 2})
			x.isn = [2]uint32{isn, isn - 3}
			x.handshake()
			x.send(0, 20, 20)
			x.send(0, 0, 10)
			x.send(0, 5, 10)
			x.send(0, 60, l-60)
			x.send(0, 10, 15)
			// [40,60) was lost: the server acknowledges past it.
			x.ack[1] = l
			x.pureAck(1, 0)
			x.pureAck(1, 0)
			x.pureAck(1, 0)
			x.send(1, 0, l)
			x.fin(0, l)
			x.fin(1, l)
			cr := x.r.only()
			checkStream(t, cr, AtoB, x.src[0], gapAt{40, 20})
			checkStream(t, cr, BtoA, x.src[1])
			if cr.why != CloseFIN || !cr.hs {
				t.Errorf("handshake=%v close=%v", cr.hs, cr.why)
			}
		})
	}
}

func TestMaxConns(t *testing.T) {
	x := newConv(t, Config{MaxConns: 2})
	ep := func(i int) netip.AddrPort { return netip.AddrPortFrom(epCli.Addr(), uint16(41000+i)) }
	c1 := x.other(ep(1), epSrv)
	c2 := x.other(ep(2), epSrv)
	c3 := x.other(ep(3), epSrv)
	c1.handshake()
	c1.send(0, 0, 10)
	c1.send(0, 20, 10) // held behind a hole
	c2.handshake()
	c1.send(1, 0, 5) // c1 is now the most recently active
	c3.handshake()
	if x.a.Conns() != 2 {
		t.Fatalf("Conns() = %d, want 2", x.a.Conns())
	}
	if len(x.r.conns) != 3 {
		t.Fatalf("%d connections opened, want 3", len(x.r.conns))
	}
	r1, r2, r3 := x.r.conns[0], x.r.conns[1], x.r.conns[2]
	if r1.closed || !r2.closed || r2.why != CloseEvicted || r3.closed {
		t.Errorf("closed: c1=%v c2=%v(%v) c3=%v; want only c2, evicted", r1.closed, r2.closed, r2.why, r3.closed)
	}
	if st := x.a.Stats(); st.Evicted != 1 {
		t.Errorf("Evicted = %d", st.Evicted)
	}
	// Evicting c1 flushes its hole.
	c4 := x.other(ep(4), epSrv)
	c3.pureAck(0, 0)
	c4.handshake()
	checkLog(t, r1, "open", "handshake", "data 0 10", "data 1 5", "gap 0 10", "data 0 10", "close evicted")
	if x.a.Buffered() != 0 {
		t.Errorf("Buffered() = %d after eviction", x.a.Buffered())
	}
}

// TestMaxConnsClosed: connections closed by FIN or RST still count
// against MaxConns until they are forgotten.
func TestMaxConnsClosed(t *testing.T) {
	x := newConv(t, Config{MaxConns: 2})
	for i := range 10 {
		c := x.other(netip.AddrPortFrom(epCli.Addr(), uint16(41000+i)), epSrv)
		c.handshake()
		c.send(0, 0, 10)
		c.fin(0, 10)
		c.fin(1, 0)
		if x.a.Conns() > 2 {
			t.Fatalf("after %d connections: Conns() = %d, want at most 2", i+1, x.a.Conns())
		}
	}
	if st := x.a.Stats(); st.Evicted != 0 {
		t.Errorf("Evicted = %d: forgetting a closed connection loses nothing", st.Evicted)
	}
	for _, cr := range x.r.conns {
		if cr.why != CloseFIN {
			t.Errorf("connection %d closed by %v", cr.id, cr.why)
		}
	}
}

func TestConnBufferLimit(t *testing.T) {
	l := len(payload)
	x := newConv(t, Config{MaxConnBuffer: 20})
	x.handshake()
	x.send(0, 10, 10)
	x.send(0, 20, 10)
	if len(x.r.only().dirs[0].gaps) != 0 {
		t.Fatal("gap before the limit was exceeded")
	}
	x.send(0, 35, 10) // 30 bytes held: give up on [0,10)
	cr := x.r.only()
	checkLog(t, cr, "open", "handshake", "gap 0 10", "data 0 10", "data 0 10")
	if x.a.Buffered() != 10 {
		t.Errorf("Buffered() = %d, want 10", x.a.Buffered())
	}
	x.send(0, 45, l-45) // 10+40 held: give up on [30,35)
	checkStream(t, cr, AtoB, x.src[0], gapAt{0, 10}, gapAt{30, 5})
	if st := x.a.Stats(); st.BufferDrops != 2 || st.Gaps != 2 || st.GapBytes != 15 {
		t.Errorf("stats %+v", st)
	}
	if x.a.Buffered() != 0 {
		t.Errorf("Buffered() = %d", x.a.Buffered())
	}
}

func TestTotalBufferLimit(t *testing.T) {
	x := newConv(t, Config{MaxTotalBuffer: 25})
	y := x.other(epCli6, epSrv6)
	x.handshake()
	y.handshake()
	x.send(0, 10, 20)
	y.send(0, 10, 10) // 30 held in all: y gives up on its hole
	checkLog(t, x.r.conns[0], "open", "handshake")
	checkLog(t, x.r.conns[1], "open", "handshake", "gap 0 10", "data 0 10")
	if x.a.Buffered() != 20 {
		t.Errorf("Buffered() = %d, want 20", x.a.Buffered())
	}
}

func TestIdleTimeout(t *testing.T) {
	x := newConv(t, Config{IdleTimeout: time.Minute})
	y := x.other(epCli6, epSrv6)
	x.handshake()
	x.send(0, 0, 10)
	x.send(0, 20, 10)
	*x.clk = x.clk.Add(40 * time.Second)
	y.handshake()
	if x.r.conns[0].closed {
		t.Fatal("closed after 40s, timeout 1m")
	}
	*x.clk = x.clk.Add(30 * time.Second)
	y.send(0, 0, 5)
	cr := x.r.conns[0]
	checkLog(t, cr, "open", "handshake", "data 0 10", "gap 0 10", "data 0 10", "close idle")
	if x.r.conns[1].closed {
		t.Error("the active connection was closed")
	}
	if x.a.Conns() != 1 {
		t.Errorf("Conns() = %d, want 1", x.a.Conns())
	}
	// The forgotten connection speaks again: it is a new one, joined mid-way.
	x.send(0, 30, 10)
	if len(x.r.conns) != 3 || !x.r.conns[2].c.Midstream(AtoB) {
		t.Fatalf("%d connections; want a third, joined mid-way", len(x.r.conns))
	}
	checkStream(t, x.r.conns[2], AtoB, x.src[0][30:40])
}

func TestPortReuse(t *testing.T) {
	l := len(payload)
	end := func(x *conv) {
		x.send(0, 0, l)
		x.fin(0, l)
		x.fin(1, 0)
	}
	t.Run("after FIN", func(t *testing.T) {
		x := newConv(t, Config{})
		x.handshake()
		end(x)
		x.isn = [2]uint32{77777, 99999}
		x.handshake()
		x.send(0, 0, 20)
		if len(x.r.conns) != 2 {
			t.Fatalf("%d connections, want 2", len(x.r.conns))
		}
		r1, r2 := x.r.conns[0], x.r.conns[1]
		checkLog(t, r1, "open", "handshake", fmt.Sprintf("data 0 %d", l), "fin 0", "fin 1", "close fin")
		checkLog(t, r2, "open", "handshake", "data 0 20")
		if r1.id == r2.id || r2.c.A != epCli || !r2.c.SawSYN {
			t.Errorf("second connection: id %d (first %d), A %v", r2.id, r1.id, r2.c.A)
		}
	})
	t.Run("after RST", func(t *testing.T) {
		x := newConv(t, Config{})
		x.handshake()
		x.a.Add(x.seg(0, 0, 0, packet.FlagRST))
		x.isn = [2]uint32{77777, 99999}
		x.handshake()
		x.send(0, 0, 20)
		if len(x.r.conns) != 2 {
			t.Fatalf("%d connections, want 2", len(x.r.conns))
		}
		checkLog(t, x.r.conns[0], "open", "handshake", "reset 0", "close rst")
		checkLog(t, x.r.conns[1], "open", "handshake", "data 0 20")
	})
	t.Run("close not captured", func(t *testing.T) {
		x := newConv(t, Config{})
		x.handshake()
		x.send(0, 0, 20)
		x.isn = [2]uint32{77777, 99999}
		x.handshake()
		x.send(0, 0, 20)
		if len(x.r.conns) != 2 {
			t.Fatalf("%d connections, want 2", len(x.r.conns))
		}
		checkLog(t, x.r.conns[0], "open", "handshake", "data 0 20", "close end")
		checkLog(t, x.r.conns[1], "open", "handshake", "data 0 20")
	})
}

// TestSYNAfterData: a SYN on a connection whose bytes were already
// delivered must not turn the directions around.
func TestSYNAfterData(t *testing.T) {
	x := newConv(t, Config{})
	x.send(0, 0, 10) // joined mid-way: the client is A
	x.a.Add(&packet.Segment{TS: x.tick(), Src: epSrv, Dst: epCli, Seq: 123, Flags: packet.FlagSYN})
	x.send(0, 10, 10)
	x.send(1, 0, 10)
	x.a.Flush(x.tick())
	cr := x.r.only()
	if cr.c.A != epCli {
		t.Errorf("A changed from %v to %v after Open", epCli, cr.c.A)
	}
	checkStream(t, cr, AtoB, x.src[0][:20])
	checkStream(t, cr, BtoA, x.src[1][:10])
}

// TestAckOnlyGap: the only packets of a direction joined mid-way are
// empty ACKs, and the peer acknowledges bytes never captured: the loss is
// reported on an opened connection.
func TestAckOnlyGap(t *testing.T) {
	x := newConv(t, Config{ReorderWindow: 2})
	x.pureAck(0, 0)
	x.ack[1] = 50
	for range 4 {
		x.pureAck(1, 0)
	}
	x.send(0, 50, 10)
	x.a.Flush(x.tick())
	cr := x.r.only()
	checkLog(t, cr, "open", "gap 0 50", "data 0 10", "close end")
}

// TestProperty: any segmentation, reordering and duplication of two
// streams delivers them exactly, with no gap, whatever the ISN.
func TestProperty(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		x := newConv(t, Config{})
		x.isn = [2]uint32{rng.Uint32(), rng.Uint32()}
		if seed%4 == 0 {
			x.isn[0] = -uint32(rng.IntN(3000)) // near the wrap
		}
		for side := range 2 {
			x.src[side] = make([]byte, 1+rng.IntN(6000))
			for i := range x.src[side] {
				x.src[side][i] = byte(rng.Uint32())
			}
		}
		// Cut each stream into segments, duplicate some, overlap some.
		type piece struct {
			side     int
			off, end int
			fin      bool
		}
		var pieces []piece
		for side := range 2 {
			n := len(x.src[side])
			for off := 0; off < n; {
				end := min(n, off+1+rng.IntN(300))
				pieces = append(pieces, piece{side: side, off: off, end: end, fin: end == n && rng.IntN(2) == 0})
				if rng.IntN(5) == 0 { // duplicate
					pieces = append(pieces, pieces[len(pieces)-1])
				}
				if rng.IntN(5) == 0 { // overlapping retransmission
					a := rng.IntN(end)
					pieces = append(pieces, piece{side: side, off: a, end: min(n, end+rng.IntN(100))})
				}
				off = end
			}
			pieces = append(pieces, piece{side: side, off: n, end: n, fin: true})
		}
		// Interleave the two sides, then displace pieces a little.
		sorted := make([]piece, 0, len(pieces))
		var per [2][]piece
		for _, p := range pieces {
			per[p.side] = append(per[p.side], p)
		}
		for len(per[0])+len(per[1]) > 0 {
			s := rng.IntN(2)
			if len(per[s]) == 0 {
				s = 1 - s
			}
			sorted = append(sorted, per[s][0])
			per[s] = per[s][1:]
		}
		for i := range sorted {
			j := min(len(sorted)-1, i+rng.IntN(8))
			sorted[i], sorted[j] = sorted[j], sorted[i]
		}
		// Acknowledge only what the peer provably has: the prefix fed so far.
		var have [2][]bool
		have[0] = make([]bool, len(x.src[0])+1)
		have[1] = make([]bool, len(x.src[1])+1)
		var prefix [2]int
		x.handshake()
		for _, p := range sorted {
			x.ack[p.side] = prefix[1-p.side]
			flags := uint8(packet.FlagPSH)
			if p.fin {
				flags |= packet.FlagFIN
			}
			x.a.Add(x.seg(p.side, p.off, p.end-p.off, flags))
			for k := p.off; k < p.end; k++ {
				have[p.side][k] = true
			}
			for prefix[p.side] < len(x.src[p.side]) && have[p.side][prefix[p.side]] {
				prefix[p.side]++
			}
		}
		cr := x.r.only()
		checkStream(t, cr, AtoB, x.src[0])
		checkStream(t, cr, BtoA, x.src[1])
		if !cr.closed || cr.why != CloseFIN || !cr.dirs[0].fin || !cr.dirs[1].fin {
			t.Errorf("seed %d: closed=%v why=%v fin=%v,%v", seed, cr.closed, cr.why, cr.dirs[0].fin, cr.dirs[1].fin)
		}
		if st := x.a.Stats(); st.Gaps != 0 || x.a.Buffered() != 0 {
			t.Errorf("seed %d: Gaps=%d Buffered=%d", seed, st.Gaps, x.a.Buffered())
		}
		if t.Failed() {
			t.Fatalf("seed %d failed", seed)
		}
	}
}

// TestBeyondFIN: nothing is delivered, held or declared lost after a
// direction's FIN, whatever invalid segments or ACKs follow it.
func TestBeyondFIN(t *testing.T) {
	x := newConv(t, Config{ReorderWindow: 1})
	x.handshake()
	x.send(0, 0, 10)
	x.send(0, 20, 10) // held, but beyond the FIN that comes next
	x.fin(0, 10)
	if x.a.Buffered() != 0 {
		t.Errorf("Buffered() = %d after the FIN", x.a.Buffered())
	}
	x.send(0, 30, 10)
	x.ack[1] = 60
	x.pureAck(1, 0)
	x.pureAck(1, 0)
	x.pureAck(1, 0)
	x.a.Flush(x.tick())
	cr := x.r.only()
	checkLog(t, cr, "open", "handshake", "data 0 10", "fin 0", "close end")
}

// elided feeds side's segment src[off:off+n] telling that the e bytes
// before it were left out by the source.
func (x *conv) elided(side, off, n, e int, flags uint8) {
	s := x.seg(side, off, n, flags|packet.FlagPSH)
	s.Elided = e
	x.a.Add(s)
}

func TestElided(t *testing.T) {
	l := len(payload)
	t.Run("skipped where the stream stands", func(t *testing.T) {
		x := newConv(t, Config{Elision: true})
		x.handshake()
		x.send(0, 0, 10)
		x.elided(0, 30, 10, 20, 0) // [10,30) left out
		x.elided(0, 50, l-50, 10, 0)
		x.a.Flush(x.tick())
		cr := x.r.only()
		checkLog(t, cr, "open", "handshake", "data 0 10", "skip 0 20", "data 0 10", "skip 0 10", fmt.Sprintf("data 0 %d", l-50), "close end")
		want := append(append(slices.Clone(x.src[0][:10]), x.src[0][30:40]...), x.src[0][50:]...)
		if !bytes.Equal(cr.dirs[0].data, want) {
			t.Errorf("delivered %q, want %q", trunc(cr.dirs[0].data), trunc(want))
		}
		if st := x.a.Stats(); st.ElidedBytes != 30 || st.Gaps != 0 {
			t.Errorf("stats %+v, want 30 bytes elided and no gap", st)
		}
	})
	t.Run("refused: a gap", func(t *testing.T) {
		x := newConv(t, Config{Elision: true})
		x.r.refuse = true
		x.handshake()
		x.send(0, 0, 10)
		x.elided(0, 30, l-30, 20, 0)
		cr := x.r.only()
		checkLog(t, cr, "open", "handshake", "data 0 10", "gap 0 20", fmt.Sprintf("data 0 %d", l-30))
		checkStream(t, cr, AtoB, x.src[0], gapAt{10, 20})
		if st := x.a.Stats(); st.ElidedBytes != 0 || st.Gaps != 1 || st.GapBytes != 20 {
			t.Errorf("stats %+v, want one gap of 20 bytes", st)
		}
	})
	t.Run("a hole before the range", func(t *testing.T) {
		// [10,20) lost, [20,30) left out: the stream does not stand at
		// the range's start, so the segment waits behind a hole.
		x := newConv(t, Config{Elision: true})
		x.handshake()
		x.send(0, 0, 10)
		x.elided(0, 30, l-30, 10, 0)
		x.a.Flush(x.tick())
		cr := x.r.only()
		checkLog(t, cr, "open", "handshake", "data 0 10", "gap 0 20", fmt.Sprintf("data 0 %d", l-30), "close end")
		checkStream(t, cr, AtoB, x.src[0], gapAt{10, 20})
	})
	t.Run("acknowledged range waits for its segment", func(t *testing.T) {
		for _, elision := range []bool{true, false} {
			x := newConv(t, Config{Elision: elision, ReorderWindow: 2})
			x.handshake()
			x.send(0, 0, 10)
			x.ack[1] = 30 // the server acknowledges the bytes left out
			for range 5 {
				x.pureAck(1, 0)
			}
			x.elided(0, 30, l-30, 20, 0)
			cr := x.r.only()
			if elision {
				checkLog(t, cr, "open", "handshake", "data 0 10", "skip 0 20", fmt.Sprintf("data 0 %d", l-30))
			} else {
				// Without Elision the acknowledged hole is lost at once.
				checkLog(t, cr, "open", "handshake", "data 0 10", "gap 0 20", fmt.Sprintf("data 0 %d", l-30))
			}
		}
	})
	t.Run("acknowledged hole proven by a later segment", func(t *testing.T) {
		x := newConv(t, Config{Elision: true, ReorderWindow: 2})
		x.handshake()
		x.send(0, 0, 10)
		x.ack[1] = 30
		for range 5 {
			x.pureAck(1, 0)
		}
		x.send(0, 30, 10) // tells of nothing left out: [10,30) was lost
		x.pureAck(1, 0)
		cr := x.r.only()
		checkLog(t, cr, "open", "handshake", "data 0 10", "gap 0 20", "data 0 10")
	})
	t.Run("closed after a range", func(t *testing.T) {
		// The FIN tells of the range before it: a clean close, no gap,
		// even though the peer acknowledged the range long before.
		x := newConv(t, Config{Elision: true, ReorderWindow: 1})
		x.handshake()
		x.send(0, 0, 10)
		x.ack[1] = 30
		for range 3 {
			x.pureAck(1, 0)
		}
		x.elided(0, 30, 0, 20, packet.FlagFIN)
		x.ack[1] = 31
		x.fin(1, 0)
		x.ack[0] = 1
		x.pureAck(0, 31)
		cr := x.r.only()
		checkLog(t, cr, "open", "handshake", "data 0 10", "skip 0 20", "fin 0", "fin 1", "close fin")
		if st := x.a.Stats(); st.Gaps != 0 {
			t.Errorf("%d gaps on a clean close", st.Gaps)
		}
	})
	t.Run("acknowledged range at the end", func(t *testing.T) {
		// Whether the last bytes were left out or lost, nothing tells:
		// no gap is claimed (TestFlushHoles' acknowledged tail, without
		// Elision, has one).
		x := newConv(t, Config{Elision: true})
		x.handshake()
		x.send(0, 0, 10)
		x.ack[1] = 30
		x.pureAck(1, 0)
		x.a.Flush(x.tick())
		checkLog(t, x.r.only(), "open", "handshake", "data 0 10", "close end")
	})
	t.Run("reset after a range", func(t *testing.T) {
		x := newConv(t, Config{Elision: true})
		x.handshake()
		x.send(0, 0, 10)
		x.elided(0, 30, 0, 20, packet.FlagRST)
		cr := x.r.only()
		checkLog(t, cr, "open", "handshake", "data 0 10", "skip 0 20", "reset 0", "close rst")
	})
	t.Run("retransmitted segment after a range", func(t *testing.T) {
		x := newConv(t, Config{Elision: true})
		x.handshake()
		x.send(0, 0, 10)
		x.elided(0, 30, 10, 20, 0)
		x.elided(0, 30, 10, 20, 0) // the same segment again: its range is behind the stream
		cr := x.r.only()
		checkLog(t, cr, "open", "handshake", "data 0 10", "skip 0 20", "data 0 10")
		if st := x.a.Stats(); st.Retransmitted != 1 || st.ElidedBytes != 20 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("joined after a range", func(t *testing.T) {
		// The first segment seen of a direction may tell of a range: the
		// stream begins after it, as if joined there.
		x := newConv(t, Config{Elision: true})
		x.elided(0, 30, 10, 20, 0)
		x.send(0, 40, 10)
		cr := x.r.only()
		checkLog(t, cr, "open", "data 0 10", "data 0 10")
		if st := x.a.Stats(); st.ElidedBytes != 0 || st.Gaps != 0 {
			t.Errorf("stats %+v", st)
		}
	})
}
