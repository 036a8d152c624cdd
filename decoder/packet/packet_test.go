package packet

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	src4 = netip.MustParseAddr("192.0.2.1")
	dst4 = netip.MustParseAddr("198.51.100.2")
	src6 = netip.MustParseAddr("2001:db8::1")
	dst6 = netip.MustParseAddr("2001:db8::2")
	body = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
)

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tcpLayer(net gopacket.NetworkLayer) *layers.TCP {
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 50051, Seq: 0xfffffff0, Ack: 12345, PSH: true, ACK: true, Window: 512,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)}}}
	if err := tcp.SetNetworkLayerForChecksum(net); err != nil {
		panic(err)
	}
	return tcp
}

func ip4() *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, Flags: layers.IPv4DontFragment,
		SrcIP: net.IP(src4.AsSlice()), DstIP: net.IP(dst4.AsSlice())}
}

func ip6(next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: net.IP(src6.AsSlice()), DstIP: net.IP(dst6.AsSlice())}
}

// ipv4TCP and ipv6TCP are IP packets carrying body over TCP.
func ipv4TCP(t testing.TB) []byte {
	ip := ip4()
	return serialize(t, ip, tcpLayer(ip), gopacket.Payload(body))
}

func ipv6TCP(t testing.TB) []byte {
	ip := ip6(layers.IPProtocolTCP)
	return serialize(t, ip, tcpLayer(ip), gopacket.Payload(body))
}

func ethernet(t testing.TB, typ layers.EthernetType, payload []byte) []byte {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: typ}
	return serialize(t, eth, gopacket.Payload(payload))
}

func vlan(t testing.TB, outer layers.EthernetType, ids []uint16, typ layers.EthernetType, payload []byte) []byte {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: outer}
	ls := []gopacket.SerializableLayer{eth}
	for i, id := range ids {
		next := layers.EthernetTypeDot1Q
		if i == len(ids)-1 {
			next = typ
		}
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: id, Type: next})
	}
	return serialize(t, append(ls, gopacket.Payload(payload))...)
}

// sll builds a Linux cooked v1 header (16 bytes) before payload.
func sll(proto layers.EthernetType, payload []byte) []byte {
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h[0:], 0)   // to us
	binary.BigEndian.PutUint16(h[2:], 772) // ARPHRD_LOOPBACK
	binary.BigEndian.PutUint16(h[4:], 6)
	copy(h[6:], []byte{2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(h[14:], uint16(proto))
	return append(h, payload...)
}

// sll2 builds a Linux cooked v2 header (20 bytes) before payload.
func sll2(proto layers.EthernetType, payload []byte) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], uint16(proto))
	binary.BigEndian.PutUint32(h[4:], 3) // interface index
	binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
	h[10] = 4                            // outgoing
	h[11] = 6
	copy(h[12:], []byte{2, 0, 0, 0, 0, 1})
	return append(h, payload...)
}

func null(family uint32, bigEndian bool, payload []byte) []byte {
	h := make([]byte, 4)
	if bigEndian {
		binary.BigEndian.PutUint32(h, family)
	} else {
		binary.LittleEndian.PutUint32(h, family)
	}
	return append(h, payload...)
}

func checkSeg(t *testing.T, s *Segment, v6 bool, payload []byte, wire int) {
	t.Helper()
	src, dst := src4, dst4
	if v6 {
		src, dst = src6, dst6
	}
	if s.Src != netip.AddrPortFrom(src, 40000) || s.Dst != netip.AddrPortFrom(dst, 50051) {
		t.Errorf("Src=%v Dst=%v", s.Src, s.Dst)
	}
	if s.Seq != 0xfffffff0 || s.Ack != 12345 || s.Window != 512 || s.Flags != FlagPSH|FlagACK {
		t.Errorf("Seq=%#x Ack=%d Window=%d Flags=%#x", s.Seq, s.Ack, s.Window, s.Flags)
	}
	if string(s.Payload) != string(payload) || s.WireLen != wire {
		t.Errorf("Payload=%q WireLen=%d, want %q %d", s.Payload, s.WireLen, payload, wire)
	}
}

func TestLinkTypes(t *testing.T) {
	v4, v6 := ipv4TCP(t), ipv6TCP(t)
	tests := []struct {
		name string
		lt   layers.LinkType
		data []byte
		v6   bool
	}{
		{"Ethernet IPv4", layers.LinkTypeEthernet, ethernet(t, layers.EthernetTypeIPv4, v4), false},
		{"Ethernet IPv6", layers.LinkTypeEthernet, ethernet(t, layers.EthernetTypeIPv6, v6), true},
		{"802.1Q", layers.LinkTypeEthernet, vlan(t, layers.EthernetTypeDot1Q, []uint16{100}, layers.EthernetTypeIPv4, v4), false},
		{"QinQ", layers.LinkTypeEthernet, vlan(t, layers.EthernetTypeQinQ, []uint16{10, 20}, layers.EthernetTypeIPv6, v6), true},
		{"SLL IPv4", layers.LinkTypeLinuxSLL, sll(layers.EthernetTypeIPv4, v4), false},
		{"SLL IPv6", layers.LinkTypeLinuxSLL, sll(layers.EthernetTypeIPv6, v6), true},
		{"SLL2 IPv4", layers.LinkTypeLinuxSLL2, sll2(layers.EthernetTypeIPv4, v4), false},
		{"SLL2 IPv6", layers.LinkTypeLinuxSLL2, sll2(layers.EthernetTypeIPv6, v6), true},
		{"raw IPv4", layers.LinkTypeRaw, v4, false},
		{"raw IPv6", layers.LinkTypeRaw, v6, true},
		{"LINKTYPE_IPV4", layers.LinkTypeIPv4, v4, false},
		{"LINKTYPE_IPV6", layers.LinkTypeIPv6, v6, true},
		{"DLT 12", 12, v4, false},
		{"NULL IPv4", layers.LinkTypeNull, null(2, false, v4), false},
		{"NULL IPv6 (BSD 24)", layers.LinkTypeNull, null(24, false, v6), true},
		{"NULL IPv6 (macOS 30)", layers.LinkTypeNull, null(30, false, v6), true},
		{"LOOP big-endian IPv4", layers.LinkTypeLoop, null(2, true, v4), false},
		{"LOOP big-endian IPv6", layers.LinkTypeLoop, null(28, true, v6), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !Supported(tt.lt) {
				t.Errorf("Supported(%v) = false", tt.lt)
			}
			var d Decoder
			var s Segment
			if err := d.Decode(tt.lt, tt.data, &s); err != nil {
				t.Fatal(err)
			}
			checkSeg(t, &s, tt.v6, body, len(body))
			// gopacket agrees on where the TCP payload is (it has no
			// decoder for LINKTYPE_IPV4 and LINKTYPE_IPV6).
			if tt.lt == layers.LinkTypeIPv4 || tt.lt == layers.LinkTypeIPv6 {
				return
			}
			p := gopacket.NewPacket(tt.data, tt.lt, gopacket.Default)
			if app := p.ApplicationLayer(); app == nil || string(app.Payload()) != string(body) {
				t.Errorf("gopacket finds application payload %v", app)
			}
		})
	}
	// The loopback header gopacket writes decodes too.
	lo := serialize(t, &layers.Loopback{Family: layers.ProtocolFamilyIPv4}, gopacket.Payload(v4))
	var d Decoder
	var s Segment
	if err := d.Decode(layers.LinkTypeNull, lo, &s); err != nil {
		t.Fatal(err)
	}
	checkSeg(t, &s, false, body, len(body))
}

func TestIPv6ExtensionHeaders(t *testing.T) {
	opt := func() []*layers.IPv6HopByHopOption {
		return []*layers.IPv6HopByHopOption{
			{OptionType: 5, OptionLength: 2, OptionData: []byte{0, 0}}, // router alert
			{OptionType: 1}, // PadN to 8 bytes
		}
	}
	dstOpt := func() []*layers.IPv6DestinationOption {
		return []*layers.IPv6DestinationOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}} // PadN
	}
	tests := []struct {
		name   string
		layers func() []gopacket.SerializableLayer
	}{
		{"hop-by-hop", func() []gopacket.SerializableLayer {
			ip := ip6(layers.IPProtocolIPv6HopByHop)
			hbh := &layers.IPv6HopByHop{Options: opt()}
			hbh.NextHeader = layers.IPProtocolTCP
			return []gopacket.SerializableLayer{ip, hbh, tcpLayer(ip)}
		}},
		{"destination options", func() []gopacket.SerializableLayer {
			ip := ip6(layers.IPProtocolIPv6Destination)
			do := &layers.IPv6Destination{Options: dstOpt()}
			do.NextHeader = layers.IPProtocolTCP
			return []gopacket.SerializableLayer{ip, do, tcpLayer(ip)}
		}},
		{"hop-by-hop then destination options", func() []gopacket.SerializableLayer {
			ip := ip6(layers.IPProtocolIPv6HopByHop)
			hbh := &layers.IPv6HopByHop{Options: opt()}
			hbh.NextHeader = layers.IPProtocolIPv6Destination
			do := &layers.IPv6Destination{Options: dstOpt()}
			do.NextHeader = layers.IPProtocolTCP
			return []gopacket.SerializableLayer{ip, hbh, do, tcpLayer(ip)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			full := serialize(t, append(tt.layers(), gopacket.Payload(body))...)
			for _, cut := range []int{0, 5, len(body)} {
				data := full[:len(full)-cut]
				var d Decoder
				var s Segment
				if err := d.Decode(layers.LinkTypeRaw, data, &s); err != nil {
					t.Fatalf("cut %d: %v", cut, err)
				}
				checkSeg(t, &s, true, body[:len(body)-cut], len(body))
			}
		})
	}
}

func TestTruncated(t *testing.T) {
	for _, tt := range []struct {
		name string
		data []byte
		v6   bool
	}{
		{"IPv4", ethernet(t, layers.EthernetTypeIPv4, ipv4TCP(t)), false},
		{"IPv6", ethernet(t, layers.EthernetTypeIPv6, ipv6TCP(t)), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for cut := 0; cut <= len(body); cut++ {
				var d Decoder
				var s Segment
				if err := d.Decode(layers.LinkTypeEthernet, tt.data[:len(tt.data)-cut], &s); err != nil {
					t.Fatalf("cut %d: %v", cut, err)
				}
				checkSeg(t, &s, tt.v6, body[:len(body)-cut], len(body))
			}
			// Cut inside the TCP header: not a segment we can use.
			var d Decoder
			var s Segment
			if err := d.Decode(layers.LinkTypeEthernet, tt.data[:len(tt.data)-len(body)-5], &s); !errors.Is(err, ErrNotTCP) {
				t.Errorf("cut in the TCP header: %v, want ErrNotTCP", err)
			}
		})
	}
}

func TestEthernetPadding(t *testing.T) {
	// A bare ACK is shorter than Ethernet's minimum frame; the padding
	// after the IP packet is not payload.
	ip := ip4()
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 50051, Seq: 1, Ack: 2, ACK: true}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	pkt := serialize(t, ip, tcp)
	frame := ethernet(t, layers.EthernetTypeIPv4, append(pkt, make([]byte, 6)...))
	var d Decoder
	var s Segment
	if err := d.Decode(layers.LinkTypeEthernet, frame, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Payload) != 0 || s.WireLen != 0 || s.Flags != FlagACK {
		t.Errorf("Payload=%q WireLen=%d Flags=%#x", s.Payload, s.WireLen, s.Flags)
	}
	ip6h := ip6(layers.IPProtocolTCP)
	tcp = &layers.TCP{SrcPort: 40000, DstPort: 50051, Seq: 1, Ack: 2, ACK: true, FIN: true}
	_ = tcp.SetNetworkLayerForChecksum(ip6h)
	pkt = serialize(t, ip6h, tcp)
	if err := d.Decode(layers.LinkTypeRaw, append(pkt, 0, 0, 0, 0), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Payload) != 0 || s.WireLen != 0 || s.Flags != FlagACK|FlagFIN {
		t.Errorf("IPv6: Payload=%q WireLen=%d Flags=%#x", s.Payload, s.WireLen, s.Flags)
	}
}

func TestFlags(t *testing.T) {
	ip := ip4()
	tcp := &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true, FIN: true, RST: true, PSH: true, ACK: true, URG: true, ECE: true, CWR: true}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	var d Decoder
	var s Segment
	if err := d.Decode(layers.LinkTypeRaw, serialize(t, ip, tcp), &s); err != nil {
		t.Fatal(err)
	}
	all := uint8(FlagFIN | FlagSYN | FlagRST | FlagPSH | FlagACK | FlagURG)
	if s.Flags != all || !s.Has(FlagSYN|FlagACK) {
		t.Errorf("Flags = %#x, want %#x (ECE and CWR dropped)", s.Flags, all)
	}
	tcp = &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	if err := d.Decode(layers.LinkTypeRaw, serialize(t, ip, tcp), &s); err != nil {
		t.Fatal(err)
	}
	if s.Flags != FlagSYN || s.Has(FlagSYN|FlagACK) || !s.Has(FlagSYN) {
		t.Errorf("Flags = %#x", s.Flags)
	}
}

func TestMappedAddresses(t *testing.T) {
	ip := ip6(layers.IPProtocolTCP)
	ip.SrcIP = net.ParseIP("::ffff:192.0.2.1")
	ip.DstIP = net.ParseIP("::ffff:198.51.100.2")
	var d Decoder
	var s Segment
	if err := d.Decode(layers.LinkTypeRaw, serialize(t, ip, tcpLayer(ip), gopacket.Payload(body)), &s); err != nil {
		t.Fatal(err)
	}
	checkSeg(t, &s, false, body, len(body)) // IPv4-mapped addresses are IPv4 ones
}

func TestNotTCP(t *testing.T) {
	udp4 := func() []byte {
		ip := ip4()
		ip.Protocol = layers.IPProtocolUDP
		udp := &layers.UDP{SrcPort: 53, DstPort: 53}
		_ = udp.SetNetworkLayerForChecksum(ip)
		return serialize(t, ip, udp, gopacket.Payload("dns"))
	}
	icmp6 := func() []byte {
		ip := ip6(layers.IPProtocolICMPv6)
		return serialize(t, ip, gopacket.Payload([]byte{128, 0, 0, 0, 0, 1, 0, 1}))
	}
	frag4 := func(flags layers.IPv4Flag, off uint16) []byte {
		ip := ip4()
		ip.Flags, ip.FragOffset = flags, off
		return serialize(t, ip, tcpLayer(ip), gopacket.Payload(body))
	}
	frag6 := func() []byte {
		ip := ip6(layers.IPProtocolIPv6Fragment)
		fr := &layers.IPv6Fragment{NextHeader: layers.IPProtocolTCP, MoreFragments: true, Identification: 7}
		return serialize(t, ip, fr, tcpLayer(ip), gopacket.Payload(body))
	}
	arp := serialize(t, &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6,
		ProtAddressSize: 4, Operation: 1, SourceHwAddress: make([]byte, 6), SourceProtAddress: make([]byte, 4),
		DstHwAddress: make([]byte, 6), DstProtAddress: make([]byte, 4)})
	tests := []struct {
		name string
		lt   layers.LinkType
		data []byte
		want error
	}{
		{"UDP", layers.LinkTypeRaw, udp4(), ErrNotTCP},
		{"ICMPv6", layers.LinkTypeRaw, icmp6(), ErrNotTCP},
		{"more fragments", layers.LinkTypeRaw, frag4(layers.IPv4MoreFragments, 0), ErrFragment},
		{"fragment offset", layers.LinkTypeRaw, frag4(0, 185), ErrFragment},
		{"IPv6 fragment header", layers.LinkTypeRaw, frag6(), ErrFragment},
		{"ARP", layers.LinkTypeEthernet, ethernet(t, layers.EthernetTypeARP, arp), ErrNotIP},
		{"SLL ARP", layers.LinkTypeLinuxSLL, sll(layers.EthernetTypeARP, arp), ErrNotIP},
		{"raw garbage", layers.LinkTypeRaw, []byte("XYZ, world"), ErrNotIP},
		{"raw empty", layers.LinkTypeRaw, nil, ErrNotIP},
		{"IPv4 header only", layers.LinkTypeRaw, ipv4TCP(t)[:20], ErrNotTCP},
		{"IPv4 short header", layers.LinkTypeRaw, ipv4TCP(t)[:19], ErrNotIP},
		{"IPv4 bad IHL", layers.LinkTypeRaw, append([]byte{0x44}, ipv4TCP(t)[1:]...), ErrNotIP},
		{"NULL with an unknown family", layers.LinkTypeNull, null(99, false, ipv4TCP(t)), ErrNotIP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decoder
			var s Segment
			if err := d.Decode(tt.lt, tt.data, &s); !errors.Is(err, tt.want) {
				t.Errorf("Decode: %v, want %v", err, tt.want)
			}
		})
	}
	var d Decoder
	var s Segment
	if err := d.Decode(layers.LinkTypeIEEE802_11, []byte{1, 2, 3}, &s); !errors.Is(err, ErrUnsupported) || Supported(layers.LinkTypeIEEE802_11) {
		t.Errorf("802.11: %v", err)
	}
	for _, lt := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeNull} {
		if err := d.Decode(lt, []byte{1}, &s); err == nil {
			t.Errorf("%v: a 1-byte frame decoded", lt)
		}
	}
	if err := d.Decode(layers.LinkTypeRaw, ipv6TCP(t)[:39], &s); err == nil {
		t.Error("a 39-byte IPv6 header decoded")
	}
}

func TestDecodeNoAlloc(t *testing.T) {
	frames := [][]byte{ethernet(t, layers.EthernetTypeIPv4, ipv4TCP(t)), ethernet(t, layers.EthernetTypeIPv6, ipv6TCP(t))}
	var d Decoder
	var s Segment
	n := testing.AllocsPerRun(100, func() {
		for _, f := range frames {
			if err := d.Decode(layers.LinkTypeEthernet, f, &s); err != nil {
				t.Fatal(err)
			}
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per packet pair", n)
	}
}

// FuzzDecode: any bytes, as any supported link type, decode without
// panicking, and a segment's payload lies within the frame.
func FuzzDecode(f *testing.F) {
	f.Add(uint8(0), ethernet(f, layers.EthernetTypeIPv4, ipv4TCP(f)))
	f.Add(uint8(4), ipv6TCP(f))
	f.Add(uint8(2), sll2(layers.EthernetTypeIPv6, ipv6TCP(f)))
	f.Add(uint8(6), null(30, false, ipv6TCP(f)))
	lts := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2,
		layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, layers.LinkTypeNull, layers.LinkTypeLoop}
	f.Fuzz(func(t *testing.T, lt uint8, data []byte) {
		var d Decoder
		var s Segment
		if err := d.Decode(lts[int(lt)%len(lts)], data, &s); err != nil {
			return
		}
		if len(s.Payload) > 0 {
			end := cap(data) - cap(s.Payload) + len(s.Payload)
			if cap(s.Payload) > cap(data) || end > len(data) {
				t.Fatalf("payload of %d bytes is not within the %d-byte frame", len(s.Payload), len(data))
			}
		}
		if s.WireLen < len(s.Payload) {
			t.Fatalf("WireLen %d < %d captured", s.WireLen, len(s.Payload))
		}
		if !s.Src.IsValid() || !s.Dst.IsValid() {
			t.Fatalf("invalid addresses %v %v", s.Src, s.Dst)
		}
	})
}
