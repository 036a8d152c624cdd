// Package view holds what "read" and "capture" share: the output flags,
// filters and message-body schemas, and the summary of what was seen and
// lost. Both commands print the same way because they use this.
package view

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

	"github.com/spf13/pflag"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/filter"
	"github.com/hoptap/hoptap/decoder/protobuf"
	"github.com/hoptap/hoptap/decoder/render"
)

// Options are the output and decoder-side filter flags.
type Options struct {
	Output    string
	Verbose   bool
	Calls     bool
	Quiet     bool
	Abs       bool
	Hints     []string
	Methods   []string
	Status    []string
	Streams   []string
	Bodies    bool
	Protosets []string
	Protos    []string
	ProtoPath []string
	CPUProf   string
	// ShowSecrets shows credential headers instead of <redacted>.
	ShowSecrets bool
}

// AddFlags registers the shared flags.
func (o *Options) AddFlags(f *pflag.FlagSet) {
	f.StringVarP(&o.Output, "output", "o", "text", "output format: text or json")
	f.BoolVarP(&o.Verbose, "verbose", "V", false, "print a detail tree per frame, like tshark -V")
	f.BoolVar(&o.Calls, "calls", false, "print a table of calls and a per-method latency summary")
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "do not print the summary on stderr")
	f.BoolVar(&o.Abs, "abs-time", false, "print absolute times (UTC) instead of seconds since the first event")
	f.StringSliceVar(&o.Hints, "decode-port", nil, "treat these TCP ports as HTTP/2 servers, like Wireshark's Decode As (optional)")
	f.StringSliceVar(&o.Methods, "method", nil, "only calls whose :path matches this glob, e.g. '/pkg.Svc/*' (repeatable)")
	f.StringSliceVar(&o.Status, "status", nil, "only calls with this gRPC status, by number or name (repeatable, comma-separated)")
	f.StringSliceVar(&o.Streams, "stream", nil, "only this HTTP/2 stream id (repeatable)")
	f.BoolVar(&o.Bodies, "bodies", false, "show message bodies (-V and JSON): with field names when a schema is given, else raw like protoc --decode_raw")
	f.StringSliceVar(&o.Protosets, "protoset", nil, "descriptor set (protoc --descriptor_set_out --include_imports) naming message fields; implies --bodies")
	f.StringSliceVar(&o.Protos, "proto", nil, ".proto file naming message fields; implies --bodies (repeatable)")
	f.StringSliceVarP(&o.ProtoPath, "proto-path", "I", nil, "import path for --proto files (repeatable; default: each file's directory)")
	f.BoolVar(&o.ShowSecrets, "show-secrets", false, "show authorization, proxy-authorization, cookie and set-cookie values (redacted by default: they carry credentials)")
	f.StringVar(&o.CPUProf, "cpuprofile", "", "write a CPU profile (go tool pprof) to this file")
	f.MarkHidden("cpuprofile")
}

// TuneGC collects garbage less often unless GOGC says otherwise: decoding
// churns short-lived objects while the live heap stays small, so this is
// faster and memory stays bounded.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
}

// Begin prepares a run: GC tuning and the --cpuprofile profile, if asked;
// end stops the profile.
func (o *Options) Begin() (end func(), err error) {
	TuneGC()
	return o.StartProfile()
}

// StartProfile starts the --cpuprofile profile, if asked; stop ends it.
func (o *Options) StartProfile() (stop func(), err error) {
	if o.CPUProf == "" {
		return func() {}, nil
	}
	pf, err := os.Create(o.CPUProf)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(pf); err != nil {
		pf.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); pf.Close() }, nil
}

// Mode is the printer mode the flags ask for.
func (o *Options) Mode() (render.Mode, error) {
	switch {
	case o.Output == "json":
		return render.ModeJSON, nil
	case o.Output != "text":
		return 0, fmt.Errorf("unknown output format %q: want text or json", o.Output)
	case o.Calls:
		return render.ModeCalls, nil
	case o.Verbose:
		return render.ModeVerbose, nil
	}
	return render.ModeText, nil
}

// Spec is the decoder-side filter; callers add hosts and ports.
func (o *Options) Spec() (filter.Spec, error) {
	spec := filter.Spec{Methods: o.Methods, Statuses: o.Status}
	for _, s := range o.Streams {
		for _, one := range strings.Split(s, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(one), 10, 31)
			if err != nil {
				return spec, fmt.Errorf("bad --stream %q: want a stream id", one)
			}
			spec.Streams = append(spec.Streams, uint32(n))
		}
	}
	return spec, nil
}

// HintPorts are the --decode-port hints.
func (o *Options) HintPorts() ([]uint16, error) { return filter.ParsePorts(o.Hints) }

// Printer builds the printer for the flags, with body schemas loaded.
func (o *Options) Printer(w io.Writer) (*render.Printer, error) {
	mode, err := o.Mode()
	if err != nil {
		return nil, err
	}
	printer := render.NewPrinter(w, mode)
	printer.AbsTime = o.Abs
	printer.ShowSecrets(o.ShowSecrets)
	if o.Bodies || len(o.Protosets) > 0 || len(o.Protos) > 0 {
		b, err := o.schemas()
		if err != nil {
			return nil, err
		}
		printer.Bodies = b
	}
	return printer, nil
}

// schemas builds the body renderer from --protoset and --proto.
func (o *Options) schemas() (*render.Bodies, error) {
	b := &render.Bodies{}
	var regs []*protobuf.Registry
	if len(o.Protosets) > 0 {
		r, err := protobuf.LoadProtoset(o.Protosets...)
		if err != nil {
			return nil, fmt.Errorf("--protoset: %w", err)
		}
		regs = append(regs, r)
	}
	if len(o.Protos) > 0 {
		paths := o.ProtoPath
		if len(paths) == 0 {
			seen := map[string]bool{}
			for _, f := range o.Protos {
				if d := filepath.Dir(f); !seen[d] {
					seen[d] = true
					paths = append(paths, d)
				}
			}
		}
		r, err := protobuf.CompileProtos(paths, o.Protos...)
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

// PrintSummary writes what the decoder saw and lost, one line each.
func PrintSummary(w io.Writer, s decoder.Stats) { PrintSummaryLosses(w, s, 0) }

// PrintSummaryLosses is PrintSummary for a decoder fed notCopied segments
// whose payload was left out on purpose: they are not snap-length cuts.
func PrintSummaryLosses(w io.Writer, s decoder.Stats, notCopied uint64) {
	t := s.TCP
	fmt.Fprintf(w, "%s, %s (%d HTTP/2, %d TLS, %d other; %d joined mid-way), %s, %s\n",
		Count(s.Packets, "packet"), Count(uint64(t.Conns), "connection"), s.H2Conns, s.TLSConns, s.OtherConns, t.Midstream,
		Count(s.Frames, "frame"), Count(s.Calls, "call"))
	if l := Losses(s, notCopied); len(l) > 0 {
		fmt.Fprintf(w, "losses: %s\n", strings.Join(l, ", "))
	}
}

// Count is n and noun, plural but for one: "1 connection", "2 connections".
func Count(n uint64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.FormatUint(n, 10) + " " + noun + "s"
}

// Losses lists the decoder's losses; notCopied segments were cut on
// purpose (payload not copied) and are not counted as snap-length cuts.
func Losses(s decoder.Stats, notCopied uint64) []string {
	t := s.TCP
	losses := []string{}
	add := func(n uint64, what string) {
		if n > 0 {
			losses = append(losses, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(t.Gaps, fmt.Sprintf("TCP gaps (%d bytes)", t.GapBytes))
	add(t.Truncated-min(t.Truncated, notCopied), "segments cut by the snap length")
	add(s.SkippedBytes, "bytes skipped to find frame boundaries")
	add(s.FrameErrors, "frame errors")
	add(s.HPACKErrors, "HPACK errors")
	add(s.HPACKUnknown, "header fields unknown (HPACK state from before the capture or a gap)")
	add(s.HeadersLost, "header blocks lost")
	add(s.LinkErrors, "undecodable packets")
	add(s.Fragments, "IP fragments")
	add(t.BufferDrops, "reassembly buffer overflows")
	add(t.Evicted, "connections evicted")
	return losses
}

// version is stamped by the Makefile (git describe).
var version string

// Version is this build's version: as stamped by make, else the module
// version when installed with go install, else the VCS revision.
func Version() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" && (v == "" || v == "(devel)") {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		return "devel-" + rev + dirty
	}
	if v == "" {
		return "unknown"
	}
	return v
}
