package capture

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoptap/hoptap/bpf"
	"github.com/hoptap/hoptap/test/peers"
)

// twoServers starts interop servers on ports a and b in one pod; the
// first runs inside cgroup (a directory under the cgroup v2 root) when
// one is given. It returns the first server's pid.
func twoServers(t *testing.T, server peers.Pod, a, b int, cgroup string) int {
	t.Helper()
	bin := peers.Tool(t, "interop-server")
	// The cgroup is entered before the listener exists: accepted sockets
	// take their listener's cgroup.
	script := `exec ip netns exec "$1" "$2" -port="$3" -use_tls=false`
	if cgroup != "" {
		script = `echo $$ > "$4/cgroup.procs" && ` + script
	}
	first := peers.Start(t, "sh", "-c", script, "sh", server.NS, bin, fmt.Sprint(a), cgroup)
	peers.Start(t, "ip", "netns", "exec", server.NS, bin, fmt.Sprintf("-port=%d", b), "-use_tls=false")
	peers.WaitListening(t, fmt.Sprintf("%s:%d", server.Addr, a))
	peers.WaitListening(t, fmt.Sprintf("%s:%d", server.Addr, b))
	return first.Process.Pid
}

func clientTo(t *testing.T, client, server peers.Pod, port int, cases ...string) {
	t.Helper()
	bin := peers.Tool(t, "interop-client")
	for _, c := range cases {
		if out, err := client.Command(bin, "-server_host="+server.Addr, fmt.Sprintf("-server_port=%d", port), "-use_tls=false", "-test_case="+c).CombinedOutput(); err != nil {
			t.Fatalf("interop client %s: %v\n%s", c, err, out)
		}
	}
}

// onlyPort asserts that every call is to port and that all were seen from
// their first byte: the filter never cut a connection's start.
func onlyPort(t *testing.T, calls []peers.Call, server peers.Pod, port, want int) {
	t.Helper()
	if len(calls) != want {
		t.Errorf("want %d calls, got %d: %v", want, len(calls), calls)
	}
	for _, c := range calls {
		if c.Server != fmt.Sprintf("%s:%d", server.Addr, port) {
			t.Errorf("a call to another server got through the filter: %v", c)
		}
		if c.Method == nil || c.Start == nil || c.Status == nil || *c.Status != 0 {
			t.Errorf("call not seen whole: %v", c)
		}
	}
}

// TestPIDFilter captures one of two servers by its pid: only its calls
// appear, complete, although an accepted socket's first packets arrive
// before the server's first syscall on it names the process.
func TestPIDFilter(t *testing.T) {
	tb := peers.NewTestbed(t)
	server, client := tb.Pod(t, 2), tb.Pod(t, 3)
	pid := twoServers(t, server, 10010, 10011, "")
	l := startCapture(t, "-o", "json", "--pid", fmt.Sprint(pid))
	for _, p := range []int{10010, 10011} {
		clientTo(t, client, server, p, "empty_unary", "large_unary", "ping_pong")
	}
	l.stop(t)
	onlyPort(t, peers.HoptapCalls(t, l.stdout.Bytes()), server, 10010, 3)
}

// TestCgroupAndContainerFilters runs one of two servers in its own cgroup,
// named the way containerd names a container's, and captures it by
// --cgroup path and by --container id prefix; the filter runs in the
// kernel.
func TestCgroupAndContainerFilters(t *testing.T) {
	ctr, rel, dir := containerCgroup(t)
	t.Cleanup(func() { removeCgroup(dir) })
	tb := peers.NewTestbed(t)
	server, client := tb.Pod(t, 2), tb.Pod(t, 3)
	twoServers(t, server, 10020, 10021, dir)
	for _, args := range [][]string{{"--cgroup", rel}, {"--container", ctr[:12]}} {
		t.Run(args[0], func(t *testing.T) {
			l := startCapture(t, append([]string{"-o", "json"}, args...)...)
			for _, p := range []int{10020, 10021} {
				clientTo(t, client, server, p, "empty_unary", "large_unary")
			}
			l.stop(t)
			onlyPort(t, peers.HoptapCalls(t, l.stdout.Bytes()), server, 10020, 2)
		})
	}
}

// containerCgroup makes a cgroup named the way containerd names a
// container's: its container id, its path under the cgroup v2 root and
// its directory.
func containerCgroup(t *testing.T) (ctr, rel, dir string) {
	t.Helper()
	root, err := bpf.CgroupV2Root()
	if err != nil {
		peers.Skip(t, "%v", err)
	}
	var id [32]byte
	rand.Read(id[:])
	ctr = hex.EncodeToString(id[:])
	rel = "/hoptap-test-" + ctr[:8] + "/cri-containerd-" + ctr + ".scope"
	dir = filepath.Join(root, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		peers.Skip(t, "cannot make a cgroup: %v", err)
	}
	return ctr, rel, dir
}

// removeCgroup removes a container's cgroup and its parent.
func removeCgroup(dir string) {
	removeEmptyCgroup(dir)
	os.Remove(filepath.Dir(dir))
}

// removeEmptyCgroup removes a cgroup whose processes exited: it can be
// removed once the kernel has let the last one go, within 5 s.
func removeEmptyCgroup(dir string) {
	for range 50 {
		if os.Remove(dir) == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// clientInCgroup runs the interop client's empty_unary in the cgroup
// dir, as a container's only process, and removes the cgroup once it
// exited.
func clientInCgroup(t *testing.T, dir string, client, server peers.Pod) {
	t.Helper()
	cmd := exec.Command("sh", "-c", `echo $$ > "$1/cgroup.procs" && exec ip netns exec "$2" "$3" -server_host="$4" -server_port="$5" -use_tls=false -test_case=empty_unary`,
		"sh", dir, client.NS, peers.Tool(t, "interop-client"), server.Addr, fmt.Sprint(serverPort))
	b, err := cmd.CombinedOutput()
	removeEmptyCgroup(dir)
	if err != nil {
		t.Fatalf("interop client in %s: %v\n%s", dir, err, b)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatalf("cgroup %s still there after its client exited", dir)
	}
}

// clientComments is the pcapng comments of the interop client's packets
// in file, as tshark reads them, one a line.
func clientComments(t *testing.T, file string) string {
	t.Helper()
	return string(peers.Run(t, peers.Tool(t, "tshark"), "-r", file, "-Y", `frame.comment contains "comm=interop-client"`, "-T", "fields", "-e", "frame.comment"))
}

// TestShortLivedContainerNamed: a container that is made, calls and is
// removed between two reads of the ring (a Job's init container) is
// still named in every comment of its packets: the kernel tells the
// capture its cgroup's path when it is made.
func TestShortLivedContainerNamed(t *testing.T) {
	server, client := interopBed(t)
	out := filepath.Join(t.TempDir(), "out.pcapng")
	l := startCapture(t, "-o", "json", "-w", out, "--port", fmt.Sprint(serverPort))
	var rels []string
	for range 3 {
		_, rel, dir := containerCgroup(t)
		rels = append(rels, rel)
		clientInCgroup(t, dir, client, server)
		os.Remove(filepath.Dir(dir))
	}
	waitCalls(t, l, 3)
	l.stop(t)
	comments := clientComments(t, out)
	for _, rel := range rels {
		if !strings.Contains(comments, "cgroup="+rel+" ") {
			t.Errorf("no client packet names cgroup %s:\n%s", rel, comments)
		}
	}
	if strings.Contains(comments, "cgroup=id:") {
		t.Errorf("a client packet's cgroup is unnamed:\n%s", comments)
	}
}

// TestNamespacedRootNamesShortLived is TestShortLivedContainerNamed
// where the capture's cgroup root is a cgroup namespace's view of a
// subtree, as on a kind node: the kernel's paths start above that root,
// and the capture learns where from a cgroup still there (made first
// here, as a pod's cgroup is made before its containers').
func TestNamespacedRootNamesShortLived(t *testing.T) {
	_, _, top := containerCgroup(t)
	t.Cleanup(func() { removeCgroup(top) })
	view := t.TempDir()
	// A process in top unshares its cgroup namespace and mounts cgroup2
	// in the test's mount namespace: the mount's root is top.
	if b, err := exec.Command("sh", "-c", `echo $$ > "$1/cgroup.procs" && exec unshare -C mount -t cgroup2 none "$2"`, "sh", top, view).CombinedOutput(); err != nil {
		peers.Skip(t, "cannot mount a cgroup namespace's view: %v: %s", err, b)
	}
	t.Cleanup(func() { exec.Command("umount", view).Run() })
	server, client := interopBed(t)
	out := filepath.Join(t.TempDir(), "out.pcapng")
	l := startCapture(t, "-o", "json", "-w", out, "--port", fmt.Sprint(serverPort), "--cgroup-root", view)
	pod := filepath.Join(top, "pod")
	if err := os.Mkdir(pod, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(pod) })
	short := filepath.Join(pod, "short")
	if err := os.Mkdir(short, 0o755); err != nil {
		t.Fatal(err)
	}
	clientInCgroup(t, short, client, server)
	waitCalls(t, l, 1)
	l.stop(t)
	comments := clientComments(t, out)
	if !strings.Contains(comments, "cgroup=/pod/short ") || strings.Contains(comments, "cgroup=id:") {
		t.Errorf("the client's packets do not all name /pod/short under the namespace's root:\n%s", comments)
	}
}

// TestWriteToStdout pipes "capture -w -" into tshark, as into
// "wireshark -k -i -".
func TestWriteToStdout(t *testing.T) {
	tshark := peers.Tool(t, "tshark")
	server, client := interopBed(t)
	cmd := exec.Command("sh", "-c", fmt.Sprintf("%s capture -c 30 -w - --port %d | %s -r - -T fields -e frame.interface_name -e tcp.dstport -e frame.comment", hoptap, serverPort, tshark))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The pipe has no readiness line to wait for: call until the capture
	// has its 30 packets and exits.
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		clientTo(t, client, server, serverPort, "empty_unary")
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%v\n%s", err, errb.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 30 {
				t.Fatalf("tshark read %d packets from the pipe, want 30:\n%s\n%s", len(lines), out.String(), errb.String())
			}
			if !strings.Contains(out.String(), "hoptap-egress") || !strings.Contains(out.String(), "comm=interop-") {
				t.Errorf("tshark output lacks interfaces or comments:\n%s", out.String())
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestErrors checks the one-line errors a user meets first.
func TestErrors(t *testing.T) {
	peers.RequireRoot(t)
	for _, tc := range []struct {
		name string
		cmd  []string
		want string
	}{
		{"not root", []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", hoptap, "capture"}, "live capture needs root (or CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN): run it with sudo"},
		{"root without CAP_BPF", []string{"setpriv", "--bounding-set", "-all,+perfmon,+net_admin,+sys_ptrace", "--inh-caps=-all", hoptap, "capture"},
			"live capture needs CAP_BPF, which this root process lacks"},
		{"not cgroup2", []string{hoptap, "capture", "--cgroup-root", "/tmp"}, "/tmp is not a cgroup v2 mount"},
		{"bad host", []string{hoptap, "capture", "--host", "nonsense"}, `bad host "nonsense"`},
		{"bad pid", []string{hoptap, "capture", "--pid", "999999999"}, "--pid 999999999: no such process"},
		{"no container", []string{hoptap, "capture", "--container", "0123456789abcdef"}, "no cgroup under"},
		{"negative count", []string{hoptap, "capture", "-c", "-1"}, "-c -1: want a number of packets (0: no limit)"},
		{"negative duration", []string{hoptap, "capture", "--duration", "-5s"}, "--duration -5s: want a positive duration such as 30s (0: until Ctrl-C)"},
		{"bad update interval", []string{hoptap, "capture", "--update-interval", "1ms"}, "--update-interval 1ms: want 10ms to 5s"},
		{"no wire interface", []string{hoptap, "capture", "--wire", "nosuch0"}, `wire interface "nosuch0": not in this network namespace (ip -br link lists them)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Bounded: a value wrongly taken would start a capture.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, tc.cmd[0], tc.cmd[1:]...).CombinedOutput()
			if err == nil || ctx.Err() != nil {
				t.Fatalf("want an error, got %v:\n%s", err, out)
			}
			msg := strings.TrimSpace(string(out))
			if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, tc.want) || !strings.HasPrefix(msg, "hoptap: ") {
				t.Errorf("want one line with %q, got:\n%s", tc.want, msg)
			}
		})
	}
}

// pcapLengths returns each record's captured and original length.
func pcapLengths(t *testing.T, file string, port uint16) (caps, origs []int) {
	t.Helper()
	for _, r := range peers.RecordsOnPort(t, file, port) {
		caps, origs = append(caps, r.CapLen), append(origs, r.Len)
	}
	return caps, origs
}

// TestSnaplen cuts every packet at 100 bytes: the file says how long
// each packet was, and the summary counts the cuts.
func TestSnaplen(t *testing.T) {
	server, client := interopBed(t)
	file := filepath.Join(t.TempDir(), "snap.pcapng")
	l := startCapture(t, "-s", "100", "-w", file, "--port", fmt.Sprint(serverPort))
	interopClient(t, client, server, "large_unary")
	l.stop(t)
	caps, origs := pcapLengths(t, file, serverPort)
	cut := 0
	for i := range caps {
		if caps[i] > 100 {
			t.Fatalf("record %d holds %d bytes with -s 100", i, caps[i])
		}
		if origs[i] > caps[i] {
			cut++
		}
	}
	if cut == 0 {
		t.Fatal("no record was cut: large_unary's 271828-byte messages should be")
	}
	if !strings.Contains(l.stderr.String(), fmt.Sprintf("%d cut by the snap length", cut)) {
		t.Errorf("the summary does not count the %d cut packets:\n%s", cut, l.stderr.String())
	}
}

// TestPayloadAuto runs a connection that is neither HTTP/2 nor TLS (the
// echo of random bytes) under the default --payload auto: after a few
// packets only its headers are copied, and the summary says so. gRPC
// connections keep every payload byte (TestInteropLive).
func TestPayloadAuto(t *testing.T) {
	tb := peers.NewTestbed(t)
	srv, cli := tb.Pod(t, 2), tb.Pod(t, 3)
	const port = 10030
	send := startEcho(t, srv, cli, port)
	file := filepath.Join(t.TempDir(), "auto.pcapng")
	l := startCapture(t, "-w", file, "--port", fmt.Sprint(port))
	send(t)
	l.stop(t)
	caps, origs := pcapLengths(t, file, port)
	full, headers := 0, 0
	for i := range caps {
		switch {
		case caps[i] == origs[i]:
			full++
		case caps[i] <= 60+40:
			headers++
		default:
			t.Errorf("record %d: %d of %d bytes, neither whole nor headers only", i, caps[i], origs[i])
		}
	}
	if headers == 0 {
		t.Fatalf("every payload was copied (%d records): the connection was not recognised as other", full)
	}
	if strings.Contains(l.stderr.String(), " 0 with payload not copied") {
		t.Errorf("the summary does not count the headers-only packets:\n%s", l.stderr.String())
	}
	t.Logf("%d records whole, %d headers only", full, headers)
}

// TestHostFilter lets the kernel select one of two clients by address,
// and by a CIDR that holds only it.
func TestHostFilter(t *testing.T) {
	tb := peers.NewTestbed(t)
	server, c3, c4 := tb.Pod(t, 2), tb.Pod(t, 3), tb.Pod(t, 4)
	bin := peers.Tool(t, "interop-server")
	peers.Start(t, "ip", "netns", "exec", server.NS, bin, "-port=10040", "-use_tls=false")
	peers.WaitListening(t, server.Addr+":10040")
	// (.3/31 would hold the server, .2, and so every call.)
	for _, host := range []string{c3.Addr, c3.Addr + "/32"} {
		t.Run(host, func(t *testing.T) {
			l := startCapture(t, "-o", "json", "--host", host)
			clientTo(t, c3, server, 10040, "empty_unary", "large_unary")
			clientTo(t, c4, server, 10040, "empty_unary", "large_unary")
			l.stop(t)
			calls := peers.HoptapCalls(t, l.stdout.Bytes())
			if len(calls) != 2 {
				t.Errorf("want the 2 calls of %s, got %d: %v", c3.Addr, len(calls), calls)
			}
			for _, c := range calls {
				if !strings.HasPrefix(c.Client, c3.Addr+":") {
					t.Errorf("a call from another client got through: %v", c)
				}
			}
		})
	}
}
