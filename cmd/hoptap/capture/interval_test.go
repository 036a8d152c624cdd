package capture

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

type intervalCase struct {
	name   string
	o      options
	stdout io.Writer
	want   time.Duration
}

func TestPollInterval(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	cases := []intervalCase{
		{"pipe", options{}, w, unwatchedInterval},
		{"not a file", options{}, &bytes.Buffer{}, unwatchedInterval},
		{"pcapng stream", options{write: "-"}, w, watchedInterval},
		{"pcapng file", options{write: "out.pcapng"}, w, unwatchedInterval},
		{"-c into a file", options{write: "out.pcapng", count: 5}, w, watchedInterval},
		{"flag", options{update: 40 * time.Millisecond}, w, 40 * time.Millisecond},
		{"flag over -w -", options{write: "-", update: 2 * time.Second}, w, 2 * time.Second},
	}
	// The master side of a pseudo-terminal answers as a terminal does.
	if pt, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0); err == nil {
		defer pt.Close()
		cases = append(cases, intervalCase{"terminal", options{}, pt, watchedInterval})
	} else {
		t.Logf("no terminal case: %v", err)
	}
	for _, c := range cases {
		got, err := c.o.pollInterval(c.stdout)
		if err != nil || got != c.want {
			t.Errorf("%s: pollInterval = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	for _, bad := range []time.Duration{time.Millisecond, -time.Second, 6 * time.Second} {
		o := options{update: bad}
		if _, err := o.pollInterval(w); err == nil || !strings.Contains(err.Error(), "--update-interval") {
			t.Errorf("--update-interval %v: err = %v, want one naming the flag", bad, err)
		}
	}
}
