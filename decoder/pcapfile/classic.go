package pcapfile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// ResyncError reports that a corrupt stretch of a pcap file was skipped;
// reading goes on after it.
type ResyncError struct {
	After   int // good records before the corruption
	Skipped int // bytes skipped to the next believable record
}

func (e *ResyncError) Error() string {
	return fmt.Sprintf("corrupt record after %d packets: skipped %d bytes to the next readable record", e.After, e.Skipped)
}

// maxRecord bounds a believable record: larger than any snap length in
// use, smaller than what corruption usually produces.
const maxRecord = 1 << 18

// classic reads the pcap format itself rather than through gopacket so
// that a corrupt record can be skipped instead of ending the file.
type classic struct {
	r        *bufio.Reader
	order    binary.ByteOrder
	nano     bool
	snaplen  uint32
	linkType layers.LinkType
	buf      []byte
	n        int
	lastSec  int64
}

func newClassic(br *bufio.Reader) (*classic, error) {
	h := make([]byte, 24)
	if _, err := io.ReadFull(br, h); err != nil {
		return nil, fmt.Errorf("pcap header: %w", ErrTruncated)
	}
	c := &classic{r: br}
	switch binary.LittleEndian.Uint32(h) {
	case 0xa1b2c3d4:
		c.order = binary.LittleEndian
	case 0xa1b23c4d:
		c.order, c.nano = binary.LittleEndian, true
	case 0xd4c3b2a1:
		c.order = binary.BigEndian
	case 0x4d3cb2a1:
		c.order, c.nano = binary.BigEndian, true
	}
	c.snaplen = c.order.Uint32(h[16:])
	c.linkType = layers.LinkType(c.order.Uint32(h[20:]) & 0x0fffffff)
	return c, nil
}

// plausible reports whether hdr can be a record header.
func (c *classic) plausible(hdr []byte) bool {
	frac := c.order.Uint32(hdr[4:])
	incl, orig := c.order.Uint32(hdr[8:]), c.order.Uint32(hdr[12:])
	if c.nano && frac >= 1e9 || !c.nano && frac >= 1e6 {
		return false
	}
	if incl > maxRecord || incl > orig || orig > 1<<24 {
		return false
	}
	if c.n > 0 {
		// Within a day of the last good record: captures do not jump.
		d := int64(c.order.Uint32(hdr)) - c.lastSec
		if d < -86400 || d > 86400 {
			return false
		}
	}
	return true
}

func (c *classic) next() ([]byte, gopacket.CaptureInfo, error) {
	var ci gopacket.CaptureInfo
	hdr, err := c.r.Peek(16)
	if err != nil {
		if len(hdr) == 0 && errors.Is(err, io.EOF) {
			return nil, ci, io.EOF
		}
		return nil, ci, ErrTruncated
	}
	if !c.plausible(hdr) {
		skipped, err := c.resync()
		if err != nil {
			return nil, ci, err
		}
		return nil, ci, &ResyncError{After: c.n, Skipped: skipped}
	}
	sec, frac := c.order.Uint32(hdr), c.order.Uint32(hdr[4:])
	incl, orig := int(c.order.Uint32(hdr[8:])), int(c.order.Uint32(hdr[12:]))
	c.r.Discard(16)
	if cap(c.buf) < incl {
		c.buf = make([]byte, incl)
	}
	c.buf = c.buf[:incl]
	if _, err := io.ReadFull(c.r, c.buf); err != nil {
		return nil, ci, ErrTruncated
	}
	ns := int64(frac)
	if !c.nano {
		ns *= 1000
	}
	ci.Timestamp = time.Unix(int64(sec), ns).UTC()
	ci.CaptureLength, ci.Length = incl, orig
	c.n++
	c.lastSec = int64(sec)
	return c.buf, ci, nil
}

// resync skips bytes until a plausible record header that is followed by
// another one (or by the end of the file).
func (c *classic) resync() (int, error) {
	skipped := 0
	for {
		if _, err := c.r.Discard(1); err != nil {
			return skipped, ErrTruncated
		}
		skipped++
		hdr, err := c.r.Peek(16)
		if err != nil {
			return skipped, ErrTruncated
		}
		if !c.plausible(hdr) {
			continue
		}
		incl := int(c.order.Uint32(hdr[8:]))
		ahead, err := c.r.Peek(16 + incl + 16)
		if err != nil {
			if len(ahead) == 16+incl {
				return skipped, nil // the last record of the file
			}
			continue
		}
		if c.plausible(ahead[16+incl:]) {
			return skipped, nil
		}
	}
}
