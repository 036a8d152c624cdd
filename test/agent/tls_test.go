package agent_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/hoptap/hoptap/test/peers"
)

// The capture API's TCP address with mutual TLS: a client with a
// certificate the CA signed streams calls; one without is refused, and
// so is one that speaks plain text.
func TestCaptureAPIMutualTLS(t *testing.T) {
	b := newBed(t)
	f := peers.PKI(t)
	api := fmt.Sprintf("127.0.0.1:%d", peers.FreePort(t))
	startAgent(t, append(b.agentArgs(), "--api-addr", api, "--api-tls-cert", f["agent.crt"],
		"--api-tls-key", f["agent.key"], "--api-tls-client-ca", f["ca.crt"])...)

	streamCalls(t, b, "capture", "--agent", api, "--calls", "--port", fmt.Sprint(serverPort),
		"--agent-ca", f["ca.crt"], "--agent-cert", f["client.crt"], "--agent-key", f["client.key"])

	for name, args := range map[string][]string{
		"no client certificate": {"--agent-ca", f["ca.crt"]},
		"plain text":            nil,
	} {
		out, err := exec.Command(hoptapBin, append([]string{"capture", "--agent", api, "--calls", "--duration", "10s"}, args...)...).CombinedOutput()
		if err == nil || strings.Contains(string(out), "UnaryCall") {
			t.Errorf("%s: the agent streamed (err %v):\n%s", name, err, out)
		}
	}
	// TLS flags that cannot apply are refused at once.
	out, err := exec.Command(hoptapBin, "capture", "--agent", "/run/hoptap/agent.sock", "--agent-ca", f["ca.crt"]).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unix socket is plain") {
		t.Errorf("--agent-ca with a unix socket: err %v: %s", err, out)
	}
	out, err = exec.Command(agentBin, "--api-tls-cert", f["agent.crt"], "--api-tls-key", f["agent.key"], "--api-socket", "none", "--metrics-addr", "127.0.0.1:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not set") {
		t.Errorf("agent TLS without --api-addr: err %v: %s", err, out)
	}
}
