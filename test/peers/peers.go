// Package peers runs real gRPC peers and recorders for the end-to-end
// tests: the official grpc-go interop server and client, Python's C-core
// gRPC, nginx as a proxy hop, dumpcap to record and tshark to referee.
// Tests skip when a peer is missing, unless HOPTAP_REQUIRE_ALL is set (as
// in CI), where a missing peer is a failure.
package peers

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hoptap/hoptap/decoder/packet"
	"github.com/hoptap/hoptap/decoder/pcapfile"
)

// Required reports whether missing peers must fail the test.
func Required() bool { return os.Getenv("HOPTAP_REQUIRE_ALL") != "" }

// Skip skips, or fails when peers are required.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("required but unavailable: %s", msg)
	}
	t.Skip(msg)
}

// RepoRoot is the module root.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Tool finds an executable: the project's .tools/bin first, then PATH.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(RepoRoot(), ".tools", "bin", name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return filepath.Join(dir, name)
		}
	}
	Skip(t, "%s not found: run `make deps`", name)
	return ""
}

// RequireRoot skips unless running as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root to capture on loopback")
	}
}

// FreePort returns a TCP port nobody listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs a long-lived process, stopped at the end of the test.
func Start(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	logf, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(name)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	return cmd
}

// WaitListening waits until something accepts connections on addr.
func WaitListening(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// InteropServer starts the grpc-go interop server on port.
func InteropServer(t testing.TB, port int) {
	t.Helper()
	Start(t, Tool(t, "interop-server"), fmt.Sprintf("-port=%d", port), "-use_tls=false")
	WaitListening(t, fmt.Sprintf("127.0.0.1:%d", port))
}

// InteropCases are the grpc-go interop client's standard test cases that
// need no cloud credentials.
var InteropCases = []string{
	"empty_unary", "large_unary", "client_streaming", "server_streaming",
	"ping_pong", "empty_stream", "timeout_on_sleeping_server",
	"cancel_after_begin", "cancel_after_first_response",
	"status_code_and_message", "special_status_message", "custom_metadata",
	"unimplemented_method", "unimplemented_service",
}

// InteropClient runs the interop client once per test case against
// host:port; every case must pass (cancel_after_begin on its second try
// at most: InteropCaseOnceMore).
func InteropClient(t testing.TB, host string, port int, cases ...string) {
	t.Helper()
	for _, c := range cases {
		out, err := InteropCaseOnceMore(t, host, port, c)
		if err != nil {
			t.Fatalf("interop client %s: %v\n%s", c, err, out)
		}
	}
}

// Record captures loopback traffic on ports while fn runs and returns the
// pcapng file. To know that every packet of fn reached the file, it ends
// with a marker: a connection attempt to a closed port, and waits until
// that attempt's reset is in the file.
func Record(t testing.TB, ports []int, fn func()) string {
	t.Helper()
	RequireRoot(t)
	dumpcap := Tool(t, "dumpcap")
	marker := FreePort(t)
	out := filepath.Join(t.TempDir(), "capture.pcapng")
	var filt []string
	for _, p := range append(ports, marker) {
		filt = append(filt, fmt.Sprintf("tcp port %d", p))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, dumpcap, "-i", "lo", "-f", strings.Join(filt, " or "), "-w", out)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatalf("dumpcap: %v", err)
	}
	// dumpcap says "Capturing on" once the capture is live.
	ready := make(chan error, 1)
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "Capturing on") {
				ready <- nil
				io.Copy(io.Discard, stderr)
				return
			}
		}
		ready <- fmt.Errorf("dumpcap exited: %s", log.String())
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("dumpcap did not start")
	}
	// "Capturing on" comes before the filter is live: a first marker
	// proves it is, a second one that everything before it was written.
	mark := func(n int) {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", marker), time.Second); err == nil {
			c.Close()
		}
		deadline := time.Now().Add(20 * time.Second)
		for resets(out, uint16(marker)) < n {
			if time.Now().After(deadline) {
				t.Fatal("the capture never showed the marker")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for i := 1; resets(out, uint16(marker)) == 0; i++ {
		if i > 50 {
			t.Fatal("the capture never became live")
		}
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", marker), time.Second); err == nil {
			c.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}
	fn()
	mark(resets(out, uint16(marker)) + 1)
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	return out
}

// resets counts the RSTs from port in file.
func resets(file string, port uint16) int {
	r, err := pcapfile.Open(file)
	if err != nil {
		return 0
	}
	defer r.Close()
	var d packet.Decoder
	var s packet.Segment
	n := 0
	for {
		data, _, lt, err := r.Next()
		if err != nil {
			return n // EOF, or a record still being written
		}
		if d.Decode(lt, data, &s) == nil && s.Src.Port() == port && s.Has(packet.FlagRST) {
			n++
		}
	}
}

// Run runs a command and returns its stdout; a failure fails the test.
func Run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// KeepOnFailure copies file to /tmp/hoptap-failures when the test fails,
// so a disagreement can be looked at after the temporary directory is gone.
func KeepOnFailure(t testing.TB, file string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		dir := filepath.Join(os.TempDir(), "hoptap-failures")
		os.MkdirAll(dir, 0o755)
		dst := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+"-"+filepath.Base(file))
		if b, err := os.ReadFile(file); err == nil && os.WriteFile(dst, b, 0o644) == nil {
			t.Logf("capture kept at %s", dst)
		}
	})
}
