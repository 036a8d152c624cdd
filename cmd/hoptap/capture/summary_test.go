package capture

import (
	"strings"
	"testing"

	"github.com/hoptap/hoptap/agent/capture"
	"github.com/hoptap/hoptap/bpf"
)

// TestSummaryCountReached: after -c the kernel's twin counter covers
// packets past those taken, so the packets line claims no count of
// them, and the kernel line says what its count covers.
func TestSummaryCountReached(t *testing.T) {
	for _, tc := range []struct {
		name        string
		sum         capture.Summary
		both, until bool
	}{
		{"to the end", capture.Summary{Packets: 678, Egress: 678, BothEnds: 678, Kernel: bpf.Counters{Twins: 678}}, true, false},
		{"stopped at -c", capture.Summary{Packets: 5, Egress: 5, CountReached: true, Kernel: bpf.Counters{Twins: 335}}, false, true},
		// -w: the twins are copied, among the packets taken.
		{"stopped at -c, twins copied", capture.Summary{Packets: 5, Egress: 3, Ingress: 2, BothEnds: 2, CountReached: true}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.sum
			var out strings.Builder
			printSummary(&out, &s)
			lines := out.String()
			first, _, _ := strings.Cut(lines, "\n")
			if got := strings.Contains(first, "seen at both ends"); got != tc.both {
				t.Errorf("packets line %q: counts both ends %v, want %v", first, got, tc.both)
			}
			if got := strings.Contains(lines, "until the programs detached after the -c limit"); got != tc.until {
				t.Errorf("summary says the kernel's count runs past -c: %v, want %v\n%s", got, tc.until, lines)
			}
		})
	}
}
