// Command hoptap decodes gRPC traffic: from capture files today, live
// from the kernel and from node agents in later releases.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/hoptap/hoptap/cmd/hoptap/capture"
	"github.com/hoptap/hoptap/cmd/hoptap/read"
)

func main() {
	root := &cobra.Command{
		Use:   "hoptap",
		Short: "Per-hop gRPC traffic tracer: decode TCP, HTTP/2 and gRPC the way Wireshark does",
		Long: `hoptap decodes gRPC traffic from packet captures: every HTTP/2 frame, every
gRPC call with its method, status and latency, and every loss it could not
see past. It needs no port configuration and copes with connections that
began before the capture.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(read.Command(), capture.Command())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "hoptap:", err)
		os.Exit(1)
	}
}
