package render

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestAppendStringMatchesEncodingJSON checks the JSON string writer,
// eight-byte plain runs included, against encoding/json (without its HTML
// escaping): every single byte value at every offset of a 24-byte string,
// then random strings of mostly plain bytes.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	want := func(s string) string {
		var sb strings.Builder
		enc := json.NewEncoder(&sb)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSuffix(sb.String(), "\n")
	}
	check := func(s string) {
		t.Helper()
		if got, w := string(appendString(nil, s)), want(s); got != w {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, w)
		}
	}
	for _, s := range []string{"", "grpc-go/1.85.0", "a\u2028b\u2029c", "caf\u00e9 au lait, s'il vous pla\u00eet", "\xff\xfe ok", "ok \xe2\x80", "\"quoted\\path\"\n\r\t"} {
		check(s)
	}
	base := []byte("abcdefghijklmnopqrstuvwx")
	for c := range 256 {
		for at := range base {
			s := append([]byte(nil), base...)
			s[at] = byte(c)
			check(string(s))
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(0x20 + r.IntN(0x5f))
			if r.IntN(30) == 0 {
				b[i] = byte(r.IntN(256))
			}
		}
		check(string(b))
	}
}
