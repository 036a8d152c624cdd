package grpc

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/hoptap/hoptap/decoder/hpack"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// hf builds a known header field list from name/value pairs.
func hf(kv ...string) []hpack.Field {
	var fs []hpack.Field
	for i := 0; i < len(kv); i += 2 {
		fs = append(fs, hpack.Field{Name: kv[i], Value: kv[i+1], NameKnown: true, ValueKnown: true})
	}
	return fs
}

// unknownField is a field whose dynamic table entry was never seen.
var unknownField = hpack.Field{Rep: hpack.RepIndexed, Index: 70}

// unknownValue is a field whose name is known but whose value is not.
func unknownValue(name string) hpack.Field {
	return hpack.Field{Name: name, NameKnown: true, Rep: hpack.RepIncremental}
}

func request(path string) []hpack.Field {
	return hf(":method", "POST", ":scheme", "http", ":path", path, ":authority", "svc:50051",
		"content-type", "application/grpc", "user-agent", "grpc-go/1.85.0", "te", "trailers", "grpc-timeout", "1S")
}

var (
	resp200 = hf(":status", "200", "content-type", "application/grpc")
	trailOK = hf("grpc-status", "0")
)

type calls struct {
	t  *testing.T
	tr *Tracker
	// got holds emitted calls in order.
	got []*Call
}

func newCalls(t *testing.T, keep bool) *calls {
	c := &calls{t: t}
	c.tr = NewTracker(func(call *Call) { c.got = append(c.got, call) }, keep)
	return c
}

func (c *calls) only() *Call {
	c.t.Helper()
	if len(c.got) != 1 {
		c.t.Fatalf("%d calls emitted, want 1", len(c.got))
	}
	return c.got[0]
}

func wantInt(t *testing.T, what string, got Int, v int64) {
	t.Helper()
	if !got.OK || got.V != v {
		t.Errorf("%s = %+v, want %d", what, got, v)
	}
}

func wantUnknown(t *testing.T, what string, ok bool) {
	t.Helper()
	if ok {
		t.Errorf("%s is known; want unknown", what)
	}
}

func TestUnary(t *testing.T) {
	c := newCalls(t, true)
	tr := c.tr
	tr.Headers(C2S, 1, request("/pkg.Svc/Get"), false, at(0))
	req := wire(msg{false, []byte("request")})
	tr.Data(C2S, 1, req[:3], at(1))
	tr.Data(C2S, 1, req[3:], at(2))
	tr.EndStream(C2S, 1, at(2))
	if tr.Open() != 1 || len(c.got) != 0 {
		t.Fatalf("open %d, emitted %d", tr.Open(), len(c.got))
	}
	tr.Headers(S2C, 1, resp200, false, at(5))
	tr.Data(S2C, 1, wire(msg{true, []byte("response!")}), at(6))
	tr.Headers(S2C, 1, hf("grpc-status", "0", "grpc-message", "all%20good"), true, at(8))
	call := c.only()
	if tr.Open() != 0 {
		t.Errorf("open %d after the call ended", tr.Open())
	}
	if call.Stream != 1 || call.End != EndTrailers || call.Method != (Str{"/pkg.Svc/Get", true}) ||
		call.Authority != (Str{"svc:50051", true}) || call.ContentType != (Str{"application/grpc", true}) ||
		call.UserAgent != (Str{"grpc-go/1.85.0", true}) || call.Timeout != (Str{"1S", true}) {
		t.Errorf("call %+v", call)
	}
	wantInt(t, "HTTPStatus", call.HTTPStatus, 200)
	wantInt(t, "Status", call.Status, 0)
	if call.StatusFromHTTP || call.Message != (Str{"all good", true}) {
		t.Errorf("StatusFromHTTP=%v Message=%+v", call.StatusFromHTTP, call.Message)
	}
	wantInt(t, "ReqMsgs", call.ReqMsgs, 1)
	wantInt(t, "RespMsgs", call.RespMsgs, 1)
	wantInt(t, "ReqBytes", call.ReqBytes, 7)
	wantInt(t, "RespBytes", call.RespBytes, 9)
	if d, ok := call.Duration(); !ok || d != 8*time.Millisecond {
		t.Errorf("Duration = %v, %v", d, ok)
	}
	if d, ok := call.TTFB(); !ok || d != 5*time.Millisecond {
		t.Errorf("TTFB = %v, %v", d, ok)
	}
	if len(call.Messages) != 2 {
		t.Fatalf("%d message records", len(call.Messages))
	}
	m0, m1 := call.Messages[0], call.Messages[1]
	if m0.Dir != C2S || m0.TS != at(2) || m0.Compressed || m0.Length != 7 || string(m0.Body) != "request" {
		t.Errorf("request record %+v", m0)
	}
	if m1.Dir != S2C || m1.TS != at(6) || !m1.Compressed || m1.Length != 9 || string(m1.Body) != "response!" {
		t.Errorf("response record %+v", m1)
	}
	if svc, m, ok := call.ServiceMethod(); !ok || svc != "pkg.Svc" || m != "Get" {
		t.Errorf("ServiceMethod = %q %q %v", svc, m, ok)
	}
}

func TestStreaming(t *testing.T) {
	tests := []struct {
		name          string
		reqs, resps   int
		interleave    bool
		reqEndsByData bool
	}{
		{"client streaming", 5, 1, false, true},
		{"server streaming", 1, 5, false, true},
		{"bidi", 4, 4, true, false},
		{"bidi, no messages", 0, 0, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCalls(t, false)
			tr := c.tr
			tr.Headers(C2S, 3, request("/pkg.Svc/Stream"), false, at(0))
			ms := 1
			sendReq := func(i int) {
				b := wire(msg{false, make([]byte, 10+i)}, msg{false, nil})
				// Split so that a prefix spans two DATA frames.
				tr.Data(C2S, 3, b[:len(b)-2], at(ms))
				tr.Data(C2S, 3, b[len(b)-2:], at(ms))
				ms++
			}
			sendResp := func(i int) {
				tr.Data(S2C, 3, wire(msg{false, make([]byte, 100*i)}), at(ms))
				ms++
			}
			if !tt.interleave {
				for i := range tt.reqs {
					sendReq(i)
				}
				tr.EndStream(C2S, 3, at(ms))
				tr.Headers(S2C, 3, resp200, false, at(ms))
				for i := range tt.resps {
					sendResp(i)
				}
			} else {
				tr.Headers(S2C, 3, resp200, false, at(ms))
				for i := range max(tt.reqs, tt.resps) {
					if i < tt.reqs {
						sendReq(i)
					}
					if i < tt.resps {
						sendResp(i)
					}
				}
				tr.EndStream(C2S, 3, at(ms))
			}
			tr.Headers(S2C, 3, trailOK, true, at(ms))
			call := c.only()
			wantInt(t, "ReqMsgs", call.ReqMsgs, int64(2*tt.reqs))
			wantInt(t, "RespMsgs", call.RespMsgs, int64(tt.resps))
			wantReq, wantResp := 0, 0
			for i := range tt.reqs {
				wantReq += 10 + i
			}
			for i := range tt.resps {
				wantResp += 100 * i
			}
			wantInt(t, "ReqBytes", call.ReqBytes, int64(wantReq))
			wantInt(t, "RespBytes", call.RespBytes, int64(wantResp))
			wantInt(t, "Status", call.Status, 0)
			if call.End != EndTrailers || len(call.Messages) != 2*tt.reqs+tt.resps {
				t.Errorf("End=%v, %d message records", call.End, len(call.Messages))
			}
			for _, m := range call.Messages {
				if m.Body != nil {
					t.Fatal("body kept without keepBody")
				}
			}
		})
	}
}

func TestTrailersOnly(t *testing.T) {
	tests := []struct {
		name     string
		resp     []hpack.Field
		status   Int
		fromHTTP bool
		message  Str
	}{
		{"grpc-status", hf(":status", "200", "content-type", "application/grpc", "grpc-status", "12", "grpc-message", "unknown%20method"),
			Int{12, true}, false, Str{"unknown method", true}},
		{"HTTP 503 without grpc-status", hf(":status", "503", "content-type", "text/plain"), Int{14, true}, true, Str{"", true}},
		{"HTTP 404", hf(":status", "404"), Int{12, true}, true, Str{"", true}},
		{"HTTP 401", hf(":status", "401"), Int{16, true}, true, Str{"", true}},
		{"HTTP 418", hf(":status", "418"), Int{2, true}, true, Str{"", true}},
		{"HTTP 503 with grpc-status", hf(":status", "503", "grpc-status", "8"), Int{8, true}, false, Str{"", true}},
		// A field that cannot be known could be grpc-status: no mapping.
		{"HTTP 503, unknown field", append(hf(":status", "503"), unknownField), Int{}, false, Str{}},
		{"grpc-status value unknown", append(hf(":status", "200"), unknownValue("grpc-status")), Int{}, false, Str{"", true}},
		{"grpc-status unknown, HTTP 502", append(hf(":status", "502"), unknownValue("grpc-status")), Int{}, false, Str{"", true}},
		{"grpc-message unknown", append(hf(":status", "200", "grpc-status", "13"), unknownValue("grpc-message")), Int{13, true}, false, Str{}},
		{"grpc-status not a number", hf(":status", "200", "grpc-status", "OK"), Int{}, false, Str{"", true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCalls(t, false)
			c.tr.Headers(C2S, 1, request("/pkg.Svc/Get"), true, at(0))
			c.tr.Headers(S2C, 1, tt.resp, true, at(3))
			call := c.only()
			if call.End != EndTrailersOnly || call.Status != tt.status || call.StatusFromHTTP != tt.fromHTTP || call.Message != tt.message {
				t.Errorf("End=%v Status=%+v FromHTTP=%v Message=%+v; want %+v %v %+v",
					call.End, call.Status, call.StatusFromHTTP, call.Message, tt.status, tt.fromHTTP, tt.message)
			}
			wantInt(t, "RespMsgs", call.RespMsgs, 0)
			if d, ok := call.TTFB(); !ok || d != 3*time.Millisecond {
				t.Errorf("TTFB = %v, %v", d, ok)
			}
		})
	}
}

// TestUnknownTrailers: trailers that may hold grpc-status behind a field
// that cannot be decoded leave the status unknown, never "absent".
func TestUnknownTrailers(t *testing.T) {
	tests := []struct {
		name     string
		trailers []hpack.Field
		status   Int
		message  Str
	}{
		{"known, no status", hf("x-other", "1"), Int{CodeUnknown, true}, Str{"", true}},
		{"unknown name", []hpack.Field{unknownField}, Int{}, Str{}},
		{"unknown name after status", append(hf("grpc-status", "5"), unknownField), Int{5, true}, Str{}},
		{"unknown status value", []hpack.Field{unknownValue("grpc-status"), unknownValue("grpc-message")}, Int{}, Str{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCalls(t, false)
			c.tr.Headers(C2S, 1, request("/pkg.Svc/Get"), true, at(0))
			c.tr.Headers(S2C, 1, hf(":status", "500"), false, at(1))
			c.tr.Headers(S2C, 1, tt.trailers, true, at(2))
			call := c.only()
			if call.Status != tt.status || call.Message != tt.message || call.End != EndTrailers {
				t.Errorf("Status=%+v Message=%+v End=%v; want %+v %+v", call.Status, call.Message, call.End, tt.status, tt.message)
			}
			// HTTP 500 maps to UNKNOWN only when grpc-status is provably absent.
			if tt.name == "known, no status" {
				if !call.StatusFromHTTP {
					t.Error("not mapped from HTTP 500")
				}
			} else if call.StatusFromHTTP {
				t.Error("mapped from HTTP although grpc-status may be there")
			}
		})
	}
}

func TestUnknownRequestHeaders(t *testing.T) {
	c := newCalls(t, false)
	// :path and user-agent unknown; content-type known; grpc-timeout absent
	// but an unknown field could be it.
	c.tr.Headers(C2S, 1, []hpack.Field{hf(":method", "POST")[0], unknownValue(":path"), unknownField,
		hf("content-type", "application/grpc")[0]}, true, at(0))
	c.tr.Headers(S2C, 1, append(resp200, hf("grpc-status", "0")...), true, at(1))
	call := c.only()
	wantUnknown(t, "Method", call.Method.OK)
	wantUnknown(t, "UserAgent", call.UserAgent.OK)
	wantUnknown(t, "Timeout", call.Timeout.OK)
	wantUnknown(t, "Authority", call.Authority.OK)
	if call.ContentType != (Str{"application/grpc", true}) {
		t.Errorf("ContentType %+v", call.ContentType)
	}
	if _, _, ok := call.ServiceMethod(); ok {
		t.Error("ServiceMethod known without :path")
	}

	c = newCalls(t, false)
	c.tr.Headers(C2S, 1, hf(":method", "POST", ":path", "/a/b"), true, at(0))
	c.tr.Headers(S2C, 1, append(resp200, hf("grpc-status", "0")...), true, at(1))
	call = c.only()
	if call.UserAgent != (Str{"", true}) || call.Timeout != (Str{"", true}) {
		t.Errorf("absent headers: UserAgent %+v Timeout %+v; want known and empty", call.UserAgent, call.Timeout)
	}

	c = newCalls(t, false)
	c.tr.Headers(C2S, 1, hf(":method", "POST"), true, at(0)) // no :path at all
	c.tr.Close(at(1), EndConnClosed)
	wantUnknown(t, "Method of a request without :path", c.only().Method.OK)
}

func TestRSTStream(t *testing.T) {
	t.Run("by the client, the server's status follows", func(t *testing.T) {
		c := newCalls(t, false)
		tr := c.tr
		tr.Headers(C2S, 1, request("/pkg.Svc/Stream"), false, at(0))
		tr.Headers(S2C, 1, resp200, false, at(1))
		tr.Data(S2C, 1, wire(msg{false, []byte("one")}), at(2))
		tr.RST(C2S, 1, 8, at(3))
		if len(c.got) != 0 || tr.Open() != 1 {
			t.Fatalf("emitted %d, open %d: the reset call waits for frames in flight", len(c.got), tr.Open())
		}
		// Frames the server sent before it saw the reset.
		tr.Data(S2C, 1, wire(msg{false, []byte("two")}), at(4))
		tr.Headers(S2C, 1, hf("grpc-status", "1", "grpc-message", "canceled"), true, at(5))
		call := c.only()
		if call.End != EndRSTStream || call.RSTCode != 8 || call.RSTBy != C2S || call.EndTS != at(3) {
			t.Errorf("End=%v RSTCode=%d RSTBy=%v EndTS=%v", call.End, call.RSTCode, call.RSTBy, call.EndTS)
		}
		wantInt(t, "Status", call.Status, 1)
		wantInt(t, "RespMsgs", call.RespMsgs, 1)
		if call.Message != (Str{"canceled", true}) {
			t.Errorf("Message %+v", call.Message)
		}
		// Late frames after the call ended make no second call.
		tr.RST(S2C, 1, 5, at(6))
		tr.Data(C2S, 1, wire(msg{false, []byte("late")}), at(6))
		tr.Data(S2C, 1, wire(msg{false, []byte("late")}), at(6))
		tr.Headers(S2C, 1, trailOK, true, at(7))
		tr.EndStream(S2C, 1, at(7))
		tr.Close(at(8), EndConnClosed)
		if len(c.got) != 1 || tr.Open() != 0 {
			t.Errorf("%d calls, %d open", len(c.got), tr.Open())
		}
	})
	t.Run("the status follows newer streams' answers", func(t *testing.T) {
		// Python's gRPC server: the client's deadline resets stream 1, the
		// server answers stream 3, then sends stream 1's deadline status.
		c := newCalls(t, false)
		tr := c.tr
		tr.Headers(C2S, 1, request("/pkg.Svc/Sleep"), true, at(0))
		tr.RST(C2S, 1, 8, at(1))
		tr.Activity(3, at(1))
		tr.Headers(C2S, 3, request("/pkg.Svc/Get"), true, at(1))
		tr.Activity(3, at(1))
		tr.Headers(S2C, 3, hf(":status", "200", "grpc-status", "0"), true, at(1))
		if len(c.got) != 1 || c.got[0].Stream != 3 {
			t.Fatalf("emitted %d calls: the reset one must still wait", len(c.got))
		}
		tr.Activity(1, at(1))
		tr.Headers(S2C, 1, hf(":status", "200", "grpc-status", "4"), true, at(1))
		if len(c.got) != 2 {
			t.Fatalf("emitted %d calls, want 2", len(c.got))
		}
		call := c.got[1]
		if call.Stream != 1 || call.End != EndRSTStream || call.EndTS != at(1) {
			t.Errorf("call %d End=%v EndTS=%v", call.Stream, call.End, call.EndTS)
		}
		wantInt(t, "Status", call.Status, 4)
	})
	t.Run("ends after LingerFor", func(t *testing.T) {
		c := newCalls(t, false)
		tr := c.tr
		tr.Headers(C2S, 1, request("/pkg.Svc/Get"), false, at(0))
		tr.Headers(C2S, 3, request("/pkg.Svc/Get"), false, at(0))
		tr.Headers(C2S, 5, request("/pkg.Svc/Get"), false, at(0))
		start := at(1)
		tr.RST(C2S, 1, 8, start)
		tr.RST(C2S, 3, 8, start.Add(LingerFor/2))
		tr.Activity(5, start.Add(LingerFor-time.Nanosecond))
		if len(c.got) != 0 || tr.Lingering() != 2 {
			t.Fatalf("emitted %d, lingering %d before LingerFor passed", len(c.got), tr.Lingering())
		}
		tr.Activity(1, start.Add(LingerFor)) // its own stream's frame
		if len(c.got) != 0 {
			t.Fatal("ended by a frame of its own stream")
		}
		tr.Activity(5, start.Add(LingerFor))
		call := c.only()
		if call.Stream != 1 || call.End != EndRSTStream || call.EndTS != start {
			t.Errorf("call %d End=%v EndTS=%v", call.Stream, call.End, call.EndTS)
		}
		wantUnknown(t, "Status", call.Status.OK)
		// Without frames (a live capture's clock).
		tr.Expire(start.Add(LingerFor))
		if len(c.got) != 1 || tr.Lingering() != 1 {
			t.Fatalf("emitted %d, lingering %d", len(c.got), tr.Lingering())
		}
		tr.Expire(start.Add(LingerFor * 3 / 2))
		if len(c.got) != 2 || c.got[1].Stream != 3 || tr.Lingering() != 0 {
			t.Errorf("emitted %d, lingering %d", len(c.got), tr.Lingering())
		}
	})
	t.Run("by the server", func(t *testing.T) {
		c := newCalls(t, false)
		tr := c.tr
		tr.Headers(C2S, 3, request("/pkg.Svc/Get"), false, at(0))
		tr.RST(S2C, 3, 7, at(1))
		// The client sends no status: the call ends at once.
		call := c.only()
		tr.Headers(S2C, 3, trailOK, true, at(2)) // not the server's answer to its own reset
		tr.Data(C2S, 3, wire(msg{false, []byte("in flight")}), at(2))
		tr.EndStream(C2S, 3, at(3))
		if len(c.got) != 1 || tr.Open() != 0 {
			t.Errorf("%d calls, %d open after the late frames", len(c.got), tr.Open())
		}
		if call.RSTBy != S2C || call.RSTCode != 7 || call.End != EndRSTStream {
			t.Errorf("RSTBy=%v RSTCode=%d End=%v", call.RSTBy, call.RSTCode, call.End)
		}
		wantUnknown(t, "Status", call.Status.OK)
		wantInt(t, "ReqMsgs", call.ReqMsgs, 0)
	})
	t.Run("both sides reset", func(t *testing.T) {
		c := newCalls(t, false)
		tr := c.tr
		tr.Headers(C2S, 1, request("/pkg.Svc/Get"), false, at(0))
		tr.RST(C2S, 1, 8, at(1))
		tr.RST(C2S, 1, 8, at(2)) // repeated: still waiting
		if len(c.got) != 0 {
			t.Fatal("ended by a repeated reset")
		}
		tr.RST(S2C, 1, 5, at(3))
		call := c.only()
		if call.RSTBy != C2S || call.RSTCode != 8 || call.EndTS != at(1) {
			t.Errorf("RSTBy=%v RSTCode=%d EndTS=%v", call.RSTBy, call.RSTCode, call.EndTS)
		}
	})
	t.Run("closed while waiting", func(t *testing.T) {
		c := newCalls(t, false)
		tr := c.tr
		tr.Headers(C2S, 1, request("/pkg.Svc/Get"), false, at(0))
		tr.RST(C2S, 1, 8, at(1))
		tr.Close(at(5), EndConnClosed)
		call := c.only()
		if call.End != EndRSTStream || call.EndTS != at(1) {
			t.Errorf("End=%v EndTS=%v", call.End, call.EndTS)
		}
	})
}

// TestLateFramesMidstream: streams whose request was not seen end like
// the others; their late frames must not start a second call.
func TestLateFramesMidstream(t *testing.T) {
	c := newCalls(t, false)
	tr := c.tr
	tr.Headers(C2S, 5, request("/pkg.Svc/Get"), true, at(0))
	// Stream 9's request was lost; its id is above every request seen.
	tr.Data(S2C, 9, wire(msg{false, []byte("x")}), at(1))
	tr.Headers(S2C, 9, trailOK, true, at(2))
	tr.Data(S2C, 9, wire(msg{false, []byte("y")}), at(3))
	tr.RST(C2S, 9, 8, at(4))
	// Stream 3 began before the capture, below the first request.
	tr.Data(S2C, 3, []byte("zz"), at(5))
	tr.Headers(S2C, 3, trailOK, true, at(6))
	tr.Data(S2C, 3, []byte("zz"), at(7))
	tr.Close(at(8), EndConnClosed)
	var streams []uint32
	for _, call := range c.got {
		streams = append(streams, call.Stream)
	}
	if len(streams) != 3 || streams[0] != 9 || streams[1] != 3 || streams[2] != 5 {
		t.Errorf("calls on streams %v, want [9 3 5]", streams)
	}
}

func TestGoAway(t *testing.T) {
	c := newCalls(t, false)
	tr := c.tr
	for _, sid := range []uint32{1, 3, 5, 7} {
		tr.Headers(C2S, sid, request("/pkg.Svc/Get"), false, at(int(sid)))
	}
	// The client going away says nothing of the client's own streams.
	tr.GoAway(C2S, 0, at(8))
	if len(c.got) != 0 {
		t.Fatalf("client GOAWAY ended %d calls", len(c.got))
	}
	tr.GoAway(S2C, 3, at(9))
	if len(c.got) != 2 || c.got[0].Stream != 5 || c.got[1].Stream != 7 {
		t.Fatalf("GOAWAY last=3 ended %d calls", len(c.got))
	}
	for _, call := range c.got {
		if call.End != EndGoAway || !call.GoAway || call.EndTS != at(9) {
			t.Errorf("stream %d: End=%v GoAway=%v", call.Stream, call.End, call.GoAway)
		}
	}
	// Streams at or below the last id go on.
	tr.Headers(S2C, 3, resp200, false, at(10))
	tr.Headers(S2C, 3, trailOK, true, at(11))
	if len(c.got) != 3 || c.got[2].Stream != 3 || c.got[2].End != EndTrailers {
		t.Fatalf("stream 3 after GOAWAY: %d calls", len(c.got))
	}
	tr.Close(at(12), EndConnClosed)
	if len(c.got) != 4 || c.got[3].Stream != 1 || c.got[3].End != EndConnClosed {
		t.Errorf("Close: %d calls", len(c.got))
	}
}

func TestClose(t *testing.T) {
	c := newCalls(t, false)
	tr := c.tr
	for _, sid := range []uint32{7, 1, 5, 3} {
		tr.Headers(C2S, sid, request("/pkg.Svc/Get"), false, at(int(sid)))
	}
	tr.Data(C2S, 5, []byte{0, 0, 0}, at(10)) // a message cut short by the close
	tr.Close(at(20), EndIncomplete)
	if len(c.got) != 4 {
		t.Fatalf("%d calls", len(c.got))
	}
	for i, call := range c.got {
		if call.Stream != uint32(2*i+1) || call.End != EndIncomplete || call.EndTS != at(20) {
			t.Errorf("call %d: stream %d End %v EndTS %v", i, call.Stream, call.End, call.EndTS)
		}
		wantInt(t, "ReqMsgs", call.ReqMsgs, 0)
		wantUnknown(t, "Status", call.Status.OK)
	}
	if tr.Open() != 0 {
		t.Errorf("%d open", tr.Open())
	}
}

func TestMidstream(t *testing.T) {
	c := newCalls(t, false)
	tr := c.tr
	// The request was before the capture: only the response is seen, with
	// DATA starting anywhere in a message.
	tr.Data(S2C, 7, []byte{1, 2, 3}, at(1))
	tr.Data(S2C, 7, wire(msg{false, []byte("whole")}), at(2))
	tr.Data(C2S, 7, wire(msg{false, []byte("req")}), at(2))
	tr.Headers(S2C, 7, hf("grpc-status", "4", "grpc-message", "deadline"), true, at(3))
	call := c.only()
	if !call.Start.IsZero() || call.Method.OK {
		t.Errorf("Start=%v Method=%+v on a call joined mid-way", call.Start, call.Method)
	}
	wantUnknown(t, "ReqMsgs", call.ReqMsgs.OK)
	wantUnknown(t, "RespMsgs", call.RespMsgs.OK)
	wantUnknown(t, "ReqBytes", call.ReqBytes.OK)
	wantUnknown(t, "RespBytes", call.RespBytes.OK)
	wantInt(t, "Status", call.Status, 4)
	if _, ok := call.Duration(); ok {
		t.Error("Duration known without a start")
	}
	if _, ok := call.TTFB(); ok {
		t.Error("TTFB known without a start")
	}
	if len(call.Messages) != 0 {
		t.Errorf("%d messages framed without the stream's start", len(call.Messages))
	}
	// Response headers without a request: :status says they are headers.
	tr.Headers(S2C, 9, resp200, false, at(4))
	tr.Headers(S2C, 9, trailOK, true, at(5))
	if len(c.got) != 2 || c.got[1].End != EndTrailers {
		t.Fatalf("second call: %d calls", len(c.got))
	}
	wantInt(t, "HTTPStatus", c.got[1].HTTPStatus, 200)
	wantInt(t, "Status", c.got[1].Status, 0)
}

func TestLost(t *testing.T) {
	c := newCalls(t, false)
	tr := c.tr
	tr.Headers(C2S, 1, request("/pkg.Svc/Stream"), false, at(0))
	tr.Data(C2S, 1, wire(msg{false, []byte("one")}), at(1))
	tr.Data(S2C, 1, wire(msg{false, []byte("one")}), at(1))
	tr.Lost(S2C) // bytes of the response direction lost
	tr.Data(S2C, 1, wire(msg{false, []byte("two")}), at(2))
	tr.Headers(C2S, 3, request("/pkg.Svc/Get"), false, at(3)) // after the loss
	tr.Data(S2C, 3, wire(msg{false, []byte("fine")}), at(4))
	tr.Close(at(5), EndConnClosed)
	if len(c.got) != 2 {
		t.Fatalf("%d calls", len(c.got))
	}
	c1, c3 := c.got[0], c.got[1]
	wantInt(t, "ReqMsgs of 1", c1.ReqMsgs, 1)
	wantUnknown(t, "RespMsgs of 1", c1.RespMsgs.OK)
	wantUnknown(t, "RespBytes of 1", c1.RespBytes.OK)
	wantInt(t, "RespMsgs of 3", c3.RespMsgs, 1)
}

func TestEndStreamByData(t *testing.T) {
	c := newCalls(t, false)
	tr := c.tr
	tr.Headers(C2S, 1, request("/pkg.Svc/Get"), false, at(0))
	tr.EndStream(C2S, 1, at(1))
	if len(c.got) != 0 {
		t.Fatal("the request's END_STREAM ended the call")
	}
	tr.Headers(S2C, 1, hf(":status", "502"), false, at(2))
	tr.EndStream(S2C, 1, at(3)) // no trailers
	call := c.only()
	wantInt(t, "Status", call.Status, CodeUnavailable)
	if !call.StatusFromHTTP || call.EndTS != at(3) {
		t.Errorf("StatusFromHTTP=%v EndTS=%v", call.StatusFromHTTP, call.EndTS)
	}
	tr.EndStream(S2C, 99, at(4)) // unknown stream: nothing
	if len(c.got) != 1 {
		t.Error("END_STREAM of an unknown stream made a call")
	}
}

func TestStatusDetails(t *testing.T) {
	details := []byte{0x08, 0x03, 0x12, 0x03, 'b', 'a', 'd'}
	tests := []struct {
		name, value string
		want        []byte
		err         bool
	}{
		{"padded", base64.StdEncoding.EncodeToString(details), details, false},
		{"unpadded", base64.RawStdEncoding.EncodeToString(details), details, false},
		{"invalid", "!!!not base64", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCalls(t, false)
			c.tr.Headers(C2S, 1, request("/pkg.Svc/Get"), true, at(0))
			c.tr.Headers(S2C, 1, hf(":status", "200", "grpc-status", "3", "grpc-status-details-bin", tt.value), true, at(1))
			call := c.only()
			if string(call.Details) != string(tt.want) || (call.DetailsErr != "") != tt.err {
				t.Errorf("Details=%x DetailsErr=%q", call.Details, call.DetailsErr)
			}
		})
	}
}

func TestEvictOldest(t *testing.T) {
	c := newCalls(t, false)
	tr := c.tr
	for i := range MaxOpenCalls + 1 {
		tr.Headers(C2S, uint32(2*i+1), request("/a/b"), false, at(i))
	}
	if len(c.got) != 1 || c.got[0].Stream != 1 || c.got[0].End != EndIncomplete {
		t.Fatalf("evicted %d calls", len(c.got))
	}
	if _, ok := c.got[0].Duration(); ok {
		t.Error("an evicted call has a known duration")
	}
	if tr.Open() != MaxOpenCalls || tr.Stats.Evicted != 1 || tr.Stats.Calls != MaxOpenCalls+1 {
		t.Errorf("open %d, stats %+v", tr.Open(), tr.Stats)
	}
}

func TestMessageRecordsBounded(t *testing.T) {
	c := newCalls(t, false)
	tr := c.tr
	tr.Headers(C2S, 1, request("/a/b"), false, at(0))
	b := wire(msg{false, nil})
	for range MaxMessageRecords + 10 {
		tr.Data(C2S, 1, b, at(1))
	}
	tr.Close(at(2), EndConnClosed)
	call := c.only()
	wantInt(t, "ReqMsgs", call.ReqMsgs, MaxMessageRecords+10)
	if len(call.Messages) != MaxMessageRecords || call.MessagesDropped != 10 {
		t.Errorf("%d records, %d dropped", len(call.Messages), call.MessagesDropped)
	}
}

func TestHeaderHelpers(t *testing.T) {
	for name, want := range map[string]bool{":path": true, "grpc-status": true, "content-type": true, "te": true,
		"user-agent": true, "x-custom": false, "authorization": false, "grpcx": false, "content-length": true,
		"accept-encoding": true, "": false, "t": false, "tex": false, "content-typ": false, "accept": false, "user-agents": false, "g": false} {
		if Reserved(name) != want {
			t.Errorf("Reserved(%q) = %v", name, !want)
		}
	}
	if !IsBinaryHeader("x-trace-bin") || IsBinaryHeader("x-trace") {
		t.Error("IsBinaryHeader")
	}
	if C2S.String() != "c2s" || S2C.String() != "s2c" || C2S.Reverse() != S2C {
		t.Error("Dir")
	}
}

// One pass over a header list reads what header reads name by name.
func TestHeaderSetReadsAsHeader(t *testing.T) {
	names := []string{":path", ":authority", "content-type", "user-agent", "grpc-timeout", "x-other"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var fs []hpack.Field
		for range r.IntN(8) {
			f := hpack.Field{Name: names[r.IntN(len(names))], Value: fmt.Sprint(r.IntN(3)), NameKnown: r.IntN(6) > 0, ValueKnown: r.IntN(5) > 0}
			if !f.NameKnown {
				f.Name = ""
			}
			fs = append(fs, f)
		}
		var h headerSet
		h.read(fs, requestSlot)
		for j, name := range names[:5] {
			if got, want := h.get(j), header(fs, name); got != want {
				t.Fatalf("%s in %+v: one pass %+v, header %+v", name, fs, got, want)
			}
		}
	}
}

// A call begun while KeepHeaderLists says no has no header lists and
// says so; everything else about it is what it is with them. The answer
// is asked as each call begins.
func TestHeaderListsLeftOut(t *testing.T) {
	for _, pooled := range []bool{false, true} {
		var got [2][]Call // without, with the switch
		var keep []bool   // the switch's answers, one per call begun
		for i := range 2 {
			pool := &CallPool{}
			tr := NewTracker(func(c *Call) {
				cp := *c // the lists copied: a pooled call's are reused
				cp.Request = append([]hpack.Field(nil), c.Request...)
				cp.Response = append([]hpack.Field(nil), c.Response...)
				cp.Trailers = append([]hpack.Field(nil), c.Trailers...)
				got[i] = append(got[i], cp)
				if pooled {
					pool.Put(c)
				}
			}, false)
			if pooled {
				tr.UsePool(pool)
			}
			if i == 1 {
				n := 0
				tr.KeepHeaderLists(func() bool {
					n++
					keep = append(keep, n%2 == 0)
					return n%2 == 0
				})
			}
			for s := uint32(1); s <= 7; s += 2 {
				tr.Headers(C2S, s, request("/pkg.Svc/Get"), false, at(int(s)))
				tr.Data(C2S, s, wire(msg{false, []byte("req")}), at(int(s)+1))
				tr.EndStream(C2S, s, at(int(s)+1))
				if s == 5 { // trailers-only
					tr.Headers(S2C, s, hf(":status", "200", "content-type", "application/grpc", "grpc-status", "5", "x-why", "gone"), true, at(int(s)+2))
					continue
				}
				tr.Headers(S2C, s, hf(":status", "200", "content-type", "application/grpc", "x-resp", "1"), false, at(int(s)+2))
				tr.Headers(S2C, s, hf("grpc-status", "0", "x-trailer", "t"), true, at(int(s)+3))
			}
		}
		if len(got[0]) != 4 || len(got[1]) != 4 {
			t.Fatalf("pooled %v: %d and %d calls, want 4", pooled, len(got[0]), len(got[1]))
		}
		for j := range got[1] {
			with, c := got[0][j], got[1][j]
			if c.HeadersLeftOut == keep[j] {
				t.Errorf("pooled %v, call %d: HeadersLeftOut %v, but the switch said keep %v", pooled, j, c.HeadersLeftOut, keep[j])
			}
			if with.HeadersLeftOut || len(with.Request) == 0 || len(with.Response) == 0 {
				t.Fatalf("pooled %v, call %d: the default kept no lists: %+v", pooled, j, with)
			}
			if c.HeadersLeftOut {
				if len(c.Request)+len(c.Response)+len(c.Trailers) != 0 {
					t.Errorf("pooled %v, call %d: lists kept though left out: %v %v %v", pooled, j, c.Request, c.Response, c.Trailers)
				}
			} else if fmt.Sprint(c.Request, c.Response, c.Trailers) != fmt.Sprint(with.Request, with.Response, with.Trailers) {
				t.Errorf("pooled %v, call %d: lists %v, want %v", pooled, j, c.Request, with.Request)
			}
			// Beyond the lists, the same call.
			for _, x := range []*Call{&with, &c} {
				x.Request, x.Response, x.Trailers, x.HeadersLeftOut, x.Messages = nil, nil, nil, false, nil
			}
			if !reflect.DeepEqual(with, c) {
				t.Errorf("pooled %v, call %d differs beyond its lists:\n%+v\n%+v", pooled, j, with, c)
			}
		}
	}
}
