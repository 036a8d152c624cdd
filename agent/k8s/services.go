package k8s

import (
	"context"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Service is what the agent shows of a Service: its name, by which a
// client that dials a ClusterIP names the far end.
type Service struct {
	Namespace, Name string
}

// Label names the service as namespace/name.
func (s *Service) Label() string { return s.Namespace + "/" + s.Name }

// Services indexes the cluster's Services by their cluster IPs. It is
// safe for concurrent use.
type Services struct {
	mu    sync.RWMutex
	byKey map[string][]netip.Addr // namespace/name → its cluster IPs
	byIP  map[netip.Addr]*Service
}

// NewServices returns an empty index.
func NewServices() *Services {
	return &Services{byKey: map[string][]netip.Addr{}, byIP: map[netip.Addr]*Service{}}
}

// ByIP finds the Service with this cluster IP.
func (s *Services) ByIP(a netip.Addr) (*Service, bool) {
	if s == nil {
		return nil, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	svc, ok := s.byIP[a.Unmap()]
	return svc, ok
}

// Len is the number of Services with a cluster IP (0 for a nil index).
func (s *Services) Len() int {
	if s == nil {
		return 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byKey)
}

// Set adds or replaces a Service. Headless Services and those without a
// cluster IP are not indexed: their clients dial the pods themselves.
func (s *Services) Set(k *corev1.Service) {
	key := k.Namespace + "/" + k.Name
	ips := k.Spec.ClusterIPs
	if len(ips) == 0 && k.Spec.ClusterIP != "" {
		ips = []string{k.Spec.ClusterIP}
	}
	svc := &Service{Namespace: k.Namespace, Name: k.Name}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(key)
	var addrs []netip.Addr
	for _, ip := range ips {
		if a, err := netip.ParseAddr(ip); err == nil {
			addrs = append(addrs, a.Unmap())
			s.byIP[a.Unmap()] = svc
		}
	}
	if len(addrs) > 0 {
		s.byKey[key] = addrs
	}
}

// Delete removes a Service.
func (s *Services) Delete(namespace, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(namespace + "/" + name)
}

func (s *Services) remove(key string) {
	for _, a := range s.byKey[key] {
		delete(s.byIP, a)
	}
	delete(s.byKey, key)
}

// WatchServices keeps services up to date with the cluster's Services
// until ctx ends. It returns once the first list is in, or with an error
// if it does not come within timeout.
func WatchServices(ctx context.Context, client API, services *Services, timeout time.Duration) error {
	inf := cache.NewSharedIndexInformer(listWatch(client.Services(), ""), &corev1.Service{}, 10*time.Minute, cache.Indexers{})
	// Only the name and the cluster IPs are kept.
	inf.SetTransform(func(obj any) (any, error) {
		if k, ok := obj.(*corev1.Service); ok {
			slim := &corev1.Service{}
			slim.Namespace, slim.Name, slim.UID, slim.ResourceVersion = k.Namespace, k.Name, k.UID, k.ResourceVersion
			slim.Spec.ClusterIP, slim.Spec.ClusterIPs = k.Spec.ClusterIP, k.Spec.ClusterIPs
			return slim, nil
		}
		return obj, nil
	})
	set := func(obj any) {
		if k, ok := obj.(*corev1.Service); ok {
			services.Set(k)
		}
	}
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, obj any) { set(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if k, ok := obj.(*corev1.Service); ok {
				services.Delete(k.Namespace, k.Name)
			}
		},
	})
	return runInformer(ctx, inf, timeout, "the cluster's services")
}
