package peers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BuildHoptap builds the hoptap binary for a test package's TestMain and
// returns its path and a function that removes it.
func BuildHoptap() (string, func()) { return BuildCommand("hoptap") }

// BuildCommand builds cmd/<name> for a TestMain, likewise.
func BuildCommand(name string) (string, func()) {
	dir, err := os.MkdirTemp("", name+"-test")
	if err != nil {
		panic(err)
	}
	bin := filepath.Join(dir, name)
	build := exec.Command("go", "build", "-o", bin, "github.com/hoptap/hoptap/cmd/"+name)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building "+name+":", err)
		os.Exit(1)
	}
	return bin, func() { os.RemoveAll(dir) }
}

// Agree asserts that every call tshark dissects is reported by hoptap
// with the same method, status and message, and that hoptap reports no
// call tshark does not know.
func Agree(t testing.TB, ours, theirs []Call) {
	t.Helper()
	if len(theirs) == 0 {
		t.Fatal("tshark found no calls: the capture is empty or the oracle is broken")
	}
	byKey := map[string]Call{}
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
