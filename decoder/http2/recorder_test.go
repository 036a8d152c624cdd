package http2

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	xhttp2 "golang.org/x/net/http2"
)

// event is one Handler call, with every slice copied.
type event struct {
	kind  string // frame, data, block, lost, preface, synced, error
	hdr   FrameHeader
	frame Frame // kind frame; Priority points into the copy
	b     []byte
	n     int
	err   string
}

func (e event) String() string {
	switch e.kind {
	case "frame":
		return fmt.Sprintf("frame %v len=%d flags=%#x stream=%d", e.hdr.Type, e.hdr.Length, uint8(e.hdr.Flags), e.hdr.StreamID)
	case "data":
		return fmt.Sprintf("data stream=%d %q", e.hdr.StreamID, e.b)
	case "block":
		return fmt.Sprintf("block %v stream=%d %q", e.hdr.Type, e.hdr.StreamID, e.b)
	case "synced":
		return fmt.Sprintf("synced %d", e.n)
	case "error":
		return "error " + e.err
	}
	return e.kind
}

type recorder struct {
	events []event
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func (r *recorder) Frame(f *Frame, ts time.Time) {
	c := *f
	c.Data, c.Fragment, c.Debug, c.Unparsed = clone(f.Data), clone(f.Fragment), clone(f.Debug), clone(f.Unparsed)
	c.Settings = slices.Clone(f.Settings)
	if f.Priority != nil {
		p := *f.Priority
		c.Priority = &p
	}
	c.prioStorage = Priority{}
	r.events = append(r.events, event{kind: "frame", hdr: f.FrameHeader, frame: c})
}

func (r *recorder) DataChunk(h *FrameHeader, b []byte, ts time.Time) {
	if len(b) == 0 {
		panic("empty DataChunk")
	}
	r.events = append(r.events, event{kind: "data", hdr: *h, b: clone(b)})
}

func (r *recorder) HeaderBlock(first *FrameHeader, block []byte, ts time.Time) {
	r.events = append(r.events, event{kind: "block", hdr: *first, b: clone(block)})
}

func (r *recorder) HeadersLost(ts time.Time) { r.events = append(r.events, event{kind: "lost"}) }
func (r *recorder) Preface(ts time.Time)     { r.events = append(r.events, event{kind: "preface"}) }
func (r *recorder) Synced(n int, ts time.Time) {
	r.events = append(r.events, event{kind: "synced", n: n})
}
func (r *recorder) Error(err error, ts time.Time) {
	r.events = append(r.events, event{kind: "error", err: err.Error()})
}

// merged returns the events with consecutive DataChunks of one frame
// joined, which is what must not depend on how the bytes were cut.
func (r *recorder) merged() []event {
	var out []event
	for _, e := range r.events {
		if n := len(out); e.kind == "data" && n > 0 && out[n-1].kind == "data" && out[n-1].hdr == e.hdr {
			out[n-1].b = append(out[n-1].b, e.b...)
			continue
		}
		out = append(out, e)
	}
	return out
}

// kinds lists the events briefly, for comparing sequences in tests.
func kinds(evs []event) string {
	var s []string
	for _, e := range evs {
		switch e.kind {
		case "frame":
			s = append(s, e.hdr.Type.String())
		case "data":
			s = append(s, fmt.Sprintf("data(%d)", len(e.b)))
		case "block":
			s = append(s, fmt.Sprintf("block(%d)", len(e.b)))
		case "synced":
			s = append(s, fmt.Sprintf("synced(%d)", e.n))
		default:
			s = append(s, e.kind)
		}
	}
	return strings.Join(s, " ")
}

func sameEvents(t testing.TB, what string, got, want []event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d\n got %s\nwant %s", what, len(got), len(want), kinds(got), kinds(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.kind != w.kind || g.hdr != w.hdr || !bytes.Equal(g.b, w.b) || g.n != w.n || g.err != w.err || !sameFrame(g.frame, w.frame) {
			t.Fatalf("%s: event %d is %v, want %v", what, i, g, w)
		}
	}
}

func sameFrame(a, b Frame) bool {
	if (a.Priority == nil) != (b.Priority == nil) || a.Priority != nil && *a.Priority != *b.Priority {
		return false
	}
	return a.FrameHeader == b.FrameHeader && a.PadLength == b.PadLength &&
		bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Fragment, b.Fragment) &&
		a.ErrCode == b.ErrCode && slices.Equal(a.Settings, b.Settings) &&
		a.PromisedID == b.PromisedID && a.LastStream == b.LastStream &&
		bytes.Equal(a.Debug, b.Debug) && a.Increment == b.Increment &&
		a.PingData == b.PingData && bytes.Equal(a.Unparsed, b.Unparsed)
}

// feedWhole, feedBytes and feedChunks feed one stream three ways.
func feedWhole(preface, fromStart bool, b []byte) (*recorder, *Parser) {
	r := &recorder{}
	p := NewParser(r, preface, fromStart)
	p.Feed(b, time.Time{})
	return r, p
}

func feedBytes(preface, fromStart bool, b []byte) (*recorder, *Parser) {
	r := &recorder{}
	p := NewParser(r, preface, fromStart)
	for i := range b {
		p.Feed(b[i:i+1], time.Time{})
	}
	return r, p
}

// feedChunks feeds b in pieces of 1 to max bytes, the first of first
// bytes when first > 0.
func feedChunks(preface, fromStart bool, b []byte, rng *rand.Rand, first, max int) (*recorder, *Parser) {
	r := &recorder{}
	p := NewParser(r, preface, fromStart)
	for len(b) > 0 {
		n := min(len(b), 1+rng.IntN(max))
		if first > 0 {
			n, first = min(len(b), first), 0
		}
		p.Feed(b[:n], time.Time{})
		b = b[n:]
	}
	return r, p
}

// framer returns an x/net Framer writing into a new buffer.
func framer() (*xhttp2.Framer, *bytes.Buffer) {
	var buf bytes.Buffer
	return xhttp2.NewFramer(&buf, nil), &buf
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
