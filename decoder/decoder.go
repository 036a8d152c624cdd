package decoder

import (
	"errors"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/hoptap/hoptap/decoder/grpc"
	"github.com/hoptap/hoptap/decoder/hpack"
	"github.com/hoptap/hoptap/decoder/http2"
	"github.com/hoptap/hoptap/decoder/packet"
	"github.com/hoptap/hoptap/decoder/tcp"
	"github.com/hoptap/hoptap/decoder/tlshello"
)

// Options configure a Decoder.
type Options struct {
	// Ports are hints, like Wireshark's "Decode As": a connection with one
	// of these ports is HTTP/2 and that port is the server's. Recognition
	// works without them.
	Ports []uint16
	// KeepBodies keeps the first bytes of every message for display.
	KeepBodies bool
	// ReuseCalls is for sinks that keep nothing of an event after the call
	// to them returns: no Call, no header list (true of a synchronous
	// render.Printer, not of render.Async). Calls and header lists are then
	// recycled, which saves most of the decoder's allocations.
	ReuseCalls bool
	// Frames, if set, says which frame types the sink gets Frame events
	// for; the decoder still handles every frame itself (streams ended,
	// resets, settings, counts). It is asked per frame, so the answer may
	// change as the sink's needs do. A call per call and half the frames
	// of unary gRPC traffic are PINGs and WINDOW_UPDATEs that a sink of
	// calls has no use for.
	Frames func(http2.Type) bool
	// HeaderLists, if set, says as each call begins whether it keeps its
	// header lists (grpc.Tracker.KeepHeaderLists): only JSON's metadata
	// and bodies' grpc-encoding read them. nil: always.
	HeaderLists func() bool
	TCP         tcp.Config
}

// Stats counts everything the decoder saw and, above all, lost.
type Stats struct {
	Packets       uint64
	NotTCP        uint64 // frames that were not TCP over IP
	Fragments     uint64 // IP fragments, which are not reassembled
	LinkErrors    uint64 // frames that could not be decoded
	TCP           tcp.Stats
	H2Conns       uint64
	TLSConns      uint64
	OtherConns    uint64
	Frames        uint64
	FrameErrors   uint64
	Resyncs       uint64
	SkippedBytes  uint64 // bytes skipped while finding frame boundaries
	HPACKErrors   uint64
	HPACKUnknown  uint64 // header fields whose name or value could not be known
	HeadersLost   uint64 // header blocks that could not be decoded at all
	Calls         uint64
	CallsByStatus map[int64]uint64
	Parked        uint64 // HTTP/2 parsers given back by quiet connections
	// Now, not cumulative: connections tracked and out-of-order bytes held.
	TrackedConns  int
	BufferedBytes int
}

// Decoder is the pipeline. It is not safe for concurrent use.
type Decoder struct {
	opts  Options
	sink  Sink
	asm   *tcp.Assembler
	pkt   packet.Decoder
	seg   packet.Segment
	stats Stats
	ports map[uint16]bool
	last  time.Time
	// Every connection's HTTP/2 frames are built here, one at a time.
	h2Frame http2.Frame
	// Reused per frame: events are only valid during the Sink call.
	frameEv FrameEvent
	callEv  CallEvent
	pool    *grpc.CallPool // with ReuseCalls
	// Header lists are carved from slabs: one allocation per many blocks.
	scratch []hpack.Field
	slab    []hpack.Field
	// Connections with reset calls waiting for the server, for Tick.
	lingering []*connState
}

// fieldsCopy moves a decoded header list into the slab.
func (d *Decoder) fieldsCopy(fs []hpack.Field) []hpack.Field {
	n := len(fs)
	if cap(d.slab)-len(d.slab) < n {
		d.slab = make([]hpack.Field, 0, max(512, n))
	}
	start := len(d.slab)
	d.slab = append(d.slab, fs...)
	return d.slab[start : start+n : start+n]
}

// New returns a decoder writing to sink.
func New(sink Sink, opts Options) *Decoder {
	d := &Decoder{opts: opts, sink: sink, ports: map[uint16]bool{}}
	d.stats.CallsByStatus = map[int64]uint64{}
	for _, p := range opts.Ports {
		d.ports[p] = true
	}
	if opts.ReuseCalls {
		d.pool = &grpc.CallPool{}
	}
	d.asm = tcp.NewAssembler((*tcpHandler)(d), opts.TCP)
	return d
}

// Packet decodes one captured link-layer frame.
func (d *Decoder) Packet(lt layers.LinkType, data []byte, ts time.Time, wireLen int) error {
	return d.PacketAt(0, lt, data, ts, wireLen)
}

// PacketAt decodes a frame seen by observer: each observer's packets of a
// connection are decoded as a view of their own (both sockets of a local
// connection, say), with their own calls.
func (d *Decoder) PacketAt(observer uint64, lt layers.LinkType, data []byte, ts time.Time, wireLen int) error {
	return d.PacketElided(observer, lt, data, ts, wireLen, 0)
}

// PacketElided is PacketAt for a source that left out the elided bytes
// right before the segment as whole frames nobody asked for
// (tcp.Config.Elision): they are skipped where the stream stands at
// their start, and a gap otherwise.
func (d *Decoder) PacketElided(observer uint64, lt layers.LinkType, data []byte, ts time.Time, wireLen, elided int) error {
	seg, err := d.Parse(observer, lt, data, ts, wireLen, elided)
	if seg != nil {
		d.Segment(seg)
	}
	return err
}

// Parse reads a packet's headers as PacketElided does, for a caller that
// looks at the segment before it is decoded: give it to Segment next (it
// is the decoder's until then). nil when the packet is not decoded at all
// (it is counted as such; err says why when it is malformed).
func (d *Decoder) Parse(observer uint64, lt layers.LinkType, data []byte, ts time.Time, wireLen, elided int) (*packet.Segment, error) {
	d.stats.Packets++
	d.seg = packet.Segment{TS: ts, Observer: observer}
	if err := d.pkt.Decode(lt, data, &d.seg); err != nil {
		switch {
		case errors.Is(err, packet.ErrNotTCP), errors.Is(err, packet.ErrNotIP):
			d.stats.NotTCP++
			return nil, nil
		case errors.Is(err, packet.ErrFragment):
			d.stats.Fragments++
			return nil, nil
		}
		d.stats.LinkErrors++
		return nil, err
	}
	// A frame cut by the snap length may have lost TCP payload that the IP
	// header still counts; the segment's WireLen already says so.
	d.seg.Elided = elided
	return &d.seg, nil
}

// Segment feeds one TCP segment, for sources that parse packets
// themselves.
func (d *Decoder) Segment(s *packet.Segment) {
	if s.TS.After(d.last) {
		d.last = s.TS
	}
	d.asm.Add(s)
}

// Flush ends all connections, reporting calls still open as incomplete.
func (d *Decoder) Flush() {
	d.asm.Flush(d.last)
}

// Tick lets time pass without packets (live capture): reset calls stop
// waiting for the server's status, silent connections go quiet and, in
// the end, expire.
func (d *Decoder) Tick(now time.Time) {
	for _, cs := range d.lingering {
		if cs.tracker != nil {
			cs.tracker.Expire(now)
			cs.flushCalls()
		}
	}
	d.pruneLingering()
	d.asm.Tick(now)
}

// watchLingering lists cs for Tick once one of its calls waits after a
// reset. The list is pruned as it grows, so it stays within twice the
// connections that still wait, Tick or not (a file has none).
func (d *Decoder) watchLingering(cs *connState) {
	if cs.lingerListed || cs.tracker == nil || cs.tracker.Lingering() == 0 {
		return
	}
	if len(d.lingering) == cap(d.lingering) {
		d.pruneLingering()
	}
	cs.lingerListed = true
	d.lingering = append(d.lingering, cs)
}

func (d *Decoder) pruneLingering() {
	keep := d.lingering[:0]
	for _, cs := range d.lingering {
		if cs.tracker != nil && cs.tracker.Lingering() > 0 {
			keep = append(keep, cs)
		} else {
			cs.lingerListed = false
		}
	}
	clear(d.lingering[len(keep):])
	d.lingering = keep
}

// Stats returns the counters so far.
func (d *Decoder) Stats() Stats {
	s := d.stats
	s.TCP = d.asm.Stats()
	s.TrackedConns, s.BufferedBytes = d.asm.Conns(), d.asm.Buffered()
	return s
}

// tcpHandler is the Decoder seen from the assembler.
type tcpHandler Decoder

func (h *tcpHandler) dec() *Decoder { return (*Decoder)(h) }

func (h *tcpHandler) Open(c *tcp.Conn) {
	d := h.dec()
	cs := &connState{d: d, tc: c}
	cs.info = Conn{ID: c.ID, Observer: c.Observer}
	c.User = cs
	if c.SawSYN {
		cs.setRole(tcp.AtoB, RoleBySYN)
	} else {
		cs.guessRole()
	}
	if c.Midstream(tcp.AtoB) && c.Midstream(tcp.BtoA) {
		d.sink.Conn(&ConnEvent{TS: c.First, Conn: &cs.info, Kind: ConnOpen})
	}
}

func (h *tcpHandler) Handshake(c *tcp.Conn) {
	cs := c.User.(*connState)
	ev := &ConnEvent{TS: c.ACK, Conn: &cs.info, Kind: ConnTCPHandshake}
	if !c.SYN.IsZero() && !c.SYNACK.IsZero() {
		ev.SYNToSYNACK = c.SYNACK.Sub(c.SYN)
	}
	if !c.SYNACK.IsZero() {
		ev.SYNACKToACK = c.ACK.Sub(c.SYNACK)
	}
	h.dec().sink.Conn(ev)
}

func (h *tcpHandler) Data(c *tcp.Conn, dir tcp.Dir, ts time.Time, b []byte) {
	c.User.(*connState).data(dir, ts, b)
}

func (h *tcpHandler) Gap(c *tcp.Conn, dir tcp.Dir, ts time.Time, n int) {
	c.User.(*connState).gap(dir, ts, n)
}

func (h *tcpHandler) Skip(c *tcp.Conn, dir tcp.Dir, ts time.Time, n int) bool {
	return c.User.(*connState).skip(dir)
}

func (h *tcpHandler) Fin(c *tcp.Conn, dir tcp.Dir, ts time.Time) {
	cs := c.User.(*connState)
	h.dec().sink.Conn(&ConnEvent{TS: ts, Conn: &cs.info, Kind: ConnFin, Dir: cs.role(dir), HasDir: true})
}

func (h *tcpHandler) Reset(c *tcp.Conn, dir tcp.Dir, ts time.Time) {
	cs := c.User.(*connState)
	h.dec().sink.Conn(&ConnEvent{TS: ts, Conn: &cs.info, Kind: ConnReset, Dir: cs.role(dir), HasDir: true})
}

// Quiet implements tcp.QuietHandler.
func (h *tcpHandler) Quiet(c *tcp.Conn) {
	if cs, ok := c.User.(*connState); ok {
		cs.quiet()
	}
}

func (h *tcpHandler) Close(c *tcp.Conn, ts time.Time, why tcp.CloseReason) {
	cs, ok := c.User.(*connState)
	if !ok {
		return
	}
	if cs.tracker != nil {
		end := grpc.EndConnClosed
		if why == tcp.CloseEnd || why == tcp.CloseEvicted || why == tcp.CloseIdle {
			end = grpc.EndIncomplete
		}
		cs.tracker.Close(ts, end)
		cs.flushCalls()
	}
	h.dec().sink.Conn(&ConnEvent{TS: ts, Conn: &cs.info, Kind: ConnClose, Reason: why.String()})
}

// connState is the decoder's state for one connection.
type connState struct {
	d         *Decoder
	tc        *tcp.Conn
	info      Conn
	clientDir tcp.Dir
	proto     Proto
	dirs      [2]dirState // by tcp.Dir
	tracker   *grpc.Tracker

	prefaceTS time.Time
	acked     [2]bool
	readySent bool
	tlsStart  time.Time
	tlsDone   bool
	// Calls finished while a frame is handled wait for the frame's own
	// event, so output reads in wire order: the trailers, then the call.
	done         []*grpc.Call
	lingerListed bool // in Decoder.lingering
}

type dirState struct {
	pending []byte // bytes held until the protocol is known
	gapped  bool   // a hole came before or within pending
	h2      *http2.Parser
	hh      h2Handler // h2's handler
	parked  bool      // h2 was given back while the connection was quiet
	// hp is made at the first header block: an idle connection needs
	// none. Until then hpWhole says whether the table is known (empty,
	// from the connection's start) and hpBound holds a bound the peer's
	// SETTINGS gave (hpBounded).
	hp        *hpack.Decoder
	hpWhole   bool
	hpBounded bool
	hpBound   uint32
	tls       *tlshello.Stream
	headers   []hpack.Field
	hdrErr    error
	hasHdr    bool
}

// parser returns the direction's HTTP/2 parser, made again at the frame
// boundary where a quiet connection's was given back.
func (cs *connState) parser(ds *dirState) *http2.Parser {
	if ds.parked {
		ds.parked = false
		ds.h2 = http2.NewParser(&ds.hh, false, true)
		ds.h2.ShareScratch(&cs.d.h2Frame)
	}
	return ds.h2
}

// quiet gives back the HTTP/2 parsers of a silent connection that sit at
// a frame boundary: most of an idle connection's memory after its TCP
// state. The HPACK tables and open calls stay.
func (cs *connState) quiet() {
	if cs.proto != ProtoHTTP2 {
		return
	}
	for dir := range cs.dirs {
		if ds := &cs.dirs[dir]; ds.h2 != nil && ds.h2.Idle() {
			ds.h2, ds.parked = nil, true
			cs.d.stats.Parked++
		}
	}
}

// hpack returns the direction's HPACK decoder, made on first use in the
// state that the connection's history so far left it in.
func (ds *dirState) hpack() *hpack.Decoder {
	if ds.hp == nil {
		ds.hp = hpack.NewDecoder()
		if !ds.hpWhole {
			ds.hp.Reset(false)
		}
		if ds.hpBounded {
			ds.hp.SetMaxTableSizeBound(ds.hpBound)
		}
	}
	return ds.hp
}

// resetHPACK says the encoder's table is no longer known (bytes lost).
func (ds *dirState) resetHPACK() {
	if ds.hp != nil {
		ds.hp.Reset(false)
		return
	}
	ds.hpWhole, ds.hpBounded = false, false
}

// boundHPACK passes on the peer's SETTINGS_HEADER_TABLE_SIZE.
func (ds *dirState) boundHPACK(n uint32) {
	if ds.hp != nil {
		ds.hp.SetMaxTableSizeBound(n)
		return
	}
	ds.hpBounded, ds.hpBound = true, n
}

// calls returns the connection's call tracker, made on first use: an
// idle connection needs none.
func (cs *connState) calls() *grpc.Tracker {
	if cs.tracker == nil {
		cs.tracker = grpc.NewTracker(cs.emitCall, cs.d.opts.KeepBodies)
		if cs.d.pool != nil {
			cs.tracker.UsePool(cs.d.pool)
		}
		cs.tracker.KeepHeaderLists(cs.d.opts.HeaderLists)
	}
	return cs.tracker
}

// maxPending bounds the bytes held per direction while recognising the
// protocol; past it the connection is given up as not HTTP/2.
const maxPending = 64 << 10

func (cs *connState) role(dir tcp.Dir) grpc.Dir {
	if dir == cs.clientDir {
		return grpc.C2S
	}
	return grpc.S2C
}

func (cs *connState) setRole(client tcp.Dir, by RoleBy) {
	cs.clientDir = client
	cs.info.RoleBy = by
	cs.info.Client = cs.tc.Addr(client)
	cs.info.Server = cs.tc.Addr(client.Reverse())
}

// guessRole picks roles from ports until evidence arrives: a hinted port
// is the server's, otherwise the lower port is.
func (cs *connState) guessRole() {
	a, b := cs.tc.A.Port(), cs.tc.B.Port()
	client := tcp.AtoB
	switch {
	case cs.d.ports[a] && !cs.d.ports[b]:
		client = tcp.BtoA
	case cs.d.ports[b]:
	case a < b:
		client = tcp.BtoA
	}
	cs.setRole(client, RoleByPorts)
}

func (cs *connState) data(dir tcp.Dir, ts time.Time, b []byte) {
	ds := &cs.dirs[dir]
	switch cs.proto {
	case ProtoHTTP2:
		cs.parser(ds).Feed(b, ts)
		return
	case ProtoTLS:
		cs.feedTLS(dir, ts, b)
		return
	case ProtoOther:
		return
	}
	if len(ds.pending)+len(b) > maxPending {
		cs.proto = ProtoOther
		cs.info.Proto = ProtoOther
		cs.d.stats.OtherConns++
		cs.dirs[0].pending, cs.dirs[1].pending = nil, nil
		return
	}
	ds.pending = append(ds.pending, b...)
	cs.recognise(dir, ts)
}

// fromStart reports whether direction dir's bytes are known from its
// first byte on.
func (cs *connState) fromStart(dir tcp.Dir) bool {
	return !cs.tc.Midstream(dir) && !cs.dirs[dir].gapped
}

func (cs *connState) hinted() bool {
	return cs.d.ports[cs.tc.A.Port()] || cs.d.ports[cs.tc.B.Port()]
}

// recognise decides what the connection carries, from the bytes held.
func (cs *connState) recognise(dir tcp.Dir, ts time.Time) {
	p := cs.dirs[dir].pending
	if cs.fromStart(dir) {
		n := min(len(p), len(http2.Preface))
		switch {
		case string(p[:n]) == http2.Preface[:n]:
			if n < len(http2.Preface) {
				return // wait for the rest of the preface
			}
			if cs.info.RoleBy != RoleBySYN || cs.clientDir == dir {
				cs.setRole(dir, RoleByPreface)
			}
			cs.startH2(ts)
			return
		case tlshello.Looks(p):
			cs.startTLS(ts)
			return
		case len(p) >= http2.HeaderLen:
			// A server speaking first with SETTINGS (prior knowledge).
			h := http2.ReadHeader(p)
			if h.Type == http2.TypeSettings && http2.Plausible(h, 1<<14) && cs.role(dir) == grpc.S2C {
				cs.startH2(ts)
				return
			}
		default:
			return // too few bytes to tell
		}
		if !cs.hinted() {
			cs.giveUp()
			return
		}
	}
	// Joined mid-way, after a hole, or forced by a port hint: look for
	// frame boundaries or TLS records.
	if tlshello.Looks(p) && !cs.hinted() {
		cs.startTLS(ts)
		return
	}
	if _, ok := http2.FindBoundary(p); ok {
		cs.startH2(ts)
		cs.d.sink.Conn(&ConnEvent{TS: ts, Conn: &cs.info, Kind: ConnH2Detected})
	}
}

func (cs *connState) giveUp() {
	cs.proto, cs.info.Proto = ProtoOther, ProtoOther
	cs.d.stats.OtherConns++
	cs.dirs[0].pending, cs.dirs[1].pending = nil, nil
}

func (cs *connState) startH2(ts time.Time) {
	cs.proto, cs.info.Proto = ProtoHTTP2, ProtoHTTP2
	cs.d.stats.H2Conns++
	for dir := tcp.AtoB; dir <= tcp.BtoA; dir++ {
		ds := &cs.dirs[dir]
		start := cs.fromStart(dir)
		preface := start && cs.role(dir) == grpc.C2S
		ds.hh = h2Handler{cs: cs, dir: dir}
		ds.h2 = http2.NewParser(&ds.hh, preface, start)
		ds.h2.ShareScratch(&cs.d.h2Frame)
		ds.hpWhole = start
	}
	for dir := tcp.AtoB; dir <= tcp.BtoA; dir++ {
		ds := &cs.dirs[dir]
		p := ds.pending
		ds.pending = nil
		if len(p) > 0 {
			ds.h2.Feed(p, ts)
		}
	}
}

func (cs *connState) startTLS(ts time.Time) {
	cs.proto, cs.info.Proto = ProtoTLS, ProtoTLS
	cs.d.stats.TLSConns++
	for dir := tcp.AtoB; dir <= tcp.BtoA; dir++ {
		cs.dirs[dir].tls = &tlshello.Stream{}
		p := cs.dirs[dir].pending
		cs.dirs[dir].pending = nil
		if len(p) > 0 {
			cs.feedTLS(dir, ts, p)
		}
	}
}

func (cs *connState) feedTLS(dir tcp.Dir, ts time.Time, b []byte) {
	ds := &cs.dirs[dir]
	if ds.tls == nil {
		return
	}
	err := ds.tls.Feed(b, func(ev tlshello.Event) {
		switch ev.Kind {
		case tlshello.EventHello:
			if ev.Hello.Type == tlshello.ClientHello {
				cs.tlsStart = ts
				if cs.info.RoleBy == RoleByPorts {
					cs.setRole(dir, RoleByHeaders)
				}
			}
			cs.d.sink.Conn(&ConnEvent{TS: ts, Conn: &cs.info, Kind: ConnTLSHello, Hello: ev.Hello, Dir: cs.role(dir), HasDir: true})
		case tlshello.EventRecord:
			if ev.Record.Type == tlshello.RecordApplicationData && cs.role(dir) == grpc.C2S && !cs.tlsDone && !cs.tlsStart.IsZero() {
				cs.tlsDone = true
				cs.d.sink.Conn(&ConnEvent{TS: ts, Conn: &cs.info, Kind: ConnTLSHandshake, Duration: ts.Sub(cs.tlsStart)})
			}
		}
	})
	if err != nil {
		ds.tls = nil // framing lost; the payload was opaque anyway
	}
}

// skip says whether bytes left out as whole HTTP/2 frames can be passed
// over (http2.Parser.Skip), on a connection not decoded, or before
// anything of the direction is held to recognise it.
func (cs *connState) skip(dir tcp.Dir) bool {
	ds := &cs.dirs[dir]
	switch cs.proto {
	case ProtoHTTP2:
		return ds.parked || ds.h2.Skip()
	case ProtoOther:
		return true
	case ProtoUnknown:
		return len(ds.pending) == 0
	}
	return false
}

func (cs *connState) gap(dir tcp.Dir, ts time.Time, n int) {
	ds := &cs.dirs[dir]
	cs.d.sink.Conn(&ConnEvent{TS: ts, Conn: &cs.info, Kind: ConnGap, Dir: cs.role(dir), HasDir: true, Bytes: n})
	switch cs.proto {
	case ProtoHTTP2:
		cs.parser(ds).Gap(ts)
		ds.resetHPACK()
		if cs.tracker != nil {
			cs.tracker.Lost(cs.role(dir))
		}
	case ProtoTLS:
		ds.tls = nil
	case ProtoUnknown:
		ds.gapped = true
		ds.pending = ds.pending[:0]
	}
}

func (cs *connState) emitCall(c *grpc.Call) {
	cs.d.stats.Calls++
	if c.Status.OK {
		cs.d.stats.CallsByStatus[c.Status.V]++
	}
	cs.done = append(cs.done, c)
}

func (cs *connState) flushCalls() {
	if len(cs.done) == 0 {
		return
	}
	ev := &cs.d.callEv
	for i, c := range cs.done {
		*ev = CallEvent{Conn: &cs.info, Call: c}
		cs.d.sink.Call(ev)
		cs.done[i] = nil
		if cs.d.pool != nil {
			cs.d.pool.Put(c)
		}
	}
	*ev = CallEvent{}
	cs.done = cs.done[:0]
}

// h2Handler receives one direction's frames.
type h2Handler struct {
	cs  *connState
	dir tcp.Dir
}

func (h *h2Handler) Frame(f *http2.Frame, ts time.Time) {
	cs := h.cs
	ds := &cs.dirs[h.dir]
	d := cs.role(h.dir)
	cs.d.stats.Frames++
	known := cs.info.RoleBy != RoleByPorts
	if known && cs.tracker != nil {
		cs.tracker.Activity(f.StreamID, ts)
	}
	switch f.Type {
	case http2.TypeData:
		if known && f.Flags.Has(http2.FlagEndStream) {
			cs.calls().EndStream(d, f.StreamID, ts)
		}
	case http2.TypeRSTStream:
		if known {
			cs.calls().RST(d, f.StreamID, uint32(f.ErrCode), ts)
			cs.d.watchLingering(cs)
		}
	case http2.TypeGoAway:
		cs.d.sink.Conn(&ConnEvent{TS: ts, Conn: &cs.info, Kind: ConnGoAway, Dir: d, HasDir: true,
			LastStream: f.LastStream, ErrCode: f.ErrCode, Debug: string(f.Debug)})
		if known && cs.tracker != nil {
			cs.tracker.GoAway(d, f.LastStream, ts)
		}
	case http2.TypeSettings:
		cs.settings(h.dir, f, ts)
	}
	if want := cs.d.opts.Frames; want != nil && !want(f.Type) {
		if ds.hasHdr {
			ds.headers, ds.hdrErr, ds.hasHdr = nil, nil, false
		}
		cs.flushCalls()
		return
	}
	// Field by field: a composite literal stored through a pointer is a
	// typed copy with write barriers, the dearest step of a frame.
	ev := &cs.d.frameEv
	ev.TS, ev.Conn, ev.Dir, ev.Frame = ts, &cs.info, d, f
	if ds.hasHdr {
		ev.Headers, ev.HeadersErr, ev.HeadersShown = ds.headers, ds.hdrErr, true
		ds.headers, ds.hdrErr, ds.hasHdr = nil, nil, false
	} else if ev.HeadersShown || ev.Headers != nil || ev.HeadersErr != nil {
		ev.Headers, ev.HeadersErr, ev.HeadersShown = nil, nil, false
	}
	cs.d.sink.Frame(ev)
	cs.flushCalls()
}

// settings tracks the SETTINGS exchange: HPACK bounds, and the time from
// the preface to both sides' SETTINGS being acknowledged.
func (cs *connState) settings(dir tcp.Dir, f *http2.Frame, ts time.Time) {
	r := cs.role(dir)
	if f.Flags.Has(http2.FlagAck) {
		cs.acked[r.Reverse()] = true
		if cs.acked[0] && cs.acked[1] && !cs.readySent && !cs.prefaceTS.IsZero() {
			cs.readySent = true
			cs.d.sink.Conn(&ConnEvent{TS: ts, Conn: &cs.info, Kind: ConnH2Ready, Duration: ts.Sub(cs.prefaceTS)})
		}
		return
	}
	for _, s := range f.Settings {
		if s.ID == http2.SettingHeaderTableSize {
			// The sender's decoder limits the other direction's encoder.
			cs.dirs[dir.Reverse()].boundHPACK(s.Value)
		}
	}
}

func (h *h2Handler) DataChunk(fh *http2.FrameHeader, b []byte, ts time.Time) {
	if h.cs.info.RoleBy == RoleByPorts {
		return
	}
	h.cs.calls().Data(h.cs.role(h.dir), fh.StreamID, b, ts)
}

func (h *h2Handler) HeaderBlock(first *http2.FrameHeader, block []byte, ts time.Time) {
	cs := h.cs
	ds := &cs.dirs[h.dir]
	hp := ds.hpack()
	// gRPC sends the same few header blocks again and again: one of
	// known indexed fields alone decodes as it did while the table stays.
	fields, recalled := hp.Recall(block)
	var err error
	if !recalled {
		scratch := cs.d.scratch[:0]
		err = hp.Decode(block, func(f hpack.Field) {
			if f.Rep != hpack.RepSizeUpdate {
				scratch = append(scratch, f)
				if !f.Known() {
					cs.d.stats.HPACKUnknown++
				}
			}
		})
		if err != nil {
			// Fields after the error are missing: an unknown entry at the
			// end keeps anything from being read as absent.
			scratch = append(scratch, hpack.Field{})
		}
		hp.Remember(scratch)
		cs.d.scratch = scratch
		fields = scratch
	}
	// The list lives on in the call; with ReuseCalls the call copies it
	// and the frame event may use the scratch (or recalled) list.
	if cs.d.pool == nil {
		fields = cs.d.fieldsCopy(fields)
	}
	if err != nil {
		cs.d.stats.HPACKErrors++
		cs.d.sink.Conn(&ConnEvent{TS: ts, Conn: &cs.info, Kind: ConnDecodeError, Dir: cs.role(h.dir), HasDir: true, Err: "HPACK: " + err.Error()})
	}
	ds.headers, ds.hdrErr, ds.hasHdr = fields, err, true
	if first.Type != http2.TypeHeaders {
		return // PUSH_PROMISE: gRPC does not use server push
	}
	cs.learnRole(h.dir, fields, ts)
	if cs.info.RoleBy == RoleByPorts {
		return
	}
	cs.calls().Headers(cs.role(h.dir), first.StreamID, fields, first.Flags.Has(http2.FlagEndStream), ts)
}

// learnRole settles client and server from a request or response.
func (cs *connState) learnRole(dir tcp.Dir, fs []hpack.Field, ts time.Time) {
	if cs.info.RoleBy != RoleByPorts {
		return
	}
	for i := range fs {
		f := &fs[i]
		if !f.NameKnown {
			continue
		}
		switch f.Name {
		case ":method", ":path", ":scheme", ":authority":
			cs.setRole(dir, RoleByHeaders)
		case ":status":
			cs.setRole(dir.Reverse(), RoleByHeaders)
		default:
			continue
		}
		cs.d.sink.Conn(&ConnEvent{TS: ts, Conn: &cs.info, Kind: ConnRoleCorrected})
		return
	}
}

func (h *h2Handler) HeadersLost(ts time.Time) {
	h.cs.d.stats.HeadersLost++
	h.cs.dirs[h.dir].resetHPACK()
}

func (h *h2Handler) Preface(ts time.Time) {
	cs := h.cs
	cs.prefaceTS = ts
	cs.d.sink.Conn(&ConnEvent{TS: ts, Conn: &cs.info, Kind: ConnH2Preface, Dir: grpc.C2S, HasDir: true})
}

func (h *h2Handler) Synced(skipped int, ts time.Time) {
	h.cs.d.stats.Resyncs++
	h.cs.d.stats.SkippedBytes += uint64(skipped)
}

func (h *h2Handler) Error(err error, ts time.Time) {
	h.cs.d.stats.FrameErrors++
	h.cs.d.sink.Conn(&ConnEvent{TS: ts, Conn: &h.cs.info, Kind: ConnDecodeError, Dir: h.cs.role(h.dir), HasDir: true, Err: err.Error()})
}
