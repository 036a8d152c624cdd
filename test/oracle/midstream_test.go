package oracle

import (
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hoptap/hoptap/test/peers"
)

// TestMidStreamNeverWrong records one long-lived channel, Python's C-core
// client making 300 sequential unary calls to the Python server, with
// method names and metadata that keep both HPACK dynamic tables changing
// (the client's 4096-byte table turns over several times) and some
// errors. A second file keeps only the packets from the middle of the
// connection on, as if the capture had started there: no SYN, no
// preface, no SETTINGS, none of the header blocks that filled the
// tables.
//
// On the full file hoptap must agree with tshark. On the partial file
// every value hoptap reports must equal the full file's for the same
// call: unknown (null) is allowed, wrong is not. The test also proves it
// exercises both paths: calls whose values hoptap cannot know (HPACK
// entries from before the cut), and calls whose values it can only know
// by learning entries inserted after the cut.
func TestMidStreamNeverWrong(t *testing.T) {
	tshark := peers.Tool(t, "tshark")
	port := peers.PyServer(t)
	const n = 300
	full := peers.Record(t, []int{port}, func() {
		peers.PyClient(t, port, "many", strconv.Itoa(n))
	})
	peers.KeepOnFailure(t, full)
	conn := peers.PacketsOnPort(t, full, uint16(port))
	if len(conn) < 3*n {
		t.Fatalf("only %d packets for %d calls", len(conn), n)
	}
	cut := conn[len(conn)/2]
	part := peers.DropBefore(t, full, cut)
	peers.KeepOnFailure(t, part)
	t.Logf("full capture: %d packets on the connection; partial capture starts at packet %d", len(conn), cut)

	// The full file: hoptap agrees with tshark, and sees every call.
	fullCalls := readJSON(t, full)
	theirs := peers.TsharkCalls(t, tshark, full, []int{port})
	agree(t, fullCalls, theirs)
	if len(theirs) != n {
		t.Errorf("tshark sees %d calls in the full capture, want %d", len(theirs), n)
	}
	wire := map[string]peers.Call{} // tshark's view, with HPACK representations
	for _, c := range theirs {
		wire[c.Key()] = c
	}
	truth := map[string]peers.Call{}
	for _, c := range fullCalls {
		truth[c.Key()] = c
	}

	// The partial file: never a wrong value.
	partCalls := readJSON(t, part)
	sort.Slice(partCalls, func(i, j int) bool { return partCalls[i].Stream < partCalls[j].Stream })
	if len(partCalls) < n/3 {
		t.Fatalf("hoptap sees only %d calls in the second half of %d", len(partCalls), n)
	}
	var (
		unknownMethod, unknownStatus, unknownMessage int
		knownMethod, knownStatus, allKnown           int
		learnedMethod, learnedStatus                 int
		firstUnknown, lastUnknown, firstLearned      uint32
	)
	str := func(p *string) string {
		if p == nil {
			return "null"
		}
		return strconv.Quote(*p)
	}
	for _, g := range partCalls {
		w, ok := truth[g.Key()]
		if !ok {
			t.Errorf("WRONG: the partial capture has a call the full one does not: %v", g)
			continue
		}
		if g.Method != nil && (w.Method == nil || *g.Method != *w.Method) {
			t.Errorf("WRONG method: stream %d: partial %s, full %s", g.Stream, str(g.Method), str(w.Method))
		}
		if g.Status != nil && (w.Status == nil || *g.Status != *w.Status) {
			t.Errorf("WRONG grpc_status: stream %d: partial %s, full %s", g.Stream, statusString(g.Status), statusString(w.Status))
		}
		if g.Message != nil && (w.Message == nil || *g.Message != *w.Message) {
			t.Errorf("WRONG grpc_message: stream %d: partial %s, full %s", g.Stream, str(g.Message), str(w.Message))
		}
		// An unknown grpc-status means a header of the response is
		// unknown, name and all; that header could as well be
		// grpc-message, so its absence ("") cannot be known either.
		if g.Status == nil && g.Message != nil && *g.Message == "" {
			t.Errorf("GUESS: stream %d: grpc_status unknown but grpc_message %s (the full file has %s)", g.Stream, str(g.Message), str(w.Message))
		}

		if g.Method == nil || g.Status == nil || g.Message == nil {
			if firstUnknown == 0 {
				firstUnknown = g.Stream
			}
			lastUnknown = g.Stream
		}
		if g.Method == nil {
			unknownMethod++
		} else {
			knownMethod++
			if strings.HasPrefix(wire[g.Key()].MethodRepr, "Indexed Header Field") {
				// Sent as a reference to the dynamic table, yet known:
				// the entry was learned after the capture began.
				learnedMethod++
				if firstLearned == 0 {
					firstLearned = g.Stream
				}
			}
		}
		if g.Status == nil {
			unknownStatus++
		} else {
			knownStatus++
			if strings.HasPrefix(wire[g.Key()].StatusRepr, "Indexed Header Field") {
				learnedStatus++
			}
		}
		if g.Message == nil {
			unknownMessage++
		}
		if g.Method != nil && g.Status != nil && g.Message != nil {
			allKnown++
		}
	}
	t.Logf("partial capture: %d calls (streams %d..%d); method known %d, unknown %d; grpc_status known %d, unknown %d; grpc_message unknown %d; all three known %d",
		len(partCalls), partCalls[0].Stream, partCalls[len(partCalls)-1].Stream,
		knownMethod, unknownMethod, knownStatus, unknownStatus, unknownMessage, allKnown)
	t.Logf("learned after the cut (sent as an index, known anyway): %d methods, %d statuses; first unknown at stream %d, last at %d; first learned method at stream %d",
		learnedMethod, learnedStatus, firstUnknown, lastUnknown, firstLearned)
	if unknownMethod == 0 || unknownStatus == 0 {
		t.Errorf("no call with an unknown method or status in the partial capture: the test does not reach the unknown path")
	}
	if learnedMethod == 0 {
		t.Errorf("no method known through a dynamic table entry learned after the cut: learning does not work")
	}
	if learnedStatus == 0 {
		t.Errorf("no grpc-status known through a dynamic table entry learned after the cut: learning does not work")
	}
	if firstUnknown == 0 || firstLearned == 0 || firstUnknown > firstLearned {
		t.Errorf("want unknown values before learned ones: first unknown at stream %d, first learned at %d", firstUnknown, firstLearned)
	}
}
