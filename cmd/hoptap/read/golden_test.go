package read

import (
	"github.com/hoptap/hoptap/cmd/hoptap/view"

	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files from the current output")

// goldenModes are the outputs checked for every capture in testdata/golden.
var goldenModes = []struct {
	name string
	opts options
}{
	{"text", options{Options: view.Options{Output: "text"}}},
	{"verbose", options{Options: view.Options{Output: "text", Verbose: true}}},
	{"calls", options{Options: view.Options{Output: "text", Calls: true}}},
	{"json", options{Options: view.Options{Output: "json"}}},
}

// TestGolden pairs each capture in testdata/golden with the exact output
// expected for it, in every mode, stderr included.
func TestGolden(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "testdata", "golden")
	files, err := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden captures in %s", dir)
	}
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		for _, m := range goldenModes {
			t.Run(base+"/"+m.name, func(t *testing.T) {
				var out, errb bytes.Buffer
				o := m.opts
				err := run(&out, &errb, []string{f}, &o)
				if err != nil {
					errb.WriteString("error: " + err.Error() + "\n")
				}
				got := out.String()
				if errb.Len() > 0 {
					got += "# stderr\n" + errb.String()
				}
				want := filepath.Join(dir, base+"."+m.name+".golden")
				if *update {
					if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				b, err := os.ReadFile(want)
				if err != nil {
					t.Fatalf("%v (run `go test ./cmd/hoptap/read -update` to create it)", err)
				}
				if got != string(b) {
					t.Errorf("output differs from %s; got:\n%s", want, firstDiff(string(b), got))
				}
			})
		}
	}
}

// firstDiff shows the first differing line with some context.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + itoa(i+1) + "\nwant: " + w + "\ngot:  " + g
		}
	}
	return ""
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			break
		}
	}
	return string(b[n:])
}
