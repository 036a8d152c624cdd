// Package k8s is the real-cluster end-to-end test: a single-node
// Kubernetes (cluster.sh), hoptap installed from deploy/ as the README
// says, the grpc-go interop peers as a Deployment, a Service and Jobs,
// and then the agent's metrics, a live capture through the kubeconfig,
// and a rolling upgrade under a soak. make e2e-k8s runs it.
package k8s

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hoptap/hoptap/test/peers"
)

const (
	grpcVersion = "v1.85.0"
	ns          = "e2e"
	agentNS     = "hoptap"
	serverPort  = 10000
	// The agent images: the first install and the upgrade.
	agentRepo = "hoptap/hoptap-agent"
	tag1      = "0.1.0"
	tag2      = "0.1.0-e2e-upgrade"
)

// e2e is the cluster and the tools the test drives it with.
type e2e struct {
	repo, here string
	env        []string // KUBECONFIG and PATH for kubectl, helm, ctr
	kubeconfig string
	hoptap     string
}

func TestCluster(t *testing.T) {
	if os.Getenv("HOPTAP_E2E_K8S") == "" {
		t.Skip("the real-cluster e2e runs with make e2e-k8s (HOPTAP_E2E_K8S=1)")
	}
	peers.RequireRoot(t)
	tshark := peers.Tool(t, "tshark")
	e := &e2e{repo: peers.RepoRoot()}
	e.here = filepath.Join(e.repo, "test", "e2e", "k8s")
	e.hoptap = filepath.Join(e.repo, "bin", "hoptap")

	start := time.Now()
	e.images(t)
	if os.Getenv("HOPTAP_K8S_REUSE") == "" {
		// A run killed before its cleanup (go test's -timeout) left its
		// cluster up: down is safe when nothing is.
		e.sh(t, "down")
		t.Cleanup(func() {
			if out, err := exec.Command(filepath.Join(e.here, "cluster.sh"), "down").CombinedOutput(); err != nil {
				t.Errorf("cluster.sh down: %v\n%s", err, out)
			}
		})
		e.sh(t, "up")
	}
	e.loadEnv(t)
	e.sh(t, append([]string{"import"}, e.imageTars(t)...)...)
	t.Logf("cluster up and images imported in %s", time.Since(start).Round(time.Second))

	// 1-2. Install as the README says, wait for the rollout.
	e.helm(t, "install", "hoptap", filepath.Join(e.repo, "deploy/helm/hoptap"), "--namespace", agentNS, "--create-namespace",
		"--set", "ports={10000}", "--set", "podLabels=true", "--wait", "--timeout", "3m")
	t.Cleanup(func() { e.run(t, "helm", "uninstall", "hoptap", "--namespace", agentNS) })
	e.rollout(t)
	e.checkNotPrivileged(t)

	// 3. The interop server behind a Service; the client as a Job.
	e.apply(t, workloads)
	t.Cleanup(func() { e.run(t, "kubectl", "delete", "namespace", ns, "--wait=false") })
	e.kubectl(t, "-n", ns, "rollout", "status", "deploy/interop-server", "--timeout=2m")
	cases := []string{"empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong",
		"status_code_and_message", "unimplemented_method", "custom_metadata"}
	e.job(t, "interop-client", cases)
	e.waitJob(t, "interop-client", 3*time.Minute)

	t.Run("metrics", func(t *testing.T) { e.checkMetrics(t) })
	t.Run("capture --pod and --node", func(t *testing.T) { e.checkCapture(t, tshark) })
	t.Run("upgrade under soak", func(t *testing.T) { e.checkUpgrade(t) })
	t.Run("RBAC decides who captures", func(t *testing.T) { e.checkRBAC(t) })
	t.Run("capture API over mutual TLS", func(t *testing.T) { e.checkTLS(t) })
	t.Logf("whole e2e: %s", time.Since(start).Round(time.Second))
}

// images builds the agent's image as the README says (make image), the
// upgrade's tag of it, and the interop peers' images, once per version.
func (e *e2e) images(t *testing.T) {
	peers.Run(t, "make", "-C", e.repo, "--no-print-directory", "build", "image")
	cache := e.cache(t)
	peers.Run(t, "python3", filepath.Join(e.repo, "scripts/image.py"), filepath.Join(e.repo, "bin/image/hoptap-agent"),
		filepath.Join(cache, "hoptap-agent-upgrade.tar"), agentRepo+":"+tag2)
	gbin := filepath.Join(cache, "grpc-"+grpcVersion)
	for _, name := range []string{"server", "client"} {
		bin := filepath.Join(gbin, "interop-"+name)
		if _, err := os.Stat(bin); err != nil {
			t.Logf("building a static grpc-go %s interop %s", grpcVersion, name)
			tmp := t.TempDir()
			cmd := exec.Command("go", "install", "-trimpath", "-ldflags=-s -w", "google.golang.org/grpc/interop/"+name+"@"+grpcVersion)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOBIN="+tmp)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("building the interop %s: %v\n%s", name, err, out)
			}
			os.MkdirAll(gbin, 0o755)
			if err := os.Rename(filepath.Join(tmp, name), bin); err != nil {
				t.Fatal(err)
			}
		}
		tar := filepath.Join(cache, "interop-"+name+"-"+grpcVersion+".tar")
		if _, err := os.Stat(tar); err != nil {
			peers.Run(t, "python3", filepath.Join(e.repo, "scripts/image.py"), bin, tar, "hoptap.test/interop-"+name+":"+grpcVersion)
		}
	}
}

func (e *e2e) cache(t *testing.T) string {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		base = filepath.Join(os.Getenv("HOME"), ".cache")
	}
	dir := filepath.Join(base, "hoptap", "k8s", "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func (e *e2e) imageTars(t *testing.T) []string {
	cache := e.cache(t)
	return []string{filepath.Join(e.repo, "bin/hoptap-agent-image.tar"), filepath.Join(cache, "hoptap-agent-upgrade.tar"),
		filepath.Join(cache, "interop-server-"+grpcVersion+".tar"), filepath.Join(cache, "interop-client-"+grpcVersion+".tar")}
}

// sh runs cluster.sh with its progress on the test log.
func (e *e2e) sh(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(e.here, "cluster.sh"), args...)
	out, err := cmd.CombinedOutput()
	t.Logf("cluster.sh %s:\n%s", args[0], out)
	if err != nil {
		t.Fatalf("cluster.sh %s: %v", args[0], err)
	}
}

// loadEnv takes cluster.sh env's exports (KUBECONFIG, PATH, containerd).
func (e *e2e) loadEnv(t *testing.T) {
	out, err := exec.Command(filepath.Join(e.here, "cluster.sh"), "env").Output()
	if err != nil {
		t.Fatalf("cluster.sh env: %v", err)
	}
	env := os.Environ()
	for _, line := range strings.Split(string(out), "\n") {
		kv, ok := strings.CutPrefix(strings.TrimSpace(line), "export ")
		if !ok {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		v = strings.ReplaceAll(v, `"$PATH"`, os.Getenv("PATH"))
		v = strings.Trim(v, `'"`)
		env = append(env, k+"="+v)
		if k == "KUBECONFIG" {
			e.kubeconfig = v
		}
		if k == "PATH" {
			os.Setenv("PATH", v)
		}
	}
	if e.kubeconfig == "" {
		t.Fatalf("cluster.sh env gave no KUBECONFIG:\n%s", out)
	}
	// helm and the other tools from make deps.
	e.env = append(env, "PATH="+filepath.Join(e.repo, ".tools/bin")+":"+os.Getenv("PATH"))
}

func (e *e2e) command(name string, args ...string) *exec.Cmd {
	if name == "helm" { // from make deps
		name = filepath.Join(e.repo, ".tools/bin/helm")
	}
	cmd := exec.Command(name, args...)
	cmd.Env = e.env
	return cmd
}

// run runs a command and returns its output; failures are test errors.
func (e *e2e) run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := e.command(name, args...).CombinedOutput()
	if err != nil {
		t.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func (e *e2e) kubectl(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := e.command("kubectl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (e *e2e) helm(t *testing.T, args ...string) {
	t.Helper()
	if out, err := e.command("helm", args...).CombinedOutput(); err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (e *e2e) apply(t *testing.T, yaml string) {
	t.Helper()
	cmd := e.command("kubectl", "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(yaml)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s\n%s", err, out, yaml)
	}
}

// rollout waits for the agent's DaemonSet to be rolled out; when it is
// not, the agents' logs say why.
func (e *e2e) rollout(t *testing.T) {
	t.Helper()
	out, err := e.command("kubectl", "-n", agentNS, "rollout", "status", "ds/hoptap-agent", "--timeout=3m").CombinedOutput()
	if err == nil {
		return
	}
	logs, _ := e.command("kubectl", "-n", agentNS, "logs", "-l", "app.kubernetes.io/name=hoptap-agent", "--tail=20", "--prefix").CombinedOutput()
	prev, _ := e.command("kubectl", "-n", agentNS, "logs", "-l", "app.kubernetes.io/name=hoptap-agent", "--tail=20", "--prefix", "--previous").CombinedOutput()
	t.Fatalf("the agent's DaemonSet did not roll out: %v\n%s\nagent logs:\n%s\nprevious containers:\n%s", err, out, logs, prev)
}

// checkNotPrivileged reads the running DaemonSet's pods back.
func (e *e2e) checkNotPrivileged(t *testing.T) {
	var pods struct {
		Items []struct {
			Spec struct {
				Containers []struct {
					Name            string `json:"name"`
					SecurityContext *struct {
						Privileged *bool `json:"privileged"`
					} `json:"securityContext"`
				} `json:"containers"`
			} `json:"spec"`
			Status struct {
				Phase string `json:"phase"`
			} `json:"status"`
		} `json:"items"`
	}
	out := e.kubectl(t, "-n", agentNS, "get", "pods", "-l", "app.kubernetes.io/name=hoptap-agent", "-o", "json")
	if err := json.Unmarshal(out, &pods); err != nil || len(pods.Items) != 1 {
		t.Fatalf("agent pods: %v %s", err, out)
	}
	for _, c := range pods.Items[0].Spec.Containers {
		if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
			t.Errorf("container %s runs privileged", c.Name)
		}
	}
	if p := pods.Items[0].Status.Phase; p != "Running" {
		t.Errorf("agent pod phase %s", p)
	}
}

// job starts a Job that runs the interop client once per case, in
// order (init containers), against the Service's cluster IP (there is
// no cluster DNS: Kubernetes injects the address).
func (e *e2e) job(t *testing.T, name string, cases []string, extra ...string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: batch/v1
kind: Job
metadata: {name: %s, namespace: %s}
spec:
  backoffLimit: 0
  template:
    metadata: {labels: {app: %s}}
    spec:
      restartPolicy: Never
      initContainers:
`, name, ns, name)
	container := func(i int, c string) {
		fmt.Fprintf(&b, `      - name: c%d
        image: hoptap.test/interop-client:%s
        imagePullPolicy: Never
        args: ["--server_host=$(INTEROP_SERVER_SERVICE_HOST)", "--server_port=%d", "--use_tls=false", "--test_case=%s"%s]
`, i, grpcVersion, serverPort, c, argList(extra))
	}
	for i, c := range cases[:len(cases)-1] {
		container(i, c)
	}
	b.WriteString("      containers:\n")
	container(len(cases)-1, cases[len(cases)-1])
	e.apply(t, b.String())
}

func argList(extra []string) string {
	var b strings.Builder
	for _, a := range extra {
		fmt.Fprintf(&b, ", %q", a)
	}
	return b.String()
}

// waitJob waits for the Job to succeed; a failed Job fails the test with
// its pod's logs.
func (e *e2e) waitJob(t *testing.T, name string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := e.kubectl(t, "-n", ns, "get", "job", name, "-o", "jsonpath={.status.succeeded}/{.status.failed}")
		switch {
		case strings.HasPrefix(string(out), "1/"):
			return
		case strings.HasSuffix(string(out), "/1"):
			logs, _ := e.command("kubectl", "-n", ns, "logs", "job/"+name, "--all-containers", "--prefix").CombinedOutput()
			t.Fatalf("job %s failed:\n%s", name, logs)
		case time.Now().After(deadline):
			desc, _ := e.command("kubectl", "-n", ns, "describe", "pods", "-l", "app="+name).CombinedOutput()
			t.Fatalf("job %s not done within %s:\n%s", name, timeout, desc)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// agentPod returns the agent's pod name and IP.
func (e *e2e) agentPod(t *testing.T) (string, string) {
	out := strings.Fields(string(e.kubectl(t, "-n", agentNS, "get", "pods", "-l", "app.kubernetes.io/name=hoptap-agent",
		"--field-selector=status.phase=Running", "-o", "jsonpath={.items[0].metadata.name} {.items[0].status.podIP}")))
	if len(out) != 2 {
		t.Fatalf("agent pod: %v", out)
	}
	return out[0], out[1]
}

// scrape reads the agent's call-duration histograms' counts from its
// pod address (the pod network is reachable from the node).
func (e *e2e) scrape(t *testing.T) []peers.Sample {
	t.Helper()
	_, ip := e.agentPod(t)
	var out []peers.Sample
	for _, s := range peers.Scrape(t, ip+":9464") {
		if s.Name == "hoptap_rpc_call_duration_seconds_count" {
			out = append(out, s)
		}
	}
	return out
}

// checkMetrics: every call of the Job, from both sides, named by
// namespace, workload and pod.
func (e *e2e) checkMetrics(t *testing.T) {
	podOf := func(app string) string {
		return strings.TrimSpace(string(e.kubectl(t, "-n", ns, "get", "pods", "-l", "app="+app, "-o", "jsonpath={.items[0].metadata.name}")))
	}
	clientPod, serverPod := podOf("interop-client"), podOf("interop-server")
	want := []struct{ method, code string }{
		{"EmptyCall", "0"}, {"UnaryCall", "0"}, {"StreamingInputCall", "0"}, {"StreamingOutputCall", "0"},
		{"FullDuplexCall", "0"}, {"UnaryCall", "2"}, {"FullDuplexCall", "2"}, {"UnimplementedCall", "12"},
	}
	var got []peers.Sample
	missing := want
	deadline := time.Now().Add(30 * time.Second)
	for len(missing) > 0 {
		if time.Now().After(deadline) {
			for _, s := range got {
				t.Logf("sample %v %v", s.Labels, s.Value)
			}
			t.Fatalf("no client- and server-side samples, between e2e/interop-client and e2e/interop-server, for %v", missing)
		}
		time.Sleep(500 * time.Millisecond) // scrape interval while the agent settles its views
		got = e.scrape(t)
		missing = nil
		for _, w := range want {
			for _, side := range []string{"client", "server"} {
				if !slices.ContainsFunc(got, func(s peers.Sample) bool {
					l := s.Labels
					return l["side"] == side && l["source_workload"] == ns+"/interop-client" &&
						l["destination_workload"] == ns+"/interop-server" && l["rpc_service"] == "grpc.testing.TestService" &&
						l["source_pod"] == clientPod && l["destination_pod"] == serverPod &&
						l["rpc_method"] == w.method && l["rpc_grpc_status_code"] == w.code && s.Value > 0
				}) {
					missing = append(missing, struct{ method, code string }{w.method + "@" + side, w.code})
				}
			}
		}
	}
}

// checkCapture streams the server pod's connections through the
// kubeconfig while a Job calls it, and has tshark agree call by call.
func (e *e2e) checkCapture(t *testing.T, tshark string) {
	pod := strings.TrimSpace(string(e.kubectl(t, "-n", ns, "get", "pods", "-l", "app=interop-server", "-o", "jsonpath={.items[0].metadata.name}")))
	out := filepath.Join(t.TempDir(), "out.pcapng")
	peers.KeepOnFailure(t, out)
	var stdout, stderr peers.SyncBuffer
	cmd := exec.Command(e.hoptap, "capture", "--kubeconfig", e.kubeconfig, "--pod", ns+"/"+pod, "-o", "json", "-w", out)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// At the same time, the whole node's agent by node name.
	node := strings.TrimSpace(string(e.kubectl(t, "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}")))
	var nodeOut, nodeErr peers.SyncBuffer
	byNode := exec.Command(e.hoptap, "capture", "--kubeconfig", e.kubeconfig, "--node", node, "-o", "json", "--port", fmt.Sprint(serverPort))
	byNode.Stdout, byNode.Stderr = &nodeOut, &nodeErr
	if err := byNode.Start(); err != nil {
		t.Fatal(err)
	}
	defer byNode.Process.Kill()
	// The streams are live once a probe call made now shows up in them.
	probed := []byte(`/grpc.testing.TestService/EmptyCall"`)
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; !bytes.Contains(stdout.Bytes(), probed) || !bytes.Contains(nodeOut.Bytes(), probed); i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no call streamed through the API server:\n--pod: %s\n--node: %s", stderr.Bytes(), nodeErr.Bytes())
		}
		probe := fmt.Sprintf("probe-%d", i)
		e.job(t, probe, []string{"empty_unary"})
		e.waitJob(t, probe, time.Minute)
	}
	cases := []string{"large_unary", "client_streaming", "server_streaming", "ping_pong", "status_code_and_message", "unimplemented_method"}
	e.job(t, "captured", cases)
	e.waitJob(t, "captured", 2*time.Minute)
	callsIn := func(b *peers.SyncBuffer) []peers.Call {
		var cs []peers.Call
		for _, c := range peers.HoptapCalls(t, peers.CompleteLines(b.Bytes())) {
			if c.Method != nil && !strings.HasSuffix(*c.Method, "/EmptyCall") {
				cs = append(cs, c)
			}
		}
		return cs
	}
	calls := func() []peers.Call { return callsIn(&stdout) }
	// large_unary 1, client_streaming 1, server_streaming 1, ping_pong 1,
	// status_code_and_message 2, unimplemented_method 1.
	for len(calls()) < 7 || len(callsIn(&nodeOut)) < 7 {
		if time.Now().After(deadline.Add(2 * time.Minute)) {
			t.Fatalf("%d calls streamed by --pod and %d by --node, want 7:\n%s\n%s", len(calls()), len(callsIn(&nodeOut)), stderr.Bytes(), nodeErr.Bytes())
		}
		time.Sleep(100 * time.Millisecond)
	}
	byNode.Process.Signal(os.Interrupt)
	if err := byNode.Wait(); err != nil {
		t.Fatalf("hoptap capture --node: %v\n%s", err, nodeErr.Bytes())
	}
	// The node's agent streams the same calls as the pod's view.
	key := func(cs []peers.Call) []string {
		var ks []string
		for _, c := range cs {
			ks = append(ks, c.String())
		}
		slices.Sort(ks)
		return ks
	}
	if a, b := key(calls()), key(callsIn(&nodeOut)); !slices.Equal(a, b) {
		t.Errorf("--pod and --node stream different calls:\n--pod:  %v\n--node: %v", a, b)
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("hoptap capture --pod: %v\n%s", err, stderr.Bytes())
	}
	if !strings.Contains(stderr.String(), "watching node ") {
		t.Errorf("the capture did not say which agents it watches:\n%s", stderr.Bytes())
	}
	// tshark reads the client socket's packets (its process is named in
	// the comments): the connection as the client saw it, to the cluster
	// IP, which is the view the JSON shows.
	client := filepath.Join(t.TempDir(), "client.pcapng")
	peers.Run(t, tshark, "-r", out, "-Y", `frame.comment contains "comm=interop-client"`, "-w", client)
	var theirs []peers.Call
	for _, c := range peers.TsharkCalls(t, tshark, client, []int{serverPort}) {
		if c.Method == nil || !strings.HasSuffix(*c.Method, "/EmptyCall") {
			theirs = append(theirs, c)
		}
	}
	ours := calls()
	peers.Agree(t, ours, theirs)
	if t.Failed() {
		// Its summary counts what it lost, in the kernel or on the way.
		t.Logf("hoptap capture --pod said:\n%s", stderr.Bytes())
	}
	comments := string(peers.Run(t, tshark, "-r", out, "-T", "fields", "-e", "frame.comment"))
	for _, w := range []string{"node ", "comm=interop-client", "comm=interop-server", "pod=" + ns + "/captured-", "pod=" + ns + "/" + pod} {
		if !strings.Contains(comments, w) {
			cs := clientComments(comments)
			t.Errorf("no pcapng comment has %q; the client's say:\n%s", w, strings.Join(cs[:min(len(cs), 20)], "\n"))
		}
	}
	// Each case ran in a container of its own that lived for a moment;
	// every packet of theirs still names its pod.
	cs := clientComments(comments)
	for _, l := range cs {
		if !strings.Contains(l, " pod=") {
			t.Errorf("a client packet names no pod: %s", l)
		}
	}
	if len(cs) > 0 {
		t.Logf("%d distinct comments on the client's packets, e.g. %s", len(cs), cs[len(cs)-1])
	}
}

// clientComments lists the distinct comments of the interop client's
// packets, up to their socket: what the capture knew of it.
func clientComments(comments string) []string {
	var out []string
	for _, l := range strings.Split(comments, "\n") {
		if !strings.Contains(l, "comm=interop-client") {
			continue
		}
		l, _, _ = strings.Cut(l, " sock=")
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// checkUpgrade rolls the DaemonSet to a new image tag while a soak calls
// the server: the rollout completes and not one call fails.
func (e *e2e) checkUpgrade(t *testing.T) {
	e.job(t, "soak", []string{"rpc_soak"}, "--soak_iterations=3000", "--soak_max_failures=0",
		"--soak_min_time_ms_between_rpcs=10", "--soak_overall_timeout_seconds=300", "--soak_per_iteration_max_acceptable_latency_ms=2000")
	// The soak is calling once its pod runs.
	deadline := time.Now().Add(time.Minute)
	for string(e.kubectl(t, "-n", ns, "get", "pods", "-l", "app=soak", "-o", "jsonpath={.items[0].status.phase}")) != "Running" {
		if time.Now().After(deadline) {
			t.Fatal("the soak's pod does not run")
		}
		time.Sleep(200 * time.Millisecond)
	}
	old, _ := e.agentPod(t)
	rollStart := time.Now()
	e.helm(t, "upgrade", "hoptap", filepath.Join(e.repo, "deploy/helm/hoptap"), "--namespace", agentNS, "--reuse-values",
		"--set", "image.tag="+tag2)
	e.rollout(t)
	rollEnd := time.Now()
	t.Logf("rollout to %s done in %s", tag2, rollEnd.Sub(rollStart).Round(100*time.Millisecond))
	img := string(e.kubectl(t, "-n", agentNS, "get", "ds", "hoptap-agent", "-o", "jsonpath={.spec.template.spec.containers[0].image}"))
	if img != agentRepo+":"+tag2 {
		t.Errorf("DaemonSet image %q after the upgrade", img)
	}
	if now, _ := e.agentPod(t); now == old {
		t.Errorf("the agent pod %s was not replaced", old)
	}
	if done := string(e.kubectl(t, "-n", ns, "get", "job", "soak", "-o", "jsonpath={.status.succeeded}")); done == "1" {
		t.Error("the soak ended before the rollout did: it proves nothing; make it longer")
	}
	e.waitJob(t, "soak", 5*time.Minute)
	// Every iteration succeeded, and some ran while the agent was being
	// replaced (the kubelet stamps each log line).
	logs := string(e.kubectl(t, "-n", ns, "logs", "job/soak", "--timestamps"))
	if !strings.Contains(logs, "soak test successes: 3000 / 3000 iterations. Total failures: 0.") {
		t.Errorf("the soak failed calls:\n%s", logs[max(0, len(logs)-2000):])
	}
	during := 0
	for _, line := range strings.Split(logs, "\n") {
		ts, rest, _ := strings.Cut(line, " ")
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err == nil && strings.HasSuffix(rest, " succeeded") && at.After(rollStart) && at.Before(rollEnd) {
			during++
		}
	}
	if during == 0 {
		t.Error("no soak call ran during the rollout")
	}
	t.Logf("soak: 3000 calls, 0 failed, %d of them during the rollout", during)
}

// workloads: the interop server as a Deployment behind a Service.
const workloads = `apiVersion: v1
kind: Namespace
metadata: {name: e2e}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: interop-server, namespace: e2e}
spec:
  replicas: 1
  selector: {matchLabels: {app: interop-server}}
  template:
    metadata: {labels: {app: interop-server}}
    spec:
      containers:
      - name: server
        image: hoptap.test/interop-server:v1.85.0
        imagePullPolicy: Never
        args: ["--port=10000", "--use_tls=false"]
        ports: [{containerPort: 10000}]
---
apiVersion: v1
kind: Service
metadata: {name: interop-server, namespace: e2e}
spec:
  selector: {app: interop-server}
  ports: [{port: 10000, targetPort: 10000}]
`

// checkTLS turns on the chart's TLS for the capture API (a Secret from
// a CA made here) and streams through the port-forward with a client
// certificate; without one the agent refuses.
func (e *e2e) checkTLS(t *testing.T) {
	f := peers.PKI(t, "hoptap-agent")
	e.kubectl(t, "-n", agentNS, "create", "secret", "generic", "agent-tls",
		"--from-file=tls.crt="+f["agent.crt"], "--from-file=tls.key="+f["agent.key"], "--from-file=ca.crt="+f["ca.crt"])
	e.helm(t, "upgrade", "hoptap", filepath.Join(e.repo, "deploy/helm/hoptap"), "--namespace", agentNS, "--reuse-values",
		"--set", "apiTLS.secretName=agent-tls")
	e.rollout(t)
	pod := strings.TrimSpace(string(e.kubectl(t, "-n", ns, "get", "pods", "-l", "app=interop-server", "-o", "jsonpath={.items[0].metadata.name}")))
	e.streamCall(t, "tls", "--kubeconfig", e.kubeconfig, "--pod", ns+"/"+pod, "--calls",
		"--agent-ca", f["ca.crt"], "--agent-cert", f["client.crt"], "--agent-key", f["client.key"])
	// No client certificate: nothing streams.
	out, err := exec.Command(e.hoptap, "capture", "--kubeconfig", e.kubeconfig, "--pod", ns+"/"+pod, "--calls",
		"--agent-ca", f["ca.crt"], "--duration", "5s").CombinedOutput()
	if err == nil || bytes.Contains(out, []byte("UnaryCall")) {
		t.Errorf("the agent streamed to a client without a certificate (err %v):\n%s", err, out)
	}
}

// checkRBAC binds the chart's capture roles to one service account
// (capturers) and not to another: with its own token the first streams a
// pod's calls, the second is forbidden.
func (e *e2e) checkRBAC(t *testing.T) {
	for _, sa := range []string{"sre", "intruder"} {
		e.kubectl(t, "-n", ns, "create", "serviceaccount", sa)
	}
	e.helm(t, "upgrade", "hoptap", filepath.Join(e.repo, "deploy/helm/hoptap"), "--namespace", agentNS, "--reuse-values",
		"--set", "capturers[0].kind=ServiceAccount,capturers[0].name=sre,capturers[0].namespace="+ns)
	pod := strings.TrimSpace(string(e.kubectl(t, "-n", ns, "get", "pods", "-l", "app=interop-server", "-o", "jsonpath={.items[0].metadata.name}")))

	e.streamCall(t, "rbac", "--kubeconfig", e.tokenKubeconfig(t, "sre"), "--pod", ns+"/"+pod, "--calls")
	out, err := exec.Command(e.hoptap, "capture", "--kubeconfig", e.tokenKubeconfig(t, "intruder"), "--pod", ns+"/"+pod,
		"--calls", "--duration", "5s").CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("forbidden")) {
		t.Errorf("a service account without the roles: err %v:\n%s", err, out)
	}
}

// tokenKubeconfig writes a kubeconfig for the cluster that signs in as
// service account sa of the test namespace, with a token made now.
func (e *e2e) tokenKubeconfig(t *testing.T, sa string) string {
	token := strings.TrimSpace(string(e.kubectl(t, "-n", ns, "create", "token", sa)))
	cluster := strings.Fields(string(e.kubectl(t, "config", "view", "--raw", "--minify", "--flatten",
		"-o", "jsonpath={.clusters[0].cluster.server} {.clusters[0].cluster.certificate-authority-data}")))
	if len(cluster) != 2 {
		t.Fatalf("the admin kubeconfig's cluster: %v", cluster)
	}
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: e2e, cluster: {server: %q, certificate-authority-data: %q}}]
users: [{name: %s, user: {token: %q}}]
contexts: [{name: %s, context: {cluster: e2e, user: %s}}]
current-context: %s
`, cluster[0], cluster[1], sa, token, sa, sa, sa)
	path := filepath.Join(t.TempDir(), sa+".kubeconfig")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// streamCall runs hoptap capture with args while Jobs (named prefix-N)
// make large_unary calls, until one shows in its output; then SIGINT
// must end it cleanly.
func (e *e2e) streamCall(t *testing.T, prefix string, args ...string) {
	t.Helper()
	var stdout, stderr peers.SyncBuffer
	cmd := exec.Command(e.hoptap, append([]string{"capture"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; !bytes.Contains(stdout.Bytes(), []byte("/grpc.testing.TestService/UnaryCall")); i++ {
		if time.Now().After(deadline) {
			t.Fatalf("hoptap capture %v streamed no call:\n%s", args, stderr.Bytes())
		}
		job := fmt.Sprintf("%s-%d", prefix, i)
		e.job(t, job, []string{"large_unary"})
		e.waitJob(t, job, time.Minute)
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Errorf("hoptap capture %v: %v\n%s", args, err, stderr.Bytes())
	}
}
