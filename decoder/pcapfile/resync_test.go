package pcapfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// A record whose header is smashed is skipped; every other record is
// still read, and the skip is reported once.
func TestClassicResync(t *testing.T) {
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	base := time.Unix(1700000000, 0)
	var offsets []int
	for i := 0; i < 10; i++ {
		offsets = append(offsets, buf.Len())
		data := bytes.Repeat([]byte{byte(i)}, 60+i)
		w.WritePacket(gopacket.CaptureInfo{Timestamp: base.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(data), Length: len(data)}, data)
	}
	b := buf.Bytes()
	binary.LittleEndian.PutUint32(b[offsets[4]+8:], 0x7fffffff) // record 5: impossible length
	r, err := NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	resyncs := 0
	for {
		data, _, _, err := r.Next()
		if err == io.EOF {
			break
		}
		var re *ResyncError
		if errors.As(err, &re) {
			resyncs++
			if re.After != 4 || re.Skipped != 16+64 {
				t.Errorf("resync after %d packets skipping %d bytes, want 4 and %d", re.After, re.Skipped, 16+64)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, data[0])
	}
	if resyncs != 1 || string(got) != "\x00\x01\x02\x03\x05\x06\x07\x08\x09" {
		t.Fatalf("read records %v with %d resyncs; want all but record 5, one resync", got, resyncs)
	}
}
