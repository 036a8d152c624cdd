package render

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/grpc"
	"github.com/hoptap/hoptap/decoder/hpack"
)

// A call's custom metadata is listed in JSON; one whose header lists were
// left out (grpc.Tracker.KeepHeaderLists) has it null: not known, rather
// than none.
func TestMetadataLeftOutIsNull(t *testing.T) {
	conn := &decoder.Conn{ID: 1, Client: netip.MustParseAddrPort("198.18.0.3:40000"), Server: netip.MustParseAddrPort("198.18.0.2:50051")}
	field := func(n, v string) hpack.Field {
		return hpack.Field{Name: n, Value: v, NameKnown: true, ValueKnown: true}
	}
	for _, leftOut := range []bool{false, true} {
		c := &grpc.Call{Stream: 1, Method: grpc.Str{V: "/pkg.Svc/M", OK: true}, EndTS: time.Unix(2, 0), HeadersLeftOut: leftOut}
		if !leftOut {
			c.Request = []hpack.Field{field(":path", "/pkg.Svc/M"), field("x-req", "a")}
			c.Trailers = []hpack.Field{field("grpc-status", "0"), field("x-trailer", "b")}
		}
		var out bytes.Buffer
		p := NewPrinter(&out, ModeJSON)
		p.Call(&decoder.CallEvent{Conn: conn, Call: c})
		p.Close()
		var got map[string]any
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%v: %s", err, out.Bytes())
		}
		for k, want := range map[string]string{"metadata": `[["x-req","a"]]`, "response_metadata": `[["x-trailer","b"]]`} {
			v, ok := got[k]
			if leftOut {
				want = "null"
			}
			b, _ := json.Marshal(v)
			if !ok || string(b) != want {
				t.Errorf("left out %v: %s = %s (present %v), want %s", leftOut, k, b, ok, want)
			}
		}
		if got["method"] != "/pkg.Svc/M" {
			t.Errorf("left out %v: method %v", leftOut, got["method"])
		}
	}
}
