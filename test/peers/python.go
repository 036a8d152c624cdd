package peers

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Python is Debian's python3 with its grpc module (gRPC C-core). The
// python3 first on PATH may be another one without grpc, so this asks for
// /usr/bin/python3 by name.
func Python(t testing.TB) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import grpc").CombinedOutput(); err != nil {
		Skip(t, "%s cannot import grpc (apt-get install python3-grpcio): %v %s", py, err, out)
	}
	return py
}

// PyScript is the Python gRPC peer, test/peers/pygrpc.py.
func PyScript() string { return filepath.Join(RepoRoot(), "test", "peers", "pygrpc.py") }

// pyEnv keeps Python gRPC off any proxy: every peer talks on loopback.
func pyEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(k) {
		case "http_proxy", "https_proxy", "grpc_proxy", "all_proxy", "pythonpath", "pythonhome":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "no_proxy=*", "NO_PROXY=*")
}

// PyServer starts the Python gRPC server on a free loopback port, waits
// until it says it listens, and returns the port. It runs until the end
// of the test.
func PyServer(t testing.TB) int {
	t.Helper()
	py := Python(t)
	cmd := exec.Command(py, PyScript(), "server")
	cmd.Env = pyEnv()
	logf, err := os.Create(filepath.Join(t.TempDir(), "pygrpc-server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start python server: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	port := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				n, _ := strconv.Atoi(p)
				port <- n
				break
			}
		}
		close(port)
		io.Copy(logf, stdout)
	}()
	select {
	case p, ok := <-port:
		if !ok || p == 0 {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("python server did not start:\n%s", log)
		}
		WaitListening(t, fmt.Sprintf("127.0.0.1:%d", p))
		return p
	case <-time.After(20 * time.Second):
		t.Fatal("python server did not say it listens")
	}
	return 0
}

// PyClient runs the Python gRPC client against 127.0.0.1:port with the
// given scenario and arguments ("basic", or "many", "300"). The client
// checks every call's outcome itself; a failure fails the test.
func PyClient(t testing.TB, port int, scenario ...string) {
	t.Helper()
	py := Python(t)
	args := append([]string{PyScript(), "client", strconv.Itoa(port)}, scenario...)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, args...)
	cmd.Env = pyEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python client %v: %v\n%s", scenario, err, out)
	}
	t.Logf("python client %v:\n%s", scenario, strings.TrimSpace(string(out)))
}
