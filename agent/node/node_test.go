package node

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func get(t *testing.T, a *Agent, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + a.Addr().String() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Health says the capture is alive; readiness, that it is reading. The
// endpoints are served before the programs load, so a probe sees both
// states.
func TestHealthAndReadiness(t *testing.T) {
	a, err := New(Config{MetricsAddr: "127.0.0.1:0"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	go a.srv.Serve(a.ln)
	defer a.srv.Close()
	if code, _ := get(t, a, "/healthz"); code != 200 {
		t.Errorf("healthz %d while starting", code)
	}
	if code, _ := get(t, a, "/readyz"); code != 503 {
		t.Errorf("readyz %d before the programs are attached", code)
	}
	a.ready.Store(true)
	if code, _ := get(t, a, "/readyz"); code != 200 {
		t.Errorf("readyz %d while capturing", code)
	}
	a.ready.Store(false)
	a.dead.Store(errors.New("ring buffer: gone"))
	if code, body := get(t, a, "/healthz"); code != 503 || !strings.Contains(body, "ring buffer: gone") {
		t.Errorf("healthz %d %q after the capture stopped", code, body)
	}
	if code, body := get(t, a, "/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("metrics %d", code)
	}
	if code, _ := get(t, a, "/nope"); code != 404 {
		t.Errorf("/nope: %d", code)
	}
}
