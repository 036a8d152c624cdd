package capture

import (
	"math"
	"net/netip"
	"time"

	"github.com/hoptap/hoptap/bpf"
	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/grpc"
	"github.com/hoptap/hoptap/decoder/http2"
)

// views gives each end of a connection on this node its own view of the
// decoder's events (Config.Views). A connection is decoded once. When both
// ends are here, the decoder's times are the sender's (each segment's
// first observation, at its egress), and the receiver's come from the
// kernel's twin stamps: the same segment's arrival at the other socket.
// A twin lands in the ring buffer just after its segment, so those views
// wait until the end of the batch (or the next one); a time whose twin
// never came is unknown (zero), never the sender's passed off as the
// receiver's.
type views struct {
	s      *session
	out    decoder.Sink // every event as decoded; nil: none
	active func() bool  // whether out has anyone to show events to; nil: always
	to     decoder.Sink // the ends' views
	frames func(http2.Type) bool
	book   stampBook
	conns  map[uint64]*pairConn // by Conn.ID
	q      []pendingView
	now    time.Time // of the batch being read
	// unknown counts view times left unknown because a twin was not seen.
	unknown uint64
	conn    decoder.Conn // scratch for views given at once
	// pinning: connections with request arrivals still to fill in.
	pinning []*pairConn
	gen     uint64 // flushes so far
	// What give hands on, reused.
	frameE decoder.FrameEvent
	connE  decoder.ConnEvent
	callE  decoder.CallEvent
}

// pairConn is what views know of one decoded connection.
type pairConn struct {
	ends [2]uint64 // observers of the client's and the server's end; 0: not here (or not seen yet)
	// pins keep the arrival at the server of open calls' request
	// headers, which the stamp book forgets within a few batches: a long
	// call ends much later.
	pins       []pin
	requests   uint64 // bpf.EndsTag of client → server, for the pins
	looked     uint64 // locals.learned when the ends were last looked up
	pinPending bool   // listed in views.pinning
	hidden     bool   // the server's side of a translated pair (shows)
	blocked    uint64 // the flush in which an event of this connection waits: later ones wait too
}

type pin struct {
	stream          uint32
	egress, ingress int64
	resolved        bool
}

// maxPins bounds the open calls a connection keeps request arrivals for.
const maxPins = 256

func (p *pairConn) pair() bool { return p.ends[0] != 0 && p.ends[1] != 0 }

// Sides, as indices into pairConn.ends.
const (
	client = 0
	server = 1
	anyone = -1 // the sender is not known from the event
)

type viewKind uint8

const (
	viewFrame viewKind = iota
	viewConn
	viewCall
)

// pendingView is an event waiting for its twins' stamps.
type pendingView struct {
	kind   viewKind
	pc     *pairConn
	at     time.Time // when it was queued
	conn   decoder.Conn
	frame  http2.Frame
	frameE decoder.FrameEvent
	connE  decoder.ConnEvent
	call   grpc.Call
	// waited: flushes after a batch this event waited through (at most
	// waitBatches).
	waited int
}

// giveUp is how long a view waits for a twin before its time is unknown:
// two of the ring's longest waits (a twin read in the next read after
// its segment's comes up to one later).
const giveUp = 2 * bpf.LazyPollInterval

// waitBatches is how many batches a view waits through for a twin: a
// twin follows its segment closely in the ring buffer, but a batch may
// end between them, and the kernel's CPUs write to it concurrently.
const waitBatches = 2

func newViews(s *session, out, to decoder.Sink, frames func(http2.Type) bool) *views {
	v := &views{s: s, out: out, to: to, frames: frames, conns: map[uint64]*pairConn{}}
	if a, ok := out.(interface{ Active() bool }); ok {
		v.active = a.Active
	}
	return v
}

// wantsFrame says, for the decoder's Options.Frames, which frames the
// views need: header blocks (a request's start is pinned), those
// ViewFrames asks for, and all that out's watchers want while it has any
// (sink: the caller's own choice for them, nil for all).
func (v *views) wantsFrame(sink func(http2.Type) bool) func(http2.Type) bool {
	var always [256]bool // asked per frame: what the views need is worked out once
	always[http2.TypeHeaders], always[http2.TypeContinuation] = true, true
	for t := range always {
		if v.frames != nil && v.frames(http2.Type(t)) {
			always[t] = true
		}
	}
	return func(t http2.Type) bool {
		return always[t] || v.out != nil && (v.active == nil || v.active()) && (sink == nil || sink(t))
	}
}

// pairOf finds what is known of a connection's ends, looking again for
// an end not seen so far.
func (v *views) pairOf(c *decoder.Conn) *pairConn {
	pc := v.conns[c.ID]
	if pc == nil {
		pc = &pairConn{requests: bpf.EndsTag(c.Client, c.Server)}
		v.conns[c.ID] = pc
	} else if pc.looked == v.s.locals.learned || pc.pair() {
		return pc
	}
	pc.looked = v.s.locals.learned
	if pc.ends[client] == 0 {
		pc.ends[client] = v.s.locals.byTuple[tupleOf(c.Client, c.Server)]
	}
	if pc.ends[server] == 0 {
		pc.ends[server] = v.s.locals.byTuple[tupleOf(c.Server, c.Client)]
	}
	if pc.ends[client] == 0 && pc.ends[server] != 0 {
		_, pc.hidden = (&Sockets{s: v.s}).Peer(c.Server, c.Client)
	}
	return pc
}

// Frame implements decoder.Sink.
func (v *views) Frame(e *decoder.FrameEvent) {
	if v.shows(e.Conn) {
		v.out.Frame(e)
	}
	f := e.Frame
	start := e.Dir == grpc.C2S && (f.Type == http2.TypeHeaders || f.Type == http2.TypeContinuation) && f.Flags.Has(http2.FlagEndHeaders)
	want := v.frames != nil && v.frames(f.Type)
	if !start && !want {
		return
	}
	pc := v.pairOf(e.Conn)
	if start && pc.pair() && pc.pinStart(f.StreamID, e.TS) && !pc.pinPending {
		pc.pinPending = true
		v.pinning = append(v.pinning, pc)
	}
	if !want {
		return
	}
	if !pc.pair() {
		v.frameE = *e
		v.frameE.Conn = v.single(e.Conn, pc)
		v.to.Frame(&v.frameE)
		return
	}
	p := v.queue(viewFrame, e.Conn, pc)
	p.frame = http2.Frame{FrameHeader: f.FrameHeader, PadLength: f.PadLength, ErrCode: f.ErrCode, LastStream: f.LastStream, Increment: f.Increment, PingData: f.PingData}
	p.frameE = decoder.FrameEvent{TS: e.TS, Dir: e.Dir}
}

// Conn implements decoder.Sink.
func (v *views) Conn(e *decoder.ConnEvent) {
	pc := v.pairOf(e.Conn)
	if v.shows(e.Conn) {
		v.out.Conn(e)
	}
	if e.Kind == decoder.ConnClose {
		delete(v.conns, e.Conn.ID)
	}
	if !pc.pair() {
		v.connE = *e
		v.connE.Conn = v.single(e.Conn, pc)
		v.to.Conn(&v.connE)
		return
	}
	p := v.queue(viewConn, e.Conn, pc)
	p.connE = *e
	p.connE.Hello = nil // not the views' business, and not the decoder's to keep
}

// Call implements decoder.Sink.
func (v *views) Call(e *decoder.CallEvent) {
	if v.shows(e.Conn) {
		v.out.Call(e)
	}
	pc := v.pairOf(e.Conn)
	if !pc.pair() {
		v.callE = decoder.CallEvent{Conn: v.single(e.Conn, pc), Call: e.Call}
		v.to.Call(&v.callE)
		return
	}
	p := v.queue(viewCall, e.Conn, pc)
	p.call = *e.Call
	// Only scalar fields go on: the lists belong to the decoder's pool.
	p.call.Request, p.call.Response, p.call.Trailers = nil, nil, nil
	p.call.Messages, p.call.Details = nil, nil
}

// shows says whether out gets a connection's events: all but the
// server's side of a connection whose client is here too but dialled
// an address that was translated (a Service's cluster IP): that call is
// decoded twice, as two connections, and out sees the client's, as with
// every other pair. A sink that says nobody looks costs nothing.
func (v *views) shows(c *decoder.Conn) bool {
	if v.out == nil || v.active != nil && !v.active() {
		return false
	}
	return !v.pairOf(c).hidden
}

// single is the connection as its one end here sees it: the decoder's
// times are that end's already (every segment was seen at its socket).
func (v *views) single(c *decoder.Conn, pc *pairConn) *decoder.Conn {
	v.conn = *c
	v.conn.Observer = pc.ends[client] | pc.ends[server]
	return &v.conn
}

// maxQueued bounds the events waiting for stamps: a batch gives few, but
// a segment can end many streams at once.
const maxQueued = 1 << 14

func (v *views) queue(k viewKind, c *decoder.Conn, pc *pairConn) *pendingView {
	if len(v.q) >= maxQueued {
		v.flush(v.now, true, false) // what waits goes now, its missing times unknown
	}
	v.q = append(v.q, pendingView{})
	p := &v.q[len(v.q)-1]
	p.kind, p.pc, p.at, p.conn = k, pc, v.now, *c
	return p
}

// flush gives the views whose stamps have come, and those that waited
// long enough (or all, with final). afterBatch says a batch was just
// read: an event waits through one such flush for its stamps.
func (v *views) flush(now time.Time, final, afterBatch bool) {
	v.now = now
	v.gen++
	v.resolvePins()
	if afterBatch {
		// The next batch's stamps go to a new table; those of the last
		// few stay for what waits.
		defer v.book.rotate()
	}
	if len(v.q) == 0 {
		return
	}
	kept := v.q[:0]
	for i := range v.q {
		p := &v.q[i]
		blocked := p.pc.blocked == v.gen
		if !blocked {
			// Each time is worked out once: given now, or kept waiting.
			mayWait := !final && p.waited < waitBatches && now.Sub(p.at) < giveUp
			times, wait, missing := v.bothSides(p)
			if !wait || !mayWait {
				v.unknown += uint64(missing)
				v.give(p, &times)
				continue
			}
		}
		// Waits, and so does the rest of its connection.
		if !blocked && afterBatch {
			p.waited++
		}
		p.pc.blocked = v.gen
		kept = append(kept, *p)
	}
	clear(v.q[len(kept):])
	v.q = kept
}

// sideTimes is one side's view of an event's times: the call's start
// and end, the handshakes' three, or the event's own.
type sideTimes struct {
	t  [3]time.Time
	ts time.Time
}

// bothSides works out p's times at both ends; wait says one is missing
// but may still come, missing how many are not known.
func (v *views) bothSides(p *pendingView) (times [2]sideTimes, wait bool, missing int) {
	for side := range 2 {
		var w bool
		var m int
		times[side], w, m = v.translate(p, side)
		wait = wait || w
		missing += m
	}
	return times, wait, missing
}

// give hands p to the views of both ends, in the client's then the
// server's order, with their times.
func (v *views) give(p *pendingView, times *[2]sideTimes) {
	for side := range 2 {
		p.conn.Observer = p.pc.ends[side]
		st := &times[side]
		switch p.kind {
		case viewCall:
			// The queued copy is handed on, its times set per side.
			p.call.Start, p.call.FirstResp, p.call.EndTS = st.t[0], time.Time{}, st.t[2]
			v.callE = decoder.CallEvent{Conn: &p.conn, Call: &p.call}
			v.to.Call(&v.callE)
		case viewFrame:
			v.frameE = p.frameE
			v.frameE.Conn, v.frameE.Frame, v.frameE.TS = &p.conn, &p.frame, st.ts
			v.to.Frame(&v.frameE)
		case viewConn:
			v.connE = p.connE
			v.connE.Conn = &p.conn
			applyConn(&v.connE, st)
			v.to.Conn(&v.connE)
		}
	}
	if p.kind == viewCall {
		p.pc.unpin(p.call.Stream)
	}
}

// translate works out p's times as the end on side saw them into
// st; wait says one is missing but may still come
// (its segment left recently), missing how many are not known.
func (v *views) translate(p *pendingView, side int) (st sideTimes, wait bool, missing int) {
	at := func(sender int, ts time.Time) time.Time {
		t, ok := v.at(&p.conn, p.pc, side, sender, ts)
		if !ok {
			if v.now.Sub(ts) < giveUp {
				wait = true
			}
			missing++
		}
		return t
	}
	switch p.kind {
	case viewFrame:
		sender := client
		if p.frameE.Dir == grpc.S2C {
			sender = server
		}
		st.ts = at(sender, p.frameE.TS)
	case viewConn:
		e := &p.connE
		switch e.Kind {
		case decoder.ConnTCPHandshake:
			// The SYN and the last ACK are the client's, the SYN-ACK the
			// server's; the event keeps the gaps between them.
			ack := e.TS
			var synack, syn time.Time
			if e.SYNACKToACK > 0 {
				synack = ack.Add(-e.SYNACKToACK)
				if e.SYNToSYNACK > 0 {
					syn = synack.Add(-e.SYNToSYNACK)
				}
			}
			st.t = [3]time.Time{at(client, syn), at(server, synack), at(client, ack)}
			st.ts = st.t[2]
			if st.ts.IsZero() {
				st.ts = e.TS
			}
		case decoder.ConnH2Ready:
			// The preface is the client's; the last SETTINGS ACK either's.
			st.t = [3]time.Time{at(client, e.TS.Add(-e.Duration)), {}, at(anyone, e.TS)}
			st.ts = st.t[2]
			if st.ts.IsZero() {
				st.ts = e.TS
			}
		default:
			sender := anyone
			if e.HasDir {
				sender = client
				if e.Dir == grpc.S2C {
					sender = server
				}
			}
			// Other events' own times are as decoded when not known: no
			// metric depends on them.
			t, ok := v.at(&p.conn, p.pc, side, sender, e.TS)
			if !ok {
				t = e.TS
			}
			st.ts = t
		}
	case viewCall:
		c := &p.call
		end := anyone
		switch c.End {
		case grpc.EndTrailers, grpc.EndTrailersOnly:
			end = server
		case grpc.EndRSTStream:
			end = client
			if c.RSTBy == grpc.S2C {
				end = server
			}
		case grpc.EndIncomplete:
			end = side // the capture's end, not a packet: the same for both
		}
		var startAt time.Time
		if side == server {
			if in, ok := p.pc.pinned(c.Stream, c.Start); ok {
				startAt = in
			} else {
				startAt = at(client, c.Start)
			}
		} else {
			startAt = c.Start // the client's own
		}
		// FirstResp is not given: only the call's ends are kept for a
		// long call.
		st.t = [3]time.Time{startAt, {}, at(end, c.EndTS)}
	}
	return st, wait, missing
}

// applyConn puts the translated times into a connection event.
func applyConn(e *decoder.ConnEvent, st *sideTimes) {
	switch e.Kind {
	case decoder.ConnTCPHandshake:
		syn, synack, ack := st.t[0], st.t[1], st.t[2]
		e.SYNToSYNACK, e.SYNACKToACK = 0, 0
		if !syn.IsZero() && !synack.IsZero() {
			e.SYNToSYNACK = synack.Sub(syn)
		}
		if !synack.IsZero() && !ack.IsZero() {
			e.SYNACKToACK = ack.Sub(synack)
		}
	case decoder.ConnH2Ready:
		e.Duration = 0
		if !st.t[0].IsZero() && !st.t[2].IsZero() {
			e.Duration = st.t[2].Sub(st.t[0])
		}
	}
	e.TS = st.ts
}

// at is when the end on side saw the segment decoded at ts: its own
// sending time, or its twin's arrival. ok is false when that is not
// known (the twin was not seen, or, sender unknown, neither end's).
func (v *views) at(c *decoder.Conn, pc *pairConn, side, sender int, ts time.Time) (time.Time, bool) {
	if ts.IsZero() || sender == side {
		return ts, true
	}
	ns := ts.UnixNano()
	if sender == client || sender == anyone {
		if in, ok := v.book.get(c.Client, c.Server, ns); ok {
			if side == client {
				return ts, true
			}
			return time.Unix(0, in), true
		}
	}
	if sender == server || sender == anyone {
		if in, ok := v.book.get(c.Server, c.Client, ns); ok {
			if side == server {
				return ts, true
			}
			return time.Unix(0, in), true
		}
	}
	return time.Time{}, false
}

// pinStart remembers that a call's request headers left the client at
// ts; their arrival at the server is filled in from the book at the end
// of the batch. It reports whether a pin was added.
func (p *pairConn) pinStart(stream uint32, ts time.Time) bool {
	for i := range p.pins {
		if p.pins[i].stream == stream {
			return false // the first headers are the call's start
		}
	}
	if len(p.pins) >= maxPins {
		return false
	}
	p.pins = append(p.pins, pin{stream: stream, egress: ts.UnixNano()})
	return true
}

// pinned gives a call's request arrival at the server, if kept.
func (p *pairConn) pinned(stream uint32, start time.Time) (time.Time, bool) {
	for i := range p.pins {
		if pn := &p.pins[i]; pn.stream == stream {
			if pn.resolved && pn.egress == start.UnixNano() {
				return time.Unix(0, pn.ingress), true
			}
			return time.Time{}, false
		}
	}
	return time.Time{}, false
}

// unpin forgets an ended call's pin.
func (p *pairConn) unpin(stream uint32) {
	for i := range p.pins {
		if p.pins[i].stream == stream {
			p.pins[i] = p.pins[len(p.pins)-1]
			p.pins = p.pins[:len(p.pins)-1]
			return
		}
	}
}

// resolvePins copies new calls' request arrivals out of the book before
// it forgets them. A connection stays listed while a pin may still get
// its stamp.
func (v *views) resolvePins() {
	kept := v.pinning[:0]
	for _, pc := range v.pinning {
		more := false
		for i := range pc.pins {
			pn := &pc.pins[i]
			if pn.resolved {
				continue
			}
			if in, ok := v.book.getTag(pc.requests, pn.egress); ok {
				pn.ingress, pn.resolved = in, true
			} else if v.now.UnixNano()-pn.egress < int64(giveUp) {
				more = true
			}
		}
		if pc.pinPending = more; more {
			kept = append(kept, pc)
		}
	}
	clear(v.pinning[len(kept):])
	v.pinning = kept
}

// stampBook holds recent twin stamps: a segment's departure (its egress
// time, with its ends) → its arrival. A stamp is looked up within a
// batch or two of its arrival (a segment's twin follows it in the ring
// buffer, and views wait one batch for it), so the book is a few small
// open-addressed tables, one per batch, the oldest emptied for the next:
// no allocation and few cache misses per packet, and no stamp forgotten
// before its table's turn comes round. One older than that is not known.
type stampBook struct {
	gens [stampGens][]stampSlot
	n    [stampGens]int // stamps in each
	cur  int
}

type stampSlot struct {
	egress int64
	tag    uint32 // the ends, hashed; 0: empty
	delay  int32  // arrival - departure, ns
}

const (
	stampGens = 4
	// A batch is at most 512 events (bpf), so a table stays at most
	// half full; one that fills anyway starts the next generation.
	stampGenBits  = 10
	stampGenSlots = 1 << stampGenBits
	stampGenFull  = stampGenSlots * 3 / 4
)

// stampAt is where a stamp's probe starts, and its short tag.
func stampAt(ends uint64, egress int64) (int, uint32) {
	h := (ends ^ uint64(egress)) * 0xbf58476d1ce4e5b9
	return int(h >> (64 - stampGenBits)), uint32(ends>>32) | 1
}

// rotate starts a new generation for the next batch, emptying the
// oldest.
func (b *stampBook) rotate() {
	if b.gens[0] == nil {
		return
	}
	b.cur = (b.cur + 1) % stampGens
	clear(b.gens[b.cur])
	b.n[b.cur] = 0
}

// add stamps a segment from src to dst that left at egress and arrived
// at ingress.
func (b *stampBook) add(src, dst netip.AddrPort, egress, ingress int64) {
	b.addTag(bpf.EndsTag(src, dst), egress, ingress)
}

// addTag is add for ends already hashed.
func (b *stampBook) addTag(ends uint64, egress, ingress int64) {
	d := ingress - egress
	if d < 0 || d > math.MaxInt32 {
		return // not a delay a twin has: left unknown
	}
	if b.gens[0] == nil {
		for g := range b.gens {
			b.gens[g] = make([]stampSlot, stampGenSlots)
		}
	}
	if b.n[b.cur] >= stampGenFull {
		b.rotate()
	}
	t := b.gens[b.cur]
	i, tag := stampAt(ends, egress)
	for t[i].tag != 0 {
		i = (i + 1) & (stampGenSlots - 1)
	}
	t[i] = stampSlot{egress: egress, tag: tag, delay: int32(d)}
	b.n[b.cur]++
}

func (b *stampBook) get(src, dst netip.AddrPort, egress int64) (int64, bool) {
	return b.getTag(bpf.EndsTag(src, dst), egress)
}

func (b *stampBook) getTag(ends uint64, egress int64) (int64, bool) {
	if b.gens[0] == nil {
		return 0, false
	}
	start, tag := stampAt(ends, egress)
	for k := range stampGens { // newest first
		t := b.gens[(b.cur-k+stampGens)%stampGens]
		for i := start; t[i].tag != 0; i = (i + 1) & (stampGenSlots - 1) {
			if t[i].tag == tag && t[i].egress == egress {
				return egress + int64(t[i].delay), true
			}
		}
	}
	return 0, false
}
