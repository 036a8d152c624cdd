package decoder

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/hoptap/hoptap/decoder/pcapfile"
)

// countSink counts events and checks the invariants every sink may rely
// on.
type countSink struct {
	t                   testing.TB
	frames, calls, conn int
}

func (s *countSink) Frame(e *FrameEvent) {
	s.frames++
	if e.Conn == nil || e.Frame == nil {
		s.t.Fatal("frame event without conn or frame")
	}
}

func (s *countSink) Call(e *CallEvent) {
	s.calls++
	c := e.Call
	if c.Status.OK && c.Status.V < 0 {
		s.t.Fatalf("negative status %d", c.Status.V)
	}
}

func (s *countSink) Conn(e *ConnEvent) { s.conn++ }

// FuzzPipeline feeds whole capture files through the pipeline: whatever
// the bytes, it must not panic and must keep counting.
func FuzzPipeline(f *testing.F) {
	for _, name := range []string{"tls.pcapng", "truncated.pcapng"} {
		if b, err := os.ReadFile(filepath.Join("..", "testdata", "golden", name)); err == nil {
			f.Add(b)
		}
	}
	if b, err := os.ReadFile(filepath.Join("..", "testdata", "golden", "interop.pcapng")); err == nil {
		f.Add(b[:min(len(b), 40000)])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := pcapfile.NewReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		sink := &countSink{t: t}
		d := New(sink, Options{})
		for i := 0; i < 100000; i++ {
			data, ci, lt, err := r.Next()
			if err != nil {
				break
			}
			d.Packet(lt, data, ci.Timestamp, ci.Length)
		}
		d.Flush()
		if st := d.Stats(); st.Frames != uint64(sink.frames) || st.Calls != uint64(sink.calls) {
			t.Fatalf("stats say %d frames %d calls, sink saw %d and %d", st.Frames, st.Calls, sink.frames, sink.calls)
		}
	})
}
