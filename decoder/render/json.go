// Package render prints decoder events: one text line per frame like
// Wireshark's packet list, a detail tree like tshark -V, JSON lines to the
// documented contract, and a table of calls with per-method latency.
package render

import (
	"encoding/base64"
	"encoding/json"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/grpc"
	"github.com/hoptap/hoptap/decoder/hpack"
	"github.com/hoptap/hoptap/decoder/http2"
	"github.com/hoptap/hoptap/decoder/protobuf"
)

// jsonBuf builds one JSON object by appending; it never allocates per
// field once the buffer has grown.
type jsonBuf struct {
	// b holds the lines finished but not yet written (up to start),
	// then the one being built: the printer writes them in one go once
	// they fill its writer's buffer, which then passes them through
	// without a copy (see Printer.jsonLine).
	b           []byte
	start       int
	first       bool
	showSecrets bool
	ts          timeCache
	// Connections' fields, rendered, by connection id: the frames of
	// several connections interleave.
	conns      *[connSlots]connRun
	flagRuns   *flagRuns
	headerRuns *[headerSlots]headerRun
}

// timeCache formats timestamps fast: the date and time up to the second
// change rarely within a capture, so they are formatted once per second;
// and the last stamp is kept whole, since the frames of one packet share
// it, and a call line repeats its start and end in its messages.
type timeCache struct {
	sec    int64
	prefix []byte // "2006-01-02T15:04:05."
	lastNS int32  // the nanoseconds of last, in second sec
	last   []byte // the last stamp appended
}

func (c *timeCache) append(b []byte, t time.Time) []byte {
	// Unix and Nanosecond do not depend on the location: UTC is set only
	// when the second is formatted.
	s, ns32 := t.Unix(), int32(t.Nanosecond())
	if s == c.sec && ns32 == c.lastNS && c.last != nil {
		return append(b, c.last...)
	}
	if s != c.sec || c.prefix == nil {
		c.sec = s
		c.prefix = t.UTC().Truncate(time.Second).AppendFormat(c.prefix[:0], "2006-01-02T15:04:05.")
	}
	at := len(b)
	b = c.digits(b, uint32(ns32))
	c.last, c.lastNS = append(c.last[:0], b[at:]...), ns32
	return b
}

// digits appends the stamp of nanosecond ns in the second of c.prefix.
func (c *timeCache) digits(b []byte, ns uint32) []byte {
	b = append(b, c.prefix...)
	var d [9]byte
	for i := 7; i > 0; i -= 2 { // two digits at a time
		q := ns % 100
		ns /= 100
		d[i], d[i+1] = twoDigits[2*q], twoDigits[2*q+1]
	}
	d[0] = byte('0' + ns)
	b = append(b, d[:]...)
	return append(b, 'Z')
}

const twoDigits = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

func (j *jsonBuf) open() { j.b = append(j.b[:j.start], '{'); j.first = true }

// close ends the line being built and returns it.
func (j *jsonBuf) close() []byte {
	j.b = append(j.b, '}', '\n')
	return j.b[j.start:]
}

func (j *jsonBuf) key(k string) {
	b := j.b // in a register across the appends, stored once
	if !j.first {
		b = append(b, ',')
	}
	j.first = false
	b = append(b, '"')
	b = append(b, k...)
	j.b = append(b, '"', ':')
}

func (j *jsonBuf) str(k, v string)       { j.key(k); j.b = appendString(j.b, v) }
func (j *jsonBuf) int(k string, v int64) { j.key(k); j.b = strconv.AppendInt(j.b, v, 10) }
func (j *jsonBuf) uint(k string, v uint64) {
	j.key(k)
	j.b = strconv.AppendUint(j.b, v, 10)
}
func (j *jsonBuf) null(k string)         { j.key(k); j.b = append(j.b, "null"...) }
func (j *jsonBuf) bool(k string, v bool) { j.key(k); j.b = strconv.AppendBool(j.b, v) }
func (j *jsonBuf) time(k string, t time.Time) {
	j.key(k)
	j.timeValue(t)
}
func (j *jsonBuf) timeValue(t time.Time) { j.b = j.appendTime(j.b, t) }

// appendTime appends t as a JSON string, or null for the zero time.
func (j *jsonBuf) appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = j.ts.append(b, t)
	return append(b, '"')
}
func (j *jsonBuf) addr(k string, a netip.AddrPort) {
	j.key(k)
	if !a.IsValid() {
		j.b = append(j.b, "null"...)
		return
	}
	j.b = append(j.b, '"')
	j.b = a.AppendTo(j.b) // IPv6 comes out as [addr]:port
	j.b = append(j.b, '"')
}

// TimeFormat is RFC 3339 with nanoseconds, always nine digits.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

const hexDigits = "0123456789abcdef"

// plain marks the bytes a JSON string can hold as they are.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plainRun returns how many of s's leading 8-byte words hold only bytes
// a JSON string can hold as they are, eight bytes a step: header names
// and values are mostly plain ASCII.
func plainRun(s string) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		q := x ^ (ones * '"')
		bs := x ^ (ones * '\\')
		// (v - n·ones) &^ v has a byte's high bit set where a byte of v is
		// below n (exact as "any", for bytes below 0x80): controls, and a
		// quote or backslash as a zero byte after the xor. x's own high
		// bits flag the bytes of 0x80 and more.
		if (((x-ones*0x20)&^x)|((q-ones)&^q)|((bs-ones)&^bs)|x)&highs != 0 {
			break
		}
	}
	return i
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	i := plainRun(s)
	for i < len(s) && plain[s[i]] {
		i++
	}
	if i == len(s) {
		b = append(b, s...)
		return append(b, '"')
	}
	start := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Redacted stands for the value of a header that carries credentials.
const Redacted = "<redacted>"

// Secret reports whether a header's value carries credentials, and is
// therefore redacted unless asked for.
func Secret(name string) bool {
	switch name {
	case "authorization", "proxy-authorization", "cookie", "set-cookie":
		return true
	}
	return false
}

// HeaderValue is how a header's value is shown: as it travelled (-bin
// values are base64 on the wire already), or Redacted for credentials
// unless showSecrets.
func HeaderValue(f *hpack.Field, showSecrets bool) string {
	if !showSecrets && Secret(f.Name) {
		return Redacted
	}
	return f.Value
}

func (j *jsonBuf) headers(k string, fs []hpack.Field) {
	j.key(k)
	if len(fs) == 0 || len(fs) > maxRunFields {
		j.b = append(j.b, '[')
		j.fields(fs)
		j.b = append(j.b, ']')
		return
	}
	if j.headerRuns == nil {
		j.headerRuns = new([headerSlots]headerRun)
	}
	r := &j.headerRuns[headerSlot(fs)]
	n := 0 // leading fields rendered in r already
	for n < len(fs) && n < len(r.fields) && sameField(&r.fields[n], &fs[n]) {
		n++
	}
	base := 1 // after '['
	if n > 0 {
		base = int(r.ends[n-1])
	}
	if r.json == nil {
		r.json = append(r.json, '[')
	}
	j.b = append(j.b, r.json[:base]...)
	if n == len(fs) {
		j.b = append(j.b, ']')
		return
	}
	// The rest is rendered, and replaces r's tail.
	start := len(j.b)
	r.fields, r.ends = append(r.fields[:n], fs[n:]...), r.ends[:n]
	for i := n; i < len(fs); i++ {
		if i > 0 {
			j.b = append(j.b, ',')
		}
		j.field(&fs[i])
		r.ends = append(r.ends, int32(base+len(j.b)-start))
	}
	if base+len(j.b)-start <= maxRunBytes {
		r.json = append(r.json[:base], j.b[start:]...)
	} else {
		// Not kept, nor the strings: they may be long.
		clear(r.fields[:cap(r.fields)])
		r.fields, r.ends = r.fields[:0], r.ends[:0]
	}
	j.b = append(j.b, ']')
}

// fields renders fs as the elements of a list.
func (j *jsonBuf) fields(fs []hpack.Field) {
	for i := range fs {
		if i > 0 {
			j.b = append(j.b, ',')
		}
		j.field(&fs[i])
	}
}

// A gRPC peer sends much the same header lists call after call (method,
// authority, content type, then perhaps a grpc-timeout that changes;
// status 200; grpc-status 0), so a frame's list is rendered from the last
// list of its kind, kept direct-mapped by a hash of its first fields:
// the fields they share are copied from it, checked field by field (the
// decoder hands the same strings again, dynamic table entries and
// interned literals, so comparisons mostly stop at the pointers), and
// only the rest is rendered, and kept in its place. Lists of more fields
// or longer renderings are not kept, which bounds the cache at
// headerSlots × (maxRunBytes + maxRunFields fields).
const (
	headerSlotBits = 6
	headerSlots    = 1 << headerSlotBits
	maxRunFields   = 16
	maxRunBytes    = 1024
	slotFields     = 3 // a list's kind: its first fields
)

type headerRun struct {
	fields []hpack.Field // what json renders; holds the strings
	ends   []int32       // where each field's rendering ends in json
	json   []byte        // [[name,value],… without the closing ]
}

// headerSlot hashes what is cheap to read of a list's first fields:
// name and value lengths and last value bytes (grpc-status "0" and "5"
// differ only there).
func headerSlot(fs []hpack.Field) int {
	h := uint32(0)
	for i := range min(len(fs), slotFields) {
		f := &fs[i]
		v := uint32(len(f.Name))<<8 ^ uint32(len(f.Value))
		if n := len(f.Value); n > 0 {
			v ^= uint32(f.Value[n-1]) << 20
		}
		h = (h ^ v) * 0x9e3779b1
	}
	return int(h >> (32 - headerSlotBits))
}

// sameField reports whether two fields render alike. Comparing strings
// returns at once for the same pointer and length.
func sameField(x, y *hpack.Field) bool {
	return x.NameKnown == y.NameKnown && x.ValueKnown == y.ValueKnown && x.Name == y.Name && x.Value == y.Value
}

// connSlots is how many connections' rendered fields a printer keeps,
// direct-mapped by id (ids are sequential, so live ones rarely collide).
const connSlots = 64

type connRun struct {
	id             uint64
	client, server netip.AddrPort
	json           []byte // ,"conn":…,"client":…,"server":…
}

// connFields writes conn, client and server, rendered once per
// connection (and again if its roles are corrected).
func (j *jsonBuf) connFields(c *decoder.Conn) {
	if j.conns == nil {
		j.conns = new([connSlots]connRun)
	}
	r := &j.conns[c.ID%connSlots]
	if r.id != c.ID || r.client != c.Client || r.server != c.Server || r.json == nil {
		r.id, r.client, r.server = c.ID, c.Client, c.Server
		saved, first := j.b, j.first
		j.b, j.first = r.json[:0], false
		j.uint("conn", c.ID)
		j.addr("client", c.Client)
		j.addr("server", c.Server)
		r.json, j.b = j.b, saved
		j.first = first
	}
	if !j.first {
		j.b = append(j.b, r.json...)
	} else {
		j.b = append(j.b, r.json[1:]...)
	}
	j.first = false
}

// The constant runs of a frame line of a known type are rendered once:
// from "dir" to the stream's key, and from "flags" to the length's key
// (every frame has them: one append each instead of six keys and values).
type flagRuns [http2.TypeContinuation + 1][256]string

var dirTypeRuns = func() (runs [2][http2.TypeContinuation + 1]string) {
	for d := range runs {
		for t := range runs[d] {
			j := jsonBuf{first: true}
			j.str("dir", grpc.Dir(d).String())
			j.str("type", http2.Type(t).String())
			j.key("stream")
			runs[d][t] = "," + string(j.b)
		}
	}
	return runs
}()

// flagsRun is the run from "flags" to the length's key, rendered on the
// printer's first use of it (most of the 2,560 never appear).
func (j *jsonBuf) flagsRun(t http2.Type, f http2.Flags) string {
	if j.flagRuns == nil {
		j.flagRuns = new(flagRuns)
	}
	if s := j.flagRuns[t][f]; s != "" {
		return s
	}
	k := jsonBuf{}
	k.uint("flags", uint64(f))
	k.str("flag_names", http2.FlagString(t, f))
	k.key("length")
	j.flagRuns[t][f] = string(k.b)
	return j.flagRuns[t][f]
}

// JSONFrame encodes a frame event.
func (j *jsonBuf) frame(e *decoder.FrameEvent) []byte {
	f := e.Frame
	j.b = append(j.b[:j.start], `{"kind":"frame","ts":`...)
	j.first = false
	j.timeValue(e.TS)
	j.connFields(e.Conn)
	if f.Type.Known() && e.Dir <= grpc.S2C {
		j.b = append(j.b, dirTypeRuns[e.Dir][f.Type]...)
		j.b = strconv.AppendUint(j.b, uint64(f.StreamID), 10)
		j.b = append(j.b, j.flagsRun(f.Type, f.Flags)...)
		j.b = strconv.AppendUint(j.b, uint64(f.Length), 10)
	} else {
		j.str("dir", e.Dir.String())
		j.str("type", f.Type.String())
		j.uint("stream", uint64(f.StreamID))
		j.uint("flags", uint64(f.Flags))
		j.str("flag_names", http2.FlagString(f.Type, f.Flags))
		j.uint("length", uint64(f.Length))
	}
	if f.PadLength >= 0 {
		j.int("pad_length", int64(f.PadLength))
	}
	switch f.Type {
	case http2.TypeRSTStream:
		j.str("error_code", f.ErrCode.String())
	case http2.TypeGoAway:
		j.uint("last_stream", uint64(f.LastStream))
		j.str("error_code", f.ErrCode.String())
		j.str("debug", string(f.Debug))
	case http2.TypeSettings:
		j.key("settings")
		j.b = append(j.b, '[')
		for i, s := range f.Settings {
			if i > 0 {
				j.b = append(j.b, ',')
			}
			j.b = append(j.b, '[')
			j.b = appendString(j.b, s.ID.String())
			j.b = append(j.b, ',')
			j.b = strconv.AppendUint(j.b, uint64(s.Value), 10)
			j.b = append(j.b, ']')
		}
		j.b = append(j.b, ']')
	case http2.TypeWindowUpdate:
		j.uint("increment", uint64(f.Increment))
	case http2.TypePing:
		j.key("ping")
		j.b = append(j.b, '"')
		for _, c := range f.PingData {
			j.b = append(j.b, hexDigits[c>>4], hexDigits[c&0xf])
		}
		j.b = append(j.b, '"')
	case http2.TypePushPromise:
		j.uint("promised_stream", uint64(f.PromisedID))
	}
	if f.Priority != nil {
		j.uint("depends_on", uint64(f.Priority.DependsOn))
		j.int("weight", int64(f.Priority.Weight)+1)
		j.bool("exclusive", f.Priority.Exclusive)
	}
	if e.HeadersShown {
		j.headers("headers", e.Headers)
		if e.HeadersErr != nil {
			j.str("headers_error", e.HeadersErr.Error())
		}
	}
	return j.close()
}

// call encodes a call event. Its keys come in one order, each appended
// with its separator as one literal (a third of the line's cost went to
// keys one at a time), and the status's first two fields are rendered
// once per code.
func (j *jsonBuf) call(e *decoder.CallEvent, bodies *Bodies) []byte {
	c := e.Call
	j.b = append(j.b[:j.start], `{"kind":"call","ts":`...)
	j.b = j.appendTime(j.b, c.EndTS)
	j.first = false
	j.connFields(e.Conn)
	b := append(j.b, `,"stream":`...)
	b = strconv.AppendUint(b, uint64(c.Stream), 10)
	b = appendOptStr(append(b, `,"method":`...), c.Method)
	b = appendOptStr(append(b, `,"authority":`...), c.Authority)
	if v := c.Status.V; c.Status.OK && v >= 0 && v < int64(len(statusRuns)) {
		b = append(b, statusRuns[v]...)
	} else {
		b = appendOptInt(append(b, `,"grpc_status":`...), c.Status)
		b = append(b, `,"grpc_status_name":`...)
		if c.Status.OK {
			b = appendString(b, grpc.CodeName(int(c.Status.V)))
		} else {
			b = append(b, "null"...)
		}
	}
	b = appendOptStr(append(b, `,"grpc_message":`...), c.Message)
	b = appendOptInt(append(b, `,"http_status":`...), c.HTTPStatus)
	if c.StatusFromHTTP {
		b = append(b, `,"status_from_http":true,"start":`...)
	} else {
		b = append(b, `,"status_from_http":false,"start":`...)
	}
	b = j.appendTime(b, c.Start)
	b = append(b, `,"duration_ns":`...)
	if d, ok := c.Duration(); ok {
		b = strconv.AppendInt(b, int64(d), 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"ttfb_ns":`...)
	if d, ok := c.TTFB(); ok {
		b = strconv.AppendInt(b, int64(d), 10)
	} else {
		b = append(b, "null"...)
	}
	b = appendOptInt(append(b, `,"req_msgs":`...), c.ReqMsgs)
	b = appendOptInt(append(b, `,"resp_msgs":`...), c.RespMsgs)
	b = appendOptInt(append(b, `,"req_bytes":`...), c.ReqBytes)
	b = appendOptInt(append(b, `,"resp_bytes":`...), c.RespBytes)
	b = appendString(append(b, `,"end":`...), string(c.End))
	if c.End == grpc.EndRSTStream {
		b = appendString(append(b, `,"rst_code":`...), http2.ErrCode(c.RSTCode).String())
		b = appendString(append(b, `,"rst_by":`...), c.RSTBy.String())
	}
	b = appendOptStr(append(b, `,"content_type":`...), c.ContentType)
	b = appendOptStr(append(b, `,"user_agent":`...), c.UserAgent)
	b = appendOptStr(append(b, `,"grpc_timeout":`...), c.Timeout)
	j.b = b
	if c.HeadersLeftOut {
		j.null("metadata")
		j.null("response_metadata")
	} else {
		j.metadata("metadata", c.Request)
		j.metadata("response_metadata", c.Response, c.Trailers)
	}
	if len(c.Details) > 0 {
		j.str("grpc_status_details_bin", base64.StdEncoding.EncodeToString(c.Details))
		if st, err := protobuf.DecodeStatus(c.Details); err == nil {
			js, _ := json.Marshal(st)
			j.key("grpc_status_details")
			j.b = append(j.b, js...)
		} else {
			j.str("grpc_status_details_error", err.Error())
		}
	} else if c.DetailsErr != "" {
		j.str("grpc_status_details_error", c.DetailsErr)
	}
	if len(c.Messages) > 0 {
		b = append(j.b, `,"messages":[`...)
		for i, m := range c.Messages {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"dir":"`...)
			b = append(b, m.Dir.String()...)
			b = append(b, `","ts":`...)
			b = j.appendTime(b, m.TS)
			if m.Compressed {
				b = append(b, `,"compressed":true,"length":`...)
			} else {
				b = append(b, `,"compressed":false,"length":`...)
			}
			b = strconv.AppendUint(b, uint64(m.Length), 10)
			if bodies != nil {
				if js, err := bodies.JSON(c, &c.Messages[i]); err == nil {
					b = append(b, `,"body":`...)
					b = append(b, js...)
				} else {
					b = append(b, `,"body":null,"body_error":`...)
					b = appendString(b, err.Error())
				}
			}
			b = append(b, '}')
		}
		j.b = append(b, ']')
	}
	return j.close()
}

// statusRuns are a call line's grpc_status and grpc_status_name for each
// code, with the separator before them.
var statusRuns = func() (runs [17]string) {
	for code := range runs {
		runs[code] = `,"grpc_status":` + strconv.Itoa(code) + `,"grpc_status_name":` + string(appendString(nil, grpc.CodeName(code)))
	}
	return runs
}()

func appendOptStr(b []byte, v grpc.Str) []byte {
	if !v.OK {
		return append(b, "null"...)
	}
	return appendString(b, v.V)
}

func appendOptInt(b []byte, v grpc.Int) []byte {
	if !v.OK {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, v.V, 10)
}

// metadata writes custom metadata as [name, value] pairs; unknown
// entries are kept so that their presence is visible.
func (j *jsonBuf) metadata(k string, lists ...[]hpack.Field) {
	n := 0
	for _, fs := range lists {
		for i := range fs {
			f := &fs[i]
			if f.NameKnown && grpc.Reserved(f.Name) {
				continue
			}
			if n == 0 {
				j.key(k)
				j.b = append(j.b, '[')
			} else {
				j.b = append(j.b, ',')
			}
			n++
			j.field(f)
		}
	}
	if n > 0 {
		j.b = append(j.b, ']')
	}
}

func (j *jsonBuf) field(f *hpack.Field) {
	j.b = append(j.b, '[')
	if f.NameKnown {
		j.b = appendString(j.b, f.Name)
	} else {
		j.b = append(j.b, "null"...)
	}
	j.b = append(j.b, ',')
	if f.ValueKnown && f.NameKnown {
		j.b = appendString(j.b, HeaderValue(f, j.showSecrets))
	} else {
		j.b = append(j.b, "null"...)
	}
	j.b = append(j.b, ']')
}

func (j *jsonBuf) conn(e *decoder.ConnEvent) []byte {
	j.open()
	j.str("kind", "conn")
	j.time("ts", e.TS)
	j.connFields(e.Conn)
	j.str("event", string(e.Kind))
	j.str("role_by", string(e.Conn.RoleBy))
	if e.Conn.Proto != "" {
		j.str("proto", string(e.Conn.Proto))
	}
	if e.HasDir {
		j.str("dir", e.Dir.String())
	}
	switch e.Kind {
	case decoder.ConnTCPHandshake:
		j.int("syn_to_synack_ns", int64(e.SYNToSYNACK))
		j.int("synack_to_ack_ns", int64(e.SYNACKToACK))
	case decoder.ConnH2Ready, decoder.ConnTLSHandshake:
		j.int("duration_ns", int64(e.Duration))
	case decoder.ConnTLSHello:
		h := e.Hello
		j.str("hello", h.Type.String())
		j.str("version", tlsVersion(h.Version))
		if h.SNI != "" {
			j.str("sni", h.SNI)
		}
		j.key("alpn")
		j.b = append(j.b, '[')
		for i, p := range h.ALPN {
			if i > 0 {
				j.b = append(j.b, ',')
			}
			j.b = appendString(j.b, p)
		}
		j.b = append(j.b, ']')
	case decoder.ConnGoAway:
		j.uint("last_stream", uint64(e.LastStream))
		j.str("error_code", e.ErrCode.String())
		j.str("debug", e.Debug)
	case decoder.ConnGap:
		j.int("bytes", int64(e.Bytes))
	case decoder.ConnClose:
		j.str("reason", e.Reason)
	case decoder.ConnDecodeError:
		j.str("error", e.Err)
	}
	return j.close()
}
