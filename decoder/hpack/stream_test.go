package hpack

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	xhpack "golang.org/x/net/http2/hpack"
)

// gen makes gRPC-like header lists: mostly repeated fields, some fresh
// values (timeouts, request ids), sensitive fields and the odd large value.
type gen struct {
	r *rand.Rand
}

func newGen(seed uint64) *gen { return &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

func (g *gen) pick(s ...string) string { return s[g.r.IntN(len(s))] }

func (g *gen) list() []xhpack.HeaderField {
	r := g.r
	var l []xhpack.HeaderField
	add := func(n, v string) { l = append(l, xhpack.HeaderField{Name: n, Value: v}) }
	if r.IntN(4) == 0 { // response
		add(":status", g.pick("200", "200", "200", "503", "404"))
		add("content-type", "application/grpc")
		if r.IntN(2) == 0 {
			add("grpc-status", g.pick("0", "0", "14", "4"))
			add("grpc-message", g.pick("", "deadline exceeded", fmt.Sprintf("upstream error %d", r.IntN(1000))))
		}
	} else {
		add(":method", "POST")
		add(":scheme", g.pick("http", "https"))
		add(":path", fmt.Sprintf("/pkg.Svc%d/Method%d", r.IntN(3), r.IntN(8)))
		add(":authority", g.pick("backend:50051", "10.0.0.7:8443", "api.example.com"))
		add("content-type", g.pick("application/grpc", "application/grpc+proto"))
		add("user-agent", g.pick("grpc-go/1.70.0", "grpc-python/1.62.1 grpc-c/39.0.0 (linux; chttp2)"))
		add("te", "trailers")
		if r.IntN(3) > 0 {
			add("grpc-timeout", fmt.Sprintf("%dm", r.IntN(100000)))
		}
	}
	for range r.IntN(4) {
		add(fmt.Sprintf("x-md-%d", r.IntN(12)), g.pick("a", "b", "tenant-42", fmt.Sprintf("req-%x", r.Uint32())))
	}
	if r.IntN(5) == 0 {
		l = append(l, xhpack.HeaderField{Name: "authorization", Value: fmt.Sprintf("Bearer %x", r.Uint64()), Sensitive: true})
	}
	if r.IntN(12) == 0 {
		add("x-blob-bin", strings.Repeat(g.pick("A", "xy", "0123456789"), 100+r.IntN(700)))
	}
	if r.IntN(50) == 0 {
		add("x-empty", "")
	}
	return l
}

// stream is a sequence of header blocks with the lists they encode.
type stream struct {
	blocks [][]byte
	truth  [][]xhpack.HeaderField
}

// encodeStream encodes n lists. resize, if not nil, is called before each
// list to change the encoder's table size.
func encodeStream(seed uint64, n int, resize func(i int, e *xhpack.Encoder)) stream {
	g := newGen(seed)
	var buf bytes.Buffer
	enc := xhpack.NewEncoder(&buf)
	var s stream
	for i := range n {
		if resize != nil {
			resize(i, enc)
		}
		l := g.list()
		for _, f := range l {
			if err := enc.WriteField(f); err != nil {
				panic(err)
			}
		}
		s.blocks = append(s.blocks, bytes.Clone(buf.Bytes()))
		s.truth = append(s.truth, l)
		buf.Reset()
	}
	return s
}

// tally counts fields by what the decoder knew about them.
type tally struct {
	known, partlyKnown, unknown, wrong int
	learnedRefs                        int // known fields referring to the dynamic table
}

// check compares decoded fields with the truth. Every known part must be
// exactly right; unknown parts are allowed only when allowUnknown.
func (tl *tally) check(t *testing.T, where string, got []Field, truth []xhpack.HeaderField, allowUnknown bool) {
	t.Helper()
	if len(got) != len(truth) {
		t.Fatalf("%s: got %d fields, want %d", where, len(got), len(truth))
	}
	for i, f := range got {
		w := truth[i]
		if (f.NameKnown && f.Name != w.Name) || (f.ValueKnown && f.Value != w.Value) {
			tl.wrong++
			t.Errorf("%s field %d: WRONG: got %v, truth %s: %s", where, i, f, w.Name, w.Value)
		}
		if w.Sensitive != (f.Rep == RepNeverIndexed) {
			t.Errorf("%s field %d: rep %v for sensitive=%v", where, i, f.Rep, w.Sensitive)
		}
		switch {
		case f.Known():
			tl.known++
			if f.Rep == RepIndexed && f.Index > StaticTableLen {
				tl.learnedRefs++
			}
		case f.NameKnown || f.ValueKnown:
			tl.partlyKnown++
		default:
			tl.unknown++
		}
		if !f.Known() && !allowUnknown {
			t.Errorf("%s field %d: unknown %v (truth %s: %s) in complete state", where, i, f, w.Name, w.Value)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	sizes := []uint32{0, 64, 256, 1024, 4096, 8192, 16384}
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 1))
			s := encodeStream(seed, 300, func(i int, e *xhpack.Encoder) {
				if seed%2 == 1 && i == 0 {
					e.SetMaxDynamicTableSizeLimit(16384)
				}
				if r.IntN(15) == 0 {
					e.SetMaxDynamicTableSize(sizes[r.IntN(len(sizes))])
				}
				if r.IntN(40) == 0 { // two updates in one block: min, then final
					e.SetMaxDynamicTableSize(0)
					e.SetMaxDynamicTableSize(sizes[r.IntN(len(sizes))])
				}
			})
			d := NewDecoder()
			var tl tally
			for i, b := range s.blocks {
				got, err := decodeAll(t, d, b)
				if err != nil {
					t.Fatalf("block %d: %v", i, err)
				}
				tl.check(t, fmt.Sprintf("block %d", i), got, s.truth[i], false)
				if !d.Complete() {
					t.Fatalf("block %d: not complete", i)
				}
			}
			st := d.Stats()
			if st.UnknownFields != 0 || st.Errors != 0 || st.Fields != uint64(tl.known) {
				t.Errorf("stats %+v", st)
			}
			if tl.learnedRefs == 0 {
				t.Error("no dynamic table references exercised")
			}
		})
	}
}

// feed decodes s.blocks[from:to] with d and checks them against the truth.
// It returns the first block after which the decoder was Complete, or -1,
// and likewise for Whole.
func feed(t *testing.T, d *Decoder, s stream, from, to int, tl *tally) (completeAt, wholeAt int) {
	t.Helper()
	completeAt, wholeAt = -1, -1
	for i := from; i < to; i++ {
		wasComplete, wasWhole := d.Complete(), d.Whole()
		got, err := decodeAll(t, d, s.blocks[i])
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		tl.check(t, fmt.Sprintf("block %d", i), got, s.truth[i], !wasComplete)
		if wasWhole {
			// Only names copied from unknown entries can be unknown now.
			for j, f := range got {
				if !f.ValueKnown {
					t.Errorf("block %d field %d: unknown value with the whole table", i, j)
				}
			}
		}
		if d.Complete() && completeAt < 0 {
			completeAt = i
		}
		if d.Whole() && wholeAt < 0 {
			wholeAt = i
		}
		if wasComplete && !d.Complete() {
			t.Fatalf("block %d: lost completeness without an error", i)
		}
	}
	return completeAt, wholeAt
}

// Capture starting mid-connection, with no knowledge of the table size: the
// decoder must stay partial (it cannot rule out old entries) yet decode
// every entry it saw inserted.
func TestMidStreamNoBound(t *testing.T) {
	for seed := range uint64(6) {
		s := encodeStream(100+seed, 300, nil)
		for _, k := range []int{1, 5, 40} {
			d := NewDecoder()
			d.Reset(false)
			var tl tally
			if _, at := feed(t, d, s, k, len(s.blocks), &tl); at >= 0 {
				t.Errorf("seed %d k %d: whole at block %d without any bound", seed, k, at)
			}
			if tl.wrong != 0 {
				t.Fatalf("seed %d k %d: %d wrong values", seed, k, tl.wrong)
			}
			if tl.unknown+tl.partlyKnown == 0 {
				t.Errorf("seed %d k %d: no unknown fields at all: %+v", seed, k, tl)
			}
			if tl.learnedRefs == 0 {
				t.Errorf("seed %d k %d: no learned entry referenced: %+v", seed, k, tl)
			}
			st := d.Stats()
			if st.UnknownFields != uint64(tl.unknown+tl.partlyKnown) {
				t.Errorf("stats %+v vs %+v", st, tl)
			}
		}
	}
}

// A dynamic table size update tells the decoder the exact maximum size;
// once enough new entries are inserted, nothing old can remain (Whole).
// Entries whose name was copied from an unknown entry stay unknown until
// evicted; after that the decoder is Complete and decodes everything.
func TestMidStreamSizeUpdate(t *testing.T) {
	completed := 0
	for seed := range uint64(6) {
		const k, resizeAt = 20, 60
		s := encodeStream(200+seed, 1000, func(i int, e *xhpack.Encoder) {
			if i == resizeAt {
				e.SetMaxDynamicTableSize(2048)
			}
		})
		d := NewDecoder()
		d.Reset(false)
		var tl tally
		completeAt, wholeAt := feed(t, d, s, k, len(s.blocks), &tl)
		if tl.wrong != 0 {
			t.Fatalf("seed %d: %d wrong values", seed, tl.wrong)
		}
		if wholeAt < resizeAt || wholeAt > resizeAt+100 {
			t.Errorf("seed %d: whole at block %d, want soon after %d", seed, wholeAt, resizeAt)
		}
		if completeAt >= 0 && completeAt < wholeAt {
			t.Errorf("seed %d: complete at block %d, whole at %d", seed, completeAt, wholeAt)
		}
		if lim, ok := d.MaxTableSize(); !ok || lim != 2048 {
			t.Errorf("max table size %d %v", lim, ok)
		}
		if completeAt >= 0 {
			completed++
		}
		t.Logf("seed %d: whole at %d, complete at %d; %+v", seed, wholeAt, completeAt, tl)
	}
	// Name chains through unknown entries can last, but not usually.
	if completed < 4 {
		t.Errorf("only %d of 6 streams became complete", completed)
	}
}

// A size update to 0 empties the table: complete at once.
func TestMidStreamSizeUpdateZero(t *testing.T) {
	s := encodeStream(7, 100, func(i int, e *xhpack.Encoder) {
		if i == 50 {
			e.SetMaxDynamicTableSize(0)
			e.SetMaxDynamicTableSize(4096)
		}
	})
	d := NewDecoder()
	d.Reset(false)
	var tl tally
	if at, _ := feed(t, d, s, 10, len(s.blocks), &tl); at != 50 {
		t.Errorf("complete at %d, want 50", at)
	}
	if tl.wrong != 0 {
		t.Fatal("wrong values")
	}
}

// With a bound from SETTINGS_HEADER_TABLE_SIZE (here the default 4096) the
// decoder regains the whole table once its learned entries fill it.
func TestMidStreamBound(t *testing.T) {
	completed := 0
	for seed := range uint64(6) {
		s := encodeStream(300+seed, 1000, nil)
		d := NewDecoder()
		d.Reset(false)
		d.SetMaxTableSizeBound(4096)
		var tl tally
		completeAt, wholeAt := feed(t, d, s, 30, len(s.blocks), &tl)
		if tl.wrong != 0 {
			t.Fatalf("seed %d: %d wrong values", seed, tl.wrong)
		}
		if wholeAt < 0 || wholeAt > 200 {
			t.Errorf("seed %d: whole at %d", seed, wholeAt)
		}
		if completeAt >= 0 {
			completed++
			if completeAt < wholeAt {
				t.Errorf("seed %d: complete at block %d, whole at %d", seed, completeAt, wholeAt)
			}
		}
		t.Logf("seed %d: whole at %d, complete at %d; %+v", seed, wholeAt, completeAt, tl)
	}
	if completed < 4 {
		t.Errorf("only %d of 6 streams became complete", completed)
	}
}

// A gap (lost blocks) followed by Reset(false): no wrong values, and the
// decoder recovers.
func TestGap(t *testing.T) {
	for seed := range uint64(6) {
		const resizeAt = 250
		s := encodeStream(400+seed, 1000, func(i int, e *xhpack.Encoder) {
			if i == resizeAt {
				e.SetMaxDynamicTableSize(1024)
			}
		})
		for _, bound := range []bool{false, true} {
			d := NewDecoder()
			var tl tally
			feed(t, d, s, 0, 100, &tl)
			if tl.unknown+tl.partlyKnown != 0 {
				t.Fatalf("unknown fields before the gap")
			}
			d.Reset(false) // blocks 100..109 lost
			if bound {
				d.SetMaxTableSizeBound(4096)
			}
			completeAt, wholeAt := feed(t, d, s, 110, len(s.blocks), &tl)
			if tl.wrong != 0 {
				t.Fatalf("seed %d: %d wrong values", seed, tl.wrong)
			}
			if tl.unknown+tl.partlyKnown == 0 {
				t.Errorf("seed %d: gap caused no unknown fields", seed)
			}
			if !bound && (wholeAt < resizeAt || wholeAt > resizeAt+100) {
				t.Errorf("seed %d: whole at %d, want soon after the size update at %d", seed, wholeAt, resizeAt)
			}
			if bound && (wholeAt < 0 || wholeAt >= resizeAt) {
				t.Errorf("seed %d: whole at %d with bound", seed, wholeAt)
			}
			if completeAt >= 0 && completeAt < wholeAt {
				t.Errorf("seed %d: complete at block %d, whole at %d", seed, completeAt, wholeAt)
			}
			t.Logf("seed %d bound %v: whole at %d, complete at %d; %+v", seed, bound, wholeAt, completeAt, tl)
		}
	}
}

// The checker must be able to fail: skipping blocks WITHOUT Reset makes the
// decoder's table wrong, and that must show up as wrong values or errors.
// (This is the caller's bug the Reset contract exists to prevent.)
func TestGapWithoutResetIsDetectedByChecker(t *testing.T) {
	s := encodeStream(500, 200, nil)
	d := NewDecoder()
	for i := range 50 {
		if _, err := decodeAll(t, d, s.blocks[i]); err != nil {
			t.Fatal(err)
		}
	}
	wrong, errs := 0, 0
	for i := 60; i < len(s.blocks); i++ {
		got, err := decodeAll(t, d, s.blocks[i])
		if err != nil {
			errs++
			continue
		}
		for j, f := range got {
			if f.NameKnown && f.ValueKnown && (f.Name != s.truth[i][j].Name || f.Value != s.truth[i][j].Value) {
				wrong++
			}
		}
	}
	if wrong+errs == 0 {
		t.Fatal("missing blocks went unnoticed: the stream tests would prove nothing")
	}
}

// A literal whose name refers to an entry older than the capture gives an
// entry with an unknown name and a known value.
func TestUnknownNameEntry(t *testing.T) {
	var buf bytes.Buffer
	enc := xhpack.NewEncoder(&buf)
	block := func(fs ...xhpack.HeaderField) []byte {
		buf.Reset()
		for _, f := range fs {
			enc.WriteField(f)
		}
		return bytes.Clone(buf.Bytes())
	}
	a := xhpack.HeaderField{Name: "x-custom", Value: "a"}
	b := xhpack.HeaderField{Name: "x-custom", Value: "b"}
	block(a)          // not seen
	b2 := block(b)    // literal, name index 62
	b3 := block(b, a) // 62, 63
	b4 := block(a, b) // 63, 62
	d := NewDecoder()
	d.Reset(false)

	got, err := decodeAll(t, d, b2)
	if err != nil {
		t.Fatal(err)
	}
	want := Field{Value: "b", ValueKnown: true, Rep: RepIncremental, Index: 62}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	if d.TableSize() != 1+32 {
		t.Errorf("table size lower bound %d, want 33", d.TableSize())
	}
	for _, blk := range [][]byte{b3, b4} {
		got, err = decodeAll(t, d, blk)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, f := range got {
			s = append(s, f.String())
		}
		if j := strings.Join(s, ", "); j != "?: b, ?: ?" && j != "?: ?, ?: b" {
			t.Errorf("got %s", j)
		}
	}
}

// In the complete state a table larger than MaxRetainedBytes cannot be
// kept whole: the decoder drops the oldest entries and goes partial, with
// no wrong values, and recovers when the table shrinks again.
func TestHugeTable(t *testing.T) {
	s := encodeStream(600, 1000, func(i int, e *xhpack.Encoder) {
		switch i {
		case 0:
			e.SetMaxDynamicTableSizeLimit(1 << 20)
			e.SetMaxDynamicTableSize(1 << 20)
		case 800:
			e.SetMaxDynamicTableSize(4096)
		}
	})
	d := NewDecoder()
	var tl tally
	wentPartial := false
	for i := range s.blocks {
		wasComplete, wasWhole := d.Complete(), d.Whole()
		got, err := decodeAll(t, d, s.blocks[i])
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		tl.check(t, fmt.Sprintf("block %d", i), got, s.truth[i], !wasComplete)
		if wasWhole {
			// Only names copied from unknown entries can be unknown now.
			for j, f := range got {
				if !f.ValueKnown {
					t.Errorf("block %d field %d: unknown value with the whole table", i, j)
				}
			}
		}
		if !d.Complete() {
			wentPartial = true
			if i >= 800 {
				t.Fatalf("block %d: partial after the table shrank", i)
			}
		}
		if d.TableSize() > MaxRetainedBytes || d.TableLen() > MaxRetainedEntries {
			t.Fatalf("block %d: table %d bytes, %d entries", i, d.TableSize(), d.TableLen())
		}
	}
	if !wentPartial || d.Stats().Dropped == 0 {
		t.Errorf("never dropped entries: %+v", d.Stats())
	}
	if tl.wrong != 0 {
		t.Fatal("wrong values")
	}
	t.Logf("%+v %+v", tl, d.Stats())
}

// TestRecall decodes gRPC-like streams, where the same few lists come
// again and again, once plainly and once recalling what it can: the
// fields, the table and the stats must be the same block by block. The
// streams hold the case Recall must refuse: the same bytes after the
// table changed, which then mean other fields (a trailer of index 62 is
// "grpc-status: 0" before a new status went in, "grpc-status: 14" after).
func TestRecall(t *testing.T) {
	var hits, refused int
	for seed := range uint64(8) {
		r := rand.New(rand.NewPCG(seed, 7))
		g := newGen(seed)
		request := func(path string) []xhpack.HeaderField {
			return []xhpack.HeaderField{{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"}, {Name: ":path", Value: path},
				{Name: ":authority", Value: "backend:50051"}, {Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"}}
		}
		lists := func() []xhpack.HeaderField {
			switch n := r.IntN(10); {
			case n < 3:
				return request(g.pick("/pkg.Svc/A", "/pkg.Svc/B"))
			case n < 5:
				return []xhpack.HeaderField{{Name: ":status", Value: "200"}, {Name: "content-type", Value: "application/grpc"}}
			case n < 8:
				return []xhpack.HeaderField{{Name: "grpc-status", Value: g.pick("0", "0", "0", "14", "4")}, {Name: "grpc-message", Value: ""}}
			case n < 9:
				l := request("/pkg.Svc/A")
				return append(l, xhpack.HeaderField{Name: "grpc-timeout", Value: fmt.Sprintf("%dm", r.IntN(50))})
			default:
				return g.list()
			}
		}
		var buf bytes.Buffer
		enc := xhpack.NewEncoder(&buf)
		if seed%2 == 1 {
			enc.SetMaxDynamicTableSize(256) // evictions too
		}
		plain, rec := NewDecoder(), NewDecoder()
		for i := range 2000 {
			buf.Reset()
			for _, f := range lists() {
				if err := enc.WriteField(f); err != nil {
					t.Fatal(err)
				}
			}
			block := buf.Bytes()
			var want []Field
			if err := plain.Decode(block, func(f Field) { want = append(want, f) }); err != nil {
				t.Fatalf("seed %d block %d: %v", seed, i, err)
			}
			for _, r := range rec.recall {
				if r.ready && r.gen != rec.tab.gen && bytes.Equal(r.block[:r.n], block) {
					refused++ // the same bytes, meaning other fields now
				}
			}
			got, ok := rec.Recall(block)
			switch {
			case ok:
				hits++
			default:
				got = nil
				if err := rec.Decode(block, func(f Field) { got = append(got, f) }); err != nil {
					t.Fatalf("seed %d block %d: %v", seed, i, err)
				}
				rec.Remember(got)
			}
			if len(got) != len(want) {
				t.Fatalf("seed %d block %d (recalled %v): %d fields, want %d", seed, i, ok, len(got), len(want))
			}
			for j := range want {
				if got[j] != want[j] {
					t.Fatalf("seed %d block %d (recalled %v) field %d: %+v, want %+v", seed, i, ok, j, got[j], want[j])
				}
			}
		}
		if plain.Stats() != rec.Stats() {
			t.Errorf("seed %d: stats %+v, want %+v", seed, rec.Stats(), plain.Stats())
		}
		if fmt.Sprint(tableOf(plain)) != fmt.Sprint(tableOf(rec)) {
			t.Errorf("seed %d: tables differ", seed)
		}
	}
	if hits < 2000 || refused < 20 {
		t.Errorf("%d blocks recalled and %d same bytes refused after a table change: the streams do not test Recall", hits, refused)
	}
	t.Logf("%d of 16000 blocks recalled; %d with the same bytes refused after the table changed", hits, refused)
}

// Blocks that change the table, or hold what the decoder does not know,
// are decoded every time: recalling them would skip their insertions and
// size updates, or fix an unknown field for good.
func TestRecallRefuses(t *testing.T) {
	literal := appendStr(appendStr([]byte{0x40}, "x-id"), "7") // incremental indexing, new name
	for _, c := range []struct {
		name    string
		partial bool
		block   []byte
	}{
		{"literal with incremental indexing", false, literal},
		{"size update", false, []byte{0x3f, 0xe1, 0x1f, 0x82}}, // 4096, then :method GET
		{"unknown entry", true, []byte{0xbe}},                  // index 62 of a table never seen
		{"longer than remembered", false, bytes.Repeat([]byte{0x82}, recallBlock+1)},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, plain := NewDecoder(), NewDecoder()
			if c.partial {
				d.Reset(false)
				plain.Reset(false)
			}
			for i := range 3 {
				if _, ok := d.Recall(c.block); ok {
					t.Fatalf("round %d: recalled", i)
				}
				var got []Field
				if err := d.Decode(c.block, func(f Field) { got = append(got, f) }); err != nil {
					t.Fatal(err)
				}
				d.Remember(got)
				plain.Decode(c.block, nil)
			}
			if d.TableLen() != plain.TableLen() || d.Stats() != plain.Stats() {
				t.Errorf("table of %d and stats %+v, want %d and %+v", d.TableLen(), d.Stats(), plain.TableLen(), plain.Stats())
			}
		})
	}
	// The same bytes of indexed fields alone are recalled while the table
	// stays, and not once an entry went in.
	d := NewDecoder()
	d.Decode(literal, nil) // x-id: 7 is index 62
	block := []byte{0x82, 0xbe}
	var got []Field
	d.Decode(block, func(f Field) { got = append(got, f) })
	d.Remember(got)
	if f, ok := d.Recall(block); !ok || len(f) != 2 || f[1].Name != "x-id" || f[1].Value != "7" {
		t.Fatalf("not recalled as decoded: %v %v", f, ok)
	}
	d.Decode(appendStr(appendStr([]byte{0x40}, "x-id"), "8"), nil) // now index 62
	if _, ok := d.Recall(block); ok {
		t.Fatal("recalled after the table changed")
	}
}
