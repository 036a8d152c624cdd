package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// gather returns the one metric a collector exposes, without its created
// timestamp (each histogram has its own).
func gather(t *testing.T, c prometheus.Collector) *dto.Metric {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 1 || len(fams[0].Metric) != 1 {
		t.Fatalf("gathered %v", fams)
	}
	m := fams[0].Metric[0]
	m.Histogram.CreatedTimestamp = nil
	return m
}

// TestLatencyMatchesClientGolang feeds the same observations to our
// histogram and to client_golang's with the settings ours replaces, and
// wants the same exposition: classic buckets, sum and count, schema, zero
// bucket, spans and deltas. The observations cover bucket bounds, powers
// of two, zero, negatives, infinities, the array's edges and more
// populated buckets than the limit (so that the schema is lowered).
func TestLatencyMatchesClientGolang(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	sets := map[string][]float64{"special": {0, -0.001, 1e-40, -1e-40, math.Inf(1), math.Inf(-1), 1, 0.5, 2, 4096, 8192, 1e5, math.Exp2(-30), math.Exp2(-31), math.Exp2(12)}}
	for _, b := range latencyBuckets {
		sets["special"] = append(sets["special"], b, math.Nextafter(b, 0), math.Nextafter(b, 10))
	}
	narrow, wide := []float64{}, []float64{}
	for range 20000 {
		narrow = append(narrow, math.Exp(r.Float64()*math.Log(1e5))*1e-4) // 100 µs to 10 s: under the limit
		wide = append(wide, math.Exp(r.Float64()*math.Log(1e12))*1e-8)    // 10 ns to 3 hours: over it
	}
	sets["narrow"], sets["wide"] = narrow, wide
	sets["wide and special"] = append(append([]float64(nil), wide...), sets["special"]...)
	for name, obs := range sets {
		ours := newLatencyVec("h", "help", "l")
		theirs := prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "h", Help: "help", Buckets: latencyBuckets[:],
			NativeHistogramBucketFactor: 1.1, NativeHistogramMaxBucketNumber: maxNativeBuckets,
			NativeHistogramMinResetDuration: time.Hour,
		}, []string{"l"})
		o, th := ours.WithLabelValues("x"), theirs.WithLabelValues("x")
		for _, v := range obs {
			o.Observe(v)
			th.Observe(v)
		}
		got, want := gather(t, ours), gather(t, theirs)
		if !proto.Equal(got, want) {
			t.Errorf("%s (%d observations): ours\n%v\nclient_golang's\n%v", name, len(obs), got, want)
		}
		if name == "wide" && got.Histogram.GetSchema() >= nativeSchema {
			t.Errorf("wide: schema %d: the bucket limit was not reached, the test shows less than it should", got.Histogram.GetSchema())
		}
	}
}

// TestLatencySeries: label values name series; a wrong count of them is
// a programming error.
func TestLatencySeries(t *testing.T) {
	v := newLatencyVec("h", "help", "a", "b")
	if v.WithLabelValues("x", "y") != v.WithLabelValues("x", "y") || v.WithLabelValues("x", "y") == v.WithLabelValues("xy", "") {
		t.Error("series not named by their label values")
	}
	defer func() {
		if recover() == nil {
			t.Error("one label value for two labels accepted")
		}
	}()
	v.WithLabelValues("x")
}

// BenchmarkObserve: one observation, ours and client_golang's with the
// settings ours replaces.
func BenchmarkObserve(b *testing.B) {
	obs := make([]float64, 1024)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range obs {
		obs[i] = math.Exp(r.Float64()*math.Log(1e4)) * 1e-4
	}
	theirs := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "h", Help: "help", Buckets: latencyBuckets[:],
		NativeHistogramBucketFactor: 1.1, NativeHistogramMaxBucketNumber: maxNativeBuckets,
		NativeHistogramMinResetDuration: time.Hour,
	}, []string{"l"})
	for name, o := range map[string]prometheus.Observer{
		"hoptap":        newLatencyVec("h", "help", "l").WithLabelValues("x"),
		"client_golang": theirs.WithLabelValues("x"),
	} {
		b.Run(name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				o.Observe(obs[i&1023])
				i++
			}
		})
	}
}
