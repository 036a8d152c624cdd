package render

import (
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/pcapfile"
)

// flushEach flushes its printer after every event, so that each line is
// written as it is made.
type flushEach struct{ p *Printer }

func (f flushEach) Frame(e *decoder.FrameEvent) { f.p.Frame(e); f.p.Flush() }
func (f flushEach) Call(e *decoder.CallEvent)   { f.p.Call(e); f.p.Flush() }
func (f flushEach) Conn(e *decoder.ConnEvent)   { f.p.Conn(e); f.p.Flush() }

// TestLinesBatchedAsWritten: text and JSON lines kept and written in
// batches (connection lines, written apart, in between) come out exactly
// as when every line is written as it is made, over more than a batch.
func TestLinesBatchedAsWritten(t *testing.T) {
	path := filepath.Join("..", "..", "testdata", "golden", "interop.pcapng")
	for _, mode := range []Mode{ModeText, ModeJSON} {
		var batched, each writeSizes
		pb, pe := NewPrinter(&batched, mode), NewPrinter(&each, mode)
		for range 6 { // the capture six times over: more than two batches of text
			for _, sink := range []decoder.Sink{pb, flushEach{pe}} {
				r, err := pcapfile.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				d := decoder.New(sink, decoder.Options{})
				for {
					data, ci, lt, err := r.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					d.Packet(lt, data, ci.Timestamp, ci.Length)
				}
				d.Flush()
				r.Close()
			}
		}
		pb.Close()
		pe.Close()
		if each.Len() < 2*lineBatch {
			t.Fatalf("mode %d: %d bytes: want more than two batches", mode, each.Len())
		}
		if batched.String() != each.String() {
			t.Errorf("mode %d: %d bytes batched differ from %d written line by line", mode, batched.Len(), each.Len())
		}
		big := 0
		for _, sz := range batched.sizes {
			if sz >= lineBatch {
				big++
			}
		}
		if big == 0 {
			t.Errorf("mode %d: writes %v: none a whole batch", mode, batched.sizes)
		}
	}
}
