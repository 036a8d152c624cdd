package bpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// PayloadMode says which connections have their payload copied.
type PayloadMode uint32

// Payload modes.
const (
	// PayloadAuto copies payload only for connections recognised as
	// HTTP/2 or TLS (or not recognised yet); the rest get headers only.
	PayloadAuto PayloadMode = 0
	// PayloadAll copies every packet up to the snap length.
	PayloadAll PayloadMode = 1
	// PayloadHeaders copies IP and TCP headers only.
	PayloadHeaders PayloadMode = 2
)

// ParsePayloadMode reads "auto", "all" or "headers".
func ParsePayloadMode(s string) (PayloadMode, error) {
	switch s {
	case "auto", "":
		return PayloadAuto, nil
	case "all":
		return PayloadAll, nil
	case "headers":
		return PayloadHeaders, nil
	}
	return 0, fmt.Errorf("unknown payload mode %q: want auto, all or headers", s)
}

// MaxSnaplen is the most bytes kept of one packet, from its IP header on.
const MaxSnaplen = 65535

// portList is the C side's PORT_LIST: the ports compared one by one;
// twinSlots its TWIN_SLOTS, the twins table's rows per CPU.
const (
	portList  = 16
	twinSlots = 256
)

// Options say what the kernel copies. Zero values copy everything TCP.
type Options struct {
	// CgroupRoot is where the programs attach; empty finds the cgroup v2
	// root.
	CgroupRoot string
	Snaplen    int // 0 or more than MaxSnaplen: MaxSnaplen
	Payload    PayloadMode
	// Filters: a packet is copied when every non-empty one matches.
	Ports    []uint16       // either port
	Prefixes []netip.Prefix // either address
	Cgroups  []uint64       // the socket's cgroup v2 id or an ancestor's
	// RingBytes is the ring buffer's size, a power of two (default 16 MiB).
	RingBytes int
	// Lazy reads the ring buffer less often: when a quarter of it waits,
	// or at the latest every LazyPollInterval, instead of a sixteenth
	// and PollInterval. Every wake-up costs the reader its caches again
	// (the peers ran in between), so for a node agent, whose events end
	// in metrics, this saves about a tenth of its CPU; events wait
	// longer, and a burst has less room before the ring is full.
	Lazy bool
	// PollInterval, if set, is the longest an event waits in the ring
	// buffer instead of PollInterval or LazyPollInterval (the kernel
	// still wakes the reader at a sixteenth or a quarter of the ring).
	PollInterval time.Duration
	// DropTwins counts, without copying, the second observation of a
	// packet whose sender and receiver are both on this node (the
	// receiver's ingress of what the sender's egress copied).
	DropTwins bool
	// StampTwins sends such a second observation as a stamp, an Event
	// with Twin set, TwinTS the first one's time and no Data: the
	// receiver's timing and socket without copying the packet twice
	// (SetTwinPayload copies it whole). Ignored with DropTwins.
	StampTwins bool
	// ElideControl leaves out the segments of HTTP/2 connections that are
	// whole PING and WINDOW_UPDATE frames, for consumers that want no
	// such frame and no packet (about a third of unary gRPC's segments
	// are these). The next packet Event of the socket and direction
	// carries in Elided how many bytes right before it were left out.
	// SetElideControl turns it on and off while capturing. Only with
	// payload auto, where connections are recognised.
	ElideControl bool
	// ElideAcks leaves out the bare acknowledgments (no payload, no SYN,
	// FIN or RST) of connections recognised as HTTP/2, for consumers that
	// record no packets: the decoder needs none of them (about a tenth of
	// unary gRPC's segments). A connection's handshake is copied whole.
	// ElideControl leaves them out too, while it is on.
	ElideAcks bool
	// Wire names interfaces (of this network namespace) whose ingress
	// and egress tcx stamps every selected TCP segment crossing them:
	// KindWire events, headers only, for how long the node's stack held
	// each segment between a socket and the interface. Linux 6.6+.
	Wire []string
}

// Kind is the kind of an Event.
type Kind uint8

// Event kinds.
const (
	KindPacket     Kind = 1 // a TCP packet, from its IP header on
	KindOwner      Kind = 2 // a process used a socket
	KindSock       Kind = 3 // a connection was established or closed
	KindRetransmit Kind = 4 // the kernel retransmitted a segment
	// KindWire is a TCP segment crossing an interface of Options.Wire,
	// laid out as a KindPacket event: Dir (ingress: arriving through
	// the interface, egress: leaving through it), Ifindex, TS, Len and
	// Data, its IP and TCP headers only. It has no socket: Cookie and
	// Cgroup are 0.
	KindWire Kind = 7
	// KindCgroup is a cgroup v2 made: Cgroup is its id and CgroupPath its
	// path from the hierarchy's root (not the mount's: under a cgroup
	// namespace the two differ), "" when the kernel's was longer than
	// the event holds.
	KindCgroup Kind = 8
)

// Dir is where a packet was seen.
type Dir uint8

// Capture points.
const (
	Ingress Dir = 0
	Egress  Dir = 1
)

func (d Dir) String() string {
	if d == Egress {
		return "egress"
	}
	return "ingress"
}

// Class is what the kernel recognised a socket's connection as.
type Class uint8

// Classes.
const (
	ClassUndecided Class = 0
	ClassHTTP2     Class = 1
	ClassTLS       Class = 2
	ClassOther     Class = 3
)

// OwnerHook is the syscall that showed a socket's process.
type OwnerHook uint8

// Owner hooks.
const (
	HookCreate      OwnerHook = 1
	HookConnect     OwnerHook = 2
	HookGetsockname OwnerHook = 3
	HookGetpeername OwnerHook = 4
)

// SockOp is a connection lifecycle event.
type SockOp uint8

// Lifecycle events.
const (
	SockActiveEstablished  SockOp = 1 // this side connected
	SockPassiveEstablished SockOp = 2 // this side accepted
	SockClosed             SockOp = 3
)

// Event is one record from the kernel. Fields beyond Kind, TS and Cookie
// are filled per kind.
type Event struct {
	Kind   Kind
	TS     time.Time
	Cookie uint64 // socket cookie: unique per socket while the system runs
	Cgroup uint64 // cgroup v2 id: the socket's (packets) or the process's (owners)

	// KindPacket
	Dir       Dir
	Class     Class
	Truncated bool // cut by the snap length
	Omitted   bool // payload not copied: neither HTTP/2 nor TLS
	// Twin (Options.StampTwins): the second observation of a segment
	// whose first, at the local sender's egress, was copied at TwinTS.
	// Unless SetTwinPayload asked for the payload it is a stamp alone:
	// no Data, and Local and Remote are the segment's source and
	// destination. A segment with payload that opens and closes nothing
	// (most) is stamped lighter: Local and Remote are invalid, Cookie and
	// Cgroup 0, and EndsTag is EndsTag(source, destination).
	Twin    bool
	TwinTS  time.Time
	EndsTag uint64
	Len     int // bytes on the wire from the IP header on
	// Elided (Options.ElideControl): the bytes of the stream right before
	// this segment that the kernel left out, all whole PING and
	// WINDOW_UPDATE frames (the first of them at a frame boundary if this
	// segment's stream was at one).
	Elided  int
	Ifindex uint32
	Data    []byte // the IP packet as copied; valid until the batch is released

	// KindOwner
	TGID, PID uint32
	Comm      string
	Hook      OwnerHook

	// KindCgroup
	CgroupPath string

	// KindSock and KindRetransmit
	Op            SockOp
	Local, Remote netip.AddrPort // for retransmits and twin stamps: source and destination
	SRTT          time.Duration
	Retransmits   uint32
	Handshake     time.Duration // connect() to established; 0 when unknown
	State         uint8
}

// Batch is a run of events read together. Their data points into the
// ring buffer's mapping: Release hands that space back to the kernel.
type Batch struct {
	Events []Event
	buf    []byte // records that wrapped around the ring's end, put together
	pool   chan *Batch
	probe  *Probe
	end    uint64 // the ring position after its last record
}

// Release hands the batch back; its events must not be used after.
// Batches are released in the order they came.
func (b *Batch) Release() {
	b.probe.release(b.end)
	select {
	case b.pool <- b:
	default:
	}
}

// release publishes the ring space before end, once, and tells a reader
// waiting for room.
func (p *Probe) release(end uint64) {
	p.relMu.Lock()
	if !p.unmapped && end > p.relPos {
		p.relPos = end
		p.ring.publish(end)
	}
	p.relMu.Unlock()
	select {
	case p.relCh <- struct{}{}:
	default:
	}
}

// outstanding says whether batches up to sent are not all released.
func (p *Probe) outstanding(sent uint64) bool {
	p.relMu.Lock()
	defer p.relMu.Unlock()
	return p.relPos < sent
}

// Counters are the kernel's counts, summed over CPUs.
type Counters struct {
	Packets   uint64 // packets copied or attempted
	Lost      uint64 // packet events the ring buffer had no room for
	LostBytes uint64
	LostOther uint64 // owner, lifecycle, retransmit and cgroup events lost
	Truncated uint64 // packets cut by the snap length
	Omitted   uint64 // packets whose payload was not copied (not HTTP/2 or TLS)
	Unparsed  uint64 // TCP packets whose headers could not be followed
	Filtered  uint64 // TCP packets not selected by the filters
	Twins     uint64 // second observations counted but not copied (DropTwins)
	// Segments and bytes left out as whole PING and WINDOW_UPDATE frames
	// (ElideControl): not losses, the next segment tells of them.
	Elided      uint64
	ElidedBytes uint64
	// Bare acknowledgments of HTTP/2 connections left out (ElideAcks,
	// ElideControl): not losses, nothing the decoder needs.
	ElidedAcks uint64
	// Wake-ups of the reader forced by the programs: one for each
	// wakeup threshold's worth of events that came to wait.
	Wakeups uint64
	// Options.Wire: segments stamped at the chosen interfaces (those
	// the ring had no room for are in Lost), and TCP packets there
	// whose headers could not be followed.
	Wire, WireUnparsed uint64
}

// Probe is the loaded and attached programs.
type Probe struct {
	objs       hoptapObjects
	links      []link.Link
	ring       *ring
	cgroupRoot string
	warnings   []string
	ch         chan *Batch
	pool       chan *Batch
	monoToWall int64
	stopOnce   sync.Once
	closeOnce  sync.Once
	done       chan struct{}
	readErr    error
	// The consumer's side of the ring: what batches released so far
	// handed back (published), and whether the mapping is gone.
	relMu    sync.Mutex
	relPos   uint64
	unmapped bool
	relCh    chan struct{}
	relWait  *time.Timer
	// batchBytes bounds the ring space one batch holds.
	batchBytes uint64
	poll       atomic.Int64 // the longest the reader sleeps (a time.Duration)
	elidable   bool         // opened with ElideControl
	wire       []WireInterface
	// Pause: the links of the programs in the traffic's path (nil
	// while paused), and whether Stop has closed them for good.
	pauseMu sync.Mutex
	packet  []packetHook
	stopped bool
}

// packetHook is a program in the traffic's path, and its link while
// attached.
type packetHook struct {
	prog   *ebpf.Program
	attach ebpf.AttachType
	what   string
	link   link.Link
}

// PollInterval is the longest an event waits in the ring buffer when
// traffic is light; LazyPollInterval with Options.Lazy.
const (
	PollInterval     = 100 * time.Millisecond
	LazyPollInterval = 250 * time.Millisecond
)

const (
	// Batches are small and few: the ring buffer is the buffer, and a
	// consumer that falls behind makes the kernel count losses.
	batchBytes   = 128 << 10
	batchEvents  = 512
	pktHdrLen    = 56
	ownerLen     = 56
	sockLen      = 72
	retransLen   = 56
	stampLen     = 80
	tagStampLen  = 32
	cgroupLen    = 24 + 512
	kindStamp    = 5 // a second observation's stamp alone, given as a KindPacket Event
	kindTagStamp = 6 // the same with its ends hashed (EndsTag)
)

// EndsTag hashes a segment's source and destination as the kernel does
// for a light stamp (Event.EndsTag): the same ends, the same tag.
func EndsTag(src, dst netip.AddrPort) uint64 {
	a, b := src.Addr().As16(), dst.Addr().As16()
	h := uint64(src.Port())<<16 | uint64(dst.Port())
	for _, x := range [...][16]byte{a, b} {
		for i := 0; i < 16; i += 8 {
			h = (h ^ le.Uint64(x[i:])) * 0x9e3779b97f4a7c15
			h ^= h >> 29
		}
	}
	return h
}

// Open checks the system, loads the programs, attaches them and starts
// reading. Errors say what is missing and how to fix it.
func Open(opts Options) (*Probe, error) {
	root, err := Preflight(opts.CgroupRoot)
	if err != nil {
		return nil, err
	}
	wire, err := wireInterfaces(opts.Wire)
	if err != nil {
		return nil, err
	}
	spec, err := loadHoptap()
	if err != nil {
		return nil, fmt.Errorf("loading the embedded BPF object: %w", err)
	}
	snap := opts.Snaplen
	if snap <= 0 || snap > MaxSnaplen {
		snap = MaxSnaplen
	}
	ring := 16 << 20
	if opts.RingBytes > 0 {
		ring = opts.RingBytes
	}
	wake := ring / 16
	if opts.Lazy {
		wake = ring / 4
	}
	if err := spec.Variables["wakeup_bytes"].Set(uint64(wake)); err != nil {
		return nil, fmt.Errorf("setting wakeup_bytes: %w", err)
	}
	set := map[string]uint32{
		"snaplen":        uint32(snap),
		"payload_mode":   uint32(opts.Payload),
		"filter_ports":   b2u(len(opts.Ports) > 0),
		"filter_hosts":   b2u(len(opts.Prefixes) > 0),
		"filter_cgroups": b2u(len(opts.Cgroups) > 0),
		"drop_twins":     b2u(opts.DropTwins),
		"stamp_twins":    b2u(opts.StampTwins && !opts.DropTwins),
		"elide_control":  b2u(opts.ElideControl),
		"elide_allowed":  b2u(opts.ElideControl),
		"elide_acks":     b2u(opts.ElideAcks),
	}
	// A few ports are compared one by one (one cache line); more go in
	// the bitmap.
	var ports [1024]uint64
	var list [portList]uint16
	listed := slices.Compact(slices.Sorted(slices.Values(opts.Ports)))
	for _, port := range listed {
		ports[port>>6] |= 1 << (port & 63)
	}
	if len(listed) <= portList {
		copy(list[:], listed)
		set["port_count"] = uint32(len(listed))
	}
	if err := spec.Variables["port_bits"].Set(ports); err != nil {
		return nil, fmt.Errorf("setting port_bits: %w", err)
	}
	if err := spec.Variables["port_list"].Set(list); err != nil {
		return nil, fmt.Errorf("setting port_list: %w", err)
	}
	// The twins table: TWIN_SLOTS rows for each CPU the kernel may run.
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("counting CPUs: %w", err)
	}
	spec.Maps["twins"].MaxEntries = twinSlots * uint32(cpus)
	set["twin_cpus"] = uint32(cpus)
	for name, v := range set {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("setting %s: %w", name, err)
		}
	}
	if opts.RingBytes > 0 {
		if opts.RingBytes&(opts.RingBytes-1) != 0 || opts.RingBytes < os.Getpagesize() {
			return nil, fmt.Errorf("ring buffer size %d: want a power of two of at least %d", opts.RingBytes, os.Getpagesize())
		}
		spec.Maps["events"].MaxEntries = uint32(opts.RingBytes)
	}
	p := &Probe{cgroupRoot: root, done: make(chan struct{}), elidable: opts.ElideControl}
	p.poll.Store(int64(PollInterval))
	if opts.Lazy {
		p.poll.Store(int64(LazyPollInterval))
	}
	if opts.PollInterval > 0 {
		p.poll.Store(int64(opts.PollInterval))
	}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		return nil, loadError(err)
	}
	if err := p.fillFilters(opts); err != nil {
		p.objs.Close()
		return nil, err
	}
	if err := p.attach(); err != nil {
		p.Close()
		return nil, err
	}
	if err := p.attachWire(wire); err != nil {
		p.Close()
		return nil, err
	}
	if p.ring, err = newRing(p.objs.Events); err != nil {
		p.Close()
		return nil, fmt.Errorf("opening the ring buffer: %w", err)
	}
	p.monoToWall = monoToWall()
	// Batches hold their ring space until released. Six can be out at
	// once; together they stay under the kernel's wake-up threshold
	// (a sixteenth of the ring, a quarter when lazy: the programs wake
	// the reader each time another threshold's worth waits), and leave
	// the kernel room.
	p.batchBytes = min(batchBytes, uint64(p.objs.Events.MaxEntries())/128)
	p.relCh = make(chan struct{}, 1)
	p.relWait = time.NewTimer(time.Hour)
	p.relWait.Stop()
	p.ch = make(chan *Batch, 4)
	// Enough for every batch that can be out at once (those queued, the
	// one being read and the one being handled): a batch made and
	// dropped under load is work for the collector.
	p.pool = make(chan *Batch, 6)
	go p.read()
	return p, nil
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

func (p *Probe) fillFilters(opts Options) error {
	one := uint8(1)
	for _, pf := range opts.Prefixes {
		k := hoptapPrefixKey{Prefixlen: uint32(pf.Bits())}
		a := pf.Addr()
		if a.Is4() {
			k.Prefixlen += 96
		}
		k.Addr = a.As16()
		if err := p.objs.Prefixes.Put(k, one); err != nil {
			return fmt.Errorf("host filter: %w", err)
		}
	}
	for _, id := range opts.Cgroups {
		if err := p.objs.Cgroups.Put(id, one); err != nil {
			return fmt.Errorf("cgroup filter: %w", err)
		}
	}
	return nil
}

// attach links every program. Links are file descriptors: when this
// process ends, however it ends, the kernel detaches them.
func (p *Probe) attach() error {
	cg, err := os.Open(p.cgroupRoot)
	if err != nil {
		return fmt.Errorf("opening cgroup root %s: %w", p.cgroupRoot, err)
	}
	defer cg.Close()
	// Only the packet hooks are required; the rest add process and
	// connection detail, and a kernel without one still captures.
	hooks := []struct {
		prog     *ebpf.Program
		attach   ebpf.AttachType
		what     string
		required bool
		packet   bool // in the traffic's path: Pause detaches it
	}{
		{p.objs.HoptapIngress, ebpf.AttachCGroupInetIngress, "cgroup_skb ingress", true, true},
		{p.objs.HoptapEgress, ebpf.AttachCGroupInetEgress, "cgroup_skb egress", true, true},
		// At each connection's handshake and state changes.
		{p.objs.HoptapSockops, ebpf.AttachCGroupSockOps, "sock_ops (connection lifecycle and RTT)", false, true},
		{p.objs.HoptapSockCreate, ebpf.AttachCGroupInetSockCreate, "sock_create (process attribution)", false, false},
		{p.objs.HoptapConnect4, ebpf.AttachCGroupInet4Connect, "connect4 (process attribution)", false, false},
		{p.objs.HoptapConnect6, ebpf.AttachCGroupInet6Connect, "connect6 (process attribution)", false, false},
		{p.objs.HoptapGetsockname4, ebpf.AttachCgroupInet4GetSockname, "getsockname4 (process attribution)", false, false},
		{p.objs.HoptapGetsockname6, ebpf.AttachCgroupInet6GetSockname, "getsockname6 (process attribution)", false, false},
		{p.objs.HoptapGetpeername4, ebpf.AttachCgroupInet4GetPeername, "getpeername4 (process attribution)", false, false},
		{p.objs.HoptapGetpeername6, ebpf.AttachCgroupInet6GetPeername, "getpeername6 (process attribution)", false, false},
	}
	for _, h := range hooks {
		l, err := link.AttachRawLink(link.RawLinkOptions{Target: int(cg.Fd()), Program: h.prog, Attach: h.attach})
		switch {
		case err != nil && h.required:
			return fmt.Errorf("attaching %s at %s: %w (needs bpf_link support, Linux 5.7+)", h.what, p.cgroupRoot, err)
		case err != nil:
			p.warnings = append(p.warnings, fmt.Sprintf("%s not attached: %v", h.what, err))
		case h.packet:
			p.packet = append(p.packet, packetHook{prog: h.prog, attach: h.attach, what: h.what, link: l})
		default:
			p.links = append(p.links, l)
		}
	}
	for _, t := range []struct {
		group, name string
		prog        *ebpf.Program
		what        string
	}{
		{"tcp", "tcp_retransmit_skb", p.objs.HoptapRetransmit, "retransmits"},
		{"cgroup", "cgroup_mkdir", p.objs.HoptapCgroupMkdir, "naming short-lived containers"},
	} {
		tp, err := link.Tracepoint(t.group, t.name, t.prog, nil)
		if err != nil {
			p.warnings = append(p.warnings, fmt.Sprintf("tracepoint %s:%s (%s) not attached: %v", t.group, t.name, t.what, err))
			continue
		}
		p.links = append(p.links, tp)
	}
	return nil
}

// WireInterface is an interface of Options.Wire.
type WireInterface struct {
	Name  string
	Index int
}

// wireInterfaces looks the names up, each once.
func wireInterfaces(names []string) ([]WireInterface, error) {
	var out []WireInterface
	for _, n := range names {
		ifc, err := net.InterfaceByName(n)
		if err != nil {
			return nil, fmt.Errorf("wire interface %q: not in this network namespace (ip -br link lists them)", n)
		}
		if !slices.ContainsFunc(out, func(w WireInterface) bool { return w.Index == ifc.Index }) {
			out = append(out, WireInterface{Name: ifc.Name, Index: ifc.Index})
		}
	}
	return out, nil
}

// attachWire links the tcx programs to both directions of each
// interface, ahead of any program already there: they see the segment
// as it crossed, then hand it on untouched (TCX_NEXT).
func (p *Probe) attachWire(ifcs []WireInterface) error {
	for _, w := range ifcs {
		for _, h := range []struct {
			prog   *ebpf.Program
			attach ebpf.AttachType
		}{{p.objs.HoptapWireIngress, ebpf.AttachTCXIngress}, {p.objs.HoptapWireEgress, ebpf.AttachTCXEgress}} {
			l, err := link.AttachTCX(link.TCXOptions{Interface: w.Index, Program: h.prog, Attach: h.attach, Anchor: link.Head()})
			if err != nil {
				return fmt.Errorf("attaching tcx on %s: %w (wire timing needs tcx, Linux 6.6+)", w.Name, err)
			}
			p.links = append(p.links, l)
		}
	}
	p.wire = ifcs
	return nil
}

// Wire lists the interfaces the tcx programs are attached to.
func (p *Probe) Wire() []WireInterface { return p.wire }

// Warnings lists optional hooks that could not be attached.
func (p *Probe) Warnings() []string { return p.warnings }

// CgroupRoot is where the programs are attached.
func (p *Probe) CgroupRoot() string { return p.cgroupRoot }

// Events delivers batches in the order the kernel wrote them. The channel
// closes when the probe is closed. A consumer that falls behind makes the
// kernel drop, and count, events: it never slows the traffic.
func (p *Probe) Events() <-chan *Batch { return p.ch }

// Err is the error that stopped reading, if any, once Events is closed.
func (p *Probe) Err() error {
	<-p.done
	return p.readErr
}

func (p *Probe) batch() *Batch {
	select {
	case b := <-p.pool:
		b.Events = b.Events[:0]
		b.buf = b.buf[:0]
		b.end = 0
		return b
	default:
		return &Batch{Events: make([]Event, 0, batchEvents), pool: p.pool, probe: p}
	}
}

// busySpins bounds how long the reader spins on a record a program is
// still writing (nanoseconds of work) before it waits instead.
const busySpins = 1000

func (p *Probe) read() {
	defer close(p.done)
	defer close(p.ch)
	pos := p.ring.consumed()
	p.relMu.Lock()
	p.relPos = pos
	p.relMu.Unlock()
	// sent: the end of the last batch handed on; start: where the batch
	// being filled begins in the ring.
	sent, start := pos, pos
	b := p.batch()
	send := func() {
		if len(b.Events) == 0 {
			if !p.outstanding(sent) {
				p.release(pos) // only skipped records: nothing to hand on
				sent, start = pos, pos
			}
			return
		}
		b.end = pos
		p.ch <- b
		sent, start = pos, pos
		b = p.batch()
	}
	stopped, spins := false, 0
	for {
		sample, after, st, err := p.ring.next(pos)
		if err != nil {
			send()
			p.readErr = err
			return
		}
		switch st {
		case recOK, recWrapped:
			spins = 0
			if st == recWrapped {
				// Put together in a buffer the next record reuses: ours.
				at := len(b.buf)
				b.buf = append(b.buf, sample...)
				sample = b.buf[at:]
			}
			pos = after
			// Parsed into its place in the batch: an Event is 250 bytes.
			n := len(b.Events)
			b.Events = b.Events[:n+1]
			if !p.parseInto(sample, &b.Events[n]) {
				b.Events = b.Events[:n]
			}
			if len(b.Events) == cap(b.Events) || pos-start >= p.batchBytes {
				send()
			}
			continue
		case recSkipped:
			pos = after
			continue
		case recBusy:
			if spins++; spins < busySpins {
				continue
			}
		}
		// Nothing more to read now: hand on what there is.
		spins = 0
		send()
		if stopped {
			return // the programs are detached and the ring is drained
		}
		if p.outstanding(sent) {
			// The kernel's wake-up says data waits past the published
			// position, which batches still hold: wait for one to be
			// released, or a while, instead.
			p.relWait.Reset(time.Duration(p.poll.Load()))
			select {
			case <-p.relCh:
			case <-p.relWait.C:
			}
			if !p.relWait.Stop() {
				select {
				case <-p.relWait.C:
				default:
				}
			}
			stopped = p.ring.stopped.Load()
			continue
		}
		// The kernel wakes us only when much is waiting; the timeout
		// bounds how long a quiet trickle of events waits.
		if stopped, err = p.ring.wait(time.Duration(p.poll.Load())); err != nil {
			p.readErr = err
			return
		}
	}
}

var le = binary.LittleEndian

func (p *Probe) wall(ktime uint64) time.Time {
	return time.Unix(0, int64(ktime)+p.monoToWall)
}

// Now is the time now as events tell it: an event stamped before a call
// to Now has a TS before what it returns.
func (p *Probe) Now() time.Time {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return p.wall(uint64(ts.Nano()))
}

func addr16(b []byte, port uint16) netip.AddrPort {
	a := netip.AddrFrom16([16]byte(b)).Unmap()
	return netip.AddrPortFrom(a, port)
}

// parse decodes one record (tests; the reader parses in place).
func (p *Probe) parse(r []byte) (Event, bool) {
	var e Event
	ok := p.parseInto(r, &e)
	return e, ok
}

// packetSlot readies out for a KindPacket (or KindWire) event: cleared
// whole if it held another kind, whose fields packets and stamps do not
// set.
func packetSlot(out *Event, k Kind) {
	if out.Kind != KindPacket && out.Kind != KindWire {
		*out = Event{}
	}
	out.Kind = k
}

// stampInto sets what both kinds of stamp say alike: a second, ingress
// observation with no data, its length and both times.
func (p *Probe) stampInto(r []byte, out *Event) {
	packetSlot(out, KindPacket)
	out.Dir, out.Twin = Ingress, true
	out.Truncated, out.Omitted, out.Class, out.Ifindex, out.Data, out.Elided = false, false, 0, 0, nil, 0
	out.Len = int(le.Uint32(r[4:]))
	out.TS = p.wall(le.Uint64(r[8:]))
	out.TwinTS = p.wall(le.Uint64(r[16:]))
}

// parseInto decodes one record into out, all of it overwritten; the
// layouts are hoptap.c's structs.
func (p *Probe) parseInto(r []byte, out *Event) bool {
	if len(r) < 1 {
		return false
	}
	switch k := Kind(r[0]); k {
	case KindPacket, KindWire:
		if len(r) < pktHdrLen {
			return false
		}
		caplen := int(le.Uint32(r[8:]))
		if pktHdrLen+caplen > len(r) {
			return false
		}
		// Field by field: packets and stamps take turns in a batch's
		// slots, and a whole-struct copy (pointers in it) was the dearest
		// step per record. What a stamp sets and a packet does not is
		// cleared; another kind's slot is cleared whole.
		packetSlot(out, k)
		out.Dir = Dir(r[1])
		out.Truncated = r[2]&1 != 0
		out.Omitted = r[2]&2 != 0
		out.Twin = r[2]&4 != 0
		out.Class = Class(r[3])
		out.Len = int(le.Uint32(r[4:]))
		out.Ifindex = le.Uint32(r[12:])
		out.TS = p.wall(le.Uint64(r[16:]))
		out.Cookie = le.Uint64(r[24:])
		out.Cgroup = le.Uint64(r[32:])
		out.Data = r[pktHdrLen : pktHdrLen+caplen : pktHdrLen+caplen]
		out.TwinTS = time.Time{}
		if out.Twin {
			out.TwinTS = p.wall(le.Uint64(r[40:]))
		}
		out.Elided = int(le.Uint32(r[48:]))
		if out.Local.IsValid() || out.Remote.IsValid() {
			out.Local, out.Remote = netip.AddrPort{}, netip.AddrPort{}
		}
		out.EndsTag = 0
		return true
	case KindOwner:
		if len(r) < ownerLen {
			return false
		}
		comm := r[40:56]
		if i := bytes.IndexByte(comm, 0); i >= 0 {
			comm = comm[:i]
		}
		*out = Event{
			Kind:   KindOwner,
			Hook:   OwnerHook(r[1]),
			TGID:   le.Uint32(r[4:]),
			PID:    le.Uint32(r[8:]),
			TS:     p.wall(le.Uint64(r[16:])),
			Cookie: le.Uint64(r[24:]),
			Cgroup: le.Uint64(r[32:]),
			Comm:   string(comm),
		}
		return true
	case KindSock:
		if len(r) < sockLen {
			return false
		}
		*out = Event{
			Kind:        KindSock,
			Op:          SockOp(r[1]),
			State:       r[3],
			SRTT:        time.Duration(le.Uint32(r[4:])) * time.Microsecond,
			Retransmits: le.Uint32(r[8:]),
			Local:       addr16(r[40:56], le.Uint16(r[12:])),
			Remote:      addr16(r[56:72], le.Uint16(r[14:])),
			TS:          p.wall(le.Uint64(r[16:])),
			Cookie:      le.Uint64(r[24:]),
			Handshake:   time.Duration(le.Uint64(r[32:])),
		}
		return true
	case kindStamp:
		if len(r) < stampLen {
			return false
		}
		p.stampInto(r, out)
		out.Cookie = le.Uint64(r[24:])
		out.Cgroup = le.Uint64(r[32:])
		out.Local = addr16(r[40:56], le.Uint16(r[72:]))
		out.Remote = addr16(r[56:72], le.Uint16(r[74:]))
		out.EndsTag = 0
		return true
	case kindTagStamp:
		if len(r) < tagStampLen {
			return false
		}
		p.stampInto(r, out)
		out.EndsTag = le.Uint64(r[24:])
		out.Cookie, out.Cgroup = 0, 0
		if out.Local.IsValid() || out.Remote.IsValid() {
			out.Local, out.Remote = netip.AddrPort{}, netip.AddrPort{}
		}
		return true
	case KindCgroup:
		if len(r) < cgroupLen {
			return false
		}
		*out = Event{Kind: KindCgroup, TS: p.wall(le.Uint64(r[8:])), Cgroup: le.Uint64(r[16:])}
		if path := r[24:cgroupLen]; r[1] == 0 {
			if i := bytes.IndexByte(path, 0); i > 0 {
				out.CgroupPath = string(path[:i])
			}
		}
		return true
	case KindRetransmit:
		if len(r) < retransLen {
			return false
		}
		*out = Event{
			Kind:   KindRetransmit,
			State:  uint8(le.Uint32(r[8:])),
			TS:     p.wall(le.Uint64(r[16:])),
			Local:  addr16(r[24:40], le.Uint16(r[2:])),
			Remote: addr16(r[40:56], le.Uint16(r[4:])),
		}
		return true
	}
	return false
}

// SetPollInterval sets the longest the reader waits for the kernel to
// wake it (PollInterval, or LazyPollInterval with Options.Lazy): shorter
// while someone watches events as they come, longer while they only end
// in metrics. It takes effect at once: a reader asleep on the old one
// reads now.
func (p *Probe) SetPollInterval(d time.Duration) {
	if d <= 0 {
		d = PollInterval
	}
	p.poll.Store(int64(d))
	if p.ring != nil {
		p.ring.nudge()
	}
}

// Pause detaches the programs in the traffic's own path (cgroup_skb,
// and sock_ops, at connections' handshakes and state changes), or
// attaches them again: while paused
// the traffic runs as with no capture at all, and the decoder sees a
// gap in every connection that sent meanwhile. make bench-capture
// alternates the two within one run of traffic, so that the machine's
// drift between runs does not hide what the capture costs. After Stop
// it does nothing.
func (p *Probe) Pause(paused bool) error {
	p.pauseMu.Lock()
	defer p.pauseMu.Unlock()
	if p.stopped {
		return nil
	}
	if paused {
		for i := range p.packet {
			if h := &p.packet[i]; h.link != nil {
				h.link.Close()
				h.link = nil
			}
		}
		return nil
	}
	cg, err := os.Open(p.cgroupRoot)
	if err != nil {
		return fmt.Errorf("opening cgroup root %s: %w", p.cgroupRoot, err)
	}
	defer cg.Close()
	for i := range p.packet {
		h := &p.packet[i]
		if h.link != nil {
			continue
		}
		l, err := link.AttachRawLink(link.RawLinkOptions{Target: int(cg.Fd()), Program: h.prog, Attach: h.attach})
		if err != nil {
			return fmt.Errorf("attaching %s again: %w", h.what, err)
		}
		h.link = l
	}
	return nil
}

// SetTwinPayload says whether stamped twins (Options.StampTwins) carry
// their payload too: on while someone records the packets themselves,
// off to copy each segment once. It takes effect at once.
func (p *Probe) SetTwinPayload(on bool) error {
	if err := p.objs.TwinPayload.Set(b2u(on)); err != nil {
		return fmt.Errorf("setting twin_payload: %w", err)
	}
	return nil
}

// SetElideControl turns Options.ElideControl on or off; it takes effect
// at once. Off, every segment is copied again: for a watcher of frames
// or packets.
func (p *Probe) SetElideControl(on bool) error {
	if on && !p.elidable {
		return errors.New("setting elide_control: the probe was opened without ElideControl")
	}
	if err := p.objs.ElideControl.Set(b2u(on)); err != nil {
		return fmt.Errorf("setting elide_control: %w", err)
	}
	return nil
}

// ProgramStat is how often one of the probe's programs ran, and for how
// long, while the kernel counted (EnableRunStats).
type ProgramStat struct {
	Name    string
	Runs    uint64
	Runtime time.Duration
}

// EnableRunStats has the kernel count every BPF program's runs and run
// time (as sysctl kernel.bpf_stats_enabled does) until the returned
// closer is closed. It costs each run of every program on the host two
// clock reads. Needs CAP_SYS_ADMIN.
func EnableRunStats() (io.Closer, error) {
	c, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return nil, fmt.Errorf("counting the programs' run time: %w", err)
	}
	return c, nil
}

// RunStats reads the run counts and times of the programs that see
// packets (the cgroup_skb and, with Wire, tcx ones), those that ran.
func (p *Probe) RunStats() ([]ProgramStat, error) {
	progs := []struct {
		name string
		prog *ebpf.Program
	}{
		{"egress", p.objs.HoptapEgress}, {"ingress", p.objs.HoptapIngress},
		// At connections' handshakes and state changes, in their path too.
		{"sock_ops", p.objs.HoptapSockops},
		{"wire egress", p.objs.HoptapWireEgress}, {"wire ingress", p.objs.HoptapWireIngress},
	}
	var out []ProgramStat
	for _, pr := range progs {
		if pr.prog == nil {
			continue
		}
		st, err := pr.prog.Stats()
		if err != nil {
			return out, fmt.Errorf("reading the %s program's run time: %w", pr.name, err)
		}
		if st.RunCount > 0 {
			out = append(out, ProgramStat{Name: pr.name, Runs: st.RunCount, Runtime: st.Runtime})
		}
	}
	return out, nil
}

// Counters reads the kernel's counters.
func (p *Probe) Counters() (Counters, error) {
	var c Counters
	if p.objs.Counters == nil {
		return c, errors.New("reading counters: the probe was not opened")
	}
	dst := []*uint64{&c.Packets, &c.Lost, &c.LostBytes, &c.LostOther, &c.Truncated, &c.Omitted, &c.Unparsed, &c.Filtered, &c.Twins, &c.Elided, &c.ElidedBytes, &c.ElidedAcks, &c.Wakeups, &c.Wire, &c.WireUnparsed}
	for i, d := range dst {
		var per []uint64
		if err := p.objs.Counters.Lookup(uint32(i), &per); err != nil {
			return c, fmt.Errorf("reading counters: %w", err)
		}
		for _, v := range per {
			*d += v
		}
	}
	return c, nil
}

// Stop detaches every program; Events then delivers what the ring buffer
// still holds and closes. Counters stay readable until Close.
func (p *Probe) Stop() {
	p.stopOnce.Do(func() {
		p.pauseMu.Lock()
		p.stopped = true
		for _, h := range p.packet {
			if h.link != nil {
				h.link.Close()
			}
		}
		p.pauseMu.Unlock()
		for _, l := range p.links {
			l.Close()
		}
		if p.ring != nil {
			p.ring.stop()
		} else {
			close(p.done)
		}
	})
}

// Close stops the probe and frees its maps.
func (p *Probe) Close() error {
	p.Stop()
	p.closeOnce.Do(func() {
		if p.ch != nil {
			// Whatever the consumer left unread is dropped.
			go func() {
				for b := range p.ch {
					b.Release()
				}
			}()
		}
		<-p.done
		// Every batch is released (or dropped by the drain above, which
		// ends when the reader closed the channel): the mapping can go.
		p.relMu.Lock()
		p.unmapped = true
		if p.ring != nil {
			p.ring.close()
		}
		p.relMu.Unlock()
		p.objs.Close()
	})
	return nil
}

// monoToWall is the offset from CLOCK_MONOTONIC (bpf_ktime_get_ns) to
// the wall clock, measured with the tightest of a few readings.
func monoToWall() int64 {
	best, off := int64(1<<62), int64(0)
	for range 5 {
		var a, b unix.Timespec
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &a)
		w := time.Now().UnixNano()
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &b)
		if d := b.Nano() - a.Nano(); d < best {
			best, off = d, w-(a.Nano()+d/2)
		}
	}
	return off
}
