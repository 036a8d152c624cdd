package watch

import (
	"net/netip"
	"testing"

	"github.com/hoptap/hoptap/agent/api"
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
