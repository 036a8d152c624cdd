package protobuf

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func anyMsg(typeURL string, value []byte) wire {
	return wire{}.str(1, typeURL).bytes(2, value)
}

// errorInfo is a google.rpc.ErrorInfo {reason, domain, metadata map}.
var errorInfo = wire{}.str(1, "QUOTA").str(2, "example.com").
	bytes(3, wire{}.str(1, "zone").str(2, "a"))

func statusMsg() wire {
	return wire{}.varint(1, 8).str(2, "quota exceeded").
		bytes(3, anyMsg("type.googleapis.com/google.rpc.ErrorInfo", errorInfo)).
		bytes(3, anyMsg("type.googleapis.com/google.rpc.RetryInfo", wire{}.bytes(1, wire{}.varint(1, 2)))).
		bytes(3, anyMsg("type.googleapis.com/x.Opaque", []byte{0xff}))
}

func TestDecodeStatus(t *testing.T) {
	s, err := DecodeStatus(statusMsg())
	if err != nil {
		t.Fatal(err)
	}
	if s.Code != 8 || s.Message != "quota exceeded" || len(s.Details) != 3 {
		t.Fatalf("got %+v", s)
	}
	d := s.Details[0]
	if d.TypeURL != "type.googleapis.com/google.rpc.ErrorInfo" || string(d.Value) != string(errorInfo) {
		t.Errorf("detail 0: %+v", d)
	}
	wantFields := []Field{
		{1, WireLen, []byte("QUOTA")},
		{2, WireLen, []byte("example.com")},
		{3, WireLen, []Field{{1, WireLen, []byte("zone")}, {2, WireLen, []byte("a")}}},
	}
	if !reflect.DeepEqual(d.Fields, wantFields) {
		t.Errorf("detail 0 fields: %#v", d.Fields)
	}
	if s.Details[2].Fields != nil {
		t.Errorf("non-message value got fields %#v", s.Details[2].Fields)
	}

	want := `code: 8
message: "quota exceeded"
details {
  type_url: "type.googleapis.com/google.rpc.ErrorInfo"
  value {
    1: "QUOTA"
    2: "example.com"
    3 {
      1: "zone"
      2: "a"
    }
  }
}
details {
  type_url: "type.googleapis.com/google.rpc.RetryInfo"
  value {
    1 {
      1: 2
    }
  }
}
details {
  type_url: "type.googleapis.com/x.Opaque"
  value: "\377"
}
`
	// The value blocks are what protoc --decode_raw prints for each value.
	if got := s.Text(); got != want {
		t.Errorf("Text:\n%s\nwant:\n%s", got, want)
	}
	j, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(j), `{"code":8,"message":"quota exceeded","details":[{"type_url":"type.googleapis.com/google.rpc.ErrorInfo","value":"`) {
		t.Errorf("JSON: %s", j)
	}
}

func TestDecodeStatusEdges(t *testing.T) {
	// Empty: code 0 (OK), no details.
	s, err := DecodeStatus(nil)
	if err != nil || s.Code != 0 || s.Message != "" || s.Details != nil {
		t.Errorf("empty: %+v, %v", s, err)
	}
	if got := s.Text(); got != "code: 0\nmessage: \"\"\n" {
		t.Errorf("empty Text: %q", got)
	}
	// Negative code: int32 from a 10-byte varint. Unknown fields, including
	// a group, are skipped; the last code wins, as in any protobuf parser.
	neg := int32(-2)
	s, err = DecodeStatus(wire{}.varint(1, 5).group(9, wire{}.varint(1, 1)).fixed32(10, 1).varint(1, uint64(int64(neg))))
	if err != nil || s.Code != -2 {
		t.Errorf("negative code: %+v, %v", s, err)
	}
	// An Any with no value and one with an empty value.
	s, err = DecodeStatus(wire{}.bytes(3, nil).bytes(3, anyMsg("t", nil)))
	if err != nil || len(s.Details) != 2 || s.Details[1].TypeURL != "t" || s.Details[1].Value == nil {
		t.Errorf("empty details: %+v, %v", s, err)
	}

	for name, b := range map[string][]byte{
		"code as string":      wire{}.str(1, "x"),
		"message as varint":   wire{}.varint(2, 1),
		"details as fixed32":  wire{}.fixed32(3, 1),
		"details as group":    wire{}.group(3, nil),
		"type_url as varint":  wire{}.bytes(3, wire{}.varint(1, 1)),
		"value as fixed64":    wire{}.bytes(3, wire{}.fixed64(2, 1)),
		"truncated":           statusMsg()[:20],
		"garbage in details":  wire{}.bytes(3, []byte{0xff}),
		"lone end group":      wire{}.raw(0x0c),
		"field zero":          wire{}.raw(0x00, 0x00),
		"unterminated varint": wire{}.raw(0x08, 0x80),
	} {
		if s, err := DecodeStatus(b); err == nil {
			t.Errorf("%s: accepted as %+v", name, s)
		}
	}
}
