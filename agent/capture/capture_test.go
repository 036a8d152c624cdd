package capture

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hoptap/hoptap/bpf"
)

// ipv4TCP builds an IPv4+TCP packet with payload n bytes long.
func ipv4TCP(src, dst string, sport, dport uint16, seq, ack uint32, flags uint8, n int) []byte {
	b := make([]byte, 40+n)
	b[0] = 0x45
	tot := 40 + n
	b[2], b[3] = byte(tot>>8), byte(tot)
	b[9] = 6
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	t := b[20:]
	t[0], t[1], t[2], t[3] = byte(sport>>8), byte(sport), byte(dport>>8), byte(dport)
	t[4], t[5], t[6], t[7] = byte(seq>>24), byte(seq>>16), byte(seq>>8), byte(seq)
	t[8], t[9], t[10], t[11] = byte(ack>>24), byte(ack>>16), byte(ack>>8), byte(ack)
	t[12] = 5 << 4
	t[13] = flags
	return b
}

func TestParseTCP(t *testing.T) {
	p := ipv4TCP("10.0.0.1", "10.0.0.2", 40000, 50051, 7, 9, 0x18, 100)
	got, ok := parseTCP(p, len(p))
	if !ok || got.src != netip.MustParseAddrPort("10.0.0.1:40000") || got.dst != netip.MustParseAddrPort("10.0.0.2:50051") ||
		got.seq != 7 || got.ack != 9 || got.flags != 0x18 || got.paylen != 100 {
		t.Fatalf("parseTCP = %+v, %v", got, ok)
	}
	// A segmentation-offload packet says 0 in its IP header: the kernel's
	// length counts.
	p[2], p[3] = 0, 0
	if got, _ := parseTCP(p, 60000); got.paylen != 60000-40 {
		t.Errorf("paylen %d with IP total length 0, want %d", got.paylen, 60000-40)
	}
	for _, bad := range [][]byte{nil, p[:10], p[:30], {0x75, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		if _, ok := parseTCP(bad, len(bad)); ok {
			t.Errorf("parseTCP(%x) ok", bad)
		}
	}
}

func TestObservationsPairOnce(t *testing.T) {
	o := newObservations()
	p := ipv4TCP("10.0.0.1", "10.0.0.2", 1, 2, 100, 5, 0x10, 10)
	ti, _ := parseTCP(p, len(p))
	now := time.Now()
	o.add(&ti, 1, now)
	other := ti
	other.seq++
	if _, ok := o.match(&other); ok {
		t.Fatal("a different segment matched")
	}
	ob, ok := o.match(&ti)
	if !ok || ob.frame != 1 {
		t.Fatalf("match = %+v, %v", ob, ok)
	}
	if _, ok := o.match(&ti); ok {
		t.Fatal("matched twice")
	}
	// Bounded: the oldest are forgotten first.
	for i := range obsSlots + 10 {
		x := ti
		x.seq = uint32(i)
		o.add(&x, uint64(i), now)
	}
	if len(o.m) > obsSlots {
		t.Fatalf("%d observations kept, bound %d", len(o.m), obsSlots)
	}
	first := ti
	first.seq = 0
	if _, ok := o.match(&first); ok {
		t.Error("the oldest observation survived the ring turning over")
	}
	o.expire(now.Add(obsMaxAge + time.Second))
	if len(o.m) != 0 {
		t.Errorf("%d observations survive expiry", len(o.m))
	}
}

func pkt(cookie uint64, src, dst string, seq uint32) (bpf.Event, tcpInfo) {
	p := ipv4TCP(src, dst, 40000, 50051, seq, 0, 0x18, 4)
	e := bpf.Event{Kind: bpf.KindPacket, Cookie: cookie, TS: time.Now(), Data: p, Len: len(p)}
	ti, _ := parseTCP(p, len(p))
	if src != "10.0.0.1" {
		ti, _ = parseTCP(ipv4TCP(src, dst, 50051, 40000, seq, 0, 0x18, 4), len(p))
	}
	return e, ti
}

func TestPIDFilterHoldsUntilOwnerKnown(t *testing.T) {
	f := newPIDFilter([]uint32{42})
	ow := newOwners()
	// The accepted socket's first packets: owner unknown, held.
	e1, t1 := pkt(7, "10.0.0.1", "10.0.0.2", 1)
	e2, t2 := pkt(7, "10.0.0.1", "10.0.0.2", 5)
	if f.admit(&e1, &t1, ow) != admitHold || f.admit(&e2, &t2, ow) != admitHold {
		t.Fatal("packets of an undecided connection were not held")
	}
	e1.Data[40] = 'X' // the held copy must not alias the ring's buffer
	// The server's getsockname names pid 42: the held packets come out in
	// order.
	owner := bpf.Event{Kind: bpf.KindOwner, Cookie: 7, TGID: 42, Comm: "srv"}
	ow.set(&owner)
	held := f.owned(&owner)
	if len(held) != 2 || held[0].t.seq != 1 || held[1].t.seq != 5 || held[0].ev.Data[40] == 'X' {
		t.Fatalf("released %d packets: %+v", len(held), held)
	}
	e3, t3 := pkt(7, "10.0.0.2", "10.0.0.1", 9)
	if f.admit(&e3, &t3, ow) != admitNow {
		t.Error("a selected connection's packet was not admitted")
	}

	// Another process's connection is given up after the hold time.
	e4, t4 := pkt(8, "10.0.0.3", "10.0.0.2", 1)
	if f.admit(&e4, &t4, ow) != admitHold {
		t.Fatal("not held")
	}
	f.expire(time.Now().Add(holdMaxAge + time.Second))
	if f.admit(&e4, &t4, ow) != admitDrop || f.held != 0 {
		t.Errorf("an expired connection is still held (%d bytes)", f.held)
	}
	if f.dropped == 0 {
		t.Error("dropped observations not counted")
	}
}

func TestPIDFilterBounds(t *testing.T) {
	f := newPIDFilter([]uint32{42})
	ow := newOwners()
	var last admitResult
	for i := range holdPerConn + 1 {
		e, ti := pkt(9, "10.0.0.1", "10.0.0.2", uint32(i))
		last = f.admit(&e, &ti, ow)
	}
	if last != admitDrop || f.held != 0 || f.boundDrops != holdPerConn+1 {
		t.Errorf("past the per-connection hold limit: result %v, %d bytes held, %d bound drops", last, f.held, f.boundDrops)
	}
}

func TestCgroupsNamesAndContainers(t *testing.T) {
	root := t.TempDir()
	ctr := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, d := range []string{
		"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-" + ctr + ".scope",
		"kubepods/besteffort/pod5678/" + ctr[:8] + "ffff",
		"system.slice/crio-fedcba9876543210.scope",
	} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cg := NewCgroups(root)
	ids, err := cg.Container(ctr[:12])
	if err != nil || len(ids) != 1 {
		t.Fatalf("Container(%s) = %v, %v", ctr[:12], ids, err)
	}
	if n := cg.Name(ids[0]); filepath.Base(n) != "cri-containerd-"+ctr+".scope" {
		t.Errorf("Name = %q", n)
	}
	if _, err := cg.Container("fedcba987654"); err != nil {
		t.Errorf("CRI-O scope not found: %v", err)
	}
	if _, err := cg.Container("abc"); err == nil {
		t.Error("a 3-character id was accepted")
	}
	if _, err := cg.Container("999999999999"); err == nil {
		t.Error("a missing container was found")
	}
	id, err := cg.Resolve("/system.slice")
	if err != nil || cg.Name(id) != "/system.slice" {
		t.Errorf("Resolve = %d (%q), %v", id, cg.Name(id), err)
	}
	if _, err := cg.Resolve("/nope"); err == nil {
		t.Error("a missing cgroup resolved")
	}
}

// TestCgroupsShortLived: a cgroup made after the last scan is named at
// its first look, and keeps its name once removed (a Job's container may
// exit before its last packets are read); a missing id is looked for
// once. Time passing is the last scan's stamp moved back past the floor.
func TestCgroupsShortLived(t *testing.T) {
	root := t.TempDir()
	cg := NewCgroups(root)
	age := func() { cg.scanned = cg.scanned.Add(-max(minRescan, 10*cg.took) - time.Millisecond) }
	mk := func(rel string) uint64 {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		id, ok := inode(p)
		if !ok {
			t.Fatalf("no inode for %s", p)
		}
		return id
	}
	c1 := mk("kubepods/besteffort/pod1/c1")
	if n := cg.Name(c1); n != "" {
		t.Errorf("Name right after a scan = %q, want it unknown until the floor passed", n)
	}
	if cg.missed[c1] {
		t.Error("an id looked for within the floor was marked missed")
	}
	age()
	if n := cg.Name(c1); n != "/kubepods/besteffort/pod1/c1" {
		t.Errorf("Name of a cgroup made since the last scan = %q", n)
	}
	// c2 first: tmpfs, unlike cgroupfs, reuses a removed directory's inode.
	c2 := mk("kubepods/besteffort/pod1/c2")
	if err := os.Remove(filepath.Join(root, "kubepods/besteffort/pod1/c1")); err != nil {
		t.Fatal(err)
	}
	age()
	if n := cg.Name(c2); n != "/kubepods/besteffort/pod1/c2" {
		t.Errorf("Name of the second cgroup = %q", n)
	}
	if cg.live[c1] {
		t.Error("the removed cgroup is still live after a scan")
	}
	if n := cg.Name(c1); n != "/kubepods/besteffort/pod1/c1" {
		t.Errorf("Name of the removed cgroup = %q, want its name kept", n)
	}
	const gone = 1 << 62
	age()
	if n := cg.Name(gone); n != "" {
		t.Errorf("Name of a missing id = %q", n)
	}
	age()
	before := cg.scanned
	if cg.Name(gone) != "" || !cg.scanned.Equal(before) {
		t.Error("a missed id was looked for again")
	}
}

// TestCgroupsMade: a cgroup the kernel reports made is named from its
// path, even once gone, after the root's place in the hierarchy was
// learnt from one still there (a temporary directory is a root under a
// cgroup namespace: its id is not the hierarchy root's).
func TestCgroupsMade(t *testing.T) {
	root := t.TempDir()
	cg := NewCgroups(root)
	if cg.prefixKnown {
		t.Fatal("a temporary directory taken for the hierarchy's root")
	}
	cg.Made(999, "/ns/x/kubepods/gone")
	if n := cg.names[999]; n != "" {
		t.Errorf("named %q before the root's place was known", n)
	}
	p := filepath.Join(root, "kubepods", "c1")
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	id, _ := inode(p)
	cg.Made(id, "/ns/x/kubepods/c1")
	if !cg.prefixKnown || cg.prefix != "/ns/x" {
		t.Fatalf("prefix %q (known %v), want /ns/x", cg.prefix, cg.prefixKnown)
	}
	if n := cg.Name(id); n != "/kubepods/c1" {
		t.Errorf("Name of the cgroup the prefix came from = %q", n)
	}
	cg.Made(12345, "/ns/x/kubepods/c2")
	if n := cg.Name(12345); n != "/kubepods/c2" {
		t.Errorf("Name of a made cgroup never on disk here = %q", n)
	}
	// A node making containers all day: the removed ones named stay
	// bounded, the latest kept.
	const many = maxGone + 3*maxMade
	for i := range uint64(many) {
		cg.Made(1<<40+i, fmt.Sprintf("/ns/x/kubepods/job-%d", i))
	}
	cg.scan()
	if len(cg.gone) != maxGone || len(cg.names) > len(cg.live)+maxGone {
		t.Errorf("%d names, %d live, %d gone after %d made and removed", len(cg.names), len(cg.live), len(cg.gone), many)
	}
	if cg.names[1<<40] != "" || cg.Name(1<<40+many-1) != fmt.Sprintf("/kubepods/job-%d", many-1) {
		t.Errorf("the oldest removed is %q, the latest %q", cg.names[1<<40], cg.names[1<<40+many-1])
	}
	cg.Made(777, "/other/y")
	cg.Made(778, "/ns/xy/z")
	if cg.names[777] != "" || cg.names[778] != "" {
		t.Errorf("cgroups outside the root named: %q, %q", cg.names[777], cg.names[778])
	}
}

// FuzzParseTCP: arbitrary bytes and lengths never panic the header
// parser, and what it accepts lies within the packet.
func FuzzParseTCP(f *testing.F) {
	p := ipv4TCP("10.0.0.1", "10.0.0.2", 1, 2, 3, 4, 0x18, 10)
	f.Add(p, len(p))
	f.Add(p[:30], 0)
	f.Add(make([]byte, 60), 65536)
	f.Fuzz(func(t *testing.T, b []byte, wireLen int) {
		ti, ok := parseTCP(b, wireLen)
		// An accepted packet holds an IP header and a whole fixed TCP
		// header.
		if ok && (len(b) < 40 || b[0]>>4 == 6 && len(b) < 60) {
			t.Fatalf("accepted %d bytes: %+v", len(b), ti)
		}
	})
}
