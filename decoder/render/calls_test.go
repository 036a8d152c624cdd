package render

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// appendFixed must print what AppendFloat prints, ties and carries
// included.
func TestAppendFixedMatchesFloat(t *testing.T) {
	cases := []struct {
		unit     float64
		decimals int
		max      int64
	}{{1e3, 1, int64(time.Millisecond)}, {1e6, 2, int64(time.Second)}, {1e9, 3, int64(100 * time.Hour)}, {1e9, 6, int64(100 * time.Hour)}}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range cases {
		check := func(n int64) {
			v := float64(n) / c.unit
			if c.unit == 1e9 {
				v = time.Duration(n).Seconds()
			}
			want := strconv.AppendFloat(nil, v, 'f', c.decimals, 64)
			if got := appendFixed(nil, time.Duration(n), c.unit, c.decimals); string(got) != string(want) {
				t.Fatalf("%d ns / %g: %s, want %s", n, c.unit, got, want)
			}
		}
		for n := range int64(20000) {
			check(n)
		}
		for range 200000 {
			check(rng.Int64N(c.max))
		}
		check(c.max - 1)
	}
}
