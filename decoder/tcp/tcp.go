// Package tcp reassembles TCP byte streams from captured segments.
//
// Each connection has two directions, each delivered in order to a
// Handler. Out-of-order, retransmitted and overlapping segments are put
// right; bytes that were sent but never captured are reported as a Gap and
// never glued over. Connections already running when the capture began
// start at the first byte seen. Memory is bounded per connection, in total
// and in the number of tracked connections.
package tcp

import (
	"bytes"
	"net/netip"
	"slices"
	"time"

	"github.com/hoptap/hoptap/decoder/packet"
)

// Dir is a direction of a connection: AtoB is from the side that sent the
// SYN (or, when the SYN was not seen, from the first sender seen).
type Dir uint8

// Directions.
const (
	AtoB Dir = 0
	BtoA Dir = 1
)

// Reverse returns the other direction.
func (d Dir) Reverse() Dir { return d ^ 1 }

// CloseReason tells why a connection was forgotten.
type CloseReason uint8

// Close reasons.
const (
	CloseFIN     CloseReason = iota // both sides sent FIN
	CloseRST                        // a reset
	CloseIdle                       // no packet for Config.IdleTimeout
	CloseEvicted                    // too many connections; the least recently active went
	CloseEnd                        // end of input (Flush)
)

var closeNames = [...]string{"fin", "rst", "idle", "evicted", "end"}

func (r CloseReason) String() string { return closeNames[r] }

// Handler receives the streams. Calls for one connection arrive in
// capture order. Data slices are only valid during the call.
type Handler interface {
	// Open is called before the first Data, Handshake or Reset.
	Open(c *Conn)
	// Handshake is called when the three-way handshake completed.
	Handshake(c *Conn)
	// Data delivers the next in-order bytes of one direction.
	Data(c *Conn, d Dir, ts time.Time, b []byte)
	// Gap says n bytes of direction d were sent but not captured; the
	// next Data follows them.
	Gap(c *Conn, d Dir, ts time.Time, n int)
	// Skip offers the n next bytes of direction d that the source left
	// out as whole frames nobody asked for (Segment.Elided, with
	// Config.Elision); false takes them as a Gap: the stream did not
	// stand where they begin.
	Skip(c *Conn, d Dir, ts time.Time, n int) bool
	// Fin is called when direction d ended with a FIN, after its data.
	Fin(c *Conn, d Dir, ts time.Time)
	// Reset is called when a segment of direction d carried RST.
	Reset(c *Conn, d Dir, ts time.Time)
	// Close is the last call for c.
	Close(c *Conn, ts time.Time, why CloseReason)
}

// Config bounds the assembler. Zero fields take the defaults.
type Config struct {
	MaxConns       int           // tracked connections (default 65536)
	MaxConnBuffer  int           // out-of-order bytes held per direction (default 4 MiB)
	MaxTotalBuffer int           // out-of-order bytes held in all (default 256 MiB)
	IdleTimeout    time.Duration // forget a silent connection (default 10 minutes)
	// ReorderWindow is how many later packets of a connection may pass
	// after the peer acknowledged bytes we lack before they count as lost.
	// It absorbs capture points that reorder slightly (default 16).
	ReorderWindow int
	// Elision says the source may leave out runs of bytes and tell of
	// them in the next segment's Elided (the live capture's whole PING
	// and WINDOW_UPDATE frames). A hole that the peer acknowledged
	// waits then until a segment beyond it arrives, which fills it or
	// proves it lost; one still open at the end is not reported.
	Elision bool
}

func (c *Config) defaults() {
	if c.MaxConns <= 0 {
		c.MaxConns = 1 << 16
	}
	if c.MaxConnBuffer <= 0 {
		c.MaxConnBuffer = 4 << 20
	}
	if c.MaxTotalBuffer <= 0 {
		c.MaxTotalBuffer = 256 << 20
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.ReorderWindow <= 0 {
		c.ReorderWindow = 16
	}
}

// Stats counts what the assembler saw and, above all, what it lost.
type Stats struct {
	Segments      uint64 // TCP segments processed
	Conns         uint64 // connections opened
	Midstream     uint64 // connections whose start was not captured
	Retransmitted uint64 // segments whose bytes were all seen before
	OutOfOrder    uint64 // segments that arrived ahead of a hole
	Overlaps      uint64 // segments partly overlapping seen bytes
	Gaps          uint64 // holes reported to handlers
	GapBytes      uint64 // bytes in those holes, where the size is known
	Truncated     uint64 // segments cut by the snap length
	BufferDrops   uint64 // holes forced because a buffer limit was hit
	ElidedBytes   uint64 // bytes the source left out (Config.Elision) and the streams skipped
	Evicted       uint64 // connections forgotten to stay under MaxConns
}

// Conn is one TCP connection.
type Conn struct {
	ID       uint64
	Observer uint64         // the segments' Observer: whose view this is
	A, B     netip.AddrPort // A sent the SYN, or was the first sender seen
	SawSYN   bool           // A is known to be the initiator
	// Handshake timestamps; zero when not seen.
	SYN, SYNACK, ACK time.Time
	First, Last      time.Time
	// User is for the handler's per-connection state.
	User any

	half       [2]half
	opened     bool
	quiet      bool // told to the QuietHandler since its last segment
	finished   bool // closed; kept briefly so trailing ACKs do not reopen it
	prev, next *Conn
}

// Addr returns the sender of direction d.
func (c *Conn) Addr(d Dir) netip.AddrPort {
	if d == AtoB {
		return c.A
	}
	return c.B
}

// Midstream reports whether direction d started before the capture.
func (c *Conn) Midstream(d Dir) bool { return !c.half[d].synSeen }

// Bytes returns the payload bytes delivered for direction d.
func (c *Conn) Bytes(d Dir) uint64 { return c.half[d].delivered }

type seg struct {
	seq     uint32
	data    []byte
	fin     bool
	missing int // bytes the snap length cut from the end
	ts      time.Time
}

type half struct {
	synSeen   bool
	started   bool
	next      uint32 // next sequence number expected
	ooo       []seg
	oooBytes  int
	fin       bool   // FIN seen
	finSeq    uint32 // sequence number of the FIN
	finDone   bool
	ackHint   uint32 // highest ack from the peer beyond next
	ackAge    int    // packets since the hint went beyond next; -1 none
	delivered uint64
}

// key names a connection whichever way a packet goes: the lower endpoint
// first, so one lookup serves both directions. Plain bytes, no padding,
// hash in one run.
type key struct {
	obs      uint64
	lo, hi   [16]byte
	lop, hip uint16
	v4       uint32 // IPv4, so that 1.2.3.4 and ::ffff:1.2.3.4 differ
}

func keyOf(obs uint64, x, y netip.AddrPort) key {
	xa, ya := x.Addr().As16(), y.Addr().As16()
	xp, yp := x.Port(), y.Port()
	if c := bytes.Compare(xa[:], ya[:]); c > 0 || c == 0 && xp > yp {
		xa, ya, xp, yp = ya, xa, yp, xp
	}
	k := key{obs: obs, lo: xa, hi: ya, lop: xp, hip: yp}
	if x.Addr().Is4() {
		k.v4 = 1
	}
	return k
}

// Assembler tracks connections and feeds a Handler.
type Assembler struct {
	cfg      Config
	h        Handler
	conns    map[key]*Conn
	head     *Conn // most recently active
	tail     *Conn
	n        int
	buffered int
	nextID   uint64
	sweepAt  time.Time
	stats    Stats
	// last is the connection of the previous segment: consecutive
	// segments mostly belong to one connection, and comparing addresses
	// is cheaper than hashing them. Cleared whenever conns changes.
	last *Conn
}

// NewAssembler returns an assembler feeding h.
func NewAssembler(h Handler, cfg Config) *Assembler {
	cfg.defaults()
	return &Assembler{cfg: cfg, h: h, conns: make(map[key]*Conn)}
}

// Stats returns the counters so far.
func (a *Assembler) Stats() Stats { return a.stats }

// Conns returns the number of tracked connections.
func (a *Assembler) Conns() int { return a.n }

// Buffered returns the out-of-order bytes currently held.
func (a *Assembler) Buffered() int { return a.buffered }

// seqDiff is a-b in sequence space.
func seqDiff(a, b uint32) int32 { return int32(a - b) }

// Add processes one segment.
func (a *Assembler) Add(s *packet.Segment) {
	a.stats.Segments++
	if s.TS.After(a.sweepAt) {
		a.sweep(s.TS)
	}
	c, d := a.lookup(s)
	if c == nil {
		return
	}
	c.Last, c.quiet = s.TS, false
	a.touch(c)
	h := &c.half[d]
	o := &c.half[d.Reverse()]

	if s.Has(packet.FlagSYN) {
		a.syn(c, d, s)
		return
	}
	if c.finished {
		return
	}
	if s.Elided > 0 {
		a.elided(c, d, s)
	}
	if s.Has(packet.FlagRST) {
		// A reset ends the connection; bytes still waiting behind a hole
		// will never be completed.
		a.open(c)
		a.flushAll(c, s.TS)
		a.h.Reset(c, d, s.TS)
		a.finish(c, s.TS, CloseRST)
		return
	}
	if !h.started {
		h.started = true
		h.next = s.Seq
	}
	if !c.ACK.IsZero() || !s.Has(packet.FlagACK) {
		// handshake already complete, or nothing to complete it
	} else if d == AtoB && c.SawSYN && !c.SYNACK.IsZero() && s.Seq == c.half[AtoB].next {
		c.ACK = s.TS
		a.open(c)
		a.h.Handshake(c)
	}
	if s.Has(packet.FlagACK) && o.started && !o.finDone && seqDiff(s.Ack, o.next) > 0 {
		if o.ackAge < 0 || seqDiff(s.Ack, o.ackHint) > 0 {
			if o.ackAge < 0 {
				o.ackAge = 0
			}
			o.ackHint = s.Ack
		}
	}
	if len(s.Payload) > 0 || s.WireLen > 0 || s.Has(packet.FlagFIN) {
		a.segment(c, d, s)
	}
	a.checkAckHints(c, s.TS)
	if c.half[0].finDone && c.half[1].finDone {
		a.finish(c, s.TS, CloseFIN)
	}
}

func (a *Assembler) lookup(s *packet.Segment) (*Conn, Dir) {
	if c := a.last; c != nil && c.Observer == s.Observer {
		if c.A == s.Src && c.B == s.Dst {
			return c, AtoB
		}
		if c.A == s.Dst && c.B == s.Src {
			return c, BtoA
		}
	}
	if c, ok := a.conns[keyOf(s.Observer, s.Src, s.Dst)]; ok {
		a.last = c
		return c, c.dirOf(s.Src)
	}
	if s.Has(packet.FlagRST) && len(s.Payload) == 0 {
		return nil, 0 // a reset for a connection we never knew tells nothing
	}
	if a.n >= a.cfg.MaxConns && a.tail != nil {
		if a.tail.finished {
			// Closed and only kept for its trailing packets: finish would
			// do nothing, and nothing is lost by forgetting it.
			a.forget(a.tail)
		} else {
			a.stats.Evicted++
			a.finish(a.tail, s.TS, CloseEvicted)
		}
	}
	a.nextID++
	c := &Conn{ID: a.nextID, Observer: s.Observer, A: s.Src, B: s.Dst, First: s.TS}
	c.half[0].ackAge, c.half[1].ackAge = -1, -1
	d := AtoB
	if s.Has(packet.FlagSYN) && s.Has(packet.FlagACK) {
		// First packet is a SYN-ACK: the sender is the server.
		c.A, c.B = s.Dst, s.Src
		d = BtoA
	}
	a.conns[keyOf(c.Observer, c.A, c.B)] = c
	a.last = nil
	a.n++
	a.pushFront(c)
	return c, d
}

func (a *Assembler) syn(c *Conn, d Dir, s *packet.Segment) {
	h := &c.half[d]
	if c.finished || (h.synSeen && h.next != s.Seq+1 && !s.Has(packet.FlagACK)) {
		// A new SYN on a finished or different incarnation of the tuple:
		// start over, as the kernel does on port reuse.
		if !c.finished {
			a.finish(c, s.TS, CloseEnd)
		}
		a.forget(c)
		if c, d = a.lookup(s); c == nil {
			return // SYN with RST: nothing to start
		}
		h = &c.half[d]
		c.Last = s.TS
	}
	if h.synSeen {
		return // retransmitted SYN
	}
	if h.started && c.opened {
		return // a SYN after data: not a new handshake we can use
	}
	if c.opened && (d == AtoB) == s.Has(packet.FlagACK) {
		// It would make the peer the initiator, but the handler already
		// has the directions of this connection: they cannot turn around.
		return
	}
	h.synSeen, h.started, h.next = true, true, s.Seq+1
	if s.Has(packet.FlagACK) {
		c.SYNACK = s.TS
		if d == AtoB {
			// SYN-ACK from A: swap so that A is the initiator.
			c.swap(a)
		}
		c.SawSYN = true
	} else {
		c.SYN = s.TS
		c.SawSYN = d == AtoB
		if d == BtoA {
			c.swap(a)
			c.SawSYN = true
		}
	}
	a.open(c)
	if len(s.Payload) > 0 { // TCP Fast Open data rides on the SYN
		s2 := *s
		s2.Seq++
		a.segment(c, c.dirOf(s.Src), &s2)
	}
}

func (c *Conn) dirOf(src netip.AddrPort) Dir {
	if src == c.A {
		return AtoB
	}
	return BtoA
}

func (c *Conn) swap(a *Assembler) {
	a.last = nil // the key stays: it does not depend on the order
	c.A, c.B = c.B, c.A
	c.half[0], c.half[1] = c.half[1], c.half[0]
}

func (a *Assembler) open(c *Conn) {
	if !c.opened {
		c.opened = true
		a.stats.Conns++
		if !c.half[0].synSeen && !c.half[1].synSeen {
			a.stats.Midstream++
		}
		a.h.Open(c)
	}
}

// segment places the payload of one segment in its direction's stream.
func (a *Assembler) segment(c *Conn, d Dir, s *packet.Segment) {
	h := &c.half[d]
	missing := 0
	if s.WireLen > len(s.Payload) {
		missing = s.WireLen - len(s.Payload)
		a.stats.Truncated++
	}
	sg := seg{seq: s.Seq, data: s.Payload, fin: s.Has(packet.FlagFIN), missing: missing, ts: s.TS}
	end := sg.seq + uint32(len(sg.data)+missing)
	if seqDiff(end, h.next) <= 0 && !(sg.fin && !h.fin) {
		if len(sg.data)+missing > 0 {
			a.stats.Retransmitted++
		}
		return
	}
	if h.finDone {
		return // nothing follows a FIN
	}
	if len(sg.data)+missing > 0 || sg.fin {
		a.open(c)
	}
	if seqDiff(sg.seq, h.next) > 0 {
		a.stats.OutOfOrder++
		a.hold(c, d, sg)
		return
	}
	a.deliver(c, d, sg, s.TS)
	a.drain(c, d, s.TS)
}

// elided passes over the bytes the source left out right before s, from
// where the stream stands if that is within them (a segment without
// payload may have shown the stream inside the range: a boundary of the
// segments left out); otherwise the usual hole logic sees them as
// missing. A direction first seen here begins after the range, as if
// joined there.
func (a *Assembler) elided(c *Conn, d Dir, s *packet.Segment) {
	h := &c.half[d]
	start := s.Seq - uint32(s.Elided)
	if !h.started || h.finDone || seqDiff(h.next, start) < 0 || seqDiff(h.next, s.Seq) >= 0 {
		return
	}
	n := int(seqDiff(s.Seq, h.next))
	a.open(c)
	if !a.h.Skip(c, d, s.TS, n) {
		a.gap(c, d, s.TS, n)
		return
	}
	h.next = s.Seq
	a.stats.ElidedBytes += uint64(n)
	h.hintReached()
}

// deliver hands over a segment that starts at or before h.next.
func (a *Assembler) deliver(c *Conn, d Dir, sg seg, ts time.Time) {
	h := &c.half[d]
	if over := seqDiff(h.next, sg.seq); over > 0 {
		a.stats.Overlaps++
		if int(over) >= len(sg.data) {
			sg.missing -= int(over) - len(sg.data)
			sg.data = nil
		} else {
			sg.data = sg.data[over:]
		}
		sg.seq = h.next
	}
	if len(sg.data) > 0 {
		h.next += uint32(len(sg.data))
		h.delivered += uint64(len(sg.data))
		a.h.Data(c, d, ts, sg.data)
	}
	if sg.missing > 0 {
		a.gap(c, d, ts, sg.missing)
	}
	if sg.fin {
		h.fin, h.finSeq = true, sg.seq+uint32(len(sg.data)+max(sg.missing, 0))
	}
	if h.fin && !h.finDone && h.next == h.finSeq {
		a.finDone(c, d, ts)
	}
	h.hintReached()
}

// hintReached forgets the peer's acknowledgement hint once the stream
// has reached it: no hole waits behind it.
func (h *half) hintReached() {
	if h.ackAge >= 0 && seqDiff(h.ackHint, h.next) <= 0 {
		h.ackAge = -1
	}
}

// finDone ends direction d at its FIN. Bytes held beyond the FIN cannot
// belong to the stream and are dropped.
func (a *Assembler) finDone(c *Conn, d Dir, ts time.Time) {
	h := &c.half[d]
	h.finDone = true
	h.next++ // the FIN takes one sequence number
	a.buffered -= h.oooBytes
	h.ooo, h.oooBytes, h.ackAge = nil, 0, -1
	a.h.Fin(c, d, ts)
}

func (a *Assembler) gap(c *Conn, d Dir, ts time.Time, n int) {
	a.open(c) // an ACK can prove a loss before any byte was captured
	h := &c.half[d]
	h.next += uint32(n)
	a.stats.Gaps++
	a.stats.GapBytes += uint64(n)
	a.h.Gap(c, d, ts, n)
}

func (a *Assembler) hold(c *Conn, d Dir, sg seg) {
	h := &c.half[d]
	sg.data = append([]byte(nil), sg.data...)
	i, _ := slices.BinarySearchFunc(h.ooo, sg.seq, func(x seg, t uint32) int {
		return int(seqDiff(x.seq, t))
	})
	h.ooo = slices.Insert(h.ooo, i, sg)
	h.oooBytes += len(sg.data)
	a.buffered += len(sg.data)
	for (h.oooBytes > a.cfg.MaxConnBuffer || a.buffered > a.cfg.MaxTotalBuffer) && len(h.ooo) > 0 {
		// Out of room: give up on the hole and move on.
		a.stats.BufferDrops++
		a.skipTo(c, d, h.ooo[0].seq, sg.ts)
		a.drain(c, d, sg.ts)
	}
}

// skipTo declares the bytes up to seq lost.
func (a *Assembler) skipTo(c *Conn, d Dir, seq uint32, ts time.Time) {
	h := &c.half[d]
	if n := seqDiff(seq, h.next); n > 0 {
		a.gap(c, d, ts, int(n))
	}
}

// drain delivers held segments that became contiguous.
func (a *Assembler) drain(c *Conn, d Dir, ts time.Time) {
	h := &c.half[d]
	for len(h.ooo) > 0 && seqDiff(h.ooo[0].seq, h.next) <= 0 {
		sg := h.ooo[0]
		h.ooo = h.ooo[1:]
		h.oooBytes -= len(sg.data)
		a.buffered -= len(sg.data)
		if end := sg.seq + uint32(len(sg.data)+sg.missing); seqDiff(end, h.next) <= 0 && !(sg.fin && !h.fin) {
			continue // wholly covered already
		}
		a.deliver(c, d, sg, ts)
	}
	if len(h.ooo) == 0 {
		h.ooo = nil
	}
}

// checkAckHints declares holes lost once the peer has acknowledged past
// them and the reorder window has passed.
func (a *Assembler) checkAckHints(c *Conn, ts time.Time) {
	for d := AtoB; d <= BtoA; d++ {
		h := &c.half[d]
		if h.ackAge < 0 {
			continue
		}
		h.ackAge++
		if h.ackAge <= a.cfg.ReorderWindow { // the acknowledging packet counts as 1
			continue
		}
		if a.cfg.Elision && len(h.ooo) == 0 {
			continue // the next segment may tell that the hole was left out
		}
		h.ackAge = -1
		to := h.ackHint
		if len(h.ooo) > 0 && seqDiff(h.ooo[0].seq, to) < 0 {
			to = h.ooo[0].seq
		}
		if h.fin && !h.finDone && seqDiff(to, h.finSeq) > 0 {
			to = h.finSeq // the ack covers the FIN's sequence number
		}
		a.skipTo(c, d, to, ts)
		a.drain(c, d, ts)
		if h.fin && !h.finDone && h.next == h.finSeq {
			a.finDone(c, d, ts)
		}
	}
}

// flushAll delivers everything held, declaring the holes lost.
func (a *Assembler) flushAll(c *Conn, ts time.Time) {
	for d := AtoB; d <= BtoA; d++ {
		h := &c.half[d]
		for len(h.ooo) > 0 {
			a.skipTo(c, d, h.ooo[0].seq, ts)
			a.drain(c, d, ts)
		}
		if h.ackAge >= 0 && seqDiff(h.ackHint, h.next) > 0 && !a.cfg.Elision {
			to := h.ackHint
			if h.fin && !h.finDone && seqDiff(to, h.finSeq) > 0 {
				to = h.finSeq
			}
			a.skipTo(c, d, to, ts)
			h.ackAge = -1
		}
	}
}

func (a *Assembler) finish(c *Conn, ts time.Time, why CloseReason) {
	if c.finished {
		return
	}
	c.finished = true
	if c.opened {
		if why != CloseRST {
			a.flushAll(c, ts)
		}
		a.h.Close(c, ts, why)
	}
	for d := range c.half {
		a.buffered -= c.half[d].oooBytes
		c.half[d].ooo, c.half[d].oooBytes = nil, 0
	}
	c.User = nil
	if why == CloseEvicted || why == CloseIdle || why == CloseEnd {
		a.forget(c)
	}
}

func (a *Assembler) forget(c *Conn) {
	if k := keyOf(c.Observer, c.A, c.B); a.conns[k] == c {
		delete(a.conns, k)
		a.last = nil
		a.unlink(c)
		a.n--
	}
}

// QuietHandler is a Handler that wants to know when a connection has
// been silent for QuietAfter, to give back what it keeps for traffic
// (buffers, parsers) until the next segment.
type QuietHandler interface {
	Quiet(c *Conn)
}

// QuietAfter is the silence after which a QuietHandler hears of a
// connection.
const QuietAfter = 5 * time.Second

// Tick runs the periodic sweep at now when no segment has for a while:
// in a live capture silent connections must go quiet and expire without
// traffic to carry the time.
func (a *Assembler) Tick(now time.Time) {
	if now.After(a.sweepAt) {
		a.sweep(now)
	}
}

// sweep forgets connections idle for longer than the timeout, and closed
// ones after a grace period for their trailing ACKs, and tells a
// QuietHandler of the ones that went quiet.
func (a *Assembler) sweep(now time.Time) {
	a.sweepAt = now.Add(time.Second)
	qh, _ := a.h.(QuietHandler)
	for c := a.tail; c != nil; {
		prev := c.prev
		idle := now.Sub(c.Last)
		switch {
		case c.finished && idle > 5*time.Second:
			a.forget(c)
		case idle > a.cfg.IdleTimeout:
			a.finish(c, now, CloseIdle)
		case idle > QuietAfter:
			if qh != nil && !c.quiet && !c.finished && c.opened {
				c.quiet = true
				qh.Quiet(c)
			}
		default:
			return // the list is ordered by activity
		}
		c = prev
	}
}

// Flush ends every connection, as at the end of a file.
func (a *Assembler) Flush(ts time.Time) {
	for a.tail != nil {
		c := a.tail
		if c.finished {
			a.forget(c)
			continue
		}
		a.finish(c, ts, CloseEnd)
	}
}

func (a *Assembler) pushFront(c *Conn) {
	c.prev, c.next = nil, a.head
	if a.head != nil {
		a.head.prev = c
	}
	a.head = c
	if a.tail == nil {
		a.tail = c
	}
}

func (a *Assembler) unlink(c *Conn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		a.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		a.tail = c.prev
	}
	c.prev, c.next = nil, nil
}

func (a *Assembler) touch(c *Conn) {
	if a.head != c {
		a.unlink(c)
		a.pushFront(c)
	}
}
