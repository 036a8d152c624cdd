// Package k8s finds the Kubernetes identity of a socket: its container
// and pod from the node's cgroup paths, then the pod's namespace, name,
// owning workload and labels from the API server.
package k8s

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// Container is what a cgroup path says about a container.
type Container struct {
	PodUID      string // with dashes, as the API server writes it
	ContainerID string // 64 hex digits; "" for a pod-level cgroup
	Runtime     string // containerd, cri-o or docker; "" when the path does not say
	QoS         string // guaranteed, burstable or besteffort
}

// ParseCgroup reads a cgroup path of the kubelet's layout: the systemd
// driver (kubepods.slice/kubepods-burstable.slice/
// kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope) or the
// cgroupfs driver (kubepods/burstable/pod<uid>/<id>), for containerd,
// CRI-O and Docker, cgroup v1 or v2 (the path is the same below the
// controller's mount). ok is false for paths outside kubepods.
func ParseCgroup(path string) (c Container, ok bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	i := 0
	for i < len(parts) && parts[i] != "kubepods.slice" && parts[i] != "kubepods" {
		i++ // a prefix such as the node's own slice in nested set-ups
	}
	if i == len(parts) {
		return c, false
	}
	c.QoS = "guaranteed"
	for _, p := range parts[i+1:] {
		name := strings.TrimSuffix(strings.TrimSuffix(p, ".slice"), ".scope")
		switch {
		case name == "burstable" || name == "besteffort":
			c.QoS = name
		case name == "kubepods-burstable" || name == "kubepods-besteffort":
			c.QoS = strings.TrimPrefix(name, "kubepods-")
		case c.PodUID == "" && (strings.HasPrefix(name, "pod") || strings.Contains(name, "-pod")):
			uid := name[strings.LastIndex(name, "pod")+3:]
			if strings.HasSuffix(p, ".slice") {
				uid = strings.ReplaceAll(uid, "_", "-") // systemd escapes dashes
			}
			if !isUID(uid) {
				return Container{}, false
			}
			c.PodUID = uid
		case c.PodUID != "":
			id, rt := containerID(name)
			if id == "" {
				return Container{}, false
			}
			c.ContainerID, c.Runtime = id, rt
			return c, true
		}
	}
	if c.PodUID == "" {
		return Container{}, false
	}
	return c, true
}

// containerID reads the last element of a container's cgroup.
func containerID(name string) (id, runtime string) {
	for _, p := range []struct{ prefix, runtime string }{
		{"cri-containerd-", "containerd"}, {"crio-conmon-", "cri-o"}, {"crio-", "cri-o"},
		{"docker-", "docker"}, {"cri-dockerd-", "docker"},
	} {
		if strings.HasPrefix(name, p.prefix) {
			name, runtime = strings.TrimPrefix(name, p.prefix), p.runtime
			break
		}
	}
	if len(name) != 64 || strings.Trim(name, "0123456789abcdef") != "" {
		return "", ""
	}
	return name, runtime
}

func isUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdef", r) {
				return false
			}
		}
	}
	return true
}

// ProcessCgroup is the cgroup path of a process that says most about
// it: the unified (v2) one, else the first v1 hierarchy under kubepods,
// else the v1 one of the first controller.
func ProcessCgroup(pid uint32) (string, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", err
	}
	defer f.Close()
	var v2, kube, first string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// hierarchy-ID:controllers:path
		fields := strings.SplitN(sc.Text(), ":", 3)
		if len(fields) != 3 {
			continue
		}
		switch {
		case fields[0] == "0" && fields[1] == "":
			v2 = fields[2]
		case kube == "" && strings.Contains(fields[2], "kubepods"):
			kube = fields[2]
		case first == "":
			first = fields[2]
		}
	}
	if _, ok := ParseCgroup(v2); ok || (kube == "" && v2 != "" && v2 != "/") {
		return v2, sc.Err()
	}
	if kube != "" {
		return kube, sc.Err()
	}
	if v2 != "" {
		return v2, sc.Err()
	}
	return first, sc.Err()
}
