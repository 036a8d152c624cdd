package peers

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Testbed is network namespaces joined to a host bridge by veth pairs, as
// a bridge CNI wires pods: each namespace is a "pod" with one address in
// 198.18.<n>.0/24 (RFC 2544 benchmarking space, never routed off the
// machine).
type Testbed struct {
	Bridge string
	Net    int // the third octet
	ns     []string
}

// NewTestbed creates the bridge; Pod adds namespaces. Everything is removed
// when the test ends.
func NewTestbed(t testing.TB) *Testbed {
	t.Helper()
	RequireRoot(t)
	Tool(t, "ip")
	id := rand.IntN(1 << 20)
	tb := &Testbed{Bridge: fmt.Sprintf("htbr%05x", id), Net: claimNet(t)}
	t.Cleanup(func() {
		for _, ns := range tb.ns {
			exec.Command("ip", "netns", "del", ns).Run()
		}
		exec.Command("ip", "link", "del", tb.Bridge).Run()
	})
	ipRun(t, "link", "add", tb.Bridge, "type", "bridge")
	ipRun(t, "addr", "add", fmt.Sprintf("198.18.%d.1/24", tb.Net), "dev", tb.Bridge)
	ipRun(t, "link", "set", tb.Bridge, "up")
	return tb
}

// Pod is one namespace of the testbed.
type Pod struct {
	NS   string
	Addr string // its address on the bridge
	Host string // the host's end of its veth pair, on the bridge
}

// Pod adds namespace number n (2..254) with address 198.18.<net>.<n>.
func (tb *Testbed) Pod(t testing.TB, n int) Pod {
	t.Helper()
	ns := fmt.Sprintf("%s-%d", tb.Bridge, n)
	host := fmt.Sprintf("%sh%d", tb.Bridge[:9], n)
	peer := fmt.Sprintf("%sp%d", tb.Bridge[:9], n)
	ipRun(t, "netns", "add", ns)
	tb.ns = append(tb.ns, ns)
	ipRun(t, "link", "add", host, "type", "veth", "peer", "name", peer)
	ipRun(t, "link", "set", peer, "netns", ns)
	ipRun(t, "link", "set", host, "master", tb.Bridge)
	ipRun(t, "link", "set", host, "up")
	addr := fmt.Sprintf("198.18.%d.%d", tb.Net, n)
	ipRun(t, "-n", ns, "link", "set", "lo", "up")
	ipRun(t, "-n", ns, "link", "set", peer, "name", "eth0")
	ipRun(t, "-n", ns, "addr", "add", addr+"/24", "dev", "eth0")
	ipRun(t, "-n", ns, "link", "set", "eth0", "up")
	return Pod{NS: ns, Addr: addr, Host: host}
}

// Command runs name in the pod's namespace.
func (p Pod) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", p.NS, name}, args...)...)
}

func ipRun(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// claimNet picks a /24 no other testbed holds: test packages run in
// parallel, and two bridges on one subnet route each other's traffic
// astray. A flock on a file per subnet is the claim; the kernel drops it
// when the holder exits, so a crashed run leaves nothing stale. Subnets
// already on an interface (the e2e cluster's 198.18.127-128, anything
// left over) are skipped too.
func claimNet(t testing.TB) int {
	t.Helper()
	dir := "/run/hoptap-testbeds"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	start := rand.IntN(250)
	for i := range 250 {
		n := 1 + (start+i)%250
		if n == 127 || n == 128 || subnetInUse(n) {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("net-%d.lock", n)), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		t.Cleanup(func() { f.Close() })
		return n
	}
	t.Fatal("no free 198.18.x.0/24 for a testbed")
	return 0
}

func subnetInUse(n int) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	_, want, _ := net.ParseCIDR(fmt.Sprintf("198.18.%d.0/24", n))
	for _, a := range addrs {
		if ip, ok := a.(*net.IPNet); ok && want.Contains(ip.IP) {
			return true
		}
	}
	return false
}
