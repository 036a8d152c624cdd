// Package oracle checks hoptap against Wireshark on traffic between real
// gRPC peers that nobody here wrote: for every call, the method, status
// and message hoptap reports must equal what tshark dissects from the
// same file.
package oracle

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hoptap/hoptap/test/peers"
)

var hoptap string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hoptap-oracle")
	if err != nil {
		panic(err)
	}
	hoptap = filepath.Join(dir, "hoptap")
	build := exec.Command("go", "build", "-o", hoptap, "github.com/hoptap/hoptap/cmd/hoptap")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building hoptap:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func readJSON(t *testing.T, file string, extra ...string) []peers.Call {
	t.Helper()
	out := peers.Run(t, hoptap, append([]string{"read", "-q", "-o", "json"}, append(extra, file)...)...)
	return peers.HoptapCalls(t, out)
}

// agree asserts that every call tshark dissects is reported by hoptap
// with the same method, status and message, and that hoptap reports no
// call tshark does not know.
func agree(t *testing.T, ours, theirs []peers.Call) {
	t.Helper()
	if len(theirs) == 0 {
		t.Fatal("tshark found no calls: the capture is empty or the oracle is broken")
	}
	byKey := map[string]peers.Call{}
	for _, c := range ours {
		if _, dup := byKey[c.Key()]; dup {
			t.Errorf("hoptap reports call %s twice", c.Key())
		}
		byKey[c.Key()] = c
	}
	eq := func(a, b *string) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
	eqi := func(a, b *int) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
	for _, w := range theirs {
		g, ok := byKey[w.Key()]
		if !ok {
			t.Errorf("tshark: %v\nhoptap: no such call", w)
			continue
		}
		delete(byKey, w.Key())
		if !eq(g.Method, w.Method) || !eqi(g.Status, w.Status) || !eq(g.Message, w.Message) {
			t.Errorf("disagreement\ntshark: %v\nhoptap: %v", w, g)
		}
	}
	for _, g := range byKey {
		t.Errorf("hoptap reports a call tshark does not: %v", g)
	}
	t.Logf("%d calls agree", len(theirs))
}

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
