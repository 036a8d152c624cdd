package tlshello

import "fmt"

// Handshake message types of the two hellos.
const (
	typeClientHello = 1
	typeServerHello = 2
)

// Extension code points this package reads.
const (
	extServerName        = 0
	extALPN              = 16
	extSupportedVersions = 43
)

// DefaultMaxHello bounds the size of a reassembled hello message,
// header included. Real ClientHellos are a few hundred bytes, about 2 KiB
// with post-quantum key shares.
const DefaultMaxHello = 64 << 10

// helloRetryRandom is the ServerHello.random that marks a
// HelloRetryRequest: SHA-256("HelloRetryRequest"), RFC 8446 section 4.1.3.
var helloRetryRandom = [32]byte{
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
}

// HelloType says which hello a Hello is.
type HelloType uint8

// Hello types, numbered as the handshake message types.
const (
	ClientHello HelloType = typeClientHello
	ServerHello HelloType = typeServerHello
)

func (t HelloType) String() string {
	switch t {
	case ClientHello:
		return "ClientHello"
	case ServerHello:
		return "ServerHello"
	}
	return fmt.Sprintf("HelloType(%d)", uint8(t))
}

// Hello is what a ClientHello or ServerHello shows in plaintext.
type Hello struct {
	Type HelloType
	// LegacyVersion is the version field of the message body (frozen at
	// 0x0303 by TLS 1.3).
	LegacyVersion uint16
	// Version is, for a ServerHello, the negotiated version: the
	// supported_versions selection when present (so TLS 1.3 is 0x0304),
	// else LegacyVersion. For a ClientHello it is the highest version
	// from SSL 3.0 to TLS 1.3 listed in supported_versions, else
	// LegacyVersion; 0 if the list names none of those.
	Version uint16
	// SNI is the host_name of the server_name extension, byte for byte
	// as sent (not validated as a DNS name); "" when absent.
	SNI string
	// ALPN is the offered protocol list (ClientHello) or the one selected
	// protocol (ServerHello), nil when the extension is absent. A TLS 1.3
	// server sends its selection encrypted, so it is never known here.
	ALPN []string
	// CipherSuite is the suite a ServerHello selected; 0 for a ClientHello.
	CipherSuite uint16
	// CipherSuites is the number of suites a ClientHello offers,
	// GREASE values included; 0 for a ServerHello.
	CipherSuites int
	// SupportedVersions is a ClientHello's supported_versions list as
	// sent, GREASE included; nil when absent and for a ServerHello.
	SupportedVersions []uint16
	// HelloRetry marks a ServerHello that is a HelloRetryRequest.
	HelloRetry bool
}

// reader is a bounds-checked cursor. Once a read runs past the end it
// sets bad and returns zero values, so parsers check once at the end.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) bytes(n int) []byte {
	if r.bad || n > len(r.b) {
		r.bad = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() int {
	v := r.bytes(1)
	if v == nil {
		return 0
	}
	return int(v[0])
}

func (r *reader) u16() int {
	v := r.bytes(2)
	if v == nil {
		return 0
	}
	return int(v[0])<<8 | int(v[1])
}

// vec8 and vec16 read a vector with a 1- or 2-byte length prefix.
func (r *reader) vec8() []byte  { return r.bytes(r.u8()) }
func (r *reader) vec16() []byte { return r.bytes(r.u16()) }

func (r *reader) empty() bool { return !r.bad && len(r.b) == 0 }

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// parseHello decodes one complete hello message, 4-byte handshake header
// included, and also returns its random (to match a second ClientHello
// to the first). It copies everything it keeps out of msg.
func parseHello(msg []byte) (h Hello, random [32]byte, err error) {
	r := reader{b: msg}
	typ := r.u8()
	n := r.u8()<<16 | r.u16()
	if r.bad || typ != typeClientHello && typ != typeServerHello {
		return Hello{}, random, malformed("handshake message type %d is not a hello", typ)
	}
	if n != len(r.b) {
		return Hello{}, random, malformed("hello length %d, have %d", n, len(r.b))
	}
	h.Type = HelloType(typ)
	h.LegacyVersion = uint16(r.u16())
	copy(random[:], r.bytes(32))
	if sid := r.vec8(); len(sid) > 32 {
		return Hello{}, random, malformed("session id of %d bytes", len(sid))
	}
	if r.bad || h.LegacyVersion>>8 != 3 {
		return Hello{}, random, malformed("hello version 0x%04x", h.LegacyVersion)
	}
	if h.Type == ClientHello {
		suites := r.vec16()
		if len(suites) == 0 || len(suites)%2 != 0 {
			return Hello{}, random, malformed("cipher suite list of %d bytes", len(suites))
		}
		h.CipherSuites = len(suites) / 2
		if len(r.vec8()) == 0 {
			return Hello{}, random, malformed("no compression methods")
		}
	} else {
		h.CipherSuite = uint16(r.u16())
		r.u8() // compression method
		h.HelloRetry = random == helloRetryRandom
	}
	if r.bad {
		return Hello{}, random, malformed("truncated %v", h.Type)
	}
	h.Version = h.LegacyVersion
	if r.empty() {
		// Extensions are optional before TLS 1.3.
		return h, random, nil
	}
	exts := reader{b: r.vec16()}
	if !r.empty() {
		return Hello{}, random, malformed("%d bytes after extensions", len(r.b))
	}
	var seen [3]bool // the extensions read below, which must not repeat
	for !exts.empty() {
		typ := exts.u16()
		data := exts.vec16()
		if exts.bad {
			return Hello{}, random, malformed("truncated extension %d", typ)
		}
		var idx int
		switch typ {
		case extServerName:
			idx, err = 0, h.parseSNI(data)
		case extALPN:
			idx, err = 1, h.parseALPN(data)
		case extSupportedVersions:
			idx, err = 2, h.parseVersions(data)
		default:
			continue
		}
		if err != nil {
			return Hello{}, random, err
		}
		if seen[idx] {
			return Hello{}, random, malformed("duplicate extension %d", typ)
		}
		seen[idx] = true
	}
	return h, random, nil
}

// parseSNI reads server_name (RFC 6066 section 3). Like crypto/tls it
// treats every entry as length-prefixed and keeps only host_name.
func (h *Hello) parseSNI(data []byte) error {
	if h.Type == ServerHello {
		// A TLS 1.2 server acknowledges SNI with empty data.
		if len(data) != 0 {
			return malformed("server_name in ServerHello has %d bytes", len(data))
		}
		return nil
	}
	r := reader{b: data}
	list := reader{b: r.vec16()}
	if !r.empty() || list.empty() {
		return malformed("server_name list")
	}
	found := false
	for !list.empty() {
		nameType := list.u8()
		name := list.vec16()
		if list.bad || len(name) == 0 {
			return malformed("server_name entry")
		}
		if nameType != 0 {
			continue
		}
		if found {
			return malformed("two host_name entries")
		}
		found = true
		h.SNI = string(name)
	}
	return nil
}

// parseALPN reads application_layer_protocol_negotiation (RFC 7301).
func (h *Hello) parseALPN(data []byte) error {
	r := reader{b: data}
	list := reader{b: r.vec16()}
	if !r.empty() || list.empty() {
		return malformed("ALPN list")
	}
	protos := []string{}
	for !list.empty() {
		p := list.vec8()
		if list.bad || len(p) == 0 {
			return malformed("ALPN protocol name")
		}
		protos = append(protos, string(p))
	}
	if h.Type == ServerHello && len(protos) != 1 {
		return malformed("ServerHello selects %d ALPN protocols", len(protos))
	}
	h.ALPN = protos
	return nil
}

// parseVersions reads supported_versions (RFC 8446 section 4.2.1): a
// list in a ClientHello, one selected version in a ServerHello.
func (h *Hello) parseVersions(data []byte) error {
	r := reader{b: data}
	if h.Type == ServerHello {
		v := r.u16()
		if !r.empty() {
			return malformed("supported_versions in ServerHello has %d bytes", len(data))
		}
		h.Version = uint16(v)
		return nil
	}
	list := r.vec8()
	if !r.empty() || len(list) == 0 || len(list)%2 != 0 {
		return malformed("supported_versions list")
	}
	h.SupportedVersions = make([]uint16, 0, len(list)/2)
	h.Version = 0
	for i := 0; i < len(list); i += 2 {
		v := uint16(list[i])<<8 | uint16(list[i+1])
		h.SupportedVersions = append(h.SupportedVersions, v)
		// GREASE (0x?a?a) and drafts fall outside this range.
		if v >= VersionSSL30 && v <= VersionTLS13 && v > h.Version {
			h.Version = v
		}
	}
	return nil
}

// ParseHello decodes the hello at the start of b, the buffered start of
// one direction of a connection, reassembling it from as many handshake
// records as it spans (up to DefaultMaxHello). n is the number of bytes
// up to the end of the record in which the hello ends; until b holds
// that whole record ParseHello returns ErrNeedMore. It fails as early as
// the bytes allow, with an error wrapping ErrNotTLS, ErrRecordTooLarge,
// ErrHelloTooLarge or ErrMalformed (also when a record other than a
// handshake record comes first).
func ParseHello(b []byte) (h Hello, n int, err error) {
	var buf []byte // the message so far when it spans records
	for {
		rec, m, err := NextRecord(b[n:])
		if err != nil && (err != ErrNeedMore || len(b)-n < HeaderLen) {
			return Hello{}, 0, err
		}
		if rec.Type != RecordHandshake {
			return Hello{}, 0, malformed("record type %d before the hello", rec.Type)
		}
		// An incomplete last record is still read, for an early verdict.
		complete := err == nil
		end := n + m
		if !complete {
			end = len(b)
		}
		body := b[n+HeaderLen : end]
		n = end
		msg := body // common case: the hello sits in one record; no copy
		if buf != nil || !wholeHello(body) {
			buf = append(buf, body...)
			msg = buf
		}
		if len(msg) < 4 {
			if !complete {
				return Hello{}, 0, ErrNeedMore
			}
			continue
		}
		l := helloLen(msg)
		if err := checkHelloLen(l, msg[0], DefaultMaxHello); err != nil {
			return Hello{}, 0, err
		}
		if len(msg) < l {
			if !complete {
				return Hello{}, 0, ErrNeedMore
			}
			continue
		}
		h, _, err := parseHello(msg[:l])
		if err != nil {
			return Hello{}, 0, err
		}
		if !complete {
			// n must be a record boundary.
			return Hello{}, 0, ErrNeedMore
		}
		return h, n, nil
	}
}

// checkHelloLen turns a helloLen result for a message of the given type
// into an error when it is not a hello or larger than limit.
func checkHelloLen(l int, typ byte, limit int) error {
	if l < 0 {
		return malformed("handshake message type %d is not a hello", typ)
	}
	if l > limit {
		return fmt.Errorf("%w: %d bytes", ErrHelloTooLarge, l)
	}
	return nil
}

// helloLen returns the total size of the handshake message starting at
// b (at least 4 bytes), or -1 if it is not a hello.
func helloLen(b []byte) int {
	if b[0] != typeClientHello && b[0] != typeServerHello {
		return -1
	}
	return 4 + (int(b[1])<<16 | int(b[2])<<8 | int(b[3]))
}

// wholeHello reports whether b starts with a complete hello message.
func wholeHello(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	l := helloLen(b)
	return l > 0 && l <= len(b)
}
