// Command hoptap decodes gRPC traffic: from capture files, and live from
// the kernel with eBPF.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/hoptap/hoptap/agent/priority"
	"github.com/hoptap/hoptap/cmd/hoptap/capture"
	"github.com/hoptap/hoptap/cmd/hoptap/demo"
	"github.com/hoptap/hoptap/cmd/hoptap/read"
	"github.com/hoptap/hoptap/cmd/hoptap/view"
)

func main() {
	// hoptap capture's priority guard: this binary, run by itself.
	if len(os.Args) > 1 && os.Args[1] == priority.GuardCommand {
		os.Exit(priority.RunGuard(os.Args[2:], os.Stdin, os.Stdout))
	}
	root := &cobra.Command{
		Use:   "hoptap",
		Short: "Per-hop gRPC traffic tracer: decode TCP, HTTP/2 and gRPC the way Wireshark does",
		Long: `hoptap decodes gRPC traffic, live with eBPF (capture) or from pcap and pcapng
files (read): every HTTP/2 frame, every gRPC call with its method, status
and latency, and every loss it could not see past. It needs no port
configuration and copes with connections that began before the capture.

New here? Run "hoptap demo" in one terminal and "sudo hoptap capture --port
50051" in another.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       view.Version(),
	}
	root.AddCommand(read.Command(), capture.Command(), demo.Command())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "hoptap:", err)
		os.Exit(1)
	}
}
