// Package decoder turns captured packets into HTTP/2 frames, gRPC calls
// and connection events: TCP reassembly, protocol recognition, HTTP/2
// framing, HPACK and gRPC, wired as one pipeline. Files, live capture and
// the agent all feed it the same way, so they all see the same thing.
//
// It is pure Go: no cgo, no BPF, no root.
package decoder

import (
	"net/netip"
	"time"

	"github.com/hoptap/hoptap/decoder/grpc"
	"github.com/hoptap/hoptap/decoder/hpack"
	"github.com/hoptap/hoptap/decoder/http2"
	"github.com/hoptap/hoptap/decoder/tlshello"
)

// Proto is what a connection was recognised as.
type Proto string

// Protocols.
const (
	ProtoUnknown Proto = ""
	ProtoHTTP2   Proto = "h2"
	ProtoTLS     Proto = "tls"
	ProtoOther   Proto = "other"
)

// RoleBy says how the client and server of a connection were told apart.
type RoleBy string

// Sources of the client/server roles, strongest first.
const (
	RoleBySYN     RoleBy = "syn"     // the TCP handshake was seen
	RoleByPreface RoleBy = "preface" // the HTTP/2 client preface was seen
	RoleByHeaders RoleBy = "headers" // a request (:method) or response (:status) was seen
	RoleByPorts   RoleBy = "ports"   // nothing better yet: the lower port is taken as the server
)

// Conn is one TCP connection as the events describe it.
type Conn struct {
	ID uint64
	// Observer is the vantage point of this view (the packets' observer,
	// e.g. a socket cookie in live capture); 0 for files.
	Observer       uint64
	Client, Server netip.AddrPort
	RoleBy         RoleBy
	Proto          Proto
}

// FrameEvent is one HTTP/2 frame. Frame and Headers are only valid during
// the Sink call.
type FrameEvent struct {
	TS    time.Time
	Conn  *Conn
	Dir   grpc.Dir
	Frame *http2.Frame
	// Headers is the decoded header block that this frame completed.
	Headers      []hpack.Field
	HeadersErr   error
	HeadersShown bool // Headers belongs to this frame
}

// ConnKind names a connection event; the names are part of the JSON
// contract.
type ConnKind string

// Connection events.
const (
	ConnOpen          ConnKind = "open"          // first packet of a connection joined mid-way
	ConnTCPHandshake  ConnKind = "tcp_handshake" // SYN, SYN-ACK, ACK
	ConnH2Preface     ConnKind = "h2_preface"    // client preface
	ConnH2Ready       ConnKind = "h2_ready"      // both SETTINGS acknowledged
	ConnH2Detected    ConnKind = "h2_detected"   // HTTP/2 found mid-stream
	ConnTLSHello      ConnKind = "tls_hello"     // ClientHello or ServerHello
	ConnTLSHandshake  ConnKind = "tls_handshake" // first application data from the client
	ConnGoAway        ConnKind = "goaway"
	ConnGap           ConnKind = "gap"
	ConnDecodeError   ConnKind = "decode_error"
	ConnFin           ConnKind = "fin"
	ConnReset         ConnKind = "reset"
	ConnClose         ConnKind = "close"
	ConnRoleCorrected ConnKind = "role"
)

// ConnEvent is something that happened to a connection.
type ConnEvent struct {
	TS   time.Time
	Conn *Conn
	Kind ConnKind
	// Dir is the direction concerned, when HasDir.
	Dir    grpc.Dir
	HasDir bool

	// tcp_handshake: SYN→SYN-ACK and SYN-ACK→ACK; zero when unknown.
	SYNToSYNACK, SYNACKToACK time.Duration
	// h2_ready: preface to the last SETTINGS ACK.
	Duration time.Duration
	// tls_hello.
	Hello *tlshello.Hello
	// goaway.
	LastStream uint32
	ErrCode    http2.ErrCode
	Debug      string
	// gap: bytes missing (-1 unknown).
	Bytes int
	// close: why ("fin", "rst", "idle", "evicted", "end").
	Reason string
	// decode_error.
	Err string
}

// CallEvent is one finished gRPC call. The event is only valid during
// the Sink call (the decoder reuses it); the Call it points to is not
// reused.
type CallEvent struct {
	Conn *Conn
	Call *grpc.Call
}

// Sink receives the decoder's output, in capture order.
type Sink interface {
	Frame(*FrameEvent)
	Call(*CallEvent)
	Conn(*ConnEvent)
}
