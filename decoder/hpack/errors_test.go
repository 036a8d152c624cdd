package hpack

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"

	xhpack "golang.org/x/net/http2/hpack"
)

// appendInt encodes v with an n-bit prefix whose high bits are first.
func appendInt(dst []byte, first byte, n uint8, v uint64) []byte {
	mask := uint64(1)<<n - 1
	if v < mask {
		return append(dst, first|byte(v))
	}
	dst = append(dst, first|byte(mask))
	v -= mask
	for v >= 128 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// appendStr appends a raw (not Huffman) string literal.
func appendStr(dst []byte, s string) []byte {
	return append(appendInt(dst, 0, 7, uint64(len(s))), s...)
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name    string
		block   []byte
		partial bool // decoder in the partial state with bound 4096
		want    error
		emitted int // fields emitted before the error
	}{
		{"index 0", []byte{0x80}, false, ErrInvalidIndex, 0},
		{"index 62 empty table", []byte{0xbe}, false, ErrInvalidIndex, 0},
		{"literal name index 62 empty table", []byte{0x7e, 0x01, 'a'}, false, ErrInvalidIndex, 0},
		{"index beyond any 4096 table", appendInt(nil, 0x80, 7, 62+4096/32), true, ErrInvalidIndex, 0},
		{"fields before the error stand", []byte{0x82, 0x84, 0x80}, false, ErrInvalidIndex, 2},
		{"truncated integer", []byte{0xff}, false, ErrTruncated, 0},
		{"truncated integer continuation", []byte{0xff, 0x80}, false, ErrTruncated, 0},
		{"integer overflow", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x0f}, false, ErrIntegerOverflow, 0},
		{"integer too many bytes", []byte{0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, false, ErrIntegerOverflow, 0},
		{"truncated string", []byte{0x40, 0x05, 'a'}, false, ErrTruncated, 0},
		{"missing value", []byte{0x40, 0x01, 'a'}, false, ErrTruncated, 0},
		{"missing string length", []byte{0x82, 0x04}, false, ErrTruncated, 1},
		{"Huffman padding not EOS", []byte{0x00, 0x81, 0x00, 0x01, 'v'}, false, ErrInvalidHuffman, 0},
		{"Huffman EOS symbol", []byte{0x00, 0x84, 0xff, 0xff, 0xff, 0xff, 0x01, 'v'}, false, ErrInvalidHuffman, 0},
		{"Huffman overlong padding", []byte{0x00, 0x82, 0x1f, 0xff, 0x01, 'v'}, false, ErrInvalidHuffman, 0},
		{"size update after a field", []byte{0x82, 0x20}, false, ErrSizeUpdatePosition, 1},
		{"oversize string truncated", appendInt([]byte{0x00}, 0, 7, 1<<30), false, ErrTruncated, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder()
			if tt.partial {
				d.Reset(false)
				d.SetMaxTableSizeBound(4096)
			}
			n := 0
			err := d.Decode(tt.block, func(Field) { n++ })
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			var de *DecodeError
			if !errors.As(err, &de) || !de.Desync {
				t.Fatalf("error %#v: want a desync DecodeError", err)
			}
			if n != tt.emitted {
				t.Errorf("emitted %d fields before the error, want %d", n, tt.emitted)
			}
			if d.Whole() || d.Complete() || d.TableLen() != 0 {
				t.Errorf("after error: whole %v, %d entries", d.Whole(), d.TableLen())
			}
			// Now partial: an old dynamic reference is unknown, not an error.
			got, err := decodeAll(t, d, []byte{0xbe})
			if err != nil || len(got) != 1 || got[0].NameKnown || got[0].ValueKnown {
				t.Errorf("after error: %v %v", got, err)
			}
			if s := d.Stats(); s.Errors != 1 || s.Desyncs != 1 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// In the partial state, with no bound on the table size, even an enormous
// index may be valid: unknown, not an error.
func TestPartialHugeIndex(t *testing.T) {
	d := NewDecoder()
	d.Reset(false)
	got, err := decodeAll(t, d, appendInt(nil, 0x80, 7, 1<<30))
	if err != nil || len(got) != 1 || got[0].NameKnown || got[0].Index != 1<<30 {
		t.Fatalf("%v %v", got, err)
	}
	// One below the bound's limit is still possible.
	d.SetMaxTableSizeBound(4096)
	if _, err := decodeAll(t, d, appendInt(nil, 0x80, 7, 62+4096/32-1)); err != nil {
		t.Fatal(err)
	}
}

func allocBytes(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

func TestStringTooLong(t *testing.T) {
	big := strings.Repeat("a", 200000)
	// Without indexing: skipped, nothing emitted after it, state kept.
	blk := appendStr([]byte{0x00}, "x-big")
	blk = appendStr(blk, big)
	blk = append(blk, 0x82)
	d := NewDecoder()
	n := 0
	var err error
	used := allocBytes(func() { err = d.Decode(blk, func(Field) { n++ }) })
	if !errors.Is(err, ErrStringTooLong) {
		t.Fatalf("error %v", err)
	}
	var de *DecodeError
	if !errors.As(err, &de) || de.Desync || de.Offset != 0 {
		t.Errorf("error %#v", err)
	}
	if n != 0 {
		t.Errorf("emitted %d", n)
	}
	if used > 32<<10 {
		t.Errorf("allocated %d bytes for a skipped string", used)
	}
	if !d.Complete() {
		t.Error("limit error lost the table")
	}

	// With incremental indexing into a large table, Huffman-coded (so its
	// decoded size is unknown but may fit): the entry is kept with an
	// unknown value, and the table stays in step.
	blk = appendInt(nil, 0x20, 5, 1<<20) // size update to 1 MiB
	blk = appendStr(append(blk, 0x40), "x-big")
	huff := xhpack.AppendHuffmanString(nil, strings.Repeat("a", 120000))
	blk = appendInt(blk, 0x80, 7, uint64(len(huff)))
	blk = append(blk, huff...)
	blk = appendStr(append(blk, 0x40), "x-after")
	blk = appendStr(blk, "1")
	if len(huff) <= MaxStringLength {
		t.Fatal("test string too short")
	}
	if err := d.Decode(blk, nil); !errors.Is(err, ErrStringTooLong) {
		t.Fatalf("error %v", err)
	}
	got, err := decodeAll(t, d, []byte{0xbe, 0xbf})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].String() != "x-after: 1" || !got[1].NameKnown || got[1].Name != "x-big" || got[1].ValueKnown {
		t.Errorf("got %v", got)
	}
	if !d.Whole() || d.Complete() {
		t.Errorf("whole %v complete %v", d.Whole(), d.Complete())
	}
}

// A small block referencing a large entry many times must stop at
// MaxHeaderListSize, without losing the table.
func TestHPACKBomb(t *testing.T) {
	d := NewDecoder()
	blk := appendStr([]byte{0x40}, "x-bomb")
	blk = appendStr(blk, strings.Repeat("b", 4000))
	if err := d.Decode(blk, nil); err != nil {
		t.Fatal(err)
	}
	bomb := bytes.Repeat([]byte{0xbe}, 16000)
	// A literal after the limit must still reach the table.
	bomb = appendStr(append(bomb, 0x40), "x-after")
	bomb = appendStr(bomb, "1")
	n := 0
	var err error
	used := allocBytes(func() { err = d.Decode(bomb, func(Field) { n++ }) })
	if !errors.Is(err, ErrHeaderListTooLarge) {
		t.Fatalf("error %v", err)
	}
	if want := MaxHeaderListSize / (6 + 4000 + 32); n != want {
		t.Errorf("emitted %d fields, want %d", n, want)
	}
	if used > 16<<10 {
		t.Errorf("allocated %d bytes", used)
	}
	got, err := decodeAll(t, d, []byte{0xbe, 0xbf})
	if err != nil || got[0].String() != "x-after: 1" || got[1].Name != "x-bomb" {
		t.Fatalf("table lost: %v %v", got, err)
	}
	if !d.Complete() {
		t.Error("not complete")
	}
}

func TestTooManyFields(t *testing.T) {
	d := NewDecoder()
	n := 0
	err := d.Decode(bytes.Repeat([]byte{0x82}, MaxFieldsPerBlock+10), func(Field) { n++ })
	if !errors.Is(err, ErrTooManyFields) || n != MaxFieldsPerBlock {
		t.Fatalf("%v, %d fields", err, n)
	}
	if d.Stats().Errors != 1 || d.Stats().Desyncs != 0 {
		t.Errorf("stats %+v", d.Stats())
	}
}

// Lowering the bound while holding the whole table evicts as a size update
// would; a size update above the bound means the bound was stale.
func TestBoundLowersMax(t *testing.T) {
	d := NewDecoder()
	for _, b := range []string{
		"8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
		"8286 84be 5808 6e6f 2d63 6163 6865",
		"8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
	} {
		if err := d.Decode(dehex(b), nil); err != nil {
			t.Fatal(err)
		}
	}
	d.SetMaxTableSizeBound(120)
	if d.TableLen() != 2 || d.TableSize() != 107 || !d.Complete() {
		t.Fatalf("after bound 120: %v size %d", tableOf(d), d.TableSize())
	}
	if lim, _ := d.MaxTableSize(); lim != 120 {
		t.Errorf("max %d", lim)
	}
	if err := d.Decode([]byte{0x3f, 0xe1, 0x1f}, nil); err != nil { // size update 4096
		t.Fatal(err)
	}
	if lim, _ := d.MaxTableSize(); lim != 4096 {
		t.Errorf("max %d after size update", lim)
	}
}

// Several size updates may open a block; the smallest one evicts.
func TestSizeUpdates(t *testing.T) {
	d := NewDecoder()
	d.Reset(false)
	if err := d.Decode(dehex("4003 6162 6303 6465 66"), nil); err != nil { // abc: def
		t.Fatal(err)
	}
	var fs []Field
	if err := d.Decode([]byte{0x20, 0x3f, 0xe1, 0x1f, 0x82}, func(f Field) { fs = append(fs, f) }); err != nil {
		t.Fatal(err)
	}
	if len(fs) != 3 || fs[0].Rep != RepSizeUpdate || fs[0].Index != 0 || fs[1].Index != 4096 || fs[2].Rep != RepIndexed {
		t.Fatalf("%v", fs)
	}
	if !d.Complete() || d.TableLen() != 0 {
		t.Errorf("complete %v len %d", d.Complete(), d.TableLen())
	}
	if fs[1].String() != "[size update 4096]" || fs[1].RepString() != "Maximum Header Table Size Change" {
		t.Errorf("%v %v", fs[1], fs[1].RepString())
	}
	if d.Stats().SizeUpdates != 2 || d.Stats().Fields != 2 {
		t.Errorf("%+v", d.Stats())
	}
}

// Indexed references to known entries must not copy strings.
func TestIndexedNoAlloc(t *testing.T) {
	d := NewDecoder()
	first, steady := grpcBlocks()
	if err := d.Decode(first, nil); err != nil {
		t.Fatal(err)
	}
	var sink int
	emit := func(f Field) { sink += len(f.Value) }
	allocs := testing.AllocsPerRun(100, func() {
		if err := d.Decode(steady, emit); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per steady block", allocs)
	}
	// Common gRPC literals are interned rather than copied.
	te := appendStr([]byte{0x00}, "te")
	te = appendStr(te, "trailers")
	allocs = testing.AllocsPerRun(100, func() {
		if err := d.Decode(te, emit); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations for an interned literal", allocs)
	}
}
