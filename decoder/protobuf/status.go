package protobuf

import (
	"fmt"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// Status is a google.rpc.Status as carried, serialized, in the
// grpc-status-details-bin trailer.
type Status struct {
	Code    int32    `json:"code"`
	Message string   `json:"message"`
	Details []Detail `json:"details,omitempty"`
}

// Detail is one google.protobuf.Any from Status.details. Fields is the
// schema-less decoding of Value (nil when Value does not parse as a
// message); the caller may decode Value properly with Registry.DecodeAny.
type Detail struct {
	TypeURL string  `json:"type_url"`
	Value   []byte  `json:"value"`
	Fields  []Field `json:"fields,omitempty"`
}

// DecodeStatus parses a google.rpc.Status from its wire form (the trailer
// value after base64 decoding). It needs no generated code: fields 1 code,
// 2 message and 3 details {1 type_url, 2 value} are read by hand. Unknown
// fields are skipped, as any protobuf parser would; a known field with the
// wrong wire type is an error, since guessing its meaning could show a
// wrong status.
func DecodeStatus(b []byte) (*Status, error) {
	s := &Status{}
	err := walkKnown(b, func(num protowire.Number, typ protowire.Type, v uint64, bs []byte) error {
		switch num {
		case 1:
			if typ != protowire.VarintType {
				return fmt.Errorf("code has wire type %d", typ)
			}
			s.Code = int32(v) // int32 fields keep the low 32 bits
		case 2:
			if typ != protowire.BytesType {
				return fmt.Errorf("message has wire type %d", typ)
			}
			s.Message = string(bs)
		case 3:
			if typ != protowire.BytesType {
				return fmt.Errorf("details has wire type %d", typ)
			}
			d, err := decodeAny(bs)
			if err != nil {
				return fmt.Errorf("details[%d]: %w", len(s.Details), err)
			}
			s.Details = append(s.Details, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("grpc status details: %w", err)
	}
	return s, nil
}

func decodeAny(b []byte) (Detail, error) {
	var d Detail
	err := walkKnown(b, func(num protowire.Number, typ protowire.Type, _ uint64, bs []byte) error {
		switch num {
		case 1:
			if typ != protowire.BytesType {
				return fmt.Errorf("type_url has wire type %d", typ)
			}
			d.TypeURL = string(bs)
		case 2:
			if typ != protowire.BytesType {
				return fmt.Errorf("value has wire type %d", typ)
			}
			d.Value = append([]byte{}, bs...)
		}
		return nil
	})
	if err != nil {
		return Detail{}, err
	}
	if d.Value == nil {
		d.Value = []byte{}
	}
	if fields, err := DecodeRaw(d.Value); err == nil && len(fields) > 0 {
		d.Fields = fields
	}
	return d, nil
}

// walkKnown calls fn for each varint and length-delimited field numbered
// 1 to 3 and for any other wire type on those numbers (so fn can reject
// it); other fields are skipped. v holds a varint, bs a payload.
func walkKnown(b []byte, fn func(num protowire.Number, typ protowire.Type, v uint64, bs []byte) error) error {
	off := 0
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("offset %d: %w", off, protowire.ParseError(n))
		}
		b, off = b[n:], off+n
		var v uint64
		var bs []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			bs, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("offset %d: field %d: %w", off, num, protowire.ParseError(n))
		}
		b, off = b[n:], off+n
		if num >= 1 && num <= 3 {
			if err := fn(num, typ, v, bs); err != nil {
				return err
			}
		}
	}
	return nil
}

// Text renders the status in protobuf text format, with each detail's value
// shown as decode_raw shows it. Output beyond MaxTextSize is cut.
func (s *Status) Text() string {
	w := newTextWriter()
	w.field("code", strconv.FormatInt(int64(s.Code), 10))
	w.quoted("message", []byte(s.Message))
	for _, d := range s.Details {
		w.open("details")
		w.quoted("type_url", []byte(d.TypeURL))
		if len(d.Fields) > 0 {
			w.open("value")
			// Fields came from DecodeRaw, so formatting cannot fail.
			_ = formatFields(w, d.Fields, 0)
			w.close()
		} else {
			w.quoted("value", d.Value)
		}
		w.close()
	}
	return string(w.buf)
}
