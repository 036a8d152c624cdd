package tlshello

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// feed runs data through a fresh Stream in pieces produced by split and
// returns the events, the stream and the error.
func feed(data []byte, split func(rest int) int) ([]Event, *Stream, error) {
	s := &Stream{}
	var evs []Event
	emit := func(e Event) { evs = append(evs, e) }
	for len(data) > 0 {
		n := min(max(split(len(data)), 1), len(data))
		if err := s.Feed(data[:n], emit); err != nil {
			return evs, s, err
		}
		data = data[n:]
	}
	return evs, s, nil
}

func whole(rest int) int { return rest }

func randomSplit(seed uint64, maxChunk int) func(int) int {
	r := rand.New(rand.NewPCG(seed, 1))
	return func(int) int { return 1 + r.IntN(maxChunk) }
}

func hellos(evs []Event) []*Hello {
	var hs []*Hello
	for _, e := range evs {
		if e.Kind == EventHello {
			hs = append(hs, e.Hello)
		}
	}
	return hs
}

func recordTypes(evs []Event) []uint8 {
	var ts []uint8
	for _, e := range evs {
		if e.Kind == EventRecord {
			ts = append(ts, e.Record.Type)
		}
	}
	return ts
}

// checkFraming asserts the record events tile data exactly, end to end.
func checkFraming(t *testing.T, data []byte, evs []Event, s *Stream) {
	t.Helper()
	var off int64
	for _, e := range evs {
		if e.Kind != EventRecord {
			continue
		}
		if e.Offset != off {
			t.Fatalf("record at offset %d, want %d", e.Offset, off)
		}
		rec, n, err := NextRecord(data[off:])
		if err != nil || rec != e.Record {
			t.Fatalf("offset %d: NextRecord = %+v, %v; event %+v", off, rec, err, e.Record)
		}
		off += int64(n)
	}
	if off != int64(len(data)) || s.Offset() != off {
		t.Fatalf("records cover %d bytes, stream consumed %d, data has %d", off, s.Offset(), len(data))
	}
	if s.nhdr != 0 || s.left != 0 {
		t.Fatalf("stream ends inside a record (nhdr %d, left %d)", s.nhdr, s.left)
	}
}

func TestRealHandshakes(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			c := captured(t, sc)
			if c.state.Version != sc.version {
				t.Fatalf("crypto/tls negotiated %s, scenario expects %s", VersionName(c.state.Version), VersionName(sc.version))
			}
			if c.state.NegotiatedProtocol != "h2" {
				t.Fatalf("crypto/tls negotiated ALPN %q", c.state.NegotiatedProtocol)
			}
			if !Looks(c.c2s) || !Looks(c.s2c) {
				t.Fatal("Looks rejects a real handshake")
			}
			t.Run("c2s", func(t *testing.T) { checkClient(t, sc, c) })
			t.Run("s2c", func(t *testing.T) { checkServer(t, sc, c) })
		})
	}
}

func checkClient(t *testing.T, sc scenario, c capture) {
	evs, s, err := feed(c.c2s, whole)
	if err != nil {
		t.Fatal(err)
	}
	checkFraming(t, c.c2s, evs, s)
	checkSplits(t, c.c2s, evs)

	hs := hellos(evs)
	want := 1
	if sc.hrr {
		want = 2
	}
	if len(hs) != want {
		t.Fatalf("%d ClientHellos, want %d", len(hs), want)
	}
	for _, h := range hs {
		if h.Type != ClientHello || h.SNI != testSNI || !slices.Equal(h.ALPN, []string{"h2", "http/1.1"}) ||
			h.LegacyVersion != VersionTLS12 || h.CipherSuites == 0 || h.CipherSuite != 0 || h.HelloRetry {
			t.Errorf("ClientHello = %+v", *h)
		}
		wantV := VersionTLS12
		if sc.offers13 {
			wantV = VersionTLS13
		}
		if h.Version != wantV || slices.Contains(h.SupportedVersions, VersionTLS13) != sc.offers13 {
			t.Errorf("ClientHello version %s, supported %x", VersionName(h.Version), h.SupportedVersions)
		}
	}
	ph, n, err := ParseHello(c.c2s)
	if err != nil || !reflect.DeepEqual(&ph, hs[0]) {
		t.Fatalf("ParseHello = %+v, %v; Stream saw %+v", ph, err, *hs[0])
	}
	if first := evs[0]; n != HeaderLen+first.Record.Length {
		t.Errorf("ParseHello n = %d, first record is %d bytes", n, HeaderLen+first.Record.Length)
	}

	// The end of the handshake, against crypto/tls's own view: the client
	// Finished is the last record it writes inside Handshake().
	off, ok := s.FirstAppData()
	if !ok {
		t.Fatal("no client application_data record")
	}
	var app Record
	for _, e := range evs {
		if e.Kind == EventRecord && e.Offset == off {
			app = e.Record
		}
	}
	end := off + HeaderLen + int64(app.Length)
	if c.state.Version == VersionTLS13 {
		if end != int64(c.hsLen) {
			t.Errorf("TLS 1.3: first application_data record ends at %d, client handshake wrote %d bytes", end, c.hsLen)
		}
	} else if off != int64(c.hsLen) {
		t.Errorf("TLS 1.2: first application_data record at %d, client handshake wrote %d bytes", off, c.hsLen)
	}
	for _, typ := range recordTypes(evs) {
		if typ == RecordApplicationData {
			break
		}
		if typ != RecordHandshake && typ != RecordChangeCipherSpec {
			t.Errorf("record type %d before the first application_data", typ)
		}
	}
}

func checkServer(t *testing.T, sc scenario, c capture) {
	evs, s, err := feed(c.s2c, whole)
	if err != nil {
		t.Fatal(err)
	}
	checkFraming(t, c.s2c, evs, s)
	checkSplits(t, c.s2c, evs)

	hs := hellos(evs)
	if sc.hrr {
		if len(hs) != 2 || !hs[0].HelloRetry || hs[1].HelloRetry {
			t.Fatalf("want HelloRetryRequest then ServerHello, got %d hellos", len(hs))
		}
		if hs[0].Version != VersionTLS13 {
			t.Errorf("HelloRetryRequest selects %s", VersionName(hs[0].Version))
		}
	} else if len(hs) != 1 || hs[0].HelloRetry {
		t.Fatalf("want one ServerHello, got %d", len(hs))
	}
	h := hs[len(hs)-1]
	if h.Type != ServerHello || h.LegacyVersion != VersionTLS12 || h.Version != c.state.Version ||
		h.CipherSuite != c.state.CipherSuite || h.SNI != "" || !slices.Equal(h.ALPN, sc.serverALPN) ||
		h.CipherSuites != 0 || h.SupportedVersions != nil {
		t.Errorf("ServerHello = %+v; crypto/tls: %s, suite %#04x", *h, VersionName(c.state.Version), c.state.CipherSuite)
	}
	if c.state.Version == VersionTLS13 && h.ALPN != nil {
		t.Error("TLS 1.3 ServerHello cannot show ALPN")
	}
	ph, _, err := ParseHello(c.s2c)
	if err != nil || !reflect.DeepEqual(&ph, hs[0]) {
		t.Fatalf("ParseHello = %+v, %v; Stream saw %+v", ph, err, *hs[0])
	}
}

// checkSplits feeds data in random pieces and wants the same events as
// when fed whole.
func checkSplits(t *testing.T, data []byte, want []Event) {
	t.Helper()
	splits := map[string]func(int) int{
		"1-byte": func(int) int { return 1 },
		"7-byte": func(int) int { return 7 },
	}
	for seed := range uint64(6) {
		splits["random"+string(rune('0'+seed))] = randomSplit(seed, 2000)
	}
	for name, split := range splits {
		got, s, err := feed(data, split)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: events differ from a whole feed", name)
		}
		checkFraming(t, data, got, s)
	}
}

// frame wraps body in records of the given content type, cutting it at
// the given body offsets.
func frame(typ uint8, version uint16, body []byte, cuts ...int) []byte {
	var out []byte
	prev := 0
	for _, c := range append(cuts, len(body)) {
		part := body[prev:c]
		out = append(out, typ, byte(version>>8), byte(version), byte(len(part)>>8), byte(len(part)))
		out = append(out, part...)
		prev = c
	}
	return out
}

// firstMessage returns the hello message carried by the first record.
func firstMessage(t testing.TB, stream []byte) []byte {
	t.Helper()
	_, n, err := NextRecord(stream)
	if err != nil {
		t.Fatal(err)
	}
	body := stream[HeaderLen:n]
	return bytes.Clone(body[:helloLen(body)])
}

func TestFragmentedClientHello(t *testing.T) {
	c := captured(t, scenarios[1])
	msg := firstMessage(t, c.c2s)
	want, _, err := ParseHello(c.c2s)
	if err != nil {
		t.Fatal(err)
	}
	// Three records, the first cut inside the 4-byte handshake header,
	// followed by a record the parser must not need.
	data := frame(RecordHandshake, VersionTLS10, msg, 2, len(msg)/2)
	total := len(data)
	data = append(data, frame(RecordApplicationData, VersionTLS12, []byte("xyz"))...)

	h, n, err := ParseHello(data)
	if err != nil || n != total || !reflect.DeepEqual(h, want) {
		t.Fatalf("ParseHello = %+v, %d, %v", h, n, err)
	}
	for _, split := range []func(int) int{whole, func(int) int { return 1 }, randomSplit(9, 40)} {
		evs, s, err := feed(data, split)
		if err != nil {
			t.Fatal(err)
		}
		checkFraming(t, data, evs, s)
		hs := hellos(evs)
		if len(hs) != 1 || !reflect.DeepEqual(*hs[0], want) {
			t.Fatalf("hellos = %v", hs)
		}
		if got := recordTypes(evs); !bytes.Equal(got, []byte{22, 22, 22, 23}) {
			t.Fatalf("record types %v", got)
		}
		for _, e := range evs {
			if e.Kind == EventHello && e.Offset != int64(total-HeaderLen-(len(msg)-len(msg)/2)) {
				t.Errorf("hello reported at offset %d, want the third record", e.Offset)
			}
		}
	}
	// Every strict prefix needs more; none is an error or a hello.
	for i := range total {
		if _, _, err := ParseHello(data[:i]); err != ErrNeedMore {
			t.Fatalf("ParseHello(%d bytes) = %v", i, err)
		}
		evs, _, err := feed(data[:i], whole)
		if err != nil || len(hellos(evs)) != 0 {
			t.Fatalf("Stream(%d bytes): %v, %d hellos", i, err, len(hellos(evs)))
		}
	}
}

func TestTruncated(t *testing.T) {
	c := captured(t, scenarios[0])
	rec, n, err := NextRecord(c.s2c)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		r, m, err := NextRecord(c.s2c[:i])
		if err != ErrNeedMore || m != 0 {
			t.Fatalf("NextRecord(%d bytes) = %d, %v", i, m, err)
		}
		if i >= HeaderLen && r != rec {
			t.Fatalf("NextRecord(%d bytes) header %+v, want %+v", i, r, rec)
		}
	}
}

// hello builds a ClientHello message with the given extensions block.
func hello(exts []byte) []byte {
	body := []byte{3, 3}
	body = append(body, make([]byte, 32)...)    // random
	body = append(body, 0)                      // session id
	body = append(body, 0, 2, 0x13, 0x01, 1, 0) // one suite, null compression
	body = append(body, byte(len(exts)>>8), byte(len(exts)))
	body = append(body, exts...)
	return append([]byte{1, 0, byte(len(body) >> 8), byte(len(body))}, body...)
}

func ext(typ uint16, data []byte) []byte {
	return append([]byte{byte(typ >> 8), byte(typ), byte(len(data) >> 8), byte(len(data))}, data...)
}

func sni(name string) []byte {
	entry := append([]byte{0, byte(len(name) >> 8), byte(len(name))}, name...)
	return ext(extServerName, append([]byte{byte(len(entry) >> 8), byte(len(entry))}, entry...))
}

func TestErrors(t *testing.T) {
	good := hello(slices.Concat(sni("a.test"), ext(extSupportedVersions, []byte{4, 0x0a, 0x0a, 3, 4})))
	h, _, err := parseHello(good)
	if err != nil || h.SNI != "a.test" || h.Version != VersionTLS13 || h.CipherSuites != 1 {
		t.Fatalf("synthetic hello: %+v, %v", h, err)
	}
	rec := func(b []byte) []byte { return frame(RecordHandshake, VersionTLS12, b) }
	tooBig := []byte{22, 3, 3, 0x48, 0x01} // MaxRecordLen + 1
	trailing := append(hello(nil), 0)
	trailing[3]++
	truncated := bytes.Clone(good[:len(good)-1])
	truncated[3]--

	tests := []struct {
		name string
		data []byte
		want error // for both ParseHello and Stream; nil: Stream succeeds
	}{
		{"http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), ErrNotTLS},
		{"h2 preface", []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), ErrNotTLS},
		{"ssh", []byte("SSH-2.0-OpenSSH_9.6\r\n"), ErrNotTLS},
		{"bad major", []byte{22, 2, 0}, ErrNotTLS},
		{"bad minor", []byte{22, 3, 5}, ErrNotTLS},
		{"record too big", append(tooBig, make([]byte, 100)...), ErrRecordTooLarge},
		{"hello too big", rec([]byte{1, 1, 0, 0, 3, 3}), ErrHelloTooLarge},
		{"not a hello", rec([]byte{11, 0, 0, 1, 0}), ErrMalformed},
		{"short hello", rec([]byte{1, 0, 0, 2, 3, 3}), ErrMalformed},
		{"bad hello version", rec(append([]byte{1, 0, 0, 34, 1, 0}, make([]byte, 32)...)), ErrMalformed},
		{"duplicate sni", rec(hello(slices.Concat(sni("a.test"), sni("b.test")))), ErrMalformed},
		{"two host names", rec(hello(ext(extServerName, []byte{0, 6, 0, 0, 1, 'a', 0, 0}))), ErrMalformed},
		{"empty alpn name", rec(hello(ext(extALPN, []byte{0, 1, 0}))), ErrMalformed},
		{"odd versions", rec(hello(ext(extSupportedVersions, []byte{3, 3, 4, 3}))), ErrMalformed},
		{"truncated extension", rec(truncated), ErrMalformed},
		{"trailing bytes", rec(trailing), ErrMalformed},
		{"interleaved alert", slices.Concat(frame(RecordHandshake, VersionTLS12, good, 10)[:15], frame(RecordAlert, VersionTLS12, []byte{2, 40}), frame(RecordHandshake, VersionTLS12, good[10:])), ErrMalformed},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if Looks(tt.data) && tt.want == ErrNotTLS {
				t.Error("Looks accepts garbage")
			}
			if _, n, err := ParseHello(tt.data); !errors.Is(err, tt.want) || n != 0 {
				t.Errorf("ParseHello: n = %d, err = %v, want %v", n, err, tt.want)
			}
			for _, split := range []func(int) int{whole, func(int) int { return 1 }} {
				evs, s, err := feed(tt.data, split)
				if !errors.Is(err, tt.want) || len(hellos(evs)) != 0 {
					t.Fatalf("Stream: %v, want %v", err, tt.want)
				}
				// Errors stick.
				if err2 := s.Feed(good, nil); err2 != err || s.Err() != err {
					t.Fatalf("after an error Feed returned %v", err2)
				}
				if cap(s.hs) > 8 {
					t.Errorf("stream keeps a %d-byte buffer", cap(s.hs))
				}
			}
		})
	}
}

func TestHelloTooLargeFailsEarly(t *testing.T) {
	// A 60 KiB hello is fine by default but not with MaxHello 1024, and
	// the stream must say so after the 4-byte header, not after
	// buffering the body.
	big := hello(ext(0xffff, make([]byte, 60<<10)))
	data := frame(RecordHandshake, VersionTLS12, big, 10000, 20000, 30000, 40000, 50000, 60000)
	if h, _, err := ParseHello(data); err != nil || h.SNI != "" {
		t.Fatalf("ParseHello: %v", err)
	}
	s := &Stream{MaxHello: 1024}
	err := s.Feed(data[:HeaderLen+4], nil)
	if !errors.Is(err, ErrHelloTooLarge) {
		t.Fatalf("Feed: %v", err)
	}
	evs, s, err := feed(data, randomSplit(3, 3000))
	if err != nil || len(hellos(evs)) != 1 || s.hs != nil {
		t.Fatalf("default bound: %v, %d hellos", err, len(hellos(evs)))
	}
}

func TestNoHello(t *testing.T) {
	// A server that answers with an alert, and a capture that started
	// mid-connection on a record boundary: records, no hello, no error.
	for _, data := range [][]byte{
		frame(RecordAlert, VersionTLS12, []byte{2, 40}),
		slices.Concat(frame(RecordApplicationData, VersionTLS12, []byte("abc")), frame(RecordHandshake, VersionTLS12, hello(nil))),
	} {
		evs, s, err := feed(data, whole)
		if err != nil || len(hellos(evs)) != 0 {
			t.Fatalf("%v, %d hellos", err, len(hellos(evs)))
		}
		checkFraming(t, data, evs, s)
		if _, _, err := ParseHello(data); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseHello: %v", err)
		}
	}
}

func TestZeroLengthRecords(t *testing.T) {
	msg := hello(sni("z.test"))
	data := slices.Concat(
		frame(RecordHandshake, VersionTLS12, nil),
		frame(RecordHandshake, VersionTLS12, msg, 3),
		frame(RecordApplicationData, VersionTLS12, nil),
		frame(RecordApplicationData, VersionTLS12, []byte("x")),
	)
	for _, split := range []func(int) int{whole, func(int) int { return 1 }} {
		evs, s, err := feed(data, split)
		if err != nil {
			t.Fatal(err)
		}
		checkFraming(t, data, evs, s)
		if hs := hellos(evs); len(hs) != 1 || hs[0].SNI != "z.test" {
			t.Fatalf("hellos %v", hs)
		}
		if off, ok := s.FirstAppData(); !ok || off != int64(len(data)-HeaderLen*2-1) {
			t.Fatalf("FirstAppData = %d, %v", off, ok)
		}
	}
}

func TestLooks(t *testing.T) {
	c := captured(t, scenarios[1])
	for _, b := range [][]byte{c.c2s, c.s2c} {
		for _, n := range []int{5, 6, 9, 100} {
			if !Looks(b[:n]) {
				t.Errorf("Looks(% x) = false", b[:n])
			}
		}
	}
	for _, b := range [][]byte{
		nil,
		{22, 3, 1, 0},                  // short
		{22, 3, 0, 0, 50},              // SSL 3.0 record
		{23, 3, 3, 0, 50},              // application data
		{22, 3, 3, 0, 0},               // empty
		{22, 3, 3, 0, 50, 11},          // certificate first
		{22, 3, 3, 0, 50, 1, 0, 0, 10}, // hello too short to be real
		{22, 3, 3, 0, 50, 1, 1, 0, 0},  // hello larger than the bound
		{22, 3, 3, 0x48, 0x01},         // record too large
		[]byte("GET / HTTP/1.1"),
	} {
		if Looks(b) {
			t.Errorf("Looks(% x) = true", b)
		}
	}
}

func TestVersionName(t *testing.T) {
	for v, want := range map[uint16]string{
		0: "unknown", 0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1",
		0x0303: "TLS 1.2", 0x0304: "TLS 1.3", 0x0a0a: "0x0a0a", 0x7f1c: "0x7f1c",
	} {
		if got := VersionName(v); got != want {
			t.Errorf("VersionName(%#04x) = %q, want %q", v, got, want)
		}
	}
	if ClientHello.String() != "ClientHello" || ServerHello.String() != "ServerHello" || HelloType(9).String() != "HelloType(9)" {
		t.Error("HelloType.String")
	}
}

func BenchmarkStream(b *testing.B) {
	c := captured(b, scenarios[len(scenarios)-1]) // tls13-bulk
	for _, bc := range []struct {
		name  string
		chunk int
	}{{"whole", len(c.c2s)}, {"mss1448", 1448}, {"64B", 64}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.c2s)))
			b.ReportAllocs()
			for b.Loop() {
				var s Stream
				for data := c.c2s; len(data) > 0; {
					k := min(bc.chunk, len(data))
					if err := s.Feed(data[:k], func(Event) {}); err != nil {
						b.Fatal(err)
					}
					data = data[k:]
				}
			}
		})
	}
}

func BenchmarkParseHello(b *testing.B) {
	c := captured(b, scenarios[1])
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseHello(c.c2s); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSecondClientHelloNeedsSameRandom(t *testing.T) {
	ch1 := hello(slices.Concat(sni("a.test"), ext(extSupportedVersions, []byte{2, 3, 4})))
	ch2 := bytes.Clone(ch1)
	ch2[len(ch2)-1] = 3 // offer 0x0303 instead of 0x0304: a visible change
	other := bytes.Clone(ch2)
	other[10] ^= 1 // inside the random
	ccs := frame(RecordChangeCipherSpec, VersionTLS12, []byte{1})
	for _, tt := range []struct {
		name   string
		second []byte
		want   int
	}{
		{"same random", ch2, 2},
		{"other random", other, 1},
		{"not a hello", []byte{16, 0, 0, 1, 0}, 1},
		{"ciphertext", bytes.Repeat([]byte{1}, 40), 1},
	} {
		data := slices.Concat(frame(RecordHandshake, VersionTLS10, ch1), ccs,
			frame(RecordHandshake, VersionTLS12, tt.second),
			frame(RecordApplicationData, VersionTLS12, []byte("fin")))
		for _, split := range []func(int) int{whole, func(int) int { return 1 }} {
			evs, s, err := feed(data, split)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			checkFraming(t, data, evs, s)
			hs := hellos(evs)
			if len(hs) != tt.want {
				t.Fatalf("%s: %d hellos, want %d", tt.name, len(hs), tt.want)
			}
			if tt.want == 2 && hs[1].Version != VersionTLS12 {
				t.Errorf("%s: second hello %+v", tt.name, *hs[1])
			}
		}
	}
}
