// Package capture implements "hoptap capture": live decoding of a node's
// gRPC traffic with eBPF, and pcapng for Wireshark.
package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/hoptap/hoptap/agent/capture"
	"github.com/hoptap/hoptap/agent/priority"
	"github.com/hoptap/hoptap/bpf"
	"github.com/hoptap/hoptap/cmd/hoptap/view"
	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/filter"
	"github.com/hoptap/hoptap/decoder/http2"
)

type options struct {
	view.Options
	write      string
	count      int
	duration   time.Duration
	snaplen    int
	ports      []string
	hosts      []string
	pids       []string
	cgroups    []string
	containers []string
	wire       []string
	runStats   bool
	payload    string
	cgroupRoot string
	bufferMiB  int
	nice       int
	background bool
	procs      int
	update     time.Duration
	alternate  time.Duration
	agent      string
	// Through Kubernetes (kube.go).
	node, pod      string
	kubeconfig     string
	kubeContext    string
	agentNamespace string
	agentPort      int
	// TLS to the agents' TCP API (mutual with a client certificate).
	agentCA, agentCert, agentKey, agentServerName string
}

// Command returns the cobra command.
func Command() *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "capture",
		Short: "Capture and decode gRPC live on this node with eBPF",
		Long: `Capture TCP on every socket of this node (all containers, all network
namespaces, loopback) with eBPF programs at the cgroup v2 root, and decode
HTTP/2 and gRPC live, exactly as "hoptap read" decodes files.

The programs only copy: they never drop, change or delay traffic, and the
kernel detaches them when hoptap exits, however it exits. Filters run in
the kernel, so only selected packets are copied. By default payload is
copied only for connections recognised as HTTP/2 or TLS (--payload).

When both ends of a connection are on this node, every packet is seen
twice: at the sender's egress and at the receiver's ingress. With -w both
go to the pcapng file, one interface per capture point, each packet with
a comment naming its process and cgroup; without -w the kernel only
counts the second. The decoder gets each packet once.

The traffic watched comes first: once attached, the capture runs in the
background (SCHED_BATCH at niceness 19), on the CPU time others leave: a
thread that wakes on its core preempts it, and the scheduler wakes
threads on an idle core first. A small guard process ("hoptap
priority-guard") raises it to niceness 10 (--nice) while its ring buffer
is half full or it is starved, so that nothing is lost for want of CPU;
--background=false keeps it at that niceness throughout. It reads the
kernel's events in batches: output trails the traffic by up to a quarter
of a second on a terminal (and with -w - or -c), by up to a second into
a file or a pipe, where fewer wake-ups save CPU (--update-interval).

--wire also stamps the same segments where they cross chosen interfaces
of this host (tcx, Linux 6.6+): a pod's host-side veth, a bridge port,
the uplink. Each stamp is paired with the segment's observation just
before it on its way through the node (its socket, or another chosen
interface), and the summary gives every hop's p50, p99 and max: how long
the node's stack, NAT, mesh redirects and queues held segments between
those points. With -w the stamps (headers only) go to an interface block
per chosen interface, and each observation's comment names the one
before it ("hop=egress#12 since=8.1µs").

Needs root (or CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN) and cgroup v2.
Stop with Ctrl-C, -c or --duration; a summary of what was seen and lost
goes to stderr.

In a cluster, --node and --pod stream from the hoptap agents (deploy/)
instead, through the API server's port-forward with your kubeconfig, so
Kubernetes RBAC (pods/portforward in the agents' namespace) decides who
may capture; nothing runs as root here. --pod watches the pod's
addresses, and the cluster IPs of the Services that select it, at every
node's agent: its peers may run anywhere. --agent does the same with one
agent reached directly.`,
		Example: `  sudo hoptap capture --port 50051
  sudo hoptap capture --calls --duration 30s
  sudo hoptap capture -o json --method '/grpc.health.v1.Health/*' -w calls.pcapng
  sudo hoptap capture --pid $(pidof my-server) -c 1000 -w out.pcapng
  sudo hoptap capture -w - --port 50051 | wireshark -k -i -
  sudo hoptap capture --calls --port 50051 --wire veth-a,eth0      # per-hop times
  tshark -r out.pcapng -d tcp.port==50051,http2     # Decode As for Wireshark
  hoptap capture --pod shop/checkout-7d4b9c-x2x9z --calls
  hoptap capture --node worker-3 -o json -w node.pcapng --port 50051`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), &o)
		},
	}
	f := cmd.Flags()
	o.AddFlags(f)
	f.StringVarP(&o.write, "write", "w", "", "write packets to this pcapng file (\"-\": standard output, for wireshark -k -i -)")
	f.IntVarP(&o.count, "count", "c", 0, "stop after this many packets")
	f.DurationVar(&o.duration, "duration", 0, "stop after this long, e.g. 30s")
	f.IntVarP(&o.snaplen, "snaplen", "s", 0, "keep at most this many bytes of each packet, from its IP header on (0: 65535)")
	f.StringSliceVar(&o.ports, "port", nil, "only connections with this TCP port at either end (repeatable; in the kernel)")
	f.StringSliceVar(&o.hosts, "host", nil, "only connections with this address or CIDR at either end (repeatable; in the kernel)")
	f.StringSliceVar(&o.pids, "pid", nil, "only connections with a socket of this process (repeatable)")
	f.StringSliceVar(&o.cgroups, "cgroup", nil, "only sockets in this cgroup v2 or below it: a path, absolute or under the cgroup root (repeatable; in the kernel)")
	f.StringSliceVar(&o.containers, "container", nil, "only sockets of this container, by id or a 12+ character prefix (repeatable; in the kernel)")
	f.BoolVar(&o.runStats, "bpf-stats", false, "have the kernel time the capture's programs (its cost in the traffic's own path, which cpu leaves out) and print it in the summary; every BPF program on the host pays two clock reads a run meanwhile")
	f.StringSliceVar(&o.wire, "wire", nil, "also stamp the selected segments where they cross this interface of this host, both ways (tcx, Linux 6.6+), for per-hop times through the node; headers only (repeatable)")
	f.StringVar(&o.payload, "payload", "auto", "which payloads to copy: auto (HTTP/2 and TLS connections only), all, or headers (none)")
	f.StringVar(&o.cgroupRoot, "cgroup-root", "", "cgroup v2 mount to attach at, or a hybrid host's cgroup mount with it at unified/ (default: found in /proc/self/mountinfo)")
	f.IntVar(&o.nice, "nice", DefaultNice, "niceness, 1-19, while not in the background (--background): the capture yields the CPU to the traffic it watches, whose threads preempt it (on a host saturated for longer than the ring buffer holds it may lose events, counted); 0: the priority it was started with")
	f.BoolVar(&o.background, "background", true, "run in the background (SCHED_BATCH, niceness 19) while keeping up, raised to --nice by a guard process when half the ring buffer waits or the capture is starved; false: at --nice throughout")
	// Its name before the background replaced the idle class.
	f.BoolVar(&o.background, "idle", true, "")
	f.MarkDeprecated("idle", "use --background (the capture now waits in SCHED_BATCH at niceness 19, not the idle class)")
	f.IntVar(&o.procs, "procs", 1, "Go processors to run on (GOMAXPROCS): 1 keeps the ring's reader and the decoder on one core's caches; GOMAXPROCS in the environment wins")
	f.DurationVar(&o.update, "update-interval", 0, "local capture: longest the kernel's events wait before they are decoded and printed, 10ms to 5s (default: 250ms when standard output is a terminal, with -w - or with -c, else 1s: each wake-up costs the capture its caches again)")
	// For make bench-capture: capture off and on by turns within one
	// run of traffic, each switch on standard error with its time.
	f.DurationVar(&o.alternate, "alternate", 0, "detach and attach the programs in the traffic's path by turns, each this long, printing \"alternate: on|off UNIXNANOS\" to standard error (for make bench-capture)")
	f.MarkHidden("alternate")
	f.IntVarP(&o.bufferMiB, "buffer-size", "B", 16, "ring buffer size in MiB, a power of two; more absorbs bursts")
	f.StringVar(&o.agent, "agent", "", "stream from a running hoptap-agent instead: its unix socket (/run/hoptap/agent.sock) or HOST:PORT; -o json and/or -w")
	f.StringVar(&o.node, "node", "", "stream from the agent on this Kubernetes node, through the API server (kubeconfig)")
	f.StringVar(&o.pod, "pod", "", "stream this pod's connections (NAMESPACE/NAME) from the agents of every node, through the API server")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig for --node and --pod (default: $KUBECONFIG, then ~/.kube/config)")
	f.StringVar(&o.kubeContext, "context", "", "kubeconfig context for --node and --pod (default: the current one)")
	f.StringVar(&o.agentNamespace, "agent-namespace", "hoptap", "namespace of the agents' DaemonSet, for --node and --pod")
	f.StringVar(&o.agentCA, "agent-ca", "", "speak TLS to the agent's TCP API, trusting this PEM CA (the agent: --api-tls-cert)")
	f.StringVar(&o.agentCert, "agent-cert", "", "with --agent-ca, present this PEM client certificate (and --agent-key): mutual TLS")
	f.StringVar(&o.agentKey, "agent-key", "", "the PEM private key of --agent-cert")
	f.StringVar(&o.agentServerName, "agent-server-name", "", "with --agent-ca, the name the agent's certificate must have (default: the host of --agent; hoptap-agent for --node and --pod)")
	f.IntVar(&o.agentPort, "agent-port", 9465, "the agents' capture API port in their pods (deploy/: apiPort), for --node and --pod")
	return cmd
}

// DefaultNice is the capture's niceness unless --nice says otherwise:
// the traffic watched comes first. In bench-capture's sustained
// saturation runs it cost the peers less throughput in three
// comparisons of four (18 % to 5 % and 11 % to none; the fourth 4.7 %
// to 6.1 %, inside the noise), and the ring never overflowed.
const DefaultNice = 10

func run(ctx context.Context, stdout, stderr io.Writer, o *options) error {
	if o.count < 0 {
		return fmt.Errorf("-c %d: want a number of packets (0: no limit)", o.count)
	}
	if o.duration < 0 {
		return fmt.Errorf("--duration %v: want a positive duration such as 30s (0: until Ctrl-C)", o.duration)
	}
	if o.agent != "" || o.node != "" || o.pod != "" {
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		return fromAgents(ctx, stdout, stderr, o)
	}
	poll, err := o.pollInterval(stdout)
	if err != nil {
		return err
	}
	if o.nice < 0 || o.nice > 19 {
		return fmt.Errorf("--nice %d: want 0 to 19", o.nice)
	}
	if o.procs < 1 || o.procs > 1024 {
		return fmt.Errorf("--procs %d: want 1 to 1024", o.procs)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(o.procs)
	}
	end, err := o.Begin()
	if err != nil {
		return err
	}
	defer end()
	if err := priority.Nice(o.nice); err != nil {
		fmt.Fprintf(stderr, "hoptap: warning: running at the priority it was started with: %v\n", err)
	}
	popts, err := o.probeOptions()
	if err != nil {
		return err
	}
	popts.PollInterval = poll
	pids, err := parsePIDs(o.pids)
	if err != nil {
		return err
	}
	spec, err := o.Spec()
	if err != nil {
		return err
	}
	hints, err := o.HintPorts()
	if err != nil {
		return err
	}
	// With -w -, standard output is the pcapng stream: nothing else may
	// go there.
	out := stdout
	var pcap io.Writer
	switch o.write {
	case "":
	case "-":
		pcap, out = stdout, io.Discard
	default:
		f, err := os.Create(o.write)
		if err != nil {
			return err
		}
		defer f.Close()
		pcap = f
	}
	printer, err := o.Printer(out)
	if err != nil {
		return err
	}
	printer.LiveCalls()
	// Without call filters the printer takes the events itself.
	var sink decoder.Sink = printer
	if !spec.Empty() {
		if sink, err = filter.New(spec, printer); err != nil {
			return err
		}
	}
	if !o.Quiet {
		sink = newMidwayHint(sink, stderr)
	}
	// Containers and cgroups are resolved against the root the probe will
	// use, before anything is loaded.
	if len(o.cgroups) > 0 || len(o.containers) > 0 {
		root, err := bpf.Preflight(popts.CgroupRoot)
		if err != nil {
			return err
		}
		popts.CgroupRoot = root
		cg := capture.NewCgroups(root)
		for _, p := range o.cgroups {
			id, err := cg.Resolve(p)
			if err != nil {
				return err
			}
			popts.Cgroups = append(popts.Cgroups, id)
		}
		for _, c := range o.containers {
			ids, err := cg.Container(c)
			if err != nil {
				return err
			}
			popts.Cgroups = append(popts.Cgroups, ids...)
		}
	}
	dopts := decoder.Options{Ports: hints, KeepBodies: printer.Bodies != nil, ReuseCalls: true}
	if !printer.WantsHeaderLists() {
		dopts.HeaderLists = func() bool { return false } // text prints no metadata
	}
	if !printer.WantsFrames() {
		// The calls table: the decoder skips building frame events. (The
		// kernel still copies segments of PING and WINDOW_UPDATE frames
		// alone: leaving them out would need their frames walked in the
		// kernel, which costs the sending application about what it
		// saves here. The agent walks them anyway, for its stamps.)
		dopts.Frames = func(http2.Type) bool { return false }
	}
	started := 0 // warnings printed when the capture started
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := capture.Config{
		Probe:    popts,
		PIDs:     pids,
		Count:    o.count,
		Duration: o.duration,
		PcapNG:   pcap,
		Sink:     sink,
		// The printer is synchronous: nothing of a call outlives its event.
		Decoder:    dopts,
		AfterBatch: func() { printer.Flush() },
		Background: o.background,
		RunStats:   o.runStats,
		Ready: func(p *bpf.Probe) {
			for _, w := range p.Warnings() {
				fmt.Fprintf(stderr, "hoptap: warning: %s\n", w)
			}
			started = len(p.Warnings())
			if o.alternate > 0 {
				go alternate(ctx, p, o.alternate, stderr)
			}
			if !o.Quiet {
				fmt.Fprintf(stderr, "hoptap: capturing at cgroup v2 root %s (egress and ingress of every socket)%s%s; Ctrl-C stops\n", p.CgroupRoot(), wireNote(p.Wire()), o.describe())
			}
		},
	}
	sum, err := capture.Run(ctx, cfg)
	if sum == nil {
		return err
	}
	for _, w := range sum.Warnings[min(started, len(sum.Warnings)):] {
		fmt.Fprintf(stderr, "hoptap: warning: %s\n", w)
	}
	if cerr := printer.Close(); cerr != nil && !errors.Is(cerr, os.ErrClosed) && err == nil {
		err = cerr
	}
	if sum.WriteErr != nil && err == nil {
		err = fmt.Errorf("writing %s: %w", o.write, sum.WriteErr)
	}
	if !o.Quiet {
		printSummary(stderr, sum)
	}
	return err
}

// alternate pauses the probe's programs in the traffic's path and resumes them by
// turns, every, until ctx ends (--alternate). The switch's time is taken
// once it is done, so the traffic after it is what the line says.
func alternate(ctx context.Context, p *bpf.Probe, every time.Duration, stderr io.Writer) {
	t := time.NewTicker(every)
	defer t.Stop()
	fmt.Fprintf(stderr, "alternate: on %d\n", time.Now().UnixNano())
	for on := true; ; {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		on = !on
		if err := p.Pause(!on); err != nil {
			fmt.Fprintf(stderr, "hoptap: warning: --alternate: %v\n", err)
			return
		}
		state := "off"
		if on {
			state = "on"
		}
		fmt.Fprintf(stderr, "alternate: %s %d\n", state, time.Now().UnixNano())
	}
}

func (o *options) probeOptions() (bpf.Options, error) {
	p, err := capture.Filters{Payload: o.payload, Snaplen: o.snaplen, Ports: o.ports, Hosts: o.hosts,
		BufferMiB: o.bufferMiB, CgroupRoot: o.cgroupRoot}.Probe()
	// Read when a quarter of the ring waits, as the agent does, or
	// every --update-interval (pollInterval): about 6 % less CPU with -o
	// json than at a sixteenth and 100 ms (five same-traffic rounds,
	// 0.85–1.00).
	p.Lazy = true
	for _, w := range o.wire { // the flag splits at commas already
		if w = strings.TrimSpace(w); w != "" {
			p.Wire = append(p.Wire, w)
		}
	}
	return p, err
}

// The update intervals pollInterval chooses from, unless
// --update-interval says. Every wake-up costs the capture its caches
// again (the traffic it watches ran on its core in between): with -o
// json at 4,800 calls/s, reading every 1 s took 8 % off the capture's CPU
// against every 250 ms (make ab, two runs of five rounds, either
// binary first: B/A 0.92 and 1/1.09), and every 10 ms cost 58 % more.
const (
	watchedInterval   = 250 * time.Millisecond // someone reads the output as it comes
	unwatchedInterval = time.Second            // it goes to a file or another program
)

// pollInterval is the longest the kernel's events wait before they are
// decoded and printed: --update-interval, else watchedInterval while
// standard output is a terminal or the pcapng stream of -w - (which
// Wireshark shows live) or with -c (whose caller waits for the capture
// to end, as tcpdump's does once it has the packets), else
// unwatchedInterval.
func (o *options) pollInterval(stdout io.Writer) (time.Duration, error) {
	if o.update != 0 {
		if o.update < 10*time.Millisecond || o.update > 5*time.Second {
			return 0, fmt.Errorf("--update-interval %v: want 10ms to 5s", o.update)
		}
		return o.update, nil
	}
	if o.write == "-" || o.count > 0 || isTerminal(stdout) {
		return watchedInterval, nil
	}
	return unwatchedInterval, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func parsePIDs(in []string) ([]uint32, error) {
	var out []uint32
	for _, s := range in {
		for _, one := range strings.Fields(strings.ReplaceAll(s, ",", " ")) {
			n, err := strconv.ParseUint(one, 10, 32)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("bad --pid %q: want a process id", one)
			}
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", n)); err != nil {
				return nil, fmt.Errorf("--pid %d: no such process", n)
			}
			out = append(out, uint32(n))
		}
	}
	return out, nil
}

// wireNote names the interfaces stamped, if any.
func wireNote(ifcs []bpf.WireInterface) string {
	if len(ifcs) == 0 {
		return ""
	}
	return " and where segments cross " + wireNames(ifcs) + " (tcx)"
}

func wireNames(ifcs []bpf.WireInterface) string {
	names := make([]string, len(ifcs))
	for i, w := range ifcs {
		names[i] = w.Name
	}
	return strings.Join(names, ", ")
}

func (o *options) describe() string {
	var parts []string
	add := func(name string, v []string) {
		if len(v) > 0 {
			parts = append(parts, name+" "+strings.Join(v, ","))
		}
	}
	add("port", o.ports)
	add("host", o.hosts)
	add("pid", o.pids)
	add("cgroup", o.cgroups)
	add("container", o.containers)
	if len(parts) == 0 {
		return ""
	}
	return ", filters: " + strings.Join(parts, "; ")
}

func printSummary(w io.Writer, s *capture.Summary) {
	k := s.Kernel
	wire := ""
	if len(s.WireInterfaces) > 0 {
		wire = fmt.Sprintf("; %d at wire interfaces", s.Wire)
	}
	both := fmt.Sprintf("; %d seen at both ends", s.BothEnds)
	if s.CountReached && s.BothEnds == 0 && k.Twins > 0 {
		// Only the kernel counted them, until it detached after -c:
		// how many were the packets' own is unknown.
		both = ""
	}
	fmt.Fprintf(w, "capture: %s in %s (%d egress, %d ingress%s%s), %s, %s, %s, cpu %s (+%s to start)\n",
		view.Count(s.Packets, "packet"), s.Elapsed.Round(time.Millisecond), s.Egress, s.Ingress, both, wire,
		view.Count(s.Decoder.Calls, "call"), view.Count(s.Lost(), "lost event"), view.Count(s.Decoder.TCP.Gaps, "TCP gap"),
		s.CPU.Round(time.Millisecond), s.StartupCPU.Round(time.Millisecond))
	fmt.Fprintf(w, "kernel: %d packets copied, %d lost (%d bytes) and %d other events lost for want of ring buffer space, %d cut by the snap length, %d with payload not copied (not HTTP/2 or TLS), %d unparsed\n",
		k.Packets, k.Lost, k.LostBytes, k.LostOther, k.Truncated, k.Omitted, k.Unparsed)
	if k.ElidedAcks > 0 {
		fmt.Fprintf(w, "kernel: %d bare ACKs of HTTP/2 connections left out, which no decoded output needs (-w keeps them)\n", k.ElidedAcks)
	}
	if k.Twins > 0 {
		until := ""
		if s.CountReached {
			until = ", until the programs detached after the -c limit (so also of packets past it)"
		}
		fmt.Fprintf(w, "kernel: %d second observations of packets between two local sockets counted, not copied (-w keeps both)%s\n", k.Twins, until)
	}
	printRunStats(w, s)
	tcp := fmt.Sprintf("tcp: %d sockets established, %d closed, %d retransmits", s.Established, s.Closed, s.Retransmits)
	if s.HandshakeP50 > 0 {
		tcp += fmt.Sprintf(", connect p50 %s", s.HandshakeP50)
	}
	if s.SRTTMax > 0 {
		tcp += fmt.Sprintf(", smoothed RTT p50 %s max %s", s.SRTTP50, s.SRTTMax)
	}
	fmt.Fprintln(w, tcp)
	if s.PIDFiltered > 0 || s.HeldForAttrib > 0 {
		fmt.Fprintf(w, "pid filter: %d observations of other connections left out, %d waited for their socket's owner, %d given up at the hold limits\n",
			s.PIDFiltered, s.HeldForAttrib, s.HeldDroppedBounds)
	}
	if s.Background {
		sess := ""
		if s.Priority.Session {
			sess = "; its session (alone in it) went with it, and is back as it was"
		}
		fmt.Fprintf(w, "priority: background (SCHED_BATCH, niceness 19); raised to niceness %d %d times (%d with half the ring waiting, %d starved), %s in all; the guard's cpu %s is in the total%s\n",
			s.Nice, s.Priority.Raises, s.Priority.Behind, s.Priority.Raises-s.Priority.Behind, s.Priority.Raised.Round(time.Millisecond), s.Priority.CPU.Round(time.Millisecond), sess)
	}
	printHops(w, s)
	if s.OwnersForgotten > 0 {
		fmt.Fprintf(w, "owners: %d socket owners forgotten to stay within bounds (shown as pid=?)\n", s.OwnersForgotten)
	}
	view.PrintSummaryLosses(w, s.Decoder, s.OmittedDecoded)
}

// printRunStats prints the programs' own cost (--bpf-stats), which the
// applications pay in their system time and softirqs.
func printRunStats(w io.Writer, s *capture.Summary) {
	if len(s.Programs) == 0 {
		return
	}
	var parts []string
	var total time.Duration
	for _, p := range s.Programs {
		parts = append(parts, fmt.Sprintf("%s %d runs at %s", p.Name, p.Runs, (p.Runtime/time.Duration(p.Runs)).Round(time.Nanosecond)))
		total += p.Runtime
	}
	per := ""
	if s.Decoder.Calls > 0 {
		per = fmt.Sprintf(", %s a call", (total / time.Duration(s.Decoder.Calls)).Round(10*time.Nanosecond))
	}
	fmt.Fprintf(w, "kernel: programs %s: %s in all%s, in the traffic's own path (not in cpu above)\n",
		strings.Join(parts, ", "), total.Round(10*time.Microsecond), per)
}

// printHops prints the wire stamps and the hops between points (--wire).
func printHops(w io.Writer, s *capture.Summary) {
	if len(s.WireInterfaces) == 0 {
		return
	}
	line := fmt.Sprintf("wire: %d segments stamped where they crossed %s, %d unparsed", s.Wire, wireNames(s.WireInterfaces), s.Kernel.WireUnparsed)
	if s.WireFiltered > 0 {
		line += fmt.Sprintf(", %d of connections the filters left out", s.WireFiltered)
	}
	fmt.Fprintln(w, line)
	for _, h := range s.Hops {
		fmt.Fprintf(w, "hop: %s -> %s: %d segments, p50 %s p99 %s max %s\n", h.From, h.To, h.Segments, h.P50, h.P99, h.Max)
	}
	if len(s.Hops) == 0 {
		fmt.Fprintln(w, "hop: none: no segment was seen at two points (is traffic crossing these interfaces, and selected?)")
	}
	if s.HopsDisordered > 0 || s.HopsOther > 0 {
		fmt.Fprintf(w, "hop: %d pairs of observations read out of time order (their hop unknown), %d hops past the bound on point pairs\n", s.HopsDisordered, s.HopsOther)
	}
}
