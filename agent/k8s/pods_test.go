package k8s

import (
	"context"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/hoptap/hoptap/agent/capture"
)

func pod(name, ns, uid, node, ip string, owner *metav1.OwnerReference, labels map[string]string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(uid), Labels: labels},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return p
}

func controller(kind, name string) *metav1.OwnerReference {
	yes := true
	return &metav1.OwnerReference{Kind: kind, Name: name, Controller: &yes}
}

// fakeAPI is the agent's API on the fake clientset, saying, as the
// fake does, that it cannot stream an initial list.
type fakeAPI struct{ cs *fake.Clientset }

func (f fakeAPI) Pods() Resource {
	pods := f.cs.CoreV1().Pods(metav1.NamespaceAll)
	return fakeResource{f.cs, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return pods.List(ctx, o) }, pods.Watch}
}

func (f fakeAPI) Services() Resource {
	svcs := f.cs.CoreV1().Services(metav1.NamespaceAll)
	return fakeResource{f.cs, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return svcs.List(ctx, o) }, svcs.Watch}
}

type fakeResource struct {
	cs    *fake.Clientset
	list  func(context.Context, metav1.ListOptions) (runtime.Object, error)
	watch func(context.Context, metav1.ListOptions) (watch.Interface, error)
}

func (f fakeResource) List(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
	return f.list(ctx, o)
}

func (f fakeResource) Watch(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
	return f.watch(ctx, o)
}

func (f fakeResource) IsWatchListSemanticsUnSupported() bool {
	return f.cs.IsWatchListSemanticsUnSupported()
}

const uid2 = "11111111-2222-3333-4444-555555555555"

func TestWatchThisNodesPods(t *testing.T) {
	client := fake.NewSimpleClientset(
		pod("checkout-7d4b9c-x2x9z", "shop", uid, "node-a", "198.18.128.7",
			controller("ReplicaSet", "checkout-7d4b9c"), map[string]string{"pod-template-hash": "7d4b9c", "app": "checkout"}),
		pod("db-0", "shop", uid2, "node-a", "198.18.128.8", controller("StatefulSet", "db"), nil),
	)
	pods := NewPods()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := Watch(ctx, fakeAPI{client}, "node-a", pods, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// Only this node's pods are asked for.
	listed := false
	for _, a := range client.Actions() {
		if l, ok := a.(k8stesting.ListAction); ok && a.GetResource().Resource == "pods" {
			listed = true
			if got := l.GetListRestrictions().Fields.String(); got != "spec.nodeName=node-a" {
				t.Errorf("pods listed with field selector %q, want spec.nodeName=node-a", got)
			}
		}
	}
	if !listed {
		t.Fatal("pods never listed")
	}
	p, ok := pods.ByUID(uid)
	if !ok || p.Label() != "shop/checkout" || p.OwnerKind != "Deployment" || p.Labels["app"] != "checkout" {
		t.Fatalf("deployment pod: %+v %v", p, ok)
	}
	if p, ok := pods.ByIP(netip.MustParseAddr("198.18.128.8")); !ok || p.Label() != "shop/db" || p.OwnerKind != "StatefulSet" {
		t.Fatalf("statefulset pod by IP: %+v %v", p, ok)
	}
	// A pod goes away: the watch removes it.
	if err := client.CoreV1().Pods("shop").Delete(ctx, "db-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, ok := pods.ByUID(uid2); return !ok }, "the pod's deletion")
	if _, ok := pods.ByIP(netip.MustParseAddr("198.18.128.8")); ok {
		t.Error("a deleted pod's IP still resolves")
	}
}

func TestPodsIndex(t *testing.T) {
	pods := NewPods()
	host := pod("node-exporter-abcde", "mon", uid2, "n", "198.18.0.1", controller("DaemonSet", "node-exporter"), nil)
	host.Spec.HostNetwork = true
	pods.Set(host)
	if _, ok := pods.ByIP(netip.MustParseAddr("198.18.0.1")); ok {
		t.Error("a host-network pod owns the node's address")
	}
	bare := pod("debug", "default", uid, "n", "198.18.128.9", nil, nil)
	pods.Set(bare)
	if p, _ := pods.ByUID(uid); p.Label() != "default/debug" || p.OwnerKind != "Pod" {
		t.Errorf("a pod without a controller: %+v", p)
	}
	// The pod's IP changes (a restart elsewhere): the old one is gone.
	moved := bare.DeepCopy()
	moved.Status.PodIP, moved.Status.PodIPs = "198.18.128.10", []corev1.PodIP{{IP: "198.18.128.10"}}
	pods.Set(moved)
	if _, ok := pods.ByIP(netip.MustParseAddr("198.18.128.9")); ok {
		t.Error("the old IP still resolves")
	}
	if _, ok := pods.ByIP(netip.MustParseAddr("198.18.128.10")); !ok {
		t.Error("the new IP does not resolve")
	}
}

func TestNamer(t *testing.T) {
	pods := NewPods()
	pods.Set(pod("checkout-7d4b9c-x2x9z", "shop", uid, "n", "198.18.128.7",
		controller("ReplicaSet", "checkout-7d4b9c"), map[string]string{"pod-template-hash": "7d4b9c"}))
	n := &Namer{Pods: pods}
	local := &capture.Socket{Known: true, Comm: "checkout", CgroupPath: layouts[0].path}
	if got := n.Workload(netip.MustParseAddr("10.0.0.1"), local); got != "shop/checkout" {
		t.Errorf("local socket in the pod's cgroup: %q", got)
	}
	if got := n.Workload(netip.MustParseAddr("198.18.128.7"), nil); got != "shop/checkout" {
		t.Errorf("the pod's address: %q", got)
	}
	if got := n.Workload(netip.MustParseAddr("198.18.200.1"), &capture.Socket{Known: true, Comm: "sshd", CgroupPath: "/system.slice/ssh.service"}); got != "sshd" {
		t.Errorf("a process outside Kubernetes: %q", got)
	}
	if got := n.Workload(netip.MustParseAddr("198.18.200.2"), nil); got != "198.18.200.2" {
		t.Errorf("an unknown address: %q", got)
	}
	// pcapng comments name the pod itself.
	if got := n.Describe(1, 0, layouts[0].path); got != "pod=shop/checkout-7d4b9c-x2x9z" {
		t.Errorf("a pod's socket described as %q", got)
	}
	if got := n.Describe(1, 0, "/system.slice/ssh.service"); got != "" {
		t.Errorf("a socket outside pods described as %q", got)
	}
}

// The cluster's pods name the far ends: every node's pods, labels left
// out, Deployments still named.
func TestWatchCluster(t *testing.T) {
	client := fake.NewSimpleClientset(
		pod("checkout-7d4b9c-x2x9z", "shop", uid, "node-a", "198.18.128.7",
			controller("ReplicaSet", "checkout-7d4b9c"), map[string]string{"pod-template-hash": "7d4b9c", "app": "checkout"}),
		pod("db-0", "shop", uid2, "node-b", "198.18.129.8", controller("StatefulSet", "db"), nil),
	)
	remote := NewPods()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := WatchCluster(ctx, fakeAPI{client}, remote, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, a := range client.Actions() {
		if l, ok := a.(k8stesting.ListAction); ok && l.GetListRestrictions().Fields.String() != "" {
			t.Errorf("the cluster's pods listed with a field selector %q", l.GetListRestrictions().Fields)
		}
	}
	if p, ok := remote.ByIP(netip.MustParseAddr("198.18.129.8")); !ok || p.Label() != "shop/db" {
		t.Errorf("another node's pod: %+v %v", p, ok)
	}
	p, ok := remote.ByIP(netip.MustParseAddr("198.18.128.7"))
	if !ok || p.Label() != "shop/checkout" || p.Labels["app"] != "" {
		t.Errorf("a Deployment's pod, labels dropped: %+v %v", p, ok)
	}
	n := &Namer{Pods: NewPods(), Remote: remote}
	if got := n.Workload(netip.MustParseAddr("198.18.129.8"), nil); got != "shop/db" {
		t.Errorf("the far end of a connection: %q", got)
	}
}

// Services name cluster IPs: a client that dials one names the Service.
func TestWatchServices(t *testing.T) {
	svc := func(ns, name string, ips ...string) *corev1.Service {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		if len(ips) > 0 {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = ips[0], ips
		}
		return s
	}
	client := fake.NewSimpleClientset(
		svc("shop", "checkout", "198.19.0.10"),
		svc("shop", "db", "None"), // headless: clients dial the pods
		svc("default", "kubernetes", "198.19.0.1", "fd00::1"),
	)
	services := NewServices()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := WatchServices(ctx, fakeAPI{client}, services, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if services.Len() != 2 {
		t.Errorf("%d services indexed, want 2 (the headless one has no cluster IP)", services.Len())
	}
	n := &Namer{Pods: NewPods(), Services: services}
	for addr, want := range map[string]string{"198.19.0.10": "shop/checkout", "fd00::1": "default/kubernetes", "198.19.0.11": "198.19.0.11"} {
		if got := n.Workload(netip.MustParseAddr(addr), nil); got != want {
			t.Errorf("%s: named %q, want %q", addr, got, want)
		}
	}
	// The Service gets a new address; then it is deleted.
	moved := svc("shop", "checkout", "198.19.0.20")
	if _, err := client.CoreV1().Services("shop").Update(ctx, moved, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, ok := services.ByIP(netip.MustParseAddr("198.19.0.20")); return ok }, "the new cluster IP")
	if _, ok := services.ByIP(netip.MustParseAddr("198.19.0.10")); ok {
		t.Error("the old cluster IP still resolves")
	}
	if err := client.CoreV1().Services("shop").Delete(ctx, "checkout", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, ok := services.ByIP(netip.MustParseAddr("198.19.0.20")); return !ok }, "the deletion")
}

// waitFor polls cond, which the informer makes true asynchronously,
// until it holds or 10 s pass.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not reach the index within 10 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
