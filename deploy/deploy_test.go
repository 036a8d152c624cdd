// Package deploy_test checks what a cluster operator applies: the Helm
// chart renders, the committed manifest is its current output, every
// object decodes strictly into its Kubernetes type, and the DaemonSet
// keeps the security settings the README promises.
package deploy_test

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/hoptap/hoptap/test/peers"
)

// render runs helm template on the chart.
// withOperator renders as for a cluster that has the Prometheus
// operator's CRDs: the monitoring objects' default (auto) includes them.
var withOperator = []string{"--api-versions", "monitoring.coreos.com/v1/ServiceMonitor", "--api-versions", "monitoring.coreos.com/v1/PrometheusRule"}

// render runs helm template on the chart, as for a cluster with the
// Prometheus operator.
func render(t *testing.T, args ...string) []byte {
	return renderFor(t, append(args, withOperator...)...)
}

func renderFor(t *testing.T, args ...string) []byte {
	t.Helper()
	helm := peers.Tool(t, "helm")
	cmd := exec.Command(helm, append([]string{"template", "hoptap", "helm/hoptap", "--namespace", "hoptap"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, exitStderr(err))
	}
	return out
}

func exitStderr(err error) []byte {
	if e, ok := err.(*exec.ExitError); ok {
		return e.Stderr
	}
	return nil
}

// objects splits a manifest stream and decodes each document strictly:
// a field the Kubernetes type does not have is an error.
type objects struct {
	ds      *appsv1.DaemonSet
	sa      *corev1.ServiceAccount
	svc     *corev1.Service
	ns      *corev1.Namespace
	role    *rbacv1.ClusterRole        // the agent's
	binding *rbacv1.ClusterRoleBinding // the agent's
	// Every RBAC object by name (the capture roles too).
	clusterRoles    map[string]*rbacv1.ClusterRole
	roles           map[string]*rbacv1.Role
	clusterBindings map[string]*rbacv1.ClusterRoleBinding
	roleBindings    map[string]*rbacv1.RoleBinding
	monitors        []map[string]any // ServiceMonitor, PrometheusRule: CRDs, checked by field
}

func decode(t *testing.T, stream []byte) objects {
	t.Helper()
	o := objects{clusterRoles: map[string]*rbacv1.ClusterRole{}, roles: map[string]*rbacv1.Role{},
		clusterBindings: map[string]*rbacv1.ClusterRoleBinding{}, roleBindings: map[string]*rbacv1.RoleBinding{}}
	var named []func()
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(stream), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("document: %v\n%s", err, doc)
		}
		var into any
		switch meta.Kind {
		case "DaemonSet":
			o.ds = &appsv1.DaemonSet{}
			into = o.ds
		case "ServiceAccount":
			o.sa = &corev1.ServiceAccount{}
			into = o.sa
		case "Service":
			o.svc = &corev1.Service{}
			into = o.svc
		case "Namespace":
			o.ns = &corev1.Namespace{}
			into = o.ns
		case "ClusterRole":
			r := &rbacv1.ClusterRole{}
			into, named = r, append(named, func() { o.clusterRoles[r.Name] = r })
		case "ClusterRoleBinding":
			b := &rbacv1.ClusterRoleBinding{}
			into, named = b, append(named, func() { o.clusterBindings[b.Name] = b })
		case "Role":
			r := &rbacv1.Role{}
			into, named = r, append(named, func() { o.roles[r.Name] = r })
		case "RoleBinding":
			b := &rbacv1.RoleBinding{}
			into, named = b, append(named, func() { o.roleBindings[b.Name] = b })
		case "ServiceMonitor", "PrometheusRule":
			m := map[string]any{}
			if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
				t.Fatalf("%s: %v", meta.Kind, err)
			}
			o.monitors = append(o.monitors, m)
			continue
		default:
			t.Fatalf("unexpected kind %q", meta.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
			t.Fatalf("%s does not decode strictly: %v", meta.Kind, err)
		}
	}
	for _, f := range named {
		f()
	}
	o.role, o.binding = o.clusterRoles["hoptap-agent"], o.clusterBindings["hoptap-agent"]
	return o
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// The plain manifests are the chart's output (the Makefile's
// MANIFEST_AGENT and MANIFEST_MONITORING): the agent without the
// operator's objects, so that it applies to any cluster, and those
// objects apart.
func TestManifestIsTheChartsOutput(t *testing.T) {
	for file, args := range map[string][]string{
		"hoptap-agent.yaml": {"--set", "createNamespace=true", "--set", "serviceMonitor.enabled=false", "--set", "prometheusRule.enabled=false"},
		"hoptap-monitoring.yaml": {"--show-only", "templates/monitoring.yaml",
			"--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true"},
	} {
		got, err := os.ReadFile(filepath.Join("kubernetes", file))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, renderFor(t, args...)) {
			t.Errorf("deploy/kubernetes/%s is stale: run make manifests", file)
		}
	}
	if bytes.Contains(renderFor(t, "--set", "createNamespace=true", "--set", "serviceMonitor.enabled=false", "--set", "prometheusRule.enabled=false"), []byte("monitoring.coreos.com")) {
		t.Error("the agent's manifest needs the Prometheus operator")
	}
}

// Without the operator's CRDs, the chart's defaults leave its objects
// out: the install would fail on them. Asked for, they are rendered.
func TestMonitoringObjectsNeedTheOperator(t *testing.T) {
	if out := renderFor(t); bytes.Contains(out, []byte("monitoring.coreos.com")) {
		t.Error("a cluster without the Prometheus operator gets ServiceMonitor or PrometheusRule")
	}
	out := renderFor(t, "--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=false")
	if !bytes.Contains(out, []byte("kind: ServiceMonitor")) || bytes.Contains(out, []byte("kind: PrometheusRule")) {
		t.Error("serviceMonitor.enabled=true alone does not render the ServiceMonitor alone")
	}
}

// The capabilities the agent gets, each for a reason the template states.
var wantCaps = []corev1.Capability{"BPF", "PERFMON", "NET_ADMIN", "SYS_PTRACE"}

func TestDaemonSetSecurity(t *testing.T) {
	o := decode(t, render(t, "--set", "createNamespace=true"))
	for what, ok := range map[string]bool{"DaemonSet": o.ds != nil, "ServiceAccount": o.sa != nil, "Service": o.svc != nil,
		"Namespace": o.ns != nil, "ClusterRole": o.role != nil, "ClusterRoleBinding": o.binding != nil} {
		if !ok {
			t.Fatalf("no %s rendered", what)
		}
	}
	spec := o.ds.Spec.Template.Spec
	if spec.HostNetwork {
		t.Error("hostNetwork: the cgroup v2 root sees every namespace without it")
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Fatal("no securityContext.capabilities")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged: true is forbidden")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation must be false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem must be true")
	}
	if !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("capabilities.drop %v, want [ALL]", sc.Capabilities.Drop)
	}
	if !slices.Equal(sc.Capabilities.Add, wantCaps) {
		t.Errorf("capabilities.add %v, want %v", sc.Capabilities.Add, wantCaps)
	}
	// Each added capability has its reason written above it.
	tmpl, err := os.ReadFile(filepath.Join("helm", "hoptap", "templates", "daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(tmpl), "\n")
	for _, cp := range wantCaps {
		i := slices.IndexFunc(lines, func(l string) bool { return strings.TrimSpace(l) == "- "+string(cp) })
		if i < 1 || !strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#") {
			t.Errorf("capability %s has no comment saying why", cp)
		}
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("no %s request", r)
		}
		if _, ok := c.Resources.Limits[r]; !ok {
			t.Errorf("no %s limit", r)
		}
	}
	if !slices.ContainsFunc(spec.Tolerations, func(t corev1.Toleration) bool {
		return t.Operator == corev1.TolerationOpExists && t.Key == ""
	}) {
		t.Error("no toleration of every taint: the control plane would be left out")
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	hostPaths := map[string]string{}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	for name, path := range map[string]string{"cgroup": "/sys/fs/cgroup", "bpffs": "/sys/fs/bpf", "btf": "/sys/kernel/btf"} {
		m, ok := mounts[name]
		if !ok || hostPaths[name] != path {
			t.Errorf("%s: host path %q mounted %v, want %s", name, hostPaths[name], ok, path)
			continue
		}
		if !m.ReadOnly {
			t.Errorf("%s is mounted read-write", name)
		}
	}
	if !slices.Contains(c.Args, "--cgroup-root="+mounts["cgroup"].MountPath) {
		t.Errorf("args %v do not attach at the mounted host cgroup root %s", c.Args, mounts["cgroup"].MountPath)
	}
	// The capture API carries payloads: only port-forward may reach it.
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--api-addr="); ok && !strings.HasPrefix(v, "127.0.0.1:") {
			t.Errorf("the capture API listens on %s, not the pod's loopback", v)
		}
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Error("probes must use /readyz and /healthz")
	}
	if c.ImagePullPolicy != corev1.PullIfNotPresent && c.ImagePullPolicy != corev1.PullNever {
		t.Errorf("imagePullPolicy %s: the image may be imported, not pulled", c.ImagePullPolicy)
	}
	if spec.ServiceAccountName != o.sa.Name {
		t.Errorf("service account %q, want %q", spec.ServiceAccountName, o.sa.Name)
	}
}

func TestRBACAndService(t *testing.T) {
	o := decode(t, render(t))
	if len(o.role.Rules) != 1 {
		t.Fatalf("rules %+v", o.role.Rules)
	}
	r := o.role.Rules[0]
	if !slices.Equal(r.APIGroups, []string{""}) || !slices.Equal(r.Resources, []string{"pods", "services"}) ||
		!slices.Equal(r.Verbs, []string{"get", "list", "watch"}) {
		t.Errorf("rule %+v: want pods and services get/list/watch and nothing else", r)
	}
	if o.binding.RoleRef.Name != o.role.Name || len(o.binding.Subjects) != 1 || o.binding.Subjects[0].Name != o.sa.Name {
		t.Errorf("binding %+v does not bind the role to the agent's account", o.binding)
	}
	if o.ns != nil {
		t.Error("a Namespace rendered without createNamespace")
	}
	pod := o.ds.Spec.Template.Labels
	for k, v := range o.svc.Spec.Selector {
		if pod[k] != v {
			t.Errorf("service selector %s=%s does not select the agent's pods %v", k, v, pod)
		}
	}
	if len(o.svc.Spec.Ports) != 1 || o.svc.Spec.Ports[0].Port != 9464 {
		t.Errorf("service ports %+v", o.svc.Spec.Ports)
	}
	kinds := map[string]bool{}
	for _, m := range o.monitors {
		kinds[m["kind"].(string)] = true
	}
	if !kinds["ServiceMonitor"] || !kinds["PrometheusRule"] {
		t.Errorf("monitoring objects %v", kinds)
	}
}

// metricNames are the hoptap_ metrics the agent's source defines.
func metricNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join("..", "agent", "metrics", "*.go"))
	re := regexp.MustCompile(`"(hoptap_[a-z0-9_]+)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			names[m[1]] = true
		}
	}
	if len(names) < 10 {
		t.Fatalf("found only %d metric names", len(names))
	}
	return names
}

// used lists the hoptap_ metrics an expression uses, without the
// suffixes Prometheus adds to histograms.
func used(expr string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`hoptap_[a-z0-9_]+`).FindAllString(expr, -1) {
		for _, suf := range []string{"_bucket", "_count", "_sum"} {
			if strings.HasSuffix(m, "_seconds"+suf) {
				m = strings.TrimSuffix(m, suf)
			}
		}
		out = append(out, m)
	}
	return out
}

func TestAlertsAndDashboardUseRealMetrics(t *testing.T) {
	names := metricNames(t)
	o := decode(t, render(t))
	alerts := 0
	for _, m := range o.monitors {
		if m["kind"] != "PrometheusRule" {
			continue
		}
		for _, g := range m["spec"].(map[string]any)["groups"].([]any) {
			for _, r := range g.(map[string]any)["rules"].([]any) {
				rule := r.(map[string]any)
				alerts++
				for _, n := range used(rule["expr"].(string)) {
					if !names[n] {
						t.Errorf("alert %v uses %s, which the agent does not export", rule["alert"], n)
					}
				}
			}
		}
	}
	if alerts < 3 {
		t.Errorf("%d alerts, want p99 per edge, error ratio by origin and lost events", alerts)
	}
	b, err := os.ReadFile(filepath.Join("grafana", "hoptap-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	titles := ""
	for _, p := range dash.Panels {
		titles += p.Title + "\n"
		for _, tg := range p.Targets {
			for _, n := range used(tg.Expr) {
				if !names[n] {
					t.Errorf("panel %q uses %s, which the agent does not export", p.Title, n)
				}
			}
		}
	}
	for _, want := range []string{"Service graph", "hop", "origin"} {
		if !strings.Contains(titles, want) {
			t.Errorf("no panel about %q in:\n%s", want, titles)
		}
	}
}

// The image recipe needs no registry: scripts/image.py writes a
// docker-archive with one layer holding a static binary.
func TestImage(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "hoptap-agent")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "github.com/hoptap/hoptap/cmd/hoptap-agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary is dynamically linked: it cannot run on scratch")
		}
	}
	f.Close()
	out := filepath.Join(dir, "image.tar")
	if b, err := exec.Command(peers.Tool(t, "python3"), filepath.Join("..", "scripts", "image.py"), bin, out, "hoptap/hoptap-agent:test").CombinedOutput(); err != nil {
		t.Fatalf("image.py: %v\n%s", err, b)
	}
	files := readTar(t, out)
	var manifest []struct{ Config, RepoTags, Layers any }
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json: %v %s", err, files["manifest.json"])
	}
	var cfg struct {
		Config struct{ Entrypoint []string }
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(files[manifest[0].Config.(string)], &cfg); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/hoptap-agent"}) || len(cfg.RootFS.DiffIDs) != 1 {
		t.Fatalf("config %+v", cfg)
	}
	layers := manifest[0].Layers.([]any)
	layer := readTarBytes(t, files[layers[0].(string)])
	want, _ := os.ReadFile(bin)
	if !bytes.Equal(layer["hoptap-agent"], want) || len(layer) != 1 {
		t.Fatalf("the layer holds %d files; the binary is there: %v", len(layer), bytes.Equal(layer["hoptap-agent"], want))
	}
}

func readTar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return readTarBytes(t, b)
}

func readTarBytes(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	r := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = data
	}
}

// The alerts fire when they should, and only then: promtool evaluates the
// chart's rules on synthetic series (deploy/prometheus/alerts_test.yaml).
func TestAlertsFire(t *testing.T) {
	promtool := peers.Tool(t, "promtool")
	o := decode(t, render(t))
	var groups any
	for _, m := range o.monitors {
		if m["kind"] == "PrometheusRule" {
			groups = m["spec"].(map[string]any)["groups"]
		}
	}
	if groups == nil {
		t.Fatal("no PrometheusRule rendered")
	}
	rules, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join("prometheus", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// With apiTLS.secretName the capture API speaks TLS from the Secret,
// mounted read-only, and mutual TLS unless clientCA is false.
func TestCaptureAPITLS(t *testing.T) {
	for _, mutual := range []bool{true, false} {
		o := decode(t, render(t, "--set", "apiTLS.secretName=agent-tls", "--set", fmt.Sprintf("apiTLS.clientCA=%v", mutual)))
		spec := o.ds.Spec.Template.Spec
		var secret bool
		for _, v := range spec.Volumes {
			if v.Name == "api-tls" && v.Secret != nil && v.Secret.SecretName == "agent-tls" {
				secret = true
			}
		}
		c := spec.Containers[0]
		var mounted bool
		for _, m := range c.VolumeMounts {
			if m.Name == "api-tls" && m.ReadOnly && m.MountPath == "/etc/hoptap/api-tls" {
				mounted = true
			}
		}
		if !secret || !mounted {
			t.Errorf("mutual %v: secret volume %v, read-only mount %v", mutual, secret, mounted)
		}
		args := strings.Join(c.Args, " ")
		for _, want := range []string{"--api-tls-cert=/etc/hoptap/api-tls/tls.crt", "--api-tls-key=/etc/hoptap/api-tls/tls.key"} {
			if !strings.Contains(args, want) {
				t.Errorf("mutual %v: no %s in %s", mutual, want, args)
			}
		}
		if got := strings.Contains(args, "--api-tls-client-ca=/etc/hoptap/api-tls/ca.crt"); got != mutual {
			t.Errorf("mutual %v: client CA argument %v", mutual, got)
		}
	}
	if args := strings.Join(decode(t, render(t)).ds.Spec.Template.Spec.Containers[0].Args, " "); strings.Contains(args, "api-tls") {
		t.Errorf("TLS arguments without apiTLS.secretName: %s", args)
	}
}

// The capture roles: read access to pods and services, port-forwards to
// the agents' pods in their namespace only, nothing else; bound to the
// chart's capturers, and to no one without them.
func TestCaptureRoles(t *testing.T) {
	o := decode(t, render(t))
	cr, r := o.clusterRoles["hoptap-capture"], o.roles["hoptap-capture"]
	if cr == nil || r == nil {
		t.Fatalf("capture roles missing: cluster role %v, role %v", cr != nil, r != nil)
	}
	if len(cr.Rules) != 1 || !slices.Equal(cr.Rules[0].Resources, []string{"pods", "services"}) || !slices.Equal(cr.Rules[0].Verbs, []string{"get", "list"}) {
		t.Errorf("capture cluster role %+v: want pods and services get/list only", cr.Rules)
	}
	if len(r.Rules) != 1 || !slices.Equal(r.Rules[0].Resources, []string{"pods/portforward"}) || !slices.Equal(r.Rules[0].Verbs, []string{"create", "get"}) || r.Namespace != "hoptap" {
		t.Errorf("capture role %+v in %q: want pods/portforward create/get in the release namespace only", r.Rules, r.Namespace)
	}
	if len(o.clusterBindings) != 1 || len(o.roleBindings) != 0 {
		t.Errorf("bindings without capturers: %d cluster, %d namespaced; want the agent's alone", len(o.clusterBindings), len(o.roleBindings))
	}
	o = decode(t, render(t, "--set", "capturers[0].kind=Group,capturers[0].name=sre,capturers[0].apiGroup=rbac.authorization.k8s.io"))
	crb, rb := o.clusterBindings["hoptap-capture"], o.roleBindings["hoptap-capture"]
	if crb == nil || rb == nil {
		t.Fatalf("capturers bound: cluster binding %v, binding %v", crb != nil, rb != nil)
	}
	for _, subj := range [][]rbacv1.Subject{crb.Subjects, rb.Subjects} {
		if len(subj) != 1 || subj[0].Kind != "Group" || subj[0].Name != "sre" {
			t.Errorf("subjects %+v, want the group sre", subj)
		}
	}
	if crb.RoleRef.Name != "hoptap-capture" || rb.RoleRef.Name != "hoptap-capture" || rb.RoleRef.Kind != "Role" {
		t.Errorf("role refs %+v %+v", crb.RoleRef, rb.RoleRef)
	}
}
