package render

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/hpack"
	"github.com/hoptap/hoptap/decoder/http2"
)

// Credentials are redacted in JSON and -V output unless asked for; other
// headers are not touched.
func TestSecretsRedacted(t *testing.T) {
	field := func(n, v string) hpack.Field {
		return hpack.Field{Name: n, Value: v, NameKnown: true, ValueKnown: true}
	}
	ev := &decoder.FrameEvent{
		TS:   time.Unix(1, 0),
		Conn: &decoder.Conn{ID: 1, Client: netip.MustParseAddrPort("198.18.0.3:40000"), Server: netip.MustParseAddrPort("198.18.0.2:50051")},
		Frame: &http2.Frame{FrameHeader: http2.FrameHeader{Type: http2.TypeHeaders, StreamID: 1,
			Flags: http2.FlagEndHeaders}, PadLength: -1},
		Headers: []hpack.Field{field(":path", "/pkg.Svc/M"), field("authorization", "Bearer s3cr3t-token"),
			field("cookie", "session=c00kie"), field("x-trace", "keep-me")},
		HeadersShown: true,
	}
	for _, mode := range []Mode{ModeJSON, ModeVerbose} {
		for _, show := range []bool{false, true} {
			var out bytes.Buffer
			p := NewPrinter(&out, mode)
			p.ShowSecrets(show)
			p.Frame(ev)
			p.Close()
			s := out.String()
			for _, secret := range []string{"s3cr3t-token", "c00kie"} {
				if strings.Contains(s, secret) != show {
					t.Errorf("mode %d show %v: %q shown: %v\n%s", mode, show, secret, !show, s)
				}
			}
			if strings.Contains(s, Redacted) == show {
				t.Errorf("mode %d show %v: redaction marker wrong\n%s", mode, show, s)
			}
			if !strings.Contains(s, "keep-me") || !strings.Contains(s, "/pkg.Svc/M") {
				t.Errorf("mode %d: other headers lost\n%s", mode, s)
			}
		}
	}
}
