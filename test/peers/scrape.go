package peers

import (
	"net/http"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sample is one exposed series.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Scrape reads http://ADDR/metrics in the text format, as Prometheus's
// own parser does, flattened to series: a histogram gives its _count and
// _sum.
func Scrape(t testing.TB, addr string) []Sample {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	var out []Sample
	for name, f := range fams {
		for _, m := range f.Metric {
			labels := map[string]string{}
			for _, l := range m.Label {
				labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				out = append(out, Sample{name, labels, m.Counter.GetValue()})
			case m.Gauge != nil:
				out = append(out, Sample{name, labels, m.Gauge.GetValue()})
			case m.Untyped != nil:
				out = append(out, Sample{name, labels, m.Untyped.GetValue()})
			case m.Histogram != nil:
				out = append(out, Sample{name + "_count", labels, float64(m.Histogram.GetSampleCount())},
					Sample{name + "_sum", labels, m.Histogram.GetSampleSum()})
			}
		}
	}
	return out
}

// Sum adds the series of name whose labels include want.
func Sum(ss []Sample, name string, want map[string]string) float64 {
	var n float64
next:
	for _, s := range ss {
		if s.Name != name {
			continue
		}
		for k, v := range want {
			if s.Labels[k] != v {
				continue next
			}
		}
		n += s.Value
	}
	return n
}
