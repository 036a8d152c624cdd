package decoder_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/render"
)

// callsOf decodes a capture, each packet's time given by at, and returns
// its calls without their times, and the decoder's stats.
func callsOf(t *testing.T, path string, at func(i int, ts time.Time) time.Time) ([]map[string]any, decoder.Stats) {
	t.Helper()
	var out bytes.Buffer
	p := render.NewPrinter(&out, render.ModeJSON)
	d := decoder.New(p, decoder.Options{})
	i := 0
	eachPacket(t, path, func(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) {
		d.Packet(lt, data, at(i, ci.Timestamp), ci.Length)
		i++
	})
	d.Flush()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	var calls []map[string]any
	for _, line := range bytes.Split(out.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) != nil || m["kind"] != "call" {
			continue
		}
		// conn: closed connections are forgotten 5 s after their end, so
		// with a silence before every packet their last ACKs open new ones
		// and the numbering moves on.
		for _, k := range []string{"ts", "start", "duration_ns", "ttfb_ns", "messages", "conn"} {
			delete(m, k)
		}
		calls = append(calls, m)
	}
	return calls, d.Stats()
}

// A connection that goes quiet gives its HTTP/2 parsers back and makes
// them again at its next segment: with a silence before every packet,
// every golden capture decodes to the same calls as it does at its own
// pace.
func TestQuietConnectionsResume(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "golden", "*.pcap*"))
	for _, f := range files {
		own, ownSt := callsOf(t, f, func(_ int, ts time.Time) time.Time { return ts })
		t0 := time.Unix(1_000_000, 0)
		slow, st := callsOf(t, f, func(i int, _ time.Time) time.Time { return t0.Add(time.Duration(i) * 6 * time.Second) })
		if len(own) == 0 {
			continue
		}
		if st.Parked == 0 {
			t.Errorf("%s: no parser was given back", filepath.Base(f))
		}
		// Made again at the boundary, a parser neither searches nor errs.
		if st.Frames != ownSt.Frames || st.Resyncs != ownSt.Resyncs || st.SkippedBytes != ownSt.SkippedBytes || st.FrameErrors != ownSt.FrameErrors {
			t.Errorf("%s: frames %d resyncs %d skipped %d errors %d after quiet periods, %d %d %d %d at its own pace", filepath.Base(f),
				st.Frames, st.Resyncs, st.SkippedBytes, st.FrameErrors, ownSt.Frames, ownSt.Resyncs, ownSt.SkippedBytes, ownSt.FrameErrors)
		}
		a, _ := json.Marshal(own)
		b, _ := json.Marshal(slow)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: calls differ after quiet periods:\nown pace: %s\nquiet:    %s", filepath.Base(f), a, b)
		}
	}
}
