package grpc

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// refMessages is the plainest reading of gRPC framing: the messages that
// lie whole in b, up to the first prefix with reserved flag bits set.
func refMessages(b []byte) (ms []Message, lost bool) {
	for len(b) >= 5 {
		if b[0]&^1 != 0 {
			return ms, true
		}
		n := binary.BigEndian.Uint32(b[1:])
		if uint64(len(b)-5) < uint64(n) {
			break
		}
		body := b[5 : 5+n]
		ms = append(ms, Message{Compressed: b[0] == 1, Length: n, Body: body[:min(len(body), MessageBodyLimit)]})
		b = b[5+n:]
	}
	return ms, false
}

// FuzzFramer cuts any bytes into DATA chunks at random and checks the
// framer against refMessages: the same messages, bodies and loss, however
// the bytes were cut.
func FuzzFramer(f *testing.F) {
	f.Add(byte(0), wire(msg{false, []byte("hello")}, msg{true, nil}, msg{false, []byte("x")}))
	f.Add(byte(1), wire(msg{false, nil}, msg{false, nil}))
	f.Add(byte(2), append(wire(msg{false, []byte("ok")}), 0x80, 0, 0, 0, 1, 'x'))
	f.Add(byte(3), []byte{0, 0, 0, 0, 200, 1, 2, 3})
	f.Fuzz(func(t *testing.T, seed byte, data []byte) {
		want, wantLost := refMessages(data)
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		var chunks [][]byte
		for rest := data; len(rest) > 0; {
			n := min(len(rest), rng.IntN(12)) // empty chunks too
			chunks, rest = append(chunks, rest[:n]), rest[n:]
		}
		for _, keep := range []bool{false, true} {
			got, fr := frameAll(keep, chunks...)
			if len(got) != len(want) || fr.lost != wantLost {
				t.Fatalf("keep=%v: %d messages lost=%v, want %d lost=%v", keep, len(got), fr.lost, len(want), wantLost)
			}
			for i, g := range got {
				w := want[i]
				if g.Compressed != w.Compressed || g.Length != w.Length {
					t.Fatalf("message %d: %+v, want %+v", i, g, w)
				}
				if keep && !bytes.Equal(g.Body, w.Body) || !keep && g.Body != nil {
					t.Fatalf("message %d body %q, want %q (keep %v)", i, g.Body, w.Body, keep)
				}
			}
		}
	})
}

// FuzzTracker drives a tracker with any sequence of frames, resets,
// GOAWAYs and ticks, on a few streams and at times that go forward, and
// checks its bookkeeping: no call is emitted twice, waiting reset calls
// are open ones, and at the close every call begun has been emitted and
// nothing is left open or waiting.
func FuzzTracker(f *testing.F) {
	f.Add([]byte{0x10, 0x31, 0x04, 0x22, 0x12, 0x33, 0x07})
	f.Add([]byte{0x10, 0x14, 0x12, 0x16, 0x05, 0x41, 0x50, 0x15, 0x06, 0x13})
	f.Add([]byte{0x30, 0x24, 0x44, 0x17, 0x35, 0x60, 0x27, 0x70})
	f.Fuzz(func(t *testing.T, ops []byte) {
		emitted := map[*Call]bool{}
		tr := NewTracker(func(c *Call) {
			if emitted[c] {
				t.Fatalf("stream %d emitted twice", c.Stream)
			}
			emitted[c] = true
		}, false)
		ms := 0
		for _, op := range ops {
			stream := uint32(op&0x0f)%6*2 + 1
			d := Dir(op & 1)
			ms += int(op>>6) * 400 // up to 1.2 s a step: LingerFor passes
			ts := at(ms)
			switch op >> 4 & 3 {
			case 0:
				tr.Activity(stream, ts)
				if d == C2S {
					tr.Headers(C2S, stream, request("/pkg.Svc/M"), op&0x20 != 0, ts)
				} else {
					tr.Headers(S2C, stream, resp200, false, ts)
				}
			case 1:
				tr.Activity(stream, ts)
				if op&0x80 != 0 {
					tr.Headers(S2C, stream, trailOK, true, ts)
				} else {
					tr.Data(d, stream, wire(msg{false, []byte("m")}), ts)
					tr.EndStream(d, stream, ts)
				}
			case 2:
				tr.Activity(stream, ts)
				tr.RST(d, stream, 8, ts)
			case 3:
				if op&0x80 != 0 {
					tr.GoAway(d, stream, ts)
				} else {
					tr.Expire(ts)
				}
			}
			for _, c := range tr.lingering {
				if tr.calls[c.Stream] != c || !c.rst || c.RSTBy != C2S {
					t.Fatalf("stream %d waits but is not an open call the client reset", c.Stream)
				}
				if ts.Sub(c.EndTS) > LingerFor && op>>4&3 == 3 && op&0x80 == 0 {
					t.Fatalf("stream %d still waits %v after its reset, past an Expire", c.Stream, ts.Sub(c.EndTS))
				}
			}
		}
		tr.Close(at(ms+1), EndConnClosed)
		if tr.Open() != 0 || tr.Lingering() != 0 {
			t.Fatalf("%d open, %d waiting after the close", tr.Open(), tr.Lingering())
		}
		if uint64(len(emitted)) != tr.Stats.Calls {
			t.Fatalf("%d calls emitted, %d begun", len(emitted), tr.Stats.Calls)
		}
	})
}
