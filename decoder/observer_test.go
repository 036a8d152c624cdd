package decoder_test

import (
	"path/filepath"
	"testing"

	"github.com/hoptap/hoptap/decoder"
)

// callSink keeps what identifies each call: its view and its outcome.
type callSink struct {
	nopSink
	calls map[uint64][]string // by observer
}

func (s *callSink) Call(e *decoder.CallEvent) {
	c := e.Call
	s.calls[e.Conn.Observer] = append(s.calls[e.Conn.Observer],
		e.Conn.Client.String()+" "+c.Method.V+" "+string(c.End))
}

// Each observer's copy of the same packets is a view of its own: two
// observers of one capture decode every call twice, identically.
func TestObserversAreSeparateViews(t *testing.T) {
	pkts, _ := loadPackets(t, filepath.Join("..", "testdata", "golden", "interop.pcapng"))
	one := &callSink{calls: map[uint64][]string{}}
	d := decoder.New(one, decoder.Options{})
	for _, p := range pkts {
		d.Packet(p.lt, p.data, p.ts, p.wireLen)
	}
	d.Flush()
	two := &callSink{calls: map[uint64][]string{}}
	d = decoder.New(two, decoder.Options{})
	for _, p := range pkts {
		d.PacketAt(7, p.lt, p.data, p.ts, p.wireLen)
		d.PacketAt(9, p.lt, p.data, p.ts, p.wireLen)
	}
	d.Flush()
	want := one.calls[0]
	if len(want) == 0 {
		t.Fatal("no calls in the golden capture")
	}
	if len(two.calls) != 2 {
		t.Fatalf("views %v, want observers 7 and 9", len(two.calls))
	}
	for _, obs := range []uint64{7, 9} {
		got := two.calls[obs]
		if len(got) != len(want) {
			t.Fatalf("observer %d: %d calls, want %d", obs, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("observer %d call %d: %q, want %q", obs, i, got[i], want[i])
			}
		}
	}
	if st := d.Stats(); st.Calls != 2*uint64(len(want)) {
		t.Fatalf("stats: %d calls, want %d", st.Calls, 2*len(want))
	}
}
