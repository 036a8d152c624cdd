package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfig(t *testing.T) {
	c, err := LoadConfig(writeConfig(t, `
metricsAddr: 127.0.0.1:9999
ports: ["50051", "8443"]
hosts: [198.18.0.0/15]
payload: all
logFormat: json
nice: 5
procs: 2
limits:
  maxServices: 10
  hopWindow: 45s
`))
	if err != nil {
		t.Fatal(err)
	}
	c.Defaults()
	if c.MetricsAddr != "127.0.0.1:9999" || len(c.Ports) != 2 || c.Payload != "all" || c.LogFormat != "json" ||
		c.Limits.MaxServices != 10 || c.Limits.HopWindow.Duration != 45*time.Second || c.BufferMiB != 8 || c.Nice != 5 || c.Procs != 2 {
		t.Fatalf("config %+v", c)
	}
	var d Config
	if d.Defaults(); d.Procs != 1 {
		t.Errorf("procs %d by default, want 1", d.Procs)
	}

	p, err := c.probe()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Ports) != 2 || len(p.Prefixes) != 1 || p.RingBytes != 8<<20 || !p.Lazy {
		t.Fatalf("probe options %+v", p)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	for body, want := range map[string]string{
		"metricAddr: :1\n":            `unknown field "metricAddr"`,
		"limits: {hopWindow: 5}\n":    "duration",
		"limits: {hopWindow: soon}\n": "invalid duration",
		"ports: [nope]\n":             "nope",
	} {
		c, err := LoadConfig(writeConfig(t, body))
		if err == nil {
			_, err = c.probe()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one with %q", body, err, want)
		}
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("a missing file loaded")
	}
}

func TestNewRejectsBadSettings(t *testing.T) {
	for _, c := range []Config{
		{MetricsAddr: "127.0.0.1:0", Kubernetes: "maybe"},
		{MetricsAddr: "127.0.0.1:0", BufferMiB: 3},
		{MetricsAddr: "not an address"},
		{MetricsAddr: "127.0.0.1:0", Nice: 20},
		{MetricsAddr: "127.0.0.1:0", Procs: -2},
	} {
		a, err := New(c, nil)
		if err == nil {
			a.ln.Close()
			t.Errorf("%+v accepted", c)
		}
	}
}
