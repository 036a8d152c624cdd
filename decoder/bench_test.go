package decoder_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/pcapfile"
	"github.com/hoptap/hoptap/decoder/render"
)

// nopSink throws every event away, so that the benchmark measures the
// decoder and nothing downstream of it.
type nopSink struct{}

func (nopSink) Frame(*decoder.FrameEvent) {}
func (nopSink) Call(*decoder.CallEvent)   {}
func (nopSink) Conn(*decoder.ConnEvent)   {}

type benchPacket struct {
	lt      layers.LinkType
	data    []byte
	ts      time.Time
	wireLen int
}

// loadPackets reads a whole capture into memory, so that file I/O stays
// out of the measurement.
func loadPackets(b testing.TB, path string) (pkts []benchPacket, bytes int64) {
	b.Helper()
	r, err := pcapfile.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for {
		data, ci, lt, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatalf("%s: after %d packets: %v", path, len(pkts), err)
		}
		pkts = append(pkts, benchPacket{lt: lt, data: append([]byte(nil), data...), ts: ci.Timestamp, wireLen: ci.Length})
		bytes += int64(len(data))
	}
	return pkts, bytes
}

// BenchmarkDecodeInterop decodes the bundled capture of the grpc-go
// interop tests, start to end, per iteration. HOPTAP_BENCH_PCAP points it
// at another capture, for example the one `make bench-read` records under
// testdata/bench/, which is the one to profile:
//
//	HOPTAP_BENCH_PCAP=$PWD/testdata/bench/unary-20000.pcapng \
//	  go test -run '^$' -bench DecodeInterop -cpuprofile cpu.prof ./decoder
func BenchmarkDecodeInterop(b *testing.B) { benchDecode(b, decoder.Options{}) }

// BenchmarkDecodeInteropReuse is the same with recycled calls, as live
// capture decodes.
func BenchmarkDecodeInteropReuse(b *testing.B) { benchDecode(b, decoder.Options{ReuseCalls: true}) }

// BenchmarkDecodeJSON is the same decoded and printed as JSON lines
// (discarded), as `capture -o json` does live.
func BenchmarkDecodeJSON(b *testing.B) {
	benchDecodeTo(b, decoder.Options{ReuseCalls: true}, func() decoder.Sink { return render.NewPrinter(io.Discard, render.ModeJSON) })
}

// BenchmarkDecodeText is the same printed as text (discarded), as
// `capture` does by default.
func BenchmarkDecodeText(b *testing.B) {
	benchDecodeTo(b, decoder.Options{ReuseCalls: true}, func() decoder.Sink { return render.NewPrinter(io.Discard, render.ModeText) })
}

// BenchmarkDecodeCalls is the same printed as the live table of calls,
// as `capture --calls` does.
func BenchmarkDecodeCalls(b *testing.B) {
	benchDecodeTo(b, decoder.Options{ReuseCalls: true}, func() decoder.Sink {
		p := render.NewPrinter(io.Discard, render.ModeCalls)
		p.LiveCalls()
		return p
	})
}

func benchDecode(b *testing.B, opts decoder.Options) {
	benchDecodeTo(b, opts, func() decoder.Sink { return nopSink{} })
}

func benchDecodeTo(b *testing.B, opts decoder.Options, sink func() decoder.Sink) {
	path := filepath.Join("..", "testdata", "golden", "interop.pcapng")
	if p := os.Getenv("HOPTAP_BENCH_PCAP"); p != "" {
		path = p
	}
	if _, err := os.Stat(path); err != nil {
		b.Skipf("no capture to decode: %v", err)
	}
	pkts, size := loadPackets(b, path)
	if len(pkts) == 0 {
		b.Skipf("%s holds no packets", path)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	var calls, frames uint64
	for b.Loop() {
		d := decoder.New(sink(), opts)
		for i := range pkts {
			p := &pkts[i]
			d.Packet(p.lt, p.data, p.ts, p.wireLen)
		}
		d.Flush()
		st := d.Stats()
		calls, frames = st.Calls, st.Frames
	}
	if calls == 0 {
		b.Fatalf("%s: no gRPC call decoded", path)
	}
	b.ReportMetric(float64(calls)*float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	b.ReportMetric(float64(frames), "frames/op")
}
