package capture

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hoptap/hoptap/agent/api"
	"github.com/hoptap/hoptap/agent/capture"
	"github.com/hoptap/hoptap/bpf"
)

// fromAgents streams from running hoptap-agents instead of loading
// programs here: one reached directly (--agent), or those --node or
// --pod pick through Kubernetes. The agents render the events as asked
// (text, --calls or -o json); packets go to -w, each comment naming the
// node when they come through Kubernetes.
func fromAgents(ctx context.Context, stdout, stderr io.Writer, o *options) error {
	if o.Verbose {
		return errors.New("--agent, --node and --pod stream text, --calls or -o json; -V detail trees are not streamed")
	}
	if o.agent != "" && (o.node != "" || o.pod != "") {
		return errors.New("--agent reaches one agent directly; --node and --pod find agents through Kubernetes: give one or the other")
	}
	format := "text"
	switch {
	case o.Output == "json":
		format = "json"
	case o.Output != "text":
		return fmt.Errorf("unknown output format %q: want text or json", o.Output)
	case o.Calls:
		format = "calls"
	}
	if len(o.pids) > 0 || len(o.cgroups) > 0 || len(o.containers) > 0 || len(o.wire) > 0 || o.runStats {
		return errors.New("the agents take --port, --host, --method and --status; --pid, --cgroup, --container, --wire and --bpf-stats work in the kernel of this node only")
	}
	spec, err := o.Spec()
	if err != nil {
		return err
	}
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	creds, err := agentCreds(o)
	if err != nil {
		return err
	}
	var targets []agentTarget
	hosts := spec.Hosts
	if o.agent != "" {
		addr := o.agent
		if strings.HasPrefix(addr, "/") {
			addr = "unix://" + addr
		}
		targets = []agentTarget{{name: "the agent at " + o.agent, addr: addr, stop: func() {}}}
	} else {
		var podHosts []string
		if targets, podHosts, err = kubeTargets(ctx, stderr, o); err != nil {
			return err
		}
		defer func() {
			for _, t := range targets {
				t.stop()
			}
		}()
		if len(podHosts) > 0 {
			if len(hosts) > 0 {
				return errors.New("--pod selects the pod's addresses: --host cannot narrow them further")
			}
			hosts = podHosts
		}
	}
	req := &api.WatchRequest{Hosts: hosts, Methods: spec.Methods, Statuses: spec.Statuses,
		Frames: !o.Calls, Packets: o.write != "", ShowSecrets: o.ShowSecrets, Format: format}
	for _, p := range spec.Ports {
		req.Ports = append(req.Ports, uint32(p))
	}

	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.name
	}
	watched := strings.Join(names, ", ")
	out := stdout
	var pcap *capture.PcapNG
	if o.write != "" {
		w := stdout
		if o.write != "-" {
			f, err := os.Create(o.write)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		} else {
			out = io.Discard
		}
		if pcap, err = capture.NewPcapNG(w, watched, bpf.Options{Snaplen: o.snaplen}, nil); err != nil {
			return err
		}
		defer pcap.Flush()
	}

	// One goroutine per agent; this one writes everything, in arrival
	// order, so lines and packets never interleave mid-way.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type item struct {
		t   *agentTarget
		ev  *api.WatchEvent
		err error
	}
	items := make(chan item, 64)
	for i := range targets {
		t := &targets[i]
		conn, err := grpc.NewClient(t.addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		defer conn.Close()
		stream, err := api.NewCaptureClient(conn).Watch(ctx, req)
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		go func() {
			for {
				ev, err := stream.Recv()
				select {
				case items <- item{t, ev, err}:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}()
	}
	fmt.Fprintf(stderr, "hoptap: watching %s (Ctrl-C to stop)\n", watched)

	var events, packets, lost uint64
	lastFlush := time.Now()
	open := len(targets)
	var failed error
loop:
	for open > 0 {
		var it item
		select {
		case it = <-items:
		case <-ctx.Done():
			break loop
		}
		if it.err != nil {
			open--
			if !errors.Is(it.err, io.EOF) && ctx.Err() == nil {
				// One agent going away does not stop the others.
				fmt.Fprintf(stderr, "hoptap: %s: %v\n", it.t.name, it.err)
				failed = fmt.Errorf("%s: %w", it.t.name, it.err)
			}
			continue
		}
		switch e := it.ev.Event.(type) {
		case *api.WatchEvent_Json:
			events++
			fmt.Fprintln(out, e.Json)
		case *api.WatchEvent_Packet:
			packets++
			if pcap != nil {
				p := e.Packet
				dir := bpf.Egress
				if p.Ingress {
					dir = bpf.Ingress
				}
				comment := p.Comment
				if it.t.node != "" {
					comment = "node " + it.t.node + ": " + comment
				}
				pcap.Write(&bpf.Event{Kind: bpf.KindPacket, TS: time.Unix(0, p.TsUnixNano), Dir: dir, Data: p.Data, Len: int(p.WireLen)}, comment)
				if time.Since(lastFlush) > 200*time.Millisecond {
					pcap.Flush()
					lastFlush = time.Now()
				}
			}
		case *api.WatchEvent_Lost:
			lost += e.Lost.Events
		}
		if o.count > 0 && events+packets >= uint64(o.count) {
			break loop
		}
	}
	if pcap != nil {
		if err := pcap.Flush(); err != nil {
			return fmt.Errorf("pcapng: %w", err)
		}
	}
	if !o.Quiet {
		from := "the agent"
		if len(targets) > 1 {
			from = fmt.Sprintf("%d agents", len(targets))
		}
		fmt.Fprintf(stderr, "hoptap: %d events and %d packets from %s; %d lost because this client read too slowly\n", events, packets, from, lost)
	}
	if failed != nil && open == 0 && events+packets == 0 {
		return failed
	}
	return nil
}

// agentCreds is plain text (a unix socket, or a port only the API
// server's port-forward reaches), or TLS when --agent-ca is given, with
// a client certificate for agents that ask for one.
func agentCreds(o *options) (credentials.TransportCredentials, error) {
	if o.agentCA == "" {
		if o.agentCert != "" || o.agentKey != "" || o.agentServerName != "" {
			return nil, errors.New("--agent-cert, --agent-key and --agent-server-name go with --agent-ca")
		}
		return insecure.NewCredentials(), nil
	}
	if strings.HasPrefix(o.agent, "/") {
		return nil, errors.New("--agent-ca: the agent's unix socket is plain (only root reaches it); TLS is for its TCP address")
	}
	pem, err := os.ReadFile(o.agentCA)
	if err != nil {
		return nil, fmt.Errorf("--agent-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--agent-ca %s: no PEM certificate in it", o.agentCA)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, ServerName: o.agentServerName}
	if cfg.ServerName == "" {
		cfg.ServerName = "hoptap-agent"
		if host, _, err := net.SplitHostPort(o.agent); err == nil {
			cfg.ServerName = host
		}
	}
	if o.agentCert != "" || o.agentKey != "" {
		pair, err := tls.LoadX509KeyPair(o.agentCert, o.agentKey)
		if err != nil {
			return nil, fmt.Errorf("--agent-cert: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(cfg), nil
}
