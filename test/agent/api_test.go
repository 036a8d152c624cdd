package agent_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoptap/hoptap/test/peers"
)

// TestCaptureFromAgent streams from a running agent with
// "hoptap capture --agent SOCKET -o json -w out.pcapng": each call once
// (the client's view), with its method and status; the file opens in
// tshark with the gRPC calls and the comments naming the processes.
func TestCaptureFromAgent(t *testing.T) {
	tshark := peers.Tool(t, "tshark")
	b := newBed(t)
	a := startAgent(t, b.agentArgs()...)
	out := filepath.Join(t.TempDir(), "out.pcapng")
	var stdout, stderr peers.SyncBuffer
	cli := exec.Command(hoptapBin, "capture", "--agent", a.sock, "-o", "json", "-w", out, "--port", fmt.Sprint(serverPort))
	cli.Stdout, cli.Stderr = &stdout, &stderr
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	defer cli.Process.Kill()
	// The stream is live once a call made now shows up in it.
	deadline := time.Now().Add(30 * time.Second)
	for !bytes.Contains(stdout.Bytes(), []byte(`/grpc.testing.TestService/EmptyCall"`)) {
		if time.Now().After(deadline) {
			t.Fatalf("no call streamed from the agent:\n%s", stderr.Bytes())
		}
		if err := b.interop(t, b.server.Addr, serverPort, "empty_unary"); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.interop(t, b.server.Addr, serverPort, "large_unary", "status_code_and_message"); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"UnaryCall 0": 1, "UnaryCall 2": 1, "FullDuplexCall 2": 1}
	count := func() map[string]int {
		got := map[string]int{}
		for _, c := range peers.HoptapCalls(t, peers.CompleteLines(stdout.Bytes())) {
			m := c.Method
			if m == nil || c.Status == nil || strings.HasSuffix(*m, "/EmptyCall") {
				continue
			}
			got[(*m)[strings.LastIndexByte(*m, '/')+1:]+" "+fmt.Sprint(*c.Status)]++
		}
		return got
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		got := count()
		if got["UnaryCall 0"] >= 1 && got["UnaryCall 2"] >= 1 && got["FullDuplexCall 2"] >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("streamed calls %v, want %v", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cli.Process.Signal(os.Interrupt)
	if err := cli.Wait(); err != nil {
		t.Fatalf("hoptap capture --agent: %v\n%s", err, stderr.Bytes())
	}
	if got := count(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("each call once, from one socket's view: got %v, want %v", got, want)
	}
	if !bytes.Contains(stderr.Bytes(), []byte(" 0 lost")) {
		t.Errorf("the stream lost events:\n%s", stderr.Bytes())
	}
	// The file: both observations of each packet, with comments; tshark
	// dissects the calls from the egress ones, and from the ingress ones:
	// while packets are watched, the agent has the kernel copy second
	// observations whole (otherwise it stamps their headers only).
	for _, point := range []string{"hoptap-egress", "hoptap-ingress"} {
		part := filepath.Join(t.TempDir(), point+".pcapng")
		peers.Run(t, tshark, "-r", out, "-Y", `frame.interface_name == "`+point+`"`, "-w", part)
		found := map[string]bool{}
		for _, c := range peers.TsharkCalls(t, tshark, part, []int{serverPort}) {
			if c.Method != nil && c.Status != nil {
				found[(*c.Method)[strings.LastIndexByte(*c.Method, '/')+1:]+" "+fmt.Sprint(*c.Status)] = true
			}
		}
		for k := range want {
			if !found[k] {
				t.Errorf("tshark finds no %s call in the file's %s packets (found %v)", k, point, found)
			}
		}
	}
	// While frames and packets are watched every segment is copied, the
	// PING and WINDOW_UPDATE ones too: the streams in the file have no
	// hole, and large_unary's flow control is there.
	egress := filepath.Join(t.TempDir(), "egress.pcapng")
	peers.Run(t, tshark, "-r", out, "-Y", `frame.interface_name == "hoptap-egress"`, "-w", egress)
	hint := fmt.Sprintf("tcp.port==%d,http2", serverPort)
	if holes := strings.Fields(string(peers.Run(t, tshark, "-r", egress, "-d", hint, "-Y", "tcp.analysis.lost_segment", "-T", "fields", "-e", "frame.number"))); len(holes) > 0 {
		t.Errorf("tshark finds %d segments after a hole in the egress packets (frames %v)", len(holes), holes)
	}
	if wu := strings.Fields(string(peers.Run(t, tshark, "-r", egress, "-d", hint, "-Y", "http2.type == 8", "-T", "fields", "-e", "frame.number"))); len(wu) == 0 {
		t.Error("no WINDOW_UPDATE frame in the egress packets")
	}
	comments := string(peers.Run(t, tshark, "-r", out, "-T", "fields", "-e", "frame.comment"))
	for _, w := range []string{"comm=interop-client", "comm=interop-server"} {
		if !strings.Contains(comments, w) {
			t.Errorf("no pcapng comment has %q", w)
		}
	}
}

// What the stream cannot carry is refused at once, and an agent that is
// not there says so.
func TestCaptureFromAgentErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-V"}, "-V detail trees are not streamed"},
		{[]string{"--pid", "1"}, "--pid, --cgroup, --container, --wire and --bpf-stats work in the kernel of this node only"},
		{[]string{"--wire", "lo"}, "--pid, --cgroup, --container, --wire and --bpf-stats work in the kernel of this node only"},
		{[]string{"--bpf-stats"}, "--pid, --cgroup, --container, --wire and --bpf-stats work in the kernel of this node only"},
		{nil, "/nonexistent.sock"},
		{[]string{"--node", "n1"}, "give one or the other"},
	} {
		out, err := exec.Command(hoptapBin, append([]string{"capture", "--agent", "/nonexistent.sock"}, c.args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("%v: err %v: %s", c.args, err, out)
		}
	}
	// Through Kubernetes, a kubeconfig that is not there says so.
	out, err := exec.Command(hoptapBin, "capture", "--node", "n1", "--kubeconfig", "/nonexistent/kubeconfig").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "kubeconfig") || strings.Count(strings.TrimSpace(string(out)), "\n") > 0 {
		t.Errorf("--node with a missing kubeconfig: err %v: %s", err, out)
	}
}

// The agent renders what the client asks for: --calls rows here.
func TestCaptureFromAgentCallRows(t *testing.T) {
	b := newBed(t)
	a := startAgent(t, b.agentArgs()...)
	out := string(streamCalls(t, b, "capture", "--agent", a.sock, "--calls", "--port", fmt.Sprint(serverPort)))
	if !strings.HasPrefix(out, "TIME ") || !strings.Contains(out, " OK ") {
		t.Errorf("call rows:\n%s", out)
	}
	if strings.Contains(out, `"kind"`) {
		t.Errorf("JSON in call rows:\n%s", out)
	}
}

// streamCalls runs hoptap with args while making large_unary calls,
// until its output shows one, then stops it with SIGINT, which must end
// it cleanly; it returns the complete lines of its output.
func streamCalls(t *testing.T, b *bed, args ...string) []byte {
	t.Helper()
	var stdout, stderr peers.SyncBuffer
	cli := exec.Command(hoptapBin, args...)
	cli.Stdout, cli.Stderr = &stdout, &stderr
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	defer cli.Process.Kill()
	deadline := time.Now().Add(30 * time.Second)
	for !bytes.Contains(stdout.Bytes(), []byte("/grpc.testing.TestService/UnaryCall")) {
		if time.Now().After(deadline) {
			t.Fatalf("hoptap %v streamed no call:\n%s\n%s", args, stdout.Bytes(), stderr.Bytes())
		}
		if err := b.interop(t, b.server.Addr, serverPort, "large_unary"); err != nil {
			t.Fatal(err)
		}
	}
	cli.Process.Signal(os.Interrupt)
	if err := cli.Wait(); err != nil {
		t.Errorf("hoptap %v: %v\n%s", args, err, stderr.Bytes())
	}
	return peers.CompleteLines(stdout.Bytes())
}

// TestAgentKnowsChannelsOlderThanTheWatch: a gRPC channel opens while the
// agent runs and is watched only later, as a long-lived channel is. The
// agent has followed its HPACK state from the first frame, so "capture
// --agent" names every call's method; a capture of its own, started at
// the same time, joins the connection mid-way, shows ? where the headers
// refer to entries it never saw, and says why.
func TestAgentKnowsChannelsOlderThanTheWatch(t *testing.T) {
	port := peers.FreePort(t)
	a := startAgent(t, "--host", "127.0.0.1", "--port", fmt.Sprint(port))
	var demoLog peers.SyncBuffer
	demo := exec.Command(hoptapBin, "demo", "--count", "0", "--interval", "20ms", "--addr", fmt.Sprintf("127.0.0.1:%d", port))
	demo.Stdout, demo.Stderr = &demoLog, &demoLog
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { demo.Process.Kill(); demo.Wait() }()
	peers.Until(t, "the demo's second round", func() bool { return strings.Contains(demoLog.String(), "round 2:") })

	type watch struct {
		cmd            *exec.Cmd
		stdout, stderr peers.SyncBuffer
	}
	start := func(ready string, args ...string) *watch {
		w := &watch{cmd: exec.Command(hoptapBin, append([]string{"capture", "--calls", "--port", fmt.Sprint(port)}, args...)...)}
		w.cmd.Stdout, w.cmd.Stderr = &w.stdout, &w.stderr
		if err := w.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.cmd.Process.Kill() })
		peers.Until(t, ready, func() bool { return strings.Contains(w.stderr.String(), ready) })
		return w
	}
	viaAgent := start("watching the agent", "--agent", a.sock)
	local := start("capturing at")
	const note = "hoptap: note: calls on 127.0.0.1:"
	peers.Until(t, "20 calls through the agent and the local note", func() bool {
		return len(callMethods(viaAgent.stdout.Bytes())) >= 20 && strings.Contains(local.stderr.String(), note)
	})
	for _, w := range []*watch{viaAgent, local} {
		w.cmd.Process.Signal(os.Interrupt)
		if err := w.cmd.Wait(); err != nil {
			t.Fatalf("hoptap %v: %v\n%s", w.cmd.Args, err, w.stderr.String())
		}
	}
	known := func(ms []string) (n int) {
		for _, m := range ms {
			if strings.HasPrefix(m, "/grpc.testing.TestService/") {
				n++
			}
		}
		return n
	}
	agentCalls, localCalls := callMethods(viaAgent.stdout.Bytes()), callMethods(local.stdout.Bytes())
	t.Logf("through the agent: %d of %d calls named; the local capture: %d of %d", known(agentCalls), len(agentCalls), known(localCalls), len(localCalls))
	if known(agentCalls) != len(agentCalls) {
		t.Errorf("the agent, which saw the channel open, names %d of %d calls' methods:\n%s", known(agentCalls), len(agentCalls), viaAgent.stdout.String())
	}
	if known(localCalls) == len(localCalls) || !strings.Contains(local.stderr.String(), "1 joined mid-way") {
		t.Errorf("the local capture joined mid-way, yet names all %d methods:\n%s\n%s", len(localCalls), local.stdout.String(), local.stderr.String())
	}
	if strings.Count(local.stderr.String(), note) != 1 || strings.Contains(viaAgent.stderr.String(), note) {
		t.Errorf("want the note once, from the local capture only:\n%s\n%s", local.stderr.String(), viaAgent.stderr.String())
	}
}

// callMethods is the METHOD column of --calls rows, up to the summary.
func callMethods(out []byte) []string {
	var ms []string
	for _, line := range strings.Split(string(peers.CompleteLines(out)), "\n") {
		if line == "" && len(ms) > 0 {
			break
		}
		if f := strings.Fields(line); len(f) > 4 && f[0] != "TIME" {
			ms = append(ms, f[4])
		}
	}
	return ms
}
