package peers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestTsharkCallsOutOfOrder: two segments of the server's response that
// a socket's ingress saw swapped (segments of one connection that came
// through two CPUs) still give tshark the call's trailers, as TCP gives
// them to the application.
func TestTsharkCallsOutOfOrder(t *testing.T) {
	tshark := Tool(t, "tshark")
	src := filepath.Join(RepoRoot(), "testdata", "golden", "interop.pcapng")
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var datas [][]byte
	var cis []gopacket.CaptureInfo
	for {
		d, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		datas = append(datas, append([]byte(nil), d...))
		cis = append(cis, ci)
	}
	// Frames 42 and 43: the server's first two 32 KiB segments of
	// server_streaming's response (127.0.0.1:50051 to :55380).
	const first = 41
	if len(datas) <= first+1 || cis[first].Length != cis[first+1].Length || cis[first].Length < 32768 {
		t.Fatalf("%s: frames 42 and 43 are not the two full segments this test swaps", src)
	}
	datas[first], datas[first+1] = datas[first+1], datas[first]
	swapped := filepath.Join(t.TempDir(), "swapped.pcapng")
	out, err := os.Create(swapped)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapgo.NewNgWriter(out, r.LinkType())
	if err != nil {
		t.Fatal(err)
	}
	for i := range datas {
		cis[i].InterfaceIndex = 0
		if err := w.WritePacket(cis[i], datas[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	out.Close()
	found := false
	for _, c := range TsharkCalls(t, tshark, swapped, []int{50051}) {
		if c.Method == nil || !strings.HasSuffix(*c.Method, "/StreamingOutputCall") {
			continue
		}
		found = true
		if c.Status == nil || *c.Status != 0 {
			t.Errorf("server_streaming out of order: %s, want status 0", c)
		}
	}
	if !found {
		t.Error("no StreamingOutputCall dissected")
	}
}
