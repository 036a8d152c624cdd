package render

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// Frame lines' relative times are exactly what fmt's "%11.6f" makes of
// the seconds, rounding included, for times before the first event too
// and for ones too long for the width; absolute ones are the time of day.
func TestStampAsFmt(t *testing.T) {
	first := time.Unix(1700000000, 123456789)
	p := &Printer{}
	p.appendStamp(nil, first)
	rng := rand.New(rand.NewPCG(5, 6))
	for n := range 100000 {
		d := time.Duration(rng.Int64N(int64(10 * time.Second)))
		switch n % 4 {
		case 1:
			d = -d / 1000
		case 2:
			d = time.Duration(rng.Int64N(1e6)) * 500 // on half microseconds
		case 3:
			d *= 1e5 // past the width
		}
		want := fmt.Sprintf("%11.6f", d.Seconds())
		if got := string(p.appendStamp(nil, first.Add(d))); got != want {
			t.Fatalf("%v after the first event: %q, want %q", d, got, want)
		}
	}
	p.AbsTime = true
	at := time.Date(2026, 12, 2, 3, 4, 5, 6789000, time.UTC)
	if got, want := p.stamp(at), at.Format("15:04:05.000000"); got != want {
		t.Errorf("absolute: %q, want %q", got, want)
	}
}

// BenchmarkStamp is a frame line's relative time.
func BenchmarkStamp(b *testing.B) {
	first := time.Unix(1700000000, 123456789)
	p := &Printer{}
	buf := p.appendStamp(nil, first)
	var ts [1024]time.Time // made first: time.Time.Add costs as much as a stamp
	for i := range ts {
		ts[i] = first.Add(time.Duration(i) * 7919 * time.Microsecond)
	}
	for i := 0; b.Loop(); i++ {
		buf = p.appendStamp(buf[:0], ts[i%len(ts)])
	}
}
