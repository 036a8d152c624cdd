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
