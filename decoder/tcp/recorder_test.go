package tcp

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/hoptap/hoptap/decoder/packet"
)

// gapAt is a reported hole: n bytes starting at stream offset pos, where
// the offset counts delivered and gapped bytes of the direction.
type gapAt struct{ pos, n int }

type dirRec struct {
	data []byte  // every Data call, concatenated
	gaps []gapAt // every Gap call with its position
	skip []gapAt // every Skip call taken, with its position
	pos  int     // delivered + gapped bytes so far
	fin  bool
	rst  bool
}

type connRec struct {
	c       *Conn
	id      uint64
	a, b    netip.AddrPort // as seen at Open
	open    bool
	hs      bool
	closed  bool
	why     CloseReason
	closeTS time.Time
	dirs    [2]dirRec
	log     []string
}

// recorder is a Handler that records every call and checks the
// contract: Open first, Close last, nothing on a direction after its FIN,
// no empty Data, no empty Gap.
type recorder struct {
	t     testing.TB
	conns []*connRec
	live  map[*Conn]*connRec
	// onData and onGap, when set, are called for every Data and Gap call
	// with the position of its first byte (the fuzz test checks them).
	onData func(cr *connRec, d Dir, pos int, b []byte)
	onGap  func(cr *connRec, d Dir, pos int, n int)
	// refuse makes Skip say no: the stream does not stand at a boundary.
	refuse bool
}

func newRecorder(t testing.TB) *recorder {
	return &recorder{t: t, live: map[*Conn]*connRec{}}
}

func (r *recorder) get(c *Conn, what string) *connRec {
	cr := r.live[c]
	if cr == nil {
		r.t.Fatalf("%s on connection %d before Open", what, c.ID)
	}
	if cr.closed {
		r.t.Fatalf("%s on connection %d after Close", what, c.ID)
	}
	return cr
}

func (r *recorder) Open(c *Conn) {
	if r.live[c] != nil {
		r.t.Fatalf("Open twice on connection %d", c.ID)
	}
	cr := &connRec{c: c, id: c.ID, a: c.A, b: c.B, open: true, log: []string{"open"}}
	r.conns = append(r.conns, cr)
	r.live[c] = cr
}

func (r *recorder) Handshake(c *Conn) {
	cr := r.get(c, "Handshake")
	if cr.hs {
		r.t.Errorf("Handshake twice on connection %d", c.ID)
	}
	cr.hs = true
	cr.log = append(cr.log, "handshake")
}

func (r *recorder) Data(c *Conn, d Dir, ts time.Time, b []byte) {
	cr := r.get(c, "Data")
	dr := &cr.dirs[d]
	if len(b) == 0 {
		r.t.Errorf("empty Data on connection %d dir %d", c.ID, d)
	}
	if dr.fin {
		r.t.Errorf("Data on connection %d dir %d after its FIN", c.ID, d)
	}
	if r.onData != nil {
		r.onData(cr, d, dr.pos, b)
	}
	dr.data = append(dr.data, b...)
	dr.pos += len(b)
	cr.log = append(cr.log, fmt.Sprintf("data %d %d", d, len(b)))
}

func (r *recorder) Gap(c *Conn, d Dir, ts time.Time, n int) {
	cr := r.get(c, "Gap")
	dr := &cr.dirs[d]
	if n <= 0 {
		r.t.Errorf("Gap of %d bytes on connection %d dir %d", n, c.ID, d)
	}
	if dr.fin {
		r.t.Errorf("Gap on connection %d dir %d after its FIN", c.ID, d)
	}
	if r.onGap != nil {
		r.onGap(cr, d, dr.pos, n)
	}
	dr.gaps = append(dr.gaps, gapAt{dr.pos, n})
	dr.pos += n
	cr.log = append(cr.log, fmt.Sprintf("gap %d %d", d, n))
}

func (r *recorder) Skip(c *Conn, d Dir, ts time.Time, n int) bool {
	cr := r.get(c, "Skip")
	dr := &cr.dirs[d]
	if n <= 0 {
		r.t.Errorf("Skip of %d bytes on connection %d dir %d", n, c.ID, d)
	}
	if dr.fin {
		r.t.Errorf("Skip on connection %d dir %d after its FIN", c.ID, d)
	}
	if r.refuse {
		return false
	}
	dr.skip = append(dr.skip, gapAt{dr.pos, n})
	dr.pos += n
	cr.log = append(cr.log, fmt.Sprintf("skip %d %d", d, n))
	return true
}

func (r *recorder) Fin(c *Conn, d Dir, ts time.Time) {
	cr := r.get(c, "Fin")
	if cr.dirs[d].fin {
		r.t.Errorf("Fin twice on connection %d dir %d", c.ID, d)
	}
	cr.dirs[d].fin = true
	cr.log = append(cr.log, fmt.Sprintf("fin %d", d))
}

func (r *recorder) Reset(c *Conn, d Dir, ts time.Time) {
	cr := r.get(c, "Reset")
	cr.dirs[d].rst = true
	cr.log = append(cr.log, fmt.Sprintf("reset %d", d))
}

func (r *recorder) Close(c *Conn, ts time.Time, why CloseReason) {
	cr := r.get(c, "Close")
	cr.closed, cr.why, cr.closeTS = true, why, ts
	cr.log = append(cr.log, "close "+why.String())
}

// only returns the single connection recorded.
func (r *recorder) only() *connRec {
	r.t.Helper()
	if len(r.conns) != 1 {
		r.t.Fatalf("got %d connections, want 1", len(r.conns))
	}
	return r.conns[0]
}

// checkLog compares a connection's call log.
func checkLog(t *testing.T, cr *connRec, want ...string) {
	t.Helper()
	if !slices.Equal(cr.log, want) {
		t.Errorf("calls:\n got %q\nwant %q", cr.log, want)
	}
}

// checkStream checks that direction d delivered exactly src minus the
// given gaps, and the gaps at their positions.
func checkStream(t *testing.T, cr *connRec, d Dir, src []byte, gaps ...gapAt) {
	t.Helper()
	dr := &cr.dirs[d]
	var want []byte
	pos := 0
	for _, g := range gaps {
		want = append(want, src[pos:g.pos]...)
		pos = g.pos + g.n
	}
	want = append(want, src[min(pos, len(src)):]...)
	if !bytes.Equal(dr.data, want) {
		t.Errorf("dir %d: delivered %d bytes %q, want %d bytes %q", d, len(dr.data), trunc(dr.data), len(want), trunc(want))
	}
	if !slices.Equal(dr.gaps, gaps) {
		t.Errorf("dir %d: gaps %v, want %v", d, dr.gaps, gaps)
	}
	if dr.pos != len(src) {
		t.Errorf("dir %d: stream covered %d bytes, want %d", d, dr.pos, len(src))
	}
}

func trunc(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

var (
	t0      = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	epCli   = netip.MustParseAddrPort("10.0.0.1:40000")
	epSrv   = netip.MustParseAddrPort("10.0.0.2:50051")
	epCli6  = netip.MustParseAddrPort("[fd00::1]:40001")
	epSrv6  = netip.MustParseAddrPort("[fd00::2]:443")
	payload = []byte("The quick brown fox jumps over the lazy dog, 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ!")
)

// conv builds the segments of one connection. Side 0 is the client.
type conv struct {
	t   *testing.T
	a   *Assembler
	r   *recorder
	clk *time.Time // shared by the conversations of one assembler
	ep  [2]netip.AddrPort
	isn [2]uint32
	src [2][]byte
	// ack[i] is the offset of side 1-i's stream that side i acknowledges.
	ack [2]int
}

func newConv(t *testing.T, cfg Config) *conv {
	r := newRecorder(t)
	clk := t0
	return &conv{
		t: t, a: NewAssembler(r, cfg), r: r, clk: &clk,
		ep:  [2]netip.AddrPort{epCli, epSrv},
		isn: [2]uint32{1000, 5000},
		src: [2][]byte{payload, bytes.ToUpper(payload)},
	}
}

func (x *conv) tick() time.Time {
	*x.clk = x.clk.Add(time.Millisecond)
	return *x.clk
}

// other returns a conversation between other endpoints on the same
// assembler, recorder and clock.
func (x *conv) other(cli, srv netip.AddrPort) *conv {
	y := *x
	y.ep = [2]netip.AddrPort{cli, srv}
	y.ack = [2]int{}
	return &y
}

// seg builds a segment of side carrying src[side][off:off+n]; n may be 0.
func (x *conv) seg(side, off, n int, flags uint8) *packet.Segment {
	var p []byte
	if n > 0 {
		p = x.src[side][off : off+n]
	}
	return &packet.Segment{
		TS: x.tick(), Src: x.ep[side], Dst: x.ep[1-side],
		Seq:   x.isn[side] + 1 + uint32(off),
		Ack:   x.isn[1-side] + 1 + uint32(x.ack[side]),
		Flags: flags | packet.FlagACK, Payload: p, WireLen: len(p),
	}
}

// send feeds src[side][off:off+n].
func (x *conv) send(side, off, n int) { x.a.Add(x.seg(side, off, n, packet.FlagPSH)) }

// fin feeds a bare FIN of side after off bytes.
func (x *conv) fin(side, off int) { x.a.Add(x.seg(side, off, 0, packet.FlagFIN)) }

// pureAck feeds an empty ACK of side whose sequence number is off.
func (x *conv) pureAck(side, off int) { x.a.Add(x.seg(side, off, 0, 0)) }

func (x *conv) syn() {
	x.a.Add(&packet.Segment{TS: x.tick(), Src: x.ep[0], Dst: x.ep[1], Seq: x.isn[0], Flags: packet.FlagSYN})
}

func (x *conv) synAck() {
	x.a.Add(&packet.Segment{TS: x.tick(), Src: x.ep[1], Dst: x.ep[0], Seq: x.isn[1], Ack: x.isn[0] + 1,
		Flags: packet.FlagSYN | packet.FlagACK})
}

func (x *conv) handshake() {
	x.syn()
	x.synAck()
	x.pureAck(0, 0)
}
