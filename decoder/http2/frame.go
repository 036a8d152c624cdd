// Package http2 parses HTTP/2 (RFC 9113) frames from an observed byte
// stream: one direction of a TCP connection, possibly joined mid-way and
// possibly with holes. Frames are typed and dispatched from a table, every
// length is checked against explicit limits, and header blocks split over
// CONTINUATION frames are put back together before anyone sees them.
package http2

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// Preface is what every HTTP/2 client sends first.
const Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// HeaderLen is the size of a frame header.
const HeaderLen = 9

// Type is a frame type.
type Type uint8

// Frame types of RFC 9113 plus the common extensions.
const (
	TypeData           Type = 0x0
	TypeHeaders        Type = 0x1
	TypePriority       Type = 0x2
	TypeRSTStream      Type = 0x3
	TypeSettings       Type = 0x4
	TypePushPromise    Type = 0x5
	TypePing           Type = 0x6
	TypeGoAway         Type = 0x7
	TypeWindowUpdate   Type = 0x8
	TypeContinuation   Type = 0x9
	TypeAltSvc         Type = 0xa
	TypeOrigin         Type = 0xc
	TypePriorityUpdate Type = 0x10
)

var typeNames = [256]string{
	TypeData: "DATA", TypeHeaders: "HEADERS", TypePriority: "PRIORITY",
	TypeRSTStream: "RST_STREAM", TypeSettings: "SETTINGS", TypePushPromise: "PUSH_PROMISE",
	TypePing: "PING", TypeGoAway: "GOAWAY", TypeWindowUpdate: "WINDOW_UPDATE",
	TypeContinuation: "CONTINUATION", TypeAltSvc: "ALTSVC", TypeOrigin: "ORIGIN",
	TypePriorityUpdate: "PRIORITY_UPDATE",
}

func (t Type) String() string {
	if n := typeNames[t]; n != "" {
		return n
	}
	return "UNKNOWN_0x" + strconv.FormatUint(uint64(t), 16)
}

// Known reports whether t is one of the ten RFC 9113 frame types.
func (t Type) Known() bool { return t <= TypeContinuation }

// Flags are a frame's flag bits; their meaning depends on the type.
type Flags uint8

// Flag bits.
const (
	FlagEndStream  Flags = 0x1
	FlagAck        Flags = 0x1
	FlagEndHeaders Flags = 0x4
	FlagPadded     Flags = 0x8
	FlagPriority   Flags = 0x20
)

// Has reports whether all of f2 are set.
func (f Flags) Has(f2 Flags) bool { return f&f2 == f2 }

// allowed lists the defined flags of each type; others must be unset by
// RFC 9113 §4.1 and are a strong hint that bytes are not a frame header.
var allowed = [...]Flags{
	TypeData:         FlagEndStream | FlagPadded,
	TypeHeaders:      FlagEndStream | FlagEndHeaders | FlagPadded | FlagPriority,
	TypePriority:     0,
	TypeRSTStream:    0,
	TypeSettings:     FlagAck,
	TypePushPromise:  FlagEndHeaders | FlagPadded,
	TypePing:         FlagAck,
	TypeGoAway:       0,
	TypeWindowUpdate: 0,
	TypeContinuation: FlagEndHeaders,
}

// flagStrings caches FlagString for the known types: it runs for every
// frame printed.
var flagStrings = func() (tab [TypeContinuation + 1][256]string) {
	for t := range tab {
		for f := range tab[t] {
			tab[t][f] = flagString(Type(t), Flags(f))
		}
	}
	return tab
}()

// FlagString renders flags by name, as Wireshark lists them.
func FlagString(t Type, f Flags) string {
	if t.Known() {
		return flagStrings[t][f]
	}
	return flagString(t, f)
}

func flagString(t Type, f Flags) string {
	if f == 0 {
		return ""
	}
	var parts []string
	add := func(bit Flags, name string) {
		if f&bit != 0 {
			parts = append(parts, name)
			f &^= bit
		}
	}
	switch t {
	case TypeSettings, TypePing:
		add(FlagAck, "ACK")
	case TypeData:
		add(FlagEndStream, "END_STREAM")
		add(FlagPadded, "PADDED")
	case TypeHeaders:
		add(FlagEndStream, "END_STREAM")
		add(FlagEndHeaders, "END_HEADERS")
		add(FlagPadded, "PADDED")
		add(FlagPriority, "PRIORITY")
	case TypePushPromise:
		add(FlagEndHeaders, "END_HEADERS")
		add(FlagPadded, "PADDED")
	case TypeContinuation:
		add(FlagEndHeaders, "END_HEADERS")
	}
	if f != 0 {
		parts = append(parts, fmt.Sprintf("0x%02x", uint8(f)))
	}
	return strings.Join(parts, "|")
}

// FrameHeader is the fixed 9-byte frame header.
type FrameHeader struct {
	Length   uint32
	Type     Type
	Flags    Flags
	StreamID uint32
	// Reserved is the reserved bit of the stream identifier, which senders
	// must leave unset.
	Reserved bool
}

// ReadHeader decodes a frame header from the first 9 bytes of b.
func ReadHeader(b []byte) FrameHeader {
	_ = b[8]
	return FrameHeader{
		Length:   uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]),
		Type:     Type(b[3]),
		Flags:    Flags(b[4]),
		StreamID: binary.BigEndian.Uint32(b[5:]) & 0x7fffffff,
		Reserved: b[5]&0x80 != 0,
	}
}

// AppendHeader encodes h; used by tests and the pcap writer.
func AppendHeader(b []byte, h FrameHeader) []byte {
	sid := h.StreamID
	if h.Reserved {
		sid |= 1 << 31
	}
	return append(b, byte(h.Length>>16), byte(h.Length>>8), byte(h.Length),
		byte(h.Type), byte(h.Flags), byte(sid>>24), byte(sid>>16), byte(sid>>8), byte(sid))
}

// Plausible reports whether h could be a frame header written by a
// conforming peer, given a bound on the frame size. It is how HTTP/2 is
// recognised on connections joined mid-way, where no preface is seen.
func Plausible(h FrameHeader, maxFrame uint32) bool {
	if h.Reserved || h.Length > maxFrame || !h.Type.Known() {
		return false
	}
	if h.Flags&^allowed[h.Type] != 0 {
		return false
	}
	switch h.Type {
	case TypeSettings:
		return h.StreamID == 0 && h.Length%6 == 0 && (!h.Flags.Has(FlagAck) || h.Length == 0)
	case TypePing:
		return h.StreamID == 0 && h.Length == 8
	case TypeGoAway:
		return h.StreamID == 0 && h.Length >= 8
	case TypeWindowUpdate:
		return h.Length == 4
	case TypeRSTStream:
		return h.StreamID != 0 && h.Length == 4
	case TypePriority:
		return h.StreamID != 0 && h.Length == 5
	}
	// The fields that flags announce must fit in the payload.
	need := uint32(0)
	if h.Flags.Has(FlagPadded) {
		need++ // Pad Length
	}
	switch h.Type {
	case TypePushPromise:
		need += 4
	case TypeHeaders:
		if h.Flags.Has(FlagPriority) {
			need += 5
		}
	}
	return h.StreamID != 0 && h.Length >= need // DATA, HEADERS, PUSH_PROMISE, CONTINUATION
}

// ErrCode is an HTTP/2 error code (RST_STREAM, GOAWAY).
type ErrCode uint32

var errNames = [...]string{
	"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
	"SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM",
	"CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
	"INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
}

func (e ErrCode) String() string {
	if int(e) < len(errNames) {
		return errNames[e]
	}
	return fmt.Sprintf("UNKNOWN_ERROR_0x%x", uint32(e))
}

// SettingID identifies a SETTINGS parameter.
type SettingID uint16

var settingNames = map[SettingID]string{
	1: "HEADER_TABLE_SIZE", 2: "ENABLE_PUSH", 3: "MAX_CONCURRENT_STREAMS",
	4: "INITIAL_WINDOW_SIZE", 5: "MAX_FRAME_SIZE", 6: "MAX_HEADER_LIST_SIZE",
	8: "ENABLE_CONNECT_PROTOCOL", 9: "NO_RFC7540_PRIORITIES",
}

// Setting IDs the decoder acts on.
const (
	SettingHeaderTableSize SettingID = 1
	SettingMaxFrameSize    SettingID = 5
)

func (s SettingID) String() string {
	if n, ok := settingNames[s]; ok {
		return n
	}
	return fmt.Sprintf("UNKNOWN_0x%x", uint16(s))
}

// Setting is one SETTINGS parameter.
type Setting struct {
	ID    SettingID
	Value uint32
}

// Priority is the RFC 7540 priority carried by HEADERS and PRIORITY.
type Priority struct {
	Exclusive bool
	DependsOn uint32
	Weight    uint8 // as sent; the effective weight is Weight+1
}

// Frame is one parsed frame. Slices alias the parser's buffer and are
// valid only during the callback that receives the frame.
type Frame struct {
	FrameHeader
	// PadLength is the padding of a PADDED frame, or -1.
	PadLength int

	Data        []byte // DATA: set only in Frame events of buffered frames; streamed data goes to DataChunk
	Fragment    []byte // HEADERS, PUSH_PROMISE, CONTINUATION: the header block fragment
	Priority    *Priority
	ErrCode     ErrCode   // RST_STREAM, GOAWAY
	Settings    []Setting // SETTINGS
	PromisedID  uint32    // PUSH_PROMISE
	LastStream  uint32    // GOAWAY
	Debug       []byte    // GOAWAY debug data
	Increment   uint32    // WINDOW_UPDATE
	PingData    [8]byte
	Unparsed    []byte // payload of unknown types
	prioStorage Priority
}

// reset readies f for the frame h. Only the fields the previous frame's
// type fills are cleared (a whole-struct reset, with its pointers, cost
// more than any other step per frame); the parsers fill no others.
func (f *Frame) reset(h FrameHeader, pad int) {
	switch f.Type {
	case TypeData:
		f.Data = nil
	case TypeHeaders, TypePriority, TypeContinuation:
		f.Fragment, f.Priority = nil, nil
	case TypeRSTStream:
		f.ErrCode = 0
	case TypeSettings:
		f.Settings = f.Settings[:0]
	case TypePushPromise:
		f.PromisedID, f.Fragment = 0, nil
	case TypePing:
		f.PingData = [8]byte{}
	case TypeGoAway:
		f.LastStream, f.ErrCode, f.Debug = 0, 0, nil
	case TypeWindowUpdate:
		f.Increment = 0
	default:
		f.Unparsed = nil
	}
	f.FrameHeader, f.PadLength = h, pad
}

// parse fills the type-specific fields of f from its payload.
func (f *Frame) parse(p []byte) error {
	f.PadLength = -1
	if f.Flags.Has(FlagPadded) && (f.Type == TypeData || f.Type == TypeHeaders || f.Type == TypePushPromise) {
		if len(p) < 1 {
			return fmt.Errorf("%v frame: PADDED without pad length", f.Type)
		}
		pad := int(p[0])
		if pad >= len(p) {
			return fmt.Errorf("%v frame: padding %d exceeds payload %d", f.Type, pad, len(p))
		}
		f.PadLength = pad
		p = p[1 : len(p)-pad]
	}
	if int(f.Type) < len(parsers) && parsers[f.Type] != nil {
		return parsers[f.Type](f, p)
	}
	f.Unparsed = p
	return nil
}

var parsers = [...]func(*Frame, []byte) error{
	TypeData:         func(f *Frame, p []byte) error { f.Data = p; return nil },
	TypeHeaders:      parseHeaders,
	TypePriority:     parsePriority,
	TypeRSTStream:    parseRST,
	TypeSettings:     parseSettings,
	TypePushPromise:  parsePushPromise,
	TypePing:         parsePing,
	TypeGoAway:       parseGoAway,
	TypeWindowUpdate: parseWindowUpdate,
	TypeContinuation: func(f *Frame, p []byte) error { f.Fragment = p; return nil },
}

func readPriority(p []byte, pr *Priority) {
	v := binary.BigEndian.Uint32(p)
	*pr = Priority{Exclusive: v>>31 == 1, DependsOn: v & 0x7fffffff, Weight: p[4]}
}

func parseHeaders(f *Frame, p []byte) error {
	if f.Flags.Has(FlagPriority) {
		if len(p) < 5 {
			return fmt.Errorf("HEADERS frame: PRIORITY flag with %d bytes", len(p))
		}
		readPriority(p, &f.prioStorage)
		f.Priority = &f.prioStorage
		p = p[5:]
	}
	f.Fragment = p
	return nil
}

func parsePriority(f *Frame, p []byte) error {
	if len(p) != 5 {
		return fmt.Errorf("PRIORITY frame: length %d, want 5", len(p))
	}
	readPriority(p, &f.prioStorage)
	f.Priority = &f.prioStorage
	return nil
}

func parseRST(f *Frame, p []byte) error {
	if len(p) != 4 {
		return fmt.Errorf("RST_STREAM frame: length %d, want 4", len(p))
	}
	f.ErrCode = ErrCode(binary.BigEndian.Uint32(p))
	return nil
}

func parseSettings(f *Frame, p []byte) error {
	if len(p)%6 != 0 {
		return fmt.Errorf("SETTINGS frame: length %d is not a multiple of 6", len(p))
	}
	if f.Flags.Has(FlagAck) && len(p) != 0 {
		return fmt.Errorf("SETTINGS ACK with %d bytes of payload", len(p))
	}
	f.Settings = f.Settings[:0]
	for ; len(p) >= 6; p = p[6:] {
		f.Settings = append(f.Settings, Setting{SettingID(binary.BigEndian.Uint16(p)), binary.BigEndian.Uint32(p[2:])})
	}
	return nil
}

func parsePushPromise(f *Frame, p []byte) error {
	if len(p) < 4 {
		return fmt.Errorf("PUSH_PROMISE frame: length %d", len(p))
	}
	f.PromisedID = binary.BigEndian.Uint32(p) & 0x7fffffff
	f.Fragment = p[4:]
	return nil
}

func parsePing(f *Frame, p []byte) error {
	if len(p) != 8 {
		return fmt.Errorf("PING frame: length %d, want 8", len(p))
	}
	copy(f.PingData[:], p)
	return nil
}

func parseGoAway(f *Frame, p []byte) error {
	if len(p) < 8 {
		return fmt.Errorf("GOAWAY frame: length %d, want at least 8", len(p))
	}
	f.LastStream = binary.BigEndian.Uint32(p) & 0x7fffffff
	f.ErrCode = ErrCode(binary.BigEndian.Uint32(p[4:]))
	f.Debug = p[8:]
	return nil
}

func parseWindowUpdate(f *Frame, p []byte) error {
	if len(p) != 4 {
		return fmt.Errorf("WINDOW_UPDATE frame: length %d, want 4", len(p))
	}
	f.Increment = binary.BigEndian.Uint32(p) & 0x7fffffff
	return nil
}
