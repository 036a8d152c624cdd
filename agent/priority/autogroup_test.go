package priority

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseAutogroup(t *testing.T) {
	for _, c := range []struct {
		in   string
		nice int
		ok   bool
	}{
		{"/autogroup-25 nice 0\n", 0, true},
		{"/autogroup-7 nice 19\n", 19, true},
		{"/autogroup-7 nice -5", -5, true},
		{"/autogroup-7 nice 20\n", 0, false},
		{"/autogroup-7\n", 0, false},
		{"", 0, false},
	} {
		n, err := parseAutogroup([]byte(c.in))
		if (err == nil) != c.ok || (c.ok && n != c.nice) {
			t.Errorf("parseAutogroup(%q) = %d, %v; want %d, ok %v", c.in, n, err, c.nice, c.ok)
		}
	}
}

func TestProcStat(t *testing.T) {
	sid, ppid, err := procStat("/proc/self")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := unix.Getsid(0)
	if sid != want || ppid != os.Getppid() {
		t.Errorf("procStat(/proc/self) = session %d, parent %d; want %d, %d", sid, ppid, want, os.Getppid())
	}
}

// inSession starts a shell command in a session of its own and returns
// its process.
func inSession(t *testing.T, script string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	return cmd
}

// TestLowerSession: a process alone in its session takes the session to
// the background and back (raised with it in between); one that shares
// its session with another process leaves it as it is.
func TestLowerSession(t *testing.T) {
	requireRoot(t)
	if !autogroupEnabled() {
		t.Skip("sessions are not scheduling groups here (kernel.sched_autogroup_enabled is 0)")
	}
	alone := inSession(t, "exec sleep 60")
	pid := alone.Process.Pid
	if !inRootTaskGroup(pid) {
		t.Skip("in a cgroup the cpu controller divides: sessions are not its scheduling groups")
	}
	// exec: the process replaced its shell (the session's only member).
	for deadline := time.Now().Add(10 * time.Second); ; {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); string(b) == "sleep\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the shell did not become sleep")
		}
		time.Sleep(10 * time.Millisecond)
	}
	orig, err := AutogroupNice(pid)
	if err != nil {
		t.Fatal(err)
	}
	s, err := lowerSession(pid)
	if err != nil || s == nil {
		t.Fatalf("lowerSession of a process alone in its session: %v, %v", s, err)
	}
	check := func(what string, want int) {
		t.Helper()
		if n, err := AutogroupNice(pid); err != nil || n != want {
			t.Errorf("%s: the session's niceness is %d (%v), want %d", what, n, err, want)
		}
	}
	check("lowered", BackgroundNice)
	if err := s.to(10); err != nil {
		t.Fatal(err)
	}
	check("raised", 10)
	s.to(BackgroundNice)
	s.restore()
	check("restored", orig)

	// Changed by someone else meanwhile: left as they made it.
	if s, err = lowerSession(pid); err != nil || s == nil {
		t.Fatalf("lowerSession again: %v, %v", s, err)
	}
	setAutogroupNice(pid, 5)
	s.restore()
	check("changed meanwhile", 5)
	setAutogroupNice(pid, orig)

	shared := inSession(t, "sleep 60 & exec sleep 61")
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(shared.Process.Pid) + "/task/" + strconv.Itoa(shared.Process.Pid) + "/children")
		if len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the shell started no second process")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s, err := lowerSession(shared.Process.Pid); s != nil || err != nil {
		t.Errorf("lowerSession of a process that shares its session: %v, %v; want it left as it is", s, err)
	}
	if n, _ := AutogroupNice(shared.Process.Pid); n >= BackgroundNice {
		t.Errorf("the shared session's niceness is %d", n)
	}
}
