// Package oracle checks hoptap against Wireshark on traffic between real
// gRPC peers that nobody here wrote: for every call, the method, status
// and message hoptap reports must equal what tshark dissects from the
// same file.
package oracle

import (
	"os"
	"testing"

	"github.com/hoptap/hoptap/test/peers"
)

var hoptap string

func TestMain(m *testing.M) {
	bin, cleanup := peers.BuildHoptap()
	hoptap = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}

func readJSON(t *testing.T, file string, extra ...string) []peers.Call {
	t.Helper()
	out := peers.Run(t, hoptap, append([]string{"read", "-q", "-o", "json"}, append(extra, file)...)...)
	return peers.HoptapCalls(t, out)
}

func agree(t *testing.T, ours, theirs []peers.Call) { peers.Agree(t, ours, theirs) }

func TestInteropAgreesWithTshark(t *testing.T) {
	tshark := peers.Tool(t, "tshark")
	port := peers.FreePort(t)
	peers.InteropServer(t, port)
	file := peers.Record(t, []int{port}, func() {
		peers.InteropClient(t, "127.0.0.1", port, peers.InteropCases...)
	})
	peers.KeepOnFailure(t, file)
	agree(t, readJSON(t, file), peers.TsharkCalls(t, tshark, file, []int{port}))
}
