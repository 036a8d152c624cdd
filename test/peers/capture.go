package peers

import (
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/hoptap/hoptap/decoder/packet"
	"github.com/hoptap/hoptap/decoder/pcapfile"
)

// PacketsOnPort returns the 1-based numbers (as Wireshark counts them) of
// the TCP packets in file with port at either end.
func PacketsOnPort(t testing.TB, file string, port uint16) []int {
	t.Helper()
	r, err := pcapfile.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var d packet.Decoder
	var s packet.Segment
	var nums []int
	for n := 1; ; n++ {
		data, _, lt, err := r.Next()
		if err == io.EOF {
			return nums
		}
		if err != nil {
			t.Fatalf("%s packet %d: %v", file, n, err)
		}
		if d.Decode(lt, data, &s) == nil && (s.Src.Port() == port || s.Dst.Port() == port) {
			nums = append(nums, n)
		}
	}
}

// DropBefore writes a copy of file without its packets 1..first-1, as if
// the capture had started at packet first, and returns the new file.
func DropBefore(t testing.TB, file string, first int) string {
	t.Helper()
	editcap := Tool(t, "editcap")
	out := filepath.Join(filepath.Dir(file), fmt.Sprintf("from-packet-%d.pcapng", first))
	Run(t, editcap, file, out, fmt.Sprintf("1-%d", first-1))
	return out
}
