package capture

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// maxScanSockets bounds the startup scan on nodes with huge socket counts.
const maxScanSockets = 1 << 17

// scanSockets attributes the TCP sockets that existed before the capture
// began, which no syscall hook will report until they are used: long-lived
// gRPC channels are exactly those. It borrows each socket's descriptor
// with pidfd_getfd to read its cookie, then closes the copy; the socket
// itself is untouched. Processes it may not inspect are skipped.
func scanSockets(o *owners) int {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	self := os.Getpid()
	found := 0
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		fds, err := os.ReadDir("/proc/" + p.Name() + "/fd")
		if err != nil {
			continue
		}
		pidfd := -1
		comm := ""
		for _, fd := range fds {
			if found >= maxScanSockets {
				break
			}
			target, err := os.Readlink("/proc/" + p.Name() + "/fd/" + fd.Name())
			if err != nil || !strings.HasPrefix(target, "socket:") {
				continue
			}
			n, err := strconv.Atoi(fd.Name())
			if err != nil {
				continue
			}
			if pidfd < 0 {
				if pidfd, err = unix.PidfdOpen(pid, 0); err != nil {
					break
				}
				b, _ := os.ReadFile("/proc/" + p.Name() + "/comm")
				comm = strings.TrimSpace(string(b))
			}
			cookie, ok := tcpCookie(pidfd, n)
			if !ok {
				continue
			}
			if o.get(cookie) == nil {
				o.m[cookie] = &owner{tgid: uint32(pid), pid: uint32(pid), comm: comm}
				found++
			}
		}
		if pidfd >= 0 {
			unix.Close(pidfd)
		}
	}
	return found
}

func tcpCookie(pidfd, fd int) (uint64, bool) {
	dup, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		return 0, false
	}
	defer unix.Close(dup)
	if proto, err := unix.GetsockoptInt(dup, unix.SOL_SOCKET, unix.SO_PROTOCOL); err != nil || (proto != unix.IPPROTO_TCP && proto != unix.IPPROTO_MPTCP) {
		return 0, false
	}
	if dom, err := unix.GetsockoptInt(dup, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil || (dom != unix.AF_INET && dom != unix.AF_INET6) {
		return 0, false
	}
	c, err := unix.GetsockoptUint64(dup, unix.SOL_SOCKET, unix.SO_COOKIE)
	return c, err == nil
}
