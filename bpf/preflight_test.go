package bpf

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A node with hybrid cgroups: v1 controllers on a tmpfs at the mount a
// DaemonSet is given, cgroup v2 under it at unified/. The v2 mount is
// found there; a plain directory is refused.
func TestCgroup2AtHybridLayout(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	if err := unix.Mount("tmpfs", root, "tmpfs", 0, "mode=755"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(root, unix.MNT_DETACH) })
	unified := filepath.Join(root, "unified")
	if err := os.Mkdir(unified, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("cgroup2", unified, "cgroup2", 0, ""); err != nil {
		t.Fatalf("mount cgroup2: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(unified, unix.MNT_DETACH) })
	for _, c := range []struct {
		at, want string
		ok       bool
	}{{root, unified, true}, {unified, unified, true}, {t.TempDir(), "", false}} {
		if got, ok := cgroup2At(c.at); got != c.want || ok != c.ok {
			t.Errorf("cgroup2At(%s) = %q %v, want %q %v", c.at, got, ok, c.want, c.ok)
		}
	}
}
