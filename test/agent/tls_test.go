package agent_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoptap/hoptap/test/peers"
)

// pki writes a CA and, signed by it, a server certificate for
// 127.0.0.1 and a client certificate; it returns the files' paths.
func pki(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{}
	write := func(name, kind string, der []byte) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		files[name] = p
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hoptap test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	write("ca.crt", "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage, ips ...net.IP) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		write(name+".crt", "CERTIFICATE", der)
		write(name+".key", "PRIVATE KEY", kder)
	}
	leaf("agent", 2, x509.ExtKeyUsageServerAuth, net.ParseIP("127.0.0.1"))
	leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return files
}

// The capture API's TCP address with mutual TLS: a client with a
// certificate the CA signed streams calls; one without is refused, and
// so is one that speaks plain text.
func TestCaptureAPIMutualTLS(t *testing.T) {
	b := newBed(t)
	f := pki(t)
	api := fmt.Sprintf("127.0.0.1:%d", peers.FreePort(t))
	startAgent(t, append(b.agentArgs(), "--api-addr", api, "--api-tls-cert", f["agent.crt"],
		"--api-tls-key", f["agent.key"], "--api-tls-client-ca", f["ca.crt"])...)

	var stdout, stderr peers.SyncBuffer
	cli := exec.Command(hoptapBin, "capture", "--agent", api, "--calls", "--port", fmt.Sprint(serverPort),
		"--agent-ca", f["ca.crt"], "--agent-cert", f["client.crt"], "--agent-key", f["client.key"])
	cli.Stdout, cli.Stderr = &stdout, &stderr
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	defer cli.Process.Kill()
	deadline := time.Now().Add(30 * time.Second)
	for !bytes.Contains(stdout.Bytes(), []byte("/grpc.testing.TestService/UnaryCall")) {
		if time.Now().After(deadline) {
			t.Fatalf("no call row streamed over mutual TLS:\n%s\n%s", stdout.Bytes(), stderr.Bytes())
		}
		if err := b.interop(t, b.server.Addr, serverPort, "large_unary"); err != nil {
			t.Fatal(err)
		}
	}
	cli.Process.Signal(os.Interrupt)
	if err := cli.Wait(); err != nil {
		t.Errorf("capture over mutual TLS: %v\n%s", err, stderr.Bytes())
	}

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
