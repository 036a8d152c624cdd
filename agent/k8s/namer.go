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

	mu       sync.Mutex
	bySocket map[procKey]string // socket and its process → pod UID ("" none), for cgroup v1 nodes
}

// procKey names a process as the owner of one socket. A process ID
// alone is not enough: IDs are reused (within seconds on a busy node
// with pid_max 32768), and a reused one must not inherit a pod.
type procKey struct {
	cookie uint64
	pid    uint32
}

// maxPIDs bounds the per-socket cache.
const maxPIDs = 4096

// Workload implements metrics.Namer.
func (n *Namer) Workload(addr netip.Addr, sock *capture.Socket) string {
	return n.Identify(addr, sock).Workload
}

// Identify implements metrics.Identifier: an end named by a pod or a
// Service keeps its name. Any other may be a pod not known yet: a new
// pod's IP comes with its status, after its containers start; on a
// cgroup v1 node a process that already exited has no cgroup to read.
func (n *Namer) Identify(addr netip.Addr, sock *capture.Socket) metrics.Identity {
	if p := n.pod(addr, sock); p != nil {
		return metrics.Identity{Workload: p.Label(), Pod: p.Name, Final: true}
	}
	if svc, ok := n.Services.ByIP(addr); ok {
		return metrics.Identity{Workload: svc.Label(), Final: true}
	}
	if n.Fallback == nil {
		return metrics.Identity{Workload: metrics.ProcessNamer{}.Workload(addr, sock)}
	}
	return metrics.Identity{Workload: n.Fallback.Workload(addr, sock)}
}

// pod finds the pod of an end: a local socket's by its cgroup, any
// address's by the pod that has it.
func (n *Namer) pod(addr netip.Addr, sock *capture.Socket) *Pod {
	if sock != nil {
		if uid := n.podOf(sock); uid != "" {
			if p, ok := n.Pods.ByUID(uid); ok {
				return p
			}
		}
	}
	if p, ok := n.Pods.ByIP(addr); ok {
		return p
	}
	if n.Remote != nil {
		if p, ok := n.Remote.ByIP(addr); ok {
			return p
		}
	}
	return nil
}

// Describe names the pod of a socket, for pcapng comments:
// "pod=namespace/name", or "" when it is not a pod's or not known.
func (n *Namer) Describe(cookie uint64, pid uint32, cgroupPath string) string {
	uid := n.podOf(&capture.Socket{Known: pid != 0, PID: pid, CgroupPath: cgroupPath, Cookie: cookie})
	if uid == "" {
		return ""
	}
	if p, ok := n.Pods.ByUID(uid); ok {
		return "pod=" + p.Namespace + "/" + p.Name
	}
	return "pod=uid:" + uid
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
	k := procKey{sock.Cookie, sock.PID}
	n.mu.Lock()
	defer n.mu.Unlock()
	if uid, ok := n.bySocket[k]; ok {
		return uid
	}
	uid := ""
	if path, err := ProcessCgroup(sock.PID); err == nil {
		if c, ok := ParseCgroup(path); ok {
			uid = c.PodUID
		}
	}
	if n.bySocket == nil || len(n.bySocket) >= maxPIDs {
		n.bySocket = map[procKey]string{}
	}
	n.bySocket[k] = uid
	return uid
}
