package k8s

import (
	"context"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
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

// fakePods is the fake's pods client, saying, as the fake clientset
// does, that it cannot stream an initial list.
type fakePods struct {
	corev1client.PodsGetter
	cs *fake.Clientset
}

func (f fakePods) IsWatchListSemanticsUnSupported() bool {
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
	if err := Watch(ctx, fakePods{client.CoreV1(), client}, "node-a", pods, 10*time.Second); err != nil {
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
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := pods.ByUID(uid2); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a deleted pod is still indexed")
		}
		time.Sleep(10 * time.Millisecond)
	}
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
	if err := WatchCluster(ctx, fakePods{client.CoreV1(), client}, remote, 10*time.Second); err != nil {
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
