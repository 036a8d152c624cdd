package render

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hoptap/hoptap/decoder/hpack"
)

// Header lists rendered from the cache of earlier lists are exactly what
// rendering them afresh gives: lists that share leading fields, differ
// in one, are shorter or longer than the one kept, repeat a field's
// content in another string, hold unknown parts, secrets (with the
// setting switched), or are too long or too big to keep.
func TestHeaderRunsRenderAsFresh(t *testing.T) {
	vocab := []hpack.Field{
		{Name: ":method", Value: "POST"}, {Name: ":path", Value: "/pkg.Svc/A"}, {Name: ":path", Value: "/pkg.Svc/B"},
		{Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"},
		{Name: "grpc-status", Value: "0"}, {Name: "grpc-status", Value: "5"}, {Name: "grpc-message", Value: ""},
		{Name: "grpc-message", Value: "quote \" and \\ and \n"}, {Name: "authorization", Value: "Bearer x"},
		{Name: "x-bin", Value: "\xff\xfe"}, {Name: "big", Value: strings.Repeat("v", 700)},
	}
	for i := range vocab {
		vocab[i].NameKnown, vocab[i].ValueKnown = true, true
	}
	// Unknown parts, one with a known field's (empty) strings.
	vocab = append(vocab, hpack.Field{}, hpack.Field{Name: "grpc-message", NameKnown: true})
	rng := rand.New(rand.NewPCG(1, 2))
	var p Printer
	j := &p.j
	hits := 0
	for n := range 20000 {
		if n%2500 == 0 {
			p.ShowSecrets(n%5000 == 0)
		}
		// Mostly a few list kinds with a changing tail, as gRPC sends.
		fs := make([]hpack.Field, 1+rng.IntN(6))
		for i := range fs {
			if i < 3 && rng.IntN(4) > 0 {
				fs[i] = vocab[(rng.IntN(2)+i)%len(vocab)]
			} else {
				fs[i] = vocab[rng.IntN(len(vocab))]
			}
			if rng.IntN(8) == 0 { // equal content, another string
				fs[i].Name, fs[i].Value = strings.Clone(fs[i].Name), strings.Clone(fs[i].Value)
			}
		}
		if rng.IntN(50) == 0 {
			for len(fs) <= maxRunFields {
				fs = append(fs, vocab[rng.IntN(len(vocab))])
			}
		}
		want := jsonBuf{first: true, showSecrets: j.showSecrets}
		want.key("headers")
		want.b = append(want.b, '[')
		for i := range fs {
			if i > 0 {
				want.b = append(want.b, ',')
			}
			want.field(&fs[i])
		}
		want.b = append(want.b, ']')
		if j.headerRuns != nil {
			r := &j.headerRuns[headerSlot(fs)]
			if len(r.fields) >= len(fs) && sameField(&r.fields[len(fs)-1], &fs[len(fs)-1]) {
				hits++
			}
		}
		j.b, j.first = j.b[:0], true
		j.headers("headers", fs)
		if string(j.b) != string(want.b) {
			t.Fatalf("list %d %q (secrets shown %v):\n got %s\nwant %s", n, fs, j.showSecrets, j.b, want.b)
		}
	}
	if hits < 1000 {
		t.Errorf("only %d lists could be rendered from the cache: the test no longer exercises it", hits)
	}
}
