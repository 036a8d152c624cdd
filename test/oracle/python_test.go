package oracle

import (
	"testing"

	"github.com/hoptap/hoptap/test/peers"
)

// TestPythonAgreesWithTshark records a second gRPC implementation, Python's
// C-core gRPC (Debian's python3-grpcio), client and server, on one channel:
// unary with custom metadata (a -bin key among it) both ways, server, client
// and bidirectional streaming, errors whose messages need percent-encoding
// (non-ASCII, newlines, '%') sent trailers-only and after headers,
// unimplemented methods and services, a deadline that expires while the
// server waits, and a stream the client cancels. hoptap must agree with
// tshark on every call.
func TestPythonAgreesWithTshark(t *testing.T) {
	tshark := peers.Tool(t, "tshark")
	port := peers.PyServer(t)
	file := peers.Record(t, []int{port}, func() {
		peers.PyClient(t, port, "basic")
	})
	peers.KeepOnFailure(t, file)
	ours := readJSON(t, file)
	theirs := peers.TsharkCalls(t, tshark, file, []int{port})
	agree(t, ours, theirs)

	// The capture holds what the test claims to cover, as tshark sees it.
	statuses := map[int]bool{}
	messages := map[string]bool{}
	for _, c := range theirs {
		if c.Status != nil {
			statuses[*c.Status] = true
		}
		if c.Message != nil {
			messages[*c.Message] = true
		}
	}
	for _, s := range []int{0, 3, 5, 7, 9, 12, 13} {
		if !statuses[s] {
			t.Errorf("tshark shows no call with grpc-status %d: the scenario did not run as meant", s)
		}
	}
	for _, m := range []string{
		"\u00fcnic\u00f8de \u2603 \U0001F600 fehlgeschlagen",
		"first line\nsecond line\r\n\ttabbed",
		"100% broken: %41 is not A, %%, %zz, trailing %",
	} {
		if !messages[m] {
			t.Errorf("tshark shows no call with grpc-message %q", m)
		}
	}
	ends := map[string]int{}
	for _, c := range ours {
		ends[c.End]++
	}
	t.Logf("how hoptap saw the calls end: %v", ends)
	if ends["trailers_only"] == 0 {
		t.Errorf("no trailers-only response in the capture (hoptap's view): %v", ends)
	}
	if ends["rst_stream"] == 0 {
		t.Errorf("no call ended by RST_STREAM (the cancel) in the capture (hoptap's view): %v", ends)
	}
}
