// Package capture is the live half of hoptap: it runs the BPF probe,
// keeps the packets the filters select, writes them to pcapng with who
// sent them, and feeds them to the same decoder that reads files.
//
// When both ends of a connection are on the node, each packet is seen
// twice: at the sender's egress and at the receiver's ingress. Both
// observations go to the pcapng file, tagged; the decoder gets each packet
// once.
package capture

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"syscall"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/hoptap/hoptap/agent/priority"
	"github.com/hoptap/hoptap/bpf"
	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/http2"
	"github.com/hoptap/hoptap/decoder/packet"
)

// Config is one capture.
type Config struct {
	Probe    bpf.Options
	PIDs     []uint32      // only connections with a socket of these processes
	Count    int           // stop after this many packets; 0: no limit
	Duration time.Duration // stop after this long; 0: no limit
	PcapNG   io.Writer     // nil: no file
	Sink     decoder.Sink  // decoded frames, calls and connection events
	Decoder  decoder.Options
	// AfterBatch runs after each batch of events, e.g. to flush output.
	AfterBatch func()
	// Ready runs once the programs are attached.
	Ready func(p *bpf.Probe)
	// RunStats has the kernel count the programs' runs and run time
	// while capturing (Summary.Programs): the capture's cost in the
	// traffic's own path, which CPU does not include.
	RunStats bool
	// Background runs the capture in the background once attached
	// (priority.Background: SCHED_BATCH at niceness 19), under a guard
	// process that raises it back to the niceness it had while it falls
	// behind or is starved (agent/priority). The guard is this binary run
	// with priority.GuardCommand: main must dispatch it.
	Background bool
	// Views, if set, gets each end's view of every connection with an
	// end on this node: the decoder's calls and connection events, with
	// Conn.Observer naming the end (Sockets says whose it is) and the
	// call and handshake times as that end's socket saw them. A
	// connection is still decoded once: with both ends here, the
	// receiving end's times come from the kernel's twin stamps (a
	// segment's arrival and ends, no packet copy) and reach Views at the
	// end of the batch. A time whose stamp never came is zero. Such calls carry
	// Start and EndTS, not FirstResp; frames go to Views only where
	// ViewFrames says so, without their payload.
	Views      decoder.Sink
	ViewFrames func(http2.Type) bool
	// Progress gets a summary about once a second, on the capture's
	// goroutine.
	Progress func(*Summary)
	// Lifecycle gets the kernel's connection events (established,
	// closed with the smoothed RTT, retransmits), on the capture's
	// goroutine, before the directory forgets a closed socket.
	Lifecycle func(*bpf.Event)
	// Packets, if set, sees every observation kept, with its TCP ends
	// (zero when its headers could not be read); Comment tells, on
	// demand and during the call only, its pcapng comment.
	Packets func(e *bpf.Event, src, dst netip.AddrPort, c *Comment)
	// Sockets gets the capture's socket directory before the first
	// packet. Use it only on the capture's goroutine: in Sink and
	// Progress calls.
	Sockets func(*Sockets)
	// Describe, if set, adds to each packet's pcapng comment what the
	// caller knows of the socket's owner (the agent: its pod); "" adds
	// nothing. pid is 0 when the owner is unknown; cookie names the socket.
	Describe func(cookie uint64, pid uint32, cgroupPath string) string
}

// Summary is what a capture saw and lost.
type Summary struct {
	Elapsed         time.Duration
	Packets         uint64 // observations kept (after every filter)
	Egress, Ingress uint64
	BothEnds        uint64 // ingress observations of packets also seen at egress (copied or, without pcapng, only counted)
	// CountReached: the capture stopped at Config.Count. The kernel's
	// counters then run on until its programs detach, past the packets
	// taken: its twins are not in BothEnds, which counts copied ones.
	CountReached      bool
	PIDFiltered       uint64 // observations of other processes' connections
	Established       uint64 // connections established (sock_ops)
	Closed            uint64
	Retransmits       uint64 // segments the kernel retransmitted
	HandshakeP50      time.Duration
	SRTTP50, SRTTMax  time.Duration
	OwnersForgotten   uint64 // socket owners dropped to stay bounded
	Kernel            bpf.Counters
	Decoder           decoder.Stats
	Warnings          []string // optional hooks not attached, counters not read
	CgroupRoot        string
	WriteErr          error // the pcapng writer's first error
	HeldForAttrib     uint64
	HeldDroppedBounds uint64        // held packets dropped at the --pid hold limits
	OmittedDecoded    uint64        // packets fed to the decoder without their payload, on purpose
	ScannedSockets    int           // sockets open before the capture, attributed at its start
	ViewTimesUnknown  uint64        // views' call and handshake times left unknown: their twin's stamp was not seen
	CPU               time.Duration // CPU time, user and system, once capturing (loading and attaching excluded)
	StartupCPU        time.Duration // CPU time to load, verify and attach the programs and scan open sockets
	// Background: the capture ran in the background under a guard,
	// which did Priority (its CPU is in CPU too).
	Background bool
	Priority   priority.GuardStats
	Nice       int // the niceness it was raised to
	// --wire: the interfaces stamped, the stamps kept (in Packets too)
	// and those of other connections (--pid, --cgroup), and the hops
	// between points. HopsDisordered pairs of observations came out of
	// time order, so neither hop is known; HopsOther are hops past the
	// bound on pairs of points told apart.
	WireInterfaces []bpf.WireInterface
	Wire           uint64
	WireFiltered   uint64
	Hops           []Hop
	HopsDisordered uint64
	HopsOther      uint64
	// Programs: the packet programs' runs and run time (Config.RunStats),
	// spent in the traffic's path (the applications' system time and
	// softirqs), not in CPU.
	Programs []bpf.ProgramStat
}

// Lost is every event or byte the capture knows it missed.
func (s *Summary) Lost() uint64 {
	return s.Kernel.Lost + s.Kernel.LostOther
}

// Run captures until ctx ends, Count packets or Duration. What was
// captured before an error is kept and summarised.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	cfg.prepare()
	p, err := bpf.Open(cfg.Probe)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	if cfg.Views != nil && (cfg.PcapNG != nil || cfg.wire()) {
		if err := p.SetTwinPayload(true); err != nil {
			return nil, err
		}
	}
	s := newSession(cfg, p)
	if cfg.PcapNG != nil {
		if s.pcap, err = NewPcapNG(cfg.PcapNG, p.CgroupRoot(), cfg.Probe, p.Wire()); err != nil {
			return nil, err
		}
	}
	s.sum.WireInterfaces = p.Wire()
	s.sum.ScannedSockets = scanSockets(s.owners)
	if !bpf.CanTrace() {
		s.sum.Warnings = append(s.sum.Warnings, "no CAP_SYS_PTRACE: sockets opened before the capture are not attributed to their processes")
	}
	s.sum.StartupCPU = cpuTime()
	var guard *priority.Guard
	var guardEnded <-chan struct{}
	if cfg.Background {
		// Its niceness now is the one the guard raises it to: in the
		// background it is 19.
		nice := priority.Own()
		if guard, err = startGuard(p); err != nil {
			s.sum.Warnings = append(s.sum.Warnings, fmt.Sprintf("%v: running at niceness %d", err, nice))
		} else {
			s.sum.Background, s.sum.Nice = true, nice
			guardEnded = guard.Ended()
			defer guard.Stop() // a no-op once stopped below
		}
	}
	if cfg.Sockets != nil {
		cfg.Sockets(&Sockets{s: s})
	}
	if cfg.RunStats {
		if c, err := bpf.EnableRunStats(); err != nil {
			s.sum.Warnings = append(s.sum.Warnings, err.Error())
			cfg.RunStats = false
		} else {
			defer c.Close()
		}
	}
	if cfg.Ready != nil {
		cfg.Ready(p)
	}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	stop := context.AfterFunc(ctx, p.Stop)
	defer stop()
	// The ticker keeps housekeeping (and Progress) going when no
	// events come.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	events := p.Events()
loop:
	for {
		select {
		case <-tick.C:
			s.housekeep()
			continue
		case <-guardEnded:
			// Without its guard the capture cannot stay in the
			// background safely.
			guardEnded = nil
			if err := priority.Normal(0, s.sum.Nice); err != nil {
				s.sum.Warnings = append(s.sum.Warnings, err.Error())
			}
			if err := guard.RestoreSession(); err != nil {
				s.sum.Warnings = append(s.sum.Warnings, err.Error())
			}
			continue
		case b, ok := <-events:
			if !ok {
				break loop
			}
			s.batch(p, b)
		}
	}
	readErr := p.Err()
	s.dec.Flush()
	s.flushViews(time.Now(), true, false)
	if cfg.AfterBatch != nil {
		cfg.AfterBatch()
	}
	sum := s.summary()
	if guard != nil {
		st, err := guard.Stop()
		sum.Priority = st
		sum.CPU += st.CPU
		sum.StartupCPU += st.StartCPU
		if err != nil {
			sum.Warnings = append(sum.Warnings, err.Error())
		}
	}
	if sum.Kernel, err = p.Counters(); err != nil {
		sum.Warnings = append(sum.Warnings, err.Error())
	}
	// Past Count, the kernel's twins are not those of the packets taken.
	sum.CountReached = s.full
	if !sum.CountReached {
		sum.BothEnds += sum.Kernel.Twins
	}
	if cfg.RunStats {
		if sum.Programs, err = p.RunStats(); err != nil {
			sum.Warnings = append(sum.Warnings, err.Error())
		}
	}
	if s.pcap != nil {
		s.pcap.Flush()
		sum.WriteErr = s.pcap.Err()
	}
	if readErr != nil {
		return sum, fmt.Errorf("reading the ring buffer: %w", readErr)
	}
	return sum, nil
}

// startGuard puts this process in the background under a guard that
// watches its ring buffer too.
func startGuard(p *bpf.Probe) (*priority.Guard, error) {
	ring, size, err := p.RingFile()
	if err != nil {
		return nil, err
	}
	defer ring.Close() // the guard has its own copy
	return priority.StartGuard(priority.GuardConfig{Nice: priority.Own(), Ring: ring, RingSize: size})
}

// prepare sets the probe's and decoder's options the outputs imply.
func (cfg *Config) prepare() {
	// Without a pcapng file or views nobody needs both copies of a
	// packet; views need the second one's time and socket only.
	// Wire timing follows every segment to its receiving socket: it
	// needs the second copies (paired, so decoded once) and no segment
	// left out.
	wire := cfg.wire()
	cfg.Probe.DropTwins = cfg.PcapNG == nil && cfg.Views == nil && !wire
	cfg.Probe.StampTwins = cfg.Views != nil
	// Segments of whole PING and WINDOW_UPDATE frames may be left out
	// only where no file records the packets; the decoder must know.
	cfg.Probe.ElideControl = cfg.Probe.ElideControl && cfg.PcapNG == nil && !wire
	cfg.Decoder.TCP.Elision = cfg.Probe.ElideControl
	// Bare ACKs likewise, where no one takes packets at all (the agent
	// hands packets to watchers: its ElideControl covers them).
	cfg.Probe.ElideAcks = cfg.PcapNG == nil && cfg.Packets == nil && !wire
}

// wire says whether segments are stamped at interfaces too (--wire).
func (cfg *Config) wire() bool { return len(cfg.Probe.Wire) > 0 }

// Replay decodes recorded batches of a probe's events as Run decodes
// them live, with no kernel: it measures the pipeline behind the ring.
// cfg.Probe must be the options the events were recorded with; cfg's
// PcapNG, Ready and Duration are not used.
func Replay(cfg Config, batches [][]bpf.Event) *Summary {
	cfg.PcapNG = nil
	cfg.prepare()
	s := newSession(cfg, &bpf.Probe{})
	// The recording's time passes as its events say, not as fast as they
	// are read again: connections go quiet as they did.
	var last time.Time
	s.clock = func() time.Time { return last }
	if cfg.Sockets != nil {
		cfg.Sockets(&Sockets{s: s})
	}
	for _, b := range batches {
		if len(b) > 0 {
			last = b[len(b)-1].TS
		}
		s.events(b, func() {})
		s.flushViews(s.clock(), false, true)
		s.afterBatch()
	}
	s.dec.Flush()
	s.flushViews(s.clock(), true, false)
	if cfg.AfterBatch != nil {
		cfg.AfterBatch()
	}
	return s.summary()
}

// batch handles one batch of events.
func (s *session) batch(p *bpf.Probe, b *bpf.Batch) {
	s.events(b.Events, p.Stop)
	s.flushViews(s.clock(), false, true)
	b.Release()
	s.afterBatch()
}

// events decodes a batch's events; stop stops the probe once Count is
// reached.
func (s *session) events(evs []bpf.Event, stop func()) {
	if s.views != nil {
		s.views.now = s.clock() // when this batch's views were queued
	}
	if s.full {
		return
	}
	for i := range evs {
		s.event(&evs[i])
		if s.full {
			stop()
			return
		}
	}
}

// afterBatch is the work done once a batch's events are decoded.
func (s *session) afterBatch() {
	s.housekeep()
	if s.pcap != nil {
		s.pcap.Flush()
	}
	if s.cfg.AfterBatch != nil {
		s.cfg.AfterBatch()
	}
}

// session is the state of one capture; it runs on one goroutine.
type session struct {
	cfg     Config
	start   time.Time
	clock   func() time.Time // time.Now, but for Replay
	dec     *decoder.Decoder
	owners  *owners
	cgroups *Cgroups
	obs     *observations
	locals  locals
	note    Comment
	probe   *bpf.Probe
	views   *views
	// parsed is the packet event's segment, when the decoder read its
	// headers for the views already (preparsed; nil if it refused it).
	parsed    *packet.Segment
	preparsed bool
	closing   [][2]netip.AddrPort // with views: closed connections the directory forgets after the views are given
	pids      *pidFilter
	hops      *hops    // --wire: segments followed from point to point
	wireConns *recents // --wire with --pid or --cgroup: connections kept at a socket lately
	hop       hopRef   // the packet being handled's previous point
	pcap      *PcapNG
	full      bool
	sum       Summary
	hs        []time.Duration
	srtt      []time.Duration
	lastHK    time.Time
}

// Samples kept for the summary's percentiles.
const maxSamples = 1 << 16

func newSession(cfg Config, p *bpf.Probe) *session {
	s := &session{
		cfg:     cfg,
		start:   time.Now(),
		clock:   time.Now,
		owners:  newOwners(),
		cgroups: NewCgroups(p.CgroupRoot()),
		probe:   p,
	}
	s.locals.owners = s.owners
	sink := cfg.Sink
	if cfg.Views != nil {
		s.views = newViews(s, cfg.Sink, cfg.Views, cfg.ViewFrames)
		sink = s.views
		cfg.Decoder.Frames = s.views.wantsFrame(cfg.Decoder.Frames)
	}
	s.dec = decoder.New(sink, cfg.Decoder)
	if cfg.PcapNG != nil || cfg.wire() { // pairs are matched for the file's comments, or decoded once
		s.obs = newObservations()
	}
	if cfg.wire() {
		s.hops = newHops()
		if len(cfg.PIDs) > 0 || len(cfg.Probe.Cgroups) > 0 {
			s.wireConns = newRecents()
		}
	}
	s.sum.Warnings = p.Warnings()
	s.sum.CgroupRoot = p.CgroupRoot()
	if len(cfg.PIDs) > 0 {
		s.pids = newPIDFilter(cfg.PIDs)
	}
	return s
}

func (s *session) event(e *bpf.Event) {
	switch e.Kind {
	case bpf.KindPacket:
		// The headers matter here only to pair observations (-w) and to
		// filter by process; the decoder parses them itself.
		var t tcpInfo
		switch {
		case e.Twin && e.Data == nil && !e.Local.IsValid(): // a light stamp: its time is all
			s.tagStamp(e)
			return
		case e.Twin && e.Data == nil: // a stamp: the kernel read the ends
			t = tcpInfo{ok: true, src: e.Local, dst: e.Remote}
		case !e.Twin && s.views != nil && s.pids == nil && s.obs == nil:
			// Parsed once, by the decoder, which decodes it next.
			seg, _ := s.dec.Parse(0, layers.LinkTypeRaw, e.Data, e.TS, e.Len, e.Elided)
			if seg != nil {
				t = tcpInfo{ok: true, src: seg.Src, dst: seg.Dst}
			}
			s.parsed, s.preparsed = seg, true
			s.packet(e, &t)
			return
		case s.pids != nil || !s.cfg.Probe.DropTwins || s.cfg.Packets != nil:
			t, _ = parseTCP(e.Data, e.Len)
		}
		if s.pids != nil {
			if s.pids.admit(e, &t, s.owners) != admitNow {
				return
			}
			for _, h := range s.pids.pending(&t) {
				s.packet(&h.ev, &h.t)
			}
		}
		s.packet(e, &t)
	case bpf.KindWire:
		s.wire(e)
	case bpf.KindCgroup:
		s.cgroups.Made(e.Cgroup, e.CgroupPath)
	case bpf.KindOwner:
		s.owners.set(e)
		if e.Cgroup != 0 {
			// Named now, while the process is surely in it: a short-lived
			// container's cgroup may be gone by its socket's last packet.
			s.cgroups.Name(e.Cgroup)
		}
		if s.pids != nil {
			for _, h := range s.pids.owned(e) {
				s.packet(&h.ev, &h.t)
				if s.full {
					return
				}
			}
		}
	case bpf.KindSock:
		if s.cfg.Lifecycle != nil {
			s.cfg.Lifecycle(e)
		}
		s.sock(e)
	case bpf.KindRetransmit:
		s.sum.Retransmits++
		if s.cfg.Lifecycle != nil {
			s.cfg.Lifecycle(e)
		}
	}
}

func (s *session) sock(e *bpf.Event) {
	switch e.Op {
	case bpf.SockActiveEstablished, bpf.SockPassiveEstablished:
		s.sum.Established++
		if e.Handshake > 0 && len(s.hs) < maxSamples {
			s.hs = append(s.hs, e.Handshake)
		}
	case bpf.SockClosed:
		s.sum.Closed++
		if e.SRTT > 0 && len(s.srtt) < maxSamples {
			s.srtt = append(s.srtt, e.SRTT)
		}
		s.owners.closed(e.Cookie, e.TS)
		if s.views != nil {
			s.closing = append(s.closing, [2]netip.AddrPort{e.Local, e.Remote})
		} else {
			s.locals.closed(e.Local, e.Remote)
		}
		if s.pids != nil {
			s.pids.closed(e.Local, e.Remote, e.TS)
		}
	}
}

// packet keeps one observation: pcapng, then the decoder unless the
// same packet was already seen at the sender's egress.
func (s *session) packet(e *bpf.Event, t *tcpInfo) {
	s.sum.Packets++
	frame := s.sum.Packets
	var twin *observation
	// With DropTwins the kernel matched the pairs already; both sides'
	// views without a file need no pairing (and keep no table for it).
	if t.ok && s.obs != nil {
		if e.Dir == bpf.Egress {
			s.obs.add(t, frame, e.TS)
		} else if ob, ok := s.obs.match(t); ok {
			twin = &ob
		}
	}
	if e.Dir == bpf.Egress {
		s.sum.Egress++
	} else {
		s.sum.Ingress++
	}
	if twin != nil || e.Twin {
		s.sum.BothEnds++
	}
	stamp := e.Twin && e.Data == nil // no copy of the packet to record
	s.hop = hopRef{}
	if s.hops != nil && t.ok && !stamp {
		s.hop = s.hops.observe(t, e.Len, point{dir: e.Dir}, frame, e.TS)
		if s.wireConns != nil {
			s.wireConns.add(mkConnKey(t.src, t.dst), e.TS)
		}
	}
	if s.pcap != nil && !stamp {
		s.pcap.Write(e, s.comment(e, twin))
	}
	if s.cfg.Packets != nil && !stamp {
		s.note = Comment{s: s, e: e, twin: twin}
		s.cfg.Packets(e, t.src, t.dst, &s.note)
	}
	switch {
	case s.views != nil:
		// Every observation shows an end; a twin only stamps its
		// segment's arrival, which was decoded at its departure.
		if t.ok {
			s.locals.observe(e, t)
			if e.Twin {
				s.views.book.add(t.src, t.dst, e.TwinTS.UnixNano(), e.TS.UnixNano())
			}
		}
		if e.Twin {
			break
		}
		if e.Omitted {
			s.sum.OmittedDecoded++
		}
		if s.preparsed { // nil: not one to decode, and counted
			if s.parsed != nil {
				s.dec.Segment(s.parsed)
			}
			s.parsed, s.preparsed = nil, false
			break
		}
		s.dec.PacketElided(0, layers.LinkTypeRaw, e.Data, e.TS, e.Len, e.Elided)
	case twin == nil:
		if e.Omitted {
			s.sum.OmittedDecoded++
		}
		s.dec.PacketElided(0, layers.LinkTypeRaw, e.Data, e.TS, e.Len, e.Elided)
	}
	if s.cfg.Count > 0 && s.sum.Packets >= uint64(s.cfg.Count) {
		s.full = true
	}
}

// tagStamp keeps a light stamp's time for the views: a second
// observation, of a segment decoded at its sender's egress, whose
// receiving socket showed itself with its own segments.
func (s *session) tagStamp(e *bpf.Event) {
	s.sum.Packets++
	s.sum.Ingress++
	s.sum.BothEnds++
	if s.views != nil {
		s.views.book.addTag(e.EndsTag, e.TwinTS.UnixNano(), e.TS.UnixNano())
	}
	if s.cfg.Count > 0 && s.sum.Packets >= uint64(s.cfg.Count) {
		s.full = true
	}
}

// flushViews gives the views whose twins came (all, with final), then
// lets the directory forget the connections closed meanwhile: the views
// still needed their ends.
func (s *session) flushViews(now time.Time, final, afterBatch bool) {
	if s.views == nil {
		return
	}
	s.views.flush(now, final, afterBatch)
	for _, t := range s.closing {
		s.locals.closed(t[0], t[1])
	}
	s.closing = s.closing[:0]
	s.sum.ViewTimesUnknown = s.views.unknown
}

// Comment is a packet's pcapng comment, written only when asked for.
type Comment struct {
	s    *session
	e    *bpf.Event
	twin *observation
}

// String writes the comment.
func (c *Comment) String() string {
	if c.s == nil {
		return "" // nothing known of the packet
	}
	return c.s.comment(c.e, c.twin)
}

// comment says where a packet was seen and which process's socket it
// belongs to; unknown parts say so.
func (s *session) comment(e *bpf.Event, twin *observation) string {
	b := make([]byte, 0, 128)
	b = append(b, e.Dir.String()...)
	var pid uint32
	if o := s.owners.get(e.Cookie); o != nil {
		pid = o.tgid
		b = fmt.Appendf(b, " pid=%d comm=%s", o.tgid, o.comm)
	} else {
		b = append(b, " pid=? comm=?"...)
	}
	name := s.cgroups.Name(e.Cgroup)
	if name != "" {
		b = append(b, " cgroup="...)
		b = append(b, name...)
	} else {
		b = fmt.Appendf(b, " cgroup=id:%d", e.Cgroup)
	}
	if s.cfg.Describe != nil {
		if d := s.cfg.Describe(e.Cookie, pid, name); d != "" {
			b = append(b, ' ')
			b = append(b, d...)
		}
	}
	b = fmt.Appendf(b, " sock=%#x", e.Cookie)
	if twin != nil {
		b = fmt.Appendf(b, " also=egress#%d after=%s", twin.frame, e.TS.Sub(twin.ts))
	} else if e.Twin {
		b = fmt.Appendf(b, " also=egress after=%s", e.TS.Sub(e.TwinTS))
	}
	if e.Twin && !e.Omitted && len(e.Data) < e.Len && !e.Truncated {
		b = append(b, " payload=not-copied(second observation)"...)
	}
	if e.Omitted {
		b = append(b, " payload=not-copied(not HTTP/2 or TLS)"...)
	}
	b = s.appendHop(b)
	return string(b)
}

// wire keeps a segment's stamp at an interface of --wire: in the file,
// with the point it came from, and in the hops.
func (s *session) wire(e *bpf.Event) {
	t, ok := parseTCP(e.Data, e.Len)
	if !ok {
		return // the kernel copies whole headers only; nothing to pair
	}
	if s.wireConns != nil && !s.wireConns.has(mkConnKey(t.src, t.dst)) {
		s.sum.WireFiltered++
		return
	}
	s.sum.Packets++
	s.sum.Wire++
	frame := s.sum.Packets
	s.hop = s.hops.observe(&t, e.Len, point{ifindex: e.Ifindex, dir: e.Dir}, frame, e.TS)
	if s.pcap != nil {
		b := make([]byte, 0, 64)
		b = fmt.Appendf(b, "wire=%s %s", ifName(s.sum.WireInterfaces, e.Ifindex), e.Dir)
		s.pcap.Write(e, string(s.appendHop(b)))
	}
	if s.cfg.Count > 0 && s.sum.Packets >= uint64(s.cfg.Count) {
		s.full = true
	}
}

// appendHop tells where the packet being handled was seen right before,
// and how long before (--wire).
func (s *session) appendHop(b []byte) []byte {
	if !s.hop.ok {
		return b
	}
	from := s.hop.at
	if from.socket() {
		b = fmt.Appendf(b, " hop=%s#%d", from.dir, s.hop.frame)
	} else {
		b = fmt.Appendf(b, " hop=%s/%s#%d", ifName(s.sum.WireInterfaces, from.ifindex), from.dir, s.hop.frame)
	}
	return fmt.Appendf(b, " since=%s", s.hop.after)
}

func (s *session) housekeep() {
	now := s.clock()
	if now.Sub(s.lastHK) < time.Second {
		return
	}
	s.lastHK = now
	s.dec.Tick(now)
	s.flushViews(now, false, false)
	if s.obs != nil {
		s.obs.expire(now)
	}
	if s.cfg.Progress != nil {
		s.cfg.Progress(s.progress())
	}
	if s.pids != nil {
		s.pids.expire(now)
	}
	if s.wireConns != nil {
		s.wireConns.expire(now)
	}
}

func (s *session) summary() *Summary {
	sum := s.sum
	sum.Elapsed = time.Since(s.start)
	sum.Decoder = s.dec.Stats()
	sum.OwnersForgotten = s.owners.forgotten
	if s.pids != nil {
		sum.PIDFiltered = s.pids.dropped
		sum.HeldForAttrib = s.pids.heldTotal
		sum.HeldDroppedBounds = s.pids.boundDrops
	}
	sum.HandshakeP50 = pct(s.hs, 0.5)
	sum.SRTTP50 = pct(s.srtt, 0.5)
	sum.SRTTMax = pct(s.srtt, 1)
	sum.CPU = cpuTime() - sum.StartupCPU
	if s.hops != nil {
		sum.Hops = s.hops.summary(sum.WireInterfaces)
		sum.HopsDisordered, sum.HopsOther = s.hops.disordered, s.hops.other
	}
	return &sum
}

// cpuTime is this process's CPU time so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(p*float64(len(d))+0.5) - 1
	return d[max(0, min(i, len(d)-1))]
}

// tcpInfo is what the capture needs of a packet's headers.
type tcpInfo struct {
	ok       bool
	src, dst netip.AddrPort
	seq, ack uint32
	flags    uint8
	paylen   uint32
}

// parseTCP reads the IP and TCP headers of a packet of wireLen bytes;
// ok is false when they are cut or malformed (the decoder then reports
// the packet). The length comes from the kernel, not the IP header, which
// says 0 for segmentation-offload packets.
func parseTCP(ip []byte, wireLen int) (tcpInfo, bool) {
	var t tcpInfo
	if len(ip) < 20 {
		return t, false
	}
	var off int
	switch ip[0] >> 4 {
	case 4:
		off = int(ip[0]&0xf) * 4
		t.src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), 0)
		t.dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), 0)
	case 6:
		if len(ip) < 40 {
			return t, false
		}
		off = 40
		t.src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(ip[8:24])), 0)
		t.dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(ip[24:40])), 0)
	default:
		return t, false
	}
	if off < 20 || len(ip) < off+20 {
		return t, false
	}
	th := ip[off:]
	t.src = netip.AddrPortFrom(t.src.Addr(), uint16(th[0])<<8|uint16(th[1]))
	t.dst = netip.AddrPortFrom(t.dst.Addr(), uint16(th[2])<<8|uint16(th[3]))
	t.seq = uint32(th[4])<<24 | uint32(th[5])<<16 | uint32(th[6])<<8 | uint32(th[7])
	t.ack = uint32(th[8])<<24 | uint32(th[9])<<16 | uint32(th[10])<<8 | uint32(th[11])
	t.flags = th[13]
	hl := off + int(th[12]>>4)*4
	if wireLen > hl {
		t.paylen = uint32(wireLen - hl)
	}
	t.ok = true
	return t, true
}
