package peers

import (
	"bytes"
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

// InteropCaseOnceMore is InteropCase, with a second try for the one case
// that is racy in the grpc-go client itself (OnceMore).
func InteropCaseOnceMore(t testing.TB, host string, port int, name string) ([]byte, error) {
	t.Helper()
	out, _, err := OnceMore(t, name, func() ([]byte, error) { return InteropCase(t, host, port, name) })
	return out, err
}

// OnceMore runs interop case name with run and, when it failed as
// cancel_after_begin losing the grpc-go client's own race, once more;
// again says whether it did. That case cancels the context, then calls
// CloseAndRecv, which now and then returns the server's OK before it
// notices the cancel ("CloseAndRecv() got error code 0, want 1"), more
// often on a loaded machine. The calls of both tries reach the wire,
// and a capture keeps them.
func OnceMore(t testing.TB, name string, run func() ([]byte, error)) (out []byte, again bool, err error) {
	t.Helper()
	out, err = run()
	if err != nil && name == "cancel_after_begin" && bytes.Contains(out, []byte("got error code 0, want 1")) {
		t.Logf("interop client %s lost its race, once more: %v\n%s", name, err, out)
		out, err = run()
		again = true
	}
	return out, again, err
}
