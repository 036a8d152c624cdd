package hpack

import (
	"encoding/hex"
	"strings"
	"testing"

	xhpack "golang.org/x/net/http2/hpack"
)

func dehex(s string) []byte {
	s = strings.Join(strings.Fields(s), "")
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// hf is a known header field, for expectations.
type hf struct{ name, value string }

type rfcStep struct {
	block   string // hex
	fields  []hf
	reps    []string // RepString of each field, nil to skip
	table   []hf     // newest first
	size    uint64
	huffman bool // literals in this step are Huffman-coded
}

// decodeAll decodes block and returns the header fields (size updates
// excluded).
func decodeAll(t testing.TB, d *Decoder, block []byte) ([]Field, error) {
	t.Helper()
	var out []Field
	err := d.Decode(block, func(f Field) {
		if f.Rep != RepSizeUpdate {
			out = append(out, f)
		}
	})
	return out, err
}

func tableOf(d *Decoder) []hf {
	var out []hf
	for k := 0; ; k++ {
		f, ok := d.Entry(k)
		if !ok {
			return out
		}
		if !f.Known() {
			out = append(out, hf{"?", "?"})
			continue
		}
		out = append(out, hf{f.Name, f.Value})
	}
}

func runRFCSeries(t *testing.T, maxSize uint32, steps []rfcStep) {
	t.Helper()
	d := NewDecoder()
	if maxSize != DefaultMaxTableSize {
		// The RFC examples run with SETTINGS_HEADER_TABLE_SIZE = maxSize.
		d.SetMaxTableSizeBound(maxSize)
	}
	for i, st := range steps {
		got, err := decodeAll(t, d, dehex(st.block))
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if len(got) != len(st.fields) {
			t.Fatalf("step %d: got %d fields %v, want %d", i, len(got), got, len(st.fields))
		}
		for j, f := range got {
			if !f.Known() || f.Name != st.fields[j].name || f.Value != st.fields[j].value {
				t.Errorf("step %d field %d: got %v, want %v", i, j, f, st.fields[j])
			}
			if st.reps != nil && f.RepString() != st.reps[j] {
				t.Errorf("step %d field %d: rep %q, want %q", i, j, f.RepString(), st.reps[j])
			}
			if f.Rep != RepIndexed && f.Index == 0 && f.HuffmanName != st.huffman {
				t.Errorf("step %d field %d: HuffmanName %v", i, j, f.HuffmanName)
			}
			if f.Rep != RepIndexed && f.HuffmanValue != st.huffman {
				t.Errorf("step %d field %d: HuffmanValue %v", i, j, f.HuffmanValue)
			}
		}
		tab := tableOf(d)
		if len(tab) != len(st.table) {
			t.Fatalf("step %d: table %v, want %v", i, tab, st.table)
		}
		for j := range tab {
			if tab[j] != st.table[j] {
				t.Errorf("step %d: table entry %d = %v, want %v", i, j, tab[j], st.table[j])
			}
		}
		if d.TableSize() != st.size {
			t.Errorf("step %d: table size %d, want %d", i, d.TableSize(), st.size)
		}
		if !d.Complete() {
			t.Errorf("step %d: not complete", i)
		}
	}
	if s := d.Stats(); s.UnknownFields != 0 || s.Errors != 0 {
		t.Errorf("stats %+v", s)
	}
}

// C.2: single representations on a fresh context.
func TestRFC7541_C2(t *testing.T) {
	tests := []struct {
		name  string
		block string
		want  Field
		table []hf
		size  uint64
	}{
		{"C.2.1", "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
			Field{Name: "custom-key", Value: "custom-header", Rep: RepIncremental},
			[]hf{{"custom-key", "custom-header"}}, 55},
		{"C.2.2", "040c 2f73 616d 706c 652f 7061 7468",
			Field{Name: ":path", Value: "/sample/path", Rep: RepWithoutIndexing, Index: 4}, nil, 0},
		{"C.2.3", "1008 7061 7373 776f 7264 0673 6563 7265 74",
			Field{Name: "password", Value: "secret", Rep: RepNeverIndexed}, nil, 0},
		{"C.2.4", "82",
			Field{Name: ":method", Value: "GET", Rep: RepIndexed, Index: 2}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder()
			got, err := decodeAll(t, d, dehex(tt.block))
			if err != nil {
				t.Fatal(err)
			}
			tt.want.NameKnown, tt.want.ValueKnown = true, true
			if len(got) != 1 || got[0] != tt.want {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
			if tab := tableOf(d); len(tab) != len(tt.table) || (len(tab) == 1 && tab[0] != tt.table[0]) {
				t.Errorf("table %v, want %v", tab, tt.table)
			}
			if d.TableSize() != tt.size {
				t.Errorf("size %d, want %d", d.TableSize(), tt.size)
			}
		})
	}
}

var (
	c3Fields1 = []hf{{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "www.example.com"}}
	c3Fields2 = append(c3Fields1[:4:4], hf{"cache-control", "no-cache"})
	c3Fields3 = []hf{{":method", "GET"}, {":scheme", "https"}, {":path", "/index.html"}, {":authority", "www.example.com"}, {"custom-key", "custom-value"}}
	c3Table1  = []hf{{":authority", "www.example.com"}}
	c3Table2  = []hf{{"cache-control", "no-cache"}, {":authority", "www.example.com"}}
	c3Table3  = []hf{{"custom-key", "custom-value"}, {"cache-control", "no-cache"}, {":authority", "www.example.com"}}
	c3Reps1   = []string{"Indexed Header Field", "Indexed Header Field", "Indexed Header Field",
		"Literal Header Field with Incremental Indexing - Indexed Name"}
	c3Reps3 = []string{"Indexed Header Field", "Indexed Header Field", "Indexed Header Field", "Indexed Header Field",
		"Literal Header Field with Incremental Indexing - New Name"}
)

// C.3: requests without Huffman coding.
func TestRFC7541_C3(t *testing.T) {
	runRFCSeries(t, 4096, []rfcStep{
		{block: "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
			fields: c3Fields1, reps: c3Reps1, table: c3Table1, size: 57},
		{block: "8286 84be 5808 6e6f 2d63 6163 6865",
			fields: c3Fields2, table: c3Table2, size: 110},
		{block: "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
			fields: c3Fields3, reps: c3Reps3, table: c3Table3, size: 164},
	})
}

// C.4: the same requests with Huffman coding.
func TestRFC7541_C4(t *testing.T) {
	runRFCSeries(t, 4096, []rfcStep{
		{block: "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
			fields: c3Fields1, reps: c3Reps1, table: c3Table1, size: 57, huffman: true},
		{block: "8286 84be 5886 a8eb 1064 9cbf",
			fields: c3Fields2, table: c3Table2, size: 110, huffman: true},
		{block: "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
			fields: c3Fields3, reps: c3Reps3, table: c3Table3, size: 164, huffman: true},
	})
}

var (
	c5Fields1 = []hf{{":status", "302"}, {"cache-control", "private"}, {"date", "Mon, 21 Oct 2013 20:13:21 GMT"}, {"location", "https://www.example.com"}}
	c5Table1  = []hf{{"location", "https://www.example.com"}, {"date", "Mon, 21 Oct 2013 20:13:21 GMT"}, {"cache-control", "private"}, {":status", "302"}}
	c5Fields2 = []hf{{":status", "307"}, {"cache-control", "private"}, {"date", "Mon, 21 Oct 2013 20:13:21 GMT"}, {"location", "https://www.example.com"}}
	c5Table2  = []hf{{":status", "307"}, {"location", "https://www.example.com"}, {"date", "Mon, 21 Oct 2013 20:13:21 GMT"}, {"cache-control", "private"}}
	c5Fields3 = []hf{{":status", "200"}, {"cache-control", "private"}, {"date", "Mon, 21 Oct 2013 20:13:22 GMT"}, {"location", "https://www.example.com"},
		{"content-encoding", "gzip"}, {"set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"}}
	c5Table3 = []hf{{"set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"}, {"content-encoding", "gzip"}, {"date", "Mon, 21 Oct 2013 20:13:22 GMT"}}
)

// C.5: responses without Huffman coding, table size 256, with evictions.
func TestRFC7541_C5(t *testing.T) {
	runRFCSeries(t, 256, []rfcStep{
		{block: `4803 3330 3258 0770 7269 7661 7465 611d
			4d6f 6e2c 2032 3120 4f63 7420 3230 3133
			2032 303a 3133 3a32 3120 474d 546e 1768
			7474 7073 3a2f 2f77 7777 2e65 7861 6d70
			6c65 2e63 6f6d`,
			fields: c5Fields1, table: c5Table1, size: 222},
		{block: "4803 3330 37c1 c0bf",
			fields: c5Fields2, table: c5Table2, size: 222},
		{block: `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420
			3230 3133 2032 303a 3133 3a32 3220 474d
			54c0 5a04 677a 6970 7738 666f 6f3d 4153
			444a 4b48 514b 425a 584f 5157 454f 5049
			5541 5851 5745 4f49 553b 206d 6178 2d61
			6765 3d33 3630 303b 2076 6572 7369 6f6e
			3d31`,
			fields: c5Fields3, table: c5Table3, size: 215},
	})
}

// C.6: the same responses with Huffman coding.
func TestRFC7541_C6(t *testing.T) {
	runRFCSeries(t, 256, []rfcStep{
		{block: `4882 6402 5885 aec3 771a 4b61 96d0 7abe
			9410 54d4 44a8 2005 9504 0b81 66e0 82a6
			2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8
			e9ae 82ae 43d3`,
			fields: c5Fields1, table: c5Table1, size: 222, huffman: true},
		{block: "4883 640e ffc1 c0bf",
			fields: c5Fields2, table: c5Table2, size: 222, huffman: true},
		{block: `88c1 6196 d07a be94 1054 d444 a820 0595
			040b 8166 e084 a62d 1bff c05a 839b d9ab
			77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b
			3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
			9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
			fields: c5Fields3, table: c5Table3, size: 215, huffman: true},
	})
}

// The C.5 sequence seen from its second block on: the decoder must not
// guess the entries of the first block, and must learn the rest.
func TestRFC7541_C5_MidStream(t *testing.T) {
	d := NewDecoder()
	d.Reset(false)
	got, err := decodeAll(t, d, dehex("4803 3330 37c1 c0bf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || !got[0].Known() || got[0].Name != ":status" || got[0].Value != "307" {
		t.Fatalf("got %v", got)
	}
	for _, f := range got[1:] {
		if f.NameKnown || f.ValueKnown {
			t.Errorf("field %v should be unknown", f)
		}
	}
	if d.Complete() {
		t.Error("complete without a size bound")
	}
	// Third block: c1 is :status 307 (learned, index 62 before the block's
	// own insertions).
	got, err = decodeAll(t, d, dehex(`88c1 611d 4d6f 6e2c 2032 3120 4f63 7420
		3230 3133 2032 303a 3133 3a32 3220 474d
		54c0 5a04 677a 6970 7738 666f 6f3d 4153
		444a 4b48 514b 425a 584f 5157 454f 5049
		5541 5851 5745 4f49 553b 206d 6178 2d61
		6765 3d33 3630 303b 2076 6572 7369 6f6e
		3d31`))
	if err != nil {
		t.Fatal(err)
	}
	// c1 at the start refers to cache-control: private, which the encoder
	// inserted before we watched (index 63 after 307 was inserted).
	want := []string{":status: 200", "?: ?", "date: Mon, 21 Oct 2013 20:13:22 GMT", "?: ?", "content-encoding: gzip",
		"set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range got {
		if got[i].String() != want[i] {
			t.Errorf("field %d = %q, want %q", i, got[i].String(), want[i])
		}
	}
}

// The static table must match x/net's, entry for entry.
func TestStaticTable(t *testing.T) {
	xd := xhpack.NewDecoder(4096, nil)
	for i := 1; i <= StaticTableLen; i++ {
		fs, err := xd.DecodeFull([]byte{0x80 | byte(i)})
		if err != nil || len(fs) != 1 {
			t.Fatalf("x/net index %d: %v %v", i, fs, err)
		}
		e := staticTable[i-1]
		if e.name != fs[0].Name || e.value != fs[0].Value {
			t.Errorf("index %d: %q: %q, x/net %q: %q", i, e.name, e.value, fs[0].Name, fs[0].Value)
		}
	}
}

func TestRepString(t *testing.T) {
	tests := []struct {
		f    Field
		want string
	}{
		{Field{Rep: RepIndexed, Index: 2}, "Indexed Header Field"},
		{Field{Rep: RepIncremental, Index: 1}, "Literal Header Field with Incremental Indexing - Indexed Name"},
		{Field{Rep: RepIncremental}, "Literal Header Field with Incremental Indexing - New Name"},
		{Field{Rep: RepWithoutIndexing, Index: 4}, "Literal Header Field without Indexing - Indexed Name"},
		{Field{Rep: RepWithoutIndexing}, "Literal Header Field without Indexing - New Name"},
		{Field{Rep: RepNeverIndexed, Index: 4}, "Literal Header Field never Indexed - Indexed Name"},
		{Field{Rep: RepNeverIndexed}, "Literal Header Field never Indexed - New Name"},
		{Field{Rep: RepSizeUpdate, Index: 100}, "Maximum Header Table Size Change"},
		{Field{Rep: 9}, "Rep(9)"},
	}
	for _, tt := range tests {
		if got := tt.f.RepString(); got != tt.want {
			t.Errorf("%#v: %q, want %q", tt.f, got, tt.want)
		}
	}
}
