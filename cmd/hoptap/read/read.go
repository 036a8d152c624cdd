// Package read implements "hoptap read": decode pcap and pcapng files.
package read

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/filter"
	"github.com/hoptap/hoptap/decoder/pcapfile"
	"github.com/hoptap/hoptap/decoder/protobuf"
	"github.com/hoptap/hoptap/decoder/render"
)

type options struct {
	output    string
	verbose   bool
	calls     bool
	quiet     bool
	abs       bool
	hints     []string
	methods   []string
	status    []string
	hosts     []string
	ports     []string
	streams   []string
	bodies    bool
	protosets []string
	protos    []string
	protoPath []string
	cpuprof   string
}

// Command returns the cobra command.
func Command() *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "read FILE...",
		Short: "Decode gRPC from pcap or pcapng files",
		Long: `Decode gRPC from pcap or pcapng files ("-" reads standard input).

HTTP/2 is recognised by its client preface, or, on connections that began
before the capture, by the shape of its frames: no port configuration is
needed. Header values that cannot be known (an HPACK table entry inserted
before the capture began, or after bytes were lost) are shown as "?" in
text and null in JSON; they are never guessed.

Output modes:
  (default)  one line per HTTP/2 frame and connection event
  -V         a detail tree per frame, every header with its HPACK representation
  --calls    a table of calls, then per method: count, statuses, p50/p95/p99
  -o json    JSON lines: "frame", "call" and "conn" objects (see README)`,
		Example: `  hoptap read capture.pcapng
  hoptap read --calls capture.pcap
  hoptap read -o json --method '/grpc.testing.TestService/*' --status UNAVAILABLE capture.pcapng
  tcpdump -i lo -w - port 50051 | hoptap read -`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(cmd.OutOrStdout(), cmd.ErrOrStderr(), args, &o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	f.BoolVarP(&o.verbose, "verbose", "V", false, "print a detail tree per frame, like tshark -V")
	f.BoolVar(&o.calls, "calls", false, "print a table of calls and a per-method latency summary")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "do not print the summary on stderr")
	f.BoolVar(&o.abs, "abs-time", false, "print absolute times (UTC) instead of seconds since the first event")
	f.StringSliceVar(&o.hints, "decode-port", nil, "treat these TCP ports as HTTP/2 servers, like Wireshark's Decode As (optional)")
	f.StringSliceVar(&o.methods, "method", nil, "only calls whose :path matches this glob, e.g. '/pkg.Svc/*' (repeatable)")
	f.StringSliceVar(&o.status, "status", nil, "only calls with this gRPC status, by number or name (repeatable, comma-separated)")
	f.StringSliceVar(&o.hosts, "host", nil, "only connections with this address or CIDR at either end (repeatable)")
	f.StringSliceVar(&o.ports, "port", nil, "only connections with this port at either end (repeatable)")
	f.StringSliceVar(&o.streams, "stream", nil, "only this HTTP/2 stream id (repeatable)")
	f.BoolVar(&o.bodies, "bodies", false, "show message bodies (-V and JSON): with field names when a schema is given, else raw like protoc --decode_raw")
	f.StringSliceVar(&o.protosets, "protoset", nil, "descriptor set (protoc --descriptor_set_out --include_imports) naming message fields; implies --bodies")
	f.StringSliceVar(&o.protos, "proto", nil, ".proto file naming message fields; implies --bodies (repeatable)")
	f.StringVar(&o.cpuprof, "cpuprofile", "", "write a CPU profile (go tool pprof) to this file")
	f.MarkHidden("cpuprofile")
	f.StringSliceVarP(&o.protoPath, "proto-path", "I", nil, "import path for --proto files (repeatable; default: each file's directory)")
	return cmd
}

func run(stdout, stderr io.Writer, files []string, o *options) error {
	if o.cpuprof != "" {
		pf, err := os.Create(o.cpuprof)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if os.Getenv("GOGC") == "" {
		// Decoding churns short-lived objects while the live heap stays
		// small: collecting less often is faster and memory stays bounded.
		debug.SetGCPercent(200)
	}
	mode := render.ModeText
	switch {
	case o.output == "json":
		mode = render.ModeJSON
	case o.output != "text":
		return fmt.Errorf("unknown output format %q: want text or json", o.output)
	case o.calls:
		mode = render.ModeCalls
	case o.verbose:
		mode = render.ModeVerbose
	}
	spec := filter.Spec{Methods: o.methods, Statuses: o.status, Hosts: o.hosts}
	var err error
	if spec.Ports, err = filter.ParsePorts(o.ports); err != nil {
		return err
	}
	hints, err := filter.ParsePorts(o.hints)
	if err != nil {
		return err
	}
	for _, s := range o.streams {
		for _, one := range strings.Split(s, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(one), 10, 31)
			if err != nil {
				return fmt.Errorf("bad --stream %q: want a stream id", one)
			}
			spec.Streams = append(spec.Streams, uint32(n))
		}
	}
	printer := render.NewPrinter(stdout, mode)
	printer.AbsTime = o.abs
	if o.bodies || len(o.protosets) > 0 || len(o.protos) > 0 {
		b, err := loadSchemas(o)
		if err != nil {
			return err
		}
		printer.Bodies = b
	}
	// Printing runs beside decoding, on another core.
	async := render.NewAsync(printer)
	flt, err := filter.New(spec, async)
	if err != nil {
		async.Close()
		return err
	}
	dec := decoder.New(flt, decoder.Options{Ports: hints, KeepBodies: printer.Bodies != nil})
	var read, failed int
	for _, name := range files {
		n, err := readFile(dec, name)
		read += n
		if err != nil {
			failed++
			fmt.Fprintf(stderr, "hoptap: %s: %v\n", name, err)
		}
	}
	dec.Flush()
	async.Close()
	if err := printer.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	if !o.quiet {
		printSummary(stderr, dec.Stats())
	}
	if read == 0 && failed > 0 {
		return errors.New("nothing could be read")
	}
	return nil
}

// readFile feeds one file; it returns the packets read and the error that
// stopped it, if any. What was read before an error is kept.
func readFile(dec *decoder.Decoder, name string) (int, error) {
	r, err := pcapfile.Open(name)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	n, linkErrs, resyncs := 0, 0, 0
	var firstLinkErr, firstResync error
	for {
		data, ci, lt, err := r.Next()
		if err == io.EOF {
			break
		}
		var resync *pcapfile.ResyncError
		if errors.As(err, &resync) {
			resyncs++
			if firstResync == nil {
				firstResync = err
			}
			continue
		}
		if err != nil {
			return n, fmt.Errorf("after %d packets: %w; the rest of the file is unreadable", n, err)
		}
		n++
		if err := dec.Packet(lt, data, ci.Timestamp, ci.Length); err != nil {
			linkErrs++
			if firstLinkErr == nil {
				firstLinkErr = fmt.Errorf("packet %d: %w", n, err)
			}
		}
	}
	if resyncs > 0 {
		return n, fmt.Errorf("%d corrupt stretches skipped (first: %v); the rest was read", resyncs, firstResync)
	}
	if linkErrs > 0 {
		return n, fmt.Errorf("%d packets could not be decoded (first: %v)", linkErrs, firstLinkErr)
	}
	return n, nil
}

func printSummary(w io.Writer, s decoder.Stats) {
	t := s.TCP
	fmt.Fprintf(w, "%d packets, %d connections (%d HTTP/2, %d TLS, %d other; %d joined mid-way), %d frames, %d calls\n",
		s.Packets, t.Conns, s.H2Conns, s.TLSConns, s.OtherConns, t.Midstream, s.Frames, s.Calls)
	losses := []string{}
	add := func(n uint64, what string) {
		if n > 0 {
			losses = append(losses, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(t.Gaps, fmt.Sprintf("TCP gaps (%d bytes)", t.GapBytes))
	add(t.Truncated, "segments cut by the snap length")
	add(s.SkippedBytes, "bytes skipped to find frame boundaries")
	add(s.FrameErrors, "frame errors")
	add(s.HPACKErrors, "HPACK errors")
	add(s.HPACKUnknown, "header fields unknown (HPACK state from before the capture or a gap)")
	add(s.HeadersLost, "header blocks lost")
	add(s.LinkErrors, "undecodable packets")
	add(s.Fragments, "IP fragments")
	add(t.BufferDrops, "reassembly buffer overflows")
	add(t.Evicted, "connections evicted")
	if len(losses) > 0 {
		fmt.Fprintf(w, "losses: %s\n", strings.Join(losses, ", "))
	}
}

// loadSchemas builds the body renderer from --protoset and --proto.
func loadSchemas(o *options) (*render.Bodies, error) {
	b := &render.Bodies{}
	var regs []*protobuf.Registry
	if len(o.protosets) > 0 {
		r, err := protobuf.LoadProtoset(o.protosets...)
		if err != nil {
			return nil, fmt.Errorf("--protoset: %w", err)
		}
		regs = append(regs, r)
	}
	if len(o.protos) > 0 {
		paths := o.protoPath
		if len(paths) == 0 {
			seen := map[string]bool{}
			for _, f := range o.protos {
				if d := filepath.Dir(f); !seen[d] {
					seen[d] = true
					paths = append(paths, d)
				}
			}
		}
		r, err := protobuf.CompileProtos(paths, o.protos...)
		if err != nil {
			return nil, fmt.Errorf("--proto: %w", err)
		}
		regs = append(regs, r)
	}
	switch len(regs) {
	case 1:
		b.Registry = regs[0]
	case 2:
		return nil, errors.New("give either --protoset or --proto, not both")
	}
	return b, nil
}
