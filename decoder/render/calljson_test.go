package render

import (
	"bytes"
	"encoding/json"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/grpc"
	"github.com/hoptap/hoptap/decoder/hpack"
)

// unaryCall is a call as the grpc-go interop client and server make it.
func unaryCall() *decoder.CallEvent {
	conn := &decoder.Conn{ID: 7, Client: netip.MustParseAddrPort("198.18.246.3:60604"), Server: netip.MustParseAddrPort("198.18.246.2:10000")}
	f := func(n, v string) hpack.Field {
		return hpack.Field{Name: n, Value: v, NameKnown: true, ValueKnown: true}
	}
	start := time.Date(2026, 12, 2, 7, 55, 1, 642486549, time.UTC)
	end := start.Add(876443 * time.Nanosecond)
	c := &grpc.Call{
		Stream: 3, Start: start, FirstResp: end, EndTS: end, End: grpc.EndTrailers,
		Method: grpc.Str{V: "/grpc.testing.TestService/UnaryCall", OK: true}, Authority: grpc.Str{V: "198.18.246.2:10000", OK: true},
		ContentType: grpc.Str{V: "application/grpc", OK: true}, UserAgent: grpc.Str{V: "grpc-go/1.34.0", OK: true},
		Timeout: grpc.Str{V: "19999976u", OK: true}, HTTPStatus: grpc.Int{V: 200, OK: true}, Status: grpc.Int{V: 0, OK: true},
		Message: grpc.Str{OK: true}, ReqMsgs: grpc.Int{V: 1, OK: true}, RespMsgs: grpc.Int{V: 1, OK: true},
		ReqBytes: grpc.Int{V: 209, OK: true}, RespBytes: grpc.Int{V: 206, OK: true},
		Request: []hpack.Field{f(":method", "POST"), f(":scheme", "http"), f(":path", "/grpc.testing.TestService/UnaryCall"), f(":authority", "198.18.246.2:10000"),
			f("content-type", "application/grpc"), f("user-agent", "grpc-go/1.34.0"), f("te", "trailers"), f("grpc-timeout", "19999976u")},
		Response: []hpack.Field{f(":status", "200"), f("content-type", "application/grpc")},
		Trailers: []hpack.Field{f("grpc-status", "0"), f("grpc-message", ""), f("endpoint-load-metrics-bin", "")},
		Messages: []grpc.MessageRecord{{Dir: grpc.C2S, TS: start, Length: 209}, {Dir: grpc.S2C, TS: end, Length: 206}},
	}
	return &decoder.CallEvent{Conn: conn, Call: c}
}

// BenchmarkJSONCall renders a unary call's line, as capture -o json does
// at the end of every call.
func BenchmarkJSONCall(b *testing.B) {
	p := NewPrinter(io.Discard, ModeJSON)
	e := unaryCall()
	b.ReportAllocs()
	for b.Loop() {
		p.Call(e)
	}
}

// The call line is valid JSON with the contract's keys in order, whatever
// the optional fields hold.
func TestJSONCallLine(t *testing.T) {
	e := unaryCall()
	var out bytes.Buffer
	p := NewPrinter(&out, ModeJSON)
	p.Call(e)
	p.Close()
	want := `{"kind":"call","ts":"2026-12-02T07:55:01.643362992Z","conn":7,"client":"198.18.246.3:60604","server":"198.18.246.2:10000","stream":3,"method":"/grpc.testing.TestService/UnaryCall","authority":"198.18.246.2:10000","grpc_status":0,"grpc_status_name":"OK","grpc_message":"","http_status":200,"status_from_http":false,"start":"2026-12-02T07:55:01.642486549Z","duration_ns":876443,"ttfb_ns":876443,"req_msgs":1,"resp_msgs":1,"req_bytes":209,"resp_bytes":206,"end":"trailers","content_type":"application/grpc","user_agent":"grpc-go/1.34.0","grpc_timeout":"19999976u","response_metadata":[["endpoint-load-metrics-bin",""]],"messages":[{"dir":"c2s","ts":"2026-12-02T07:55:01.642486549Z","compressed":false,"length":209},{"dir":"s2c","ts":"2026-12-02T07:55:01.643362992Z","compressed":false,"length":206}]}` + "\n"
	if out.String() != want {
		t.Errorf("got  %s\nwant %s", out.String(), want)
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
}

// writeSizes records the size of each write it gets.
type writeSizes struct {
	bytes.Buffer
	sizes []int
}

func (w *writeSizes) Write(b []byte) (int, error) {
	w.sizes = append(w.sizes, len(b))
	return w.Buffer.Write(b)
}

// TestJSONLinesBatched: JSON lines are kept and written together, a
// batch at a time once they fill the writer's buffer (in one write each,
// not copied through it), and what a Flush writes in between is exactly
// the lines so far: the output is the lines in order, however it was
// flushed.
func TestJSONLinesBatched(t *testing.T) {
	e := unaryCall()
	one := NewPrinter(io.Discard, ModeJSON)
	one.Call(e)
	line := string(one.j.b[:one.j.start])
	n := 3*lineBatch/len(line) + 5
	var want strings.Builder
	for range n {
		want.WriteString(line)
	}
	var batched, flushed writeSizes
	pb, pf := NewPrinter(&batched, ModeJSON), NewPrinter(&flushed, ModeJSON)
	for i := range n {
		pb.Call(e)
		pf.Call(e)
		if i%7 == 0 {
			pf.Flush()
			if flushed.Len() != (i+1)*len(line) {
				t.Fatalf("after %d lines and a flush, %d bytes written, want %d", i+1, flushed.Len(), (i+1)*len(line))
			}
		}
	}
	pb.Close()
	pf.Close()
	for _, w := range []*writeSizes{&batched, &flushed} {
		if w.String() != want.String() {
			t.Fatalf("%d bytes written, want %d lines of %d", w.Len(), n, len(line))
		}
	}
	for i, sz := range batched.sizes[:len(batched.sizes)-1] {
		if sz < lineBatch || sz >= lineBatch+len(line) {
			t.Errorf("write %d of %d bytes, want a batch of %d to %d", i, sz, lineBatch, lineBatch+len(line)-1)
		}
	}
	if len(batched.sizes) < 3 {
		t.Errorf("writes %v: want three batches and the rest", batched.sizes)
	}
}
