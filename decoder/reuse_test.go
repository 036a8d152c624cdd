package decoder_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/pcapfile"
	"github.com/hoptap/hoptap/decoder/render"
)

// decodeTo decodes a capture into a synchronous printer of mode.
func decodeTo(t *testing.T, path string, mode render.Mode, opts decoder.Options) []byte {
	t.Helper()
	var out bytes.Buffer
	p := render.NewPrinter(&out, mode)
	if opts.KeepBodies {
		p.Bodies = &render.Bodies{}
	}
	d := decoder.New(p, opts)
	eachPacket(t, path, func(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) {
		d.Packet(lt, data, ci.Timestamp, ci.Length)
	})
	d.Flush()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// eachPacket hands over a capture's packets in order, past the corrupt
// file's resync points, up to its end or the truncated file's cut.
func eachPacket(t *testing.T, path string, f func(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType)) {
	t.Helper()
	r, err := pcapfile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for {
		data, ci, lt, err := r.Next()
		var resync *pcapfile.ResyncError
		if errors.As(err, &resync) {
			continue
		}
		if err != nil {
			return
		}
		f(data, ci, lt)
	}
}

// TestReuseCallsChangesNothing decodes every golden capture with and
// without recycled calls: the output is the same byte for byte, in every
// mode, bodies included.
func TestReuseCallsChangesNothing(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "golden", "*.pcap*"))
	if len(files) == 0 {
		t.Fatal("no golden captures")
	}
	for _, f := range files {
		for _, mode := range []render.Mode{render.ModeJSON, render.ModeText, render.ModeVerbose, render.ModeCalls} {
			for _, bodies := range []bool{false, true} {
				plain := decodeTo(t, f, mode, decoder.Options{KeepBodies: bodies})
				reused := decodeTo(t, f, mode, decoder.Options{KeepBodies: bodies, ReuseCalls: true})
				if len(plain) == 0 {
					t.Fatalf("%s: no output", f)
				}
				if !bytes.Equal(plain, reused) {
					t.Errorf("%s mode %d bodies %v: output differs with ReuseCalls", filepath.Base(f), mode, bodies)
				}
			}
		}
	}
}
