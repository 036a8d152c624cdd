// Package metrics turns the decoder's calls and connection events into
// Prometheus metrics: call latency as each side's socket saw it, the
// network and proxy time of each hop, who produced each failure, how
// connections behave, and the agent's own losses.
//
// Names and labels follow the OpenTelemetry RPC conventions where they
// apply (rpc_system, rpc_service, rpc_method, rpc_grpc_status_code), in
// Prometheus form, under the hoptap_ prefix.
package metrics

import (
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoptap/hoptap/agent/capture"
	"github.com/hoptap/hoptap/bpf"
	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/grpc"
	"github.com/hoptap/hoptap/decoder/http2"
)

// Side is the socket a view of a call was observed at.
type Side string

// Sides.
const (
	SideClient  Side = "client"
	SideServer  Side = "server"
	SideUnknown Side = "unknown" // a file, or a socket whose address was not seen
)

// Directory says who owns the sockets of this node; capture.Sockets is
// one.
type Directory interface {
	Get(observer uint64) capture.Socket
	// End is the end here of a connection as it sees itself; Peer, the
	// other end, when it is here too.
	End(local, remote netip.AddrPort) (observer uint64, ok bool)
	Peer(local, remote netip.AddrPort) (observer uint64, ok bool)
}

// Namer names the workload at an address: a pod, a process, or the
// address itself when nothing better is known.
type Namer interface {
	Workload(addr netip.Addr, sock *capture.Socket) string
}

// Identity is what an Identifier knows of an end in one lookup.
type Identity struct {
	Workload string
	Pod      string // the pod's name; "" when the end is not a pod's
	// Final says the name will not change. Until both ends' are, or a
	// while has passed, a connection's metrics wait: a new pod's status
	// (its IP) or its process's cgroup (gone already, for a short one on
	// a cgroup v1 node) may not be known yet.
	Final bool
}

// Identifier is a Namer that also knows pods and whether a name is
// final (Kubernetes).
type Identifier interface {
	Identify(addr netip.Addr, sock *capture.Socket) Identity
}

// ProcessNamer names local sockets by their process and anything else by
// its IP address: the identity a plain Linux host has.
type ProcessNamer struct{}

// Workload implements Namer.
func (ProcessNamer) Workload(addr netip.Addr, sock *capture.Socket) string {
	if sock != nil && sock.Known && sock.Comm != "" {
		return sock.Comm
	}
	return addr.String()
}

// Config bounds what traffic can make the recorder keep.
type Config struct {
	MaxServices          int           // distinct rpc_service values (default 200)
	MaxMethodsPerService int           // distinct rpc_method values per service (default 100)
	MaxWorkloads         int           // distinct workload values (default 1000)
	HopWindow            time.Duration // how long one side's view waits for the other's (default 30s)
	MaxPending           int           // views waiting for their other side (default 65536)
	// PodLabels adds source_pod and destination_pod to the call and hop
	// histograms, when the namer knows pods: one series per pod pair
	// instead of per workload pair, so off by default.
	PodLabels bool
}

func (c *Config) defaults() {
	if c.MaxServices <= 0 {
		c.MaxServices = 200
	}
	if c.MaxMethodsPerService <= 0 {
		c.MaxMethodsPerService = 100
	}
	if c.MaxWorkloads <= 0 {
		c.MaxWorkloads = 1000
	}
	if c.HopWindow <= 0 {
		c.HopWindow = 30 * time.Second
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 1 << 16
	}
}

// Latency buckets for classic histograms: 50 µs to 5 minutes. Native
// histograms are exported beside them.
var latencyBuckets = [...]float64{
	50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3,
	100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10, 30, 60, 120, 300,
}

// histogram is a latency histogram vector: classic buckets and a native
// histogram (latencyVec).
func histogram(name, help string, labels ...string) *latencyVec {
	return newLatencyVec(name, help, labels...)
}

func counter(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

var (
	callLabels = []string{"side", "rpc_system", "rpc_service", "rpc_method", "rpc_grpc_status_code", "source_workload", "destination_workload"}
	hopLabels  = []string{"rpc_system", "rpc_service", "rpc_method", "source_workload", "destination_workload"}
	failLabels = []string{"side", "origin", "rpc_system", "rpc_service", "rpc_method", "rpc_grpc_status_code", "source_workload", "destination_workload"}
	edgeLabels = []string{"side", "source_workload", "destination_workload"}
)

// Recorder is a decoder.Sink that records metrics. Its Sink, Lifecycle
// and Progress methods run on the capture's goroutine; scrapes may come
// at any time.
type Recorder struct {
	cfg   Config
	dir   Directory
	namer Namer

	callDur, hop, tcpHS, h2HS, srtt         *latencyVec
	failures, opened, resets, refused       *prometheus.CounterVec
	goaways, rstStreams, retransmits, unfin *prometheus.CounterVec
	hopMisses                               *prometheus.CounterVec

	now     func() time.Time // the clock for expiry; tests set it
	views   map[viewKey]*view
	pending map[joinKey]pendingCall
	// The view waiting last, out of the map (park).
	last      pendingCall
	lastKey   joinKey
	hasLast   bool
	methods   *methods
	workloads *capper
	ids       Identifier // the namer, when it is one
	podNames  *capper    // with Config.PodLabels

	mu   sync.Mutex // guards what the self-metrics read
	snap selfSnap
	self selfDescs
}

type viewKey struct{ observer, conn uint64 }

// view is one socket's view of a connection, with its labels worked out
// once.
type view struct {
	side     Side
	src, dst string
	// srcPod and dstPod name the ends' pods with Config.PodLabels.
	srcPod, dstPod string
	peerLocal      bool // the other end's socket is on this node
	// server is the server's own address: the connection's, or, when a
	// client dialled a cluster IP that was translated, the server's
	// socket's, so that both views of a call join.
	server   netip.AddrPort
	settled  bool // nothing more to learn: labels are final
	born     time.Time
	resolved time.Time // when resolve last ran
	// Handshakes are seen before an accepting process is known (it
	// shows itself by the accept); they are recorded once the labels
	// are final, or after a while, or when the connection ends.
	series           map[seriesKey]*series // once settled
	lastSeries       *series               // the last one looked up
	held             bool
	tcpHS            time.Duration
	h2HS             time.Duration
	h2Held           bool
	handshake, reset bool
	// wait holds calls that ended while the labels were not final.
	wait   *waiting
	closed bool // the connection ended; the view stays while calls wait
}

// waiting is what a view keeps while its names may still change: its
// ends as last seen (the directory forgets a closed connection, the
// namer may learn a pod later), and the calls to record then. The
// metrics read only a call's scalar fields, so a copy outlives a pooled
// call.
type waiting struct {
	conn   decoder.Conn
	cs, ss *capture.Socket
	calls  []grpc.Call
}

// maxDeferred bounds the calls a view holds back; later ones are
// recorded at once.
const maxDeferred = 64

// New makes a recorder and registers its metrics. dir may be nil (no
// socket directory: every side is unknown).
func New(reg prometheus.Registerer, dir Directory, namer Namer, cfg Config) (*Recorder, error) {
	cfg.defaults()
	if namer == nil {
		namer = ProcessNamer{}
	}
	r := &Recorder{
		cfg: cfg, dir: dir, namer: namer,
		callDur: histogram("hoptap_rpc_call_duration_seconds",
			"gRPC call latency as one socket saw it: side=client from the request leaving the client's socket to the end of the response arriving there; side=server from the request arriving at the server's socket to the response leaving it.",
			withPods(callLabels, cfg.PodLabels)...),
		hop: histogram("hoptap_rpc_hop_network_seconds",
			"Network and proxy time of one hop of a call: client-observed minus server-observed latency, when both sockets are on this node.",
			withPods(hopLabels, cfg.PodLabels)...),
		tcpHS: histogram("hoptap_tcp_handshake_seconds",
			"TCP handshake time at this socket: SYN to the ACK of the SYN-ACK.", edgeLabels...),
		h2HS: histogram("hoptap_http2_handshake_seconds",
			"HTTP/2 handshake time at this socket: client preface to the last SETTINGS ACK.", edgeLabels...),
		srtt: histogram("hoptap_tcp_smoothed_rtt_seconds",
			"Kernel's smoothed RTT of a connection when a socket of this node closed it.", "local_workload", "remote_workload"),
		failures: counter("hoptap_rpc_failures_total",
			"Failed calls by who produced the outcome (origin: application, transport, proxy, unknown).", failLabels...),
		opened: counter("hoptap_tcp_connections_opened_total",
			"Connections seen starting at this socket; its rate per edge is the reconnect rate.", edgeLabels...),
		resets: counter("hoptap_tcp_resets_total",
			"TCP resets of established connections.", edgeLabels...),
		refused: counter("hoptap_tcp_refused_total",
			"Connection attempts answered by a reset.", edgeLabels...),
		goaways: counter("hoptap_http2_goaway_total",
			"GOAWAY frames, by error code and who sent them (sender: client or server).", "side", "sender", "error_code"),
		rstStreams: counter("hoptap_http2_rst_stream_total",
			"RST_STREAM frames, by error code and who sent them (sender: client or server).", "side", "sender", "error_code"),
		retransmits: counter("hoptap_tcp_retransmits_total",
			"Segments the kernel of this node retransmitted (local: the sender).", "local_workload", "remote_workload"),
		unfin: counter("hoptap_rpc_unfinished_total",
			"Calls whose end was not seen (the capture stopped, or the connection was forgotten): outcome unknown, not counted as failures.", "side"),
		hopMisses: counter("hoptap_rpc_hop_unjoined_total",
			"Calls with both sockets on this node that gave no hop sample: their views did not join (reason: expired, full), ended in an impossible order (anomaly), or the client reset the call (client_reset: the two views' difference is then not a network time).", "reason"),
		now:       time.Now,
		views:     map[viewKey]*view{},
		pending:   map[joinKey]pendingCall{},
		methods:   newMethods(cfg.MaxServices, cfg.MaxMethodsPerService),
		workloads: newCapper(cfg.MaxWorkloads),
	}
	r.ids, _ = namer.(Identifier)
	if r.ids != nil && cfg.PodLabels {
		r.podNames = newCapper(cfg.MaxWorkloads)
	}
	r.self = newSelfDescs()
	for _, c := range []prometheus.Collector{r.callDur, r.hop, r.tcpHS, r.h2HS, r.srtt, r.failures, r.opened,
		r.resets, r.refused, r.goaways, r.rstStreams, r.retransmits, r.unfin, r.hopMisses, (*selfCollector)(r)} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// viewOf finds or works out the view an event belongs to.
func (r *Recorder) viewOf(c *decoder.Conn, often bool) *view {
	k := viewKey{c.Observer, c.ID}
	v := r.views[k]
	if v != nil && v.settled {
		return v
	}
	now := r.now()
	if v == nil {
		v = &view{born: now}
		r.views[k] = v
	} else if often && now.Sub(v.resolved) < resolveEvery && now.Sub(v.born) <= holdLimit {
		// A view waiting for its other end or its names looks again
		// only now and then for calls: a busy connection has thousands
		// a second. Connection events, rare and often its last, always
		// look.
		return v
	}
	v.resolved = now
	r.resolve(v, c, often)
	if v.settled || r.now().Sub(v.born) > holdLimit {
		r.release(v)
	}
	return v
}

// resolveEvery is how often a view not worked out yet is looked at again.
const resolveEvery = 20 * time.Millisecond

// holdLimit is how long connection metrics wait for a view's labels: the
// other end's first packets, its process, a new pod's status.
const holdLimit = 5 * time.Second

// release records what a view held back.
func (r *Recorder) release(v *view) {
	if v.held {
		v.held = false
		r.opened.WithLabelValues(string(v.side), v.src, v.dst).Inc()
		if v.tcpHS > 0 {
			r.tcpHS.WithLabelValues(string(v.side), v.src, v.dst).Observe(v.tcpHS.Seconds())
		}
	}
	if v.h2Held {
		v.h2Held = false
		r.h2HS.WithLabelValues(string(v.side), v.src, v.dst).Observe(v.h2HS.Seconds())
	}
	if w := v.wait; w != nil {
		v.wait = nil
		for i := range w.calls {
			r.record(v, &decoder.CallEvent{Conn: &w.conn, Call: &w.calls[i]})
		}
	}
}

// resolve works out a view's side and workloads. Until both sockets'
// owners are known (an accepted socket is often attributed only after
// its first packets) it is worked out again at each event. By a call
// (byCall), a peer on this node has shown itself: its end's first
// packets came before the call's last.
func (r *Recorder) resolve(v *view, c *decoder.Conn, byCall bool) {
	v.side, v.peerLocal, v.server = SideUnknown, false, c.Server
	var local, peer *capture.Socket
	if r.dir != nil && c.Observer != 0 {
		s := r.dir.Get(c.Observer)
		local = &s
		if s.HasLocal {
			var remote netip.AddrPort
			switch s.Local {
			case c.Client:
				v.side, remote = SideClient, c.Server
			case c.Server:
				v.side, remote = SideServer, c.Client
			}
			if v.side != SideUnknown {
				if pc, ok := r.dir.Peer(s.Local, remote); ok {
					p := r.dir.Get(pc)
					peer, v.peerLocal = &p, true
					if v.side == SideClient && p.HasLocal {
						v.server = p.Local
					}
				}
			}
		}
	}
	cs, ss := peer, local
	if v.side == SideClient {
		cs, ss = local, peer
	}
	if v.side == SideUnknown {
		cs, ss = nil, nil
	}
	// The other end may show up a little later (its first packets are
	// still in flight): a view stays open to it for a while.
	young := r.now().Sub(v.born) < holdLimit
	final := r.name(v, c, cs, ss, young)
	v.settled = r.dir == nil || c.Observer == 0 ||
		(v.side != SideUnknown && local.Known && (peer == nil && (!young || byCall) || peer != nil && peer.Known) && final)
	if v.wait != nil {
		v.wait.conn, v.wait.cs, v.wait.ss = *c, clone(cs), clone(ss)
	}
}

// name labels a view's ends, and says whether the names are final.
func (r *Recorder) name(v *view, c *decoder.Conn, cs, ss *capture.Socket, young bool) bool {
	ci, si := r.identify(c.Client.Addr(), cs), r.identify(c.Server.Addr(), ss)
	v.src, v.dst = r.workloads.value(ci.Workload), r.workloads.value(si.Workload)
	if r.podNames != nil {
		v.srcPod, v.dstPod = r.podNames.value(ci.Pod), r.podNames.value(si.Pod)
	}
	return !young || ci.Final && si.Final
}

// identify looks an end up once, whatever the namer knows of it.
func (r *Recorder) identify(addr netip.Addr, sock *capture.Socket) Identity {
	if r.ids != nil {
		return r.ids.Identify(addr, sock)
	}
	return Identity{Workload: r.namer.Workload(addr, sock), Final: true}
}

func clone(s *capture.Socket) *capture.Socket {
	if s == nil {
		return nil
	}
	c := *s
	return &c
}

// Frame counts RST_STREAM by error code; other frames cost nothing.
func (r *Recorder) Frame(e *decoder.FrameEvent) {
	if e.Frame.Type != http2.TypeRSTStream {
		return
	}
	v := r.viewOf(e.Conn, false)
	r.rstStreams.WithLabelValues(string(v.side), dirName(e.Dir), e.Frame.ErrCode.String()).Inc()
}

func dirName(d grpc.Dir) string {
	if d == grpc.C2S {
		return "client"
	}
	return "server"
}

// Conn records connection behaviour.
func (r *Recorder) Conn(e *decoder.ConnEvent) {
	v := r.viewOf(e.Conn, false)
	switch e.Kind {
	case decoder.ConnTCPHandshake:
		v.handshake, v.held = true, true
		if e.SYNToSYNACK > 0 && e.SYNACKToACK > 0 {
			v.tcpHS = e.SYNToSYNACK + e.SYNACKToACK
		}
	case decoder.ConnH2Ready:
		if e.Duration > 0 { // 0: not known at this socket
			v.h2Held, v.h2HS = true, e.Duration
		}
	case decoder.ConnGoAway:
		r.goaways.WithLabelValues(string(v.side), dirName(e.Dir), e.ErrCode.String()).Inc()
	case decoder.ConnReset:
		if v.reset {
			break
		}
		v.reset = true
		if v.handshake || e.Dir == grpc.C2S {
			r.resets.WithLabelValues(string(v.side), v.src, v.dst).Inc()
		} else {
			r.refused.WithLabelValues(string(v.side), v.src, v.dst).Inc()
		}
	case decoder.ConnClose:
		if v.wait != nil && !v.settled {
			// Calls wait for their names: the view goes once they are
			// recorded (Progress).
			v.closed = true
			break
		}
		r.release(v)
		delete(r.views, viewKey{e.Conn.Observer, e.Conn.ID})
	}
	if v.settled {
		r.release(v)
	}
}

// Call records a finished call's latency and outcome, and joins the two
// views of a call when both sockets are on this node.
func (r *Recorder) Call(e *decoder.CallEvent) {
	v := r.viewOf(e.Conn, true)
	if !v.settled && r.now().Sub(v.born) <= holdLimit {
		if v.wait == nil {
			v.wait = &waiting{}
			r.resolve(v, e.Conn, true) // keeps the ends as it sees them
		}
		if !v.settled && len(v.wait.calls) < maxDeferred {
			v.wait.calls = append(v.wait.calls, *e.Call)
			return
		}
		r.release(v) // settled just now, or too many wait: they go first
	}
	r.record(v, e)
}

// record counts a call under its view's labels.
func (r *Recorder) record(v *view, e *decoder.CallEvent) {
	c := e.Call
	verdict := classify(c, v.side)
	if !verdict.finished {
		r.unfin.WithLabelValues(string(v.side)).Inc()
		return
	}
	ser := r.callSeries(v, c)
	if !c.Start.IsZero() && !c.EndTS.IsZero() {
		ser.dur.Observe(c.EndTS.Sub(c.Start).Seconds())
	}
	if v.peerLocal && (v.side == SideClient || v.side == SideServer) {
		r.join(e, v, ser, verdict)
		return
	}
	if verdict.failed {
		r.fail(v, ser.l, verdict.origin)
	}
}

type labels struct{ service, method, status string }

// seriesKey names a call's series within a view.
type seriesKey struct {
	method   string
	status   int64
	statusOK bool
}

type series struct {
	key seriesKey
	l   labels
	dur prometheus.Observer
	hop prometheus.Observer // client views', once needed
}

// maxViewSeries bounds the series a view remembers.
const maxViewSeries = 32

func (r *Recorder) pendingLen() int {
	if r.hasLast {
		return len(r.pending) + 1
	}
	return len(r.pending)
}

// callSeries finds a call's labels and latency series. A view whose
// labels are final remembers them: working labels out and looking a
// series up by seven label values is most of what a call costs here.
func (r *Recorder) callSeries(v *view, c *grpc.Call) *series {
	k := seriesKey{status: c.Status.V, statusOK: c.Status.OK}
	if c.Method.OK {
		k.method = c.Method.V
	}
	if v.settled {
		if v.lastSeries != nil && v.lastSeries.key == k {
			return v.lastSeries // calls of a connection mostly look alike
		}
		if s, ok := v.series[k]; ok {
			v.lastSeries = s
			return s
		}
	}
	l := r.callLabels(v, c)
	s := &series{key: k, l: l, dur: r.callDur.WithLabelValues(r.pod(v, string(v.side), "grpc", l.service, l.method, l.status, v.src, v.dst)...)}
	if v.settled && len(v.series) < maxViewSeries {
		if v.series == nil {
			v.series = map[seriesKey]*series{}
		}
		v.series[k] = s
		v.lastSeries = s
	}
	return s
}

// hopSeries is the hop histogram series of a client view's call.
func (r *Recorder) hopSeries(v *view, s *series) prometheus.Observer {
	if s.hop == nil {
		s.hop = r.hop.WithLabelValues(r.pod(v, "grpc", s.l.service, s.l.method, v.src, v.dst)...)
	}
	return s.hop
}

// withPods is a histogram's label names, with the pod labels if asked.
func withPods(names []string, pods bool) []string {
	if !pods {
		return names
	}
	return append(slices.Clip(names), "source_pod", "destination_pod")
}

// pod is a series' label values, with the view's pods when the
// histograms have pod labels.
func (r *Recorder) pod(v *view, vals ...string) []string {
	if r.cfg.PodLabels {
		return append(vals, v.srcPod, v.dstPod)
	}
	return vals
}

func (r *Recorder) callLabels(v *view, c *grpc.Call) labels {
	service, method := "unknown", "unknown"
	if c.Method.OK {
		service, method = splitMethod(c.Method.V)
	}
	var l labels
	l.service, l.method = r.methods.labels(service, method)
	l.status = "unknown"
	if c.Status.OK {
		l.status = strconv.FormatInt(c.Status.V, 10)
	}
	return l
}

func (r *Recorder) fail(v *view, l labels, o Origin) {
	r.failures.WithLabelValues(string(v.side), string(o), "grpc", l.service, l.method, l.status, v.src, v.dst).Inc()
}

// Lifecycle records the kernel's connection events: smoothed RTT at
// close, and retransmits.
func (r *Recorder) Lifecycle(e *bpf.Event) {
	switch e.Kind {
	case bpf.KindSock:
		if e.Op != bpf.SockClosed || e.SRTT <= 0 {
			return
		}
		src, dst := r.edge(e.Local, e.Remote)
		r.srtt.WithLabelValues(src, dst).Observe(e.SRTT.Seconds())
	case bpf.KindRetransmit:
		src, dst := r.edge(e.Local, e.Remote)
		r.retransmits.WithLabelValues(src, dst).Inc()
	}
}

// edge names the local and remote ends of a kernel connection event:
// the kernel says which end is ours, not which one connected.
func (r *Recorder) edge(local, remote netip.AddrPort) (string, string) {
	var ls, ps *capture.Socket
	if r.dir != nil {
		if lc, ok := r.dir.End(local, remote); ok {
			s := r.dir.Get(lc)
			ls = &s
		}
		if pc, ok := r.dir.Peer(local, remote); ok {
			p := r.dir.Get(pc)
			ps = &p
		}
	}
	return r.workloads.value(r.namer.Workload(local.Addr(), ls)), r.workloads.value(r.namer.Workload(remote.Addr(), ps))
}

// Progress takes the capture's running summary for the self-metrics and
// lets views waiting for their other side expire.
func (r *Recorder) Progress(s *capture.Summary) {
	now := r.now()
	r.expire(now)
	for k, v := range r.views {
		old := now.Sub(v.born) > holdLimit
		if w := v.wait; w != nil && !v.settled {
			// The names may be known now (a new pod's status came).
			if final := r.name(v, &w.conn, w.cs, w.ss, !old); final || old {
				r.release(v)
			}
		} else if (v.held || v.h2Held) && old {
			r.release(v)
		}
		if v.closed && v.wait == nil {
			delete(r.views, k)
		}
	}
	r.mu.Lock()
	r.snap = selfSnap{have: true, sum: *s, methodOverflow: r.methods.overflow(),
		workloadOverflow: r.workloads.overflow, pending: r.pendingLen(), views: len(r.views)}
	r.mu.Unlock()
}
