package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/hoptap/hoptap/agent/k8s"
)

// agentLabel selects the agent's pods, as deploy/ labels them.
const agentLabel = "app.kubernetes.io/name=hoptap-agent"

// agentTarget is one agent to stream from.
type agentTarget struct {
	name string // how messages name it: the node, or the address given
	addr string // gRPC target
	node string // its node, when found through Kubernetes
	stop func()
}

// kubeTargets finds the agents that --node or --pod asks for, opens a
// port-forward through the API server to each one's capture API (so
// that RBAC, pods/portforward, decides who may capture), and returns
// them with the extra --host filters that --pod implies.
func kubeTargets(ctx context.Context, stderr io.Writer, o *options) ([]agentTarget, []string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	kc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.kubeContext})
	cfg, err := kc.ClientConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig: %w", err)
	}
	rc, err := k8s.CoreClient(cfg, "hoptap-capture")
	if err != nil {
		return nil, nil, err
	}
	var nodes map[string]bool // nil: every node
	var hosts []string
	if o.node != "" {
		nodes = map[string]bool{o.node: true}
	}
	if o.pod != "" {
		ns, name, ok := strings.Cut(o.pod, "/")
		if !ok {
			if ns, _, err = kc.Namespace(); err != nil {
				return nil, nil, fmt.Errorf("kubeconfig: %w", err)
			}
			name = o.pod
		}
		var pod corev1.Pod
		if err := rc.Get().Namespace(ns).Resource("pods").Name(name).Do(ctx).Into(&pod); err != nil {
			return nil, nil, fmt.Errorf("--pod %s/%s: %w", ns, name, err)
		}
		if pod.Spec.HostNetwork {
			return nil, nil, fmt.Errorf("--pod %s/%s runs on its node's network, so its address is not its own: use --node %s with --port", ns, name, pod.Spec.NodeName)
		}
		for _, ip := range pod.Status.PodIPs {
			hosts = append(hosts, ip.IP)
		}
		if len(hosts) == 0 {
			return nil, nil, fmt.Errorf("--pod %s/%s has no IP yet (phase %s)", ns, name, pod.Status.Phase)
		}
		// Clients that dial a Service reach the pod by the Service's
		// cluster IP: at their node, replies come from that address.
		svcs, err := servicesOf(ctx, rc, &pod)
		if err != nil {
			return nil, nil, err
		}
		hosts = append(hosts, svcs...)
		// Every agent: the pod's peers may run on any node, and each
		// agent's kernel filter passes only this pod's connections.
	}
	var list corev1.PodList
	if err := rc.Get().Namespace(o.agentNamespace).Resource("pods").
		VersionedParams(&metav1.ListOptions{LabelSelector: agentLabel}, k8s.ParameterCodec).
		Do(ctx).Into(&list); err != nil {
		return nil, nil, fmt.Errorf("listing the agents in namespace %s: %w", o.agentNamespace, err)
	}
	var targets []agentTarget
	fail := func(err error) ([]agentTarget, []string, error) {
		for _, t := range targets {
			t.stop()
		}
		return nil, nil, err
	}
	for i := range list.Items {
		p := &list.Items[i]
		if nodes != nil && !nodes[p.Spec.NodeName] {
			continue
		}
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			fmt.Fprintf(stderr, "hoptap: skipping agent %s/%s on node %s: %s\n", p.Namespace, p.Name, p.Spec.NodeName, p.Status.Phase)
			continue
		}
		addr, stop, err := forward(cfg, rc, p, o.agentPort)
		if err != nil {
			return fail(fmt.Errorf("port-forward to agent %s/%s on node %s: %w", p.Namespace, p.Name, p.Spec.NodeName, err))
		}
		targets = append(targets, agentTarget{name: "node " + p.Spec.NodeName, addr: addr, node: p.Spec.NodeName, stop: stop})
	}
	if len(targets) == 0 {
		where := "any node"
		if o.node != "" {
			where = "node " + o.node
		}
		return nil, nil, fmt.Errorf("no running hoptap agent on %s in namespace %s (pods labelled %s): install deploy/, or set --agent-namespace", where, o.agentNamespace, agentLabel)
	}
	return targets, hosts, nil
}

// servicesOf returns the cluster IPs of the Services in the pod's
// namespace whose selector picks the pod.
func servicesOf(ctx context.Context, rc *rest.RESTClient, pod *corev1.Pod) ([]string, error) {
	var list corev1.ServiceList
	if err := rc.Get().Namespace(pod.Namespace).Resource("services").Do(ctx).Into(&list); err != nil {
		return nil, fmt.Errorf("listing the services of namespace %s: %w", pod.Namespace, err)
	}
	var ips []string
	for _, s := range list.Items {
		if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			continue
		}
		for _, ip := range s.Spec.ClusterIPs {
			if _, err := netip.ParseAddr(ip); err == nil { // not "None"
				ips = append(ips, ip)
			}
		}
	}
	return ips, nil
}

// forward opens a port-forward from 127.0.0.1 (a free port) to port of
// the pod, over WebSockets or, from older API servers, SPDY, as kubectl
// does.
func forward(cfg *rest.Config, rc *rest.RESTClient, p *corev1.Pod, port int) (string, func(), error) {
	url := rc.Post().Namespace(p.Namespace).Resource("pods").Name(p.Name).SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return "", nil, err
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, url)
	if ws, err := portforward.NewSPDYOverWebsocketDialer(url, cfg); err == nil {
		dialer = portforward.NewFallbackDialer(ws, dialer, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
	}
	stopCh, readyCh := make(chan struct{}), make(chan struct{})
	var errOut strings.Builder
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", port)}, stopCh, readyCh, io.Discard, &errOut)
	if err != nil {
		return "", nil, err
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	select {
	case <-readyCh:
	case err := <-done:
		if err == nil {
			err = errors.New("port-forward ended before it was ready")
		}
		return "", nil, err
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		close(stopCh)
		return "", nil, fmt.Errorf("port-forward: no local port (%v)", err)
	}
	stop := func() {
		close(stopCh)
		<-done
	}
	return fmt.Sprintf("127.0.0.1:%d", ports[0].Local), stop, nil
}
