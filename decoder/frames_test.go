package decoder_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/http2"
	"github.com/hoptap/hoptap/decoder/render"
)

// TestFramesOptionSkipsOnlyFrameEvents decodes every golden capture with
// Options.Frames letting HEADERS through only: the JSON output is the
// full one without the other frames' lines, everything else (calls,
// connection events) byte for byte; and the calls table is the same with
// no frame events at all.
func TestFramesOptionSkipsOnlyFrameEvents(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "golden", "*.pcap*"))
	if len(files) == 0 {
		t.Fatal("no golden captures")
	}
	headersOnly := func(ty http2.Type) bool { return ty == http2.TypeHeaders }
	total := 0
	for _, f := range files {
		full := decodeTo(t, f, render.ModeJSON, decoder.Options{ReuseCalls: true})
		var want []byte
		skipped := 0
		for _, line := range bytes.SplitAfter(full, []byte("\n")) {
			var ev struct{ Kind, Type string }
			if len(line) > 0 {
				if err := json.Unmarshal(line, &ev); err != nil {
					t.Fatalf("%s: %v: %s", f, err, line)
				}
			}
			if ev.Kind == "frame" && ev.Type != "HEADERS" {
				skipped++
				continue
			}
			want = append(want, line...)
		}
		got := decodeTo(t, f, render.ModeJSON, decoder.Options{ReuseCalls: true, Frames: headersOnly})
		if !bytes.Equal(got, want) {
			t.Errorf("%s: JSON with HEADERS frames only differs from the full output less the other frames", filepath.Base(f))
		}
		total += skipped
		calls := decodeTo(t, f, render.ModeCalls, decoder.Options{ReuseCalls: true})
		none := decodeTo(t, f, render.ModeCalls, decoder.Options{ReuseCalls: true, Frames: func(http2.Type) bool { return false }})
		if !bytes.Equal(calls, none) {
			t.Errorf("%s: the calls table differs without frame events", filepath.Base(f))
		}
	}
	if total == 0 {
		t.Error("no capture has a frame other than HEADERS: the test shows nothing")
	}
}
