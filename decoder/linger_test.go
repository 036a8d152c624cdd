package decoder_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/grpc"
	"github.com/hoptap/hoptap/decoder/http2"
)

// resetSink records what a live capture would print.
type resetSink struct {
	rstAt time.Time // the client's RST_STREAM
	calls []grpc.Call
}

func (s *resetSink) Frame(ev *decoder.FrameEvent) {
	if ev.Frame.Type == http2.TypeRSTStream && ev.Dir == grpc.C2S && s.rstAt.IsZero() {
		s.rstAt = ev.TS
	}
}
func (s *resetSink) Call(ev *decoder.CallEvent) { s.calls = append(s.calls, *ev.Call) }
func (s *resetSink) Conn(*decoder.ConnEvent)    {}

// In a live capture a call the client reset is printed once LingerFor has
// passed on the capture's clock, though no frame follows, and only once.
func TestTickEndsResetCall(t *testing.T) {
	s := &resetSink{}
	d := decoder.New(s, decoder.Options{})
	ticked := false
	var atTick int
	eachPacket(t, filepath.Join("..", "testdata", "golden", "interop.pcapng"), func(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) {
		d.Packet(lt, data, ci.Timestamp, ci.Length)
		if s.rstAt.IsZero() || ticked {
			return
		}
		ticked = true
		n := len(s.calls)
		d.Tick(s.rstAt.Add(grpc.LingerFor - time.Millisecond))
		if len(s.calls) != n {
			t.Fatalf("the reset call was printed before LingerFor passed")
		}
		d.Tick(s.rstAt.Add(grpc.LingerFor))
		if len(s.calls) != n+1 {
			t.Fatalf("%d calls printed at the tick, want 1", len(s.calls)-n)
		}
		c := s.calls[n]
		if c.End != grpc.EndRSTStream || c.RSTBy != grpc.C2S || !c.EndTS.Equal(s.rstAt) {
			t.Errorf("End=%v RSTBy=%v EndTS=%v, want rst_stream by c2s at %v", c.End, c.RSTBy, c.EndTS, s.rstAt)
		}
		atTick = len(s.calls)
	})
	if !ticked {
		t.Fatal("the capture has no RST_STREAM from a client")
	}
	d.Flush()
	// The rest of the capture, replayed in its own (earlier) time, ends no
	// call twice.
	seen := map[[2]uint64]bool{}
	for _, c := range s.calls {
		k := [2]uint64{uint64(c.EndTS.UnixNano()), uint64(c.Stream)}
		if seen[k] && c.End == grpc.EndRSTStream {
			t.Errorf("stream %d reported twice", c.Stream)
		}
		seen[k] = true
	}
	if len(s.calls) <= atTick {
		t.Errorf("no call after the tick: %d in all", len(s.calls))
	}
}
