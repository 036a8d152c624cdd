package decoder_test

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/http2"
	"github.com/hoptap/hoptap/decoder/packet"
	"github.com/hoptap/hoptap/decoder/render"
	"github.com/hoptap/hoptap/decoder/tcp"
)

// controlOnly is the kernel's test (bpf/hoptap.c, seg_kind): a payload
// of at most 8 whole frames, each a PING (stream 0, 8 bytes, no flag but
// ACK) or a WINDOW_UPDATE (4 bytes, no flag), ending with the payload.
func controlOnly(p []byte) bool {
	pos := 0
	for range 8 {
		if len(p)-pos < http2.HeaderLen {
			return false
		}
		h := p[pos : pos+http2.HeaderLen]
		n := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
		stream0 := h[5]&0x7f|h[6]|h[7]|h[8] == 0
		switch h[3] {
		case 6:
			if !stream0 || n != 8 || h[4]&^1 != 0 {
				return false
			}
		case 8:
			if n != 4 || h[4] != 0 {
				return false
			}
		default:
			return false
		}
		pos += http2.HeaderLen + n
		if pos == len(p) {
			return true
		}
	}
	return false
}

// elider plays the kernel's elide_control over a capture: per capture
// point and direction (a socket's egress or ingress), the range of bytes
// left out and not yet told, with elide and tell_elided's rules.
type elider struct {
	pend map[elideKey]*elideRange
	n    int // segments left out
}

type elideKey struct {
	iface    int
	src, dst netip.AddrPort
}

type elideRange struct{ n, end uint32 }

// feed returns whether the segment is left out, and otherwise how many
// bytes before it were.
func (e *elider) feed(s *packet.Segment) (left bool, told int) {
	k := elideKey{s.Iface, s.Src, s.Dst}
	r := e.pend[k]
	if r == nil {
		r = &elideRange{}
		e.pend[k] = r
	}
	payload := len(s.Payload)
	if payload > 0 && payload == s.WireLen && s.Flags&(packet.FlagFIN|packet.FlagSYN|packet.FlagRST) == 0 && controlOnly(s.Payload) {
		switch {
		case r.n > 0 && r.end == s.Seq:
			r.n += uint32(payload)
		case r.n > 0 && int32(s.Seq-r.end) < 0:
			return false, 0 // a retransmission: copied
		default:
			r.n = uint32(payload)
		}
		r.end = s.Seq + uint32(payload)
		e.n++
		return true, 0
	}
	if (payload > 0 || s.Flags&(packet.FlagFIN|packet.FlagRST) != 0) && r.n > 0 {
		if r.end == s.Seq {
			told, r.n = int(r.n), 0
		} else if int32(s.Seq-r.end) > 0 {
			r.n = 0
		}
	}
	return false, told
}

// decodeElided decodes a capture as the live capture does with
// elide_control: control segments left out, the decoder told.
func decodeElided(t *testing.T, path string, mode render.Mode, opts decoder.Options) ([]byte, int) {
	t.Helper()
	var out bytes.Buffer
	p := render.NewPrinter(&out, mode)
	d := decoder.New(p, opts)
	el := &elider{pend: map[elideKey]*elideRange{}}
	var pd packet.Decoder
	var seg packet.Segment
	eachPacket(t, path, func(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) {
		told := 0
		seg = packet.Segment{TS: ci.Timestamp}
		if pd.Decode(lt, data, &seg) == nil {
			seg.Iface = ci.InterfaceIndex
			var left bool
			if left, told = el.feed(&seg); left {
				return
			}
		}
		d.PacketElided(0, lt, data, ci.Timestamp, ci.Length, told)
	})
	d.Flush()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), el.n
}

// TestElidedControlSegments decodes every golden capture as the agent
// and capture --calls see it, with the segments of PING and
// WINDOW_UPDATE frames alone left out: the frames and calls are the full
// output's, in order, less those frames; the connection events are the
// same ones; the calls table is the same. What nothing tells of a
// segment left out differs by nature, and is compared apart: the time a
// connection joined mid-way was first seen (never earlier) and at which
// of its segments it was recognised, and the end of the capture (the
// last segment seen: never later, as are the durations of calls still
// open then).
func TestElidedControlSegments(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "golden", "*.pcap*"))
	if len(files) == 0 {
		t.Fatal("no golden captures")
	}
	noControl := func(ty http2.Type) bool { return ty != http2.TypePing && ty != http2.TypeWindowUpdate }
	total := 0
	for _, f := range files {
		name := filepath.Base(f)
		full := decodeTo(t, f, render.ModeJSON, decoder.Options{ReuseCalls: true})
		opts := decoder.Options{ReuseCalls: true, Frames: noControl, TCP: tcp.Config{Elision: true}}
		elided, n := decodeElided(t, f, render.ModeJSON, opts)
		total += n
		want, wantTimes, wantConns := splitTimes(t, full, true)
		got, gotTimes, gotConns := splitTimes(t, elided, false)
		if len(got) != len(want) {
			t.Errorf("%s: %d frames and calls with %d control segments left out, want %d", name, len(got), n, len(want))
		}
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Errorf("%s: frame or call %d differs with %d control segments left out:\n got: %s\nwant: %s", name, i+1, n, got[i], want[i])
				break
			}
			if g, w := gotTimes[i], wantTimes[i]; g.ts.After(w.ts) || g.dur > w.dur {
				t.Errorf("%s: frame or call %d: at %v for %v ns, want no later than %v, no longer than %v ns", name, i+1, g.ts, g.dur, w.ts, w.dur)
			}
		}
		if !slices.Equal(gotConns, wantConns) {
			t.Errorf("%s: connection events with control segments left out:\n%v\nwant:\n%v", name, gotConns, wantConns)
		}
		calls := decodeTo(t, f, render.ModeCalls, decoder.Options{ReuseCalls: true})
		opts.Frames = func(http2.Type) bool { return false }
		table, _ := decodeElided(t, f, render.ModeCalls, opts)
		if a, b := maskIncomplete(table), maskIncomplete(calls); a != b {
			t.Errorf("%s: the calls table differs with control segments left out:\n%s\nwant:\n%s", name, a, b)
		}
	}
	if total == 0 {
		t.Error("no capture has a segment of PING and WINDOW_UPDATE frames alone: the test shows nothing")
	}
}

// lineTimes are the times of a call still open at the end, taken out of
// its line by splitTimes.
type lineTimes struct {
	ts  time.Time
	dur int64
}

// splitTimes returns the JSON's frame and call lines, less PING and
// WINDOW_UPDATE frames if drop says so, with the times of calls still
// open at the end taken out; and its connection events in order of
// connection, without their times. The open of a connection joined
// mid-way keeps its time, to be compared: never earlier.
func splitTimes(t *testing.T, out []byte, drop bool) (lines []string, times []lineTimes, conns []string) {
	t.Helper()
	for _, line := range bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if m["kind"] == "conn" {
			delete(m, "ts")
			if m["event"] == "h2_detected" {
				delete(m, "role_by") // the role may have been learnt first
			}
			b, _ := json.Marshal(m)
			conns = append(conns, string(b))
			continue
		}
		if drop && m["kind"] == "frame" && (m["type"] == "PING" || m["type"] == "WINDOW_UPDATE") {
			continue
		}
		var lt lineTimes
		if m["kind"] == "call" && m["end"] == "incomplete" {
			lt.ts, _ = time.Parse(time.RFC3339Nano, m["ts"].(string))
			lt.dur = int64(m["duration_ns"].(float64))
			delete(m, "ts")
			delete(m, "duration_ns")
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
		times = append(times, lt)
	}
	// By connection, in order, except that a connection joined mid-way
	// may be recognised before or after its roles are learnt.
	rank := func(e string) int {
		var x struct{ Event string }
		json.Unmarshal([]byte(e), &x)
		switch x.Event {
		case "open":
			return 0
		case "h2_detected":
			return 1
		case "role":
			return 2
		}
		return 3
	}
	slices.SortStableFunc(conns, func(a, b string) int {
		var x, y struct{ Conn int }
		json.Unmarshal([]byte(a), &x)
		json.Unmarshal([]byte(b), &y)
		if x.Conn != y.Conn {
			return x.Conn - y.Conn
		}
		return rank(a) - rank(b)
	})
	return lines, times, conns
}

// maskIncomplete is a calls table's rows, with the duration of calls
// still open at the end blanked (the summary after the rows has their
// durations too).
func maskIncomplete(table []byte) string {
	rows, _, _ := strings.Cut(string(table), "\n\n")
	lines := strings.Split(rows, "\n")
	for i, l := range lines {
		if f := strings.Fields(l); len(f) > 7 && f[len(f)-1] == "incomplete" {
			f[6] = "-"
			lines[i] = strings.Join(f, " ")
		}
	}
	return strings.Join(lines, "\n")
}
