package filter

import (
	"net/netip"
	"testing"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/grpc"
	"github.com/hoptap/hoptap/decoder/hpack"
	"github.com/hoptap/hoptap/decoder/http2"
)

type collect struct {
	frames, calls, conns int
}

func (c *collect) Frame(*decoder.FrameEvent) { c.frames++ }
func (c *collect) Call(*decoder.CallEvent)   { c.calls++ }
func (c *collect) Conn(*decoder.ConnEvent)   { c.conns++ }

var conn = &decoder.Conn{ID: 1,
	Client: netip.MustParseAddrPort("10.0.0.1:40000"),
	Server: netip.MustParseAddrPort("[2001:db8::1]:50051")}

func call(method string, known bool, status int64) *decoder.CallEvent {
	return &decoder.CallEvent{Conn: conn, Call: &grpc.Call{Stream: 3,
		Method: grpc.Str{V: method, OK: known}, Status: grpc.Int{V: status, OK: true}}}
}

func TestCalls(t *testing.T) {
	cases := []struct {
		name string
		spec Spec
		ev   *decoder.CallEvent
		want bool
	}{
		{"no filter", Spec{}, call("/a.B/C", true, 0), true},
		{"glob across slash", Spec{Methods: []string{"*/C"}}, call("/a.B/C", true, 0), true},
		{"service glob", Spec{Methods: []string{"/a.B/*"}}, call("/a.B/C", true, 0), true},
		{"leading slash optional", Spec{Methods: []string{"a.B/C"}}, call("/a.B/C", true, 0), true},
		{"other method", Spec{Methods: []string{"*/D"}}, call("/a.B/C", true, 0), false},
		{"regexp metacharacters are literal", Spec{Methods: []string{"/a.B/C+"}}, call("/a.B/C", true, 0), false},
		{"unknown method never matches", Spec{Methods: []string{"*"}}, call("", false, 0), false},
		{"status by name", Spec{Statuses: []string{"unavailable"}}, call("/a.B/C", true, 14), true},
		{"status list", Spec{Statuses: []string{"0,14"}}, call("/a.B/C", true, 14), true},
		{"status mismatch", Spec{Statuses: []string{"OK"}}, call("/a.B/C", true, 14), false},
		{"host v4", Spec{Hosts: []string{"10.0.0.1"}}, call("/a.B/C", true, 0), true},
		{"host v6 cidr", Spec{Hosts: []string{"2001:db8::/32"}}, call("/a.B/C", true, 0), true},
		{"host other", Spec{Hosts: []string{"10.0.0.2"}}, call("/a.B/C", true, 0), false},
		{"port either end", Spec{Ports: []uint16{40000}}, call("/a.B/C", true, 0), true},
		{"stream", Spec{Streams: []uint32{5}}, call("/a.B/C", true, 0), false},
	}
	for _, c := range cases {
		var sink collect
		f, err := New(c.spec, &sink)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		f.Call(c.ev)
		if got := sink.calls == 1; got != c.want {
			t.Errorf("%s: passed=%v, want %v", c.name, got, c.want)
		}
	}
}

// Frames of a stream are selected by the method its request named.
func TestFramesFollowTheirMethod(t *testing.T) {
	var sink collect
	f, err := New(Spec{Methods: []string{"*/Get"}}, &sink)
	if err != nil {
		t.Fatal(err)
	}
	req := &http2.Frame{FrameHeader: http2.FrameHeader{Type: http2.TypeHeaders, StreamID: 1}}
	data := &http2.Frame{FrameHeader: http2.FrameHeader{Type: http2.TypeData, StreamID: 1}}
	other := &http2.Frame{FrameHeader: http2.FrameHeader{Type: http2.TypeData, StreamID: 3}}
	f.Frame(&decoder.FrameEvent{Conn: conn, Dir: grpc.C2S, Frame: req, HeadersShown: true,
		Headers: []hpack.Field{{Name: ":path", Value: "/s.S/Get", NameKnown: true, ValueKnown: true}}})
	f.Frame(&decoder.FrameEvent{Conn: conn, Dir: grpc.S2C, Frame: data})
	f.Frame(&decoder.FrameEvent{Conn: conn, Dir: grpc.S2C, Frame: other})
	f.Conn(&decoder.ConnEvent{Conn: conn})
	if sink.frames != 2 || sink.conns != 0 {
		t.Fatalf("passed %d frames and %d conn events, want 2 and 0", sink.frames, sink.conns)
	}
}

func TestBadSpecs(t *testing.T) {
	for _, s := range []Spec{{Statuses: []string{"NOPE"}}, {Hosts: []string{"not-an-ip"}}} {
		if _, err := New(s, &collect{}); err == nil {
			t.Errorf("%+v: no error", s)
		}
	}
	if _, err := ParsePorts([]string{"70000"}); err == nil {
		t.Error("port 70000 accepted")
	}
}
