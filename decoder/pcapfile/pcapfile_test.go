package pcapfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

type pkt struct {
	ts   time.Time
	data []byte
	wire int
	lt   layers.LinkType
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)

func packets(lts ...layers.LinkType) []pkt {
	var ps []pkt
	for i := range 5 {
		data := bytes.Repeat([]byte{byte('a' + i)}, 40+i*30)
		wire := len(data)
		if i == 3 {
			wire += 1000 // cut by the snap length
		}
		ps = append(ps, pkt{t0.Add(time.Duration(i) * 1500 * time.Microsecond), data, wire, lts[i%len(lts)]})
	}
	return ps
}

func writePcap(t *testing.T, nanos bool, ps []pkt) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if nanos {
		w = pcapgo.NewWriterNanos(&buf)
	}
	if err := w.WriteFileHeader(65535, ps[0].lt); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		ci := gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(p.data), Length: p.wire}
		if err := w.WritePacket(ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func writePcapng(t *testing.T, ps []pkt) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, ps[0].lt)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[layers.LinkType]int{ps[0].lt: 0}
	for _, p := range ps {
		if _, ok := ids[p.lt]; !ok {
			id, err := w.AddInterface(pcapgo.NgInterface{LinkType: p.lt, TimestampResolution: 9, Name: fmt.Sprint(p.lt)})
			if err != nil {
				t.Fatal(err)
			}
			ids[p.lt] = id
		}
		ci := gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(p.data), Length: p.wire, InterfaceIndex: ids[p.lt]}
		if err := w.WritePacket(ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll reads packets until an error, checking each against want.
func readAll(t *testing.T, r *Reader, want []pkt, res time.Duration) (int, error) {
	t.Helper()
	for i := 0; ; i++ {
		data, ci, lt, err := r.Next()
		if err != nil {
			return i, err
		}
		if i >= len(want) {
			t.Fatalf("packet %d beyond the %d written", i, len(want))
		}
		w := want[i]
		if !bytes.Equal(data, w.data) || ci.CaptureLength != len(w.data) || ci.Length != w.wire || lt != w.lt {
			t.Errorf("packet %d: %d bytes (caplen %d, len %d, %v); want %d, %d, %v", i, len(data), ci.CaptureLength, ci.Length, lt, len(w.data), w.wire, w.lt)
		}
		if !ci.Timestamp.Equal(w.ts.Truncate(res)) {
			t.Errorf("packet %d at %v, want %v", i, ci.Timestamp, w.ts.Truncate(res))
		}
	}
}

func TestRoundTrip(t *testing.T) {
	eth := packets(layers.LinkTypeEthernet)
	mixed := packets(layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL2, layers.LinkTypeRaw)
	tests := []struct {
		name   string
		file   []byte
		format string
		want   []pkt
		res    time.Duration
	}{
		{"pcap", writePcap(t, false, eth), "pcap", eth, time.Microsecond},
		{"pcap nanoseconds", writePcap(t, true, eth), "pcap", eth, time.Nanosecond},
		{"pcap SLL", writePcap(t, false, packets(layers.LinkTypeLinuxSLL)), "pcap", packets(layers.LinkTypeLinuxSLL), time.Microsecond},
		{"pcap big-endian", bigEndianPcap(eth), "pcap", eth, time.Microsecond},
		{"pcapng", writePcapng(t, eth), "pcapng", eth, time.Nanosecond},
		{"pcapng mixed link types", writePcapng(t, mixed), "pcapng", mixed, time.Nanosecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if r.Format != tt.format {
				t.Errorf("Format %q, want %q", r.Format, tt.format)
			}
			n, err := readAll(t, r, tt.want, tt.res)
			if n != len(tt.want) || err != io.EOF {
				t.Errorf("read %d packets, then %v; want %d, then EOF", n, err, len(tt.want))
			}
			if _, _, _, err := r.Next(); err != io.EOF {
				t.Errorf("after EOF: %v", err)
			}
			if err := r.Close(); err != nil {
				t.Error(err)
			}
		})
	}
}

// bigEndianPcap writes a microsecond pcap in big-endian byte order, as
// written on big-endian hosts.
func bigEndianPcap(ps []pkt) []byte {
	be := binary.BigEndian
	b := be.AppendUint32(nil, 0xa1b2c3d4)
	b = be.AppendUint16(b, 2)
	b = be.AppendUint16(b, 4)
	b = be.AppendUint32(b, 0)
	b = be.AppendUint32(b, 0)
	b = be.AppendUint32(b, 65535)
	b = be.AppendUint32(b, uint32(ps[0].lt))
	for _, p := range ps {
		b = be.AppendUint32(b, uint32(p.ts.Unix()))
		b = be.AppendUint32(b, uint32(p.ts.Nanosecond()/1000))
		b = be.AppendUint32(b, uint32(len(p.data)))
		b = be.AppendUint32(b, uint32(p.wire))
		b = append(b, p.data...)
	}
	return b
}

// recordEnds returns the offsets where each packet record of a
// microsecond pcap ends.
func recordEnds(file []byte) []int {
	var ends []int
	for off := 24; off+16 <= len(file); {
		off += 16 + int(binary.LittleEndian.Uint32(file[off+8:]))
		ends = append(ends, off)
	}
	return ends
}

func TestTruncated(t *testing.T) {
	ps := packets(layers.LinkTypeEthernet)
	file := writePcap(t, false, ps)
	ends := recordEnds(file)
	ng := writePcapng(t, ps)
	tests := []struct {
		name string
		file []byte
		good int
	}{
		{"pcap, inside the data of the third packet", file[:ends[1]+16+10], 2},
		{"pcap, right after the third record header", file[:ends[1]+16], 2},
		{"pcap, inside the third record header", file[:ends[1]+7], 2},
		{"pcap, one byte short", file[:len(file)-1], 4},
		{"pcapng, one byte short", ng[:len(ng)-1], 4},
		{"pcapng, inside a block header", ng[:len(ng)-(28+len(ps[4].data)+4)-4], 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			res := time.Microsecond
			if r.Format == "pcapng" {
				res = time.Nanosecond
			}
			n, err := readAll(t, r, ps, res)
			if n != tt.good || !errors.Is(err, ErrTruncated) {
				t.Errorf("read %d packets, then %v; want %d, then ErrTruncated", n, err, tt.good)
			}
		})
	}
	// Cut exactly between records: a shorter, valid file.
	r, err := NewReader(bytes.NewReader(file[:ends[2]]))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := readAll(t, r, ps, time.Microsecond); n != 3 || err != io.EOF {
		t.Errorf("cut between records: %d packets, then %v", n, err)
	}
}

func TestGarbage(t *testing.T) {
	pcap := writePcap(t, false, packets(layers.LinkTypeEthernet))
	ng := writePcapng(t, packets(layers.LinkTypeEthernet))
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "not a capture file"},
		{"three bytes", []byte{0xd4, 0xc3, 0xb2}, "not a capture file"},
		{"text", []byte("GET / HTTP/1.1\r\n"), "not a pcap or pcapng file (magic 0x47455420)"},
		{"pcap header cut", pcap[:20], "pcap header"},
		{"pcapng header cut", ng[:20], "pcapng header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewReader: %v, %v; want an error with %q", r, err, tt.want)
			}
		})
	}
	// A record claiming more than the snap length is an error, not a read
	// of gigabytes.
	bad := bytes.Clone(pcap[:24+16])
	binary.LittleEndian.PutUint32(bad[24+8:], 1<<30)
	binary.LittleEndian.PutUint32(bad[24+12:], 1<<30)
	r, err := NewReader(bytes.NewReader(bad))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := r.Next(); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("oversized record: %v", err)
	}
}

func TestOpen(t *testing.T) {
	ps := packets(layers.LinkTypeRaw)
	path := filepath.Join(t.TempDir(), "x.pcapng")
	if err := os.WriteFile(path, writePcapng(t, ps), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := readAll(t, r, ps, time.Nanosecond); n != len(ps) || err != io.EOF {
		t.Errorf("%d packets, then %v", n, err)
	}
	if err := r.Close(); err != nil {
		t.Error(err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.pcap")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage")
	if err := os.WriteFile(garbage, []byte("not a capture at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(garbage); err == nil {
		t.Error("garbage opened")
	}
}
