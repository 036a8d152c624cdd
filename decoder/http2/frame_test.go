package http2

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"

	xhttp2 "golang.org/x/net/http2"
)

func TestFrameHeaderRoundTrip(t *testing.T) {
	tests := []FrameHeader{
		{},
		{Length: 8, Type: TypePing, Flags: FlagAck},
		{Length: 16384, Type: TypeData, Flags: FlagEndStream | FlagPadded, StreamID: 1},
		{Length: 1<<24 - 1, Type: TypeHeaders, Flags: 0xff, StreamID: 1<<31 - 1},
		{Length: 0x010203, Type: 0x42, Flags: 0x80, StreamID: 0x04050607, Reserved: true},
		{Type: TypeSettings, Reserved: true},
	}
	for _, h := range tests {
		b := AppendHeader([]byte{0xee}, h)
		if len(b) != 1+HeaderLen || b[0] != 0xee {
			t.Fatalf("AppendHeader(%+v) = %x: must append 9 bytes", h, b)
		}
		if got := ReadHeader(b[1:]); got != h {
			t.Errorf("ReadHeader(AppendHeader(%+v)) = %+v", h, got)
		}
	}
}

// TestFrameHeaderRFC checks the layout of RFC 9113 §4.1 byte by byte,
// against x/net's writer and reader.
func TestFrameHeaderRFC(t *testing.T) {
	b, _ := hex.DecodeString("00000604000000000000050000400000")
	h := ReadHeader(b)
	want := FrameHeader{Length: 6, Type: TypeSettings}
	if h != want {
		t.Errorf("SETTINGS header = %+v, want %+v", h, want)
	}
	b, _ = hex.DecodeString("123456" + "01" + "25" + "80000003")
	h = ReadHeader(b)
	want = FrameHeader{Length: 0x123456, Type: TypeHeaders, Flags: FlagEndStream | FlagEndHeaders | FlagPriority, StreamID: 3, Reserved: true}
	if h != want {
		t.Errorf("HEADERS header = %+v, want %+v", h, want)
	}

	fr, buf := framer()
	must(t, fr.WriteRawFrame(0xbe, 0xef, 0x7654321, []byte("abc")))
	want = FrameHeader{Length: 3, Type: 0xbe, Flags: 0xef, StreamID: 0x7654321}
	if h := ReadHeader(buf.Bytes()); h != want {
		t.Errorf("x/net raw frame header = %+v, want %+v", h, want)
	}
	mine := AppendHeader(nil, want)
	xh, err := xhttp2.ReadFrameHeader(bytes.NewReader(mine))
	must(t, err)
	if xh.Length != 3 || xh.Type != 0xbe || xh.Flags != 0xef || xh.StreamID != 0x7654321 {
		t.Errorf("x/net reads our header as %+v", xh)
	}
}

func TestPlausible(t *testing.T) {
	const max = 1 << 14
	tests := []struct {
		h    FrameHeader
		want bool
	}{
		{FrameHeader{Type: TypeData, StreamID: 1, Length: 100}, true},
		{FrameHeader{Type: TypeData, StreamID: 1, Flags: FlagEndStream | FlagPadded, Length: 1}, true},
		{FrameHeader{Type: TypeData, StreamID: 1, Flags: FlagEndStream | FlagPadded}, false}, // no room for the pad length
		{FrameHeader{Type: TypeData, StreamID: 1}, true},
		{FrameHeader{Type: TypeData, StreamID: 0}, false},
		{FrameHeader{Type: TypeData, StreamID: 1, Flags: FlagEndHeaders}, false},
		{FrameHeader{Type: TypeData, StreamID: 1, Length: max + 1}, false},
		{FrameHeader{Type: TypeData, StreamID: 1, Length: max}, true},
		{FrameHeader{Type: TypeData, StreamID: 1, Reserved: true}, false},
		{FrameHeader{Type: TypeHeaders, StreamID: 1, Flags: FlagEndStream | FlagEndHeaders | FlagPadded | FlagPriority, Length: 6}, true},
		{FrameHeader{Type: TypeHeaders, StreamID: 1, Flags: FlagEndStream | FlagEndHeaders | FlagPadded | FlagPriority, Length: 5}, false},
		{FrameHeader{Type: TypeHeaders, StreamID: 1, Flags: FlagPriority, Length: 5}, true},
		{FrameHeader{Type: TypeHeaders, StreamID: 1, Flags: FlagPriority, Length: 4}, false},
		{FrameHeader{Type: TypeHeaders, StreamID: 1}, true},
		{FrameHeader{Type: TypeHeaders, StreamID: 0, Flags: FlagEndHeaders}, false},
		{FrameHeader{Type: TypeHeaders, StreamID: 1, Flags: 0x40}, false},
		{FrameHeader{Type: TypePriority, StreamID: 3, Length: 5}, true},
		{FrameHeader{Type: TypePriority, StreamID: 3, Length: 4}, false},
		{FrameHeader{Type: TypePriority, StreamID: 0, Length: 5}, false},
		{FrameHeader{Type: TypeRSTStream, StreamID: 3, Length: 4}, true},
		{FrameHeader{Type: TypeRSTStream, StreamID: 0, Length: 4}, false},
		{FrameHeader{Type: TypeRSTStream, StreamID: 3, Length: 8}, false},
		{FrameHeader{Type: TypeSettings, Length: 18}, true},
		{FrameHeader{Type: TypeSettings, Length: 0}, true},
		{FrameHeader{Type: TypeSettings, Length: 7}, false},
		{FrameHeader{Type: TypeSettings, Length: 6, StreamID: 1}, false},
		{FrameHeader{Type: TypeSettings, Flags: FlagAck}, true},
		{FrameHeader{Type: TypeSettings, Flags: FlagAck, Length: 6}, false},
		{FrameHeader{Type: TypeSettings, Flags: 0x2}, false},
		{FrameHeader{Type: TypePushPromise, StreamID: 1, Length: 5, Flags: FlagEndHeaders | FlagPadded}, true},
		{FrameHeader{Type: TypePushPromise, StreamID: 1, Length: 4, Flags: FlagEndHeaders | FlagPadded}, false},
		{FrameHeader{Type: TypePushPromise, StreamID: 1, Length: 4}, true},
		{FrameHeader{Type: TypePushPromise, StreamID: 1, Length: 3}, false},
		{FrameHeader{Type: TypePushPromise, StreamID: 0, Length: 4}, false},
		{FrameHeader{Type: TypePushPromise, StreamID: 1, Length: 4, Flags: FlagEndStream}, false},
		{FrameHeader{Type: TypePing, Length: 8}, true},
		{FrameHeader{Type: TypePing, Length: 8, Flags: FlagAck}, true},
		{FrameHeader{Type: TypePing, Length: 9}, false},
		{FrameHeader{Type: TypePing, Length: 8, StreamID: 1}, false},
		{FrameHeader{Type: TypeGoAway, Length: 8}, true},
		{FrameHeader{Type: TypeGoAway, Length: 30}, true},
		{FrameHeader{Type: TypeGoAway, Length: 7}, false},
		{FrameHeader{Type: TypeGoAway, Length: 8, StreamID: 1}, false},
		{FrameHeader{Type: TypeWindowUpdate, Length: 4}, true},
		{FrameHeader{Type: TypeWindowUpdate, Length: 4, StreamID: 5}, true},
		{FrameHeader{Type: TypeWindowUpdate, Length: 5}, false},
		{FrameHeader{Type: TypeContinuation, StreamID: 1, Flags: FlagEndHeaders}, true},
		{FrameHeader{Type: TypeContinuation, StreamID: 0}, false},
		{FrameHeader{Type: TypeContinuation, StreamID: 1, Flags: FlagEndStream}, false},
		{FrameHeader{Type: TypeAltSvc, Length: 10}, false},
		{FrameHeader{Type: 0xff, StreamID: 1}, false},
	}
	for _, tt := range tests {
		if got := Plausible(tt.h, max); got != tt.want {
			t.Errorf("Plausible(%+v) = %v, want %v", tt.h, got, tt.want)
		}
	}
}

func TestNames(t *testing.T) {
	tests := []struct{ got, want string }{
		{TypeData.String(), "DATA"},
		{TypeContinuation.String(), "CONTINUATION"},
		{TypePriorityUpdate.String(), "PRIORITY_UPDATE"},
		{Type(0xb).String(), "UNKNOWN_0xb"},
		{Type(0xfa).String(), "UNKNOWN_0xfa"},
		{FlagString(TypeHeaders, FlagEndStream|FlagEndHeaders), "END_STREAM|END_HEADERS"},
		{FlagString(TypeHeaders, FlagPadded|FlagPriority|0x40), "PADDED|PRIORITY|0x40"},
		{FlagString(TypeSettings, FlagAck), "ACK"},
		{FlagString(TypePing, FlagAck|0x2), "ACK|0x02"},
		{FlagString(TypeData, FlagEndStream|FlagPadded), "END_STREAM|PADDED"},
		{FlagString(TypeContinuation, FlagEndHeaders), "END_HEADERS"},
		{FlagString(TypePushPromise, FlagEndHeaders|FlagPadded), "END_HEADERS|PADDED"},
		{FlagString(TypeGoAway, 0), ""},
		{FlagString(TypeGoAway, 0x1), "0x01"},
		{ErrCode(0).String(), "NO_ERROR"},
		{ErrCode(8).String(), "CANCEL"},
		{ErrCode(0xd).String(), "HTTP_1_1_REQUIRED"},
		{ErrCode(0xe).String(), "UNKNOWN_ERROR_0xe"},
		{SettingID(1).String(), "HEADER_TABLE_SIZE"},
		{SettingID(9).String(), "NO_RFC7540_PRIORITIES"},
		{SettingID(0x7).String(), "UNKNOWN_0x7"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	// Our names agree with x/net's for the types both know.
	for typ := TypeData; typ <= TypeContinuation; typ++ {
		if got, want := typ.String(), xhttp2.FrameType(typ).String(); got != want {
			t.Errorf("type %d: %q, x/net says %q", typ, got, want)
		}
		if !typ.Known() {
			t.Errorf("%v not Known", typ)
		}
	}
	for code := ErrCode(0); code <= 0xd; code++ {
		if got, want := code.String(), xhttp2.ErrCode(code).String(); got != want {
			t.Errorf("code %d: %q, x/net says %q", code, got, want)
		}
	}
}

// TestFrames parses every RFC 9113 frame type, written by x/net's Framer.
func TestFrames(t *testing.T) {
	prio := Priority{Exclusive: true, DependsOn: 7, Weight: 200}
	tests := []struct {
		name  string
		write func(*xhttp2.Framer) error
		want  Frame
		data  string // DataChunks joined
		block string // the HeaderBlock, if one ends here
	}{{
		name:  "DATA",
		write: func(fr *xhttp2.Framer) error { return fr.WriteData(1, false, []byte("hello")) },
		want:  Frame{FrameHeader: FrameHeader{Length: 5, Type: TypeData, StreamID: 1}, PadLength: -1},
		data:  "hello",
	}, {
		name: "DATA padded END_STREAM",
		write: func(fr *xhttp2.Framer) error {
			return fr.WriteDataPadded(3, true, []byte("hello"), make([]byte, 10))
		},
		want: Frame{FrameHeader: FrameHeader{Length: 16, Type: TypeData, Flags: FlagEndStream | FlagPadded, StreamID: 3}, PadLength: 10},
		data: "hello",
	}, {
		name:  "DATA padded empty",
		write: func(fr *xhttp2.Framer) error { return fr.WriteDataPadded(3, false, nil, make([]byte, 3)) },
		want:  Frame{FrameHeader: FrameHeader{Length: 4, Type: TypeData, Flags: FlagPadded, StreamID: 3}, PadLength: 3},
	}, {
		name:  "DATA empty END_STREAM",
		write: func(fr *xhttp2.Framer) error { return fr.WriteData(5, true, nil) },
		want:  Frame{FrameHeader: FrameHeader{Type: TypeData, Flags: FlagEndStream, StreamID: 5}, PadLength: -1},
	}, {
		name: "HEADERS",
		write: func(fr *xhttp2.Framer) error {
			return fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte("\x82\x86\x84"), EndHeaders: true})
		},
		want:  Frame{FrameHeader: FrameHeader{Length: 3, Type: TypeHeaders, Flags: FlagEndHeaders, StreamID: 1}, PadLength: -1, Fragment: []byte("\x82\x86\x84")},
		block: "\x82\x86\x84",
	}, {
		name: "HEADERS priority padded END_STREAM",
		write: func(fr *xhttp2.Framer) error {
			return fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 9, BlockFragment: []byte("block"), EndStream: true,
				EndHeaders: true, PadLength: 4, Priority: xhttp2.PriorityParam{StreamDep: 7, Exclusive: true, Weight: 200}})
		},
		want: Frame{FrameHeader: FrameHeader{Length: 1 + 5 + 5 + 4, Type: TypeHeaders,
			Flags: FlagEndStream | FlagEndHeaders | FlagPadded | FlagPriority, StreamID: 9},
			PadLength: 4, Fragment: []byte("block"), Priority: &prio},
		block: "block",
	}, {
		name: "HEADERS without END_HEADERS",
		write: func(fr *xhttp2.Framer) error {
			return fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte("part")})
		},
		want: Frame{FrameHeader: FrameHeader{Length: 4, Type: TypeHeaders, StreamID: 1}, PadLength: -1, Fragment: []byte("part")},
	}, {
		name: "PRIORITY",
		write: func(fr *xhttp2.Framer) error {
			return fr.WritePriority(11, xhttp2.PriorityParam{StreamDep: 7, Exclusive: true, Weight: 200})
		},
		want: Frame{FrameHeader: FrameHeader{Length: 5, Type: TypePriority, StreamID: 11}, PadLength: -1, Priority: &prio},
	}, {
		name:  "RST_STREAM",
		write: func(fr *xhttp2.Framer) error { return fr.WriteRSTStream(5, xhttp2.ErrCodeCancel) },
		want:  Frame{FrameHeader: FrameHeader{Length: 4, Type: TypeRSTStream, StreamID: 5}, PadLength: -1, ErrCode: 8},
	}, {
		name: "SETTINGS",
		write: func(fr *xhttp2.Framer) error {
			return fr.WriteSettings(xhttp2.Setting{ID: xhttp2.SettingMaxFrameSize, Val: 16384},
				xhttp2.Setting{ID: xhttp2.SettingInitialWindowSize, Val: 1 << 20}, xhttp2.Setting{ID: 0x99, Val: 7})
		},
		want: Frame{FrameHeader: FrameHeader{Length: 18, Type: TypeSettings}, PadLength: -1,
			Settings: []Setting{{SettingMaxFrameSize, 16384}, {4, 1 << 20}, {0x99, 7}}},
	}, {
		name:  "SETTINGS empty",
		write: func(fr *xhttp2.Framer) error { return fr.WriteSettings() },
		want:  Frame{FrameHeader: FrameHeader{Type: TypeSettings}, PadLength: -1},
	}, {
		name:  "SETTINGS ACK",
		write: func(fr *xhttp2.Framer) error { return fr.WriteSettingsAck() },
		want:  Frame{FrameHeader: FrameHeader{Type: TypeSettings, Flags: FlagAck}, PadLength: -1},
	}, {
		name: "PUSH_PROMISE",
		write: func(fr *xhttp2.Framer) error {
			return fr.WritePushPromise(xhttp2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: []byte("pp"), EndHeaders: true, PadLength: 2})
		},
		want: Frame{FrameHeader: FrameHeader{Length: 1 + 4 + 2 + 2, Type: TypePushPromise, Flags: FlagEndHeaders | FlagPadded, StreamID: 1},
			PadLength: 2, PromisedID: 2, Fragment: []byte("pp")},
		block: "pp",
	}, {
		name:  "PING",
		write: func(fr *xhttp2.Framer) error { return fr.WritePing(false, [8]byte{2, 4, 16, 16, 9, 14, 7, 7}) },
		want:  Frame{FrameHeader: FrameHeader{Length: 8, Type: TypePing}, PadLength: -1, PingData: [8]byte{2, 4, 16, 16, 9, 14, 7, 7}},
	}, {
		name:  "PING ACK",
		write: func(fr *xhttp2.Framer) error { return fr.WritePing(true, [8]byte{1, 2, 3, 4, 5, 6, 7, 8}) },
		want:  Frame{FrameHeader: FrameHeader{Length: 8, Type: TypePing, Flags: FlagAck}, PadLength: -1, PingData: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}},
	}, {
		name: "GOAWAY",
		write: func(fr *xhttp2.Framer) error {
			return fr.WriteGoAway(1<<31-1, xhttp2.ErrCodeEnhanceYourCalm, []byte("too_many_pings"))
		},
		want: Frame{FrameHeader: FrameHeader{Length: 8 + 14, Type: TypeGoAway}, PadLength: -1,
			LastStream: 1<<31 - 1, ErrCode: 0xb, Debug: []byte("too_many_pings")},
	}, {
		name:  "GOAWAY no debug",
		write: func(fr *xhttp2.Framer) error { return fr.WriteGoAway(3, xhttp2.ErrCodeNo, nil) },
		want:  Frame{FrameHeader: FrameHeader{Length: 8, Type: TypeGoAway}, PadLength: -1, LastStream: 3, Debug: []byte{}},
	}, {
		name:  "WINDOW_UPDATE connection",
		write: func(fr *xhttp2.Framer) error { return fr.WriteWindowUpdate(0, 1<<31-1) },
		want:  Frame{FrameHeader: FrameHeader{Length: 4, Type: TypeWindowUpdate}, PadLength: -1, Increment: 1<<31 - 1},
	}, {
		name:  "WINDOW_UPDATE stream",
		write: func(fr *xhttp2.Framer) error { return fr.WriteWindowUpdate(7, 5) },
		want:  Frame{FrameHeader: FrameHeader{Length: 4, Type: TypeWindowUpdate, StreamID: 7}, PadLength: -1, Increment: 5},
	}, {
		name:  "unknown type",
		write: func(fr *xhttp2.Framer) error { return fr.WriteRawFrame(0xf0, 0x2b, 3, []byte("\x08opaque")) },
		want:  Frame{FrameHeader: FrameHeader{Length: 7, Type: 0xf0, Flags: 0x2b, StreamID: 3}, PadLength: -1, Unparsed: []byte("\x08opaque")},
	}, {
		name:  "ALTSVC is passed on unparsed",
		write: func(fr *xhttp2.Framer) error { return fr.WriteRawFrame(0xa, 0, 0, []byte("\x00\x03abch2=\":443\"")) },
		want:  Frame{FrameHeader: FrameHeader{Length: 14, Type: TypeAltSvc}, PadLength: -1, Unparsed: []byte("\x00\x03abch2=\":443\"")},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr, buf := framer()
			must(t, tt.write(fr))
			r, p := feedWhole(false, true, buf.Bytes())
			evs := r.merged()
			var want []event
			if tt.data != "" {
				want = append(want, event{kind: "data", hdr: tt.want.FrameHeader, b: []byte(tt.data)})
			}
			if tt.block != "" {
				want = append(want, event{kind: "block", hdr: tt.want.FrameHeader, b: []byte(tt.block)})
			}
			want = append(want, event{kind: "frame", hdr: tt.want.FrameHeader, frame: tt.want})
			sameEvents(t, tt.name, evs, want)
			if p.Stats.Frames != 1 || p.Stats.Errors != 0 {
				t.Errorf("stats %+v", p.Stats)
			}
			// The same bytes through x/net's reader agree on the header.
			xf, err := xhttp2.NewFramer(nil, bytes.NewReader(buf.Bytes())).ReadFrame()
			if err == nil {
				xh := xf.Header()
				if xh.Length != tt.want.Length || uint8(xh.Type) != uint8(tt.want.Type) || uint8(xh.Flags) != uint8(tt.want.Flags) || xh.StreamID != tt.want.StreamID {
					t.Errorf("x/net reads header %+v", xh)
				}
			}
		})
	}
}

func TestContinuation(t *testing.T) {
	fr, buf := framer()
	must(t, fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 3, BlockFragment: []byte("one,"), EndStream: true, PadLength: 2}))
	must(t, fr.WriteContinuation(3, false, []byte("two,")))
	must(t, fr.WriteContinuation(3, false, nil))
	must(t, fr.WriteContinuation(3, true, []byte("three")))
	must(t, fr.WritePushPromise(xhttp2.PushPromiseParam{StreamID: 3, PromiseID: 4, BlockFragment: []byte("p1,")}))
	must(t, fr.WriteContinuation(3, true, []byte("p2")))
	r, p := feedWhole(false, true, buf.Bytes())
	evs := r.merged()
	if got, want := kinds(evs), "HEADERS CONTINUATION CONTINUATION block(13) CONTINUATION PUSH_PROMISE block(5) CONTINUATION"; got != want {
		t.Fatalf("events %s, want %s", got, want)
	}
	if b := evs[3]; string(b.b) != "one,two,three" || b.hdr.Type != TypeHeaders || b.hdr.StreamID != 3 || !b.hdr.Flags.Has(FlagEndStream) {
		t.Errorf("header block %v: want HEADERS with END_STREAM and one,two,three", b)
	}
	if b := evs[6]; string(b.b) != "p1,p2" || b.hdr.Type != TypePushPromise {
		t.Errorf("push promise block %v", b)
	}
	if p.Stats.Errors != 0 || p.Stats.Frames != 6 {
		t.Errorf("stats %+v", p.Stats)
	}
}

// TestMalformed: frames whose payload contradicts their type are
// reported, still passed on as frames, and parsing goes on.
func TestMalformed(t *testing.T) {
	tests := []struct {
		name    string
		h       FrameHeader
		payload string
		err     string
		lost    bool // a header block is lost
	}{
		{"PING short", FrameHeader{Type: TypePing}, "1234567", "PING frame: length 7, want 8", false},
		{"RST_STREAM long", FrameHeader{Type: TypeRSTStream, StreamID: 1}, "12345", "RST_STREAM frame: length 5, want 4", false},
		{"WINDOW_UPDATE short", FrameHeader{Type: TypeWindowUpdate}, "123", "WINDOW_UPDATE frame: length 3, want 4", false},
		{"PRIORITY short", FrameHeader{Type: TypePriority, StreamID: 1}, "1234", "PRIORITY frame: length 4, want 5", false},
		{"GOAWAY short", FrameHeader{Type: TypeGoAway}, "1234567", "GOAWAY frame: length 7, want at least 8", false},
		{"SETTINGS odd", FrameHeader{Type: TypeSettings}, "12345", "SETTINGS frame: length 5 is not a multiple of 6", false},
		{"SETTINGS ACK with payload", FrameHeader{Type: TypeSettings, Flags: FlagAck}, "123456", "SETTINGS ACK with 6 bytes of payload", false},
		{"PUSH_PROMISE short", FrameHeader{Type: TypePushPromise, StreamID: 1, Flags: FlagEndHeaders}, "123", "PUSH_PROMISE frame: length 3", true},
		{"HEADERS priority short", FrameHeader{Type: TypeHeaders, StreamID: 1, Flags: FlagPriority | FlagEndHeaders}, "1234", "HEADERS frame: PRIORITY flag with 4 bytes", true},
		{"HEADERS padding too long", FrameHeader{Type: TypeHeaders, StreamID: 1, Flags: FlagPadded | FlagEndHeaders}, "\x03ab", "HEADERS frame: padding 3 exceeds payload 3", true},
		{"HEADERS padded empty", FrameHeader{Type: TypeHeaders, StreamID: 1, Flags: FlagPadded | FlagEndHeaders}, "", "HEADERS frame: PADDED without pad length", true},
		{"DATA padded empty", FrameHeader{Type: TypeData, StreamID: 1, Flags: FlagPadded}, "", "DATA frame: PADDED without pad length", false},
		{"DATA padding too long", FrameHeader{Type: TypeData, StreamID: 1, Flags: FlagPadded}, "\x05abcd", "DATA frame on stream 1: padding 5 exceeds payload 5", false},
	}
	fr, good := framer()
	must(t, fr.WritePing(false, [8]byte{1}))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A good SETTINGS before, so stale values would show.
			fr, buf := framer()
			must(t, fr.WriteSettings(xhttp2.Setting{ID: 1, Val: 4096}))
			h := tt.h
			h.Length = uint32(len(tt.payload))
			b := append(AppendHeader(buf.Bytes(), h), tt.payload...)
			b = append(b, good.Bytes()...)
			for _, feed := range []func(bool, bool, []byte) (*recorder, *Parser){feedWhole, feedBytes} {
				r, p := feed(false, true, b)
				evs := r.merged()
				var errs []string
				lost := false
				for _, e := range evs {
					switch e.kind {
					case "error":
						errs = append(errs, e.err)
					case "lost":
						lost = true
					case "frame":
						if e.hdr == h && h.Type == TypeSettings && len(e.frame.Settings) != 0 {
							t.Errorf("malformed SETTINGS reported with settings %v", e.frame.Settings)
						}
					}
				}
				if len(errs) != 1 || errs[0] != tt.err {
					t.Errorf("errors %q, want %q", errs, tt.err)
				}
				if lost != tt.lost {
					t.Errorf("HeadersLost = %v, want %v", lost, tt.lost)
				}
				if last := evs[len(evs)-1]; last.kind != "frame" || last.hdr.Type != TypePing {
					t.Errorf("last event %v: parsing did not go on", last)
				}
				if p.Stats.Frames != 3 || p.Stats.Errors != 1 {
					t.Errorf("stats %+v, want 3 frames, 1 error", p.Stats)
				}
			}
		})
	}
}

func TestFlagStringAllTypes(t *testing.T) {
	// Every flag bit of every type renders, defined ones by name.
	for typ := range 256 {
		for f := range 256 {
			s := FlagString(Type(typ), Flags(f))
			if (f == 0) != (s == "") {
				t.Fatalf("FlagString(%v, %#x) = %q", Type(typ), f, s)
			}
			if strings.Contains(s, "||") || strings.HasPrefix(s, "|") {
				t.Fatalf("FlagString(%v, %#x) = %q", Type(typ), f, s)
			}
		}
	}
}

// TestFrameReset parses one frame of every type into a frame, resets it
// for the next, and wants it as clean as a new one: reset clears only the
// fields the previous type fills, so a parser that filled another would
// leak it into the next frame.
func TestFrameReset(t *testing.T) {
	payloads := []struct {
		h FrameHeader
		p []byte
	}{
		{FrameHeader{Type: TypeData, StreamID: 1}, []byte("abc")},
		{FrameHeader{Type: TypeData, Flags: FlagPadded, StreamID: 1}, []byte{1, 'a', 0}},
		{FrameHeader{Type: TypeHeaders, Flags: FlagPriority | FlagEndHeaders, StreamID: 1}, []byte{0x80, 0, 0, 3, 16, 0x82}},
		{FrameHeader{Type: TypePriority, StreamID: 3}, []byte{0, 0, 0, 1, 200}},
		{FrameHeader{Type: TypeRSTStream, StreamID: 1}, []byte{0, 0, 0, 8}},
		{FrameHeader{Type: TypeSettings}, []byte{0, 4, 0, 1, 0, 0}},
		{FrameHeader{Type: TypePushPromise, Flags: FlagEndHeaders, StreamID: 1}, []byte{0, 0, 0, 2, 0x82}},
		{FrameHeader{Type: TypePing}, []byte("12345678")},
		{FrameHeader{Type: TypeGoAway}, []byte{0, 0, 0, 5, 0, 0, 0, 2, 'b', 'y', 'e'}},
		{FrameHeader{Type: TypeWindowUpdate}, []byte{0, 0, 1, 0}},
		{FrameHeader{Type: TypeContinuation, Flags: FlagEndHeaders, StreamID: 1}, []byte{0x82}},
		{FrameHeader{Type: 0x42, StreamID: 7}, []byte("opaque")},
	}
	next := FrameHeader{Length: 4, Type: TypeWindowUpdate, StreamID: 9}
	for _, pl := range payloads {
		var f Frame
		f.reset(FrameHeader{Length: uint32(len(pl.p))}, 0)
		f.reset(pl.h, 0)
		f.Length = uint32(len(pl.p))
		if err := f.parse(pl.p); err != nil {
			t.Fatalf("%v: %v", pl.h.Type, err)
		}
		f.reset(next, -1)
		f.prioStorage = Priority{}
		want := Frame{FrameHeader: next, PadLength: -1, Settings: f.Settings[:0]}
		if f.Settings == nil {
			want.Settings = nil
		}
		if !reflect.DeepEqual(f, want) {
			t.Errorf("after a %v frame, reset left %+v", pl.h.Type, f)
		}
	}
}
