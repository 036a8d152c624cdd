package k8s

import (
	"net/netip"
	"sync"

	"github.com/hoptap/hoptap/agent/capture"
	"github.com/hoptap/hoptap/agent/metrics"
)

// Namer names workloads by pod, as namespace/workload: a local socket
// by its cgroup's pod, any address by the pod that has it (this node's
// pods, then the cluster's when Remote is set), a Service's cluster IP by
// the Service (namespace/name). Everything else goes to Fallback (the
// process, or the IP).
type Namer struct {
	Pods     *Pods
	Remote   *Pods     // the cluster's pods; nil: not watched
	Services *Services // the cluster's Services; nil: not watched
	Fallback metrics.Namer

	mu    sync.Mutex
	byPID map[uint32]string // process → pod UID ("" none), for cgroup v1 nodes
}

// maxPIDs bounds the per-process cache.
const maxPIDs = 4096

// Workload implements metrics.Namer.
func (n *Namer) Workload(addr netip.Addr, sock *capture.Socket) string {
	if sock != nil {
		if uid := n.podOf(sock); uid != "" {
			if p, ok := n.Pods.ByUID(uid); ok {
				return p.Label()
			}
		}
	}
	if p, ok := n.Pods.ByIP(addr); ok {
		return p.Label()
	}
	if n.Remote != nil {
		if p, ok := n.Remote.ByIP(addr); ok {
			return p.Label()
		}
	}
	if svc, ok := n.Services.ByIP(addr); ok {
		return svc.Label()
	}
	if n.Fallback == nil {
		return metrics.ProcessNamer{}.Workload(addr, sock)
	}
	return n.Fallback.Workload(addr, sock)
}

// podOf finds the pod UID of a socket's container: from its cgroup v2
// path, or on a cgroup v1 node (where sockets sit in the v2 root) from
// its process's cgroups.
func (n *Namer) podOf(sock *capture.Socket) string {
	if c, ok := ParseCgroup(sock.CgroupPath); ok {
		return c.PodUID
	}
	if !sock.Known || sock.PID == 0 {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if uid, ok := n.byPID[sock.PID]; ok {
		return uid
	}
	uid := ""
	if path, err := ProcessCgroup(sock.PID); err == nil {
		if c, ok := ParseCgroup(path); ok {
			uid = c.PodUID
		}
	}
	if n.byPID == nil || len(n.byPID) >= maxPIDs {
		n.byPID = map[uint32]string{}
	}
	n.byPID[sock.PID] = uid
	return uid
}
