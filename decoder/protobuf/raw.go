// Package protobuf renders gRPC message bodies for people.
//
// Without a schema, DecodeRaw and DecodeRawText show a message the way
// `protoc --decode_raw` does, byte for byte (checked against protoc 3.21 in
// the tests): field numbers, varints as unsigned decimal, fixed32/fixed64 as
// zero-padded hex, and length-delimited fields as a nested message when they
// parse as one, else as a C-escaped string.
//
// With a schema (a Registry built from a protoset or from .proto files), a
// gRPC :path names the request and response types and Decode shows field
// names in protobuf text format, as `protoc --decode=Type` does; DecodeJSON
// gives the canonical protobuf JSON mapping.
//
// DecodeStatus reads the grpc-status-details-bin trailer (google.rpc.Status)
// without generated code.
//
// Every entry point bounds its nesting depth, the number of fields it builds
// and the size of the text it returns, and reports malformed input as an
// error rather than panicking.
package protobuf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// Wire names used in Field.Wire, as the protobuf encoding spec names them.
const (
	WireVarint = "varint"
	WireI64    = "i64"
	WireLen    = "len"
	WireGroup  = "group"
	WireI32    = "i32"
)

const (
	// MaxGroupDepth is how deeply groups may nest at the top level. It is
	// protoc's default recursion limit, so deeper input fails in both.
	MaxGroupDepth = 100
	// MaxTextSize bounds every text rendering in this package.
	MaxTextSize = 1 << 20
	// MaxFields bounds the number of Field values DecodeRaw builds.
	MaxFields = 1 << 18

	// unknownBudget is protoc's kUnknownFieldRecursionLimit: how many levels
	// of length-delimited fields it tries to show as nested messages. Groups
	// spend the budget too.
	unknownBudget = 10
)

// ErrTooLarge is returned when a rendering would exceed MaxTextSize or a
// decoding would exceed MaxFields. Text returned with it is a prefix of the
// full rendering.
var ErrTooLarge = errors.New("protobuf: output limit reached")

// Field is one field of a message decoded without a schema. It marshals to
// JSON as {"number":1,"wire":"varint","value":150}.
//
// Value depends on Wire:
//   - "varint": uint64 (a negative int32/int64 shows as its 64-bit two's complement)
//   - "i64":    uint64, the raw little-endian bits (a double or fixed64)
//   - "i32":    uint32, the raw little-endian bits (a float or fixed32)
//   - "group":  []Field
//   - "len":    []Field when the bytes parse as a message (the protoc
//     heuristic, so a string can be misread as a message, exactly as protoc
//     misreads it), otherwise []byte (base64 in JSON).
type Field struct {
	Number int    `json:"number"`
	Wire   string `json:"wire"`
	Value  any    `json:"value"`
}

// DecodeRaw parses msg without a schema. It accepts and rejects the same
// input as protoc --decode_raw and nests the same fields.
func DecodeRaw(msg []byte) ([]Field, error) {
	s := &fieldSink{stack: [][]Field{{}}}
	w := walker{sink: s}
	if _, err := w.fields(msg, 0, 0, MaxGroupDepth, unknownBudget); err != nil {
		return nil, err
	}
	return s.stack[0], nil
}

// DecodeRawText renders msg exactly as `protoc --decode_raw` prints it. It
// is FormatRaw(DecodeRaw(msg)) without building the fields. When the text
// would exceed MaxTextSize it returns a prefix and ErrTooLarge.
func DecodeRawText(msg []byte) (string, error) {
	tw := newTextWriter()
	w := walker{sink: textSink{tw}}
	if _, err := w.fields(msg, 0, 0, MaxGroupDepth, unknownBudget); err != nil {
		if errors.Is(err, ErrTooLarge) {
			return string(tw.buf), err
		}
		return "", err
	}
	return string(tw.buf), nil
}

// FormatRaw renders fields as protoc --decode_raw does. Values must have the
// types DecodeRaw gives them. When the text would exceed MaxTextSize it
// returns a prefix and ErrTooLarge.
func FormatRaw(fields []Field) (string, error) {
	tw := newTextWriter()
	if err := formatFields(tw, fields, 0); err != nil {
		return "", err
	}
	if tw.over {
		return string(tw.buf), ErrTooLarge
	}
	return string(tw.buf), nil
}

func formatFields(tw *textWriter, fields []Field, depth int) error {
	if depth > MaxGroupDepth+unknownBudget {
		return errors.New("protobuf: fields nested too deeply")
	}
	for _, f := range fields {
		if tw.over {
			return nil
		}
		name := strconv.Itoa(f.Number)
		switch v := f.Value.(type) {
		case uint64:
			if f.Wire == WireI64 {
				tw.field(name, hexPadded(v, 16))
			} else {
				tw.field(name, strconv.FormatUint(v, 10))
			}
		case uint32:
			tw.field(name, hexPadded(uint64(v), 8))
		case []byte:
			tw.quoted(name, v)
		case []Field:
			tw.open(name)
			if err := formatFields(tw, v, depth+1); err != nil {
				return err
			}
			tw.close()
		default:
			return fmt.Errorf("protobuf: field %d: unexpected value type %T", f.Number, f.Value)
		}
	}
	return nil
}

// sink receives what walker finds. open/close bracket a group or a
// length-delimited field shown as a message.
type sink interface {
	scalar(num protowire.Number, typ protowire.Type, v uint64)
	bytes(num protowire.Number, b []byte)
	open(num protowire.Number, typ protowire.Type)
	close()
	full() bool
}

// walker parses the wire format with protobuf C++'s rules so that what it
// accepts matches protoc. C++ parses the top level with its fast parser
// (tags and lengths of at most 5 bytes) but re-parses length-delimited
// payloads with CodedInputStream (up to 10 bytes), hence lenient.
type walker struct {
	sink    sink // nil: only validate
	lenient bool
}

type parseError struct {
	off    int
	reason string
}

func (e *parseError) Error() string {
	return fmt.Sprintf("protobuf: %s at offset %d", e.reason, e.off)
}

// fields parses b and returns the bytes consumed. With end != 0 it parses a
// group body and stops after the END_GROUP tag for field end. groups is how
// many more groups may nest; budget is protoc's remaining unknown-field
// recursion budget.
func (w walker) fields(b []byte, off int, end protowire.Number, groups, budget int) (int, error) {
	i := 0
	for {
		if w.sink != nil && w.sink.full() {
			return i, ErrTooLarge
		}
		if i == len(b) {
			if end != 0 {
				return i, &parseError{off + i, fmt.Sprintf("group %d not terminated", end)}
			}
			return i, nil
		}
		start := i
		tag, n := w.tag(b[i:])
		if n < 0 {
			return i, &parseError{off + i, "malformed tag"}
		}
		i += n
		num, typ := protowire.Number(tag>>3), protowire.Type(tag&7)
		if typ == protowire.EndGroupType {
			if end == 0 || num != end {
				return i, &parseError{off + start, fmt.Sprintf("unexpected end of group %d", num)}
			}
			return i, nil
		}
		if num == 0 {
			return i, &parseError{off + start, "field number 0"}
		}
		switch typ {
		case protowire.VarintType:
			v, n := varint(b[i:])
			if n < 0 {
				return i, &parseError{off + i, "malformed varint"}
			}
			i += n
			if w.sink != nil {
				w.sink.scalar(num, typ, v)
			}
		case protowire.Fixed32Type:
			if len(b)-i < 4 {
				return i, &parseError{off + i, "truncated fixed32"}
			}
			v := binary.LittleEndian.Uint32(b[i:])
			i += 4
			if w.sink != nil {
				w.sink.scalar(num, typ, uint64(v))
			}
		case protowire.Fixed64Type:
			if len(b)-i < 8 {
				return i, &parseError{off + i, "truncated fixed64"}
			}
			v := binary.LittleEndian.Uint64(b[i:])
			i += 8
			if w.sink != nil {
				w.sink.scalar(num, typ, v)
			}
		case protowire.BytesType:
			l, n := w.size(b[i:])
			if n < 0 || l > uint64(len(b)-i-n) {
				return i, &parseError{off + i, "bad length"}
			}
			i += n
			v := b[i : i+int(l)]
			i += int(l)
			if w.sink == nil {
				continue
			}
			// protoc's heuristic: a non-empty payload that parses completely
			// as a message, while budget remains, is shown as one.
			if len(v) > 0 && budget > 0 && validMessage(v, budget) {
				w.sink.open(num, typ)
				inner := walker{sink: w.sink, lenient: true}
				if _, err := inner.fields(v, off+i-len(v), 0, budget, budget-1); err != nil {
					return i, err
				}
				w.sink.close()
			} else {
				w.sink.bytes(num, v)
			}
		case protowire.StartGroupType:
			if groups <= 0 {
				return i, &parseError{off + start, "groups nested too deeply"}
			}
			if w.sink != nil {
				w.sink.open(num, typ)
			}
			n, err := w.fields(b[i:], off+i, num, groups-1, budget-1)
			i += n
			if err != nil {
				return i, err
			}
			if w.sink != nil {
				w.sink.close()
			}
		default:
			return i, &parseError{off + start, fmt.Sprintf("invalid wire type %d", typ)}
		}
	}
}

// validMessage reports whether protoc would parse b as an embedded message
// (UnknownFieldSet::ParseFromCodedStream with recursion limit budget).
func validMessage(b []byte, budget int) bool {
	n, err := walker{lenient: true}.fields(b, 0, 0, budget, 0)
	return err == nil && n == len(b)
}

// tag reads a tag varint; C++ keeps only its low 32 bits.
func (w walker) tag(b []byte) (uint32, int) {
	limit := 5
	if w.lenient {
		limit = 10
	}
	var v uint64
	for i := 0; i < len(b) && i < limit; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return uint32(v), i + 1
		}
	}
	return 0, -1
}

// size reads a length prefix. The fast parser allows 5 bytes below 2^31
// minus its 16 slop bytes; CodedInputStream allows 10 bytes up to INT_MAX.
// Either way the length must then fit in what is left, which the caller
// checks.
func (w walker) size(b []byte) (uint64, int) {
	if w.lenient {
		v, n := varint(b)
		if n < 0 || v > math32Max {
			return 0, -1
		}
		return v, n
	}
	var v uint64
	for i := 0; i < len(b) && i < 5; i++ {
		if i == 4 && b[i] >= 8 {
			return 0, -1
		}
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			if v > math32Max-16 {
				return 0, -1
			}
			return v, i + 1
		}
	}
	return 0, -1
}

const math32Max = 1<<31 - 1

// varint reads up to 10 bytes and, like C++, drops bits beyond 64 instead
// of rejecting them (Go's protowire rejects them).
func varint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, -1
}

// textSink prints fields as protoc --decode_raw does.
type textSink struct{ w *textWriter }

func (s textSink) scalar(num protowire.Number, typ protowire.Type, v uint64) {
	name := strconv.Itoa(int(num))
	switch typ {
	case protowire.Fixed32Type:
		s.w.field(name, hexPadded(v, 8))
	case protowire.Fixed64Type:
		s.w.field(name, hexPadded(v, 16))
	default:
		s.w.field(name, strconv.FormatUint(v, 10))
	}
}

func (s textSink) bytes(num protowire.Number, b []byte) {
	s.w.quoted(strconv.Itoa(int(num)), b)
}

func (s textSink) open(num protowire.Number, _ protowire.Type) {
	s.w.open(strconv.Itoa(int(num)))
}

func (s textSink) close()     { s.w.close() }
func (s textSink) full() bool { return s.w.full() }

// fieldSink builds []Field; stack[len-1] is the list being filled and
// pending holds the field each open list belongs to.
type fieldSink struct {
	stack   [][]Field
	pending []Field
	count   int
}

func (s *fieldSink) add(f Field) {
	s.count++
	top := len(s.stack) - 1
	s.stack[top] = append(s.stack[top], f)
}

func (s *fieldSink) scalar(num protowire.Number, typ protowire.Type, v uint64) {
	switch typ {
	case protowire.Fixed32Type:
		s.add(Field{int(num), WireI32, uint32(v)})
	case protowire.Fixed64Type:
		s.add(Field{int(num), WireI64, v})
	default:
		s.add(Field{int(num), WireVarint, v})
	}
}

func (s *fieldSink) bytes(num protowire.Number, b []byte) {
	s.add(Field{int(num), WireLen, append([]byte{}, b...)})
}

func (s *fieldSink) open(num protowire.Number, typ protowire.Type) {
	wire := WireLen
	if typ == protowire.StartGroupType {
		wire = WireGroup
	}
	s.pending = append(s.pending, Field{Number: int(num), Wire: wire})
	s.stack = append(s.stack, []Field{})
}

func (s *fieldSink) close() {
	top := len(s.stack) - 1
	f := s.pending[len(s.pending)-1]
	f.Value = s.stack[top]
	s.pending = s.pending[:len(s.pending)-1]
	s.stack = s.stack[:top]
	s.add(f)
}

func (s *fieldSink) full() bool { return s.count >= MaxFields }
