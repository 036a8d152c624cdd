// Package node is the node agent: it captures and decodes the node's
// traffic continuously, with bounded memory, and serves Prometheus
// metrics and health endpoints. cmd/hoptap-agent is its command.
package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/hoptap/hoptap/agent/api"
	"github.com/hoptap/hoptap/agent/capture"
	"github.com/hoptap/hoptap/agent/k8s"
	"github.com/hoptap/hoptap/agent/metrics"
	"github.com/hoptap/hoptap/agent/priority"
	"github.com/hoptap/hoptap/agent/watch"
	"github.com/hoptap/hoptap/bpf"
	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/http2"
	"github.com/hoptap/hoptap/decoder/tcp"
)

// Agent is one running agent.
type Agent struct {
	cfg   Config
	log   *slog.Logger
	reg   *prometheus.Registry
	ready atomic.Bool  // programs attached and reading
	dead  atomic.Value // error: the capture stopped for good
	ln    net.Listener
	srv   *http.Server
}

// New checks the configuration and opens the metrics listener, so that
// a bad address fails before anything is loaded.
func New(cfg Config, log *slog.Logger) (*Agent, error) {
	cfg.Defaults()
	if _, err := cfg.probe(); err != nil {
		return nil, err
	}
	if n := cfg.Nice; n < 0 || n > 19 {
		return nil, fmt.Errorf("nice %d: want 0 to 19", n)
	}
	if n := cfg.Procs; n < 0 || n > 1024 {
		return nil, fmt.Errorf("procs %d: want 1 to 1024", n)
	}
	switch cfg.Kubernetes {
	case "auto", "on", "off":
	default:
		return nil, fmt.Errorf("kubernetes %q: want auto, on or off", cfg.Kubernetes)
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("metrics address: %w", err)
	}
	a := &Agent{cfg: cfg, log: log, reg: prometheus.NewRegistry(), ln: ln}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{EnableOpenMetrics: true, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	if cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("/healthz", a.healthz)
	mux.HandleFunc("/readyz", a.readyz)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "hoptap-agent: /metrics /healthz /readyz")
	})
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return a, nil
}

// Addr is where the metrics are served.
func (a *Agent) Addr() net.Addr { return a.ln.Addr() }

// healthz fails only when the capture has stopped for good: a restart
// is then the fix.
func (a *Agent) healthz(w http.ResponseWriter, _ *http.Request) {
	if err, _ := a.dead.Load().(error); err != nil {
		http.Error(w, "capture stopped: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// readyz succeeds while the programs are attached and being read.
func (a *Agent) readyz(w http.ResponseWriter, _ *http.Request) {
	if !a.ready.Load() {
		http.Error(w, "not capturing", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// Run serves and captures until ctx ends, then shuts down gracefully:
// the programs are detached, what the ring buffer holds is decoded, and
// the metrics server finishes its scrapes.
func (a *Agent) Run(ctx context.Context) error {
	if err := priority.Nice(a.cfg.Nice); err != nil {
		a.log.Warn("running at the priority it was started with", "err", err)
	}
	if os.Getenv("GOMAXPROCS") == "" && a.cfg.Procs > 0 {
		runtime.GOMAXPROCS(a.cfg.Procs)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- a.srv.Serve(a.ln) }()
	a.log.Info("serving metrics", "addr", a.ln.Addr().String(), "procs", runtime.GOMAXPROCS(0))

	err := a.capture(ctx)
	a.ready.Store(false)
	if err != nil {
		a.dead.Store(err)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := a.srv.Shutdown(shutCtx); serr != nil {
		a.log.Warn("metrics server shutdown", "err", serr)
	}
	if serr := <-serveErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

func (a *Agent) capture(ctx context.Context) error {
	popts, err := a.cfg.probe()
	if err != nil {
		return err
	}
	if len(a.cfg.Cgroups) > 0 {
		root, err := bpf.Preflight(popts.CgroupRoot)
		if err != nil {
			return err
		}
		popts.CgroupRoot = root
		cg := capture.NewCgroups(root)
		for _, p := range a.cfg.Cgroups {
			id, err := cg.Resolve(p)
			if err != nil {
				return err
			}
			popts.Cgroups = append(popts.Cgroups, id)
		}
	}
	namer, err := a.namer(ctx)
	if err != nil {
		return err
	}
	watchers := watch.New()
	cfg, err := a.pipeline(popts, namer, watchers)
	if err != nil {
		return err
	}
	stopAPI, err := a.serveAPI(watchers)
	if err != nil {
		return err
	}
	defer stopAPI()
	sum, err := capture.Run(ctx, cfg)
	if sum != nil {
		a.log.Info("capture ended", "packets", sum.Packets, "calls", sum.Decoder.Calls, "lost", sum.Lost(),
			"gaps", sum.Decoder.TCP.Gaps, "cpu", sum.CPU.Round(time.Millisecond).String())
	}
	return err
}

// pipeline is what the capture feeds: the watchers get the connections
// as decoded, the metrics each end's view of them.
func (a *Agent) pipeline(popts bpf.Options, namer metrics.Namer, watchers *watch.Server) (capture.Config, error) {
	dir := &directory{}
	rec, err := metrics.New(a.reg, dir, namer, a.cfg.metrics())
	if err != nil {
		return capture.Config{}, fmt.Errorf("registering metrics: %w", err)
	}
	var lostLogged, parkedFreed uint64
	var freeing atomic.Bool
	return capture.Config{
		Probe:      popts,
		Sink:       watchers,
		Views:      rec,
		ViewFrames: func(t http2.Type) bool { return t == http2.TypeRSTStream },
		AfterBatch: watchers.Flush,
		Packets:    watchers.Packet,
		// Header lists only while someone watches: metrics read none.
		Decoder:   decoder.Options{ReuseCalls: true, HeaderLists: watchers.Active, TCP: tcp.Config{MaxConns: a.cfg.Limits.MaxConnections}},
		Sockets:   func(s *capture.Sockets) { dir.s = s },
		Describe:  describer(namer),
		Lifecycle: rec.Lifecycle,
		Progress: func(s *capture.Summary) {
			rec.Progress(s)
			// Many connections went quiet and gave their parsers back:
			// return the memory now rather than at the runtime's next
			// forced collection (minutes, when nothing else allocates).
			if s.Decoder.Parked-parkedFreed >= parkedFree && freeing.CompareAndSwap(false, true) {
				parkedFreed = s.Decoder.Parked
				go func() { // not on the capture's goroutine: a full collection takes a while
					debug.FreeOSMemory()
					freeing.Store(false)
				}()
			}
			if lost := s.Lost(); lost > lostLogged {
				a.log.Warn("events lost for want of ring buffer space", "lost", lost, "hint", "raise bufferMiB or narrow the filters")
				lostLogged = lost
			}
		},
		Ready: func(p *bpf.Probe) {
			// A second observation's payload is copied only while someone
			// records packets.
			watchers.PacketsWanted(func(on bool) {
				if err := p.SetTwinPayload(on); err != nil {
					a.log.Warn("packets watched: second observations keep their headers only", "err", err)
				}
			})
			// Segments of PING and WINDOW_UPDATE frames alone, which the
			// metrics need not, are copied only while someone watches
			// frames or packets.
			// A watcher gets the packets stamped after it came, when
			// every segment is copied again.
			watchers.Clock(p.Now)
			// The ring is read at least every quarter second while events
			// only end in metrics (each wake-up costs the reader its
			// caches), and every tenth while someone watches them live.
			watchers.Watched(func(on bool) {
				if on {
					p.SetPollInterval(bpf.PollInterval)
				} else {
					p.SetPollInterval(bpf.LazyPollInterval)
				}
			})
			watchers.FramesWanted(func(on bool) {
				if err := p.SetElideControl(!on); err != nil {
					a.log.Warn("frames watched: PING and WINDOW_UPDATE segments may still be left out", "err", err)
				}
			})
			for _, w := range p.Warnings() {
				a.log.Warn("optional hook", "detail", w)
			}
			if !bpf.CanTrace() {
				a.log.Warn("no CAP_SYS_PTRACE: sockets opened before the agent started are not attributed to their processes")
			}
			a.log.Info("capturing", "cgroup_root", p.CgroupRoot(), "ports", a.cfg.Ports, "hosts", a.cfg.Hosts)
			a.ready.Store(true)
		},
	}, nil
}

// serveAPI serves the live capture API on the configured socket and
// address; stop ends it, letting streams see their end.
func (a *Agent) serveAPI(w *watch.Server) (stop func(), err error) {
	var lns []net.Listener
	sock := a.cfg.APISocket
	if sock == "none" {
		sock = ""
	}
	if sock != "" {
		if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
			return nil, fmt.Errorf("api socket: %w", err)
		}
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return nil, fmt.Errorf("api socket %s: another agent serves it (give this one --api-socket PATH or none)", sock)
		}
		os.Remove(sock) // a stale one from a previous run
		ln, err := net.Listen("unix", sock)
		if err != nil {
			return nil, fmt.Errorf("api socket: %w", err)
		}
		if err := os.Chmod(sock, 0o600); err != nil {
			ln.Close()
			return nil, fmt.Errorf("api socket: %w", err)
		}
		lns = append(lns, ln)
	}
	if a.cfg.APIAddr != "" {
		tlsCfg, err := apiTLS(a.cfg.APITLS)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, err
		}
		ln, err := net.Listen("tcp", a.cfg.APIAddr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("api address: %w", err)
		}
		if tlsCfg != nil {
			ln = tls.NewListener(ln, tlsCfg)
		}
		lns = append(lns, ln)
	} else if a.cfg.APITLS != (APITLS{}) {
		return nil, errors.New("apiTLS secures apiAddr (--api-addr), which is not set")
	}
	if len(lns) == 0 {
		return func() {}, nil
	}
	gs := grpc.NewServer()
	api.RegisterCaptureServer(gs, w)
	for _, ln := range lns {
		a.log.Info("serving the capture API", "addr", ln.Addr().String())
		go gs.Serve(ln)
	}
	return func() {
		done := make(chan struct{})
		go func() { gs.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			gs.Stop()
		}
		if sock != "" {
			os.Remove(sock)
		}
	}, nil
}

// namer names workloads by pod when Kubernetes is there, else by process
// and address.
func (a *Agent) namer(ctx context.Context) (metrics.Namer, error) {
	switch a.cfg.Kubernetes {
	case "off":
		return metrics.ProcessNamer{}, nil
	case "auto":
		if a.cfg.Kubeconfig == "" && !k8s.InCluster() {
			a.log.Info("not in a Kubernetes pod: naming workloads by process and address")
			return metrics.ProcessNamer{}, nil
		}
	case "on":
	default:
		return nil, fmt.Errorf("kubernetes %q: want auto, on or off", a.cfg.Kubernetes)
	}
	node := a.cfg.NodeName
	if node == "" {
		var err error
		if node, err = k8s.NodeName(); err != nil {
			return nil, err
		}
	}
	client, err := k8s.Client(a.cfg.Kubeconfig)
	if err == nil {
		pods := k8s.NewPods()
		if err = k8s.Watch(ctx, client, node, pods, 30*time.Second); err == nil {
			namer := &k8s.Namer{Pods: pods}
			if *a.cfg.ClusterPods {
				remote := k8s.NewPods()
				if err := k8s.WatchCluster(ctx, client, remote, 30*time.Second); err != nil {
					a.log.Warn("far ends are named by address: the cluster's pods could not be listed", "err", err)
				} else {
					namer.Remote = remote
				}
				services := k8s.NewServices()
				if err := k8s.WatchServices(ctx, client, services, 30*time.Second); err != nil {
					a.log.Warn("cluster IPs are named by address: the cluster's services could not be listed", "err", err)
				} else {
					namer.Services = services
				}
			}
			a.log.Info("naming workloads by pod", "node", node, "pods", pods.Len(), "cluster_pods", namer.Remote.Len(), "services", namer.Services.Len())
			return namer, nil
		}
	}
	if a.cfg.Kubernetes == "on" {
		return nil, err
	}
	a.log.Warn("Kubernetes not reachable: naming workloads by process and address", "err", err)
	return metrics.ProcessNamer{}, nil
}

// parkedFree is how many HTTP/2 parsers given back by quiet connections
// make it worth returning memory to the system at once.
const parkedFree = 4096

// apiTLS is the TLS configuration of the capture API's TCP listener; nil
// when none is asked for. The unix socket needs none: only root reaches
// it.
func apiTLS(c APITLS) (*tls.Config, error) {
	if c == (APITLS{}) {
		return nil, nil
	}
	if c.Cert == "" || c.Key == "" {
		return nil, errors.New("apiTLS needs both cert and key (--api-tls-cert, --api-tls-key)")
	}
	pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
	if err != nil {
		return nil, fmt.Errorf("apiTLS: %w", err)
	}
	// h2: gRPC clients require ALPN to say HTTP/2.
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"}}
	if c.ClientCA != "" {
		pem, err := os.ReadFile(c.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("apiTLS client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("apiTLS client CA %s: no PEM certificate in it", c.ClientCA)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// describer names pods in pcapng comments when the agent knows them.
func describer(n metrics.Namer) func(uint64, uint32, string) string {
	if k, ok := n.(*k8s.Namer); ok {
		return k.Describe
	}
	return nil
}

// directory is the capture's socket directory once it exists; before,
// every socket is unknown.
type directory struct{ s *capture.Sockets }

func (d *directory) Get(observer uint64) capture.Socket {
	if d.s == nil {
		return capture.Socket{}
	}
	return d.s.Get(observer)
}

func (d *directory) End(local, remote netip.AddrPort) (uint64, bool) {
	if d.s == nil {
		return 0, false
	}
	return d.s.End(local, remote)
}

func (d *directory) Peer(local, remote netip.AddrPort) (uint64, bool) {
	if d.s == nil {
		return 0, false
	}
	return d.s.Peer(local, remote)
}
