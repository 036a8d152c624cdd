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
