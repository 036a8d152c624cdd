package peers

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Nginx starts nginx as a gRPC proxy hop: cleartext HTTP/2 (prior
// knowledge, as gRPC clients speak it) on 127.0.0.1:port, every request
// passed with grpc_pass to 127.0.0.1:backend. Everything nginx writes
// (config, pid, logs, temp files) stays in a temp dir. It runs in the
// foreground as a single process, so stopping it at the end of the test
// leaves no worker behind.
func Nginx(t testing.TB, port, backend int) {
	t.Helper()
	NginxProxy(t, nil, fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", backend))
}

// NginxProxy is Nginx listening on listen and passing to backend
// (HOST:PORT each), in pod's namespace unless pod is nil.
func NginxProxy(t testing.TB, pod *Pod, listen, backend string) {
	t.Helper()
	RequireRoot(t)
	bin := Tool(t, "nginx")
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	cfg := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 64; }
http {
	access_log %[1]s/access.log;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	client_max_body_size 0;
	server {
		listen %[2]s http2;
		location / {
			grpc_pass grpc://%[3]s;
		}
	}
}
`, dir, listen, backend)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if pod == nil {
		Start(t, bin, "-p", dir, "-c", conf)
		WaitListening(t, listen)
	} else {
		Start(t, "ip", "netns", "exec", pod.NS, bin, "-p", dir, "-c", conf)
		WaitListening(t, listen)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(dir, "error.log")); err == nil {
				t.Logf("nginx error.log:\n%s", log)
			}
		}
	})
}
