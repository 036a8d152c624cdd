package node

import (
	"encoding/gob"
	"errors"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/hoptap/hoptap/agent/capture"
	"github.com/hoptap/hoptap/agent/metrics"
	"github.com/hoptap/hoptap/agent/watch"
	"github.com/hoptap/hoptap/bpf"
)

// BenchmarkReplay feeds the agent's pipeline (decoder, views, metrics)
// the ring events recorded live in HOPTAP_BENCH_EVENTS: a gob stream of
// []bpf.Event batches, as the agent's probe options select them. It
// measures what the agent spends behind the ring, without the kernel's
// noise, for profiling:
//
//	HOPTAP_BENCH_EVENTS=events.gob go test -run '^$' -bench Replay -cpuprofile cpu.prof ./agent/node
func BenchmarkReplay(b *testing.B) {
	path := os.Getenv("HOPTAP_BENCH_EVENTS")
	if path == "" {
		b.Skip("HOPTAP_BENCH_EVENTS names no recording")
	}
	batches := loadEvents(b, path)
	var sum *capture.Summary
	b.ResetTimer()
	for range b.N {
		a, err := New(Config{MetricsAddr: "127.0.0.1:0", Kubernetes: "off"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			b.Fatal(err)
		}
		popts, err := a.cfg.probe()
		if err != nil {
			b.Fatal(err)
		}
		cfg, err := a.pipeline(popts, metrics.ProcessNamer{}, watch.New())
		if err != nil {
			b.Fatal(err)
		}
		sum = capture.Replay(cfg, batches)
		a.ln.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(sum.Decoder.Calls)*1000/1e6, "ms/1kcalls")
	// What a recording decodes to, to see it whole: every call, no
	// connection joined midway nor header unknown.
	b.ReportMetric(float64(sum.Decoder.Calls), "calls")
	b.ReportMetric(float64(sum.Decoder.TCP.Midstream), "midstream-conns")
	b.ReportMetric(float64(sum.Decoder.HPACKUnknown), "unknown-headers")
}

func loadEvents(b testing.TB, path string) [][]bpf.Event {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	dec := gob.NewDecoder(f)
	var batches [][]bpf.Event
	for {
		var evs []bpf.Event
		if err := dec.Decode(&evs); errors.Is(err, io.EOF) {
			return batches
		} else if err != nil {
			b.Fatalf("%s: %v", path, err)
		}
		batches = append(batches, evs)
	}
}
