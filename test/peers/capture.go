package peers

import (
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/hoptap/hoptap/decoder/packet"
	"github.com/hoptap/hoptap/decoder/pcapfile"
)

// PcapRecord is one packet of a capture file: its number as Wireshark counts
// them (from 1), and how many bytes were captured of how many sent.
type PcapRecord struct {
	Num, CapLen, Len int
}

// RecordsOnPort returns the TCP packets in file with port at either end.
func RecordsOnPort(t testing.TB, file string, port uint16) []PcapRecord {
	t.Helper()
	r, err := pcapfile.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var d packet.Decoder
	var s packet.Segment
	var recs []PcapRecord
	for n := 1; ; n++ {
		data, ci, lt, err := r.Next()
		if err == io.EOF {
			return recs
		}
		if err != nil {
			t.Fatalf("%s packet %d: %v", file, n, err)
		}
		if d.Decode(lt, data, &s) == nil && (s.Src.Port() == port || s.Dst.Port() == port) {
			recs = append(recs, PcapRecord{n, ci.CaptureLength, ci.Length})
		}
	}
}

// PacketsOnPort returns the numbers of the TCP packets in file with port
// at either end.
func PacketsOnPort(t testing.TB, file string, port uint16) []int {
	t.Helper()
	var nums []int
	for _, r := range RecordsOnPort(t, file, port) {
		nums = append(nums, r.Num)
	}
	return nums
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
