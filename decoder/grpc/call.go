package grpc

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/hoptap/hoptap/decoder/hpack"
)

// Dir is the direction of a message or frame within a call.
type Dir uint8

// Directions.
const (
	C2S Dir = 0 // client to server: the request
	S2C Dir = 1 // server to client: the response
)

func (d Dir) String() string {
	if d == C2S {
		return "c2s"
	}
	return "s2c"
}

// Str is a string that may be unknown.
type Str struct {
	V  string
	OK bool
}

// Int is an integer that may be unknown.
type Int struct {
	V  int64
	OK bool
}

// End tells how a call ended.
type End string

// Ways a call ends; the names are part of the JSON contract.
const (
	EndTrailers     End = "trailers"
	EndTrailersOnly End = "trailers_only"
	EndRSTStream    End = "rst_stream"
	EndGoAway       End = "goaway"
	EndConnClosed   End = "conn_closed"
	EndIncomplete   End = "incomplete"
)

// MaxMessageRecords bounds the per-message timestamps kept per call.
const MaxMessageRecords = 1000

// MessageRecord is one message's arrival.
type MessageRecord struct {
	Dir        Dir
	TS         time.Time
	Compressed bool
	Length     uint32
	Body       []byte // only when bodies are kept
}

// Call is one gRPC call: one HTTP/2 stream.
type Call struct {
	Stream uint32
	// Start is when the request headers were seen; zero when the stream
	// began before the capture.
	Start     time.Time
	FirstResp time.Time // first response HEADERS or DATA
	EndTS     time.Time
	End       End

	Method, Authority, ContentType, UserAgent, Timeout Str
	HTTPStatus                                         Int
	Status                                             Int // grpc-status, or the HTTP mapping
	StatusFromHTTP                                     bool
	Message                                            Str // grpc-message, percent-decoded
	Details                                            []byte
	DetailsErr                                         string

	// Header lists as decoded; unknown entries included. Empty, and not
	// known, with HeadersLeftOut: the tracker was told to keep none
	// (Tracker.KeepHeaderLists) when the call began.
	Request, Response, Trailers []hpack.Field
	HeadersLeftOut              bool

	ReqMsgs, RespMsgs   Int
	ReqBytes, RespBytes Int // message bytes, prefixes excluded
	Messages            []MessageRecord
	MessagesDropped     int

	RSTCode uint32
	RSTBy   Dir
	// rst: a RST_STREAM ended the call. One the client reset lingers until
	// the server ends its side (often with the status) or for LingerFor.
	rst    bool
	GoAway bool

	reqSeen, respSeen, trailersSeen bool
	reqEnded                        bool
	framer                          [2]framer
	// msgs holds a unary call's two message records without another
	// allocation; Messages starts on it.
	msgs [2]MessageRecord
	// pooled: the call came from a CallPool and owns its header lists,
	// which are copied in rather than kept by reference.
	pooled bool
}

// keep stores a header list in the call: by reference, or for a pooled
// call as a copy in its own reused storage.
func (c *Call) keep(dst *[]hpack.Field, fs []hpack.Field) {
	if c.HeadersLeftOut {
		return
	}
	if c.pooled {
		*dst = append((*dst)[:0], fs...)
		return
	}
	*dst = fs
}

// CallPool recycles calls once their sink is done with them, with their
// header storage. It is for sinks that keep nothing of a call after the
// call to them returns.
type CallPool struct {
	free []*Call
}

// maxPooled bounds the calls kept for reuse.
const maxPooled = 1024

func (p *CallPool) get() *Call {
	if n := len(p.free); n > 0 {
		c := p.free[n-1]
		p.free = p.free[:n-1]
		return c
	}
	return &Call{pooled: true}
}

// Put hands back a finished call; it must not be used after.
func (p *CallPool) Put(c *Call) {
	if !c.pooled || len(p.free) >= maxPooled {
		return
	}
	req, resp, tr := c.Request[:0], c.Response[:0], c.Trailers[:0]
	*c = Call{Request: req, Response: resp, Trailers: tr, pooled: true}
	p.free = append(p.free, c)
}

// Duration returns the call's duration if its start is known.
func (c *Call) Duration() (time.Duration, bool) {
	if c.Start.IsZero() || c.EndTS.IsZero() {
		return 0, false
	}
	return c.EndTS.Sub(c.Start), true
}

// TTFB returns the time to the first response byte if known.
func (c *Call) TTFB() (time.Duration, bool) {
	if c.Start.IsZero() || c.FirstResp.IsZero() {
		return 0, false
	}
	return c.FirstResp.Sub(c.Start), true
}

// Service and method name from the :path, if known and well formed.
func (c *Call) ServiceMethod() (svc, method string, ok bool) {
	if !c.Method.OK {
		return "", "", false
	}
	p := strings.TrimPrefix(c.Method.V, "/")
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", "", false
	}
	return p[:i], p[i+1:], true
}

// lookup finds a header. present is false when no field has that name;
// certain is false when a field with an unknown name could be it.
func lookup(fs []hpack.Field, name string) (v Str, present, certain bool) {
	certain = true
	for i := range fs {
		f := &fs[i]
		if !f.NameKnown {
			certain = false
			continue
		}
		if f.Name == name {
			return Str{f.Value, f.ValueKnown}, true, true
		}
	}
	return Str{}, false, certain
}

// header returns a header's value and whether it is known. A header
// provably absent is known and empty; one that a field of unknown name
// could be is unknown.
func header(fs []hpack.Field, name string) Str {
	v, present, certain := lookup(fs, name)
	if present {
		return v
	}
	return Str{"", certain}
}

// headerSet reads several headers in one pass over a list, as header
// would one by one: the first field of a name, else known and empty when
// no field of unknown name could be it.
type headerSet struct {
	vals    [5]Str
	present [5]bool
	certain bool
}

func (h *headerSet) read(fs []hpack.Field, slot func(name string) int) {
	h.certain = true
	for i := range fs {
		f := &fs[i]
		if !f.NameKnown {
			h.certain = false
			continue
		}
		if j := slot(f.Name); j >= 0 && !h.present[j] {
			h.vals[j], h.present[j] = Str{f.Value, f.ValueKnown}, true
		}
	}
}

func (h *headerSet) get(j int) Str {
	if h.present[j] {
		return h.vals[j]
	}
	return Str{"", h.certain}
}

func requestSlot(name string) int {
	switch name {
	case ":path":
		return 0
	case ":authority":
		return 1
	case "content-type":
		return 2
	case "user-agent":
		return 3
	case "grpc-timeout":
		return 4
	}
	return -1
}

func (c *Call) setRequest(fs []hpack.Field) {
	c.reqSeen = true
	c.keep(&c.Request, fs)
	var h headerSet
	h.read(fs, requestSlot)
	c.Method = h.get(0)
	if !h.present[0] {
		c.Method = Str{} // a request without :path has no method to know
	}
	c.Authority, c.ContentType, c.UserAgent, c.Timeout = h.get(1), h.get(2), h.get(3), h.get(4)
}

func statusSlot(name string) int {
	switch name {
	case "grpc-status":
		return 0
	case "grpc-message":
		return 1
	case "grpc-status-details-bin":
		return 2
	}
	return -1
}

// applyStatus reads the status from trailers or a trailers-only response.
func (c *Call) applyStatus(fs []hpack.Field) {
	var h headerSet
	h.read(fs, statusSlot)
	st := h.get(0)
	c.Status = Int{}
	if st.OK && st.V != "" {
		if n, err := strconv.Atoi(st.V); err == nil {
			c.Status = Int{int64(n), true}
		}
	}
	if m := h.get(1); m.OK {
		c.Message = Str{PercentDecode(m.V), true}
	}
	if d := h.get(2); d.OK && d.V != "" {
		b, err := decodeBin(d.V)
		if err != nil {
			c.DetailsErr = "grpc-status-details-bin: " + err.Error()
		} else {
			c.Details = b
		}
	}
	c.mapHTTP()
}

// mapHTTP applies gRPC's HTTP status mapping when the status is not
// given by grpc-status.
func (c *Call) mapHTTP() {
	if c.Status.OK || !c.HTTPStatus.OK || c.HTTPStatus.V == 200 {
		return
	}
	if v, present, certain := lookup(c.Trailers, "grpc-status"); present || !certain || (v.OK && v.V != "") {
		return
	}
	if v, present, certain := lookup(c.Response, "grpc-status"); present || !certain || (v.OK && v.V != "") {
		return
	}
	c.Status = Int{int64(CodeFromHTTP(int(c.HTTPStatus.V))), true}
	c.StatusFromHTTP = true
}

// decodeBin decodes a -bin header: base64, padded or not.
func decodeBin(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	return base64.RawStdEncoding.DecodeString(s)
}

// IsBinaryHeader reports whether a header's value is binary (base64).
func IsBinaryHeader(name string) bool { return strings.HasSuffix(name, "-bin") }

// Reserved reports whether a header is gRPC's own rather than custom
// metadata.
func Reserved(name string) bool {
	if name == "" {
		return false
	}
	switch name[0] { // by the first byte: it runs for every header of every call
	case ':':
		return true
	case 'g':
		return strings.HasPrefix(name, "grpc-")
	case 'c':
		return name == "content-type" || name == "content-length"
	case 'u':
		return name == "user-agent"
	case 't':
		return name == "te"
	case 'a':
		return name == "accept-encoding"
	}
	return false
}

// Reverse returns the other direction.
func (d Dir) Reverse() Dir { return d ^ 1 }
