package peers

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"
)

// InteropCase runs the grpc-go interop client once, for one test case,
// against host:port and returns its output and whether the case passed.
// Unlike InteropClient it leaves judging a failure to the caller.
func InteropCase(t testing.TB, host string, port int, name string) ([]byte, error) {
	t.Helper()
	bin := Tool(t, "interop-client")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, bin, "-server_host="+host, fmt.Sprintf("-server_port=%d", port), "-use_tls=false", "-test_case="+name).CombinedOutput()
}
