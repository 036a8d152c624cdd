// Package capture tests "hoptap capture" end to end, as root, with real
// eBPF and real peers: the official grpc-go interop server and client in
// network namespaces joined by a bridge, as a bridge CNI wires pods.
package capture

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoptap/hoptap/test/peers"
)

var hoptap string

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	bin, cleanup := peers.BuildHoptap()
	hoptap = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// live is a running "hoptap capture".
type live struct {
	cmd    *exec.Cmd
	stdout *peers.SyncBuffer
	stderr *peers.SyncBuffer
	done   chan error
}

// startCapture runs hoptap capture with args and returns once its
// programs are attached (it says so on stderr).
func startCapture(t *testing.T, args ...string) *live {
	t.Helper()
	return startCaptureCmd(t, exec.Command(hoptap, append([]string{"capture"}, args...)...))
}

// startCaptureCmd is startCapture with the command made by the caller.
func startCaptureCmd(t *testing.T, cmd *exec.Cmd) *live {
	t.Helper()
	l := &live{cmd: cmd, stdout: &peers.SyncBuffer{}, stderr: &peers.SyncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout = l.stdout
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		said := false
		for sc.Scan() {
			l.stderr.WriteString(sc.Text() + "\n")
			if !said && strings.Contains(sc.Text(), "capturing at") {
				said = true
				ready <- true
			}
		}
		if !said {
			ready <- false
		}
		l.done <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case ok := <-ready:
		if !ok {
			<-l.done
			t.Fatalf("hoptap capture did not start:\n%s", l.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("hoptap capture did not start in 30s")
	}
	return l
}

// stop ends the capture with SIGINT, as Ctrl-C does, and waits for it.
func (l *live) stop(t *testing.T) { l.stopWith(t, os.Interrupt) }

// stopWith sends sig and waits for a clean exit.
func (l *live) stopWith(t *testing.T, sig os.Signal) {
	t.Helper()
	l.cmd.Process.Signal(sig)
	select {
	case err := <-l.done:
		if err != nil {
			t.Fatalf("hoptap capture after %v: %v\n%s", sig, err, l.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("hoptap capture did not stop on %v", sig)
	}
}

const serverPort = 10000

// interopBed starts the interop server in one pod; the client pod is
// returned for the caller to run clients in.
func interopBed(t *testing.T) (server, client peers.Pod) {
	t.Helper()
	tb := peers.NewTestbed(t)
	server, client = tb.Pod(t, 2), tb.Pod(t, 3)
	bin := peers.Tool(t, "interop-server")
	peers.Start(t, "ip", "netns", "exec", server.NS, bin, fmt.Sprintf("-port=%d", serverPort), "-use_tls=false")
	peers.WaitListening(t, fmt.Sprintf("%s:%d", server.Addr, serverPort))
	return server, client
}

func interopClient(t *testing.T, client peers.Pod, server peers.Pod, cases ...string) {
	t.Helper()
	bin := peers.Tool(t, "interop-client")
	for _, c := range cases {
		run := func() ([]byte, error) {
			return client.Command(bin, "-server_host="+server.Addr, fmt.Sprintf("-server_port=%d", serverPort), "-use_tls=false", "-test_case="+c).CombinedOutput()
		}
		out, _, err := peers.OnceMore(t, c, run)
		if err != nil {
			t.Fatalf("interop client %s: %v\n%s", c, err, out)
		}
	}
}

// want is what each interop case puts on the wire: its calls' methods
// and, where the peers decide it, their status. A nil status is a call
// the client cancels (RST_STREAM, no status on the wire); several means
// the race between a deadline and the server's answer may go either way.
type wantCall struct {
	method   string
	status   []any
	optional bool // the client may cancel before the call reaches the wire
}

var want = map[string][]wantCall{
	"empty_unary":                {{method: "EmptyCall", status: []any{0}}},
	"large_unary":                {{method: "UnaryCall", status: []any{0}}},
	"client_streaming":           {{method: "StreamingInputCall", status: []any{0}}},
	"server_streaming":           {{method: "StreamingOutputCall", status: []any{0}}},
	"ping_pong":                  {{method: "FullDuplexCall", status: []any{0}}},
	"empty_stream":               {{method: "FullDuplexCall", status: []any{0}}},
	"timeout_on_sleeping_server": {{method: "FullDuplexCall", status: []any{nil, 4}, optional: true}},
	// A first try that lost the client's own race (peers.OnceMore)
	// ended OK, and the case ran again.
	"cancel_after_begin": {{method: "StreamingInputCall", status: []any{0}, optional: true}, {method: "StreamingInputCall", status: []any{nil, 1}, optional: true}},
	"cancel_after_first_response": {
		{method: "FullDuplexCall", status: []any{nil, 1}},
	},
	"status_code_and_message": {{method: "UnaryCall", status: []any{2}}, {method: "FullDuplexCall", status: []any{2}}},
	"special_status_message":  {{method: "UnaryCall", status: []any{2}}},
	"custom_metadata":         {{method: "UnaryCall", status: []any{0}}, {method: "FullDuplexCall", status: []any{0}}},
	"unimplemented_method":    {{method: "UnimplementedCall", status: []any{12}}},
	"unimplemented_service":   {{method: "UnimplementedCall", status: []any{12}}},
}

// TestInteropLive runs every standard interop case between two pods while
// "hoptap capture -o json -w out.pcapng" runs on the host, then checks the
// calls, tshark's reading of the file, and the process comments.
func TestInteropLive(t *testing.T) {
	tshark := peers.Tool(t, "tshark")
	server, client := interopBed(t)
	out := filepath.Join(t.TempDir(), "out.pcapng")
	peers.KeepOnFailure(t, out)
	l := startCapture(t, "-o", "json", "-w", out, "--port", fmt.Sprint(serverPort))
	interopClient(t, client, server, peers.InteropCases...)
	l.stop(t)
	// Calls in the order they began line up with the cases in the order
	// they ran.
	calls := peers.HoptapCalls(t, l.stdout.Bytes())
	sort.SliceStable(calls, func(i, j int) bool { return calls[i].Start.Before(*calls[j].Start) })
	// Optional calls (a case that may give up before sending) make this
	// an alignment, not a walk: the first match is not always the right
	// one.
	type step struct {
		cas string
		w   wantCall
	}
	var steps []step
	for _, c := range peers.InteropCases {
		for _, w := range want[c] {
			steps = append(steps, step{c, w})
		}
	}
	serverAddr := fmt.Sprintf("%s:%d", server.Addr, serverPort)
	matches := func(w wantCall, g peers.Call) bool {
		return strings.HasSuffix(deref(g.Method), "/"+w.method) && statusIn(g.Status, w.status) &&
			strings.HasPrefix(g.Client, client.Addr+":") && g.Server == serverAddr
	}
	var align func(i, j int) bool
	align = func(i, j int) bool {
		if i == len(steps) {
			return j == len(calls)
		}
		if j < len(calls) && matches(steps[i].w, calls[j]) && align(i+1, j+1) {
			return true
		}
		return steps[i].w.optional && align(i+1, j)
	}
	if !align(0, 0) {
		var exp []string
		for _, st := range steps {
			exp = append(exp, fmt.Sprintf("%s: */%s status %v optional=%v", st.cas, st.w.method, st.w.status, st.w.optional))
		}
		var got []string
		for _, g := range calls {
			got = append(got, g.String())
		}
		t.Errorf("the calls do not line up with the cases\nwant, in order:\n  %s\ngot, by start:\n  %s",
			strings.Join(exp, "\n  "), strings.Join(got, "\n  "))
	}

	// tshark reads the file and dissects the same calls from each
	// capture point's observations: the client's egress and the
	// server's ingress hold the same packets.
	ours := calls
	for _, ifc := range []string{"hoptap-egress", "hoptap-ingress"} {
		one := filepath.Join(t.TempDir(), ifc+".pcapng")
		peers.Run(t, tshark, "-r", out, "-Y", fmt.Sprintf("frame.interface_name == %q", ifc), "-w", one)
		t.Run(ifc, func(t *testing.T) { peers.Agree(t, ours, peers.TsharkCalls(t, tshark, one, []int{serverPort})) })
	}
	grpcFrames := peers.Run(t, tshark, "-r", out, "-d", fmt.Sprintf("tcp.port==%d,http2", serverPort), "-Y", "grpc", "-T", "fields", "-e", "frame.number")
	if n := bytes.Count(grpcFrames, []byte("\n")); n == 0 {
		t.Error("tshark decodes no gRPC in out.pcapng")
	}

	// Comments name who sent and who received each packet.
	comments := string(peers.Run(t, tshark, "-r", out, "-T", "fields", "-e", "frame.interface_name", "-e", "frame.comment"))
	for _, w := range []string{"hoptap-egress\tegress pid=", "comm=interop-client", "comm=interop-server", "also=egress#"} {
		if !strings.Contains(comments, w) {
			t.Errorf("no pcapng comment has %q", w)
		}
	}
	if !strings.Contains(l.stderr.String(), " 0 with payload not copied") {
		t.Errorf("gRPC payloads were left out:\n%s", l.stderr.String())
	}
	if !strings.Contains(l.stderr.String(), " 0 lost events") {
		t.Errorf("the summary reports lost events:\n%s", l.stderr.String())
	}
	t.Logf("summary:\n%s", l.stderr.String())
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// snapshot is the JSON written so far, whole lines only.
func (l *live) snapshot() []byte {
	return peers.CompleteLines(l.stdout.Bytes())
}

// waitCalls waits until the capture has printed n calls. Calls are
// printed when they end, which for a cancelled stream may be a moment
// after the client returns.
func waitCalls(t *testing.T, l *live, n int) []peers.Call {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		calls := peers.HoptapCalls(t, l.snapshot())
		if len(calls) >= n {
			return calls
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d calls, the capture has printed %d:\n%v\n%s", n, len(calls), calls, l.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func statusIn(got *int, allowed []any) bool {
	for _, a := range allowed {
		switch a := a.(type) {
		case nil:
			if got == nil {
				return true
			}
		case int:
			if got != nil && *got == a {
				return true
			}
		}
	}
	return false
}

// TestCaptureLeavesTrafficAlone sends the same 32 MiB through an echo
// server in one pod from a client in another, with the capture off and
// then on (copying every payload byte, and stamping every segment where
// it crosses the host): the bytes that arrive are the bytes sent, both
// times, and the capture's copy of the client's stream is exact too.
func TestCaptureLeavesTrafficAlone(t *testing.T) {
	tb := peers.NewTestbed(t)
	srv, cli := tb.Pod(t, 2), tb.Pod(t, 3)
	const port = 10001
	send := startEcho(t, srv, cli, port)
	off := send(t)
	file := filepath.Join(t.TempDir(), "echo.pcapng")
	// With both pods' host-side veths stamped too (tcx), which must
	// leave the traffic as alone as the cgroup programs do.
	l := startCapture(t, "--payload", "all", "-B", "256", "--port", fmt.Sprint(port), "-w", file, "--wire", srv.Host+","+cli.Host)
	on := send(t)
	l.stop(t)
	t.Logf("summary:\n%s", l.stderr.String())
	want := sendDigest()
	if off != want || on != want {
		t.Fatalf("received streams differ: capture off %s, on %s, sent %s", off, on, want)
	}
	got, n := capturedStream(t, file, uint16(port))
	if got != want {
		t.Errorf("the capture's copy of the client's %d bytes has digest %s, want %s", n, got, want)
	}
}

// TestKillLeavesPeersAlone kills the capture with SIGKILL in the middle of
// a soak of calls: every call still succeeds, and the kernel has detached
// every program the capture had attached.
func TestKillLeavesPeersAlone(t *testing.T) {
	server, client := interopBed(t)
	l := startCapture(t, "-o", "json", "--port", fmt.Sprint(serverPort))
	links := bpfLinks(t, l.cmd.Process.Pid)
	if len(links) < 2 {
		t.Fatalf("the capture holds %d BPF links, want at least ingress and egress", len(links))
	}
	bin := peers.Tool(t, "interop-client")
	soak := client.Command(bin, "-server_host="+server.Addr, fmt.Sprintf("-server_port=%d", serverPort), "-use_tls=false",
		"-test_case=rpc_soak", "-soak_iterations=1500", "-soak_max_failures=0", "-soak_min_time_ms_between_rpcs=2",
		"-soak_per_iteration_max_acceptable_latency_ms=5000", "-soak_overall_timeout_seconds=120")
	var soakOut bytes.Buffer
	soak.Stdout, soak.Stderr = &soakOut, &soakOut
	if err := soak.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill once the capture has decoded some of the soak's calls.
	waitCalls(t, l, 20)
	guard := guardOf(t, l.cmd.Process.Pid)
	if guard == 0 {
		t.Fatal("the capture has no priority guard")
	}
	l.cmd.Process.Signal(syscall.SIGKILL)
	<-l.done
	if err := soak.Wait(); err != nil {
		t.Fatalf("the soak failed after the capture was killed: %v\n%s", err, soakOut.String())
	}
	for _, id := range links {
		if linkExists(id) {
			t.Errorf("BPF link %d is still attached after SIGKILL", id)
		}
	}
	// The guard ends with the capture; dead, it is reaped by init.
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", guard))
		if err != nil || !strings.Contains(string(cmdline), "priority-guard") {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the priority guard %d outlived the killed capture by 10 s", guard)
		}
	}
	t.Logf("%d links detached; soak: %s", len(links), lastLine(soakOut.String()))
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// TestDemoLive is the README's first contact: "hoptap demo" under
// "hoptap capture" shows every round's calls with their statuses.
func TestDemoLive(t *testing.T) {
	l := demoUnder(t, 3, "-o", "json")
	got := map[string]int{}
	for _, c := range peers.HoptapCalls(t, l.stdout.Bytes()) {
		st := "?"
		if c.Status != nil {
			st = fmt.Sprint(*c.Status)
		}
		got[deref(c.Method)+" "+st]++
	}
	svc := "/grpc.testing.TestService/"
	wantCalls := map[string]int{
		svc + "EmptyCall 0": 3, svc + "UnaryCall 0": 3, svc + "UnaryCall 5": 3,
		svc + "StreamingOutputCall 0": 3, svc + "StreamingInputCall 0": 3, svc + "FullDuplexCall 0": 3,
		svc + "UnimplementedCall 12": 3,
	}
	// The missed deadline: the client resets the stream (no status on
	// the wire) unless the server's DEADLINE_EXCEEDED gets there first.
	if got[svc+"UnaryCall ?"]+got[svc+"UnaryCall 4"] != 3 {
		t.Errorf("want 3 calls that missed their deadline, got %v", got)
	}
	delete(got, svc+"UnaryCall ?")
	delete(got, svc+"UnaryCall 4")
	for k, n := range wantCalls {
		if got[k] != n {
			t.Errorf("%s: %d calls, want %d", k, got[k], n)
		}
		delete(got, k)
	}
	for k, n := range got {
		t.Errorf("unexpected: %d × %s", n, k)
	}
}

// TestSIGTERMDetaches stops the capture as Kubernetes and systemd do: it
// exits 0 with its summary, and its links are gone.
func TestSIGTERMDetaches(t *testing.T) {
	peers.RequireRoot(t)
	l := startCapture(t, "--port", fmt.Sprint(peers.FreePort(t)))
	links := bpfLinks(t, l.cmd.Process.Pid)
	l.stopWith(t, syscall.SIGTERM)
	if !strings.Contains(l.stderr.String(), "capture: 0 packets") {
		t.Errorf("no summary after SIGTERM:\n%s", l.stderr.String())
	}
	for _, id := range links {
		if linkExists(id) {
			t.Errorf("BPF link %d still attached after SIGTERM", id)
		}
	}
}

// schedOf reads a thread's scheduling policy and niceness (fields 41
// and 19 of its stat); raw is "" once it ended.
func schedOf(stat string) (policy, nice int, raw string) {
	b, err := os.ReadFile(stat)
	if err != nil {
		return 0, 0, ""
	}
	// Fields count from after the command name's ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	nice, _ = strconv.Atoi(f[16])
	policy, _ = strconv.Atoi(f[38])
	return policy, nice, f[38] + "/" + f[16]
}

// guardOf is the pid of a capture's priority guard, 0 if it has none.
func guardOf(t *testing.T, pid int) int {
	t.Helper()
	// Children are listed by the thread that started them.
	var kids []string
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		kids = append(kids, strings.Fields(string(b))...)
	}
	for _, c := range kids {
		cmdline, _ := os.ReadFile("/proc/" + c + "/cmdline")
		if strings.Contains(string(cmdline), "priority-guard") {
			n, _ := strconv.Atoi(c)
			return n
		}
	}
	return 0
}

// TestCaptureYieldsCPU: once attached, every thread of a capture is in
// the background (SCHED_BATCH at niceness 19), under a guard process,
// unless --background=false (or its old name, --idle=false) keeps it at
// niceness 10 (--nice; 0: the priority it was started with, this
// test's) throughout.
func TestCaptureYieldsCPU(t *testing.T) {
	peers.RequireRoot(t)
	_, own, _ := schedOf("/proc/self/stat")
	for _, c := range []struct {
		args   []string
		policy int // 3: SCHED_BATCH, the background
		nice   int
		raise  int // in the background: the niceness the guard raises it to
	}{{nil, 3, 19, 10}, {[]string{"--nice", "5"}, 3, 19, 5}, {[]string{"--background=false"}, 0, 10, 0}, {[]string{"--idle=false"}, 0, 10, 0},
		{[]string{"--background=false", "--nice", "0"}, 0, 0, 0}, {[]string{"--background=false", "--nice", "19"}, 0, 19, 0}} {
		l := startCapture(t, append([]string{"--port", fmt.Sprint(peers.FreePort(t))}, c.args...)...)
		pid := l.cmd.Process.Pid
		dir := fmt.Sprintf("/proc/%d/task", pid)
		tasks, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		want := max(c.nice, own) // a niceness is never raised back
		for _, task := range tasks {
			p, n, raw := schedOf(dir + "/" + task.Name() + "/stat")
			if raw != "" && (p != c.policy || n != want) { // "": the thread ended
				t.Errorf("capture %q: thread %s at policy/niceness %s, want %d/%d", c.args, task.Name(), raw, c.policy, want)
			}
		}
		if g := guardOf(t, pid); (g != 0) != (c.policy == 3) {
			t.Errorf("capture %q: guard process %d", c.args, g)
		}
		l.stop(t)
		if line := fmt.Sprintf("priority: background (SCHED_BATCH, niceness 19); raised to niceness %d ", max(c.raise, own)); c.policy == 3 && !strings.Contains(l.stderr.String(), line) {
			t.Errorf("capture %q: the summary does not say %q:\n%s", c.args, line, l.stderr.String())
		}
	}
}

// loneCapture starts a capture for duration in a session of its own,
// with the shell that waits for it and then prints the session's
// autogroup line; pid is the capture's.
func loneCapture(t *testing.T, duration string, port int) (l *live, pid int) {
	t.Helper()
	script := fmt.Sprintf("%s capture --port %d --duration %s; cat /proc/self/autogroup", hoptap, port, duration)
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	l = startCaptureCmd(t, cmd)
	kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
	f := strings.Fields(string(kids))
	if len(f) != 1 {
		t.Fatalf("the shell's children: %q, want the capture", kids)
	}
	pid, _ = strconv.Atoi(f[0])
	return l, pid
}

// waitEnd waits for a capture to end by itself, well: "the capture did
// not end " + when, else.
func waitEnd(t *testing.T, l *live, when string) {
	t.Helper()
	select {
	case err := <-l.done:
		if err != nil {
			t.Fatalf("%v\n%s", err, l.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the capture did not end " + when)
	}
}

// autogroup is the niceness of process pid's session ("": it is gone).
func autogroup(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/autogroup", pid))
	_, nice, _ := strings.Cut(strings.TrimSpace(string(b)), " nice ")
	return nice
}

// TestCaptureTakesItsSessionAlong: where sessions are scheduling groups,
// a capture alone in its session (here with the shell that started it,
// waiting) takes the session to the background with it, so that it
// yields to other sessions' threads too, and gives it back its niceness
// when it ends; its guard, in a session of its own, is not lowered.
// (The other tests' captures share the test's session with other
// processes, which is then left alone: TestCaptureYieldsCPU.)
func TestCaptureTakesItsSessionAlong(t *testing.T) {
	peers.RequireRoot(t)
	if b, _ := os.ReadFile("/proc/sys/kernel/sched_autogroup_enabled"); strings.TrimSpace(string(b)) != "1" {
		t.Skip("sessions are not scheduling groups here (kernel.sched_autogroup_enabled is 0)")
	}
	if b, _ := os.ReadFile("/proc/self/cgroup"); !regexp.MustCompile(`(?m)^\d+:(cpu|cpu,[^:]*|[^:]*,cpu|[^:]*,cpu,[^:]*):/$`).Match(b) &&
		!regexp.MustCompile(`(?m)^0::/$`).Match(b) {
		t.Skip("in a cgroup the cpu controller may divide: sessions are not scheduling groups there")
	}
	port := peers.FreePort(t)
	l, pid := loneCapture(t, "3s", port)
	if n := autogroup(pid); n != "19" {
		t.Errorf("capturing: its session's niceness is %q, want 19", n)
	}
	if g := guardOf(t, pid); g == 0 {
		t.Error("the capture has no guard")
	} else if n := autogroup(g); n == "19" {
		t.Errorf("the guard's session is at niceness %s: lowered with the capture's", n)
	}
	waitEnd(t, l, "after its 3 s")
	if out := strings.TrimSpace(l.stdout.String()); !strings.HasSuffix(out, " nice 0") {
		t.Errorf("after the capture, the shell's session: %q, want niceness 0 again", out)
	}
	if want := "its session (alone in it) went with it, and is back as it was"; !strings.Contains(l.stderr.String(), want) {
		t.Errorf("the summary does not say %q:\n%s", want, l.stderr.String())
	}

	// A guard killed: the capture, raised, gives its session back too.
	l, pid = loneCapture(t, "60s", port)
	g := guardOf(t, pid)
	if g == 0 || autogroup(pid) != "19" {
		t.Fatalf("second capture: guard %d, session at niceness %q", g, autogroup(pid))
	}
	syscall.Kill(g, syscall.SIGKILL)
	for deadline := time.Now().Add(10 * time.Second); autogroup(pid) != "0"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("its guard killed, the capture's session stays at niceness %q", autogroup(pid))
		}
	}
	syscall.Kill(pid, syscall.SIGINT)
	waitEnd(t, l, "on SIGINT")
}

// TestCtrlCToTheGroup stops a capture as Ctrl-C in a terminal does, with
// SIGINT to its whole process group, its priority guard included: the
// capture still exits 0 with its summary, the guard having waited for it.
func TestCtrlCToTheGroup(t *testing.T) {
	peers.RequireRoot(t)
	cmd := exec.Command(hoptap, "capture", "--port", fmt.Sprint(peers.FreePort(t)))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	l := startCaptureCmd(t, cmd)
	if guardOf(t, cmd.Process.Pid) == 0 {
		t.Fatal("the capture has no priority guard")
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	select {
	case err := <-l.done:
		if err != nil {
			t.Fatalf("after SIGINT to its group: %v\n%s", err, l.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the capture did not stop on SIGINT to its group")
	}
	sum := l.stderr.String()
	if !strings.Contains(sum, "priority: background") || strings.Contains(sum, "warning") {
		t.Errorf("want the summary's priority line and no warning:\n%s", sum)
	}
}

// TestCaptureUnderLoad: with every core kept busy by other processes, a
// capture in the background still starts, copies all that is sent (a
// 32 MiB burst, into a ring that holds it) and drains it after SIGINT,
// raised by its guard where it starves (TestGuardRaisesStarved in
// agent/priority tests the rule).
func TestCaptureUnderLoad(t *testing.T) {
	peers.RequireRoot(t)
	for range runtime.NumCPU() {
		hog := exec.Command("sh", "-c", "while :; do :; done")
		if err := hog.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { hog.Process.Kill(); hog.Wait() })
	}
	tb := peers.NewTestbed(t)
	srv, cli := tb.Pod(t, 2), tb.Pod(t, 3)
	const port = 10002
	send := startEcho(t, srv, cli, port)
	// A ring that holds the burst however little CPU the capture gets
	// meanwhile (as TestCaptureLeavesTrafficAlone's: each record takes
	// more room than its packet).
	l := startCapture(t, "--payload", "all", "-B", "256", "--port", fmt.Sprint(port))
	if got, want := send(t), sendDigest(); got != want {
		t.Fatalf("received stream %s under load, sent %s", got, want)
	}
	l.stop(t)
	sum := l.stderr.String()
	m := regexp.MustCompile(`capture: (\d+) packets? .* (\d+) lost events?`).FindStringSubmatch(sum)
	if m == nil || m[1] == "0" || m[2] != "0" {
		t.Fatalf("want packets and no loss under load:\n%s", sum)
	}
	t.Logf("summary:\n%s", sum)
}

// TestOpenSocketsAttributed opens a connection before the capture starts,
// as a long-lived gRPC channel is: its packets still name this process,
// from the sockets found open at start.
func TestOpenSocketsAttributed(t *testing.T) {
	tshark := peers.Tool(t, "tshark")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-accepted
	defer s.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	file := filepath.Join(t.TempDir(), "open.pcapng")
	l := startCapture(t, "--payload", "all", "-w", file, "--port", fmt.Sprint(port))
	c.Write([]byte("hello"))
	buf := make([]byte, 5)
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("world"))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	l.stop(t)
	comments := string(peers.Run(t, tshark, "-r", file, "-Y", "tcp.len > 0", "-T", "fields", "-e", "frame.comment"))
	want := fmt.Sprintf("pid=%d ", os.Getpid())
	lines := strings.Split(strings.TrimSpace(comments), "\n")
	if len(lines) != 4 {
		t.Fatalf("want 4 observations of the 2 data packets, got:\n%s", comments)
	}
	for _, line := range lines {
		if !strings.Contains(line, want) {
			t.Errorf("an observation does not name this process (%s): %s", want, line)
		}
	}
}

// TestDemoLiveCalls: "capture --calls" prints a row per call as it ends,
// then the per-method summary.
func TestDemoLiveCalls(t *testing.T) {
	l := demoUnder(t, 2, "--calls")
	text := string(l.stdout.Bytes())
	rows, perMethod := strings.Count(text, " /grpc.testing.TestService/"), strings.Count(text, "\n/grpc.testing.TestService/")
	if !strings.HasPrefix(text, "TIME ") || !strings.Contains(text, "\nMETHOD ") || rows != 16 || perMethod != 6 {
		t.Fatalf("want a header, 16 call rows and 6 summary rows, got:\n%s", text)
	}
	for _, w := range []string{"NOT_FOUND", "UNIMPLEMENTED", "trailers_only", "/grpc.testing.TestService/EmptyCall            2      OK=2"} {
		if !strings.Contains(text, w) {
			t.Errorf("no %q in:\n%s", w, text)
		}
	}
}

// TestDemoJoinedMidway starts the capture after hoptap demo's channel is
// open, as a newcomer who runs the demo first does: its calls show ? for
// the method, and a note says why, once, while the capture runs.
func TestDemoJoinedMidway(t *testing.T) {
	port := peers.FreePort(t)
	demo, log := runDemo(t, port)
	l := startCapture(t, "--calls", "--port", fmt.Sprint(port))
	const note = "hoptap: note: calls on 127.0.0.1:"
	peers.Until(t, "the note on mid-way calls", func() bool { return strings.Contains(l.stderr.String(), note) })
	demo.Process.Signal(os.Interrupt)
	if err := demo.Wait(); err != nil {
		t.Fatalf("hoptap demo: %v\n%s", err, log.String())
	}
	l.stop(t)
	text, stderr := l.stdout.String(), l.stderr.String()
	if n := strings.Count(stderr, note); n != 1 || !strings.Contains(stderr, "open before the capture began") {
		t.Errorf("want the note once on stderr, got %d:\n%s", n, stderr)
	}
	if strings.Contains(text, "note:") {
		t.Errorf("the note went to standard output:\n%s", text)
	}
	if !strings.Contains(stderr, "1 joined mid-way") || !strings.Contains(text, "\n?") {
		t.Errorf("want a connection joined mid-way and calls whose method is ?, got:\n%s\n%s", text, stderr)
	}
}

// runDemo starts hoptap demo on port, a round every 20 ms until the test
// ends, and waits for its second round: its channel is open.
func runDemo(t *testing.T, port int) (*exec.Cmd, *peers.SyncBuffer) {
	t.Helper()
	demo := exec.Command(hoptap, "demo", "--count", "0", "--interval", "20ms", "--addr", fmt.Sprintf("127.0.0.1:%d", port))
	log := &peers.SyncBuffer{}
	demo.Stdout, demo.Stderr = log, log
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { demo.Process.Kill(); demo.Wait() })
	peers.Until(t, "the demo's first round", func() bool { return strings.Contains(log.String(), "round 2:") })
	return demo, log
}

// TestCountStops: -c N takes N packets and exits by itself. Loopback
// delivers a segment to its receiver before the capture reads its copy,
// so the kernel has counted the second observations of the packets
// taken, and those of packets past them until it detached: the packets
// line claims no count of them, and the kernel line says so.
func TestCountStops(t *testing.T) {
	peers.RequireRoot(t)
	port := peers.FreePort(t)
	runDemo(t, port)
	l := startCapture(t, "--calls", "-c", "5", "--port", fmt.Sprint(port))
	select {
	case err := <-l.done:
		if err != nil {
			t.Fatalf("hoptap capture -c 5: %v\n%s", err, l.stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("hoptap capture -c 5 did not stop by itself:\n%s", l.stderr.String())
	}
	var summary, twins string
	for _, line := range strings.Split(l.stderr.String(), "\n") {
		switch {
		case strings.HasPrefix(line, "capture: "):
			summary = line
		case strings.Contains(line, "second observations of packets between two local sockets"):
			twins = line
		}
	}
	if !strings.HasPrefix(summary, "capture: 5 packets in ") || strings.Contains(summary, "seen at both ends") {
		t.Errorf("want 5 packets and no count of both ends, got %q", summary)
	}
	if !strings.Contains(twins, "until the programs detached after the -c limit") {
		t.Errorf("want the kernel's count of second observations said to run past -c, got %q\n%s", twins, l.stderr.String())
	}
}

// TestBPFStats: with --bpf-stats the summary says how often the packet
// programs ran and for how long; every packet the capture kept, and
// every second observation it counted, is one of those runs. sock_ops
// ran too, for the demo's connections.
func TestBPFStats(t *testing.T) {
	l := demoUnder(t, 2, "--bpf-stats", "--calls")
	sum := l.stderr.String()
	var egress, ingress, both uint64
	runs := map[string]uint64{}
	for _, line := range strings.Split(sum, "\n") {
		if strings.HasPrefix(line, "capture: ") {
			fmt.Sscanf(line[strings.Index(line, "(")+1:], "%d egress, %d ingress; %d seen", &egress, &ingress, &both)
		}
		progs, ok := strings.CutPrefix(line, "kernel: programs ")
		if !ok {
			continue
		}
		progs, _, _ = strings.Cut(progs, ": ")
		for _, p := range strings.Split(progs, ", ") {
			var name, each string
			var n uint64
			if _, err := fmt.Sscanf(p, "%s %d runs at %s", &name, &n, &each); err != nil || !strings.HasSuffix(each, "s") {
				t.Errorf("program entry %q: want NAME N runs at DURATION", p)
			}
			runs[name] = n
		}
	}
	if egress == 0 || both == 0 || runs["egress"] < egress || runs["ingress"] < max(ingress, both) || runs["sock_ops"] == 0 {
		t.Fatalf("want egress runs >= %d packets, ingress runs >= max(%d, %d) observations and sock_ops runs, in:\n%s", egress, ingress, both, sum)
	}
	if !strings.Contains(sum, "a call, in the traffic's own path") {
		t.Errorf("no cost per call in:\n%s", sum)
	}
}

// demoUnder runs rounds of hoptap demo under a capture with args, and
// stops the capture once the demo is done.
func demoUnder(t *testing.T, rounds int, args ...string) *live {
	t.Helper()
	port := peers.FreePort(t)
	l := startCapture(t, append(args, "--port", fmt.Sprint(port))...)
	out, err := exec.Command(hoptap, "demo", "--count", fmt.Sprint(rounds), "--interval", "10ms", "--addr", fmt.Sprintf("127.0.0.1:%d", port)).CombinedOutput()
	if err != nil {
		t.Fatalf("hoptap demo: %v\n%s", err, out)
	}
	l.stop(t)
	return l
}

// TestAlternate: --alternate (make bench-capture's) detaches and
// attaches the packet programs by turns while the demo's calls go on,
// saying when on standard error: on first, then off and on by turns, at
// increasing times. The demo's calls all succeed meanwhile.
func TestAlternate(t *testing.T) {
	l := demoUnder(t, 10, "--alternate", "30ms", "--calls")
	var states []string
	var last int64
	for _, line := range strings.Split(l.stderr.String(), "\n") {
		var state string
		var ns int64
		if _, err := fmt.Sscanf(line, "alternate: %s %d", &state, &ns); err != nil {
			continue
		}
		if ns <= last {
			t.Errorf("switch times not increasing: %d after %d", ns, last)
		}
		last = ns
		states = append(states, state)
	}
	if len(states) < 4 {
		t.Fatalf("want at least 4 switches, got %v in:\n%s", states, l.stderr.String())
	}
	for i, s := range states {
		if want := map[bool]string{true: "on", false: "off"}[i%2 == 0]; s != want {
			t.Fatalf("switch %d is %q, want %q: %v", i, s, want, states)
		}
	}
}
