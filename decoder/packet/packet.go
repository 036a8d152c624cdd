// Package packet turns captured link-layer frames into TCP segments.
//
// It knows the link types users meet in practice (Ethernet with VLAN
// tags, Linux cooked SLL and SLL2, raw IP and BSD loopback/NULL) and both
// IP versions. Everything that is not TCP is reported as such so callers
// can count it; nothing here allocates per packet.
package packet

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TCP flag bits as they appear in the header.
const (
	FlagFIN = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
)

// Segment is one TCP segment as captured. Payload aliases the capture
// buffer and is only valid until the next packet is read.
type Segment struct {
	TS       time.Time
	Src, Dst netip.AddrPort
	Seq, Ack uint32
	Flags    uint8
	Window   uint16
	// Payload holds the captured bytes; WireLen is how many the sender
	// sent. WireLen > len(Payload) means the snap length cut the packet.
	Payload []byte
	WireLen int
	// Iface is the capture interface index (pcapng); 0 for pcap.
	Iface int
	// Elided is how many bytes right before Seq the source left out as
	// whole frames nobody asked for (tcp.Config.Elision); 0 for files.
	Elided int
	// Observer names the vantage point, e.g. the socket whose hook saw
	// the packet. Each observer's packets of a connection are a view of
	// their own; 0 is the only one a file has.
	Observer uint64
}

// Has reports whether all the given flags are set.
func (s *Segment) Has(f uint8) bool { return s.Flags&f == f }

// Errors callers count separately.
var (
	ErrNotIP       = errors.New("not IP")
	ErrNotTCP      = errors.New("not TCP")
	ErrFragment    = errors.New("IP fragment")
	ErrUnsupported = errors.New("unsupported link type")
)

// Decoder parses frames of any supported link type. It keeps the layer
// structs between calls so decoding does not allocate.
type Decoder struct {
	eth  layers.Ethernet
	vlan layers.Dot1Q
	sll  layers.LinuxSLL
	sll2 layers.LinuxSLL2
	loop layers.Loopback
	ip6  layers.IPv6
}

// Supported reports whether frames of link type lt can be decoded.
func Supported(lt layers.LinkType) bool {
	switch lt {
	case layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2,
		layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6,
		layers.LinkTypeNull, layers.LinkTypeLoop, 12 /* raw IP on some BSDs */ :
		return true
	}
	return false
}

// Decode fills seg from one captured frame. origLen is the frame's length
// on the wire, used to detect snap-length truncation.
func (d *Decoder) Decode(lt layers.LinkType, data []byte, seg *Segment) error {
	df := gopacket.NilDecodeFeedback
	var next gopacket.LayerType
	var payload []byte
	switch lt {
	case layers.LinkTypeEthernet:
		if err := d.eth.DecodeFromBytes(data, df); err != nil {
			return err
		}
		next, payload = d.eth.NextLayerType(), d.eth.Payload
		// Peel VLAN tags (802.1Q and QinQ).
		for i := 0; i < 4 && next == layers.LayerTypeDot1Q; i++ {
			if err := d.vlan.DecodeFromBytes(payload, df); err != nil {
				return err
			}
			next, payload = d.vlan.NextLayerType(), d.vlan.Payload
		}
	case layers.LinkTypeLinuxSLL:
		if err := d.sll.DecodeFromBytes(data, df); err != nil {
			return err
		}
		next, payload = ethType(d.sll.EthernetType), d.sll.Payload
	case layers.LinkTypeLinuxSLL2:
		if err := d.sll2.DecodeFromBytes(data, df); err != nil {
			return err
		}
		next, payload = ethType(d.sll2.ProtocolType), d.sll2.Payload
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if err := d.loop.DecodeFromBytes(data, df); err != nil {
			return err
		}
		next, payload = d.loop.NextLayerType(), d.loop.Payload
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12:
		next, payload = ipVersion(data), data
	default:
		return fmt.Errorf("%w %d", ErrUnsupported, lt)
	}
	return d.decodeIP(next, payload, seg)
}

func ethType(t layers.EthernetType) gopacket.LayerType {
	switch t {
	case layers.EthernetTypeIPv4:
		return layers.LayerTypeIPv4
	case layers.EthernetTypeIPv6:
		return layers.LayerTypeIPv6
	}
	return gopacket.LayerTypeZero
}

func ipVersion(b []byte) gopacket.LayerType {
	if len(b) == 0 {
		return gopacket.LayerTypeZero
	}
	switch b[0] >> 4 {
	case 4:
		return layers.LayerTypeIPv4
	case 6:
		return layers.LayerTypeIPv6
	}
	return gopacket.LayerTypeZero
}

func (d *Decoder) decodeIP(next gopacket.LayerType, b []byte, seg *Segment) error {
	var src, dst netip.Addr
	var tcpBytes []byte
	var tcpWire int // TCP header+payload length according to the IP header
	switch next {
	case layers.LayerTypeIPv4:
		if len(b) < 20 {
			return ErrNotIP
		}
		ihl := int(b[0]&0x0f) * 4
		total := int(b[2])<<8 | int(b[3])
		if total == 0 {
			// Segmentation offload (TSO/GSO, BIG TCP) leaves the length
			// zero on captured super-packets: the captured bytes are it.
			total = len(b)
		}
		if ihl < 20 || len(b) < ihl || total < ihl {
			return ErrNotIP
		}
		if b[9] != 6 {
			return ErrNotTCP
		}
		if fragOff := (int(b[6])<<8 | int(b[7])) & 0x3fff; fragOff != 0 {
			return ErrFragment // more-fragments bit or non-zero offset
		}
		src = netip.AddrFrom4([4]byte(b[12:16]))
		dst = netip.AddrFrom4([4]byte(b[16:20]))
		tcpWire = total - ihl
		end := min(len(b), total)
		tcpBytes = b[ihl:end]
	case layers.LayerTypeIPv6:
		if err := d.ip6.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
			return err
		}
		nh, rest := d.ip6.NextHeader, d.ip6.Payload
		hbh := 0
		if h := d.ip6.HopByHop; h != nil {
			// gopacket has already taken the hop-by-hop header off Payload.
			nh, hbh = h.NextHeader, h.ActualLength
		}
		// Skip extension headers; a fragment header means we cannot read TCP.
		for i := 0; i < 8 && nh != layers.IPProtocolTCP; i++ {
			switch nh {
			case layers.IPProtocolIPv6HopByHop, layers.IPProtocolIPv6Routing, layers.IPProtocolIPv6Destination:
				if len(rest) < 8 {
					return ErrNotTCP
				}
				l := (int(rest[1]) + 1) * 8
				if len(rest) < l {
					return ErrNotTCP
				}
				nh, rest = layers.IPProtocol(rest[0]), rest[l:]
			case layers.IPProtocolIPv6Fragment:
				return ErrFragment
			default:
				return ErrNotTCP
			}
		}
		if nh != layers.IPProtocolTCP {
			return ErrNotTCP
		}
		src, _ = netip.AddrFromSlice(d.ip6.SrcIP)
		dst, _ = netip.AddrFromSlice(d.ip6.DstIP)
		// Payload length counts extension headers too.
		tcpWire = int(d.ip6.Length) - hbh - (len(d.ip6.Payload) - len(rest))
		tcpBytes = rest
		if d.ip6.Length == 0 { // jumbogram or truncated header; trust what we have
			tcpWire = len(rest)
		}
	default:
		return ErrNotIP
	}
	return d.decodeTCP(src, dst, tcpBytes, tcpWire, seg)
}

func (d *Decoder) decodeTCP(src, dst netip.Addr, b []byte, wire int, seg *Segment) error {
	if len(b) < 20 {
		return ErrNotTCP
	}
	off := int(b[12]>>4) * 4
	if off < 20 || off > len(b) {
		return ErrNotTCP
	}
	sp := uint16(b[0])<<8 | uint16(b[1])
	dp := uint16(b[2])<<8 | uint16(b[3])
	seg.Src = netip.AddrPortFrom(src.Unmap(), sp)
	seg.Dst = netip.AddrPortFrom(dst.Unmap(), dp)
	seg.Seq = be32(b[4:])
	seg.Ack = be32(b[8:])
	seg.Flags = b[13] & 0x3f
	seg.Window = uint16(b[14])<<8 | uint16(b[15])
	seg.Payload = b[off:]
	seg.WireLen = max(wire-off, len(seg.Payload))
	return nil
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
