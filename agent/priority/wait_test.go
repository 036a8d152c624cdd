package priority

import (
	"os"
	"strconv"
	"testing"
	"time"
)

func BenchmarkWaitReader(b *testing.B) {
	r := waitReader{dir: "/proc/" + strconv.Itoa(os.Getpid()) + "/task"}
	for b.Loop() {
		if _, _, err := r.times(time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWaitReader: the threads' run time, read from files kept open,
// grows as this process runs, and a thread that ends is dropped.
func TestWaitReader(t *testing.T) {
	r := waitReader{dir: "/proc/" + strconv.Itoa(os.Getpid()) + "/task"}
	defer r.close()
	run0, _, err := r.times(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if run0 <= 0 || len(r.tasks) == 0 {
		t.Fatalf("run %s over %d threads: want some", run0, len(r.tasks))
	}
	for start := time.Now(); time.Since(start) < 20*time.Millisecond; {
	}
	run1, _, err := r.times(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if run1 <= run0 {
		t.Errorf("run %s after spinning, %s before: the files were not read again", run1, run0)
	}
	r.tasks["999999999"] = -1 // a thread gone: its read fails
	if _, _, err := r.times(time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.tasks["999999999"]; ok || !r.stalled {
		t.Error("a thread whose file cannot be read is kept")
	}
}

func TestLeadingInt(t *testing.T) {
	for _, c := range []struct {
		in   string
		v    int64
		rest string
		ok   bool
	}{{"123 45 6\n", 123, " 45 6\n", true}, {" 45 6\n", 45, " 6\n", true}, {"\n", 0, "\n", false}, {"", 0, "", false},
		{"99999999999999999999 1", 0, "", false}, {"9223372036854775799", 9223372036854775799, "", true}} {
		v, rest, ok := leadingInt([]byte(c.in))
		if v != c.v || string(rest) != c.rest || ok != c.ok {
			t.Errorf("leadingInt(%q) = %d, %q, %v; want %d, %q, %v", c.in, v, rest, ok, c.v, c.rest, c.ok)
		}
	}
}
