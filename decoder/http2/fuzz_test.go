package http2

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	xhttp2 "golang.org/x/net/http2"
)

// fuzzSeeds are short streams written by x/net's Framer.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	fr, buf := framer()
	buf.WriteString(Preface)
	must(t, fr.WriteSettings(xhttp2.Setting{ID: 4, Val: 65535}))
	must(t, fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte("\x83\x86\x84"), EndHeaders: true}))
	must(t, fr.WriteDataPadded(1, true, grpcMessage("hi"), make([]byte, 3)))
	seeds = append(seeds, slices.Clone(buf.Bytes()))

	fr, buf = framer()
	must(t, fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 3, BlockFragment: []byte("\x88"), PadLength: 2,
		Priority: xhttp2.PriorityParam{StreamDep: 1, Weight: 3}}))
	must(t, fr.WriteContinuation(3, false, []byte("\x40")))
	must(t, fr.WriteContinuation(3, true, []byte("\x01a\x01b")))
	must(t, fr.WritePing(true, [8]byte{1, 2, 3}))
	must(t, fr.WriteGoAway(3, xhttp2.ErrCodeProtocol, []byte("bye")))
	seeds = append(seeds, slices.Clone(buf.Bytes()))

	fr, buf = framer()
	must(t, fr.WritePushPromise(xhttp2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: []byte("\x82"), PadLength: 1}))
	must(t, fr.WriteContinuation(1, true, nil))
	must(t, fr.WriteRSTStream(1, xhttp2.ErrCodeCancel))
	must(t, fr.WriteWindowUpdate(0, 1000))
	must(t, fr.WritePriority(5, xhttp2.PriorityParam{StreamDep: 3, Exclusive: true}))
	must(t, fr.WriteRawFrame(0x20, 0xff, 7, []byte("?")))
	must(t, fr.WriteSettingsAck())
	seeds = append(seeds, slices.Clone(buf.Bytes()))
	return seeds
}

// checkEvents checks what must hold of any event sequence: a DATA frame's
// chunks add up to its length less padding, and header blocks are bounded.
func checkEvents(t *testing.T, evs []event) {
	t.Helper()
	var chunks uint32
	for _, e := range evs {
		switch e.kind {
		case "data":
			chunks += uint32(len(e.b))
		case "block":
			if len(e.b) > MaxHeaderBlock {
				t.Fatalf("header block of %d bytes", len(e.b))
			}
		case "frame":
			if e.hdr.Type != TypeData {
				continue
			}
			want := e.hdr.Length
			if e.frame.PadLength >= 0 {
				want -= 1 + uint32(e.frame.PadLength)
			}
			if chunks != want {
				t.Fatalf("DATA frame %v with pad %d: %d bytes of chunks, want %d", e, e.frame.PadLength, chunks, want)
			}
			chunks = 0
		}
	}
}

func synced(evs []event) bool {
	for _, e := range evs {
		if e.kind == "synced" {
			return true
		}
	}
	return false
}

// FuzzParser feeds any bytes to a parser that expects a preface, one that
// starts on a frame boundary and one that must search for one; whole, byte
// by byte and in random pieces. It must not panic, must keep its buffers
// bounded, and, when no search was needed, how the bytes were cut must not
// change a single event.
func FuzzParser(f *testing.F) {
	for i, s := range fuzzSeeds(f) {
		for mode := range byte(3) {
			f.Add(mode, byte(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, mode, seed byte, data []byte) {
		preface, fromStart := mode%3 == 0, mode%3 == 1
		whole, pw := feedWhole(preface, fromStart, data)
		want := whole.merged()
		checkEvents(t, want)
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(len(data))))
		r := &recorder{}
		p := NewParser(r, preface, fromStart)
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(64))
			p.Feed(rest[:n], time.Time{})
			rest = rest[n:]
			if cap(p.buf) > 2*MaxSyncScan+MaxBufferedFrame || cap(p.block) > 2*MaxHeaderBlock {
				t.Fatalf("buffers grew to %d and %d bytes", cap(p.buf), cap(p.block))
			}
		}
		got := r.merged()
		checkEvents(t, got)
		bytewise, pb := feedBytes(preface, fromStart, data)
		checkEvents(t, bytewise.merged())
		if synced(want) || synced(got) || synced(bytewise.events) {
			return // a search believes frames that end where a piece ends
		}
		sameEvents(t, "random pieces", got, want)
		sameEvents(t, "byte by byte", bytewise.merged(), want)
		if p.Stats != pw.Stats || pb.Stats != pw.Stats {
			t.Fatalf("stats: whole %+v, pieces %+v, bytes %+v", pw.Stats, p.Stats, pb.Stats)
		}
	})
}
