// Package agent_test runs hoptap-agent on the host while real peers talk
// in network namespaces, and reads its /metrics as Prometheus would.
package agent_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoptap/hoptap/test/peers"
)

var agentBin, hoptapBin string

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		if peers.Required() {
			fmt.Fprintln(os.Stderr, "agent tests need root and HOPTAP_REQUIRE_ALL is set")
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "skipping the agent tests: they need root")
		os.Exit(0)
	}
	bin, cleanup := peers.BuildCommand("hoptap-agent")
	agentBin = bin
	hbin, cleanupH := peers.BuildHoptap()
	hoptapBin = hbin
	code := m.Run()
	cleanup()
	cleanupH()
	os.Exit(code)
}

type agent struct {
	addr string
	sock string // the capture API
	cmd  *exec.Cmd
	log  *os.File
}

func startAgent(t *testing.T, args ...string) *agent {
	t.Helper()
	return startAgentUnder(t, nil, args...)
}

// startAgentUnder runs the agent through a wrapper command (e.g. setpriv).
func startAgentUnder(t *testing.T, wrapper []string, args ...string) *agent {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", peers.FreePort(t))
	logf, err := os.Create(t.TempDir() + "/agent.log")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	argv := append(append(append([]string{}, wrapper...), agentBin, "--metrics-addr", addr, "--api-socket", sock), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &agent{addr: addr, sock: sock, cmd: cmd, log: logf}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("agent log:\n%s", b)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return a
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("agent not ready: %v\n%s", err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFor scrapes until cond holds, and returns that scrape. The agent
// publishes what it decoded within about a second.
func (a *agent) waitFor(t *testing.T, what string, cond func([]peers.Sample) bool) []peers.Sample {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ss := peers.Scrape(t, a.addr)
		if cond(ss) {
			return ss
		}
		if time.Now().After(deadline) {
			var have []string
			for _, x := range ss {
				if strings.HasPrefix(x.Name, "hoptap_tcp_connections_opened_total") || strings.HasPrefix(x.Name, "hoptap_lost_events_total") ||
					strings.HasPrefix(x.Name, "hoptap_rpc_hop_") && !strings.Contains(x.Name, "network") ||
					x.Name == "hoptap_rpc_call_duration_seconds_count" || strings.HasPrefix(x.Name, "hoptap_elided_") ||
					strings.HasPrefix(x.Name, "hoptap_tcp_gap") || x.Name == "hoptap_decode_errors_total" {
					have = append(have, fmt.Sprintf("%s%v %v", x.Name, x.Labels, x.Value))
				}
			}
			t.Fatalf("timed out waiting for %s; the agent has:\n%s", what, strings.Join(have, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Ports of their own, and the testbed's subnet as a kernel filter, keep
// other test packages' peers (which may run at the same time) out.
const (
	serverPort = 10100
	proxyPort  = 10101
)

type bed struct {
	server, proxy, client peers.Pod
	serverCmd             *exec.Cmd
	subnet                string
	retries               int // interop cases run again (interop)
}

// agentArgs selects this testbed's traffic.
func (b *bed) agentArgs() []string {
	return []string{"--host", b.subnet, "--port", fmt.Sprint(serverPort), "--port", fmt.Sprint(proxyPort)}
}

// newBed is three pods: the interop server, nginx passing to it, and a
// client pod.
func newBed(t *testing.T) *bed {
	tb := peers.NewTestbed(t)
	b := &bed{server: tb.Pod(t, 2), proxy: tb.Pod(t, 3), client: tb.Pod(t, 4), subnet: fmt.Sprintf("198.18.%d.0/24", tb.Net)}
	b.serverCmd = peers.Start(t, "ip", "netns", "exec", b.server.NS, peers.Tool(t, "interop-server"),
		fmt.Sprintf("-port=%d", serverPort), "-use_tls=false")
	peers.WaitListening(t, fmt.Sprintf("%s:%d", b.server.Addr, serverPort))
	peers.NginxProxy(t, &b.proxy, fmt.Sprintf("%s:%d", b.proxy.Addr, proxyPort), fmt.Sprintf("%s:%d", b.server.Addr, serverPort))
	return b
}

// interop runs cases from the client pod against host:port; it returns
// the first error, with the client's output. cancel_after_begin gets a
// second try when the client loses its own race (peers.OnceMore),
// counted in b.retries: a connection more.
func (b *bed) interop(t *testing.T, host string, port int, cases ...string) error {
	t.Helper()
	bin := peers.Tool(t, "interop-client")
	for _, c := range cases {
		run := func() ([]byte, error) {
			return b.client.Command(bin, "-server_host="+host, fmt.Sprintf("-server_port=%d", port),
				"-use_tls=false", "-test_case="+c).CombinedOutput()
		}
		out, again, err := peers.OnceMore(t, c, run)
		if again {
			b.retries++
		}
		if err != nil {
			return fmt.Errorf("interop client %s: %v\n%s", c, err, out)
		}
	}
	return nil
}

func l(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}
