// Package read implements "hoptap read": decode pcap and pcapng files.
package read

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/hoptap/hoptap/cmd/hoptap/view"
	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/filter"
	"github.com/hoptap/hoptap/decoder/pcapfile"
	"github.com/hoptap/hoptap/decoder/render"
)

type options struct {
	view.Options
	hosts []string
	ports []string
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
	o.AddFlags(f)
	f.StringSliceVar(&o.hosts, "host", nil, "only connections with this address or CIDR at either end (repeatable)")
	f.StringSliceVar(&o.ports, "port", nil, "only connections with this port at either end (repeatable)")
	return cmd
}

func run(stdout, stderr io.Writer, files []string, o *options) error {
	end, err := o.Begin()
	if err != nil {
		return err
	}
	defer end()
	spec, err := o.Spec()
	if err != nil {
		return err
	}
	spec.Hosts = o.hosts
	if spec.Ports, err = filter.ParsePorts(o.ports); err != nil {
		return err
	}
	hints, err := o.HintPorts()
	if err != nil {
		return err
	}
	printer, err := o.Printer(stdout)
	if err != nil {
		return err
	}
	// Printing runs beside decoding, on another core.
	async := render.NewAsync(printer)
	flt, err := filter.New(spec, async)
	if err != nil {
		async.Close()
		return err
	}
	dopts := decoder.Options{Ports: hints, KeepBodies: printer.Bodies != nil}
	if !printer.WantsHeaderLists() {
		dopts.HeaderLists = func() bool { return false } // text prints no metadata
	}
	dec := decoder.New(flt, dopts)
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
	if !o.Quiet {
		view.PrintSummary(stderr, dec.Stats())
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
