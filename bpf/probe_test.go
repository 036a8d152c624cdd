package bpf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("HOPTAP_REQUIRE_ALL") != "" {
			t.Fatal("required but unavailable: needs root to load BPF programs")
		}
		t.Skip("needs root to load BPF programs")
	}
}

// TestProbeSeesLoopbackBothWays sends known bytes over loopback and
// expects them, unaltered, at the sender's egress and the receiver's
// ingress, with both sockets attributed to this process.
func TestProbeSeesLoopbackBothWays(t *testing.T) {
	requireRoot(t)
	port, dial := sinkListener(t)
	p, err := Open(Options{Ports: []uint16{port}, Payload: PayloadAll})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, w := range p.Warnings() {
		t.Log(w)
	}
	msg := bytes.Repeat([]byte("hoptap-probe-"), 100)
	c := dial()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	c.Close()

	var egress, ingress []byte
	owners := map[uint64]Event{}
	closed := 0
	deadline := time.After(10 * time.Second)
	for closed < 2 || len(ingress) < len(msg) {
		select {
		case b := <-p.Events():
			for _, e := range b.Events {
				switch e.Kind {
				case KindPacket:
					pl := tcpPayload(e.Data)
					if e.Dir == Egress {
						egress = append(egress, pl...)
					} else {
						ingress = append(ingress, pl...)
					}
				case KindOwner:
					owners[e.Cookie] = e
				case KindSock:
					if e.Op == SockClosed {
						closed++
					}
				}
			}
			b.Release()
		case <-deadline:
			t.Fatalf("timed out: egress %d bytes, ingress %d, %d closes", len(egress), len(ingress), closed)
		}
	}
	if !bytes.Equal(egress, msg) || !bytes.Equal(ingress, msg) {
		t.Fatalf("payload differs: egress %d bytes, ingress %d, want %d", len(egress), len(ingress), len(msg))
	}
	found := 0
	for _, o := range owners {
		if int(o.TGID) == os.Getpid() {
			found++
		}
	}
	if found < 2 {
		t.Errorf("want both sockets attributed to pid %d, got %v", os.Getpid(), owners)
	}
	cn, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if cn.Lost != 0 || cn.Packets == 0 {
		t.Errorf("counters: %+v", cn)
	}
}

func tcpPayload(ip []byte) []byte {
	var off int
	switch ip[0] >> 4 {
	case 4:
		off = int(ip[0]&0xf) * 4
	case 6:
		off = 40
	default:
		return nil
	}
	if len(ip) < off+20 {
		return nil
	}
	off += int(ip[off+12]>>4) * 4
	if off > len(ip) {
		return nil
	}
	return ip[off:]
}

// A small ring wraps many times under a bulk transfer, paced so that
// nothing is lost: every record read back, those that straddle the end
// of the data pages included, holds exactly the bytes that were sent at
// its sequence number.
func TestProbeRingWrapsIntact(t *testing.T) {
	requireRoot(t)
	// The programs are attached before the connection is made: the
	// port is known once the listener exists.
	port, dial := sinkListener(t)
	p, err := Open(Options{Ports: []uint16{port}, Payload: PayloadAll, RingBytes: 1 << 18})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := dial()
	// The stream: byte i is i*7 mod 251, so any slice says where it sits.
	// 16 KiB chunks: a 32 KiB write is one segment whose record (with
	// its headers) takes the ring's 64 KiB class, and with both of its
	// observations, the next chunk's and a tail-loss probe's resend (a
	// busy machine delays the ACKs) a 256 KiB ring overflowed.
	const total, chunk = 8 << 20, 16 << 10
	msg := make([]byte, total)
	for i := range msg {
		msg[i] = byte(i * 7 % 251)
	}
	var isn uint32
	haveISN := false
	seen, bad := 0, 0
	deadline := time.After(30 * time.Second)
	// Each chunk is written once the previous one was read back: the
	// ring (256 KiB) holds little more than a chunk's two observations.
	for sent := 0; sent < total; {
		if _, err := c.Write(msg[sent : sent+chunk]); err != nil {
			t.Fatal(err)
		}
		sent += chunk
		for seen < sent {
			select {
			case b := <-p.Events():
				for _, e := range b.Events {
					if e.Kind != KindPacket || e.Dir != Egress || len(e.Data) < 40 {
						continue
					}
					ihl := int(e.Data[0]&0xf) * 4
					if binary.BigEndian.Uint16(e.Data[ihl:]) == port {
						continue // the server's ACKs
					}
					seq := binary.BigEndian.Uint32(e.Data[ihl+4:])
					if e.Data[ihl+13]&0x02 != 0 { // SYN
						isn, haveISN = seq, true
						continue
					}
					pl := tcpPayload(e.Data)
					if !haveISN || len(pl) == 0 {
						continue
					}
					off := int(seq - isn - 1)
					if off < 0 || off+len(pl) > total || !bytes.Equal(pl, msg[off:off+len(pl)]) {
						bad++
					}
					seen += len(pl)
				}
				b.Release()
			case <-deadline:
				t.Fatalf("%d of %d bytes read back in 30 s", seen, sent)
			}
		}
	}
	cn, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes through a 256 KiB ring, %d records put together across its end, %d events lost", seen, p.ring.wraps, cn.Lost)
	if bad != 0 {
		t.Fatalf("%d records hold other bytes than were sent", bad)
	}
	if seen != total || cn.Lost != 0 {
		t.Errorf("%d bytes read back of %d, %d lost", seen, total, cn.Lost)
	}
	if p.ring.wraps == 0 {
		t.Error("no record straddled the end of the ring: the test proves nothing")
	}
}

// sinkListener listens on loopback, discarding what each connection
// sends; dial connects to it (closed with the test).
func sinkListener(t *testing.T) (port uint16, dial func() net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()
	return uint16(ln.Addr().(*net.TCPAddr).Port), func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
}

// TestProbePortFilter selects two of three listeners' ports in the kernel
// and expects every packet of those two and none of the third; the kernel
// counts the third's as filtered. Both ways the kernel holds ports: a
// short list, and the bitmap for more than portList (unused low ports
// fill it up).
func TestProbePortFilter(t *testing.T) {
	requireRoot(t)
	for _, filler := range []int{0, portList} {
		t.Run(fmt.Sprintf("%d more ports", filler), func(t *testing.T) { testPortFilter(t, filler) })
	}
}

func testPortFilter(t *testing.T, filler int) {
	pa, dialA := sinkListener(t)
	pb, dialB := sinkListener(t)
	pc, dialC := sinkListener(t)
	ports := []uint16{pa, pb}
	for i := range filler {
		ports = append(ports, uint16(i+1))
	}
	p, err := Open(Options{Ports: ports, Payload: PayloadAll})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, dial := range []func() net.Conn{dialC, dialA, dialB} {
		c := dial()
		if _, err := c.Write([]byte("port filter")); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	seen := map[uint16]int{}
	deadline := time.After(10 * time.Second)
	for seen[pa] == 0 || seen[pb] == 0 {
		select {
		case b := <-p.Events():
			for _, e := range b.Events {
				if e.Kind != KindPacket || len(e.Data) < 24 {
					continue
				}
				off := int(e.Data[0]&0xf) * 4
				sport := uint16(e.Data[off])<<8 | uint16(e.Data[off+1])
				dport := uint16(e.Data[off+2])<<8 | uint16(e.Data[off+3])
				for _, port := range []uint16{pa, pb, pc} {
					if sport == port || dport == port {
						seen[port]++
					}
				}
			}
			b.Release()
		case <-deadline:
			t.Fatalf("packets by port after 10 s: %v (want %d and %d)", seen, pa, pb)
		}
	}
	if seen[pc] != 0 {
		t.Errorf("%d packets of unselected port %d captured", seen[pc], pc)
	}
	if c, err := p.Counters(); err != nil {
		t.Fatal(err)
	} else if c.Filtered == 0 {
		t.Errorf("no packet counted as filtered: %+v", c)
	}
}

// TestProbeLazyDelivers: a lazy reader (the agent's) still hands on a
// trickle of events, within its longer poll interval.
func TestProbeLazyDelivers(t *testing.T) {
	requireRoot(t)
	port, dial := sinkListener(t)
	p, err := Open(Options{Ports: []uint16{port}, Lazy: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := dial()
	if _, err := c.Write([]byte("lazy")); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case b := <-p.Events():
			n := 0
			for _, e := range b.Events {
				if e.Kind == KindPacket {
					n++
				}
			}
			b.Release()
			if n > 0 {
				return
			}
		case <-deadline:
			t.Fatal("no packet event from the lazy reader in 10 s")
		}
	}
}

// h2Peers is a loopback connection under a probe opened with opts: send
// writes bytes from the client as a segment of their own (the server
// answers each write with a byte once it has it all, so the next is sent
// after it). frame builds an HTTP/2 frame.
type h2Peers struct {
	p              *Probe
	client, server netip.AddrPort
	send           func([]byte)
}

func newH2Peers(t *testing.T, opts Options) *h2Peers {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	sizes := make(chan int, 8)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		for n := range sizes {
			if _, err := io.ReadFull(c, make([]byte, n)); err != nil {
				return
			}
			c.Write([]byte{1})
		}
	}()
	opts.Ports = []uint16{port}
	p, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(sizes); c.Close() })
	return &h2Peers{
		p:      p,
		client: netip.MustParseAddrPort(c.LocalAddr().String()),
		server: netip.MustParseAddrPort(ln.Addr().String()),
		send: func(b []byte) {
			sizes <- len(b)
			if _, err := c.Write(b); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// collectPackets hands each packet event the probe reads (an IPv4 TCP
// header at least) to each until until says so; after 10 s it fails the
// test, showing what the caller collected in seen.
func collectPackets(t *testing.T, p *Probe, until func() bool, seen any, each func(*Event)) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !until() {
		select {
		case b := <-p.Events():
			for i := range b.Events {
				if e := &b.Events[i]; e.Kind == KindPacket && len(e.Data) >= 40 {
					each(e)
				}
			}
			b.Release()
		case <-deadline:
			t.Fatalf("after 10 s: %+v", seen)
		}
	}
}

func frame(typ, flags byte, stream uint32, payload ...byte) []byte {
	n := len(payload)
	return append([]byte{byte(n >> 16), byte(n >> 8), byte(n), typ, flags, byte(stream >> 24), byte(stream >> 16), byte(stream >> 8), byte(stream)}, payload...)
}

const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// TestProbeElidesControl: with ElideControl, segments of an HTTP/2
// connection that are whole PING and WINDOW_UPDATE frames are not
// copied, at the sender's egress nor at the receiver's ingress, and the
// next segment copied tells how many bytes were left out right before it;
// SetElideControl(false) copies them again.
func TestProbeElidesControl(t *testing.T) {
	requireRoot(t)
	h := newH2Peers(t, Options{ElideControl: true})
	p, send, port := h.p, h.send, h.server.Port()
	ping := frame(6, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8)
	wu := frame(8, 0, 0, 0, 0, 0x10, 0)
	headers := frame(1, 5, 1, 0x82, 0x86, 0x84) // :method GET, :scheme http, :path /
	send(append([]byte(preface), frame(4, 0, 0)...))
	send(ping)
	send(append(wu, ping...))
	send(headers)
	left := len(ping) + len(wu) + len(ping)
	// The client's payload as each capture point saw it, with what each
	// segment said was left out before it.
	type seen struct {
		payload string
		elided  int
	}
	var got [2][]seen // by Dir
	collect := func(until func() bool) {
		collectPackets(t, p, until, &got, func(e *Event) {
			off := int(e.Data[0]&0xf) * 4
			if sport := uint16(e.Data[off])<<8 | uint16(e.Data[off+1]); sport == port {
				return // the server's answers
			}
			if pl := tcpPayload(e.Data); len(pl) > 0 || e.Elided > 0 {
				got[e.Dir] = append(got[e.Dir], seen{string(pl), e.Elided})
			}
		})
	}
	has := func(d Dir, payload string) bool {
		for _, s := range got[d] {
			if s.payload == payload {
				return true
			}
		}
		return false
	}
	collect(func() bool { return has(Egress, string(headers)) && has(Ingress, string(headers)) })
	for _, d := range []Dir{Egress, Ingress} {
		for _, s := range got[d] {
			switch s.payload {
			case string(ping), string(wu) + string(ping):
				t.Errorf("%v: a segment of PING and WINDOW_UPDATE frames alone was copied", d)
			case string(headers):
				if s.elided != left {
					t.Errorf("%v: the HEADERS segment tells of %d bytes left out, want %d", d, s.elided, left)
				}
			default:
				if s.elided != 0 {
					t.Errorf("%v: segment %q tells of %d bytes left out", d, s.payload, s.elided)
				}
			}
		}
	}
	cn, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if cn.Elided != 4 || cn.ElidedBytes != uint64(2*left) {
		t.Errorf("counted %d segments, %d bytes left out; want 4, %d", cn.Elided, cn.ElidedBytes, 2*left)
	}
	// Off, a PING segment is copied like any other, and the first one
	// copied tells of the one left out just before the switch.
	send(ping)
	if err := p.SetElideControl(false); err != nil {
		t.Fatal(err)
	}
	send(ping)
	collect(func() bool { return has(Egress, string(ping)) && has(Ingress, string(ping)) })
	for _, d := range []Dir{Egress, Ingress} {
		for _, s := range got[d] {
			if s.payload == string(ping) && s.elided != len(ping) {
				t.Errorf("%v: the first PING copied with elision off tells of %d bytes left out, want %d", d, s.elided, len(ping))
			}
		}
	}
}

// TestProbeElidesAcks: with ElideAcks, or ElideControl while it is on, a
// bare acknowledgment (no payload, no SYN, FIN or RST) of a connection
// recognised as HTTP/2 is left out at both capture points and counted,
// while the handshake's last ACK, sent before any payload was
// recognised, is copied (it dates the handshake); SetElideControl(false)
// copies bare ACKs again.
func TestProbeElidesAcks(t *testing.T) {
	requireRoot(t)
	t.Run("ElideAcks", func(t *testing.T) { testElidesAcks(t, Options{ElideAcks: true}) })
	t.Run("ElideControl", func(t *testing.T) { testElidesAcks(t, Options{ElideControl: true}) })
}

// TestProbeWakesOncePerThreshold: the programs wake the reader when a
// wake-up threshold's worth of events waits (a sixteenth of the ring),
// once for each, even while the reader lags and more keeps coming: not
// for every record past it, each an interrupt in the sender's path.
func TestProbeWakesOncePerThreshold(t *testing.T) {
	requireRoot(t)
	const ring = 1 << 16
	h := newH2Peers(t, Options{RingBytes: ring, Payload: PayloadAll})
	p, send := h.p, h.send
	wakeups := func() uint64 {
		c, err := p.Counters()
		if err != nil {
			t.Fatal(err)
		}
		return c.Wakeups
	}
	data := frame(0, 0, 1, make([]byte, 1000)...)
	// Events come by the kernel's wake-ups now (and the one nudge).
	p.SetPollInterval(time.Hour)
	for range 2 * ring / 16 / len(data) {
		send(data)
	}
	got := 0
	collectPackets(t, p, func() bool { return got > 0 }, &got, func(*Event) { got++ })
	if wakeups() == 0 {
		t.Fatal("events read, but no wake-up counted")
	}
	// The reader stalls (nothing takes its batches) while four rings'
	// worth is sent: the one ring that fills holds 16 thresholds' worth.
	before := wakeups()
	for range 4 * ring / len(data) {
		send(data)
	}
	// (A wake-up for every record past the threshold made 31 here.)
	if n := wakeups() - before; n == 0 || n > 17 {
		t.Errorf("%d wake-ups while the reader lagged by a ring (16 thresholds), want 1 to 17", n)
	}
	for drained := false; !drained; {
		select {
		case b := <-p.Events():
			b.Release()
		case <-time.After(200 * time.Millisecond):
			drained = true
		}
	}
}

func testElidesAcks(t *testing.T, opts Options) {
	h := newH2Peers(t, opts)
	p, send := h.p, h.send
	headers := frame(1, 5, 1, 0x82, 0x86, 0x84)
	// Each send is answered with a byte, which the client's socket
	// acknowledges at once (quick ACKs at a connection's start).
	send(append([]byte(preface), frame(4, 0, 0)...))
	send(frame(4, 1, 0))
	send(headers)
	type seg struct {
		ts       time.Time
		flags    byte
		payload  int
		fromPeer bool // sent by the server
	}
	var segs []seg
	bare := func(s seg) bool { return s.payload == 0 && s.flags&0x07 == 0 }
	collect := func(until func() bool) {
		collectPackets(t, p, until, &segs, func(e *Event) {
			off := int(e.Data[0]&0xf) * 4
			s := seg{ts: e.TS, flags: e.Data[off+13], payload: len(tcpPayload(e.Data))}
			s.fromPeer = uint16(e.Data[off])<<8|uint16(e.Data[off+1]) == h.server.Port()
			segs = append(segs, s)
		})
	}
	elided := func() uint64 {
		cn, err := p.Counters()
		if err != nil {
			t.Fatal(err)
		}
		return cn.ElidedAcks
	}
	// Every bare ACK sent so far was left out or is in the ring now, read
	// before what comes after off.
	collect(func() bool { return elided() > 0 })
	off := p.Now()
	after := func(ok func(seg) bool) func() bool {
		return func() bool {
			for _, s := range segs {
				if s.ts.After(off) && ok(s) {
					return true
				}
			}
			return false
		}
	}
	if opts.ElideControl {
		// Off, they are copied like any other segment.
		if err := p.SetElideControl(false); err != nil {
			t.Fatal(err)
		}
		send(headers)
		collect(after(bare))
	} else {
		send(headers)
		collect(after(func(s seg) bool { return s.payload == len(headers) }))
	}
	var handshakeAcks, lateBare int
	payloadSeen := false
	for _, s := range segs {
		switch {
		case s.ts.After(off):
		case s.payload > 0:
			payloadSeen = true
		case bare(s) && !payloadSeen && !s.fromPeer:
			handshakeAcks++
		case bare(s):
			lateBare++
		}
	}
	if handshakeAcks != 2 {
		t.Errorf("the handshake's last ACK copied %d times, want 2 (egress and ingress): %+v", handshakeAcks, segs)
	}
	if lateBare != 0 {
		t.Errorf("%d bare ACKs copied after the connection was recognised: %+v", lateBare, segs)
	}
}

// TestProbeStampsTwins: with both sockets here, a segment is copied at
// its sender's egress and only stamped at the receiver's ingress: in
// full (ends, socket) for a connection's setup, light (its ends hashed as
// EndsTag hashes them) for one with payload, and not at all for DATA
// alone, which no view needs the arrival of.
func TestProbeStampsTwins(t *testing.T) {
	requireRoot(t)
	h := newH2Peers(t, Options{StampTwins: true})
	p, send, client, server := h.p, h.send, h.client, h.server
	headers := frame(1, 4, 1, 0x82, 0x86, 0x84)
	data := frame(0, 0, 1, 0, 0, 0, 0, 2, 8, 1) // not ending the stream
	send(append([]byte(preface), frame(4, 0, 0)...))
	send(headers)
	send(data)
	send(headers)

	type copied struct {
		ts   time.Time
		tag  uint64
		data string
	}
	var sent []copied // the client's segments at egress
	var light, full []Event
	wantTag := EndsTag(client, server)
	deadline := time.After(10 * time.Second)
	for len(light) < 3 {
		select {
		case b := <-p.Events():
			for _, e := range b.Events {
				switch {
				case e.Kind != KindPacket:
				case e.Twin && e.Data == nil && e.Local.IsValid():
					full = append(full, e)
				case e.Twin && e.Data == nil:
					if e.EndsTag == wantTag { // not the server's answers
						light = append(light, e)
					}
				case e.Dir == Egress:
					off := int(e.Data[0]&0xf) * 4
					src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(e.Data[12:16])), uint16(e.Data[off])<<8|uint16(e.Data[off+1]))
					dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(e.Data[16:20])), uint16(e.Data[off+2])<<8|uint16(e.Data[off+3]))
					if src == client {
						sent = append(sent, copied{e.TS, EndsTag(src, dst), string(tcpPayload(e.Data))})
					}
				}
			}
			b.Release()
		case <-deadline:
			t.Fatalf("after 10 s: %d light stamps, %d full, %d segments sent", len(light), len(full), len(sent))
		}
	}
	// The preface with SETTINGS, then each HEADERS: one light stamp each,
	// at the segment's departure, with its ends' tag.
	for i, s := range light {
		if s.Cookie != 0 || s.Dir != Ingress {
			t.Errorf("light stamp %d: %+v, want tag %x", i, s, wantTag)
		}
		found := false
		for _, c := range sent {
			if c.ts.Equal(s.TwinTS) {
				found = true
				if c.tag != s.EndsTag || c.data == string(data) {
					t.Errorf("light stamp %d is of segment %q (tag %x)", i, c.data, c.tag)
				}
				if !s.TS.After(c.ts) {
					t.Errorf("light stamp %d arrived at %v, before it left at %v", i, s.TS, c.ts)
				}
			}
		}
		if !found {
			t.Errorf("light stamp %d left at %v: no segment copied then", i, s.TwinTS)
		}
	}
	// The SYN, stamped in full at the listener: its ends and socket.
	syn := false
	for _, s := range full {
		if s.Local == client && s.Remote == server && s.Cookie != 0 {
			syn = true
		}
	}
	if !syn {
		t.Errorf("no full stamp of the client's handshake among %+v", full)
	}
	cn, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if cn.Twins == 0 {
		t.Errorf("the DATA segment's arrival was not left unstamped (no twin counted): %+v", cn)
	}
}

// TestProbeLoadsWithEveryOption: the verifier walks a different program
// for each set of load-time options (they are constants it prunes by),
// so each is loaded once.
func TestProbeLoadsWithEveryOption(t *testing.T) {
	requireRoot(t)
	root, err := Preflight("")
	if err != nil {
		t.Fatal(err)
	}
	var cg uint64
	if st, err := os.Stat(root); err == nil {
		cg = st.Sys().(*syscall.Stat_t).Ino
	}
	for mask := range 1 << 5 {
		for _, payload := range []PayloadMode{PayloadAuto, PayloadAll, PayloadHeaders} {
			o := Options{DropTwins: mask&1 != 0, StampTwins: mask&2 != 0, ElideControl: mask&4 != 0, ElideAcks: mask&16 != 0, Payload: payload}
			if mask&8 != 0 {
				o.Ports = []uint16{443, 50051}
				o.Prefixes = []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("::1/128")}
				o.Cgroups = []uint64{cg}
				o.Wire = []string{"lo"}
			}
			p, err := Open(o)
			if err != nil {
				t.Errorf("%+v: %v", o, err)
				continue
			}
			p.Close()
		}
	}
}

// TestProbePollInterval: Options.PollInterval is the reader's timeout,
// over the default and Lazy's.
func TestProbePollInterval(t *testing.T) {
	requireRoot(t)
	for _, c := range []struct {
		opts Options
		want time.Duration
	}{
		{Options{}, PollInterval},
		{Options{Lazy: true}, LazyPollInterval},
		{Options{Lazy: true, PollInterval: 3 * time.Second}, 3 * time.Second},
	} {
		c.opts.Ports = []uint16{1} // nothing to copy
		p, err := Open(c.opts)
		if err != nil {
			t.Fatal(err)
		}
		got := time.Duration(p.poll.Load())
		p.Close()
		if got != c.want {
			t.Errorf("Open(Lazy %v, PollInterval %v): the reader waits up to %v, want %v", c.opts.Lazy, c.opts.PollInterval, got, c.want)
		}
	}
}

// TestRingNudge: a reader waiting on a long interval is woken by nudge
// (SetPollInterval's, so that a shorter interval takes effect at once).
// Nudged until it wakes: a nudge before the wait began is overridden by
// the wait's own deadline.
func TestRingNudge(t *testing.T) {
	requireRoot(t)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: uint32(os.Getpagesize())})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r, err := newRing(m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	woke := make(chan error, 1)
	go func() {
		_, err := r.wait(time.Hour)
		woke <- err
	}()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-woke:
			if err != nil {
				t.Fatal(err)
			}
			return
		case <-tick.C:
			r.nudge()
		case <-deadline:
			t.Fatal("a reader waiting an hour was not woken within 10 s of nudges")
		}
	}
}

// TestProbeCloseOnlySelected: a socket's close is reported by the probe
// whose filters select it, not by every probe attached when it closes.
// The callback that reports a close is switched on per socket, by the
// probe that saw it established, so probe b (port y) gets called for the
// close of a's connection (port x) too; it must not report it. a sees
// x's two sockets close first, so their events would be in b's ring
// before those of y, which b must report.
func TestProbeCloseOnlySelected(t *testing.T) {
	requireRoot(t)
	portX, dialX := sinkListener(t)
	portY, dialY := sinkListener(t)
	a, err := Open(Options{Ports: []uint16{portX}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	cx := dialX()
	b, err := Open(Options{Ports: []uint16{portY}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// closes reads p until it has reported n closes, and returns their
	// ports.
	closes := func(p *Probe, n int) [][2]uint16 {
		t.Helper()
		var got [][2]uint16
		deadline := time.After(10 * time.Second)
		for len(got) < n {
			select {
			case batch := <-p.Events():
				for _, e := range batch.Events {
					if e.Kind == KindSock && e.Op == SockClosed {
						got = append(got, [2]uint16{e.Local.Port(), e.Remote.Port()})
					}
				}
				batch.Release()
			case <-deadline:
				t.Fatalf("timed out after %d of %d closes: %v", len(got), n, got)
			}
		}
		return got
	}
	cx.Close()
	for _, c := range closes(a, 2) {
		if c[0] != portX && c[1] != portX {
			t.Errorf("probe a (port %d) reported the close of %v", portX, c)
		}
	}
	dialY().Close()
	for _, c := range closes(b, 2) {
		if c[0] != portY && c[1] != portY {
			t.Errorf("probe b (port %d) reported the close of %v, another probe's connection", portY, c)
		}
	}
}
