// Command pause is the sandbox ("pause") container of the single-node test
// cluster that test/e2e/k8s/cluster.sh starts. No registry is reachable
// from the test machine, so the usual registry.k8s.io/pause image cannot be
// pulled; cluster.sh builds this program statically and imports it into
// containerd as the CRI sandbox_image.
//
// Like the upstream pause it holds the pod's namespaces open: it blocks until
// SIGTERM or SIGINT and then exits 0. When it is PID 1 of a pod with a shared
// PID namespace it also reaps orphaned children (SIGCHLD).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 8)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sig {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
