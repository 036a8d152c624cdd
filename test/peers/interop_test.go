package peers

import (
	"errors"
	"testing"
)

// TestOnceMore: only cancel_after_begin's lost race is run again, once.
func TestOnceMore(t *testing.T) {
	lost := []byte("FATAL: [interop] CloseAndRecv() got error code 0, want 1")
	for _, c := range []struct {
		name  string
		fails int    // tries that fail before one passes
		out   []byte // what a failed try prints
		runs  int
		again bool
		ok    bool
	}{
		{"cancel_after_begin", 1, lost, 2, true, true},
		{"cancel_after_begin", 2, lost, 2, true, false},
		{"cancel_after_begin", 1, []byte("other failure"), 1, false, false},
		{"empty_unary", 1, lost, 1, false, false},
		{"empty_unary", 0, nil, 1, false, true},
	} {
		runs := 0
		_, again, err := OnceMore(t, c.name, func() ([]byte, error) {
			runs++
			if runs <= c.fails {
				return c.out, errors.New("exit status 1")
			}
			return nil, nil
		})
		if runs != c.runs || again != c.again || (err == nil) != c.ok {
			t.Errorf("%s failing %d times with %q: %d runs, again %v, err %v", c.name, c.fails, c.out, runs, again, err)
		}
	}
}
