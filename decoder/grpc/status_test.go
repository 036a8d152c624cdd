package grpc

import (
	"math"
	"testing"
)

func TestCodeFromHTTP(t *testing.T) {
	// gRPC's "HTTP to gRPC Status Code Mapping" (doc/http-grpc-status-mapping.md).
	tests := map[int]int{
		400: CodeInternal,
		401: CodeUnauthenticated,
		403: CodePermissionDenied,
		404: CodeUnimplemented,
		429: CodeUnavailable,
		502: CodeUnavailable,
		503: CodeUnavailable,
		504: CodeUnavailable,
		200: CodeUnknown,
		206: CodeUnknown,
		301: CodeUnknown,
		405: CodeUnknown,
		500: CodeUnknown,
		501: CodeUnknown,
		599: CodeUnknown,
		0:   CodeUnknown,
	}
	for status, want := range tests {
		if got := CodeFromHTTP(status); got != want {
			t.Errorf("CodeFromHTTP(%d) = %d (%s), want %d (%s)", status, got, CodeName(got), want, CodeName(want))
		}
	}
	if CodeInternal != 13 || CodeUnauthenticated != 16 || CodePermissionDenied != 7 || CodeUnimplemented != 12 ||
		CodeUnavailable != 14 || CodeUnknown != 2 {
		t.Error("code constants differ from the gRPC spec")
	}
}

func TestCodeNames(t *testing.T) {
	want := []string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
		"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
		"OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}
	for code, name := range want {
		if got := CodeName(code); got != name {
			t.Errorf("CodeName(%d) = %q, want %q", code, got, name)
		}
		for _, s := range []string{name, toLower(name)} {
			if c, ok := CodeFromName(s); !ok || c != code {
				t.Errorf("CodeFromName(%q) = %d, %v", s, c, ok)
			}
		}
	}
	if got := CodeName(17); got != "CODE_17" {
		t.Errorf("CodeName(17) = %q", got)
	}
	if got := CodeName(-1); got != "CODE_-1" {
		t.Errorf("CodeName(-1) = %q", got)
	}
	for _, s := range []string{"14", "0", "99"} {
		if _, ok := CodeFromName(s); !ok {
			t.Errorf("CodeFromName(%q) not ok", s)
		}
	}
	for _, s := range []string{"", "-1", "UNAVAILABLEX", "unavail", "OK "} {
		if c, ok := CodeFromName(s); ok {
			t.Errorf("CodeFromName(%q) = %d, ok", s, c)
		}
	}
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func TestPercentDecode(t *testing.T) {
	tests := []struct{ in, want string }{
		// As grpc-go encodes them (internal/grpcutil/encode_duration and
		// status message tests): printable ASCII but '%' passes through.
		{"", ""},
		{"Hello", "Hello"},
		{"my favorite character is %25", "my favorite character is %"},
		{"%00", "\x00"},
		{"%E7%B3%BB%E7%BB%9F", "系统"},
		{"%e7%b3%bb%e7%bb%9f", "系统"},
		{"%C3%BF", "\u00ff"},
		{"H%61o", "Hao"},
		{"%0A%0d", "\n\r"},
		{"grpc: received message larger than max (4194305 vs. 4194304)", "grpc: received message larger than max (4194305 vs. 4194304)"},
		// Invalid escapes are kept as they are.
		{"%", "%"},
		{"%%", "%%"},
		{"%%%", "%%%"},
		{"H%6", "H%6"},
		{"%G0", "%G0"},
		{"%0G", "%0G"},
		{"100%", "100%"},
		{"%4", "%4"},
		{"%%41", "%A"},
		{"%41%", "A%"},
		{"%4%41", "%4A"},
	}
	for _, tt := range tests {
		if got := PercentDecode(tt.in); got != tt.want {
			t.Errorf("PercentDecode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseTimeout(t *testing.T) {
	tests := []struct {
		in   string
		ns   int64
		okay bool
	}{
		{"1H", 3600e9, true},
		{"2M", 120e9, true},
		{"5S", 5e9, true},
		{"100m", 100e6, true},
		{"99m", 99e6, true},
		{"250u", 250e3, true},
		{"7n", 7, true},
		{"0S", 0, true},
		{"12345678n", 12345678, true},
		{"99999999S", 99999999e9, true},
		// Far beyond int64 nanoseconds: as long as can be said.
		{"99999999H", math.MaxInt64, true},
		{"3000000H", math.MaxInt64, true},
		{"", 0, false},
		{"S", 0, false},
		{"5", 0, false},
		{"5s", 0, false},
		{"5x", 0, false},
		{"123456789S", 0, false}, // at most 8 digits
		{"-1S", 0, false},
		{"+1S", 0, false},
		{" 1S", 0, false},
		{"1.5S", 0, false},
		{"0x1S", 0, false},
	}
	for _, tt := range tests {
		ns, ok := ParseTimeout(tt.in)
		if ns != tt.ns || ok != tt.okay {
			t.Errorf("ParseTimeout(%q) = %d, %v; want %d, %v", tt.in, ns, ok, tt.ns, tt.okay)
		}
	}
}
