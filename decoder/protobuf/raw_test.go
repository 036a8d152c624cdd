package protobuf

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// wire builds messages with protowire so tests never use our own encoder.
type wire []byte

func (w wire) varint(num protowire.Number, v uint64) wire {
	b := protowire.AppendTag(w, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func (w wire) bytes(num protowire.Number, v []byte) wire {
	b := protowire.AppendTag(w, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func (w wire) str(num protowire.Number, s string) wire { return w.bytes(num, []byte(s)) }

func (w wire) fixed32(num protowire.Number, v uint32) wire {
	b := protowire.AppendTag(w, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, v)
}

func (w wire) fixed64(num protowire.Number, v uint64) wire {
	b := protowire.AppendTag(w, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, v)
}

func (w wire) group(num protowire.Number, body wire) wire {
	b := protowire.AppendTag(w, num, protowire.StartGroupType)
	b = append(b, body...)
	return protowire.AppendTag(b, num, protowire.EndGroupType)
}

func (w wire) raw(b ...byte) wire { return append(w, b...) }

func nested(depth int) wire {
	m := wire{}.varint(1, 1)
	for i := 0; i < depth; i++ {
		m = wire{}.bytes(1, m)
	}
	return m
}

func groups(depth int) wire {
	m := wire{}.varint(1, 1)
	for i := 0; i < depth; i++ {
		m = wire{}.group(1, m)
	}
	return m
}

func packed(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = protowire.AppendVarint(b, v)
	}
	return b
}

type rawCase struct {
	name string
	msg  []byte
	want string // "" when only protoc is the judge
	bad  bool   // protoc rejects it
}

var negInt32 = int32(-1)

var rawCases = []rawCase{
	{name: "empty", msg: nil, want: ""},
	{name: "doc example",
		msg: wire{}.varint(1, 150).str(2, "testing").bytes(3, wire{}.varint(1, 1)).
			fixed64(4, math.Float64bits(1)).fixed32(5, math.Float32bits(1)),
		want: "1: 150\n2: \"testing\"\n3 {\n  1: 1\n}\n4: 0x3ff0000000000000\n5: 0x3f800000\n"},
	{name: "negative int32 is a 10-byte varint",
		msg:  wire{}.varint(1, uint64(int64(negInt32))),
		want: "1: 18446744073709551615\n"},
	{name: "max field number", msg: wire{}.varint(protowire.MaxValidNumber, 7), want: "536870911: 7\n"},
	{name: "empty string", msg: wire{}.str(1, ""), want: "1: \"\"\n"},
	{name: "escapes",
		msg:  wire{}.bytes(1, []byte("\x00\x01\n\r\t\"'\\\x7f\xff é")),
		want: "1: \"\\000\\001\\n\\r\\t\\\"\\'\\\\\\177\\377 \\303\\251\"\n"},
	{name: "bytes that are not a message", msg: wire{}.bytes(2, []byte{0xff, 0xff}), want: "2: \"\\377\\377\"\n"},
	{name: "string that happens to parse", msg: wire{}.str(1, "hi"), want: "1 {\n  13: 105\n}\n"},
	{name: "packed repeated", msg: wire{}.bytes(4, packed(3, 270, 86942)), want: "4: \"\\003\\216\\002\\236\\247\\005\"\n"},
	{name: "packed that parses", msg: wire{}.bytes(4, packed(8, 1, 16, 2))},
	{name: "fixed zero padding", msg: wire{}.fixed32(1, 1).fixed64(2, 0xab), want: "1: 0x00000001\n2: 0x00000000000000ab\n"},
	{name: "group",
		msg:  wire{}.group(3, wire{}.varint(1, 2).str(2, "x")).varint(4, 5),
		want: "3 {\n  1: 2\n  2: \"x\"\n}\n4: 5\n"},
	{name: "empty group", msg: wire{}.group(7, nil), want: "7 {\n}\n"},
	{name: "nested message in group in message",
		msg: wire{}.bytes(1, wire{}.group(2, wire{}.bytes(3, wire{}.varint(4, 5))))},
	{name: "repeated and out of order", msg: wire{}.varint(5, 1).varint(1, 2).varint(5, 3), want: "5: 1\n1: 2\n5: 3\n"},
	{name: "nesting 9", msg: nested(9)},
	{name: "nesting 10", msg: nested(10)},
	{name: "nesting 11 stops at protoc's budget", msg: nested(11)},
	{name: "nesting 30", msg: nested(30)},
	{name: "groups 12 deep", msg: groups(12)},
	{name: "groups 100 deep", msg: groups(100)},
	{name: "groups 101 deep", msg: groups(101), bad: true},
	{name: "groups 9 in len", msg: wire{}.bytes(2, groups(9))},
	{name: "groups 10 in len", msg: wire{}.bytes(2, groups(10))},
	{name: "groups 11 in len", msg: wire{}.bytes(2, groups(11))},
	{name: "len in deep groups", msg: groups(9).bytes(5, nested(2))},
	{name: "len under 10 groups", msg: wire{}.group(1, wire{}.group(1, wire{}.group(1, wire{}.group(1, wire{}.group(1, wire{}.group(1, wire{}.group(1, wire{}.group(1, wire{}.group(1, wire{}.group(1, nested(2)))))))))))},
	{name: "varint 10th byte 0x7f", msg: wire{}.raw(0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), want: "1: 18446744073709551615\n"},
	{name: "varint 11 bytes", msg: wire{}.raw(0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), bad: true},
	{name: "overlong tag at top", msg: wire{}.raw(0x88, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01), bad: true},
	{name: "5-byte tag at top", msg: wire{}.raw(0x88, 0x80, 0x80, 0x80, 0x00, 0x01), want: "1: 1\n"},
	{name: "tag bits over 32 dropped", msg: wire{}.raw(0x88, 0x80, 0x80, 0x80, 0x70, 0x01), want: "1: 1\n"},
	{name: "overlong tag in len", msg: wire{}.bytes(1, []byte{0x88, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01})},
	{name: "overlong length at top", msg: wire{}.raw(0x0a, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00, 'x'), bad: true},
	{name: "5-byte length at top", msg: wire{}.raw(0x0a, 0x81, 0x80, 0x80, 0x80, 0x00, 'x'), want: "1: \"x\"\n"},
	{name: "overlong length in len", msg: wire{}.bytes(1, []byte{0x0a, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00, 0x08, 0x01})},
	{name: "trailing zero byte", msg: wire{}.varint(1, 150).raw(0), bad: true},
	{name: "zero byte in len", msg: wire{}.bytes(1, []byte{0x08, 0x01, 0x00}), want: "1: \"\\010\\001\\000\"\n"},
	{name: "field zero", msg: wire{}.raw(0x02, 0x00), bad: true},
	{name: "lone end group", msg: wire{}.raw(0x0c), bad: true},
	{name: "mismatched end group", msg: wire{}.raw(0x0b, 0x14), bad: true},
	{name: "unterminated group", msg: wire{}.raw(0x0b, 0x08, 0x01), bad: true},
	{name: "wire type 6", msg: wire{}.raw(0x0e), bad: true},
	{name: "wire type 7", msg: wire{}.raw(0x0f, 0x00), bad: true},
	{name: "truncated fixed64", msg: wire{}.raw(0x09, 1, 2, 3), bad: true},
	{name: "truncated fixed32", msg: wire{}.raw(0x0d, 1, 2, 3), bad: true},
	{name: "length past end", msg: wire{}.raw(0x0a, 0x05, 'a'), bad: true},
	{name: "truncated varint", msg: wire{}.raw(0x08, 0x80), bad: true},
	{name: "truncated tag", msg: wire{}.raw(0x80), bad: true},
}

func TestDecodeRawText(t *testing.T) {
	for _, c := range rawCases {
		got, err := DecodeRawText(c.msg)
		if c.bad {
			if err == nil {
				t.Errorf("%s: want error, got %q", c.name, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if c.want != "" && got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
		fields, err := DecodeRaw(c.msg)
		if err != nil {
			t.Errorf("%s: DecodeRaw: %v", c.name, err)
			continue
		}
		if again, err := FormatRaw(fields); err != nil || again != got {
			t.Errorf("%s: FormatRaw(DecodeRaw) = %q, %v; DecodeRawText = %q", c.name, again, err, got)
		}
	}
}

// protocDecodeRaw runs protoc --decode_raw; ok is false when protoc
// rejects the input.
func protocDecodeRaw(t *testing.T, protoc string, msg []byte) (string, bool) {
	t.Helper()
	cmd := exec.Command(protoc, "--decode_raw")
	cmd.Stdin = bytes.NewReader(msg)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		if strings.Contains(errb.String(), "Failed to parse input") {
			return "", false
		}
		t.Fatalf("protoc: %v: %s", err, errb.String())
	}
	return out.String(), true
}

func findProtoc(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("protoc")
	if err != nil {
		t.Log("protoc not installed (apt-get install protobuf-compiler); skipping the comparison with it")
		t.Skip("protoc not found: ", err)
	}
	return p
}

func compareWithProtoc(t *testing.T, protoc, name string, msg []byte) {
	t.Helper()
	want, ok := protocDecodeRaw(t, protoc, msg)
	got, err := DecodeRawText(msg)
	switch {
	case !ok && err == nil:
		t.Errorf("%s: protoc rejects %x, we print %q", name, msg, got)
	case ok && err != nil:
		t.Errorf("%s: protoc accepts %x, we fail: %v\nprotoc:\n%s", name, msg, err, want)
	case ok && got != want:
		t.Errorf("%s: input %x\n got:\n%s\nprotoc:\n%s", name, msg, got, want)
	}
}

func TestDecodeRawMatchesProtoc(t *testing.T) {
	protoc := findProtoc(t)
	for _, c := range rawCases {
		compareWithProtoc(t, protoc, c.name, c.msg)
	}
}

// TestDecodeRawMatchesProtocRandom compares random messages and random
// corruptions of them, seeded so a failure reproduces.
func TestDecodeRawMatchesProtocRandom(t *testing.T) {
	protoc := findProtoc(t)
	n := 300
	if testing.Short() {
		n = 50
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < n; i++ {
		msg := randomMessage(rng, 4)
		switch i % 3 {
		case 1:
			if len(msg) > 0 {
				msg[rng.Intn(len(msg))] ^= byte(1 << rng.Intn(8))
			}
		case 2:
			if len(msg) > 0 {
				msg = msg[:rng.Intn(len(msg))]
			}
		}
		compareWithProtoc(t, protoc, "random", msg)
	}
}

func randomMessage(rng *rand.Rand, depth int) wire {
	var w wire
	for n := rng.Intn(5); n >= 0; n-- {
		num := protowire.Number(1 + rng.Intn(20))
		if rng.Intn(10) == 0 {
			num = protowire.Number(1 + rng.Intn(int(protowire.MaxValidNumber)))
		}
		switch k := rng.Intn(7); {
		case k == 0:
			w = w.varint(num, rng.Uint64()>>uint(rng.Intn(64)))
		case k == 1:
			w = w.fixed32(num, rng.Uint32())
		case k == 2:
			w = w.fixed64(num, rng.Uint64())
		case k == 3:
			b := make([]byte, rng.Intn(8))
			rng.Read(b)
			w = w.bytes(num, b)
		case k == 4:
			w = w.str(num, []string{"", "a", "hello", "x\ny", "\x08\x01"}[rng.Intn(5)])
		case k == 5 && depth > 0:
			w = w.bytes(num, randomMessage(rng, depth-1))
		case k == 6 && depth > 0:
			w = w.group(num, randomMessage(rng, depth-1))
		}
	}
	return w
}

func TestDecodeRawStructured(t *testing.T) {
	msg := wire{}.varint(1, 150).str(2, "\xff").bytes(3, wire{}.varint(1, 1)).
		fixed64(4, 5).fixed32(5, 6).group(6, wire{}.varint(2, 0)).str(7, "")
	got, err := DecodeRaw(msg)
	if err != nil {
		t.Fatal(err)
	}
	want := []Field{
		{1, WireVarint, uint64(150)},
		{2, WireLen, []byte{0xff}},
		{3, WireLen, []Field{{1, WireVarint, uint64(1)}}},
		{4, WireI64, uint64(5)},
		{5, WireI32, uint32(6)},
		{6, WireGroup, []Field{{2, WireVarint, uint64(0)}}},
		{7, WireLen, []byte{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
	j, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON := `[{"number":1,"wire":"varint","value":150},{"number":2,"wire":"len","value":"/w=="},` +
		`{"number":3,"wire":"len","value":[{"number":1,"wire":"varint","value":1}]},` +
		`{"number":4,"wire":"i64","value":5},{"number":5,"wire":"i32","value":6},` +
		`{"number":6,"wire":"group","value":[{"number":2,"wire":"varint","value":0}]},` +
		`{"number":7,"wire":"len","value":""}]`
	if string(j) != wantJSON {
		t.Errorf("JSON:\n got %s\nwant %s", j, wantJSON)
	}

	empty, err := DecodeRaw(nil)
	if err != nil || empty == nil || len(empty) != 0 {
		t.Errorf("DecodeRaw(nil) = %#v, %v; want empty non-nil", empty, err)
	}
}

func TestDecodeRawErrorOffset(t *testing.T) {
	_, err := DecodeRaw(wire{}.varint(1, 1).raw(0x0f))
	if err == nil || !strings.Contains(err.Error(), "offset 2") {
		t.Errorf("err = %v, want it to name offset 2", err)
	}
}

func TestDecodeRawLimits(t *testing.T) {
	// Many tiny fields: more than MaxFields, and text over MaxTextSize.
	var msg wire
	for i := 0; i < MaxFields+1; i++ {
		msg = msg.varint(1, 0)
	}
	if _, err := DecodeRaw(msg); !errors.Is(err, ErrTooLarge) {
		t.Errorf("DecodeRaw of %d fields: err = %v, want ErrTooLarge", MaxFields+1, err)
	}
	text, err := DecodeRawText(msg)
	if !errors.Is(err, ErrTooLarge) || len(text) != MaxTextSize || !strings.HasPrefix(text, "1: 0\n1: 0\n") {
		t.Errorf("DecodeRawText: len %d, err %v; want a %d-byte prefix and ErrTooLarge", len(text), err, MaxTextSize)
	}

	// One big non-message string: escaping stops near the limit.
	big := wire{}.bytes(1, bytes.Repeat([]byte{0xff}, MaxTextSize))
	text, err = DecodeRawText(big)
	if !errors.Is(err, ErrTooLarge) || len(text) != MaxTextSize {
		t.Errorf("big string: len %d, err %v", len(text), err)
	}

	// Deep nesting of length-delimited fields costs no recursion beyond
	// protoc's budget, whatever the depth.
	if _, err := DecodeRawText(nested(5000)); err != nil {
		t.Errorf("nested(5000): %v", err)
	}
	if _, err := DecodeRaw(groups(MaxGroupDepth + 1)); err == nil {
		t.Error("groups deeper than MaxGroupDepth accepted")
	}
}

func TestFormatRawRejectsForeignValues(t *testing.T) {
	if _, err := FormatRaw([]Field{{1, WireVarint, "x"}}); err == nil {
		t.Error("want error for a string value")
	}
}
