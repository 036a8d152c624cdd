// Command hoptap-agent is the node agent: one per node (a DaemonSet in
// Kubernetes, or a service on a plain host). It captures and decodes the
// node's gRPC traffic continuously and serves per-hop latency and
// status-origin metrics for Prometheus.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hoptap/hoptap/agent/node"
	"github.com/hoptap/hoptap/cmd/hoptap/view"
)

func main() {
	if err := command().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "hoptap-agent:", err)
		os.Exit(1)
	}
}

func command() *cobra.Command {
	var (
		cfgPath     string
		flags       node.Config
		clusterPods bool
	)
	cmd := &cobra.Command{
		Use:   "hoptap-agent",
		Short: "Node agent: capture gRPC continuously and serve per-hop metrics for Prometheus",
		Long: `hoptap-agent loads hoptap's eBPF programs at the cgroup v2 root, decodes
every gRPC call on this node at each socket that sees it, and serves
Prometheus metrics: call latency from the client's and from the server's
socket, the network and proxy time of each hop when both sockets are on
this node, failures by origin (application, transport, proxy, unknown),
connection behaviour, and its own losses.

Settings come from --config (YAML) and flags; a flag given wins over the
file. SIGINT or SIGTERM detach the programs, decode what was captured,
and stop. Needs root (or CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, and
CAP_SYS_PTRACE plus CAP_SYS_ADMIN for sockets opened before it started).

Endpoints: /metrics, /healthz (the capture is alive), /readyz (the
programs are attached and being read).`,
		Example: `  sudo hoptap-agent --metrics-addr :9464
  sudo hoptap-agent --port 50051 --port 8443 --log-format json
  sudo hoptap-agent --config /etc/hoptap/agent.yaml
  curl -s localhost:9464/metrics | grep hoptap_rpc_`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       view.Version(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg node.Config
			if cfgPath != "" {
				var err error
				if cfg, err = node.LoadConfig(cfgPath); err != nil {
					return err
				}
			}
			flags.ClusterPods = &clusterPods
			overlay(&cfg, &flags, cmd.Flags())
			cfg.Defaults()
			log, err := logger(cfg.LogFormat, cfg.LogLevel)
			if err != nil {
				return err
			}
			log.Info("hoptap-agent starting", "version", view.Version())
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			a, err := node.New(cfg, log)
			if err != nil {
				return err
			}
			err = a.Run(ctx)
			if err != nil {
				log.Error("agent stopped", "err", err)
			} else {
				log.Info("agent stopped")
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "YAML configuration file (keys as in the README; unknown keys are errors)")
	f.StringVar(&flags.MetricsAddr, "metrics-addr", ":9464", "HOST:PORT for /metrics, /healthz and /readyz")
	f.StringSliceVar(&flags.Ports, "port", nil, "only connections with this TCP port at either end (repeatable; in the kernel)")
	f.StringSliceVar(&flags.Hosts, "host", nil, "only connections with this address or CIDR at either end (repeatable; in the kernel)")
	f.StringSliceVar(&flags.Cgroups, "cgroup", nil, "only sockets in this cgroup v2 or below it (repeatable; in the kernel)")
	f.StringVar(&flags.Payload, "payload", "auto", "which payloads to copy: auto (HTTP/2 and TLS connections only), all, or headers")
	f.IntVarP(&flags.Snaplen, "snaplen", "s", 0, "keep at most this many bytes of each packet (0: 65535)")
	f.IntVarP(&flags.BufferMiB, "buffer-size", "B", 8, "ring buffer size in MiB, a power of two (all of it resident)")
	f.StringVar(&flags.CgroupRoot, "cgroup-root", "", "cgroup v2 mount to attach at, or a hybrid host's cgroup mount with it at unified/ (default: found in /proc/self/mountinfo)")
	f.StringVar(&flags.Kubernetes, "kubernetes", "auto", "name workloads by pod from the API server: auto (when in a pod), on or off")
	f.StringVar(&flags.Kubeconfig, "kubeconfig", "", "kubeconfig file, for an agent outside the cluster (implies the API server is there)")
	f.StringVar(&flags.NodeName, "node-name", "", "this node's name (default: $NODE_NAME, then the host name)")
	f.BoolVar(&clusterPods, "cluster-pods", true, "with Kubernetes, also watch every pod of the cluster (names, owners, addresses) and Service cluster IPs, to name the far ends of connections")
	f.BoolVar(&flags.PodLabels, "pod-labels", false, "with Kubernetes, also label call and hop histograms with source_pod and destination_pod (a series per pod pair)")
	f.StringVar(&flags.APISocket, "api-socket", "/run/hoptap/agent.sock", "unix socket for the live capture API (hoptap capture --agent); none: not served")
	f.StringVar(&flags.APIAddr, "api-addr", "", "also serve the capture API on HOST:PORT (in a pod: 127.0.0.1:9465, reached through kubectl port-forward)")
	f.StringVar(&flags.APITLS.Cert, "api-tls-cert", "", "serve --api-addr over TLS with this PEM certificate (and --api-tls-key)")
	f.StringVar(&flags.APITLS.Key, "api-tls-key", "", "the PEM private key of --api-tls-cert")
	f.StringVar(&flags.APITLS.ClientCA, "api-tls-client-ca", "", "with TLS, accept only clients whose certificate this PEM CA signed (mutual TLS)")
	f.BoolVar(&flags.Pprof, "pprof", false, "serve Go's profiles under /debug/pprof/ on the metrics address")
	f.IntVar(&flags.Nice, "nice", 0, "niceness, 1-19: the agent yields the CPU to the threads of its own scheduling group (its session, or its cgroup: in a pod, the CPU request and limit set its share against other pods); it may then lose events on a saturated node, counted; 0: the priority it was started with")
	f.IntVar(&flags.Procs, "procs", 1, "Go processors to run on (GOMAXPROCS): 1 keeps the ring's reader and the decoder on one core's caches; GOMAXPROCS in the environment wins")
	f.StringVar(&flags.LogFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&flags.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.IntVar(&flags.Limits.MaxServices, "max-services", 200, "distinct rpc_service label values; more become \"other\"")
	f.IntVar(&flags.Limits.MaxMethodsPerService, "max-methods-per-service", 100, "distinct rpc_method values per service; more become \"other\"")
	f.IntVar(&flags.Limits.MaxWorkloads, "max-workloads", 1000, "distinct workload label values; more become \"other\"")
	f.DurationVar(&flags.Limits.HopWindow.Duration, "hop-window", 0, "how long one socket's view of a call waits for the other's (0: 30s)")
	f.IntVar(&flags.Limits.MaxConnections, "max-connections", 1<<16, "connection views tracked at once; the least recently active go first")
	return cmd
}

// overlay copies the flags that were given over the file's values.
func overlay(cfg, flags *node.Config, fs *pflag.FlagSet) {
	set := func(name string, apply func()) {
		if fs.Changed(name) {
			apply()
		}
	}
	set("metrics-addr", func() { cfg.MetricsAddr = flags.MetricsAddr })
	set("port", func() { cfg.Ports = flags.Ports })
	set("host", func() { cfg.Hosts = flags.Hosts })
	set("cgroup", func() { cfg.Cgroups = flags.Cgroups })
	set("payload", func() { cfg.Payload = flags.Payload })
	set("snaplen", func() { cfg.Snaplen = flags.Snaplen })
	set("buffer-size", func() { cfg.BufferMiB = flags.BufferMiB })
	set("cgroup-root", func() { cfg.CgroupRoot = flags.CgroupRoot })
	set("pprof", func() { cfg.Pprof = flags.Pprof })
	set("api-socket", func() { cfg.APISocket = flags.APISocket })
	set("api-addr", func() { cfg.APIAddr = flags.APIAddr })
	set("api-tls-cert", func() { cfg.APITLS.Cert = flags.APITLS.Cert })
	set("api-tls-key", func() { cfg.APITLS.Key = flags.APITLS.Key })
	set("api-tls-client-ca", func() { cfg.APITLS.ClientCA = flags.APITLS.ClientCA })
	set("kubernetes", func() { cfg.Kubernetes = flags.Kubernetes })
	set("kubeconfig", func() { cfg.Kubeconfig = flags.Kubeconfig })
	set("node-name", func() { cfg.NodeName = flags.NodeName })
	set("cluster-pods", func() { cfg.ClusterPods = flags.ClusterPods })
	set("pod-labels", func() { cfg.PodLabels = flags.PodLabels })
	set("nice", func() { cfg.Nice = flags.Nice })
	set("procs", func() { cfg.Procs = flags.Procs })
	set("log-format", func() { cfg.LogFormat = flags.LogFormat })
	set("log-level", func() { cfg.LogLevel = flags.LogLevel })
	set("max-services", func() { cfg.Limits.MaxServices = flags.Limits.MaxServices })
	set("max-methods-per-service", func() { cfg.Limits.MaxMethodsPerService = flags.Limits.MaxMethodsPerService })
	set("max-workloads", func() { cfg.Limits.MaxWorkloads = flags.Limits.MaxWorkloads })
	set("hop-window", func() { cfg.Limits.HopWindow = flags.Limits.HopWindow })
	set("max-connections", func() { cfg.Limits.MaxConnections = flags.Limits.MaxConnections })
}

func logger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}
