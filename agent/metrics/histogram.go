package metrics

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// latencyVec is a histogram vector like client_golang's with classic
// buckets and a native histogram of schema 3 (a factor of 2^(1/8), the
// one client_golang picks for a bucket factor of 1.1), exposed the same
// way; but a series is written under its own mutex with plain integers,
// where client_golang's takes three atomic additions, a compare-and-swap
// loop and a sync.Map lookup per observation. The recorder observes
// three times per call, which made client_golang's histograms 6-7 % of
// the agent's CPU in a profile.
//
// One difference: client_golang lowers a series' resolution for good
// (or resets it, once an hour) when more than maxNativeBuckets buckets
// are populated; here buckets are kept at schema 3 and merged down only
// in what a scrape reports, so nothing is ever reset.
type latencyVec struct {
	desc   *prometheus.Desc
	labels int
	mu     sync.Mutex
	series map[string]*latency
}

// Native histogram settings, as client_golang's defaults and ours.
const (
	nativeSchema     = 3
	maxNativeBuckets = 160
	// nativeMinKey.. is the key range held in an array (2^-30 s, about a
	// nanosecond, to 2^12 s, over an hour, at 8 buckets per power of 2);
	// keys outside it, and negative observations, go to a map.
	nativeMinKey = -240
	nativeSlots  = 336
)

// zeroThreshold is client_golang's default: observations of at most
// this absolute value count in the zero bucket.
const zeroThreshold = prometheus.DefNativeHistogramZeroThreshold

// nativeBounds are the fractions (as math.Frexp returns them) where
// schema 3's buckets end within a power of two, as client_golang's.
var nativeBounds = func() []float64 {
	b := make([]float64, 1<<nativeSchema)
	for i := range b {
		b[i] = math.Exp2(float64(i)/float64(len(b)) - 1)
	}
	return b
}()

func newLatencyVec(name, help string, labels ...string) *latencyVec {
	return &latencyVec{
		desc:   prometheus.NewDesc(name, help, labels, nil),
		labels: len(labels),
		series: map[string]*latency{},
	}
}

// WithLabelValues returns the series of these label values, made on first
// use. Callers keep what it returns: the lookup joins the values.
func (v *latencyVec) WithLabelValues(values ...string) prometheus.Observer {
	if len(values) != v.labels {
		panic("metrics: wrong number of label values") // a programming error, as in client_golang
	}
	key := seriesName(values)
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.series[key]
	if s == nil {
		s = &latency{desc: v.desc, values: append([]string(nil), values...), created: time.Now()}
		v.series[key] = s
	}
	return s
}

func seriesName(values []string) string {
	n := 0
	for _, s := range values {
		n += len(s) + 1
	}
	b := make([]byte, 0, n)
	for _, s := range values {
		b = append(append(b, s...), 0xff) // not valid UTF-8: no label value holds it
	}
	return string(b)
}

// Describe implements prometheus.Collector.
func (v *latencyVec) Describe(ch chan<- *prometheus.Desc) { ch <- v.desc }

// Collect implements prometheus.Collector.
func (v *latencyVec) Collect(ch chan<- prometheus.Metric) {
	v.mu.Lock()
	all := make([]*latency, 0, len(v.series))
	for _, s := range v.series {
		all = append(all, s)
	}
	v.mu.Unlock()
	for _, s := range all {
		ch <- s
	}
}

// latency is one series.
type latency struct {
	desc    *prometheus.Desc
	values  []string
	created time.Time

	mu      sync.Mutex
	count   uint64
	sum     float64
	classic [len(latencyBuckets) + 1]uint64 // per bucket, not cumulative; the last is +Inf
	zero    uint64
	native  [nativeSlots]uint64
	other   map[int]uint64 // positive keys outside native's range
	neg     map[int]uint64 // negative observations, by key
}

// Observe implements prometheus.Observer.
func (h *latency) Observe(v float64) {
	b := sort.SearchFloat64s(latencyBuckets[:], v) // the first bound >= v
	h.mu.Lock()
	h.count++
	h.sum += v
	h.classic[b]++
	if !math.IsNaN(v) {
		switch key := nativeKey(v); {
		case v > zeroThreshold && key >= nativeMinKey && key < nativeMinKey+nativeSlots:
			h.native[key-nativeMinKey]++
		case v > zeroThreshold:
			if h.other == nil {
				h.other = map[int]uint64{}
			}
			h.other[key]++
		case v < -zeroThreshold:
			if h.neg == nil {
				h.neg = map[int]uint64{}
			}
			h.neg[key]++
		default:
			h.zero++
		}
	}
	h.mu.Unlock()
}

// nativeKey is the schema-3 bucket of |v|, computed as client_golang
// does: bucket k holds (2^((k-1)/8), 2^(k/8)].
func nativeKey(v float64) int {
	inf := math.IsInf(v, 0)
	if inf {
		v = math.MaxFloat64
	}
	frac, exp := math.Frexp(math.Abs(v))
	key := sort.SearchFloat64s(nativeBounds, frac) + (exp-1)*len(nativeBounds)
	if inf {
		key++
	}
	return key
}

// Desc implements prometheus.Metric.
func (h *latency) Desc() *prometheus.Desc { return h.desc }

// Write implements prometheus.Metric: classic buckets and the native
// histogram, at the highest schema (3 down to -4) that needs at most
// maxNativeBuckets buckets.
func (h *latency) Write(out *dto.Metric) error {
	h.mu.Lock()
	count, sum, zero := h.count, h.sum, h.zero
	classic := h.classic
	pos := make(map[int]uint64, len(h.other)+16)
	for i, n := range h.native {
		if n > 0 {
			pos[i+nativeMinKey] = n
		}
	}
	for k, n := range h.other {
		pos[k] = n
	}
	neg := make(map[int]uint64, len(h.neg))
	for k, n := range h.neg {
		neg[k] = n
	}
	h.mu.Unlock()

	schema := int32(nativeSchema)
	for len(pos)+len(neg) > maxNativeBuckets && schema > -4 {
		pos, neg = halve(pos), halve(neg)
		schema--
	}
	his := &dto.Histogram{
		SampleCount:      &count,
		SampleSum:        &sum,
		CreatedTimestamp: timestamppb.New(h.created),
		Schema:           &schema,
		ZeroThreshold:    new(zeroThreshold),
		ZeroCount:        &zero,
		Bucket:           make([]*dto.Bucket, len(latencyBuckets)),
	}
	var cum uint64
	for i, ub := range latencyBuckets {
		cum += classic[i]
		his.Bucket[i] = &dto.Bucket{CumulativeCount: new(cum), UpperBound: new(ub)}
	}
	his.PositiveSpan, his.PositiveDelta = spans(pos)
	his.NegativeSpan, his.NegativeDelta = spans(neg)
	out.Histogram = his
	out.Label = prometheus.MakeLabelPairs(h.desc, h.values)
	return nil
}

// halve merges buckets into those of the next lower schema, as
// client_golang does: bucket k goes to ceil(k/2).
func halve(m map[int]uint64) map[int]uint64 {
	out := make(map[int]uint64, len(m)/2+1)
	for k, n := range m {
		if k > 0 {
			k++
		}
		out[k/2] += n
	}
	return out
}

// spans encodes buckets as client_golang does: a new span after a gap of
// more than two buckets, smaller gaps filled with empty buckets, counts
// as deltas from the previous bucket's.
func spans(m map[int]uint64) ([]*dto.BucketSpan, []int64) {
	if len(m) == 0 {
		return nil, nil
	}
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var (
		out    []*dto.BucketSpan
		deltas []int64
		prev   int64
		next   int
	)
	add := func(n int64) {
		*out[len(out)-1].Length++
		deltas = append(deltas, n-prev)
		prev = n
	}
	for i, k := range keys {
		gap := int32(k - next)
		if i == 0 || gap > 2 {
			out = append(out, &dto.BucketSpan{Offset: new(gap), Length: new(uint32(0))})
		} else {
			for range gap {
				add(0)
			}
		}
		add(int64(m[k]))
		next = k + 1
	}
	return out, deltas
}
