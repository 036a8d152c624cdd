package metrics

import (
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hoptap/hoptap/agent/capture"
	"github.com/hoptap/hoptap/bpf"
	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/grpc"
)

func TestClassify(t *testing.T) {
	st := func(v int64) grpc.Int { return grpc.Int{V: v, OK: true} }
	cases := []struct {
		name string
		call grpc.Call
		side Side
		want verdict
	}{
		{"ok", grpc.Call{End: grpc.EndTrailers, HTTPStatus: st(200), Status: st(0)}, SideClient, verdict{finished: true}},
		{"app error at server", grpc.Call{End: grpc.EndTrailers, HTTPStatus: st(200), Status: st(3)}, SideServer,
			verdict{finished: true, failed: true, origin: OriginApplication}},
		{"error at client waits for the server", grpc.Call{End: grpc.EndTrailers, HTTPStatus: st(200), Status: st(3)}, SideClient,
			verdict{finished: true, failed: true, origin: OriginUnknown, needServer: true}},
		{"502 with a status", grpc.Call{End: grpc.EndTrailersOnly, HTTPStatus: st(502), Status: st(14)}, SideClient,
			verdict{finished: true, failed: true, origin: OriginProxy}},
		{"503 mapped", grpc.Call{End: grpc.EndTrailersOnly, HTTPStatus: st(503), Status: st(14), StatusFromHTTP: true}, SideClient,
			verdict{finished: true, failed: true, origin: OriginProxy}},
		{"reset stream", grpc.Call{End: grpc.EndRSTStream}, SideClient, verdict{finished: true, failed: true, origin: OriginTransport}},
		{"goaway", grpc.Call{End: grpc.EndGoAway}, SideServer, verdict{finished: true, failed: true, origin: OriginTransport}},
		{"connection gone", grpc.Call{End: grpc.EndConnClosed}, SideClient, verdict{finished: true, failed: true, origin: OriginTransport}},
		{"capture ended", grpc.Call{End: grpc.EndIncomplete}, SideClient, verdict{}},
		{"no side", grpc.Call{End: grpc.EndTrailers, HTTPStatus: st(200), Status: st(3)}, SideUnknown,
			verdict{finished: true, failed: true, origin: OriginUnknown}},
	}
	for _, c := range cases {
		if got := classify(&c.call, c.side); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestSplitMethod(t *testing.T) {
	for in, want := range map[string][2]string{
		"/grpc.testing.TestService/UnaryCall": {"grpc.testing.TestService", "UnaryCall"},
		"/a/b/c":                              {"a/b", "c"},
		"/nomethod/":                          {"unknown", "/nomethod/"},
		"garbage":                             {"unknown", "garbage"},
		"":                                    {"unknown", ""},
	} {
		s, m := splitMethod(in)
		if s != want[0] || m != want[1] {
			t.Errorf("%q: %q %q, want %q %q", in, s, m, want[0], want[1])
		}
	}
}

func TestMethodCap(t *testing.T) {
	m := newMethods(2, 2)
	for _, c := range []struct{ s, m, ws, wm string }{
		{"a", "x", "a", "x"}, {"a", "y", "a", "y"}, {"a", "z", "a", Overflow}, {"a", "x", "a", "x"},
		{"b", "x", "b", "x"}, {"c", "x", Overflow, Overflow}, {"b", "w", "b", "w"},
	} {
		if s, mm := m.labels(c.s, c.m); s != c.ws || mm != c.wm {
			t.Errorf("%s/%s: %s/%s, want %s/%s", c.s, c.m, s, mm, c.ws, c.wm)
		}
	}
	if m.overflow() != 2 {
		t.Errorf("overflow %d, want 2", m.overflow())
	}
}

// fakeDir is a node with the client's and the server's sockets of one
// connection, as the capture's directory would show them.
type fakeDir struct {
	socks map[uint64]capture.Socket
	nat   map[netip.AddrPort]uint64 // a cluster IP → the end it was translated to
}

func (d *fakeDir) Get(c uint64) capture.Socket { return d.socks[c] }
func (d *fakeDir) End(local, remote netip.AddrPort) (uint64, bool) {
	for c, s := range d.socks {
		if s.Local == local {
			return c, true
		}
	}
	return 0, false
}
func (d *fakeDir) Peer(local, remote netip.AddrPort) (uint64, bool) {
	if c, ok := d.nat[remote]; ok {
		return c, true
	}
	for c, s := range d.socks {
		if s.Local == remote {
			return c, true
		}
	}
	return 0, false
}

var (
	cli = netip.MustParseAddrPort("198.18.0.3:40000")
	srv = netip.MustParseAddrPort("198.18.0.2:10000")
)

func newTestRecorder(t *testing.T, both bool) (*Recorder, *prometheus.Registry) {
	dir := &fakeDir{socks: map[uint64]capture.Socket{
		1: {Known: true, Comm: "client-app", Local: cli, HasLocal: true},
	}}
	if both {
		dir.socks[2] = capture.Socket{Known: true, Comm: "server-app", Local: srv, HasLocal: true}
	}
	reg := prometheus.NewRegistry()
	r, err := New(reg, dir, nil, Config{})
	if err != nil {
		t.Fatal(err)
	}
	return r, reg
}

func call(stream uint32, start time.Time, dur time.Duration, http, status int64) *grpc.Call {
	return &grpc.Call{Stream: stream, Start: start, EndTS: start.Add(dur), End: grpc.EndTrailers,
		Method:     grpc.Str{V: "/grpc.testing.TestService/UnaryCall", OK: true},
		HTTPStatus: grpc.Int{V: http, OK: true}, Status: grpc.Int{V: status, OK: true}}
}

func feed(r *Recorder, observer uint64, c *grpc.Call) {
	r.Call(&decoder.CallEvent{Conn: &decoder.Conn{ID: observer, Observer: observer, Client: cli, Server: srv}, Call: c})
}

// value sums the samples of a family whose labels include want.
func value(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) (sum float64, count uint64) {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.Metric {
			have := map[string]string{}
			for _, l := range m.Label {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue next
				}
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				sum += m.Counter.GetValue()
			case dto.MetricType_HISTOGRAM:
				sum += m.Histogram.GetSampleSum()
				count += m.Histogram.GetSampleCount()
			}
		}
	}
	return sum, count
}

func TestHopAndSides(t *testing.T) {
	r, reg := newTestRecorder(t, true)
	t0 := time.Unix(1000, 0)
	// The server's socket sees the call first and shorter.
	feed(r, 2, call(1, t0.Add(100*time.Microsecond), 800*time.Microsecond, 200, 0))
	feed(r, 1, call(1, t0, 1000*time.Microsecond, 200, 0))

	if _, n := value(t, reg, "hoptap_rpc_call_duration_seconds", map[string]string{"side": "client", "source_workload": "client-app", "destination_workload": "server-app", "rpc_service": "grpc.testing.TestService", "rpc_method": "UnaryCall", "rpc_grpc_status_code": "0"}); n != 1 {
		t.Errorf("client-side samples %d, want 1", n)
	}
	if _, n := value(t, reg, "hoptap_rpc_call_duration_seconds", map[string]string{"side": "server"}); n != 1 {
		t.Errorf("server-side samples %d, want 1", n)
	}
	sum, n := value(t, reg, "hoptap_rpc_hop_network_seconds", map[string]string{"source_workload": "client-app", "destination_workload": "server-app"})
	if n != 1 || sum < 199e-6 || sum > 201e-6 {
		t.Errorf("hop: %d samples summing %gs, want one of 200µs", n, sum)
	}
	if len(r.pending) != 0 {
		t.Errorf("%d views still waiting", len(r.pending))
	}
}

// A call the client reset (a deadline, a cancel) joins for its origin
// but gives no hop: the client's view ends at its own RST_STREAM.
func TestHopNotForClientReset(t *testing.T) {
	r, reg := newTestRecorder(t, true)
	t0 := time.Unix(1000, 0)
	reset := func(start time.Time, dur time.Duration) *grpc.Call {
		c := call(1, start, dur, 200, 0)
		c.End, c.RSTBy, c.RSTCode, c.Status = grpc.EndRSTStream, grpc.C2S, 8, grpc.Int{}
		return c
	}
	feed(r, 2, reset(t0.Add(100*time.Microsecond), 950*time.Microsecond))
	feed(r, 1, reset(t0, 1000*time.Microsecond))
	if _, n := value(t, reg, "hoptap_rpc_hop_network_seconds", nil); n != 0 {
		t.Errorf("%d hop samples for a call the client reset", n)
	}
	if got, _ := value(t, reg, "hoptap_rpc_hop_unjoined_total", map[string]string{"reason": "client_reset"}); got != 1 {
		t.Errorf("client_reset %v, want 1", got)
	}
	if got, _ := value(t, reg, "hoptap_rpc_hop_unjoined_total", map[string]string{"reason": "anomaly"}); got != 0 {
		t.Errorf("anomaly %v, want 0", got)
	}
}

// The client dialled a Service's cluster IP: its view names the cluster
// IP as the server, the server's view the pod's own address. The
// directory pairs the ends, and the two views of each call still join.
func TestHopThroughClusterIP(t *testing.T) {
	vip := netip.MustParseAddrPort("198.19.0.10:10000")
	dir := &fakeDir{socks: map[uint64]capture.Socket{
		1: {Known: true, Comm: "client-app", Local: cli, HasLocal: true},
		2: {Known: true, Comm: "server-app", Local: srv, HasLocal: true},
	}, nat: map[netip.AddrPort]uint64{vip: 2}}
	reg := prometheus.NewRegistry()
	r, err := New(reg, dir, nil, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	r.Call(&decoder.CallEvent{Conn: &decoder.Conn{ID: 2, Observer: 2, Client: cli, Server: srv}, Call: call(1, t0.Add(100*time.Microsecond), 800*time.Microsecond, 200, 0)})
	r.Call(&decoder.CallEvent{Conn: &decoder.Conn{ID: 1, Observer: 1, Client: cli, Server: vip}, Call: call(1, t0, 1000*time.Microsecond, 200, 0)})
	if _, n := value(t, reg, "hoptap_rpc_call_duration_seconds", map[string]string{"side": "client", "source_workload": "client-app", "destination_workload": "server-app"}); n != 1 {
		t.Errorf("client-side samples naming the server's workload: %d, want 1", n)
	}
	if _, n := value(t, reg, "hoptap_rpc_hop_network_seconds", map[string]string{"source_workload": "client-app", "destination_workload": "server-app"}); n != 1 {
		t.Errorf("hop samples %d, want 1", n)
	}
	if len(r.pending) != 0 {
		t.Errorf("%d views still waiting", len(r.pending))
	}
}

func TestOriginFromBothViews(t *testing.T) {
	r, reg := newTestRecorder(t, true)
	t0 := time.Unix(1000, 0)
	// Stream 1: the server application's error, seen at both sockets.
	feed(r, 2, call(1, t0, time.Millisecond, 200, 5))
	feed(r, 1, call(1, t0, 2*time.Millisecond, 200, 5))
	// Stream 3: the client sees a status the server's socket never sent.
	feed(r, 2, call(3, t0, time.Millisecond, 200, 0))
	feed(r, 1, call(3, t0, 2*time.Millisecond, 200, 14))
	want := []struct {
		side, origin, code string
		n                  float64
	}{
		{"server", "application", "5", 1}, {"client", "application", "5", 1},
		{"client", "proxy", "14", 1}, {"server", "proxy", "", 0},
	}
	for _, w := range want {
		l := map[string]string{"side": w.side, "origin": w.origin}
		if w.code != "" {
			l["rpc_grpc_status_code"] = w.code
		}
		if got, _ := value(t, reg, "hoptap_rpc_failures_total", l); got != w.n {
			t.Errorf("failures %v: %v, want %v", l, got, w.n)
		}
	}
}

// A client whose server is not on this node: by the end of a call the
// server's end would have shown itself (its packets came first), so the
// calls count at once, with the status origin unknown.
func TestOriginClientOnly(t *testing.T) {
	dir := &fakeDir{socks: map[uint64]capture.Socket{1: {Known: true, Comm: "client-app", Local: cli, HasLocal: true}}}
	r, reg, _ := recorderOn(t, dir)
	t0 := time.Unix(1000, 0)
	feed(r, 1, call(1, t0, time.Millisecond, 200, 5))
	feed(r, 1, call(3, t0, time.Millisecond, 502, 14))
	if got, _ := value(t, reg, "hoptap_rpc_failures_total", map[string]string{"origin": "unknown", "destination_workload": "198.18.0.2"}); got != 1 {
		t.Errorf("status from a server not on this node: %v unknown, want 1", got)
	}
	if got, _ := value(t, reg, "hoptap_rpc_failures_total", map[string]string{"origin": "proxy"}); got != 1 {
		t.Errorf("HTTP 502: %v proxy, want 1", got)
	}
	if len(r.pending) != 0 {
		t.Errorf("%d views wait for a server that is not here", len(r.pending))
	}
}

func TestUnjoinedViewExpires(t *testing.T) {
	r, reg := newTestRecorder(t, true)
	clock := time.Unix(5000, 0)
	r.now = func() time.Time { return clock }
	feed(r, 1, call(1, time.Unix(1000, 0), time.Millisecond, 200, 5))
	if got, _ := value(t, reg, "hoptap_rpc_failures_total", nil); got != 0 {
		t.Fatalf("counted %v before the server's view could come", got)
	}
	r.Progress(&capture.Summary{})
	if got, _ := value(t, reg, "hoptap_rpc_failures_total", nil); got != 0 {
		t.Fatalf("counted %v within the window", got)
	}
	clock = clock.Add(r.cfg.HopWindow)
	r.Progress(&capture.Summary{})
	if got, _ := value(t, reg, "hoptap_rpc_failures_total", map[string]string{"origin": "unknown", "side": "client"}); got != 1 {
		t.Errorf("expired client view: %v unknown, want 1", got)
	}
	if got, _ := value(t, reg, "hoptap_rpc_hop_unjoined_total", map[string]string{"reason": "expired"}); got != 1 {
		t.Errorf("unjoined %v, want 1", got)
	}
}

// A handshake is held until the view's labels are final, and recorded
// after a while if they never are.
func TestHandshakeHeldForLabels(t *testing.T) {
	dir := &fakeDir{socks: map[uint64]capture.Socket{
		1: {Known: true, Comm: "client-app", Local: cli, HasLocal: true},
		2: {Local: srv, HasLocal: true}, // accepted, owner not known yet
	}}
	r, reg, clock := recorderOn(t, dir)
	conn := func(obs uint64) *decoder.Conn {
		return &decoder.Conn{ID: obs, Observer: obs, Client: cli, Server: srv}
	}
	hs := func(obs uint64) {
		r.Conn(&decoder.ConnEvent{Conn: conn(obs), Kind: decoder.ConnTCPHandshake, SYNToSYNACK: time.Millisecond, SYNACKToACK: time.Millisecond})
	}
	hs(1)
	hs(2)
	if got, _ := value(t, reg, "hoptap_tcp_connections_opened_total", nil); got != 0 {
		t.Fatalf("%v connections recorded before their labels are known", got)
	}
	// The server process accepts: the owner is known from now on.
	dir.socks[2] = capture.Socket{Known: true, Comm: "server-app", Local: srv, HasLocal: true}
	feed(r, 2, call(1, *clock, time.Millisecond, 200, 0))
	feed(r, 1, call(1, *clock, 2*time.Millisecond, 200, 0))
	for _, side := range []string{"client", "server"} {
		w := map[string]string{"side": side, "source_workload": "client-app", "destination_workload": "server-app"}
		if got, _ := value(t, reg, "hoptap_tcp_connections_opened_total", w); got != 1 {
			t.Errorf("%s: %v connections opened with final labels, want 1", side, got)
		}
		if _, n := value(t, reg, "hoptap_tcp_handshake_seconds", w); n != 1 {
			t.Errorf("%s: %d handshakes, want 1", side, n)
		}
	}
}

// With both ends here, the client's view is the one to show, from the

// The server's end may show up after the client's view began: the
// client's view waits for it, and the two views still join.
func TestLateServerEndStillJoins(t *testing.T) {
	dir := &fakeDir{socks: map[uint64]capture.Socket{
		1: {Known: true, Comm: "client-app", Local: cli, HasLocal: true},
	}}
	r, reg, clock := recorderOn(t, dir)
	r.Conn(&decoder.ConnEvent{Conn: &decoder.Conn{ID: 1, Observer: 1, Client: cli, Server: srv}, Kind: decoder.ConnTCPHandshake})
	dir.socks[2] = capture.Socket{Known: true, Comm: "server-app", Local: srv, HasLocal: true}
	*clock = clock.Add(100 * time.Millisecond)
	feed(r, 2, call(1, *clock, time.Millisecond, 200, 0))
	feed(r, 1, call(1, *clock, 2*time.Millisecond, 200, 0))
	if _, n := value(t, reg, "hoptap_rpc_hop_network_seconds", map[string]string{"destination_workload": "server-app"}); n != 1 {
		t.Errorf("hop samples %d, want 1", n)
	}
	if len(r.pending) != 0 {
		t.Errorf("%d views left waiting", len(r.pending))
	}
}

// recorderOn is a recorder over dir with a clock the test moves.
func recorderOn(t *testing.T, dir Directory) (*Recorder, *prometheus.Registry, *time.Time) {
	t.Helper()
	reg := prometheus.NewRegistry()
	r, err := New(reg, dir, nil, Config{})
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(5000, 0)
	r.now = func() time.Time { return clock }
	return r, reg, &clock
}

// A reset before the handshake completes is a refusal; after, a reset.
func TestResetsAndRefusals(t *testing.T) {
	r, reg := newTestRecorder(t, false)
	refusedConn := &decoder.Conn{ID: 1, Observer: 1, Client: cli, Server: srv}
	r.Conn(&decoder.ConnEvent{Conn: refusedConn, Kind: decoder.ConnReset, Dir: grpc.S2C, HasDir: true})
	r.Conn(&decoder.ConnEvent{Conn: refusedConn, Kind: decoder.ConnReset, Dir: grpc.S2C, HasDir: true}) // counted once
	est := &decoder.Conn{ID: 2, Observer: 1, Client: cli, Server: srv}
	r.Conn(&decoder.ConnEvent{Conn: est, Kind: decoder.ConnTCPHandshake})
	r.Conn(&decoder.ConnEvent{Conn: est, Kind: decoder.ConnReset, Dir: grpc.S2C, HasDir: true})
	if got, _ := value(t, reg, "hoptap_tcp_refused_total", nil); got != 1 {
		t.Errorf("refused %v, want 1", got)
	}
	if got, _ := value(t, reg, "hoptap_tcp_resets_total", nil); got != 1 {
		t.Errorf("resets %v, want 1", got)
	}
}

// The kernel's connection events name both ends by their processes:
// the local one by the connection's end here (it was once looked up as
// if the socket's cookie were an end and named by address).
func TestLifecycleNamesBothEnds(t *testing.T) {
	r, reg := newTestRecorder(t, true)
	r.Lifecycle(&bpf.Event{Kind: bpf.KindSock, Op: bpf.SockClosed, Cookie: 77, Local: cli, Remote: srv, SRTT: 150 * time.Microsecond})
	r.Lifecycle(&bpf.Event{Kind: bpf.KindSock, Op: bpf.SockClosed, Cookie: 78, Local: srv, Remote: cli, SRTT: 250 * time.Microsecond})
	r.Lifecycle(&bpf.Event{Kind: bpf.KindRetransmit, Local: srv, Remote: cli})
	for _, c := range []struct {
		local, remote string
		sum           float64
	}{{"client-app", "server-app", 150e-6}, {"server-app", "client-app", 250e-6}} {
		sum, n := value(t, reg, "hoptap_tcp_smoothed_rtt_seconds", map[string]string{"local_workload": c.local, "remote_workload": c.remote})
		if n != 1 || sum < c.sum*0.99 || sum > c.sum*1.01 {
			t.Errorf("smoothed RTT at %s to %s: %d samples summing %gs, want one of %gs", c.local, c.remote, n, sum, c.sum)
		}
	}
	if got, _ := value(t, reg, "hoptap_tcp_retransmits_total", map[string]string{"local_workload": "server-app", "remote_workload": "client-app"}); got != 1 {
		t.Errorf("retransmits from server-app to client-app %v, want 1", got)
	}
	// An end with no packet seen is named by its address, as unknown.
	far := netip.MustParseAddrPort("198.18.9.9:443")
	r.Lifecycle(&bpf.Event{Kind: bpf.KindRetransmit, Local: netip.MustParseAddrPort("198.18.9.8:5000"), Remote: far})
	if got, _ := value(t, reg, "hoptap_tcp_retransmits_total", map[string]string{"local_workload": "198.18.9.8", "remote_workload": "198.18.9.9"}); got != 1 {
		t.Errorf("retransmits between unknown ends %v, want 1 named by address", got)
	}
}

// podNamer names each socket's process as its workload and its pod.
type podNamer struct{ ProcessNamer }

func (n podNamer) Identify(addr netip.Addr, sock *capture.Socket) Identity {
	id := Identity{Workload: n.Workload(addr, sock), Final: true}
	if sock != nil && sock.Known {
		id.Pod = sock.Comm + "-7d4b9c-x2x9z"
	}
	return id
}

// With PodLabels the call and hop histograms name the pods too; without,
// they have no such labels.
func TestPodLabels(t *testing.T) {
	for _, on := range []bool{true, false} {
		dir := &fakeDir{socks: map[uint64]capture.Socket{
			1: {Known: true, Comm: "client-app", Local: cli, HasLocal: true},
			2: {Known: true, Comm: "server-app", Local: srv, HasLocal: true},
		}}
		reg := prometheus.NewRegistry()
		r, err := New(reg, dir, podNamer{}, Config{PodLabels: on})
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Unix(1000, 0)
		feed(r, 2, call(1, t0.Add(100*time.Microsecond), 800*time.Microsecond, 200, 0))
		feed(r, 1, call(1, t0, time.Millisecond, 200, 0))
		pods := map[string]string{"source_pod": "client-app-7d4b9c-x2x9z", "destination_pod": "server-app-7d4b9c-x2x9z"}
		for _, name := range []string{"hoptap_rpc_call_duration_seconds", "hoptap_rpc_hop_network_seconds"} {
			_, n := value(t, reg, name, pods)
			if want := map[bool]uint64{true: 1, false: 0}[on]; name == "hoptap_rpc_hop_network_seconds" && n != want {
				t.Errorf("PodLabels %v: %s samples with the pods %d, want %d", on, name, n, want)
			} else if want := map[bool]uint64{true: 2, false: 0}[on]; name == "hoptap_rpc_call_duration_seconds" && n != want {
				t.Errorf("PodLabels %v: %s samples with the pods %d, want %d", on, name, n, want)
			}
		}
	}
}

// finalNamer names an end by its process once ready says so; until
// then the name may change (a pod's status not seen yet).
type finalNamer struct {
	ProcessNamer
	ready *bool
}

func (n finalNamer) Identify(addr netip.Addr, sock *capture.Socket) Identity {
	if *n.ready && sock != nil {
		return Identity{Workload: "shop/" + sock.Comm, Final: true}
	}
	return Identity{Workload: n.ProcessNamer.Workload(addr, sock)}
}

// Calls of a connection whose names are not final wait, even past the
// connection's end, and count under the names learned later.
func TestCallsWaitForFinalNames(t *testing.T) {
	dir := &fakeDir{socks: map[uint64]capture.Socket{
		1: {Known: true, Comm: "client-app", Local: cli, HasLocal: true},
		2: {Known: true, Comm: "server-app", Local: srv, HasLocal: true},
	}}
	ready := false
	reg := prometheus.NewRegistry()
	r, err := New(reg, dir, finalNamer{ready: &ready}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(5000, 0)
	r.now = func() time.Time { return clock }
	conn := func(obs uint64) *decoder.Conn { return &decoder.Conn{ID: obs, Observer: obs, Client: cli, Server: srv} }
	r.Call(&decoder.CallEvent{Conn: conn(2), Call: call(1, clock, time.Millisecond, 200, 0)})
	r.Call(&decoder.CallEvent{Conn: conn(1), Call: call(1, clock, 2*time.Millisecond, 200, 0)})
	r.Conn(&decoder.ConnEvent{Conn: conn(1), Kind: decoder.ConnClose})
	r.Conn(&decoder.ConnEvent{Conn: conn(2), Kind: decoder.ConnClose})
	if _, n := value(t, reg, "hoptap_rpc_call_duration_seconds", nil); n != 0 {
		t.Fatalf("%d calls counted before their names are final", n)
	}
	clock = clock.Add(time.Second)
	ready = true // the pods' status arrives
	r.Progress(&capture.Summary{})
	for _, side := range []string{"client", "server"} {
		if _, n := value(t, reg, "hoptap_rpc_call_duration_seconds", map[string]string{"side": side, "source_workload": "shop/client-app", "destination_workload": "shop/server-app"}); n != 1 {
			t.Errorf("%s side: %d calls under the final names, want 1", side, n)
		}
	}
	if _, n := value(t, reg, "hoptap_rpc_hop_network_seconds", map[string]string{"source_workload": "shop/client-app"}); n != 1 {
		t.Errorf("hop samples %d, want 1", n)
	}
	if len(r.views) != 0 {
		t.Errorf("%d closed views kept after their calls were counted", len(r.views))
	}
}
