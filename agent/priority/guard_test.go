package priority

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMain runs the guard when StartGuard starts this test binary as one.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == GuardCommand {
		os.Exit(RunGuard(os.Args[2:], os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("HOPTAP_REQUIRE_ALL") != "" {
			t.Fatal("required but unavailable: needs root to raise a priority back")
		}
		t.Skip("needs root to raise a priority back")
	}
}

// sched reads a thread's scheduling policy and niceness from its stat
// (fields 41 and 19); ok is false once it ended.
func sched(path string) (policy, nice int, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, false
	}
	// Fields count from after the command name's ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	nice, _ = strconv.Atoi(f[16])
	policy, _ = strconv.Atoi(f[38])
	return policy, nice, true
}

// threadsAre fails unless every thread of process pid (0: this one) has
// the policy and the niceness.
func threadsAre(t *testing.T, pid, policy, nice int) {
	t.Helper()
	if bad := threadsNot(pid, policy, nice); bad != "" {
		t.Fatal(bad)
	}
}

// threadsNot says which thread of process pid is not as wanted ("": all
// are).
func threadsNot(pid, policy, nice int) string {
	dir := "/proc/self/task"
	if pid > 0 {
		dir = "/proc/" + strconv.Itoa(pid) + "/task"
	}
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return err.Error()
	}
	for _, task := range tasks {
		p, n, ok := sched(dir + "/" + task.Name() + "/stat")
		if ok && (p != policy || n != nice) {
			return "thread " + task.Name() + ": policy " + strconv.Itoa(p) + " niceness " + strconv.Itoa(n) +
				", want policy " + strconv.Itoa(policy) + " niceness " + strconv.Itoa(nice)
		}
	}
	return ""
}

// waitFor polls until cond holds, failing after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(limit); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("after %s: %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// spinner starts a process that only burns CPU, killed at the end of the
// test.
func spinner(t *testing.T) *exec.Cmd {
	t.Helper()
	c := exec.Command("sh", "-c", "while :; do :; done")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	return c
}

// pinTogether pins processes to one core, the first this test may use.
func pinTogether(t *testing.T, pids ...int) {
	t.Helper()
	var all, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	for c := range 1024 { // CPU_SETSIZE
		if all.IsSet(c) {
			one.Set(c)
			break
		}
	}
	for _, p := range pids {
		if err := unix.SchedSetaffinity(p, &one); err != nil {
			t.Fatalf("pinning %d: %v", p, err)
		}
	}
}

// The policies as /proc shows them.
const (
	schedNormal = 0
	schedBatch  = 3
)

// TestBackgroundAndNormal: every thread goes to the background (batch
// class, niceness 19) and back to the normal class at a given niceness.
func TestBackgroundAndNormal(t *testing.T) {
	requireRoot(t)
	if err := Background(0); err != nil {
		t.Fatal(err)
	}
	threadsAre(t, 0, schedBatch, BackgroundNice)
	if err := Normal(0, 3); err != nil {
		t.Fatal(err)
	}
	threadsAre(t, 0, schedNormal, 3)
	if Own() != 3 {
		t.Errorf("Own() = %d after Normal(0, 3)", Own())
	}
	if err := Normal(0, 0); err != nil {
		t.Fatal(err)
	}
}

// fakeRing is a ring buffer's level set by the test.
type fakeRing struct{ backlog, size uint64 }

func (r *fakeRing) Backlog() uint64 { return r.backlog }
func (r *fakeRing) Size() uint64    { return r.size }

// TestGuardRulesOnTheRing steps the guard's rules by hand on a process
// that sleeps (never starved) with a ring whose level the test sets: it
// is raised when half the ring waits, stays raised for its hold, is
// lowered once an eighth waits, and a second raise soon after holds
// twice as long.
func TestGuardRulesOnTheRing(t *testing.T) {
	requireRoot(t)
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	pid := sleeper.Process.Pid
	ring := &fakeRing{size: 1 << 20}
	clock := time.Unix(1000, 0)
	w := &watch{pid: pid, nice: 7, ring: ring, now: func() time.Time { return clock },
		wr: waitReader{dir: "/proc/" + strconv.Itoa(pid) + "/task"}}
	defer w.wr.close()
	if err := Background(pid); err != nil {
		t.Fatal(err)
	}
	step := func(d time.Duration, backlog uint64, raised bool, why string) {
		t.Helper()
		clock = clock.Add(d)
		ring.backlog = backlog
		if err := w.step(); err != nil {
			t.Fatal(err)
		}
		policy, nice := schedBatch, BackgroundNice
		if raised {
			policy, nice = schedNormal, 7
		}
		if bad := threadsNot(pid, policy, nice); bad != "" {
			t.Fatalf("%s: %s", why, bad)
		}
	}
	step(guardTick, ring.size/2-1, false, "less than half the ring waits")
	step(guardTick, ring.size/2, true, "half the ring waits")
	step(baseHold/2, 0, true, "inside the hold")
	step(baseHold/2, ring.size/8+1, true, "held out, but more than an eighth waits")
	step(guardTick, ring.size/8, false, "held out, an eighth waits")
	step(reRaise/2, ring.size, true, "full again soon after")
	step(baseHold, 0, true, "a second raise soon after the first holds twice as long")
	step(baseHold, 0, false, "the doubled hold is out")
	if w.raises != 2 || w.behind != 2 {
		t.Errorf("%d raises counted, %d for the ring; want 2, both", w.raises, w.behind)
	}
	if want := baseHold + guardTick + 2*baseHold; w.raisedFor != want {
		t.Errorf("raised for %s, want %s", w.raisedFor, want)
	}
}

// TestGuardRaisesStarved: a process in the background that wants the
// CPU while other processes take every core is raised by its guard to
// its niceness, and lowered again once they are gone; stopping the
// guard leaves it at its niceness. The guard is this test binary (see
// TestMain), as it is hoptap for hoptap capture.
func TestGuardRaisesStarved(t *testing.T) {
	requireRoot(t)
	target := spinner(t)
	pid := target.Process.Pid
	g, err := StartGuard(GuardConfig{PID: pid, Nice: 4})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			g.Stop()
		}
	}()
	threadsAre(t, pid, schedBatch, BackgroundNice)
	// A normal spinner on the background one's core: the one in the
	// background gets almost nothing. Both are pinned there, so that
	// the scheduler cannot give the background one a core of its own
	// (and the guard, the test and the other packages' tests keep the
	// other cores).
	hog := spinner(t)
	pinTogether(t, pid, hog.Process.Pid)
	waitFor(t, 10*time.Second, "the starved process was not raised", func() bool { return threadsNot(pid, schedNormal, 4) == "" })
	hog.Process.Kill()
	hog.Wait()
	waitFor(t, 10*time.Second, "not lowered again once the CPU was free", func() bool { return threadsNot(pid, schedBatch, BackgroundNice) == "" })
	st, err := g.Stop()
	stopped = true
	if err != nil {
		t.Fatal(err)
	}
	threadsAre(t, pid, schedNormal, 4)
	if st.Raises < 1 || st.Behind != 0 || st.Raised <= 0 {
		t.Errorf("stats %+v: want a raise counted, for starving, with its time", st)
	}
	if st.CPU <= 0 || st.StartCPU <= 0 {
		t.Errorf("stats %+v: the guard's CPU time is missing", st)
	}
}

// TestGuardEndsWithItsProcess: the guard exits when the process it
// guards is killed (its standard input closes), and a guard asked to
// watch a process that is gone fails to start with a clear error.
func TestGuardEndsWithItsProcess(t *testing.T) {
	requireRoot(t)
	if _, err := StartGuard(GuardConfig{PID: 1 << 30, Nice: 4}); err == nil || !strings.Contains(err.Error(), "priority guard") {
		t.Errorf("guard over no process: error %v, want one naming the guard", err)
	}
	target := spinner(t)
	g, err := StartGuard(GuardConfig{PID: target.Process.Pid, Nice: 4})
	if err != nil {
		t.Fatal(err)
	}
	// What closes when a guarded hoptap dies: its end of the guard's
	// standard input.
	g.in.Close()
	select {
	case <-g.Ended():
	case <-time.After(5 * time.Second):
		t.Fatal("the guard outlived its standard input")
	}
	if _, err := g.Stop(); err != nil {
		t.Errorf("a guard ended by its input closing: %v", err)
	}
}

// TestGuardWithoutSysNice: a guard that could not raise its process
// back from the background refuses to put it there, with an error that
// says why. It is run with CAP_SYS_NICE dropped (setpriv).
func TestGuardWithoutSysNice(t *testing.T) {
	requireRoot(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv (util-linux) to drop a capability with")
	}
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	pid := sleeper.Process.Pid
	exe, err := os.Executable() // this test binary runs as a guard (TestMain)
	if err != nil {
		t.Fatal(err)
	}
	guard := exec.Command(setpriv, "--bounding-set", "-sys_nice", "--inh-caps", "-sys_nice", "--",
		exe, GuardCommand, "--pid", strconv.Itoa(pid), "--nice", "10")
	out, err := guard.Output()
	if err == nil || !strings.Contains(string(out), "CAP_SYS_NICE") {
		t.Errorf("guard without CAP_SYS_NICE: %v, said %q; want a refusal naming CAP_SYS_NICE", err, out)
	}
	threadsAre(t, pid, schedNormal, 0)
}
