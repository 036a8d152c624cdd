package k8s

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const (
	uid = "0f7c8d2a-3b4e-4c5d-9e6f-7a8b9c0d1e2f"
	cid = "3f1e0c5a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
)

var sysUID = strings.ReplaceAll(uid, "-", "_")

// Every layout the kubelet writes, by runtime, cgroup version and driver.
var layouts = []struct {
	name, path string
	want       Container
	ok         bool
}{
	{"containerd systemd v2 burstable", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + sysUID + ".slice/cri-containerd-" + cid + ".scope",
		Container{uid, cid, "containerd", "burstable"}, true},
	{"containerd systemd v2 besteffort", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + sysUID + ".slice/cri-containerd-" + cid + ".scope",
		Container{uid, cid, "containerd", "besteffort"}, true},
	{"containerd systemd v2 guaranteed", "/kubepods.slice/kubepods-pod" + sysUID + ".slice/cri-containerd-" + cid + ".scope",
		Container{uid, cid, "containerd", "guaranteed"}, true},
	{"containerd cgroupfs v1", "/kubepods/burstable/pod" + uid + "/" + cid,
		Container{uid, cid, "", "burstable"}, true},
	{"containerd cgroupfs v2 guaranteed", "/kubepods/pod" + uid + "/" + cid,
		Container{uid, cid, "", "guaranteed"}, true},
	{"cri-o systemd", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + sysUID + ".slice/crio-" + cid + ".scope",
		Container{uid, cid, "cri-o", "burstable"}, true},
	{"cri-o conmon", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + sysUID + ".slice/crio-conmon-" + cid + ".scope",
		Container{uid, cid, "cri-o", "besteffort"}, true},
	{"cri-o cgroupfs", "/kubepods/besteffort/pod" + uid + "/crio-" + cid,
		Container{uid, cid, "cri-o", "besteffort"}, true},
	{"docker systemd", "/kubepods.slice/kubepods-pod" + sysUID + ".slice/docker-" + cid + ".scope",
		Container{uid, cid, "docker", "guaranteed"}, true},
	{"pod-level cgroup", "/kubepods/burstable/pod" + uid, Container{PodUID: uid, QoS: "burstable"}, true},
	{"nested under a node slice", "/system.slice/kind-node.scope/kubepods/pod" + uid + "/" + cid,
		Container{uid, cid, "", "guaranteed"}, true},
	{"not kubernetes", "/system.slice/sshd.service", Container{}, false},
	{"root", "/", Container{}, false},
	{"kubepods only", "/kubepods.slice", Container{}, false},
	{"bad uid", "/kubepods/burstable/podnot-a-uid/" + cid, Container{}, false},
	{"bad container id", "/kubepods/pod" + uid + "/cri-containerd-xyz.scope", Container{}, false},
}

func TestParseCgroup(t *testing.T) {
	for _, l := range layouts {
		got, ok := ParseCgroup(l.path)
		if ok != l.ok || got != l.want {
			t.Errorf("%s: %+v %v, want %+v %v", l.name, got, ok, l.want, l.ok)
		}
	}
}

// A fake cgroup tree with each layout's directories: ids are the
// directories' inode numbers, as cgroup v2 ids are, and walking the tree
// finds each container again.
func TestFakeCgroupTree(t *testing.T) {
	root := t.TempDir()
	want := map[uint64]Container{}
	for _, l := range layouts {
		if !l.ok || l.want.ContainerID == "" {
			continue
		}
		dir := filepath.Join(root, strings.ReplaceAll(l.name, " ", "_"), l.path)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(dir, &st); err != nil {
			t.Fatal(err)
		}
		want[st.Ino] = l.want
	}
	found := 0
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		var st syscall.Stat_t
		if syscall.Stat(p, &st) != nil {
			return nil
		}
		w, isContainer := want[st.Ino]
		rel := strings.TrimPrefix(p, root)
		got, ok := ParseCgroup(rel)
		if isContainer {
			found++
			if !ok || got != w {
				t.Errorf("%s: %+v %v, want %+v", rel, got, ok, w)
			}
		} else if ok && got.ContainerID != "" {
			t.Errorf("%s: a container found where there is none: %+v", rel, got)
		}
		return nil
	})
	if found != len(want) {
		t.Errorf("walked %d containers of %d", found, len(want))
	}
}

func TestProcessCgroup(t *testing.T) {
	p, err := ProcessCgroup(uint32(os.Getpid()))
	if err != nil || p == "" {
		t.Fatalf("own cgroup: %q %v", p, err)
	}
	if _, err := ProcessCgroup(0); err == nil {
		t.Error("pid 0 has a cgroup")
	}
}
