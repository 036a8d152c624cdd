// Package pcapfile reads pcap and pcapng captures, telling the two apart
// by their magic number so users never have to say which they have.
package pcapfile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ErrTruncated means the file ended in the middle of a record, typically a
// capture that was cut off while being written.
var ErrTruncated = errors.New("file is truncated")

// Reader yields packets with the link type of the interface that saw them.
type Reader struct {
	classic *classic
	ng      *pcapgo.NgReader
	closer  io.Closer
	// Format is "pcap" or "pcapng".
	Format string
}

// Open opens path, or standard input when path is "-".
func Open(path string) (*Reader, error) {
	var f *os.File
	if path == "-" {
		f = os.Stdin
	} else {
		var err error
		if f, err = os.Open(path); err != nil {
			return nil, err
		}
	}
	r, err := NewReader(f)
	if err != nil {
		if path != "-" {
			f.Close()
		}
		return nil, err
	}
	if path != "-" {
		r.closer = f
	}
	return r, nil
}

// NewReader detects the format of r from its first bytes.
func NewReader(r io.Reader) (*Reader, error) {
	// Large enough to look past a whole record when resynchronising.
	br := bufio.NewReaderSize(r, 2*maxRecord)
	magic, err := br.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("not a capture file: empty or shorter than a file header")
		}
		return nil, err
	}
	switch binary.LittleEndian.Uint32(magic) {
	case 0x0a0d0d0a:
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
		if err != nil {
			return nil, fmt.Errorf("pcapng header: %w", err)
		}
		return &Reader{ng: ng, Format: "pcapng"}, nil
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		c, err := newClassic(br)
		if err != nil {
			return nil, err
		}
		return &Reader{classic: c, Format: "pcap"}, nil
	}
	return nil, fmt.Errorf("not a pcap or pcapng file (magic %#08x)", binary.BigEndian.Uint32(magic))
}

// Next returns the next packet. The data is only valid until the next
// call. At the end it returns io.EOF; ErrTruncated for a cut-off record.
// A *ResyncError says a corrupt stretch of a pcap file was skipped: call
// Next again to go on.
func (r *Reader) Next() (data []byte, ci gopacket.CaptureInfo, lt layers.LinkType, err error) {
	if r.ng != nil {
		data, ci, err = r.ng.ZeroCopyReadPacketData()
		if err == nil {
			lt = r.ng.LinkType()
			if len(ci.AncillaryData) > 0 {
				if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
					lt = l
				}
			}
		}
	} else {
		data, ci, err = r.classic.next()
		lt = r.classic.linkType
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = ErrTruncated
	}
	return data, ci, lt, err
}

// Close closes the underlying file, if this reader opened it.
func (r *Reader) Close() error {
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}
