package k8s

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// Pod is what the agent shows of a pod.
type Pod struct {
	UID                 string
	Namespace, Name     string
	Workload, OwnerKind string // the owning Deployment, StatefulSet, DaemonSet, Job...; the pod itself when none
	Labels              map[string]string
	IPs                 []netip.Addr
	HostNetwork         bool
}

// Label is how metrics name the pod: namespace/workload.
func (p *Pod) Label() string { return p.Namespace + "/" + p.Workload }

// Pods indexes this node's pods by UID and by IP. It is safe for
// concurrent use: the informer writes, the capture reads.
type Pods struct {
	mu    sync.RWMutex
	byUID map[string]*Pod
	byIP  map[netip.Addr]*Pod
}

// NewPods returns an empty index.
func NewPods() *Pods { return &Pods{byUID: map[string]*Pod{}, byIP: map[netip.Addr]*Pod{}} }

// ByUID finds a pod by its UID.
func (p *Pods) ByUID(uid string) (*Pod, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	pod, ok := p.byUID[uid]
	return pod, ok
}

// ByIP finds the pod with this address. Pods on the host's network share
// the node's addresses and are never found this way.
func (p *Pods) ByIP(a netip.Addr) (*Pod, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	pod, ok := p.byIP[a.Unmap()]
	return pod, ok
}

// Len is the number of pods indexed (0 for a nil index).
func (p *Pods) Len() int {
	if p == nil {
		return 0
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.byUID)
}

// Set adds or replaces a pod.
func (p *Pods) Set(k *corev1.Pod) {
	pod := fromAPI(k)
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.byUID[pod.UID]; ok {
		p.unindex(old)
	}
	p.byUID[pod.UID] = pod
	if !pod.HostNetwork {
		for _, a := range pod.IPs {
			p.byIP[a] = pod
		}
	}
}

// Delete removes a pod.
func (p *Pods) Delete(uid string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.byUID[uid]; ok {
		p.unindex(old)
		delete(p.byUID, uid)
	}
}

func (p *Pods) unindex(old *Pod) {
	for _, a := range old.IPs {
		if p.byIP[a] == old {
			delete(p.byIP, a)
		}
	}
}

func fromAPI(k *corev1.Pod) *Pod {
	pod := &Pod{UID: string(k.UID), Namespace: k.Namespace, Name: k.Name, Labels: k.Labels,
		HostNetwork: k.Spec.HostNetwork, Workload: k.Name, OwnerKind: "Pod"}
	for _, ip := range k.Status.PodIPs {
		if a, err := netip.ParseAddr(ip.IP); err == nil {
			pod.IPs = append(pod.IPs, a.Unmap())
		}
	}
	if len(pod.IPs) == 0 && k.Status.PodIP != "" {
		if a, err := netip.ParseAddr(k.Status.PodIP); err == nil {
			pod.IPs = append(pod.IPs, a.Unmap())
		}
	}
	for _, o := range k.OwnerReferences {
		if o.Controller == nil || !*o.Controller {
			continue
		}
		pod.Workload, pod.OwnerKind = o.Name, o.Kind
		// A Deployment's ReplicaSet is named after it plus the
		// pod-template-hash, which the pod carries as a label.
		if h := k.Labels["pod-template-hash"]; o.Kind == "ReplicaSet" && h != "" && strings.HasSuffix(o.Name, "-"+h) {
			pod.Workload, pod.OwnerKind = strings.TrimSuffix(o.Name, "-"+h), "Deployment"
		}
	}
	return pod
}

// Watch keeps pods up to date with this node's pods (an informer with
// the field selector spec.nodeName=node) until ctx ends. It returns once
// the first list is in, or with an error if it does not come within
// timeout.
func Watch(ctx context.Context, client API, node string, pods *Pods, timeout time.Duration) error {
	sel := fields.OneTermEqualSelector("spec.nodeName", node).String()
	return watchPods(ctx, client.Pods(), sel, pods, true, timeout, "the pods of node "+node)
}

// WatchCluster keeps pods up to date with every pod of the cluster, to
// name the far ends of connections by pod. Only names, owners and
// addresses are kept, not labels.
func WatchCluster(ctx context.Context, client API, pods *Pods, timeout time.Duration) error {
	return watchPods(ctx, client.Pods(), "", pods, false, timeout, "the cluster's pods")
}

// listWatch is res restricted to the objects the field selector sel
// picks. Wrapped, the reflector asks the client whether it can stream
// the initial list (real API servers can; a fake cannot).
func listWatch(res Resource, sel string) cache.ListerWatcher {
	return cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return res.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return res.Watch(ctx, o)
		},
	}, res)
}

// runInformer runs inf until ctx ends and waits, at most timeout, for its first
// list.
func runInformer(ctx context.Context, inf cache.SharedIndexInformer, timeout time.Duration, what string) error {
	go inf.Run(ctx.Done())
	syncCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), inf.HasSynced) {
		return fmt.Errorf("listing %s: no answer from the API server within %s", what, timeout)
	}
	return nil
}

func watchPods(ctx context.Context, res Resource, sel string, pods *Pods, labels bool, timeout time.Duration, what string) error {
	inf := cache.NewSharedIndexInformer(listWatch(res, sel), &corev1.Pod{}, 10*time.Minute, cache.Indexers{})
	// Only what the agent shows is kept, not whole pod specs.
	inf.SetTransform(func(obj any) (any, error) {
		if k, ok := obj.(*corev1.Pod); ok {
			slim := &corev1.Pod{ObjectMeta: k.ObjectMeta, Status: corev1.PodStatus{PodIP: k.Status.PodIP, PodIPs: k.Status.PodIPs}}
			slim.Spec.HostNetwork = k.Spec.HostNetwork
			slim.ManagedFields = nil
			slim.Annotations = nil
			if !labels {
				hash := slim.Labels["pod-template-hash"] // names a Deployment's pods
				slim.Labels = nil
				if hash != "" {
					slim.Labels = map[string]string{"pod-template-hash": hash}
				}
			}
			return slim, nil
		}
		return obj, nil
	})
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { setPod(pods, obj) },
		UpdateFunc: func(_, obj any) { setPod(pods, obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if k, ok := obj.(*corev1.Pod); ok {
				pods.Delete(string(k.UID))
			}
		},
	})
	return runInformer(ctx, inf, timeout, what)
}

func setPod(pods *Pods, obj any) {
	if k, ok := obj.(*corev1.Pod); ok {
		pods.Set(k)
	}
}
