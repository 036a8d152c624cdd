package protobuf

import (
	"bytes"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

const (
	unaryPath  = "/hoptap.test.TestService/UnaryCall"
	legacyPath = "/hoptap.legacy.LegacyService/Get"
)

// testProtoset compiles testdata/test.proto with protocompile, writes the
// set as protoc --descriptor_set_out would, and returns the file's path.
func testProtoset(t *testing.T) string {
	t.Helper()
	set, err := CompileDescriptorSet([]string{"testdata"}, "test.proto")
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "test.protoset")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func testRegistry(t *testing.T) (*Registry, string) {
	t.Helper()
	path := testProtoset(t)
	r, err := LoadProtoset(path)
	if err != nil {
		t.Fatal(err)
	}
	return r, path
}

// encode parses text format with prototext (not our code) and returns the
// binary encoding.
func encode(t *testing.T, r *Registry, typeName, text string) []byte {
	t.Helper()
	d, err := r.Files().FindDescriptorByName(protoreflect.FullName(typeName))
	if err != nil {
		t.Fatal(err)
	}
	m := dynamicpb.NewMessage(d.(protoreflect.MessageDescriptor))
	if err := (prototext.UnmarshalOptions{Resolver: r.types, AllowPartial: true}).Unmarshal([]byte(text), m); err != nil {
		t.Fatalf("prototext: %v", err)
	}
	b, err := proto.MarshalOptions{Deterministic: true, AllowPartial: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCompileDescriptorSet(t *testing.T) {
	set, err := CompileDescriptorSet([]string{"testdata"}, "test.proto")
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, f := range set.File {
		pos[f.GetName()] = i
	}
	for _, dep := range []string{"google/protobuf/any.proto", "google/protobuf/timestamp.proto", "legacy.proto"} {
		i, ok := pos[dep]
		if !ok {
			t.Errorf("set lacks import %s", dep)
		} else if i > pos["test.proto"] {
			t.Errorf("%s comes after test.proto; dependencies must come first", dep)
		}
	}
}

func TestRegistrySources(t *testing.T) {
	path := testProtoset(t)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fromBytes, err := ParseProtoset(b)
	if err != nil {
		t.Fatal(err)
	}
	// Given by disk path, as protoc accepts with -I.
	fromSource, err := CompileProtos([]string{"testdata"}, filepath.Join("testdata", "test.proto"))
	if err != nil {
		t.Fatal(err)
	}
	// The same set twice: repeated files are taken once.
	twice, err := LoadProtoset(path, path)
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*Registry{"ParseProtoset": fromBytes, "CompileProtos": fromSource, "LoadProtoset twice": twice} {
		in, out, ok := r.MethodTypes(unaryPath)
		if !ok || in.FullName() != "hoptap.test.SimpleRequest" || out.FullName() != "hoptap.test.SimpleResponse" {
			t.Errorf("%s: MethodTypes = %v, %v, %v", name, in, out, ok)
		}
		if in, _, ok := r.MethodTypes("/hoptap.test.TestService/FullDuplexCall"); !ok || in.FullName() != "hoptap.test.SimpleRequest" {
			t.Errorf("%s: streaming method not found", name)
		}
		if in, _, ok := r.MethodTypes(legacyPath); !ok || in.FullName() != "hoptap.legacy.Old" {
			t.Errorf("%s: imported file's service not found", name)
		}
		for _, p := range []string{"", "/", "hoptap.test.TestService/UnaryCall", "/hoptap.test.TestService/Nope", "/x/UnaryCall"} {
			if _, _, ok := r.MethodTypes(p); ok {
				t.Errorf("%s: MethodTypes(%q) found a method", name, p)
			}
		}
	}

	// A set without its imports: well-known types come from the program,
	// anything else is an error.
	set := new(descriptorpb.FileDescriptorSet)
	if err := proto.Unmarshal(b, set); err != nil {
		t.Fatal(err)
	}
	var noWKT, noLegacy descriptorpb.FileDescriptorSet
	for _, f := range set.File {
		if !strings.HasPrefix(f.GetName(), "google/") {
			noWKT.File = append(noWKT.File, f)
		}
		if f.GetName() != "legacy.proto" {
			noLegacy.File = append(noLegacy.File, f)
		}
	}
	if _, err := NewRegistry(&noWKT); err != nil {
		t.Errorf("set without well-known types: %v", err)
	}
	if _, err := NewRegistry(&noLegacy); err == nil {
		t.Error("set missing legacy.proto accepted")
	}
	if _, err := ParseProtoset([]byte{0xff}); err == nil {
		t.Error("garbage protoset accepted")
	}
	if _, err := CompileProtos([]string{"testdata"}, "missing.proto"); err == nil {
		t.Error("missing .proto accepted")
	}
}

// requestText is a SimpleRequest in text format, used as input. It sets no
// Any, so protoc --decode prints it exactly as we do.
const requestText = `
response_type: UNCOMPRESSABLE
response_size: -5
payload { type: COMPRESSABLE body: "\x00\x01hi\xff" }
fill_username: true
response_status { code: 2 message: "boom \"quoted\"\n" }
sizes: [1, -1, 300]
tags: ["a", "", "é"]
counters { key: "b" value: 2 }
counters { key: "a" value: -1 }
counters { key: "" value: 0 }
mode: SLOW
inner { name: "in" deltas: [-1, 1, -9223372036854775808] }
inners { name: "x" }
inners { }
ratio: 0.1
weight: 0.1
f32: 4294967295
f64: 18446744073709551615
sf32: -2147483648
big: -9223372036854775808
ubig: 18446744073709551615
number: 0
deadline { seconds: 1700000000 nanos: 5 }
by_id { key: 5 value { name: "five" } }
by_id { key: -1 value { } }
by_id { key: 2 value { deltas: 3 } }
old { id: 7 Result { url: "u" hits: [1, 2] } color: GREEN [hoptap.legacy.note]: "n" }
maybe: 0
`

// Written from protoc 3.21 `protoc --decode=hoptap.test.SimpleRequest` of
// requestText's encoding; TestDecodeMatchesProtoc re-checks it when protoc
// is installed.
const requestWant = `response_type: UNCOMPRESSABLE
response_size: -5
payload {
  body: "\000\001hi\377"
}
fill_username: true
response_status {
  code: 2
  message: "boom \"quoted\"\n"
}
sizes: 1
sizes: -1
sizes: 300
tags: "a"
tags: ""
tags: "\303\251"
counters {
  key: ""
  value: 0
}
counters {
  key: "a"
  value: -1
}
counters {
  key: "b"
  value: 2
}
mode: SLOW
inner {
  name: "in"
  deltas: -1
  deltas: 1
  deltas: -9223372036854775808
}
inners {
  name: "x"
}
inners {
}
ratio: 0.1
weight: 0.1
f32: 4294967295
f64: 18446744073709551615
sf32: -2147483648
big: -9223372036854775808
ubig: 18446744073709551615
number: 0
deadline {
  seconds: 1700000000
  nanos: 5
}
by_id {
  key: -1
  value {
  }
}
by_id {
  key: 2
  value {
    deltas: 3
  }
}
by_id {
  key: 5
  value {
    name: "five"
  }
}
old {
  id: 7
  Result {
    url: "u"
    hits: 1
    hits: 2
  }
  color: GREEN
  [hoptap.legacy.note]: "n"
}
maybe: 0
`

func TestDecode(t *testing.T) {
	r, _ := testRegistry(t)
	msg := encode(t, r, "hoptap.test.SimpleRequest", requestText)
	got, err := r.Decode(unaryPath, true, msg)
	if err != nil {
		t.Fatal(err)
	}
	if got != requestWant {
		t.Errorf("got:\n%s\nwant:\n%s", got, requestWant)
	}

	// The response side of the same method uses the other type.
	resp := encode(t, r, "hoptap.test.SimpleResponse", `username: "u" oauth_scope: "s"`)
	if got, err := r.Decode(unaryPath, false, resp); err != nil || got != "username: \"u\"\noauth_scope: \"s\"\n" {
		t.Errorf("response: %q, %v", got, err)
	}
	if got, err := r.Decode(unaryPath, true, nil); err != nil || got != "" {
		t.Errorf("empty message: %q, %v", got, err)
	}
	if _, err := r.Decode("/no.Such/Method", true, msg); !errors.Is(err, ErrUnknownMethod) {
		t.Errorf("unknown method: err = %v", err)
	}
	if _, err := r.Decode(unaryPath, true, []byte{0x0f}); err == nil {
		t.Error("garbage accepted")
	}
}

func TestDecodeUnknownAndAny(t *testing.T) {
	r, _ := testRegistry(t)
	// Fields the schema lacks print as decode_raw prints them, after the
	// known fields.
	msg := encode(t, r, "hoptap.test.SimpleRequest", `response_size: 1`)
	msg = wire(msg).varint(99, 5).bytes(100, wire{}.varint(1, 1)).fixed32(101, 1)
	got, err := r.Decode(unaryPath, true, msg)
	want := "response_size: 1\n99: 5\n100 {\n  1: 1\n}\n101: 0x00000001\n"
	if err != nil || got != want {
		t.Errorf("unknown fields:\n got %q, %v\nwant %q", got, err, want)
	}
	// A closed (proto2) enum's unknown value: protoc moves it to the
	// unknown fields ("5: 9" at the end); Go's dynamicpb keeps it in the
	// field, which we show by number.
	old := wire{}.varint(1, 3).varint(5, 9)
	got, err = r.Decode(legacyPath, true, old)
	if want := "id: 3\ncolor: 9\n"; err != nil || got != want {
		t.Errorf("closed enum: got %q, %v; want %q", got, err, want)
	}
	// A missing required field is shown, not an error.
	if got, err := r.Decode(legacyPath, true, nil); err != nil || got != "" {
		t.Errorf("missing required: %q, %v", got, err)
	}

	// A known Any is expanded; an unknown one prints as a plain message.
	resp := encode(t, r, "hoptap.test.SimpleResponse", `
details { [type.googleapis.com/hoptap.test.EchoStatus] { code: 3 } }
details { type_url: "type.googleapis.com/nope.Nope" value: "\x08\x01" }`)
	got, err = r.Decode(unaryPath, false, resp)
	want = `details {
  [type.googleapis.com/hoptap.test.EchoStatus] {
    code: 3
  }
}
details {
  type_url: "type.googleapis.com/nope.Nope"
  value: "\010\001"
}
`
	if err != nil || got != want {
		t.Errorf("Any:\n got %s, %v\nwant %s", got, err, want)
	}

	// A chain of Anys deeper than the limit stops expanding, but prints.
	var chain []byte
	for i := 0; i < MaxGroupDepth+20; i++ {
		chain = wire{}.str(1, "type.googleapis.com/google.protobuf.Any").bytes(2, chain)
	}
	got, err = r.Decode("/hoptap.test.TestService/EmptyCall", true, chain)
	if err != nil || strings.Count(got, "[type.googleapis.com/google.protobuf.Any] {") != MaxGroupDepth {
		t.Errorf("Any chain: %d expansions, %v", strings.Count(got, "[type.googleapis.com"), err)
	}

	text, err := r.DecodeAny("type.googleapis.com/hoptap.test.EchoStatus", wire{}.varint(1, 4).str(2, "m"))
	if err != nil || text != "code: 4\nmessage: \"m\"\n" {
		t.Errorf("DecodeAny: %q, %v", text, err)
	}
	if _, err := r.DecodeAny("type.googleapis.com/hoptap.test.PayloadType", nil); err == nil {
		t.Error("DecodeAny of an enum type accepted")
	}
	if _, err := r.DecodeAny("nothing", nil); err == nil {
		t.Error("DecodeAny of an unknown type accepted")
	}
}

func TestDecodeJSON(t *testing.T) {
	r, _ := testRegistry(t)
	msg := encode(t, r, "hoptap.test.SimpleRequest", `
response_type: UNCOMPRESSABLE payload { body: "hi" } sizes: [1, 2] big: -3
counters { key: "a" value: 1 } deadline { seconds: 1 }
extra { [type.googleapis.com/hoptap.test.EchoStatus] { code: 3 } }`)
	got, err := r.DecodeJSON(unaryPath, true, msg)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"responseType":"UNCOMPRESSABLE","payload":{"body":"aGk="},"sizes":[1,2],"counters":{"a":"1"},` +
		`"big":"-3","extra":{"@type":"type.googleapis.com/hoptap.test.EchoStatus","code":3},"deadline":"1970-01-01T00:00:01Z"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if _, err := r.DecodeJSON("/x/y", true, msg); !errors.Is(err, ErrUnknownMethod) {
		t.Errorf("unknown method: %v", err)
	}
}

func TestDecodeTooLarge(t *testing.T) {
	r, _ := testRegistry(t)
	var msg wire
	for i := 0; i < MaxTextSize/8; i++ {
		msg = msg.str(9, "tag")
	}
	text, err := r.Decode(unaryPath, true, msg)
	if !errors.Is(err, ErrTooLarge) || len(text) != MaxTextSize {
		t.Errorf("len %d, err %v", len(text), err)
	}
}

func TestFloatFormat(t *testing.T) {
	for _, c := range []struct {
		v          float64
		dbl, float string
	}{
		{0.1, "0.1", "0.1"},
		{1, "1", "1"},
		{math.Copysign(0, -1), "-0", "-0"},
		{1e20, "1e+20", "1e+20"},
		{123456789, "123456789", "123456792"},
		{1e-5, "1e-05", "1e-05"},
		{1.0 / 3, "0.33333333333333331", "0.333333343"},
		{math.MaxFloat64, "1.7976931348623157e+308", "inf"},
		{math.Inf(-1), "-inf", "-inf"},
		{math.NaN(), "nan", "nan"},
	} {
		if got := formatDouble(c.v); got != c.dbl {
			t.Errorf("formatDouble(%v) = %s, want %s", c.v, got, c.dbl)
		}
		if got := formatFloat(float32(c.v)); got != c.float {
			t.Errorf("formatFloat(%v) = %s, want %s", c.v, got, c.float)
		}
	}
}

func protocDecode(t *testing.T, protoc, protoset, typeName string, msg []byte) string {
	t.Helper()
	cmd := exec.Command(protoc, "--descriptor_set_in="+protoset, "--decode="+typeName)
	cmd.Stdin = bytes.NewReader(msg)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("protoc --decode: %v: %s", err, errb.String())
	}
	return out.String()
}

// TestDecodeMatchesProtoc checks the text printer against protoc --decode
// on the protoset we wrote, so protoc also proves that file is valid.
func TestDecodeMatchesProtoc(t *testing.T) {
	protoc := findProtoc(t)
	r, protoset := testRegistry(t)
	check := func(name, typeName, path string, request bool, msg []byte) {
		t.Helper()
		want := protocDecode(t, protoc, protoset, typeName, msg)
		got, err := r.Decode(path, request, msg)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if got != want {
			t.Errorf("%s:\n got:\n%s\nprotoc:\n%s", name, got, want)
		}
	}
	check("requestText", "hoptap.test.SimpleRequest", unaryPath, true,
		encode(t, r, "hoptap.test.SimpleRequest", requestText))
	unknown := wire(encode(t, r, "hoptap.test.SimpleRequest", `response_size: 1`)).
		varint(99, 5).bytes(100, wire{}.varint(1, 1)).group(101, wire{}.fixed64(1, 2)).str(102, "hi")
	check("unknown fields", "hoptap.test.SimpleRequest", unaryPath, true, unknown)
	check("proto2", "hoptap.legacy.Old", legacyPath, true,
		wire{}.varint(1, 3).group(2, wire{}.str(3, "u").varint(4, 1)).varint(5, 2).str(100, "n").varint(6, 1))
	check("unexpanded Any", "hoptap.test.SimpleResponse", unaryPath, false,
		encode(t, r, "hoptap.test.SimpleResponse", `details { type_url: "x/nope.Nope" value: "\x08\x01" }`))
	for _, v := range []float64{0, 0.1, -2.5, 1e20, 1e-7, 1.0 / 3, 123456789, 3.4028234663852886e38,
		math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1), math.NaN()} {
		msg := protowire.AppendTag(nil, 14, protowire.Fixed64Type)
		msg = protowire.AppendFixed64(msg, math.Float64bits(v))
		msg = protowire.AppendTag(msg, 15, protowire.Fixed32Type)
		msg = protowire.AppendFixed32(msg, math.Float32bits(float32(v)))
		check("float", "hoptap.test.SimpleRequest", unaryPath, true, msg)
	}
}
