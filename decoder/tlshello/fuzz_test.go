package tlshello

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzStream feeds arbitrary bytes whole and in pieces and checks that
// nothing panics, that splitting changes nothing, that memory stays
// bounded, and that Stream, ParseHello and NextRecord agree.
func FuzzStream(f *testing.F) {
	const seedMax = 4 << 10 // the hellos and what follows them
	for _, sc := range scenarios[:5] {
		c := captured(f, sc)
		f.Add(c.c2s[:min(len(c.c2s), seedMax)])
		f.Add(c.s2c[:min(len(c.s2c), seedMax)])
	}
	msg := firstMessage(f, captured(f, scenarios[1]).c2s)
	f.Add(frame(RecordHandshake, VersionTLS10, msg, 2, len(msg)/2))

	f.Fuzz(func(t *testing.T, data []byte) {
		Looks(data)
		evs, s, err := feed(data, whole)
		if err != nil && !isSentinel(err) {
			t.Fatalf("unexpected error %v", err)
		}
		if err == nil && s.Offset() != int64(len(data)) {
			t.Fatalf("consumed %d of %d bytes", s.Offset(), len(data))
		}
		if s.Hellos() != len(hellos(evs)) {
			t.Fatalf("Hellos() = %d, %d events", s.Hellos(), len(hellos(evs)))
		}

		// Record events follow the NextRecord chain.
		var off int64
		for _, e := range evs {
			if e.Kind == EventHello {
				if h := e.Hello; h == nil || h.Type != ClientHello && h.Type != ServerHello {
					t.Fatalf("bad hello event %+v", e)
				}
				continue
			}
			if e.Offset != off {
				t.Fatalf("record at %d, want %d", e.Offset, off)
			}
			rec, n, err := NextRecord(data[off:])
			if err == ErrNeedMore && n == 0 && rec == e.Record {
				break // the last record is incomplete
			}
			if err != nil || rec != e.Record {
				t.Fatalf("offset %d: NextRecord %+v, %v; event %+v", off, rec, err, e.Record)
			}
			off += int64(n)
		}

		// Pieces give the same events and the same error.
		splits := []func(int) int{randomSplit(uint64(len(data)), 64)}
		if len(data) <= 4<<10 {
			splits = append(splits, func(int) int { return 1 })
		}
		for _, split := range splits {
			evs2, _, err2 := feed(data, split)
			if !reflect.DeepEqual(evs, evs2) || errString(err) != errString(err2) {
				t.Fatalf("split feed differs: %v vs %v", err, err2)
			}
		}

		// A small bound holds.
		small := &Stream{MaxHello: 300}
		for rest := data; len(rest) > 0; rest = rest[min(len(rest), 100):] {
			small.Feed(rest[:min(len(rest), 100)], nil)
			if cap(small.hs) > 300 {
				t.Fatalf("buffer of %d bytes with MaxHello 300", cap(small.hs))
			}
		}

		// ParseHello agrees with the first hello of the stream.
		h, n, perr := ParseHello(data)
		hs := hellos(evs)
		switch {
		case perr == nil:
			var first *Event
			for i := range evs {
				if evs[i].Kind == EventHello {
					first = &evs[i]
					break
				}
			}
			if first == nil || !reflect.DeepEqual(*first.Hello, h) ||
				first.Offset+HeaderLen+int64(first.Record.Length) != int64(n) {
				t.Fatalf("ParseHello %+v, %d; stream %+v", h, n, first)
			}
		case perr == ErrNeedMore:
			// The stream may have seen the hello end before its record did.
			if len(hs) == 0 && err != nil {
				t.Fatalf("ParseHello needs more; stream: %v", err)
			}
			for _, e := range evs {
				if e.Kind == EventHello && e.Offset+HeaderLen+int64(e.Record.Length) <= int64(len(data)) {
					t.Fatalf("ParseHello needs more; stream found a hello in a complete record")
				}
			}
		case !isSentinel(perr):
			t.Fatalf("ParseHello: unexpected error %v", perr)
		case len(hs) != 0:
			t.Fatalf("ParseHello failed (%v) but the stream found a hello", perr)
		}
	})
}

func isSentinel(err error) bool {
	for _, e := range []error{ErrNotTLS, ErrRecordTooLarge, ErrHelloTooLarge, ErrMalformed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
