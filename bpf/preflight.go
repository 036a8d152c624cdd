package bpf

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"
)

// Capabilities the programs need when not running as root: loading
// (CAP_BPF), reading kernel memory in tracepoints (CAP_PERFMON) and
// attaching to cgroups (CAP_NET_ADMIN).
var needCaps = []struct {
	bit  uint
	name string
}{{39, "CAP_BPF"}, {38, "CAP_PERFMON"}, {12, "CAP_NET_ADMIN"}}

// Preflight checks what the capture needs and returns the cgroup v2 root
// to attach at (root when given). Each error is one line that says how to
// fix it.
func Preflight(root string) (string, error) {
	if missing := missingCaps(); len(missing) > 0 {
		if os.Geteuid() == 0 {
			// Root in a container, say, with capabilities dropped.
			return "", fmt.Errorf("live capture needs %s, which this root process lacks (capabilities dropped, as in a container): add them (Kubernetes: securityContext.capabilities.add)", strings.Join(missing, ", "))
		}
		return "", fmt.Errorf("live capture needs root (or %s): run it with sudo", strings.Join(missing, ", "))
	}
	if root == "" {
		var err error
		if root, err = CgroupV2Root(); err != nil {
			return "", err
		}
	} else {
		v2, ok := cgroup2At(root)
		if !ok {
			return "", fmt.Errorf("%s is not a cgroup v2 mount, nor is %s/unified: give the cgroup2 mount point (see `mount -t cgroup2`)", root, root)
		}
		root = v2
	}
	if err := features.HaveProgramType(ebpf.CGroupSKB); err != nil {
		return "", fmt.Errorf("this kernel cannot run cgroup_skb BPF programs (%v): hoptap needs Linux 5.8+ with CONFIG_BPF_SYSCALL and CONFIG_CGROUP_BPF", err)
	}
	if err := features.HaveMapType(ebpf.RingBuf); err != nil {
		return "", fmt.Errorf("this kernel has no BPF ring buffer (%v): hoptap needs Linux 5.8 or later", err)
	}
	if err := ensureTracefs(); err != nil {
		return "", err
	}
	return root, nil
}

// cgroup2At returns the cgroup v2 mount at root, or, on a host with
// hybrid cgroups (v1 controllers under root, as systemd's hybrid mode
// lays them out), the one at root/unified. A DaemonSet mounts the host's
// /sys/fs/cgroup without knowing which layout the node has.
func cgroup2At(root string) (string, bool) {
	if isCgroup2(root) {
		return root, true
	}
	if u := filepath.Join(root, "unified"); isCgroup2(u) {
		return u, true
	}
	return "", false
}

// capSysAdmin stands in for all of needCaps, as the kernel allows.
const capSysAdmin = 21

func missingCaps() []string {
	eff := effectiveCaps()
	if eff&(1<<capSysAdmin) != 0 {
		return nil
	}
	var missing []string
	for _, c := range needCaps {
		if eff&(1<<c.bit) == 0 {
			missing = append(missing, c.name)
		}
	}
	return missing
}

// CanTrace reports whether this process may look into other processes'
// descriptors (CAP_SYS_PTRACE), as the scan of sockets opened before the
// capture does.
func CanTrace() bool { return effectiveCaps()&(1<<19) != 0 }

func effectiveCaps() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return n
		}
	}
	return 0
}

// ErrNoCgroup2 says cgroup v2 is not mounted.
var ErrNoCgroup2 = errors.New("cgroup v2 is not mounted: mount it with `mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 none /sys/fs/cgroup/unified`, or boot with systemd.unified_cgroup_hierarchy=1")

// CgroupV2Root finds the cgroup v2 mount that this process sees: the
// unified hierarchy, or its hybrid-mode mount beside the v1 controllers.
func CgroupV2Root() (string, error) {
	mounts, err := cgroup2Mounts()
	if err != nil {
		return "", err
	}
	if len(mounts) == 0 {
		return "", ErrNoCgroup2
	}
	for _, m := range mounts {
		if m == "/sys/fs/cgroup" {
			return m, nil
		}
	}
	return mounts[0], nil
}

func cgroup2Mounts() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options... - fstype source super
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && i >= 4 {
				if fields[i+1] == "cgroup2" {
					out = append(out, fields[4])
				}
				break
			}
		}
	}
	return out, sc.Err()
}

func isCgroup2(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// ensureTracefs mounts tracefs when it is missing: attaching a tracepoint
// looks its id up there. Mounting it changes nothing else.
func ensureTracefs() error {
	for _, p := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		if _, err := os.Stat(p + "/events"); err == nil {
			return nil
		}
	}
	if err := unix.Mount("nodev", "/sys/kernel/tracing", "tracefs", 0, ""); err != nil {
		return fmt.Errorf("tracefs is not mounted and could not be (%v): run `mount -t tracefs nodev /sys/kernel/tracing`", err)
	}
	return nil
}

// loadError turns a load failure into one line with a way forward.
func loadError(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		// The lines before the instruction count say what failed.
		lines := ve.Log
		if n := len(lines); n > 3 {
			lines = lines[n-3:]
		}
		last := strings.Join(lines, " / ")
		return fmt.Errorf("the kernel's verifier rejected hoptap's BPF programs (%s); please report this with `uname -r`", last)
	}
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("the kernel refused to load BPF programs (%v): run as root; in a container grant CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN and CAP_SYS_ADMIN", err)
	}
	return fmt.Errorf("loading BPF programs: %w", err)
}

// IsBPFFS reports whether path is a mounted BPF filesystem, where pinned
// objects live.
func IsBPFFS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.BPF_FS_MAGIC
}
