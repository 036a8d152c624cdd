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

// fromAgent streams from a running hoptap-agent instead of loading
// programs here: the agent renders the events as asked (text, --calls or
// -o json), packets go to -w.
func fromAgent(ctx context.Context, stdout, stderr io.Writer, o *options) error {
	if o.Verbose {
		return errors.New("--agent streams text, --calls or -o json; -V detail trees are not streamed")
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
		return errors.New("--agent takes --port, --host, --method and --status; --pid, --cgroup and --container select in the kernel of this node only")
	}
	spec, err := o.Spec()
	if err != nil {
		return err
	}
	req := &api.WatchRequest{Hosts: spec.Hosts, Methods: spec.Methods, Statuses: spec.Statuses,
		Frames: !o.Calls, Packets: o.write != "", ShowSecrets: o.ShowSecrets, Format: format}
	for _, p := range spec.Ports {
		req.Ports = append(req.Ports, uint32(p))
	}
	target := o.agent
	if strings.HasPrefix(target, "/") {
		target = "unix://" + target
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("agent %s: %w", o.agent, err)
	}
	defer conn.Close()
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	stream, err := api.NewCaptureClient(conn).Watch(ctx, req)
	if err != nil {
		return fmt.Errorf("agent %s: %w", o.agent, err)
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
		if pcap, err = capture.NewPcapNG(w, "the agent at "+o.agent, bpf.Options{Snaplen: o.snaplen}); err != nil {
			return err
		}
		defer pcap.Flush()
	}
	fmt.Fprintf(stderr, "hoptap: watching the agent at %s (Ctrl-C to stop)\n", o.agent)
	var events, packets, lost uint64
	lastFlush := time.Now()
	for {
		ev, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				break
			}
			return fmt.Errorf("agent %s: %w", o.agent, err)
		}
		switch e := ev.Event.(type) {
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
				pcap.Write(&bpf.Event{Kind: bpf.KindPacket, TS: time.Unix(0, p.TsUnixNano), Dir: dir, Data: p.Data, Len: int(p.WireLen)}, p.Comment)
				if time.Since(lastFlush) > 200*time.Millisecond {
					pcap.Flush()
					lastFlush = time.Now()
				}
			}
		case *api.WatchEvent_Lost:
			lost += e.Lost.Events
		}
		if o.count > 0 && events+packets >= uint64(o.count) {
			break
		}
	}
	if pcap != nil {
		if err := pcap.Flush(); err != nil {
			return fmt.Errorf("pcapng: %w", err)
		}
	}
	if !o.Quiet {
		fmt.Fprintf(stderr, "hoptap: %d events and %d packets from the agent; %d lost because this client read too slowly\n", events, packets, lost)
	}
	return nil
}
