package node

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/hoptap/hoptap/agent/capture"
	"github.com/hoptap/hoptap/agent/metrics"
	"github.com/hoptap/hoptap/bpf"
)

// Config is the agent's configuration: a YAML (or JSON) file, then
// flags on top. Zero values are the defaults.
type Config struct {
	// MetricsAddr serves /metrics, /healthz and /readyz.
	MetricsAddr string `json:"metricsAddr,omitempty"`
	// Kernel filters: only these ports, hosts (addresses or CIDRs) and
	// cgroups (paths under the cgroup root) are copied.
	Ports   []string `json:"ports,omitempty"`
	Hosts   []string `json:"hosts,omitempty"`
	Cgroups []string `json:"cgroups,omitempty"`
	// Payload: auto (HTTP/2 and TLS connections only), all, or headers.
	Payload    string `json:"payload,omitempty"`
	Snaplen    int    `json:"snaplen,omitempty"`
	BufferMiB  int    `json:"bufferMiB,omitempty"`
	CgroupRoot string `json:"cgroupRoot,omitempty"`
	// Kubernetes: auto (when running in a pod), on or off. Workloads are
	// then named namespace/workload from this node's pods.
	Kubernetes string `json:"kubernetes,omitempty"`
	// Kubeconfig, for an agent outside the cluster; NodeName defaults to
	// $NODE_NAME, then the host name.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	NodeName   string `json:"nodeName,omitempty"`
	// ClusterPods also watches every pod of the cluster (names, owners
	// and addresses only) and every Service's cluster IPs, to name the
	// far ends of connections; default true.
	ClusterPods *bool `json:"clusterPods,omitempty"`
	// PodLabels adds source_pod and destination_pod to the call and hop
	// histograms (one series per pod pair: off by default).
	PodLabels bool `json:"podLabels,omitempty"`
	// APISocket serves the live capture API (hoptap capture --agent) on
	// a unix socket only root may use; APIAddr also on HOST:PORT, e.g.
	// 127.0.0.1:9465 inside a pod, which only the API server's
	// port-forward reaches. Empty: not served there.
	APISocket string `json:"apiSocket,omitempty"`
	APIAddr   string `json:"apiAddr,omitempty"`
	// APITLS serves APIAddr over TLS; with ClientCA, only to clients
	// whose certificate it signed (mutual TLS), on top of whatever
	// reaches the port (in a pod: the API server's port-forward).
	APITLS APITLS `json:"apiTLS,omitempty"`
	// Pprof serves Go's profiles under /debug/pprof/ on the metrics
	// address, for finding where the agent's CPU and memory go.
	Pprof bool `json:"pprof,omitempty"`
	// Nice, 1 to 19, lowers the agent's priority: it yields the CPU to
	// the threads of its own scheduling group (its session, or its
	// cgroup where the cpu controller is on), whose threads preempt it
	// when they wake (and may starve it into counted losses on a
	// saturated node). Against other groups, such as other pods, the
	// groups' weights decide: in Kubernetes the pod's CPU request and
	// limit. 0, the default, keeps the priority it was started with.
	Nice int `json:"nice,omitempty"`
	// Procs is how many Go processors the agent runs on (GOMAXPROCS),
	// 1 when unset: the ring's reader and the decoder it hands each
	// batch to then share one core and its caches, which costs the agent
	// about a twentieth less CPU per call than two. GOMAXPROCS in the
	// environment wins.
	Procs int `json:"procs,omitempty"`
	// Log: format text or json, level debug, info, warn or error.
	LogFormat string `json:"logFormat,omitempty"`
	LogLevel  string `json:"logLevel,omitempty"`
	// Limits on what traffic can make the agent keep.
	Limits Limits `json:"limits,omitempty"`
}

// Limits bound label cardinality and memory.
type Limits struct {
	MaxServices          int      `json:"maxServices,omitempty"`
	MaxMethodsPerService int      `json:"maxMethodsPerService,omitempty"`
	MaxWorkloads         int      `json:"maxWorkloads,omitempty"`
	HopWindow            Duration `json:"hopWindow,omitempty"`
	MaxPendingHops       int      `json:"maxPendingHops,omitempty"`
	MaxConnections       int      `json:"maxConnections,omitempty"`
}

// Duration reads "30s"-style strings.
type Duration struct{ time.Duration }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string such as \"30s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// APITLS names PEM files: the agent's certificate and key, and the CA
// that signs the clients' certificates.
type APITLS struct {
	Cert     string `json:"cert,omitempty"`
	Key      string `json:"key,omitempty"`
	ClientCA string `json:"clientCA,omitempty"`
}

// Defaults fills what is unset.
func (c *Config) Defaults() {
	if c.MetricsAddr == "" {
		c.MetricsAddr = ":9464"
	}
	if c.Payload == "" {
		c.Payload = "auto"
	}
	if c.BufferMiB == 0 {
		// All resident: the ring is part of the agent's RSS.
		c.BufferMiB = 8
	}
	if c.APISocket == "" {
		c.APISocket = "/run/hoptap/agent.sock"
	}
	if c.Kubernetes == "" {
		c.Kubernetes = "auto"
	}
	if c.ClusterPods == nil {
		yes := true
		c.ClusterPods = &yes
	}
	if c.Procs == 0 {
		c.Procs = 1
	}
	if c.LogFormat == "" {
		c.LogFormat = "text"
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.Limits.MaxConnections == 0 {
		c.Limits.MaxConnections = 1 << 16
	}
}

// LoadConfig reads a config file strictly: an unknown key is an error,
// not a silent default.
func LoadConfig(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// probe turns the filters into kernel options. The agent reads the ring
// buffer lazily: its events end in metrics and watchers, for whom a
// quarter of a second is live enough.
func (c *Config) probe() (bpf.Options, error) {
	p, err := capture.Filters{Payload: c.Payload, Snaplen: c.Snaplen, Ports: c.Ports, Hosts: c.Hosts,
		BufferMiB: c.BufferMiB, CgroupRoot: c.CgroupRoot}.Probe()
	p.Lazy = true
	// Until someone watches frames or packets, segments of PING and
	// WINDOW_UPDATE frames alone stay in the kernel: no metric needs them.
	p.ElideControl = true
	return p, err
}

func (c *Config) metrics() metrics.Config {
	return metrics.Config{
		MaxServices:          c.Limits.MaxServices,
		MaxMethodsPerService: c.Limits.MaxMethodsPerService,
		MaxWorkloads:         c.Limits.MaxWorkloads,
		HopWindow:            c.Limits.HopWindow.Duration,
		MaxPending:           c.Limits.MaxPendingHops,
		PodLabels:            c.PodLabels,
	}
}
