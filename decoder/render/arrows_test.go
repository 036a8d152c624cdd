package render

import (
	"net/netip"
	"testing"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/grpc"
)

// TestArrowsRenderAsFresh: the kept "from → to" of a connection is what
// appendArrow writes afresh, across connections that share a slot, roles
// that are corrected, and IPv6.
func TestArrowsRenderAsFresh(t *testing.T) {
	p := &Printer{}
	a := netip.MustParseAddrPort("127.0.0.1:50051")
	b := netip.MustParseAddrPort("10.0.0.7:41000")
	c := netip.MustParseAddrPort("[fd00::1]:443")
	conns := []decoder.Conn{
		{ID: 1, Client: b, Server: a},
		{ID: 1 + connSlots, Client: c, Server: a}, // the same slot
		{ID: 1, Client: a, Server: b},             // roles corrected
		{ID: 2, Client: c, Server: b},
		{ID: 1, Client: a, Server: b},
	}
	for i := range 3 {
		for j := range conns {
			for _, d := range []grpc.Dir{grpc.C2S, grpc.S2C} {
				got := string(p.appendArrowOf([]byte("x"), &conns[j], d))
				if want := "x" + arrow(&conns[j], d); got != want {
					t.Fatalf("pass %d, conn %d %v: %q, want %q", i, j, d, got, want)
				}
			}
		}
	}
}
