// Package grpc turns HTTP/2 streams into gRPC calls: request and response
// metadata, length-prefixed messages split across DATA frames, and the
// final status, whether it came in trailers, a trailers-only response, a
// non-200 HTTP status, a RST_STREAM, a GOAWAY or a closed connection.
package grpc

import (
	"math"
	"strconv"
)

var codeNames = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
	"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
}

// Status codes used by the HTTP mapping.
const (
	CodeUnknown          = 2
	CodePermissionDenied = 7
	CodeUnimplemented    = 12
	CodeInternal         = 13
	CodeUnavailable      = 14
	CodeUnauthenticated  = 16
)

// CodeName returns the canonical name of a gRPC status code.
func CodeName(c int) string {
	if c >= 0 && c < len(codeNames) {
		return codeNames[c]
	}
	return "CODE_" + strconv.Itoa(c)
}

// CodeFromName is the inverse of CodeName, accepting names in any case and
// numbers; ok is false for anything else.
func CodeFromName(s string) (int, bool) {
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return n, true
	}
	for i, n := range codeNames {
		if equalFold(n, s) {
			return i, true
		}
	}
	return 0, false
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// CodeFromHTTP maps an HTTP status of a response without grpc-status to a
// gRPC code, as gRPC's "HTTP to gRPC Status Code Mapping" specifies.
func CodeFromHTTP(status int) int {
	switch status {
	case 400:
		return CodeInternal
	case 401:
		return CodeUnauthenticated
	case 403:
		return CodePermissionDenied
	case 404:
		return CodeUnimplemented
	case 429, 502, 503, 504:
		return CodeUnavailable
	}
	return CodeUnknown
}

// PercentDecode decodes grpc-message. Invalid escapes are kept as they
// are, as the gRPC spec asks: never throw the message away.
func PercentDecode(s string) string {
	i := 0
	for i < len(s) && s[i] != '%' {
		i++
	}
	if i == len(s) {
		return s
	}
	out := make([]byte, 0, len(s))
	out = append(out, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, c)
	}
	return string(out)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// ParseTimeout decodes a grpc-timeout value ("100m", "5S", …) into
// nanoseconds; ok is false when the value is malformed.
func ParseTimeout(s string) (ns int64, ok bool) {
	if len(s) < 2 || len(s) > 9 {
		return 0, false
	}
	var n int64
	for _, c := range []byte(s[:len(s)-1]) {
		if c < '0' || c > '9' { // no sign, no space: ASCII digits only
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	var unit int64
	switch s[len(s)-1] {
	case 'H':
		unit = 3600e9
	case 'M':
		unit = 60e9
	case 'S':
		unit = 1e9
	case 'm':
		unit = 1e6
	case 'u':
		unit = 1e3
	case 'n':
		unit = 1
	default:
		return 0, false
	}
	if n > math.MaxInt64/unit {
		return math.MaxInt64, true // 8 digits of hours overflow; gRPC caps them too
	}
	return n * unit, true
}
