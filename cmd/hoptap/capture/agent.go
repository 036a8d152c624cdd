package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
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
	if len(o.pids) > 0 || len(o.cgroups) > 0 || len(o.containers) > 0 {
		return errors.New("the agents take --port, --host, --method and --status; --pid, --cgroup and --container select in the kernel of this node only")
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
		names := make([]string, len(targets))
		for i, t := range targets {
			names[i] = t.name
		}
		if pcap, err = capture.NewPcapNG(w, strings.Join(names, ", "), bpf.Options{Snaplen: o.snaplen}); err != nil {
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
		conn, err := grpc.NewClient(t.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
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
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.name
	}
	fmt.Fprintf(stderr, "hoptap: watching %s (Ctrl-C to stop)\n", strings.Join(names, ", "))

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
