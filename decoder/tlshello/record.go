// Package tlshello recognises TLS on a passively observed TCP byte stream.
//
// It frames TLS records, reassembles and decodes the plaintext hello
// messages (ClientHello, ServerHello, HelloRetryRequest) and afterwards
// only follows record headers, so a caller can tell where the handshake
// ends without decrypting anything. Record bodies after the hello are
// skipped, never buffered: memory per stream is bounded by the largest
// hello message it will reassemble (Stream.MaxHello).
//
// Nothing here guesses: a value that is not on the wire in plaintext (for
// example the ALPN protocol a TLS 1.3 server selects, which travels in the
// encrypted EncryptedExtensions) is left empty.
package tlshello

import (
	"errors"
	"fmt"
)

// Record content types (RFC 8446 section 5.1, RFC 6520 for heartbeat).
const (
	RecordChangeCipherSpec uint8 = 20
	RecordAlert            uint8 = 21
	RecordHandshake        uint8 = 22
	RecordApplicationData  uint8 = 23
	RecordHeartbeat        uint8 = 24
)

// Protocol versions as they appear on the wire.
const (
	VersionSSL30 uint16 = 0x0300
	VersionTLS10 uint16 = 0x0301
	VersionTLS11 uint16 = 0x0302
	VersionTLS12 uint16 = 0x0303
	VersionTLS13 uint16 = 0x0304
)

const (
	// HeaderLen is the size of a TLS record header.
	HeaderLen = 5
	// MaxRecordLen is the largest record body accepted: 2^14 plus the
	// 2048 bytes of expansion TLS 1.2 allows (RFC 5246 section 6.2.3).
	// TLS 1.3 allows less, so this covers every version.
	MaxRecordLen = 1<<14 + 2048
)

var (
	// ErrNeedMore means the input ends inside a record header, record
	// body or hello message; call again with more bytes.
	ErrNeedMore = errors.New("tlshello: need more data")
	// ErrNotTLS means the bytes cannot be a TLS record header (bad content
	// type or version): the stream is not TLS, or framing was lost.
	ErrNotTLS = errors.New("tlshello: not a TLS record")
	// ErrRecordTooLarge means a record header declares a body longer than
	// MaxRecordLen.
	ErrRecordTooLarge = errors.New("tlshello: record too large")
	// ErrHelloTooLarge means a hello message is larger than the
	// reassembly bound.
	ErrHelloTooLarge = errors.New("tlshello: hello message too large")
	// ErrMalformed means the records frame correctly but the plaintext
	// handshake they carry is not a well-formed hello.
	ErrMalformed = errors.New("tlshello: malformed handshake")
)

// Record is a TLS record header.
type Record struct {
	Type    uint8  // content type, one of the Record* constants
	Version uint16 // legacy_record_version
	Length  int    // body length, excluding the 5-byte header
}

// checkHeader validates as much of a record header as b holds, so
// garbage such as "GET " is rejected after its first byte, not its fifth.
// It returns nil for a valid prefix, even an empty one.
func checkHeader(b []byte) error {
	if len(b) > 0 && (b[0] < RecordChangeCipherSpec || b[0] > RecordHeartbeat) {
		return fmt.Errorf("%w: content type %d", ErrNotTLS, b[0])
	}
	if len(b) > 1 && b[1] != 3 {
		return fmt.Errorf("%w: version major %d", ErrNotTLS, b[1])
	}
	if len(b) > 2 && b[2] > 4 {
		return fmt.Errorf("%w: version 0x03%02x", ErrNotTLS, b[2])
	}
	if len(b) >= HeaderLen {
		if n := int(b[3])<<8 | int(b[4]); n > MaxRecordLen {
			return fmt.Errorf("%w: %d bytes", ErrRecordTooLarge, n)
		}
	}
	return nil
}

// decodeHeader decodes a header that checkHeader accepted.
func decodeHeader(b []byte) Record {
	return Record{
		Type:    b[0],
		Version: uint16(b[1])<<8 | uint16(b[2]),
		Length:  int(b[3])<<8 | int(b[4]),
	}
}

// NextRecord frames the record at the start of b and returns its header
// and n, the size of header plus body. When b holds the whole header but
// not the whole body it returns the decoded header, n == 0 and
// ErrNeedMore; when it holds less than a header, a zero Record, 0 and
// ErrNeedMore. Bytes that cannot start a record give an error wrapping
// ErrNotTLS or ErrRecordTooLarge as soon as they are seen.
func NextRecord(b []byte) (rec Record, n int, err error) {
	if err := checkHeader(b); err != nil {
		return Record{}, 0, err
	}
	if len(b) < HeaderLen {
		return Record{}, 0, ErrNeedMore
	}
	rec = decodeHeader(b)
	if len(b) < HeaderLen+rec.Length {
		return rec, 0, ErrNeedMore
	}
	return rec, HeaderLen + rec.Length, nil
}

// Looks reports whether b, the first bytes of one direction of a TCP
// connection, plausibly starts a TLS handshake: a handshake record of
// version TLS 1.0 to 1.3 with a sane length and, as far as b reaches, a
// ClientHello or ServerHello of plausible size. It needs at least the
// 5-byte record header and returns false with fewer; 9 bytes make it
// much more selective.
func Looks(b []byte) bool {
	if len(b) < HeaderLen || checkHeader(b) != nil {
		return false
	}
	rec := decodeHeader(b)
	if rec.Type != RecordHandshake || rec.Version < VersionTLS10 || rec.Length == 0 {
		return false
	}
	if len(b) > 5 && b[5] != typeClientHello && b[5] != typeServerHello {
		return false
	}
	if len(b) >= 9 {
		// The smallest possible ServerHello body is 38 bytes.
		n := int(b[6])<<16 | int(b[7])<<8 | int(b[8])
		if n < 38 || n+4 > DefaultMaxHello {
			return false
		}
	}
	return true
}

// VersionName returns a readable name for a protocol version, such as
// "TLS 1.3". Zero, which Hello uses for "not known", is "unknown"; other
// values are printed in hex.
func VersionName(v uint16) string {
	switch v {
	case 0:
		return "unknown"
	case VersionSSL30:
		return "SSL 3.0"
	case VersionTLS10:
		return "TLS 1.0"
	case VersionTLS11:
		return "TLS 1.1"
	case VersionTLS12:
		return "TLS 1.2"
	case VersionTLS13:
		return "TLS 1.3"
	}
	return fmt.Sprintf("0x%04x", v)
}
