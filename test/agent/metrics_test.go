package agent_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/hoptap/hoptap/test/peers"
)

const testService = "grpc.testing.TestService"

// expected is what the deterministic interop cases put on the wire,
// per (service, method, status), seen at each socket.
var expected = []struct {
	service, method, status string
	n                       float64
}{
	{testService, "EmptyCall", "0", 1},
	{testService, "UnaryCall", "0", 2},
	{testService, "UnaryCall", "2", 2},
	{testService, "StreamingOutputCall", "0", 1},
	{testService, "FullDuplexCall", "2", 1},
	{testService, "UnimplementedCall", "12", 1},
	{"grpc.testing.UnimplementedService", "UnimplementedCall", "12", 1},
}

// TestInteropSuiteMetrics runs every standard interop case between two
// pods of this node and checks what the agent exports: each call at the
// client's socket and at the server's, each hop's network time, and the
// failures as the application's.
func TestInteropSuiteMetrics(t *testing.T) {
	b := newBed(t)
	a := startAgent(t, b.agentArgs()...)
	opens0 := established(t, b.client)
	if err := b.interop(t, b.server.Addr, serverPort, peersCases()...); err != nil {
		t.Fatal(err)
	}
	// The connections the suite made, as the client pod's kernel counts
	// them: one a case, but timeout_on_sleeping_server's 1 ms deadline may
	// pass before its channel connects (on a loaded machine), and then it
	// makes none; a case run again (b.retries) makes one more.
	conns := float64(established(t, b.client) - opens0)
	if cases := float64(len(peersCases())); conns < cases-1 || conns > cases+float64(b.retries) {
		t.Fatalf("the client pod's kernel counts %v connections established by %v cases", conns, cases)
	}
	edge := func(side string) map[string]string {
		return l("side", side, "source_workload", "interop-client", "destination_workload", "interop-server")
	}
	ss := a.waitFor(t, "every deterministic call at both sockets", func(ss []peers.Sample) bool {
		// The self-metrics are refreshed each second.
		if peers.Sum(ss, "hoptap_kernel_packets_total", nil) == 0 || peers.Sum(ss, "hoptap_tcp_connections_opened_total", nil) == 0 {
			return false
		}
		// The kernel counts a segment it leaves out at once, the decoder
		// skips it when the next one is read (up to a lazy read later).
		if peers.Sum(ss, "hoptap_elided_bytes_total", nil) == 0 {
			return false
		}
		for _, e := range expected {
			for _, side := range []string{"client", "server"} {
				w := edge(side)
				w["rpc_service"], w["rpc_method"], w["rpc_grpc_status_code"] = e.service, e.method, e.status
				if peers.Sum(ss, "hoptap_rpc_call_duration_seconds_count", w) < e.n {
					return false
				}
			}
		}
		return true
	})
	for _, e := range expected {
		for _, side := range []string{"client", "server"} {
			w := edge(side)
			w["rpc_service"], w["rpc_method"], w["rpc_grpc_status_code"] = e.service, e.method, e.status
			if got := peers.Sum(ss, "hoptap_rpc_call_duration_seconds_count", w); got != e.n {
				t.Errorf("%s %s/%s status %s: %v calls, want %v", side, e.service, e.method, e.status, got, e.n)
			}
		}
	}
	// Both sockets are on this node: every unary call's two views join
	// into one hop sample.
	for method, n := range map[string]float64{"EmptyCall": 1, "UnaryCall": 4, "UnimplementedCall": 1} {
		w := l("rpc_service", testService, "rpc_method", method, "source_workload", "interop-client", "destination_workload", "interop-server")
		if got := peers.Sum(ss, "hoptap_rpc_hop_network_seconds_count", w); got != n {
			t.Errorf("hop samples for %s: %v, want %v", method, got, n)
		}
		if s := peers.Sum(ss, "hoptap_rpc_hop_network_seconds_sum", w); s <= 0 {
			t.Errorf("hop time for %s: %v s", method, s)
		}
	}
	for _, f := range []struct {
		method, status string
		n              float64
	}{{"UnaryCall", "2", 2}, {"FullDuplexCall", "2", 1}, {"UnimplementedCall", "12", 1}} {
		for _, side := range []string{"client", "server"} {
			w := edge(side)
			w["origin"], w["rpc_service"], w["rpc_method"], w["rpc_grpc_status_code"] = "application", testService, f.method, f.status
			if got := peers.Sum(ss, "hoptap_rpc_failures_total", w); got != f.n {
				t.Errorf("%s application failures of %s status %s: %v, want %v", side, f.method, f.status, got, f.n)
			}
		}
	}
	for _, o := range []string{"proxy", "unknown"} {
		if got := peers.Sum(ss, "hoptap_rpc_failures_total", l("origin", o)); got != 0 {
			t.Errorf("%v failures of origin %s with no proxy in between", got, o)
		}
	}
	if got := peers.Sum(ss, "hoptap_lost_events_total", nil); got != 0 {
		t.Errorf("%v events lost", got)
	}
	// With nobody watching, the kernel left out the segments of PING and
	// WINDOW_UPDATE frames alone (grpc-go sends them after each message
	// received), and the decoder skipped every one without a hole.
	if got := peers.Sum(ss, "hoptap_elided_segments_total", nil); got == 0 {
		t.Error("no segment of PING and WINDOW_UPDATE frames alone was left out")
	}
	if got := peers.Sum(ss, "hoptap_elided_bytes_total", nil); got == 0 {
		t.Error("the decoder skipped no elided bytes")
	}
	if got := peers.Sum(ss, "hoptap_elided_acks_total", nil); got == 0 {
		t.Error("no bare ACK of the HTTP/2 connections was left out")
	}
	if got := peers.Sum(ss, "hoptap_tcp_gaps_total", nil); got != 0 {
		t.Errorf("%v TCP gaps in the interop suite's streams", got)
	}
	if peers.Sum(ss, "hoptap_kernel_packets_total", nil) == 0 || peers.Sum(ss, "hoptap_tcp_connections_opened_total", nil) == 0 {
		t.Error("no packets or connections counted")
	}
	// Each connection the suite made, seen opening at both ends with its
	// handshake timed there. A connection's metrics wait until both ends'
	// processes are known, or a short while: a connection that ends before
	// its accepting process shows itself is named by address, so the
	// count is per side, and most must carry the process names.
	cases := conns
	side := func(s string) map[string]string { return l("side", s) }
	ss = a.waitFor(t, "a connection per case at both ends", func(ss []peers.Sample) bool {
		return peers.Sum(ss, "hoptap_tcp_connections_opened_total", side("client")) >= cases &&
			peers.Sum(ss, "hoptap_tcp_connections_opened_total", side("server")) >= cases
	})
	for _, sd := range []string{"client", "server"} {
		if got := peers.Sum(ss, "hoptap_tcp_connections_opened_total", side(sd)); got != cases {
			t.Errorf("connections opened at the %s's socket: %v, want %v", sd, got, cases)
		}
		if got := peers.Sum(ss, "hoptap_tcp_connections_opened_total", edge(sd)); got < cases/2 {
			t.Errorf("connections opened at the %s's socket named interop-client → interop-server: %v of %v", sd, got, cases)
		}
		if got := peers.Sum(ss, "hoptap_tcp_handshake_seconds_count", side(sd)); got != cases {
			t.Errorf("TCP handshakes timed at the %s's socket: %v, want %v", sd, got, cases)
		}
		// A case may end its connection before both SETTINGS are
		// acknowledged; most do not.
		if got := peers.Sum(ss, "hoptap_http2_handshake_seconds_count", side(sd)); got < cases/2 {
			t.Errorf("HTTP/2 handshakes timed at the %s's socket: %v of %v connections", sd, got, cases)
		}
	}
	// Each socket's smoothed RTT at its close, named by the processes at
	// both ends (most: as above, an end may close before its process
	// shows itself).
	rtt := func(local, remote string) map[string]string {
		return l("local_workload", local, "remote_workload", remote)
	}
	a.waitFor(t, "smoothed RTTs named at both ends", func(ss []peers.Sample) bool {
		return peers.Sum(ss, "hoptap_tcp_smoothed_rtt_seconds_count", rtt("interop-client", "interop-server")) >= cases/2 &&
			peers.Sum(ss, "hoptap_tcp_smoothed_rtt_seconds_count", rtt("interop-server", "interop-client")) >= cases/2
	})
}

func peersCases() []string {
	return []string{
		"empty_unary", "large_unary", "client_streaming", "server_streaming",
		"ping_pong", "empty_stream", "timeout_on_sleeping_server",
		"cancel_after_begin", "cancel_after_first_response",
		"status_code_and_message", "special_status_message", "custom_metadata",
		"unimplemented_method", "unimplemented_service",
	}
}

// TestTwoHopsThroughNginx sends calls client → nginx (grpc_pass) →
// server: both hops get their own network time, an error the server
// application returns is the application's at every socket, and once the
// server is gone, nginx's answers count as the proxy's.
func TestTwoHopsThroughNginx(t *testing.T) {
	b := newBed(t)
	a := startAgent(t, b.agentArgs()...)
	if err := b.interop(t, b.proxy.Addr, proxyPort, "large_unary", "status_code_and_message"); err != nil {
		t.Fatal(err)
	}
	front := l("rpc_method", "UnaryCall", "source_workload", "interop-client", "destination_workload", "nginx")
	back := l("rpc_method", "UnaryCall", "source_workload", "nginx", "destination_workload", "interop-server")
	ss := a.waitFor(t, "both hops of both unary calls", func(ss []peers.Sample) bool {
		return peers.Sum(ss, "hoptap_rpc_hop_network_seconds_count", front) >= 2 && peers.Sum(ss, "hoptap_rpc_hop_network_seconds_count", back) >= 2
	})
	for name, w := range map[string]map[string]string{"client → nginx": front, "nginx → server": back} {
		if got := peers.Sum(ss, "hoptap_rpc_hop_network_seconds_count", w); got != 2 {
			t.Errorf("hop %s: %v samples, want 2", name, got)
		}
		for _, side := range []string{"client", "server"} {
			f := l("side", side, "origin", "application", "rpc_grpc_status_code", "2")
			for k, v := range w {
				f[k] = v
			}
			if got := peers.Sum(ss, "hoptap_rpc_failures_total", f); got != 1 {
				t.Errorf("hop %s, %s's socket: %v application failures of UnaryCall, want 1", name, side, got)
			}
		}
	}

	// The upstream server stops: nginx answers for it.
	b.serverCmd.Process.Kill()
	b.serverCmd.Wait()
	if err := b.interop(t, b.proxy.Addr, proxyPort, "large_unary"); err == nil {
		t.Fatal("large_unary passed with the server stopped")
	}
	proxyFail := l("side", "client", "origin", "proxy", "rpc_method", "UnaryCall", "source_workload", "interop-client", "destination_workload", "nginx")
	ss = a.waitFor(t, "the failure at the client counted as the proxy's", func(ss []peers.Sample) bool {
		return peers.Sum(ss, "hoptap_rpc_failures_total", proxyFail) >= 1
	})
	if got := peers.Sum(ss, "hoptap_rpc_failures_total", proxyFail); got != 1 {
		t.Errorf("proxy failures at the client: %v, want 1", got)
	}
	// nginx's connection attempts to the stopped server are refused.
	refused := l("side", "client", "source_workload", "nginx")
	ss = a.waitFor(t, "nginx's refused connection", func(ss []peers.Sample) bool {
		return peers.Sum(ss, "hoptap_tcp_refused_total", refused) >= 1
	})
	if got := peers.Sum(ss, "hoptap_tcp_resets_total", refused); got != 0 {
		t.Errorf("refused attempts counted as %v resets of established connections", got)
	}
	for _, o := range []string{"application", "transport", "unknown"} {
		w := l("side", "client", "origin", o, "rpc_method", "UnaryCall", "rpc_grpc_status_code", "14")
		if got := peers.Sum(ss, "hoptap_rpc_failures_total", w); got != 0 {
			t.Errorf("the stopped server's calls: %v counted as %s", got, o)
		}
	}
}

// The DaemonSet's capability set is enough: root with every other
// capability dropped captures, joins both views, and names processes.
func TestDaemonSetCapabilitiesSuffice(t *testing.T) {
	b := newBed(t)
	a := startAgentUnder(t, []string{peers.Tool(t, "setpriv"), "--bounding-set", "-all,+bpf,+perfmon,+net_admin,+sys_ptrace", "--inh-caps=-all"},
		b.agentArgs()...)
	if err := b.interop(t, b.server.Addr, serverPort, "large_unary"); err != nil {
		t.Fatal(err)
	}
	w := l("rpc_method", "UnaryCall", "source_workload", "interop-client", "destination_workload", "interop-server")
	ss := a.waitFor(t, "the call's hop", func(ss []peers.Sample) bool {
		return peers.Sum(ss, "hoptap_rpc_hop_network_seconds_count", w) >= 1
	})
	if got := peers.Sum(ss, "hoptap_rpc_hop_network_seconds_count", w); got != 1 {
		t.Errorf("hop samples %v, want 1", got)
	}
	if log, _ := os.ReadFile(a.log.Name()); strings.Contains(string(log), "level=WARN") {
		t.Errorf("warnings with the DaemonSet's capabilities:\n%s", log)
	}
}

// established is how many TCP connections a pod's kernel has seen
// established from its side (connect() reaching ESTABLISHED): active
// opens less failed attempts, from its /proc/net/snmp.
func established(t *testing.T, p peers.Pod) uint64 {
	t.Helper()
	out, err := p.Command("cat", "/proc/net/snmp").Output()
	if err != nil {
		t.Fatalf("reading /proc/net/snmp in %s: %v", p.NS, err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		v := map[string]uint64{}
		for i := 1; i < len(f) && i < len(names); i++ {
			n, _ := strconv.ParseUint(f[i], 10, 64)
			v[names[i]] = n
		}
		return v["ActiveOpens"] - v["AttemptFails"]
	}
	t.Fatalf("no Tcp counters in %s's /proc/net/snmp:\n%s", p.NS, out)
	return 0
}
