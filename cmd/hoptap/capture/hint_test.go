package capture

import (
	"strings"
	"testing"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/grpc"
)

// countSink counts what reaches it.
type countSink struct{ frames, calls, conns int }

func (s *countSink) Frame(*decoder.FrameEvent) { s.frames++ }
func (s *countSink) Call(*decoder.CallEvent)   { s.calls++ }
func (s *countSink) Conn(*decoder.ConnEvent)   { s.conns++ }

func TestMidwayHint(t *testing.T) {
	var out strings.Builder
	next := &countSink{}
	h := newMidwayHint(next, &out)
	conn := func(id uint64) *decoder.Conn { return &decoder.Conn{ID: id} }
	open, closed, fresh := conn(1), conn(2), conn(3)
	unknown := &grpc.Call{}
	known := &grpc.Call{Method: grpc.Str{V: "/svc/M", OK: true}}
	call := func(c *decoder.Conn, call *grpc.Call) { h.Call(&decoder.CallEvent{Conn: c, Call: call}) }

	h.Conn(&decoder.ConnEvent{Conn: open, Kind: decoder.ConnOpen})
	h.Conn(&decoder.ConnEvent{Conn: closed, Kind: decoder.ConnOpen})
	h.Conn(&decoder.ConnEvent{Conn: closed, Kind: decoder.ConnClose})
	call(fresh, unknown) // a connection seen from its start: not this hint's case
	call(closed, unknown)
	call(open, known)
	if out.Len() != 0 {
		t.Fatalf("hint before a mid-way connection's call showed ?: %q", out.String())
	}
	call(open, unknown)
	call(open, unknown)
	if n := strings.Count(out.String(), "hoptap: note: "); n != 1 || !strings.Contains(out.String(), "open before the capture began") {
		t.Fatalf("want the hint once, got %q", out.String())
	}
	if next.calls != 5 || next.conns != 3 {
		t.Fatalf("events not all passed on: %+v", next)
	}
}
