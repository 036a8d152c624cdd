package bpf

import (
	"encoding/binary"
	"math/rand/v2"
	"reflect"
	"testing"
)

// record builds a packet record as hoptap.c lays it out.
func record(caplen int) []byte {
	r := make([]byte, pktHdrLen+caplen)
	r[0], r[1], r[2], r[3] = byte(KindPacket), byte(Egress), 1, byte(ClassHTTP2)
	binary.LittleEndian.PutUint32(r[4:], uint32(caplen+100))
	binary.LittleEndian.PutUint32(r[8:], uint32(caplen))
	binary.LittleEndian.PutUint64(r[24:], 0x1234)
	return r
}

func TestParseRecords(t *testing.T) {
	p := &Probe{}
	e, ok := p.parse(record(60))
	if !ok || e.Kind != KindPacket || e.Dir != Egress || !e.Truncated || e.Omitted || e.Len != 160 || len(e.Data) != 60 || e.Cookie != 0x1234 {
		t.Fatalf("parse = %+v, %v", e, ok)
	}
	// A caplen beyond the record is refused, not sliced past its end.
	r := record(60)
	binary.LittleEndian.PutUint32(r[8:], 1000)
	if _, ok := p.parse(r); ok {
		t.Error("a record shorter than its caplen was accepted")
	}
	o := make([]byte, ownerLen)
	o[0] = byte(KindOwner)
	binary.LittleEndian.PutUint32(o[4:], 42)
	copy(o[40:], "server\x00junk")
	if e, ok := p.parse(o); !ok || e.TGID != 42 || e.Comm != "server" {
		t.Errorf("owner = %+v, %v", e, ok)
	}
	// A second observation's stamp: an ingress packet event with no
	// data, its ends and both times. The layout is the generated type's.
	st := hoptapStampEvent{Kind: kindStamp, Len: 1500, Ts: 7, TwinTs: 5, Cookie: 9, Cgroup: 11, Sport: 40000, Dport: 10000}
	st.Saddr[10], st.Saddr[11], st.Saddr[12], st.Saddr[15] = 0xff, 0xff, 198, 3
	st.Daddr[10], st.Daddr[11], st.Daddr[12], st.Daddr[15] = 0xff, 0xff, 198, 2
	raw, err := binary.Append(nil, binary.LittleEndian, &st)
	if err != nil || len(raw) != stampLen {
		t.Fatalf("stamp record of %d bytes (%v), want %d", len(raw), err, stampLen)
	}
	if e, ok := p.parse(raw); !ok || e.Kind != KindPacket || !e.Twin || e.Dir != Ingress || e.Data != nil || e.Len != 1500 ||
		e.Cookie != 9 || e.Cgroup != 11 || e.TS.UnixNano() != 7 || e.TwinTS.UnixNano() != 5 ||
		e.Local.String() != "198.0.0.3:40000" || e.Remote.String() != "198.0.0.2:10000" {
		t.Errorf("stamp = %+v, %v", e, ok)
	}
	// A light stamp: the ends hashed, the receiving socket left out.
	ts := hoptapTagStampEvent{Kind: kindTagStamp, Len: 600, Ts: 17, TwinTs: 15, Tag: 0xfeedface12345678}
	raw, err = binary.Append(nil, binary.LittleEndian, &ts)
	if err != nil || len(raw) != tagStampLen {
		t.Fatalf("light stamp record of %d bytes (%v), want %d", len(raw), err, tagStampLen)
	}
	if e, ok := p.parse(raw); !ok || e.Kind != KindPacket || !e.Twin || e.Dir != Ingress || e.Data != nil || e.Len != 600 ||
		e.TS.UnixNano() != 17 || e.TwinTS.UnixNano() != 15 || e.EndsTag != 0xfeedface12345678 || e.Local.IsValid() || e.Cookie != 0 {
		t.Errorf("light stamp = %+v, %v", e, ok)
	}
	// A packet record's header is the generated type's: its twin time
	// and the bytes left out before it (ElideControl) land where C puts
	// them.
	pe := hoptapPktEvent{Kind: uint8(KindPacket), Dir: uint8(Egress), Flags: 4, Class: uint8(ClassHTTP2), Len: 90, Caplen: 3,
		Ts: 8, Cookie: 21, Cgroup: 22, TwinTs: 6, Elided: 34}
	raw, err = binary.Append(nil, binary.LittleEndian, &pe)
	if err != nil || len(raw) != pktHdrLen {
		t.Fatalf("packet header of %d bytes (%v), want %d", len(raw), err, pktHdrLen)
	}
	raw = append(raw, 1, 2, 3)
	if e, ok := p.parse(raw); !ok || !e.Twin || e.TwinTS.UnixNano() != 6 || e.Elided != 34 || e.Len != 90 || string(e.Data) != "\x01\x02\x03" ||
		e.Cookie != 21 || e.Cgroup != 22 {
		t.Errorf("packet = %+v, %v", e, ok)
	}
	// A cgroup made: its path as the kernel gave it; a cut one is left
	// unknown, not shortened.
	ce := hoptapCgroupEvent{Kind: uint8(KindCgroup), Level: 4, Ts: 3, Id: 1146}
	for i, c := range "/kubepods/besteffort/pod1/c1" {
		ce.Path[i] = int8(c)
	}
	raw, err = binary.Append(nil, binary.LittleEndian, &ce)
	if err != nil || len(raw) != cgroupLen {
		t.Fatalf("cgroup record of %d bytes (%v), want %d", len(raw), err, cgroupLen)
	}
	if e, ok := p.parse(raw); !ok || e.Kind != KindCgroup || e.Cgroup != 1146 || e.TS.UnixNano() != 3 ||
		e.CgroupPath != "/kubepods/besteffort/pod1/c1" {
		t.Errorf("cgroup = %+v, %v", e, ok)
	}
	raw[1] = 1
	if e, ok := p.parse(raw); !ok || e.CgroupPath != "" || e.Cgroup != 1146 {
		t.Errorf("cut cgroup = %+v, %v", e, ok)
	}
	for _, short := range [][]byte{nil, {byte(KindCgroup), 0}, {byte(KindOwner)}, {byte(KindSock), 0, 0}, {byte(KindRetransmit)}, {kindStamp, 0}, {kindTagStamp, 0}, {99}} {
		if _, ok := p.parse(short); ok {
			t.Errorf("parse(%x) accepted", short)
		}
	}
}

// FuzzParse feeds arbitrary records: the parser never panics and never
// hands out data beyond the record.
func FuzzParse(f *testing.F) {
	f.Add(record(0))
	f.Add(record(64))
	f.Add(make([]byte, ownerLen))
	f.Add(append([]byte{byte(KindSock)}, make([]byte, sockLen)...))
	f.Add(append([]byte{byte(KindRetransmit)}, make([]byte, retransLen)...))
	f.Add(append([]byte{kindStamp}, make([]byte, stampLen)...))
	f.Add(append([]byte{kindTagStamp}, make([]byte, tagStampLen)...))
	f.Add(append([]byte{byte(KindCgroup)}, make([]byte, cgroupLen)...))
	p := &Probe{}
	f.Fuzz(func(t *testing.T, r []byte) {
		e, ok := p.parse(r)
		if ok && e.Kind == KindPacket && e.Data != nil && pktHdrLen+len(e.Data) > len(r) {
			t.Fatalf("data of %d bytes from a %d-byte record", len(e.Data), len(r))
		}
	})
}

// TestParseIntoReusedSlot: a batch's slots are reused by records of any
// kind in any order; what parseInto leaves in a slot is what a fresh
// parse gives, whatever the slot held before.
func TestParseIntoReusedSlot(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(kind byte, n int) []byte {
		r := make([]byte, n)
		for i := range r {
			r[i] = byte(rng.Uint32())
		}
		r[0] = kind
		return r
	}
	records := func() [][]byte {
		pkt := fill(byte(KindPacket), pktHdrLen+40)
		binary.LittleEndian.PutUint32(pkt[8:], 40)
		twin := fill(byte(KindPacket), pktHdrLen+20)
		binary.LittleEndian.PutUint32(twin[8:], 20)
		twin[2] = 4
		plain := fill(byte(KindPacket), pktHdrLen)
		binary.LittleEndian.PutUint32(plain[8:], 0)
		plain[2] = 0
		return [][]byte{pkt, twin, plain, fill(kindStamp, stampLen), fill(kindTagStamp, tagStampLen), fill(byte(KindOwner), ownerLen),
			fill(byte(KindSock), sockLen), fill(byte(KindRetransmit), retransLen), fill(byte(KindCgroup), cgroupLen)}
	}
	p := &Probe{}
	for round := range 50 {
		rs := records()
		var slot Event
		for _, i := range rng.Perm(len(rs)) {
			want, ok := p.parse(rs[i])
			if !ok {
				t.Fatalf("record of kind %d refused", rs[i][0])
			}
			if !p.parseInto(rs[i], &slot) || !reflect.DeepEqual(slot, want) {
				t.Fatalf("round %d, kind %d into a used slot:\n got %+v\nwant %+v", round, rs[i][0], slot, want)
			}
		}
	}
}
