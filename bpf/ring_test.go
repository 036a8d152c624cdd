package bpf

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// fakeRing lays records out as the kernel does, in plain memory mapped
// once, as the reader maps the data.
type fakeRing struct {
	r          ring
	cons, prod uint64
	size       int
	buf        []byte
}

func newFakeRing(size int) *fakeRing {
	f := &fakeRing{size: size, buf: make([]byte, size)}
	f.r = ring{cons: &f.cons, prod: &f.prod, data: f.buf, mask: uint64(size - 1)}
	return f
}

// put writes one record at the producer position with the given header
// flags and advances the producer.
func (f *fakeRing) put(sample []byte, flags uint32) {
	rec := make([]byte, (ringHdrLen+len(sample)+7)&^7)
	binary.LittleEndian.PutUint32(rec, uint32(len(sample))|flags)
	copy(rec[ringHdrLen:], sample)
	for i, c := range rec {
		at := (int(f.prod) + i) % f.size
		f.buf[at] = c
	}
	f.prod += uint64(len(rec))
}

func TestRingNext(t *testing.T) {
	f := newFakeRing(128)
	f.cons, f.prod = 88, 88 // the third record wraps around the end
	f.put([]byte("first"), 0)
	f.put([]byte("dropped"), ringDrop)
	f.put([]byte("wraps around"), 0)
	f.put([]byte("busy"), ringBusy)

	pos := f.r.consumed()
	var got []string
	for {
		s, after, st, err := f.r.next(pos)
		if err != nil {
			t.Fatal(err)
		}
		if st == recBusy || st == recNone {
			if st != recBusy {
				t.Fatalf("stopped with %d before the busy record", st)
			}
			break
		}
		if st == recOK {
			got = append(got, string(s))
		}
		pos = after
	}
	if want := []string{"first", "wraps around"}; !equal(got, want) {
		t.Fatalf("records %q, want %q", got, want)
	}
	f.r.publish(pos)
	if f.cons != pos {
		t.Fatalf("consumer %d, want %d", f.cons, pos)
	}
	// Once committed, the busy record reads, and then nothing is left.
	at := pos & f.r.mask
	binary.LittleEndian.PutUint32(f.buf[at:], 4)
	s, after, st, err := f.r.next(pos)
	if err != nil || st != recOK || !bytes.Equal(s, []byte("busy")) {
		t.Fatalf("committed record: %q %d %v", s, st, err)
	}
	if _, _, st, _ := f.r.next(after); st != recNone {
		t.Fatalf("after the last record: state %d, want none", st)
	}
}

func TestRingTorn(t *testing.T) {
	f := newFakeRing(64)
	f.put([]byte("0123456789"), 0)
	f.prod -= 8 // the producer claims less than the record holds
	if _, _, _, err := f.r.next(0); err == nil {
		t.Fatal("a record running past the producer was read")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A record whose header ends exactly at the end of the data, and one
// whose sample straddles it, read whole; a later record does not
// disturb what was read before it was asked for.
func TestRingWraps(t *testing.T) {
	for _, start := range []uint64{56, 48, 40} {
		f := newFakeRing(64)
		f.cons, f.prod = start, start
		want := []string{"straddles the end of the ring", "next"}
		for _, w := range want {
			f.put([]byte(w), 0)
		}
		pos := f.r.consumed()
		var got []string
		for {
			s, after, st, err := f.r.next(pos)
			if err != nil {
				t.Fatal(err)
			}
			if st == recNone {
				break
			}
			got = append(got, string(s))
			pos = after
		}
		if !equal(got, want) {
			t.Errorf("start %d: records %q, want %q", start, got, want)
		}
	}
}

// TestRingLevel: another mapping of the ring (RingFile, OpenRingLevel),
// read-only, sees the records that wait while nothing takes the reader's
// batches, and none once they are released.
func TestRingLevel(t *testing.T) {
	requireRoot(t)
	const ring = 1 << 16
	h := newH2Peers(t, Options{RingBytes: ring, Payload: PayloadAll})
	f, size, err := h.p.RingFile()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if size != ring {
		t.Fatalf("RingFile says %d bytes, the ring has %d", size, ring)
	}
	l, err := OpenRingLevel(int(f.Fd()), size)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Size() != ring {
		t.Fatalf("RingLevel says %d bytes, the ring has %d", l.Size(), ring)
	}
	before := l.Backlog() // the handshake's, perhaps
	// Batches go unreleased: what the programs wrote stays in the ring.
	data := frame(0, 0, 1, make([]byte, 1000)...)
	const sends = ring / 8 / 1000 // each copied twice, with replies and ACKs: half the ring
	for range sends {
		h.send(data)
	}
	if got := l.Backlog() - before; got < 2*sends*1000 || got > ring {
		t.Errorf("backlog grew by %d in %d unread sends of 1,000 payload bytes seen twice, want %d to %d", got, sends, 2*sends*1000, ring)
	}
	for l.Backlog() > 0 {
		select {
		case b := <-h.p.Events():
			b.Release()
		case <-time.After(10 * time.Second):
			t.Fatalf("released every batch, the backlog stays %d", l.Backlog())
		}
	}
}
