package protobuf

import (
	"math"
	"strconv"
)

// textWriter accumulates protoc-style text. It stops growing at limit so a
// small hostile message cannot make a huge rendering (each input byte can
// become four escaped bytes plus indentation).
type textWriter struct {
	buf    []byte
	indent int
	limit  int
	over   bool
}

func newTextWriter() *textWriter { return &textWriter{limit: MaxTextSize} }

func (w *textWriter) full() bool { return w.over }

// cut enforces the limit after an append.
func (w *textWriter) cut() {
	if len(w.buf) > w.limit {
		w.buf = w.buf[:w.limit]
		w.over = true
	}
}

func (w *textWriter) startLine() {
	for i := 0; i < w.indent; i++ {
		w.buf = append(w.buf, ' ', ' ')
	}
}

// open prints "name {" and indents.
func (w *textWriter) open(name string) {
	if w.over {
		return
	}
	w.startLine()
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, " {\n"...)
	w.indent++
	w.cut()
}

func (w *textWriter) close() {
	w.indent--
	if w.over {
		return
	}
	w.startLine()
	w.buf = append(w.buf, "}\n"...)
	w.cut()
}

// field prints "name: value" where value is already formatted.
func (w *textWriter) field(name, value string) {
	if w.over {
		return
	}
	w.startLine()
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, ": "...)
	w.buf = append(w.buf, value...)
	w.buf = append(w.buf, '\n')
	w.cut()
}

// quoted prints `name: "escaped"`; escaping is done in place, checking the
// limit as it goes so a 4 MiB string does not first become 16 MiB.
func (w *textWriter) quoted(name string, b []byte) {
	if w.over {
		return
	}
	w.startLine()
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, ": \""...)
	for i, c := range b {
		w.buf = appendCEscaped(w.buf, c)
		if i&1023 == 0 && len(w.buf) > w.limit {
			w.cut()
			return
		}
	}
	w.buf = append(w.buf, "\"\n"...)
	w.cut()
}

// appendCEscaped escapes one byte as protobuf's C++ CEscape does: the six
// named escapes, printable ASCII as is, anything else as three-digit octal.
func appendCEscaped(dst []byte, c byte) []byte {
	switch c {
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	case '"':
		return append(dst, '\\', '"')
	case '\'':
		return append(dst, '\\', '\'')
	case '\\':
		return append(dst, '\\', '\\')
	}
	if c >= 0x20 && c < 0x7f {
		return append(dst, c)
	}
	return append(dst, '\\', '0'+c>>6, '0'+(c>>3)&7, '0'+c&7)
}

// hexPadded formats v as protoc prints fixed-width unknown fields: 0x and
// exactly digits lowercase hex digits.
func hexPadded(v uint64, digits int) string {
	h := strconv.FormatUint(v, 16)
	pad := digits - len(h)
	if pad < 0 {
		pad = 0
	}
	b := make([]byte, 0, 2+pad+len(h))
	b = append(b, '0', 'x')
	for i := 0; i < pad; i++ {
		b = append(b, '0')
	}
	return string(append(b, h...))
}

// formatDouble matches protobuf C++ SimpleDtoa: %.15g, or %.17g when 15
// digits do not round-trip. Go's 'g' with an explicit precision follows C's
// %g rules (exponent form when exp < -4 or exp >= precision).
func formatDouble(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	case math.IsNaN(v):
		return "nan"
	}
	s := strconv.FormatFloat(v, 'g', 15, 64)
	if p, err := strconv.ParseFloat(s, 64); err != nil || p != v {
		s = strconv.FormatFloat(v, 'g', 17, 64)
	}
	return s
}

// formatFloat matches protobuf C++ SimpleFtoa: %.6g, else %.9g.
func formatFloat(v float32) string {
	f := float64(v)
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	s := strconv.FormatFloat(f, 'g', 6, 64)
	if p, err := strconv.ParseFloat(s, 32); err != nil || float32(p) != v {
		s = strconv.FormatFloat(f, 'g', 9, 64)
	}
	return s
}
