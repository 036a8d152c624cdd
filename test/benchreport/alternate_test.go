package benchreport

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoptap/hoptap/test/peers"
)

// turn is how ghz's calls ran in one turn of an alternating capture:
// completions a second, and the latency of the slowest 2 % (the rest
// take 1 ms), which is the turn's p99.
type turn struct {
	rate   int
	slowMS float64
}

// writeAlternating writes a ghz report whose every call is listed
// (details) over turns of a second, on and off by turns from on, and
// the capture's standard error with the switches and its summary. The
// completions of a turn fall at (j+1/4)/rate seconds into it, clear of
// the 0.3 s settle boundary. One call fails mid-run, and one in the
// run's last second, as ghz fails those in flight when it ends a run.
func writeAlternating(t *testing.T, dir, kind, cfg string, on, off turn) {
	t.Helper()
	base := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	const turns = 12
	var details []map[string]any
	var switches strings.Builder
	for k := range turns {
		t0 := base.Add(time.Duration(k) * time.Second)
		state, tr := "on", on
		if k%2 == 1 {
			state, tr = "off", off
		}
		fmt.Fprintf(&switches, "alternate: %s %d\n", state, t0.UnixNano())
		for j := range tr.rate {
			lat := time.Millisecond
			if j%50 == 49 {
				lat = time.Duration(tr.slowMS * float64(time.Millisecond))
			}
			end := t0.Add(time.Duration((float64(j) + 0.25) / float64(tr.rate) * float64(time.Second)))
			status := "OK"
			if (k == 5 && j == 100) || (k == turns-1 && j == tr.rate-1) {
				status = "Unavailable"
			}
			details = append(details, map[string]any{
				"timestamp": end.Add(-lat).Format(time.RFC3339Nano), "latency": lat.Nanoseconds(), "status": status,
			})
		}
	}
	fmt.Fprintf(&switches, "alternate: on %d\n", base.Add(turns*time.Second).UnixNano())
	b, err := json.Marshal(map[string]any{"details": details})
	if err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, fmt.Sprintf("alt-%s-%s-1", kind, cfg))
	capture := filepath.Join(dir, fmt.Sprintf("alt-%s-%s.capture", kind, cfg))
	sum := "capture: 50000 packets in 12.0s (50000 egress, 0 ingress; 0 seen at both ends), 6000 calls, 0 lost events, 120 TCP gaps, cpu 30ms (+50ms to start)\n" +
		"kernel: 50000 packets copied, 0 lost (0 bytes) and 0 other events lost for want of ring buffer space\n"
	for path, text := range map[string]string{run + ".json": string(b), capture: switches.String() + sum} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(peers.Tool(t, "python3"), alternateScript(), "windows", run+".json", capture, "0.3").Output()
	if err != nil {
		t.Fatalf("windows: %v", err)
	}
	if err := os.WriteFile(run+".windows", out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func alternateScript() string {
	return filepath.Join(peers.RepoRoot(), "scripts", "bench-alternate.py")
}

// TestAlternateReport: capture a costs 1 % of throughput at saturation
// and 4 % of p99 at the fixed rate in every turn, capture b 4 % and
// 10 %; every off turn is alike, so the A/A test reads 0. The turns
// within a second of the run's start or half a second of its end are
// left out, and only the call that failed mid-run counts. Capture
// a-niced's turns are not a's.
func TestAlternateReport(t *testing.T) {
	dir := t.TempDir()
	off := turn{rate: 1000, slowMS: 5}
	for _, kind := range []string{"sat", "rate"} {
		writeAlternating(t, dir, kind, "a", turn{rate: 990, slowMS: 5.2}, off)
		writeAlternating(t, dir, kind, "b", turn{rate: 960, slowMS: 5.5}, off)
		// Its files' names start with a's: they must not count as a's.
		writeAlternating(t, dir, kind, "a-niced", turn{rate: 900, slowMS: 9}, off)
	}
	w, err := os.ReadFile(filepath.Join(dir, "alt-sat-a-1.windows"))
	if err != nil {
		t.Fatal(err)
	}
	// Turns 1 to 10 of 0 to 11: turn 0 starts with the run, turn 11 ends
	// with it; and the failed call.
	if n := strings.Count(string(w), `"state"`); n != 10 {
		t.Errorf("%d turns kept, want 10:\n%s", n, w)
	}
	got := runReport(t, ", alternating:", []want{
		{"a", "saturation calls/s 0.990, p50 1.000, p99 1.040; fixed 500/s calls/s 0.990, p50 1.000, p99 1.040"},
		{"a", "throughput loss at saturation:   1.00 %   (target <= 2 %)   MET      interval 1.00 to 1.00 %"},
		{"a", "p99 increase at fixed rate:      4.00 %   (target <= 5 %)   MET      interval 4.00 to 4.00 %"},
		{"a", "[4 turns]"},
		{"a", "lost events:                        0     (target 0)        MET"},
		{"a", "capture CPU per 1,000 calls decoded: 5.00 ms at saturation, 5.00 ms at the fixed rate"},
		{"a", "A/A, off against off: throughput loss at saturation:   0.00 %"},
		{"a", "A/A, off against off: p99 increase at fixed rate   :   0.00 %"},
		{"b", "throughput loss at saturation:   4.00 %   (target <= 2 %)   NOT MET  interval 4.00 to 4.00 %"},
		{"b", "p99 increase at fixed rate:     10.00 %   (target <= 5 %)   NOT MET  interval 10.00 to 10.00 %"},
	}, peers.Tool(t, "python3"), alternateScript(), "report", dir, "500", "a", "b")
	if !strings.Contains(got, "failed calls (alternating runs): 4\n") {
		t.Errorf("want the 4 calls failed mid-run (one a run, two runs a capture reported) counted:\n%s", got)
	}
}
