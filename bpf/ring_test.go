package bpf

import (
	"bytes"
	"encoding/binary"
	"testing"
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
