package protobuf

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// encodeFields writes fields back in canonical wire form.
func encodeFields(fields []Field) []byte {
	var b []byte
	for _, f := range fields {
		num := protowire.Number(f.Number)
		switch v := f.Value.(type) {
		case uint64:
			if f.Wire == WireI64 {
				b = protowire.AppendTag(b, num, protowire.Fixed64Type)
				b = protowire.AppendFixed64(b, v)
			} else {
				b = protowire.AppendTag(b, num, protowire.VarintType)
				b = protowire.AppendVarint(b, v)
			}
		case uint32:
			b = protowire.AppendTag(b, num, protowire.Fixed32Type)
			b = protowire.AppendFixed32(b, v)
		case []byte:
			b = protowire.AppendTag(b, num, protowire.BytesType)
			b = protowire.AppendBytes(b, v)
		case []Field:
			if f.Wire == WireGroup {
				b = protowire.AppendTag(b, num, protowire.StartGroupType)
				b = append(b, encodeFields(v)...)
				b = protowire.AppendTag(b, num, protowire.EndGroupType)
			} else {
				b = protowire.AppendTag(b, num, protowire.BytesType)
				b = protowire.AppendBytes(b, encodeFields(v))
			}
		}
	}
	return b
}

func FuzzDecodeRaw(f *testing.F) {
	for _, c := range rawCases {
		f.Add([]byte(c.msg))
	}
	f.Add([]byte(statusMsg()))
	f.Fuzz(func(t *testing.T, msg []byte) {
		text, textErr := DecodeRawText(msg)
		fields, err := DecodeRaw(msg)
		if errors.Is(err, ErrTooLarge) || errors.Is(textErr, ErrTooLarge) {
			return
		}
		if (err == nil) != (textErr == nil) {
			t.Fatalf("DecodeRaw err %v, DecodeRawText err %v", err, textErr)
		}
		if err != nil {
			if text != "" || fields != nil {
				t.Fatalf("error %v with output", err)
			}
			return
		}
		again, err := FormatRaw(fields)
		if err != nil || again != text {
			t.Fatalf("FormatRaw(DecodeRaw) = %q, %v\nDecodeRawText = %q", again, err, text)
		}
		if _, err := json.Marshal(fields); err != nil {
			t.Fatal(err)
		}
		// The canonical re-encoding reads back the same: nothing was
		// dropped or misread on the way.
		canon := encodeFields(fields)
		text2, err := DecodeRawText(canon)
		if err != nil || text2 != text {
			t.Fatalf("re-encoded %x reads as %q, %v; want %q", canon, text2, err, text)
		}
	})
}

func FuzzDecodeStatus(f *testing.F) {
	f.Add([]byte(statusMsg()))
	f.Add([]byte(wire{}.varint(1, 5).str(2, "x")))
	f.Add([]byte(wire{}.bytes(3, anyMsg("type.googleapis.com/google.rpc.BadRequest",
		wire{}.bytes(1, wire{}.str(1, "field").str(2, "bad"))))))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeStatus(b)
		if err != nil {
			if s != nil {
				t.Fatal("status with error")
			}
			return
		}
		_ = s.Text()
		if _, err := json.Marshal(s); err != nil {
			t.Fatal(err)
		}
		// Re-encode and decode: the same status comes back.
		re := wire{}.varint(1, uint64(int64(s.Code))).str(2, s.Message)
		for _, d := range s.Details {
			re = re.bytes(3, anyMsg(d.TypeURL, d.Value))
		}
		s2, err := DecodeStatus(re)
		if err != nil || !reflect.DeepEqual(s, s2) {
			t.Fatalf("round trip: %+v, %v; want %+v", s2, err, s)
		}
	})
}
