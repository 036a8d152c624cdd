package watch

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/hoptap/hoptap/agent/api"
	"github.com/hoptap/hoptap/agent/capture"
	"github.com/hoptap/hoptap/bpf"
)

func TestLinesSplitIntoEvents(t *testing.T) {
	w, err := newWatcher(&api.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	l := &lines{w: w}
	l.Write([]byte(`{"a":1}` + "\n" + `{"b":`))
	l.Write([]byte(`2}` + "\n"))
	var got []string
	for len(w.ch) > 0 {
		got = append(got, (<-w.ch).GetJson())
	}
	if len(got) != 2 || got[0] != `{"a":1}` || got[1] != `{"b":2}` {
		t.Fatalf("events %q", got)
	}
}

// A watcher that does not read loses events, counted; nobody waits.
func TestSlowWatcherLoses(t *testing.T) {
	w, _ := newWatcher(&api.WatchRequest{})
	for range queueLen + 10 {
		w.push(&api.WatchEvent{})
	}
	if got := w.lost.Load(); got != 10 {
		t.Fatalf("lost %d, want 10", got)
	}
}

func TestPacketFilters(t *testing.T) {
	w, err := newWatcher(&api.WatchRequest{Ports: []uint32{50051}, Hosts: []string{"198.18.0.0/15"}})
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort
	for _, c := range []struct {
		src, dst string
		want     bool
	}{
		{"198.18.0.3:40000", "198.18.0.2:50051", true},
		{"198.18.0.2:50051", "198.18.0.3:40000", true},
		{"198.18.0.3:40000", "198.18.0.2:8080", false},
		{"10.0.0.1:40000", "10.0.0.2:50051", false},
	} {
		if got := w.wants(ap(c.src), ap(c.dst)); got != c.want {
			t.Errorf("%s → %s: %v, want %v", c.src, c.dst, got, c.want)
		}
	}
	if _, err := newWatcher(&api.WatchRequest{Ports: []uint32{70000}}); err == nil {
		t.Error("port 70000 accepted")
	}
	if _, err := newWatcher(&api.WatchRequest{Hosts: []string{"nope"}}); err == nil {
		t.Error("host nope accepted")
	}
	if _, err := newWatcher(&api.WatchRequest{Format: "xml"}); err == nil {
		t.Error("format xml accepted")
	}
}

func TestMaxWatchers(t *testing.T) {
	s := New()
	for range MaxWatchers {
		w, _ := newWatcher(&api.WatchRequest{})
		if err := s.add(w); err != nil {
			t.Fatal(err)
		}
	}
	w, _ := newWatcher(&api.WatchRequest{})
	if err := s.add(w); err != errBusy {
		t.Fatalf("watcher %d: %v", MaxWatchers+1, err)
	}
	s.remove(s.list()[0])
	if err := s.add(w); err != nil {
		t.Fatal(err)
	}
}

// A watcher of packets gets none stamped before it came: the kernel may
// have left segments out until then (elision), and the file would show
// holes between those packets and the next.
func TestPacketsFromTheWatchersStart(t *testing.T) {
	s := New()
	t0 := time.Unix(1000, 0)
	now := t0
	s.Clock(func() time.Time { return now })
	var told []bool
	s.FramesWanted(func(on bool) { told = append(told, on) })
	w, _ := newWatcher(&api.WatchRequest{Packets: true})
	now = t0.Add(time.Second)
	if err := s.add(w); err != nil {
		t.Fatal(err)
	}
	if len(told) != 2 || !told[1] {
		t.Fatalf("frames wanted told %v, want [false true]", told)
	}
	src, dst := netip.MustParseAddrPort("198.18.0.3:40000"), netip.MustParseAddrPort("198.18.0.2:50051")
	for _, ts := range []time.Time{t0.Add(500 * time.Millisecond), t0.Add(time.Second), t0.Add(2 * time.Second)} {
		s.Packet(&bpf.Event{Kind: bpf.KindPacket, TS: ts, Data: []byte{0x45}}, src, dst, &capture.Comment{})
	}
	var got []int64
	for len(w.ch) > 0 {
		got = append(got, (<-w.ch).GetPacket().GetTsUnixNano())
	}
	if want := []int64{t0.Add(time.Second).UnixNano(), t0.Add(2 * time.Second).UnixNano()}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("packets at %v, want %v", got, want)
	}
}

// Those told of watchers hear of the first coming and the last going,
// once each: any watcher, of frames (or packets), of packets.
func TestWatchedEdges(t *testing.T) {
	s := New()
	var anyone, frames, packets []bool
	s.Watched(func(on bool) { anyone = append(anyone, on) })
	s.FramesWanted(func(on bool) { frames = append(frames, on) })
	s.PacketsWanted(func(on bool) { packets = append(packets, on) })
	calls, _ := newWatcher(&api.WatchRequest{})
	pkts, _ := newWatcher(&api.WatchRequest{Packets: true})
	for _, w := range []*watcher{calls, pkts} {
		if err := s.add(w); err != nil {
			t.Fatal(err)
		}
	}
	s.remove(calls)
	s.remove(pkts)
	for _, c := range []struct {
		name      string
		got, want []bool
	}{
		{"anyone", anyone, []bool{false, true, false}},
		{"frames", frames, []bool{false, true, false}},
		{"packets", packets, []bool{false, true, false}},
	} {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s told %v, want %v", c.name, c.got, c.want)
		}
	}
}
