package capture

import (
	"net/netip"
	"testing"
	"time"

	"github.com/hoptap/hoptap/bpf"
	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/grpc"
	"github.com/hoptap/hoptap/decoder/http2"
)

// viewSink keeps what the views hand on, times and observers included.
type viewSink struct {
	calls  []grpc.Call
	callOn []uint64
	conns  []decoder.ConnEvent
	connOn []uint64
	frames []decoder.FrameEvent
}

func (s *viewSink) Frame(e *decoder.FrameEvent) {
	fe := *e // valid only during the call: kept as a copy
	f := *e.Frame
	fe.Conn, fe.Frame = nil, &f
	s.frames = append(s.frames, fe)
}

func (s *viewSink) Call(e *decoder.CallEvent) {
	s.calls = append(s.calls, *e.Call)
	s.callOn = append(s.callOn, e.Conn.Observer)
}

func (s *viewSink) Conn(e *decoder.ConnEvent) {
	ce := *e
	ce.Conn = nil
	s.conns = append(s.conns, ce)
	s.connOn = append(s.connOn, e.Conn.Observer)
}

var (
	vCli = netip.MustParseAddrPort("198.18.0.3:40000")
	vSrv = netip.MustParseAddrPort("198.18.0.2:10000")
	vT0  = time.Unix(1_800_000_000, 0)
)

// pairBed is a session whose directory knows both ends of vCli→vSrv
// (cookies 1 and 2), with views writing to a sink.
func pairBed(t *testing.T, bothEnds bool) (*session, *views, *viewSink, *decoder.Conn) {
	t.Helper()
	s := &session{}
	out := &viewSink{}
	s.views = newViews(s, nil, out, func(ty http2.Type) bool { return ty == http2.TypeRSTStream })
	s.views.now = vT0
	s.locals.observe(&bpf.Event{Cookie: 1, Cgroup: 10, Dir: bpf.Egress}, &tcpInfo{ok: true, src: vCli, dst: vSrv})
	if bothEnds {
		s.locals.observe(&bpf.Event{Cookie: 2, Cgroup: 20, Dir: bpf.Ingress}, &tcpInfo{ok: true, src: vCli, dst: vSrv})
	}
	return s, s.views, out, &decoder.Conn{ID: 7, Client: vCli, Server: vSrv}
}

func us(n int) time.Duration { return time.Duration(n) * time.Microsecond }

func TestViewsTimesAtEachEnd(t *testing.T) {
	s, v, out, c := pairBed(t, true)
	start, end := vT0.Add(us(100)), vT0.Add(us(900))
	v.Frame(&decoder.FrameEvent{TS: start, Conn: c, Dir: grpc.C2S, Frame: &http2.Frame{FrameHeader: http2.FrameHeader{Type: http2.TypeHeaders, Flags: http2.FlagEndHeaders, StreamID: 1}}})
	v.book.add(vCli, vSrv, start.UnixNano(), start.Add(us(5)).UnixNano())
	v.Call(&decoder.CallEvent{Conn: c, Call: &grpc.Call{Stream: 1, Start: start, FirstResp: vT0.Add(us(800)), EndTS: end, End: grpc.EndTrailers,
		Method: grpc.Str{V: "/grpc.testing.TestService/UnaryCall", OK: true}, Status: grpc.Int{V: 0, OK: true}}})
	v.book.add(vSrv, vCli, end.UnixNano(), end.Add(us(7)).UnixNano())
	if len(out.calls) != 0 {
		t.Fatalf("views given before the batch ended: %d", len(out.calls))
	}
	s.flushViews(vT0.Add(time.Millisecond), false, true)
	if len(out.calls) != 2 {
		t.Fatalf("%d views, want the client's and the server's", len(out.calls))
	}
	cli, srv := out.calls[0], out.calls[1]
	if out.callOn[0] != s.locals.byTuple[tupleOf(vCli, vSrv)] || out.callOn[1] != s.locals.byTuple[tupleOf(vSrv, vCli)] || out.callOn[0] == out.callOn[1] {
		t.Errorf("observers %v, want the client's end then the server's", out.callOn)
	}
	// The client sent the request and received the trailers; the
	// server the other way round.
	if !cli.Start.Equal(start) || !cli.EndTS.Equal(end.Add(us(7))) {
		t.Errorf("client view %v → %v, want %v → %v", cli.Start, cli.EndTS, start, end.Add(us(7)))
	}
	if !srv.Start.Equal(start.Add(us(5))) || !srv.EndTS.Equal(end) {
		t.Errorf("server view %v → %v, want %v → %v", srv.Start, srv.EndTS, start.Add(us(5)), end)
	}
	if !cli.FirstResp.IsZero() {
		t.Errorf("client view FirstResp %v: views give a call's ends only", cli.FirstResp)
	}
	for _, c := range out.calls {
		if c.Method.V != "/grpc.testing.TestService/UnaryCall" || !c.Status.OK || c.End != grpc.EndTrailers {
			t.Errorf("view lost the call's fields: %+v %+v %v", c.Method, c.Status, c.End)
		}
	}
	if hop := cli.EndTS.Sub(cli.Start) - srv.EndTS.Sub(srv.Start); hop != us(12) {
		t.Errorf("hop %v, want the 12µs the segments spent between the sockets", hop)
	}
	if v.unknown != 0 {
		t.Errorf("%d times unknown", v.unknown)
	}
}

func TestViewsWaitOneBatchForAStamp(t *testing.T) {
	s, v, out, c := pairBed(t, true)
	start, end := vT0.Add(us(100)), vT0.Add(us(900))
	v.book.add(vCli, vSrv, start.UnixNano(), start.Add(us(5)).UnixNano())
	v.Call(&decoder.CallEvent{Conn: c, Call: &grpc.Call{Stream: 1, Start: start, EndTS: end, End: grpc.EndTrailers}})
	v.Conn(&decoder.ConnEvent{TS: end.Add(us(50)), Conn: c, Kind: decoder.ConnClose, Reason: "fin"})
	s.flushViews(vT0.Add(time.Millisecond), false, true)
	if len(out.calls)+len(out.conns) != 0 {
		t.Fatalf("given before the trailers' stamp came: %d calls, %d conn events", len(out.calls), len(out.conns))
	}
	// The stamp is in the next batch.
	v.book.add(vSrv, vCli, end.UnixNano(), end.Add(us(9)).UnixNano())
	s.flushViews(vT0.Add(2*time.Millisecond), false, true)
	if len(out.calls) != 2 || !out.calls[0].EndTS.Equal(end.Add(us(9))) {
		t.Fatalf("calls %+v, want both views with the client's end at the stamp", out.calls)
	}
	// The close waited behind the call, in order, once per end.
	if len(out.conns) != 2 || out.conns[0].Kind != decoder.ConnClose {
		t.Fatalf("conn events %+v, want the close at both ends", out.conns)
	}
}

func TestViewsMissingStampIsUnknown(t *testing.T) {
	s, v, out, c := pairBed(t, true)
	start, end := vT0.Add(us(100)), vT0.Add(us(900))
	v.book.add(vCli, vSrv, start.UnixNano(), start.Add(us(5)).UnixNano())
	v.Call(&decoder.CallEvent{Conn: c, Call: &grpc.Call{Stream: 1, Start: start, EndTS: end, End: grpc.EndTrailers}})
	for i := range waitBatches {
		s.flushViews(vT0.Add(time.Duration(i+1)*time.Millisecond), false, true)
		if len(out.calls) != 0 {
			t.Fatalf("given after %d batches, want a wait of %d", i+1, waitBatches)
		}
	}
	s.flushViews(vT0.Add(time.Duration(waitBatches+1)*time.Millisecond), false, true)
	if len(out.calls) != 2 {
		t.Fatalf("%d views after waiting %d batches, want 2", len(out.calls), waitBatches)
	}
	if !out.calls[0].EndTS.IsZero() {
		t.Errorf("client view's end %v without its stamp: the sender's time passed off as the receiver's", out.calls[0].EndTS)
	}
	if !out.calls[1].EndTS.Equal(end) || !out.calls[1].Start.Equal(start.Add(us(5))) {
		t.Errorf("server view %v → %v, want its own times", out.calls[1].Start, out.calls[1].EndTS)
	}
	if v.unknown != 1 || s.sum.ViewTimesUnknown != 1 {
		t.Errorf("unknown %d (summary %d), want 1", v.unknown, s.sum.ViewTimesUnknown)
	}
}

// A long call's request arrival outlives the book: it was pinned when
// its headers were decoded.
func TestViewsPinLongCallStart(t *testing.T) {
	s, v, out, c := pairBed(t, true)
	start := vT0.Add(us(100))
	v.Frame(&decoder.FrameEvent{TS: start, Conn: c, Dir: grpc.C2S, Frame: &http2.Frame{FrameHeader: http2.FrameHeader{Type: http2.TypeHeaders, Flags: http2.FlagEndHeaders, StreamID: 5}}})
	v.book.add(vCli, vSrv, start.UnixNano(), start.Add(us(5)).UnixNano())
	s.flushViews(vT0.Add(time.Millisecond), false, true)
	// Minutes of other traffic go through the book, batch after batch.
	for i := range 2 * stampGens * stampGenFull {
		ts := vT0.Add(time.Second + time.Duration(i)*time.Microsecond).UnixNano()
		v.book.add(vCli, vSrv, ts, ts+1000)
		if i%300 == 0 {
			v.book.rotate()
		}
	}
	if _, ok := v.book.get(vCli, vSrv, start.UnixNano()); ok {
		t.Fatal("the book still holds the request's stamp: the test shows nothing")
	}
	end := vT0.Add(3 * time.Minute)
	v.Call(&decoder.CallEvent{Conn: c, Call: &grpc.Call{Stream: 5, Start: start, EndTS: end, End: grpc.EndTrailers}})
	v.book.add(vSrv, vCli, end.UnixNano(), end.Add(us(3)).UnixNano())
	s.flushViews(end.Add(time.Millisecond), false, true)
	if len(out.calls) != 2 || !out.calls[1].Start.Equal(start.Add(us(5))) {
		t.Fatalf("server view %+v, want its start at the pinned arrival", out.calls)
	}
	if len(v.conns[c.ID].pins) != 0 {
		t.Errorf("pins left after the call: %v", v.conns[c.ID].pins)
	}
}

// With one end here every observation is that end's: events go on at
// once, untouched, under its observer.
func TestViewsOneEnd(t *testing.T) {
	s, v, out, c := pairBed(t, false)
	start, end := vT0.Add(us(100)), vT0.Add(us(900))
	v.Call(&decoder.CallEvent{Conn: c, Call: &grpc.Call{Stream: 1, Start: start, EndTS: end, End: grpc.EndTrailers}})
	if len(out.calls) != 1 || !out.calls[0].Start.Equal(start) || !out.calls[0].EndTS.Equal(end) {
		t.Fatalf("calls %+v, want one, as decoded", out.calls)
	}
	if out.callOn[0] != s.locals.byTuple[tupleOf(vCli, vSrv)] {
		t.Errorf("observer %d, want the client's end", out.callOn[0])
	}
	if len(v.q) != 0 {
		t.Errorf("%d events wait", len(v.q))
	}
}

func TestViewsHandshakes(t *testing.T) {
	s, v, out, c := pairBed(t, true)
	syn, synack, ack := vT0, vT0.Add(us(10)), vT0.Add(us(20))
	v.book.add(vCli, vSrv, syn.UnixNano(), syn.Add(us(2)).UnixNano())
	v.book.add(vSrv, vCli, synack.UnixNano(), synack.Add(us(3)).UnixNano())
	v.book.add(vCli, vSrv, ack.UnixNano(), ack.Add(us(3)).UnixNano())
	v.Conn(&decoder.ConnEvent{TS: ack, Conn: c, Kind: decoder.ConnTCPHandshake, SYNToSYNACK: synack.Sub(syn), SYNACKToACK: ack.Sub(synack)})
	preface, settingsAck := vT0.Add(us(30)), vT0.Add(us(70))
	v.book.add(vCli, vSrv, preface.UnixNano(), preface.Add(us(4)).UnixNano())
	v.book.add(vSrv, vCli, settingsAck.UnixNano(), settingsAck.Add(us(6)).UnixNano())
	v.Conn(&decoder.ConnEvent{TS: settingsAck, Conn: c, Kind: decoder.ConnH2Ready, Duration: settingsAck.Sub(preface)})
	s.flushViews(vT0.Add(time.Millisecond), false, true)
	if len(out.conns) != 4 {
		t.Fatalf("%d conn events, want 2 per end", len(out.conns))
	}
	cli, srv := out.conns[0], out.conns[1]
	if cli.SYNToSYNACK != us(13) || cli.SYNACKToACK != us(7) {
		t.Errorf("client handshake %v + %v, want 13µs + 7µs", cli.SYNToSYNACK, cli.SYNACKToACK)
	}
	if srv.SYNToSYNACK != us(8) || srv.SYNACKToACK != us(13) {
		t.Errorf("server handshake %v + %v, want 8µs + 13µs", srv.SYNToSYNACK, srv.SYNACKToACK)
	}
	// The last SETTINGS ACK was the server's: the client saw it 6µs
	// later; the server saw the preface 4µs late.
	if d := out.conns[2].Duration; d != us(46) {
		t.Errorf("client HTTP/2 handshake %v, want 46µs", d)
	}
	if d := out.conns[3].Duration; d != us(36) {
		t.Errorf("server HTTP/2 handshake %v, want 36µs", d)
	}
}

func TestViewsRSTStreamFrames(t *testing.T) {
	s, v, out, c := pairBed(t, true)
	ts := vT0.Add(us(100))
	v.Frame(&decoder.FrameEvent{TS: ts, Conn: c, Dir: grpc.S2C, Frame: &http2.Frame{FrameHeader: http2.FrameHeader{Type: http2.TypeRSTStream, StreamID: 3}, ErrCode: http2.ErrCode(8), Data: []byte("x")}})
	v.Frame(&decoder.FrameEvent{TS: ts, Conn: c, Dir: grpc.S2C, Frame: &http2.Frame{FrameHeader: http2.FrameHeader{Type: http2.TypePing}}})
	v.book.add(vSrv, vCli, ts.UnixNano(), ts.Add(us(2)).UnixNano())
	s.flushViews(vT0.Add(time.Millisecond), false, true)
	if len(out.frames) != 2 {
		t.Fatalf("%d frames, want the RST_STREAM at both ends (no PING)", len(out.frames))
	}
	if f := out.frames[0]; f.Frame.ErrCode != http2.ErrCode(8) || f.Frame.Data != nil || !f.TS.Equal(ts.Add(us(2))) {
		t.Errorf("client's RST_STREAM %+v at %v", f.Frame, f.TS)
	}
	if !out.frames[1].TS.Equal(ts) {
		t.Errorf("server's RST_STREAM at %v, want %v", out.frames[1].TS, ts)
	}
}

func TestStampBookKeepsFreshStamps(t *testing.T) {
	var b stampBook
	if _, ok := b.get(vCli, vSrv, 1); ok {
		t.Fatal("an empty book found a stamp")
	}
	// More stamps than a batch holds (a table fills and the next
	// starts), then the first is looked up.
	base := vT0.UnixNano()
	b.add(vCli, vSrv, base, base+500)
	for i := 1; i <= 2048; i++ {
		ts := base + int64(i)*997
		b.add(vSrv, vCli, ts, ts+100)
	}
	if in, ok := b.get(vCli, vSrv, base); !ok || in != base+500 {
		t.Errorf("first stamp after 2048 more: %d %v", in, ok)
	}
	if _, ok := b.get(vSrv, vCli, base); ok {
		t.Error("a stamp found under the other direction")
	}
	// Batches later it is forgotten, as documented.
	for range stampGens {
		b.rotate()
	}
	if _, ok := b.get(vCli, vSrv, base); ok {
		t.Error("a stamp outlived every table")
	}
	// A delay no twin has is not kept.
	b.add(vCli, vSrv, base+1, base)
	if _, ok := b.get(vCli, vSrv, base+1); ok {
		t.Error("an arrival before the departure was kept")
	}
}

// A client dialled a cluster IP that was translated to the server's pod:
// each socket's packets are decoded as a connection of their own. out
// (the watchers) sees the client's only, the recorder both.
func TestViewsTranslatedPairShownOnce(t *testing.T) {
	s := &session{}
	out, rec := &viewSink{}, &viewSink{}
	s.views = newViews(s, out, rec, nil)
	clusterIP := netip.MustParseAddrPort("198.19.0.10:10000")
	s.locals.observe(&bpf.Event{Cookie: 1, Cgroup: 10, Dir: bpf.Egress}, &tcpInfo{ok: true, src: vCli, dst: clusterIP})
	s.locals.observe(&bpf.Event{Cookie: 2, Cgroup: 20, Dir: bpf.Ingress}, &tcpInfo{ok: true, src: vCli, dst: vSrv})
	cliSide := &decoder.Conn{ID: 1, Client: vCli, Server: clusterIP}
	srvSide := &decoder.Conn{ID: 2, Client: vCli, Server: vSrv}
	for _, c := range []*decoder.Conn{cliSide, srvSide} {
		s.views.Call(&decoder.CallEvent{Conn: c, Call: &grpc.Call{Stream: 1, Start: vT0, EndTS: vT0.Add(us(50)), End: grpc.EndTrailers}})
	}
	if len(out.calls) != 1 || out.callOn[0] != 0 {
		t.Fatalf("out got %d calls (observers %v), want the client side's, as decoded", len(out.calls), out.callOn)
	}
	if len(rec.calls) != 2 || rec.callOn[0] != s.locals.byTuple[tupleOf(vCli, clusterIP)] || rec.callOn[1] != s.locals.byTuple[tupleOf(vSrv, vCli)] {
		t.Errorf("views %v, want the client's then the server's", rec.callOn)
	}
}

// However many events a batch queues, they stay bounded: past the
// bound, those waiting go at once with their missing times unknown.
func TestViewsQueueBounded(t *testing.T) {
	_, v, out, c := pairBed(t, true)
	for i := range maxQueued + 10 {
		ts := vT0.Add(time.Duration(i) * time.Microsecond)
		v.Call(&decoder.CallEvent{Conn: c, Call: &grpc.Call{Stream: uint32(2*i + 1), Start: ts, EndTS: ts.Add(us(1)), End: grpc.EndTrailers}})
	}
	if len(v.q) > maxQueued {
		t.Fatalf("%d events wait, bound %d", len(v.q), maxQueued)
	}
	if len(out.calls) != 2*maxQueued || v.unknown == 0 {
		t.Errorf("%d views given early (%d times unknown), want both views of the first %d calls", len(out.calls), v.unknown, maxQueued)
	}
}

// activeSink is a watchers' sink that has watchers while on is set.
type activeSink struct {
	viewSink
	on bool
}

func (a *activeSink) Active() bool { return a.on }

// TestViewsWantFrames: the decoder is asked for header blocks (a
// request's start), the frames the views were told to want, and every
// frame while, and only while, someone watches, as the watchers' own
// choice allows.
func TestViewsWantFrames(t *testing.T) {
	rstOnly := func(ty http2.Type) bool { return ty == http2.TypeRSTStream }
	quiet := newViews(&session{}, nil, &viewSink{}, rstOnly).wantsFrame(nil)
	for ty, want := range map[http2.Type]bool{http2.TypeHeaders: true, http2.TypeContinuation: true,
		http2.TypeRSTStream: true, http2.TypePing: false, http2.TypeWindowUpdate: false, http2.TypeData: false} {
		if got := quiet(ty); got != want {
			t.Errorf("no watchers: wants %v = %v, want %v", ty, got, want)
		}
	}
	w := &activeSink{}
	v := newViews(&session{}, w, &viewSink{}, rstOnly)
	all, noPings := v.wantsFrame(nil), v.wantsFrame(func(ty http2.Type) bool { return ty != http2.TypePing })
	if all(http2.TypePing) || all(http2.TypeData) {
		t.Error("frames wanted while nobody watches")
	}
	w.on = true
	if !all(http2.TypePing) || !all(http2.TypeData) || !noPings(http2.TypeData) {
		t.Error("a watched frame not wanted")
	}
	if noPings(http2.TypePing) {
		t.Error("a frame the watchers' choice excludes is wanted")
	}
}
