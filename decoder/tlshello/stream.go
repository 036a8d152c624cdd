package tlshello

import "fmt"

// EventKind says what an Event reports.
type EventKind uint8

const (
	// EventRecord reports a record header, as soon as its 5 bytes have
	// arrived and before its body.
	EventRecord EventKind = iota + 1
	// EventHello reports a decoded hello, after the EventRecord of the
	// record in which the hello message ends.
	EventHello
)

// Event is one thing a Stream found.
type Event struct {
	Kind EventKind
	// Offset is the stream offset of the record header: of the record
	// reported, or of the record in which the hello ended.
	Offset int64
	// Record is that record's header.
	Record Record
	// Hello is set for EventHello only.
	Hello *Hello
}

// helloState is where a Stream is in the plaintext part of the handshake.
type helloState uint8

const (
	// wantHello: the first handshake message is still to come.
	wantHello helloState = iota
	// wantServerHello: after a HelloRetryRequest the server sends (an
	// optional change_cipher_spec and) the real ServerHello in plaintext.
	wantServerHello
	// probeWait and probe: after a ClientHello offering TLS 1.3 the
	// client's next handshake record is a second ClientHello if the
	// server sent a HelloRetryRequest, which this direction cannot see.
	// It may instead be TLS 1.2 plaintext (ClientKeyExchange) or TLS 1.2
	// ciphertext (an encrypted Finished on resumption), so the probe
	// never fails the stream and accepts only a ClientHello carrying the
	// first one's random, which RFC 8446 section 4.1.2 requires and
	// ciphertext cannot match by chance. probeWait skips the rest of the
	// first ClientHello's record; probe reads the next handshake record.
	probeWait
	probe
	// helloDone: only record headers from here on.
	helloDone
)

// Stream follows one direction of a TLS connection. Feed it the
// direction's bytes in order, in pieces of any size; it reports every
// record header and the plaintext hellos (the ClientHello, or the
// ServerHello; plus the second ClientHello or the real ServerHello after
// a HelloRetryRequest). Record bodies are skipped, except while a hello
// is being reassembled, so memory is bounded by MaxHello.
//
// The zero value is ready to use.
type Stream struct {
	// MaxHello bounds the reassembled size of a hello message, 4-byte
	// handshake header included. Zero means DefaultMaxHello. A larger
	// hello fails the stream with ErrHelloTooLarge.
	MaxHello int

	off     int64 // bytes consumed
	hdr     [HeaderLen]byte
	nhdr    int    // bytes of hdr filled; HeaderLen while in a body
	rec     Record // current record, once its header is complete
	recOff  int64  // offset of the current record
	left    int    // body bytes of the current record still to come
	state   helloState
	hs      []byte // partial handshake message; cap at most max(8, MaxHello)
	random  [32]byte
	appOff  int64
	sawApp  bool
	nHellos int
	err     error
}

// Feed consumes the next bytes of the direction and calls emit (which
// may be nil) for each event, in stream order. It does not retain b.
// After an error, which wraps ErrNotTLS, ErrRecordTooLarge,
// ErrHelloTooLarge or ErrMalformed and names the stream offset of the
// record at fault, framing is lost and every later Feed returns the same
// error.
func (s *Stream) Feed(b []byte, emit func(Event)) error {
	if s.err != nil {
		return s.err
	}
	for len(b) > 0 {
		if s.nhdr < HeaderLen {
			k := min(HeaderLen-s.nhdr, len(b))
			copy(s.hdr[s.nhdr:], b[:k])
			if err := checkHeader(s.hdr[:s.nhdr+k]); err != nil {
				// Blame the offset of the bad header, not of this piece.
				return s.fail(s.off-int64(s.nhdr), err)
			}
			s.nhdr += k
			s.off += int64(k)
			b = b[k:]
			if s.nhdr < HeaderLen {
				break
			}
			s.rec = decodeHeader(s.hdr[:])
			s.recOff = s.off - HeaderLen
			s.left = s.rec.Length
			if emit != nil {
				emit(Event{Kind: EventRecord, Offset: s.recOff, Record: s.rec})
			}
			if s.rec.Type == RecordApplicationData && !s.sawApp {
				s.sawApp, s.appOff = true, s.recOff
			}
			if err := s.recordStart(); err != nil {
				return s.fail(s.recOff, err)
			}
		}
		k := min(s.left, len(b))
		if s.rec.Type == RecordHandshake && (s.state < probeWait || s.state == probe) {
			if err := s.handshake(b[:k], emit); err != nil {
				return s.fail(s.recOff, err)
			}
		}
		s.left -= k
		s.off += int64(k)
		b = b[k:]
		if s.left == 0 { // also ends a zero-length record at once
			s.nhdr = 0
		}
	}
	return nil
}

func (s *Stream) fail(off int64, err error) error {
	s.err = fmt.Errorf("%w (at stream offset %d)", err, off)
	s.hs = nil
	return s.err
}

func (s *Stream) maxHello() int {
	if s.MaxHello > 0 {
		return s.MaxHello
	}
	return DefaultMaxHello
}

func (s *Stream) done() {
	s.state = helloDone
	s.hs = nil
}

// recordStart moves the hello state machine at a record boundary.
func (s *Stream) recordStart() error {
	typ := s.rec.Type
	switch s.state {
	case wantHello, wantServerHello:
		if typ == RecordHandshake {
			return nil
		}
		if len(s.hs) > 0 {
			// RFC 8446 section 5.1: handshake messages must not be
			// interleaved with other record types.
			return malformed("record type %d inside a hello", typ)
		}
		if s.state == wantServerHello && typ == RecordChangeCipherSpec {
			return nil
		}
		// An alert instead of a hello, or a capture that began mid
		// connection: no hello will be seen.
		s.done()
	case probeWait:
		switch typ {
		case RecordHandshake:
			s.state = probe
		case RecordChangeCipherSpec:
		default:
			s.done()
		}
	case probe:
		if typ != RecordHandshake {
			s.done()
		}
	}
	return nil
}

// handshake takes body bytes of a handshake record while a hello is
// expected, reassembling at most one message at a time.
func (s *Stream) handshake(b []byte, emit func(Event)) error {
	for len(b) > 0 && (s.state < probeWait || s.state == probe) {
		if len(s.hs) == 0 && wholeHello(b) {
			// Common case: a whole message in b; no copy.
			if l := helloLen(b); l <= s.maxHello() {
				if err := s.message(b[:l], emit); err != nil {
					return err
				}
				b = b[l:]
				continue
			}
		}
		if len(s.hs) < 4 {
			k := min(4-len(s.hs), len(b))
			s.hs = append(s.hs, b[:k]...)
			b = b[k:]
			if len(s.hs) < 4 {
				return nil
			}
		}
		l := helloLen(s.hs)
		if l < 0 || l > s.maxHello() {
			if s.state == probe {
				s.done()
				return nil
			}
			return checkHelloLen(l, s.hs[0], s.maxHello())
		}
		if cap(s.hs) < l {
			// Size the buffer exactly once, so append never rounds it up
			// past the bound.
			hs := make([]byte, len(s.hs), l)
			copy(hs, s.hs)
			s.hs = hs
		}
		k := min(l-len(s.hs), len(b))
		s.hs = append(s.hs, b[:k]...)
		b = b[k:]
		if len(s.hs) < l {
			return nil
		}
		msg := s.hs
		s.hs = s.hs[:0]
		if err := s.message(msg, emit); err != nil {
			return err
		}
	}
	return nil
}

// message handles one complete handshake message.
func (s *Stream) message(msg []byte, emit func(Event)) error {
	h, random, err := parseHello(msg)
	switch s.state {
	case wantHello:
		if err != nil {
			return err
		}
		s.random = random
		switch {
		case h.HelloRetry:
			s.state = wantServerHello
		case h.Type == ClientHello && offers13(&h):
			s.state = probeWait
			s.hs = s.hs[:0]
		default:
			s.done()
		}
	case wantServerHello:
		if err != nil {
			return err
		}
		if h.Type != ServerHello {
			return malformed("ClientHello after a HelloRetryRequest")
		}
		s.done()
	case probe:
		s.done()
		if err != nil || h.Type != ClientHello || random != s.random {
			return nil
		}
	}
	s.nHellos++
	if emit != nil {
		emit(Event{Kind: EventHello, Offset: s.recOff, Record: s.rec, Hello: &h})
	}
	return nil
}

func offers13(h *Hello) bool {
	for _, v := range h.SupportedVersions {
		if v == VersionTLS13 {
			return true
		}
	}
	return false
}

// Offset returns the number of bytes consumed so far.
func (s *Stream) Offset() int64 { return s.off }

// FirstAppData returns the offset of the first application_data record
// header seen. On the client-to-server direction that record marks the
// end of the handshake: with TLS 1.2 it follows the client Finished; with
// TLS 1.3 it starts the client's encrypted last flight, which is just the
// Finished unless the client authenticates (Certificate and
// CertificateVerify come first, in their own records) or sends 0-RTT
// early data (which comes before all of these and cannot be told apart
// from one direction).
func (s *Stream) FirstAppData() (offset int64, ok bool) { return s.appOff, s.sawApp }

// Hellos returns the number of hellos reported so far.
func (s *Stream) Hellos() int { return s.nHellos }

// Err returns the error that stopped the stream, or nil.
func (s *Stream) Err() error { return s.err }
