package http2

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	xhttp2 "golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// headerBlock HPACK-encodes name/value pairs.
func headerBlock(enc *hpack.Encoder, buf *bytes.Buffer, kv ...string) []byte {
	buf.Reset()
	for i := 0; i < len(kv); i += 2 {
		if err := enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]}); err != nil {
			panic(err)
		}
	}
	return bytes.Clone(buf.Bytes())
}

// grpcMessage is a gRPC length-prefixed message of printable text.
func grpcMessage(s string) []byte {
	return append([]byte{0, byte(len(s) >> 24), byte(len(s) >> 16), byte(len(s) >> 8), byte(len(s))}, s...)
}

// clientStream is a client direction of a gRPC connection as x/net
// writes it: the preface and one frame of every type, header blocks
// split over CONTINUATIONs, padded frames.
func clientStream(t testing.TB) []byte {
	fr, buf := framer()
	buf.WriteString(Preface)
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	must(t, fr.WriteSettings(xhttp2.Setting{ID: xhttp2.SettingInitialWindowSize, Val: 1 << 20}, xhttp2.Setting{ID: xhttp2.SettingEnablePush, Val: 0}))
	must(t, fr.WriteWindowUpdate(0, 983041))
	req := headerBlock(enc, &hb, ":method", "POST", ":scheme", "http", ":path", "/grpc.testing.TestService/UnaryCall",
		":authority", "localhost:50051", "content-type", "application/grpc", "user-agent", "grpc-go/1.85.0", "te", "trailers")
	must(t, fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: req, EndHeaders: true}))
	must(t, fr.WriteData(1, true, grpcMessage("hello, server")))
	must(t, fr.WriteSettingsAck())
	req = headerBlock(enc, &hb, ":method", "POST", ":scheme", "http", ":path", "/grpc.testing.TestService/FullDuplexCall",
		":authority", "localhost:50051", "content-type", "application/grpc", "grpc-timeout", "99m", "x-custom-bin", "AAEC")
	must(t, fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 3, BlockFragment: req[:10], PadLength: 3,
		Priority: xhttp2.PriorityParam{StreamDep: 1, Weight: 15}}))
	must(t, fr.WriteContinuation(3, false, req[10:20]))
	must(t, fr.WriteContinuation(3, true, req[20:]))
	must(t, fr.WriteDataPadded(3, false, grpcMessage("first message on a long-lived stream"), make([]byte, 7)))
	must(t, fr.WritePing(false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8}))
	must(t, fr.WriteData(3, false, grpcMessage(strings.Repeat("a larger message; ", 100))))
	must(t, fr.WritePriority(3, xhttp2.PriorityParam{StreamDep: 0, Exclusive: true, Weight: 255}))
	must(t, fr.WriteRawFrame(0xf0, 0x5, 3, []byte("extension")))
	must(t, fr.WriteData(3, true, nil))
	must(t, fr.WriteRSTStream(3, xhttp2.ErrCodeCancel))
	must(t, fr.WriteWindowUpdate(3, 1))
	must(t, fr.WriteGoAway(3, xhttp2.ErrCodeNo, []byte("client going away")))
	return buf.Bytes()
}

// serverStream is a server direction: SETTINGS first, responses with
// printable DATA, trailers, a push promise.
func serverStream(t testing.TB) []byte {
	fr, buf := framer()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	must(t, fr.WriteSettings(xhttp2.Setting{ID: xhttp2.SettingMaxFrameSize, Val: 16384}))
	must(t, fr.WriteSettingsAck())
	for sid := uint32(1); sid <= 7; sid += 2 {
		resp := headerBlock(enc, &hb, ":status", "200", "content-type", "application/grpc")
		must(t, fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: sid, BlockFragment: resp, EndHeaders: true}))
		for i := range 3 {
			must(t, fr.WriteData(sid, false, []byte(fmt.Sprintf("Response %d on stream %d, with some words to make it long enough to be cut anywhere.", i, sid))))
		}
		if sid == 5 {
			// Like the interop tests' large messages: zeros.
			must(t, fr.WriteData(sid, false, grpcMessage(string(make([]byte, 3000)))))
		}
		trailers := headerBlock(enc, &hb, "grpc-status", "0", "grpc-message", "")
		must(t, fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: sid, BlockFragment: trailers, EndHeaders: true, EndStream: true}))
		must(t, fr.WritePing(true, [8]byte{9, 9, 9, 9, 9, 9, 9, byte(sid)}))
	}
	return buf.Bytes()
}

// boundaries returns the offsets where frames start in a stream of
// frames that begins at a boundary.
func boundaries(b []byte) []int {
	var out []int
	for i := 0; i+HeaderLen <= len(b); i += HeaderLen + int(ReadHeader(b[i:]).Length) {
		out = append(out, i)
	}
	return out
}

func TestParserStream(t *testing.T) {
	b := clientStream(t)
	r, p := feedWhole(true, false, b)
	want := "preface SETTINGS WINDOW_UPDATE block(79) HEADERS data(18) DATA SETTINGS HEADERS CONTINUATION" +
		" block(66) CONTINUATION data(41) DATA PING data(1805) DATA PRIORITY UNKNOWN_0xf0 DATA RST_STREAM WINDOW_UPDATE GOAWAY"
	evs := r.merged()
	if got := kinds(evs); got != want {
		t.Errorf("events\n got %s\nwant %s", got, want)
	}
	if p.Stats.Frames != 17 || p.Stats.Errors != 0 || p.Stats.Resyncs != 0 || !p.InSync() {
		t.Errorf("stats %+v", p.Stats)
	}
	d := hpack.NewDecoder(4096, nil)
	for _, e := range evs {
		if e.kind != "block" {
			continue
		}
		fs, err := d.DecodeFull(e.b)
		if err != nil || len(fs) != 7 {
			t.Errorf("block %v decodes to %v, %v", e, fs, err)
		}
		if e.hdr.StreamID == 3 {
			if e.hdr.Type != TypeHeaders || !e.hdr.Flags.Has(FlagPriority) || !e.hdr.Flags.Has(FlagPadded) {
				t.Errorf("block %v: first frame should be the HEADERS", e)
			}
			if len(fs) < 3 || fs[2].Value != "/grpc.testing.TestService/FullDuplexCall" {
				t.Errorf("assembled block decodes to %v", fs)
			}
		}
	}
}

// TestParserChunking: whole, byte by byte or in random pieces, the
// same bytes give the same events.
func TestParserChunking(t *testing.T) {
	streams := []struct {
		name               string
		b                  []byte
		preface, fromStart bool
	}{
		{"client", clientStream(t), true, false},
		{"server", serverStream(t), false, true},
		{"server joined mid-way", serverStream(t)[100:], false, false},
		{"wrong preface", append([]byte("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"), serverStream(t)...), true, false},
	}
	for _, s := range streams {
		t.Run(s.name, func(t *testing.T) {
			whole, pw := feedWhole(s.preface, s.fromStart, s.b)
			want := whole.merged()
			bytewise, pb := feedBytes(s.preface, s.fromStart, s.b)
			if !strings.Contains(s.name, "mid-way") {
				// Searching for a boundary believes a frame that ends where
				// the bytes end, so only streams that need no search are
				// cut-invariant byte by byte.
				sameEvents(t, "byte by byte", bytewise.merged(), want)
				if pb.Stats != pw.Stats {
					t.Errorf("byte by byte stats %+v, whole %+v", pb.Stats, pw.Stats)
				}
			}
			for seed := range uint64(30) {
				rng := rand.New(rand.NewPCG(seed, 1))
				first := 0
				if strings.Contains(s.name, "mid-way") || strings.Contains(s.name, "wrong") {
					// The search for a boundary sees one segment's worth.
					first = 1500
				}
				r, p := feedChunks(s.preface, s.fromStart, s.b, rng, first, 1+rng.IntN(200))
				sameEvents(t, fmt.Sprintf("chunks seed %d", seed), r.merged(), want)
				if p.Stats != pw.Stats {
					t.Errorf("seed %d: stats %+v, whole %+v", seed, p.Stats, pw.Stats)
				}
			}
		})
	}
}

func TestPreface(t *testing.T) {
	fr, buf := framer()
	must(t, fr.WriteSettings())
	settings := buf.Bytes()
	t.Run("split", func(t *testing.T) {
		r := &recorder{}
		p := NewParser(r, true, false)
		b := append([]byte(Preface), settings...)
		p.Feed(b[:3], time.Time{})
		p.Feed(b[3:23], time.Time{})
		if len(r.events) != 0 {
			t.Fatalf("events before the preface is whole: %v", r.events)
		}
		p.Feed(b[23:], time.Time{})
		if got := kinds(r.events); got != "preface SETTINGS" {
			t.Errorf("events %s", got)
		}
	})
	t.Run("wrong", func(t *testing.T) {
		b := append([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), settings...)
		b = append(b, settings...)
		for _, feed := range []func(bool, bool, []byte) (*recorder, *Parser){feedWhole, feedBytes} {
			r, p := feed(true, false, b)
			if got := kinds(r.events); got != "error synced(27) SETTINGS SETTINGS" {
				t.Errorf("events %s", got)
			}
			if p.Stats.SkippedBytes != 27 || p.Stats.Resyncs != 1 {
				t.Errorf("stats %+v", p.Stats)
			}
		}
	})
	t.Run("wrong after a matching prefix", func(t *testing.T) {
		// The bytes that matched the preface are skipped, and counted.
		b := append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\nXX"), settings...)
		b = append(b, settings...)
		for _, feed := range []func(bool, bool, []byte) (*recorder, *Parser){feedWhole, feedBytes} {
			r, p := feed(true, false, b)
			if got := kinds(r.events); got != "error synced(24) SETTINGS SETTINGS" {
				t.Errorf("events %s", got)
			}
			if p.Stats.SkippedBytes != 24 {
				t.Errorf("SkippedBytes = %d, want 24", p.Stats.SkippedBytes)
			}
		}
	})
}

// TestSyncMidstream starts the parser at every offset inside the DATA
// payloads of a stream: it must find the next frame boundary and from
// there on report exactly what a parser from the start reports.
func TestSyncMidstream(t *testing.T) {
	b := serverStream(t)
	ref, _ := feedWhole(false, true, b)
	refEvents := ref.merged()
	bounds := boundaries(b)
	// eventsFrom returns the reference events of the frames from the
	// boundary at index i on.
	eventsFrom := func(i int) []event {
		frames := 0
		for j, e := range refEvents {
			if e.kind != "frame" {
				continue
			}
			if frames == i {
				// Back up over the DataChunks and header block of frame i.
				k := j
				for k > 0 && refEvents[k-1].kind != "frame" {
					k--
				}
				return refEvents[k:]
			}
			frames++
		}
		return nil
	}
	tested := 0
	for bi, start := range bounds {
		h := ReadHeader(b[start:])
		if h.Type != TypeData {
			continue
		}
		for k := start + HeaderLen + 1; k < start+HeaderLen+int(h.Length); k++ {
			r, p := feedWhole(false, false, b[k:])
			evs := r.merged()
			next := bounds[bi+1]
			want := append([]event{{kind: "synced", n: next - k}}, eventsFrom(bi+1)...)
			sameEvents(t, fmt.Sprintf("from offset %d", k), evs, want)
			if p.Stats.SkippedBytes != uint64(next-k) || p.Stats.Resyncs != 1 {
				t.Fatalf("from offset %d: stats %+v", k, p.Stats)
			}
			tested++
		}
	}
	if tested < 3000 {
		t.Fatalf("only %d offsets tested", tested)
	}
}

// TestSyncAnywhere starts at every offset of a stream, in frame headers
// and binary payloads too. A search can be fooled, but rarely: at most
// 1% of the starts may end on a false boundary.
func TestSyncAnywhere(t *testing.T) {
	for _, s := range []struct {
		name string
		b    []byte
	}{{"server", serverStream(t)}, {"client", clientStream(t)[len(Preface):]}} {
		t.Run(s.name, func(t *testing.T) {
			b := s.b
			isBound := map[int]bool{}
			for _, o := range boundaries(b) {
				isBound[o] = true
			}
			exact, wrong := 0, 0
			for k := 1; k < len(b); k++ {
				r, _ := feedWhole(false, false, b[k:])
				if len(r.events) == 0 {
					continue // nothing believable left
				}
				if r.events[0].kind != "synced" {
					t.Fatalf("from offset %d: first event %v", k, r.events[0])
				}
				at := k + r.events[0].n
				if isBound[at] {
					exact++
				} else {
					wrong++
				}
			}
			t.Logf("%d of %d offsets synced on a real boundary, %d on a false one", exact, len(b)-1, wrong)
			if wrong*100 > len(b) {
				t.Errorf("%d false boundaries from %d starts", wrong, len(b)-1)
			}
		})
	}
}

func TestGapResync(t *testing.T) {
	b := clientStream(t)
	bounds := boundaries(b[len(Preface):])
	for i := range bounds {
		bounds[i] += len(Preface)
	}
	// Find the HEADERS of stream 3, which is followed by CONTINUATIONs,
	// and the DATA frame after it.
	var hdrs, data, data1 int
	for _, o := range bounds {
		h := ReadHeader(b[o:])
		switch {
		case h.Type == TypeHeaders && h.StreamID == 3:
			hdrs = o
		case h.Type == TypeData && h.StreamID == 3 && data == 0:
			data = o
		case h.Type == TypeData && h.StreamID == 1:
			data1 = o
		}
	}
	tests := []struct {
		name     string
		cut, off int // feed b[:cut], Gap, feed b[off:]
		lost     bool
	}{
		{"gap inside a header block, resumed in padding", hdrs + HeaderLen + 3, data + HeaderLen + 43, true},
		{"gap on a boundary", data1, data, false},
		{"gap inside DATA", data1 + HeaderLen + 2, data1 + HeaderLen + 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{}
			p := NewParser(r, true, false)
			p.Feed(b[:tt.cut], time.Time{})
			before := len(r.merged())
			p.Gap(time.Time{})
			if p.InSync() {
				t.Error("in sync after a gap")
			}
			p.Feed(b[tt.off:], time.Time{})
			evs := r.merged()[before:]
			if tt.lost {
				if len(evs) == 0 || evs[0].kind != "lost" {
					t.Fatalf("events after the gap %s: want HeadersLost first", kinds(evs))
				}
				evs = evs[1:]
			}
			next := 0
			for _, o := range bounds {
				if o >= tt.off {
					next = o
					break
				}
			}
			if len(evs) == 0 || evs[0].kind != "synced" || evs[0].n != next-tt.off {
				t.Fatalf("events after the gap %s: want synced(%d) first", kinds(evs), next-tt.off)
			}
			// From the boundary on, the same frames as without the gap.
			rest, _ := feedWhole(false, true, b[next:])
			sameEvents(t, "after resync", evs[1:], rest.merged())
			if p.Stats.Resyncs != 1 || p.Stats.SkippedBytes != uint64(next-tt.off) {
				t.Errorf("stats %+v", p.Stats)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	ping := func() []byte {
		fr, buf := framer()
		must(t, fr.WritePing(false, [8]byte{7}))
		return buf.Bytes()
	}
	hdr := func(b []byte, typ Type, flags Flags, sid uint32, payload []byte) []byte {
		b = AppendHeader(b, FrameHeader{Length: uint32(len(payload)), Type: typ, Flags: flags, StreamID: sid})
		return append(b, payload...)
	}
	normalBlock := func(b []byte) []byte { return hdr(b, TypeHeaders, FlagEndHeaders, 9, []byte("\x88")) }
	tests := []struct {
		name  string
		build func() []byte
		want  string // event kinds
		errs  []string
	}{{
		name: "oversize frame skipped",
		build: func() []byte {
			b := AppendHeader(nil, FrameHeader{Length: MaxBufferedFrame + 1, Type: TypeSettings})
			b = append(b, make([]byte, MaxBufferedFrame+1)...)
			return append(b, ping()...)
		},
		want: "error PING",
		errs: []string{"SETTINGS frame of 1048577 bytes on stream 0 exceeds the 1048576-byte limit; skipped"},
	}, {
		name: "oversize HEADERS and its CONTINUATIONs",
		build: func() []byte {
			b := AppendHeader(nil, FrameHeader{Length: MaxBufferedFrame + 1, Type: TypeHeaders, StreamID: 1})
			b = append(b, make([]byte, MaxBufferedFrame+1)...)
			b = hdr(b, TypeContinuation, 0, 1, []byte("more"))
			b = hdr(b, TypeContinuation, FlagEndHeaders, 1, []byte("end"))
			return normalBlock(b)
		},
		want: "error lost CONTINUATION CONTINUATION block(1) HEADERS",
		errs: []string{"HEADERS frame of 1048577 bytes on stream 1 exceeds the 1048576-byte limit; skipped"},
	}, {
		name: "CONTINUATION flood",
		build: func() []byte {
			b := hdr(nil, TypeHeaders, 0, 1, []byte("x"))
			for range 5000 {
				b = hdr(b, TypeContinuation, 0, 1, nil)
			}
			b = hdr(b, TypeContinuation, FlagEndHeaders, 1, nil)
			return normalBlock(b)
		},
		want: "HEADERS" + strings.Repeat(" CONTINUATION", MaxContinuations) + " error lost" +
			strings.Repeat(" CONTINUATION", 5001-MaxContinuations) + " block(1) HEADERS",
		errs: []string{"header block on stream 1 exceeds 1048576 bytes or 1024 frames; dropped"},
	}, {
		name: "header block too large",
		build: func() []byte {
			b := hdr(nil, TypeHeaders, 0, 1, make([]byte, MaxHeaderBlock/2+1))
			b = hdr(b, TypeContinuation, 0, 1, make([]byte, MaxHeaderBlock/2))
			b = hdr(b, TypeContinuation, FlagEndHeaders, 1, []byte("x"))
			return normalBlock(b)
		},
		want: "HEADERS error lost CONTINUATION CONTINUATION block(1) HEADERS",
		errs: []string{"header block on stream 1 exceeds 1048576 bytes or 1024 frames; dropped"},
	}, {
		name: "frame inside a header block",
		build: func() []byte {
			b := hdr(nil, TypeHeaders, 0, 1, []byte("x"))
			b = append(b, ping()...)
			b = hdr(b, TypeContinuation, FlagEndHeaders, 1, []byte("y"))
			return normalBlock(b)
		},
		want: "HEADERS error lost PING CONTINUATION block(1) HEADERS",
		errs: []string{"PING frame on stream 0 interrupts the header block of stream 1"},
	}, {
		name: "DATA inside a header block",
		build: func() []byte {
			b := hdr(nil, TypeHeaders, 0, 1, []byte("x"))
			b = hdr(b, TypeData, 0, 1, []byte("data"))
			b = hdr(b, TypeContinuation, FlagEndHeaders, 1, []byte("y"))
			return normalBlock(b)
		},
		want: "HEADERS data(4) error lost DATA CONTINUATION block(1) HEADERS",
		errs: []string{"DATA frame on stream 1 interrupts the header block of stream 1"},
	}, {
		name: "CONTINUATION of another stream",
		build: func() []byte {
			b := hdr(nil, TypeHeaders, 0, 1, []byte("x"))
			b = hdr(b, TypeContinuation, FlagEndHeaders, 3, []byte("y"))
			return normalBlock(b)
		},
		want: "HEADERS error lost CONTINUATION block(1) HEADERS",
		errs: []string{"CONTINUATION frame on stream 3 interrupts the header block of stream 1"},
	}, {
		name: "HEADERS inside a header block",
		build: func() []byte {
			b := hdr(nil, TypeHeaders, 0, 1, []byte("x"))
			b = hdr(b, TypeHeaders, 0, 3, []byte("y"))
			b = hdr(b, TypeContinuation, FlagEndHeaders, 3, []byte("z"))
			return normalBlock(b)
		},
		want: "HEADERS error lost HEADERS block(2) CONTINUATION block(1) HEADERS",
		errs: []string{"HEADERS frame on stream 3 interrupts the header block of stream 1"},
	}, {
		name: "CONTINUATION without HEADERS",
		build: func() []byte {
			b := hdr(nil, TypeContinuation, FlagEndHeaders, 3, []byte("z"))
			return normalBlock(b)
		},
		want: "error lost CONTINUATION block(1) HEADERS",
		errs: []string{"CONTINUATION on stream 3 without a header block"},
	}, {
		name: "huge DATA is streamed",
		build: func() []byte {
			b := AppendHeader(nil, FrameHeader{Length: 1<<24 - 1, Type: TypeData, StreamID: 1})
			b = append(b, make([]byte, 1<<24-1)...)
			return append(b, ping()...)
		},
		want: "data(16777215) DATA PING",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.build()
			r := &recorder{}
			p := NewParser(r, false, true)
			// Feed in TCP-sized pieces, the way the parser sees traffic.
			for len(b) > 0 {
				n := min(len(b), 65536)
				p.Feed(b[:n], time.Time{})
				b = b[n:]
				if cap(p.buf) > MaxBufferedFrame+HeaderLen || cap(p.block) > 2*MaxHeaderBlock {
					t.Fatalf("buffers grew to %d and %d bytes", cap(p.buf), cap(p.block))
				}
			}
			evs := r.merged()
			if got := kinds(evs); got != tt.want {
				if len(got) > 300 {
					got = got[:150] + " … " + got[len(got)-150:]
				}
				t.Errorf("events\n got %s\nwant %s", got, tt.want)
			}
			var errs []string
			for _, e := range evs {
				if e.kind == "error" {
					errs = append(errs, e.err)
				}
			}
			if fmt.Sprint(errs) != fmt.Sprint(tt.errs) {
				t.Errorf("errors %q, want %q", errs, tt.errs)
			}
			if p.Stats.Errors != uint64(len(tt.errs)) {
				t.Errorf("Stats.Errors = %d", p.Stats.Errors)
			}
		})
	}
}

// TestSyncScanBounded: garbage that never looks like frames costs a
// bounded buffer, and every byte skipped is counted.
func TestSyncScanBounded(t *testing.T) {
	r := &recorder{}
	p := NewParser(r, false, false)
	garbage := bytes.Repeat([]byte("garbage! "), 1<<10)
	total := 0
	for range 100 {
		p.Feed(garbage, time.Time{})
		total += len(garbage)
		if cap(p.buf) > 2*MaxSyncScan {
			t.Fatalf("sync buffer grew to %d", cap(p.buf))
		}
	}
	if len(r.events) != 0 || p.InSync() {
		t.Fatalf("events %s from garbage", kinds(r.events))
	}
	if held := len(p.buf); p.Stats.SkippedBytes+uint64(held) != uint64(total) {
		t.Errorf("skipped %d + held %d != %d fed", p.Stats.SkippedBytes, held, total)
	}
	// Frames after the garbage are still found.
	fr, buf := framer()
	must(t, fr.WritePing(false, [8]byte{}))
	must(t, fr.WritePing(true, [8]byte{}))
	p.Feed(buf.Bytes(), time.Time{})
	if got := kinds(r.events); !strings.HasPrefix(got, "synced(") || !strings.HasSuffix(got, "PING PING") {
		t.Errorf("events %s", got)
	}
	if p.Stats.SkippedBytes != uint64(total) {
		t.Errorf("SkippedBytes = %d, want %d", p.Stats.SkippedBytes, total)
	}
}

// TestSkip: bytes left out as whole frames are passed over only at a
// frame boundary with no header block open (the frames after them parse
// as without them), or while searching for boundaries; anywhere else the
// parser says no and stays as it was.
func TestSkip(t *testing.T) {
	b := clientStream(t)
	bounds := boundaries(b[len(Preface):])
	for i := range bounds {
		bounds[i] += len(Preface)
	}
	var cont, data int // inside a header block (before a CONTINUATION), a DATA frame
	for _, o := range bounds {
		h := ReadHeader(b[o:])
		if h.Type == TypeContinuation && cont == 0 {
			cont = o
		}
		if h.Type == TypeData && data == 0 {
			data = o
		}
	}
	if cont == 0 || data == 0 {
		t.Fatal("the stream has no CONTINUATION or no DATA frame")
	}
	t.Run("at a boundary", func(t *testing.T) {
		at := bounds[len(bounds)/2]
		r := &recorder{}
		p := NewParser(r, true, false)
		p.Feed(b[:at], time.Time{})
		before := len(r.merged())
		if !p.Skip() {
			t.Fatal("Skip refused at a frame boundary")
		}
		p.Feed(b[at:], time.Time{})
		rest, _ := feedWhole(false, true, b[at:])
		sameEvents(t, "after the skip", r.merged()[before:], rest.merged())
	})
	for _, tt := range []struct {
		name string
		at   int
	}{
		{"inside a header block", cont},
		{"inside a frame", data + HeaderLen + 1},
		{"inside a frame header", data + 4},
		{"inside the preface", 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := NewParser(&recorder{}, true, false)
			p.Feed(b[:tt.at], time.Time{})
			idle := p.Idle()
			if p.Skip() {
				t.Error("Skip taken off a frame boundary")
			}
			if p.Idle() != idle || !p.InSync() {
				t.Error("a refused Skip changed the parser")
			}
		})
	}
	t.Run("while searching", func(t *testing.T) {
		// Joined mid-frame: the bytes held for the search are given up,
		// and the search goes on after the skipped ones.
		at := bounds[len(bounds)/2]
		r := &recorder{}
		p := NewParser(r, false, false)
		p.Feed(b[at-3:at], time.Time{})
		if !p.Skip() {
			t.Fatal("Skip refused while searching")
		}
		if p.InSync() || p.Stats.SkippedBytes != 3 {
			t.Errorf("in sync %v, skipped %d bytes; want searching, 3", p.InSync(), p.Stats.SkippedBytes)
		}
		p.Feed(b[at:], time.Time{})
		evs := r.merged()
		if len(evs) == 0 || evs[0].kind != "synced" || evs[0].n != 0 {
			t.Fatalf("events %s: want synced(0) first", kinds(evs))
		}
		rest, _ := feedWhole(false, true, b[at:])
		sameEvents(t, "after the skip", evs[1:], rest.merged())
	})
}
