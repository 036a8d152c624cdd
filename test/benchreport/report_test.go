// Package benchreport tests the report of make bench-capture
// (scripts/bench-capture-report.py) on made-up runs whose ratios,
// intervals and verdicts are known: it decides what MET means.
package benchreport

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoptap/hoptap/test/peers"
)

// run is one ghz result and, for a capture run, its summary.
type run struct {
	rps, p99 float64 // calls/s, ms
	cpuMS    int     // the capture's CPU; 0: capture off
}

func writeRun(t *testing.T, dir, kind string, round int, name string, r run) {
	t.Helper()
	const calls = 100000
	ghz := map[string]any{
		"rps": r.rps, "count": calls,
		"latencyDistribution": []map[string]any{
			{"percentage": 50, "latency": 1e6}, {"percentage": 99, "latency": r.p99 * 1e6},
		},
		"statusCodeDistribution": map[string]int{"OK": calls},
	}
	b, err := json.Marshal(ghz)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, fmt.Sprintf("%s-%d-%s.json", kind, round, name))
	if err := os.WriteFile(base, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if r.cpuMS == 0 {
		return
	}
	sum := fmt.Sprintf("capture: 200000 packets in 10.0s (200000 egress, 0 ingress; 200000 seen at both ends), %d calls, "+
		"0 lost events, 1 TCP gap, cpu %dms (+50ms to start)\n"+ // a count of one in the singular
		"kernel: 200000 packets copied, 0 lost (0 bytes) and 0 other events lost for want of ring buffer space\n"+
		"kernel: programs egress 200000 runs at 1.2µs, ingress 200000 runs at 400ns: %dms in all, 1.5µs a call, in the traffic's own path (not in cpu above)\n"+
		"priority: background (SCHED_BATCH, niceness 19); raised to niceness 10 0 times\n", calls, r.cpuMS, r.cpuMS/2)
	if err := os.WriteFile(base+".capture", []byte(sum), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReport: three rounds of off, a, off, b, off at saturation and at
// the fixed rate. Every capture-off run is alike (the A/A test reads
// 0), capture a costs 1 % of throughput and 2 % of p99 in every round,
// capture b's rounds scatter around a median that misses the
// throughput target and meets the p99 one, its intervals spanning both.
func TestReport(t *testing.T) {
	py := peers.Tool(t, "python3")
	dir := t.TempDir()
	off := run{rps: 1000, p99: 10}
	b := map[string][]run{
		"sat":  {{rps: 1030, p99: 10, cpuMS: 600}, {rps: 970, p99: 10, cpuMS: 600}, {rps: 940, p99: 10, cpuMS: 600}},
		"rate": {{rps: 500, p99: 10.4, cpuMS: 600}, {rps: 500, p99: 11, cpuMS: 600}, {rps: 500, p99: 9.5, cpuMS: 600}},
	}
	a := map[string]run{"sat": {rps: 990, p99: 10, cpuMS: 300}, "rate": {rps: 500, p99: 10.2, cpuMS: 300}}
	for _, kind := range []string{"sat", "rate"} {
		for r := 1; r <= 3; r++ {
			for i := range 3 {
				writeRun(t, dir, kind, r, fmt.Sprintf("off%d", i), off)
			}
			writeRun(t, dir, kind, r, "a", a[kind])
			writeRun(t, dir, kind, r, "b", b[kind][r-1])
			order := "off0 a off1\noff1 b off2\n"
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("order-%s-%d", kind, r)), []byte(order), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	script := filepath.Join(peers.RepoRoot(), "scripts", "bench-capture-report.py")
	got := runReport(t, ": ratios", []want{
		{"a", "throughput loss at saturation:   1.00 %   (target <= 2 %)   MET      interval 1.00 to 1.00 % (75 %)\n"},
		{"a", "p99 increase at fixed rate:      2.00 %   (target <= 5 %)   MET      interval 2.00 to 2.00 % (75 %)\n"},
		{"a", "capture CPU per 1,000 calls:     3.00 ms  (target <= 5 ms)   MET\n"},
		{"a", "kernel programs per 1,000 calls: 1.50 ms at saturation, 1.50 ms at the fixed rate (--bpf-stats"},
		{"b", "throughput loss at saturation:   3.00 %   (target <= 2 %)   NOT MET  interval -3.00 to 6.00 % (75 %): spans the target"},
		{"b", "p99 increase at fixed rate:      4.00 %   (target <= 5 %)   MET      interval -5.00 to 10.00 % (75 %): spans the target"},
		{"b", "capture CPU per 1,000 calls:     6.00 ms  (target <= 5 ms)   NOT MET\n"},
		{"b", "kernel programs per 1,000 calls: 3.00 ms at saturation, 3.00 ms at the fixed rate (--bpf-stats"},
		{"b", "lost events:                        0     (target 0)        MET"},
	}, py, script, dir, "3", "3", "500", "off", "a", "b")
	for _, want := range []string{
		"throughput loss at saturation:   0.00 %   interval 0.00 to 0.00 % (75 %); runs 0.0 to 0.0 %",
		"p99 increase at fixed rate   :   0.00 %   interval 0.00 to 0.00 % (75 %); runs 0.0 to 0.0 %",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the A/A test: want %q in\n%s", want, got)
		}
	}
}

// want is a line a capture's section of a report must hold.
type want struct{ section, line string }

// runReport runs a report (command args) and checks each want in the
// section of its capture: from "capture NAME" and head to the next
// blank line. It returns the whole report.
func runReport(t *testing.T, head string, wants []want, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	got := string(out)
	for _, w := range wants {
		_, s, ok := strings.Cut(got, "capture "+w.section+head)
		if !ok {
			t.Fatalf("no section for capture %s:\n%s", w.section, got)
		}
		s, _, _ = strings.Cut(s, "\n\n")
		if !strings.Contains(s, w.line) {
			t.Errorf("capture %s: want %q in\n%s", w.section, w.line, s)
		}
	}
	return got
}

// TestMedianInterval holds the interval's coverage to the binomial
// law: for n rounds, [x(k), x(n+1-k)] holds the median unless at least
// n+1-k values fall on one side of it.
func TestMedianInterval(t *testing.T) {
	py := peers.Tool(t, "python3")
	code := `import sys
sys.path.insert(0, sys.argv[1])
from benchstats import median_ci
for n in (1, 2, 5, 6, 8, 10, 16, 20):
    lo, hi, conf = median_ci(list(range(1, n + 1)))
    print(n, lo, hi, "%.4f" % conf)
`
	out, err := exec.Command(py, "-c", code, filepath.Join(peers.RepoRoot(), "scripts")).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// The widest interval when no narrower one reaches 95 %; else the
	// narrowest that does: 1 - 2 P(Binomial(n, 1/2) < k).
	want := `1 1 1 0.0000
2 1 2 0.5000
5 1 5 0.9375
6 1 6 0.9688
8 1 8 0.9922
10 2 9 0.9785
16 4 13 0.9787
20 6 15 0.9586
`
	if string(out) != want {
		t.Errorf("intervals:\n%s\nwant:\n%s", out, want)
	}
}
