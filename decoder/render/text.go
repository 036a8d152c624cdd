package render

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/grpc"
	"github.com/hoptap/hoptap/decoder/hpack"
	"github.com/hoptap/hoptap/decoder/http2"
	"github.com/hoptap/hoptap/decoder/tlshello"
)

// Mode selects the output.
type Mode int

// Output modes.
const (
	ModeText    Mode = iota // one line per frame and connection event
	ModeVerbose             // a detail tree per frame
	ModeJSON                // JSON lines: frames, calls and connection events
	ModeCalls               // a table of calls, then a summary per method
)

// Printer is a decoder.Sink that writes one of the modes.
type Printer struct {
	w     *bufio.Writer
	mode  Mode
	j     jsonBuf
	first time.Time
	// first's Unix seconds and nanoseconds: the stamp's integer path.
	firstSec  int64
	firstNsec int
	n         uint64
	calls     *CallTable
	// line holds the text lines finished but not yet written (up to
	// lineStart), then the one being built, as jsonBuf keeps JSON's.
	line      []byte
	lineStart int
	// arrows: connections' "client → server" and "server → client",
	// rendered, by connection id, as JSON keeps its connection fields.
	arrows *[connSlots]arrowRun
	// Bodies, when set, shows message bodies in JSON and -V output; the
	// decoder must keep them (decoder.Options.KeepBodies).
	Bodies *Bodies
	// AbsTime prints absolute timestamps instead of seconds since the
	// first event.
	AbsTime bool
}

// LiveCalls makes the calls mode print each row as its call ends, with
// bounded memory, instead of one sorted table at Close.
func (p *Printer) LiveCalls() {
	if p.calls != nil {
		p.calls.live = true
	}
}

// WantsFrames says whether the mode prints frames at all (the calls
// table does not), for decoder.Options.Frames.
func (p *Printer) WantsFrames() bool { return p.mode != ModeCalls }

// WantsHeaderLists says whether the output reads calls' header lists
// (JSON's metadata, the bodies' grpc-encoding), for
// decoder.Options.HeaderLists.
func (p *Printer) WantsHeaderLists() bool { return p.mode == ModeJSON || p.Bodies != nil }

// NewPrinter writes mode to w. Call Close at the end.
func NewPrinter(w io.Writer, mode Mode) *Printer {
	p := &Printer{w: bufio.NewWriterSize(w, lineBatch), mode: mode}
	if mode == ModeCalls {
		p.calls = NewCallTable()
	}
	return p
}

// ShowSecrets shows authorization and cookie values instead of
// Redacted.
func (p *Printer) ShowSecrets(show bool) {
	p.j.showSecrets = show
	p.j.headerRuns = nil // rendered with the other setting
}

// Close writes what is pending (the calls summary) and flushes.
func (p *Printer) Close() error {
	p.writeKept()
	if p.calls != nil {
		p.calls.Write(p.w)
	}
	return p.w.Flush()
}

// Flush writes buffered output, for live use.
func (p *Printer) Flush() error {
	p.writeKept()
	return p.w.Flush()
}

// lineBatch is the writer's buffer size (NewPrinter): JSON and text
// lines are kept until they are as many bytes, then written in one go,
// which the writer, empty, passes on without copying them into its
// buffer.
const lineBatch = 64 << 10

// jsonLine keeps the JSON line just built with those before it.
func (p *Printer) jsonLine() {
	p.j.start = len(p.j.b)
	if p.j.start >= lineBatch {
		p.writeKept()
	}
}

// textLine keeps the text line just built with those before it.
func (p *Printer) textLine() {
	p.lineStart = len(p.line)
	if p.lineStart >= lineBatch {
		p.writeKept()
	}
}

// writeKept writes the lines kept, before anything else is written.
func (p *Printer) writeKept() {
	if p.j.start > 0 {
		p.w.Write(p.j.b[:p.j.start])
		p.j.b, p.j.start = p.j.b[:0], 0
	}
	if p.lineStart > 0 {
		p.w.Write(p.line[:p.lineStart])
		p.line, p.lineStart = p.line[:0], 0
	}
}

func (p *Printer) stamp(ts time.Time) string { return string(p.appendStamp(nil, ts)) }

// appendStamp appends what fmt's "%11.6f" makes of the seconds since
// the first event (or the time of day with AbsTime), without fmt: a
// frame line is printed per frame.
func (p *Printer) appendStamp(b []byte, ts time.Time) []byte {
	if p.first.IsZero() {
		p.first, p.firstSec, p.firstNsec = ts, ts.Unix(), ts.Nanosecond()
	}
	if p.AbsTime {
		return ts.UTC().AppendFormat(b, "15:04:05.000000")
	}
	// time.Time.Sub checks for overflow by adding back, a good part of a
	// frame line's cost; within a day of the first event the seconds and
	// nanoseconds subtract exactly.
	if sec := ts.Unix() - p.firstSec; sec >= 0 && sec < 86400 {
		if d := time.Duration(sec)*time.Second + time.Duration(ts.Nanosecond()-p.firstNsec); d >= 0 && d < 24*time.Hour && d%1000 != 500 {
			return appendStampDay(b, d)
		}
	}
	var num [32]byte
	return appendPadded(b, appendSeconds(num[:0], ts.Sub(p.first)), 11, true)
}

// appendStampDay is appendPadded(appendSeconds(d), 11, true) for d in
// [0, 24h) off a half microsecond, written in place.
func appendStampDay(b []byte, d time.Duration) []byte {
	us := int64(d / 1000)
	if d%1000 > 500 {
		us++
	}
	s, f := us/1e6, us%1e6 // s ≤ 86400: up to five digits
	n := 1
	for x := s; x >= 10; x /= 10 {
		n++
	}
	for pad := 11 - n - 7; pad > 0; pad-- {
		b = append(b, ' ')
	}
	var digits [5]byte
	for i := n - 1; i >= 0; i-- {
		digits[i] = byte('0' + s%10)
		s /= 10
	}
	b = append(b, digits[:n]...)
	return appendMicros(b, f)
}

// appendMicros appends '.' and f (0 to 999999) in six digits.
func appendMicros(b []byte, f int64) []byte {
	return append(b, '.', twoDigits[2*(f/1e4)], twoDigits[2*(f/1e4)+1],
		twoDigits[2*(f/100%100)], twoDigits[2*(f/100%100)+1], twoDigits[2*(f%100)], twoDigits[2*(f%100)+1])
}

// appendSeconds appends d in seconds with six decimals, as fmt's "%.6f"
// of d.Seconds() does, in integers where that is exact: a remainder of
// exactly half a microsecond rounds as the float64 does, which lies on
// one side of it, and past a day the float's error nears a nanosecond.
func appendSeconds(b []byte, d time.Duration) []byte {
	if d < 0 || d >= 24*time.Hour || d%1000 == 500 {
		return strconv.AppendFloat(b, d.Seconds(), 'f', 6, 64)
	}
	us := int64(d / 1000)
	if d%1000 > 500 {
		us++
	}
	b = strconv.AppendInt(b, us/1e6, 10)
	f := us % 1e6
	return appendMicros(b, f)
}

// appendPadded appends s padded with spaces to width, on the left when
// right-aligned.
func appendPadded[S string | []byte](b []byte, s S, width int, right bool) []byte {
	pad := width - len(s)
	if !right {
		b = append(b, s...)
	}
	for ; pad > 0; pad-- {
		b = append(b, ' ')
	}
	if right {
		b = append(b, s...)
	}
	return b
}

func appendArrow(b []byte, c *decoder.Conn, d grpc.Dir) []byte {
	from, to := c.Server, c.Client
	if d == grpc.C2S {
		from, to = c.Client, c.Server
	}
	b = from.AppendTo(b)
	b = append(b, " → "...)
	return to.AppendTo(b)
}

// Frame implements decoder.Sink.
func (p *Printer) Frame(e *decoder.FrameEvent) {
	p.n++
	switch p.mode {
	case ModeJSON:
		p.j.frame(e)
		p.jsonLine()
	case ModeText:
		p.textFrame(e)
	case ModeVerbose:
		p.verboseFrame(e)
	}
}

// Call implements decoder.Sink.
func (p *Printer) Call(e *decoder.CallEvent) {
	switch p.mode {
	case ModeJSON:
		p.j.call(e, p.Bodies)
		p.jsonLine()
	case ModeCalls:
		if p.calls.live {
			p.calls.writeLive(p.w, e)
		} else {
			p.calls.Add(e)
		}
	case ModeVerbose:
		p.verboseCall(e)
	}
}

// Conn implements decoder.Sink.
func (p *Printer) Conn(e *decoder.ConnEvent) {
	switch p.mode {
	case ModeJSON:
		p.j.conn(e)
		p.jsonLine()
	case ModeText, ModeVerbose:
		p.textConn(e)
	}
}

func arrow(c *decoder.Conn, d grpc.Dir) string { return string(appendArrow(nil, c, d)) }

type arrowRun struct {
	id             uint64
	client, server netip.AddrPort
	both           []byte // client → server, then server → client
	split          int    // where the second starts
}

// appendArrowOf appends appendArrow's text from the connection's kept
// rendering, made once per connection (and again if its roles are
// corrected): addresses cost more to format than the rest of the line.
func (p *Printer) appendArrowOf(b []byte, c *decoder.Conn, d grpc.Dir) []byte {
	if p.arrows == nil {
		p.arrows = new([connSlots]arrowRun)
	}
	r := &p.arrows[c.ID%connSlots]
	if r.id != c.ID || r.client != c.Client || r.server != c.Server || r.both == nil {
		r.id, r.client, r.server = c.ID, c.Client, c.Server
		r.both = appendArrow(r.both[:0], c, grpc.C2S)
		r.split = len(r.both)
		r.both = appendArrow(r.both, c, grpc.S2C)
	}
	if d == grpc.C2S {
		return append(b, r.both[:r.split]...)
	}
	return append(b, r.both[r.split:]...)
}

func (p *Printer) textFrame(e *decoder.FrameEvent) {
	f := e.Frame
	b := p.appendStamp(p.line[:p.lineStart], e.TS)
	b = append(b, "  "...)
	b = p.appendArrowOf(b, e.Conn, e.Dir)
	b = append(b, "  "...)
	b = appendPadded(b, f.Type.String(), 13, false)
	b = append(b, " stream="...)
	b = strconv.AppendUint(b, uint64(f.StreamID), 10)
	b = append(b, " len="...)
	b = strconv.AppendUint(b, uint64(f.Length), 10)
	if fl := http2.FlagString(f.Type, f.Flags); fl != "" {
		b = append(b, " ["...)
		b = append(b, fl...)
		b = append(b, ']')
	}
	n := len(b)
	b = appendSummary(append(b, "  "...), e)
	if len(b) == n+2 {
		b = b[:n] // no summary
	}
	b = append(b, '\n')
	p.line = b
	p.textLine()
}

// appendSummary appends the info column: the method or status of
// HEADERS and the important fields of control frames.
func appendSummary(b []byte, e *decoder.FrameEvent) []byte {
	f := e.Frame
	switch f.Type {
	case http2.TypeHeaders, http2.TypeContinuation, http2.TypePushPromise:
		if !e.HeadersShown {
			return b
		}
		return appendHeaderSummary(b, e.Headers, e.HeadersErr)
	case http2.TypeWindowUpdate:
		return strconv.AppendUint(append(b, '+'), uint64(f.Increment), 10)
	case http2.TypePing:
		for _, c := range f.PingData {
			b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
		}
		return b
	}
	return append(b, rareSummary(e)...)
}

// rareSummary is the info column of the frames appendSummary leaves to
// fmt: they come once per connection or error.
func rareSummary(e *decoder.FrameEvent) string {
	f := e.Frame
	switch f.Type {
	case http2.TypeRSTStream:
		return f.ErrCode.String()
	case http2.TypeGoAway:
		s := fmt.Sprintf("last_stream=%d %s", f.LastStream, f.ErrCode)
		if len(f.Debug) > 0 {
			s += fmt.Sprintf(" %q", f.Debug)
		}
		return s
	case http2.TypeSettings:
		var parts []string
		for _, s := range f.Settings {
			parts = append(parts, fmt.Sprintf("%s=%d", s.ID, s.Value))
		}
		return strings.Join(parts, " ")
	}
	return ""
}

// appendHeaderSummary appends the method and path, status, gRPC status
// and message of a header list, and how many of its fields are unknown.
func appendHeaderSummary(b []byte, fs []hpack.Field, err error) []byte {
	get := func(name string) (string, bool, bool) {
		for i := range fs {
			if f := &fs[i]; f.NameKnown && f.Name == name {
				return f.Value, f.ValueKnown, true
			}
		}
		return "", false, false
	}
	start := len(b)
	part := func() { // a space between parts
		if len(b) > start {
			b = append(b, ' ')
		}
	}
	show := func(v string, known bool) {
		if !known {
			v = "?"
		}
		b = append(b, v...)
	}
	if m, ok, present := get(":method"); present {
		path, pok, _ := get(":path")
		part()
		show(m, ok)
		b = append(b, ' ')
		show(path, pok)
	}
	if s, ok, present := get(":status"); present {
		part()
		b = append(b, ":status "...)
		show(s, ok)
	}
	if s, ok, present := get("grpc-status"); present {
		part()
		b = append(b, "grpc-status "...)
		show(s, ok)
		if ok {
			if c, valid := grpc.CodeFromName(s); valid {
				b = append(b, ' ')
				b = append(b, grpc.CodeName(c)...)
			}
		}
		if m, mok, present := get("grpc-message"); present {
			part()
			if mok {
				b = strconv.AppendQuote(b, grpc.PercentDecode(m))
			} else {
				b = append(b, "grpc-message ?"...)
			}
		}
	}
	unknown := 0
	for i := range fs {
		if !fs[i].NameKnown || !fs[i].ValueKnown {
			unknown++
		}
	}
	if unknown > 0 {
		part()
		b = append(b, '(')
		b = strconv.AppendInt(b, int64(unknown), 10)
		b = append(b, " unknown)"...)
	}
	if err != nil {
		part()
		b = append(b, "(HPACK error)"...)
	}
	return b
}

func tlsVersion(v uint16) string { return tlshello.VersionName(v) }

func (p *Printer) textConn(e *decoder.ConnEvent) {
	c := e.Conn
	where := c.Client.String() + " ↔ " + c.Server.String()
	if e.HasDir {
		where = arrow(c, e.Dir)
	}
	var info string
	switch e.Kind {
	case decoder.ConnTCPHandshake:
		info = fmt.Sprintf("TCP handshake  syn→synack %v  synack→ack %v", e.SYNToSYNACK, e.SYNACKToACK)
	case decoder.ConnOpen:
		info = "TCP connection joined mid-way"
	case decoder.ConnH2Preface:
		info = "HTTP/2 client preface"
	case decoder.ConnH2Ready:
		info = fmt.Sprintf("HTTP/2 SETTINGS exchanged in %v", e.Duration)
	case decoder.ConnH2Detected:
		info = "HTTP/2 recognised mid-stream"
	case decoder.ConnTLSHello:
		h := e.Hello
		info = fmt.Sprintf("TLS %s %s", h.Type, tlsVersion(h.Version))
		if h.SNI != "" {
			info += " sni=" + h.SNI
		}
		if len(h.ALPN) > 0 {
			info += " alpn=" + strings.Join(h.ALPN, ",")
		}
	case decoder.ConnTLSHandshake:
		info = fmt.Sprintf("TLS handshake done in %v", e.Duration)
	case decoder.ConnGoAway:
		return // the GOAWAY frame line says it
	case decoder.ConnGap:
		info = fmt.Sprintf("GAP: %d bytes not captured", e.Bytes)
	case decoder.ConnDecodeError:
		info = "ERROR: " + e.Err
	case decoder.ConnFin:
		info = "TCP FIN"
	case decoder.ConnReset:
		info = "TCP RST"
	case decoder.ConnClose:
		info = "closed (" + e.Reason + ")"
	case decoder.ConnRoleCorrected:
		info = "client/server told by headers"
	default:
		info = string(e.Kind)
	}
	p.writeKept()
	fmt.Fprintf(p.w, "%s  %s  %s\n", p.stamp(e.TS), where, info)
}
