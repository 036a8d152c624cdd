package grpc

import (
	"bytes"
	"fmt"
	"testing"
)

type msg struct {
	compressed bool
	body       []byte
}

// wire encodes messages with gRPC's 5-byte prefix.
func wire(ms ...msg) []byte {
	var b []byte
	for _, m := range ms {
		flag := byte(0)
		if m.compressed {
			flag = 1
		}
		n := len(m.body)
		b = append(b, flag, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		b = append(b, m.body...)
	}
	return b
}

// frameAll feeds the chunks to a framer and returns what it produced.
func frameAll(keep bool, chunks ...[]byte) ([]Message, *framer) {
	f := &framer{keepBody: keep}
	var out []Message
	for _, c := range chunks {
		f.feed(c, func(m *Message) { out = append(out, *m) })
	}
	return out, f
}

func sameMessages(t *testing.T, what string, got []Message, want []msg, keep bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d messages, want %d", what, len(got), len(want))
	}
	for i, g := range got {
		w := want[i]
		if g.Compressed != w.compressed || g.Length != uint32(len(w.body)) {
			t.Fatalf("%s: message %d is compressed=%v length=%d, want %v %d", what, i, g.Compressed, g.Length, w.compressed, len(w.body))
		}
		if keep && !bytes.Equal(g.Body, w.body) || !keep && g.Body != nil {
			t.Fatalf("%s: message %d body %q, want %q (kept: %v)", what, i, g.Body, w.body, keep)
		}
	}
}

func TestFramerSplits(t *testing.T) {
	msgs := []msg{
		{false, []byte("first")},
		{true, []byte{0x1f, 0x8b, 8, 0}},
		{false, nil}, // zero-length
		{false, nil},
		{true, nil},
		{false, bytes.Repeat([]byte("x"), 300)},
	}
	b := wire(msgs...)
	for _, keep := range []bool{false, true} {
		got, _ := frameAll(keep, b)
		sameMessages(t, "whole", got, msgs, keep)
		// Every single cut, so the prefix is split at every position.
		for i := 0; i <= len(b); i++ {
			got, f := frameAll(keep, b[:i], b[i:])
			sameMessages(t, fmt.Sprintf("cut at %d", i), got, msgs, keep)
			if f.lost || f.hdrN != 0 || f.left != 0 {
				t.Fatalf("cut at %d: framer left in state lost=%v hdrN=%d left=%d", i, f.lost, f.hdrN, f.left)
			}
		}
		// Every two cuts within the first messages.
		for i := 0; i < 30; i++ {
			for j := i; j < 30; j++ {
				got, _ := frameAll(keep, b[:i], b[i:j], b[j:])
				sameMessages(t, fmt.Sprintf("cuts at %d, %d", i, j), got, msgs, keep)
			}
		}
		var bytewise [][]byte
		for i := range b {
			bytewise = append(bytewise, b[i:i+1])
		}
		got, _ = frameAll(keep, bytewise...)
		sameMessages(t, "byte by byte", got, msgs, keep)
	}
}

func TestFramerIncomplete(t *testing.T) {
	b := wire(msg{false, []byte("complete")}, msg{false, []byte("incomplete")})
	got, f := frameAll(false, b[:len(b)-3])
	if len(got) != 1 || f.left != 3 {
		t.Errorf("%d messages, %d bytes left; want 1, 3", len(got), f.left)
	}
	got, f = frameAll(false, b[:13+3])
	if len(got) != 1 || f.hdrN != 3 {
		t.Errorf("%d messages, prefix %d bytes; want 1, 3", len(got), f.hdrN)
	}
}

func TestFramerReservedFlags(t *testing.T) {
	for _, flag := range []byte{0x02, 0x80, 0x81, 0xff} {
		b := wire(msg{false, []byte("ok")})
		bad := []byte{flag, 0, 0, 0, 1, 'x'}
		b = append(b, bad...)
		b = append(b, wire(msg{false, []byte("after")})...)
		for i := 7; i <= len(b); i++ { // cut anywhere from the bad prefix on
			got, f := frameAll(true, b[:i], b[i:])
			if len(got) != 1 || string(got[0].Body) != "ok" {
				t.Fatalf("flag %#x, cut %d: messages %v, want only the first", flag, i, got)
			}
			if !f.lost {
				t.Fatalf("flag %#x: framing not lost", flag)
			}
		}
	}
}

func TestFramerBodyLimit(t *testing.T) {
	body := make([]byte, MessageBodyLimit+1000)
	for i := range body {
		body[i] = byte(i)
	}
	b := wire(msg{false, body}, msg{false, []byte("next")})
	var chunks [][]byte
	for len(b) > 0 {
		n := min(len(b), 1000)
		chunks, b = append(chunks, b[:n]), b[n:]
	}
	got, _ := frameAll(true, chunks...)
	if len(got) != 2 || got[0].Length != uint32(len(body)) || !bytes.Equal(got[0].Body, body[:MessageBodyLimit]) {
		t.Fatalf("got %d messages; first length %d, body %d bytes", len(got), got[0].Length, len(got[0].Body))
	}
	if string(got[1].Body) != "next" {
		t.Errorf("second body %q", got[1].Body)
	}
	got, _ = frameAll(false, chunks...)
	if got[0].Body != nil {
		t.Error("body kept without keepBody")
	}
}

func TestFramerHugeLength(t *testing.T) {
	// A 4 GiB length is counted down without being held.
	f := &framer{keepBody: true}
	n := 0
	f.feed([]byte{0, 0xff, 0xff, 0xff, 0xff}, func(*Message) { n++ })
	f.feed(make([]byte, 1<<20), func(*Message) { n++ })
	if n != 0 || f.left != 0xffffffff-1<<20 || len(f.cur.Body) != MessageBodyLimit {
		t.Errorf("n=%d left=%d body=%d", n, f.left, len(f.cur.Body))
	}
}
