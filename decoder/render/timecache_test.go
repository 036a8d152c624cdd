package render

import (
	"testing"
	"time"
)

// Timestamps are written as time.Format writes them, to the nanosecond.
func TestTimeCacheDigits(t *testing.T) {
	var c timeCache
	for _, ns := range []int{0, 1, 9, 10, 99, 100, 1000, 123456789, 500000000, 999999999} {
		ts := time.Unix(1700000000, int64(ns)).UTC()
		if got, want := string(c.append(nil, ts)), ts.Format("2006-01-02T15:04:05.000000000Z"); got != want {
			t.Errorf("%d ns: %s, want %s", ns, got, want)
		}
	}
}

// A stamp repeated, or repeated after a second changes, is written as
// the first time: the last stamp is kept whole.
func TestTimeCacheRepeats(t *testing.T) {
	var c timeCache
	base := time.Unix(1700000000, 999999999)
	seq := []time.Duration{0, 0, 1, 1, 0, time.Nanosecond, time.Nanosecond, time.Second, time.Second, 0, -time.Second, 2 * time.Second}
	for i, d := range seq {
		ts := base.Add(d)
		if got, want := string(c.append([]byte("x"), ts)), "x"+ts.UTC().Format("2006-01-02T15:04:05.000000000Z"); got != want {
			t.Errorf("step %d (%v): %s, want %s", i, d, got, want)
		}
	}
	// Same nanoseconds, another second.
	for _, sec := range []int64{1700000000, 1700000001, 1700000000, 1800000000} {
		ts := time.Unix(sec, 5)
		if got, want := string(c.append(nil, ts)), ts.UTC().Format("2006-01-02T15:04:05.000000000Z"); got != want {
			t.Errorf("%d s: %s, want %s", sec, got, want)
		}
	}
}
