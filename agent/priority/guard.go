package priority

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hoptap/hoptap/bpf"
)

// GuardCommand is the hidden first argument that makes the hoptap
// binary run as a guard (RunGuard): main dispatches it before anything
// else.
const GuardCommand = "priority-guard"

// The guard's rules. It looks every guardTick, and whenever the programs
// wake the ring's reader (a quarter of the ring written, for a lazy
// reader), so that a burst is seen as it fills the ring. (Once a second,
// not four times: on the development VM each look cost 300-400 µs of CPU,
// most of it the few context switches of waking a Go process, and it is
// counted as the capture's.) A process is
// starved when over the last starvedWindow its threads waited, runnable,
// for starvedWait in all, and ran less than a starvedRun-th of that: in
// the background it then gets almost nothing (a core busy with two
// normal threads gives it about 0.7 %), so it would neither catch up
// nor answer a signal soon. (Waiting alone is no sign: on a busy host the
// background waits by design, and keeps up while it runs a share of it.) It
// is behind when half its ring buffer waits. Raised, it stays so for a
// hold (baseHold, doubled each time it must be raised again within
// reRaise of being lowered, up to maxHold), and is lowered once an
// eighth or less of the ring waits.
const (
	guardTick     = time.Second
	starvedWindow = time.Second
	starvedWait   = 500 * time.Millisecond
	starvedRun    = 20
	baseHold      = time.Second
	maxHold       = 16 * time.Second
	reRaise       = 2 * time.Second
)

// GuardConfig says what the guard watches.
type GuardConfig struct {
	// PID is the process guarded; 0: this one.
	PID int
	// Nice is the niceness the process is raised to (its own before it
	// went to the background).
	Nice int
	// Ring is the process's ring buffer (bpf.Probe.RingFile), of RingSize
	// bytes: raised when half of it waits. Nil: starvation alone.
	Ring     *os.File
	RingSize uint64
}

// GuardStats is what a guard did.
type GuardStats struct {
	Raises int           // times the process was raised from the background
	Behind int           // of them, because half the ring waited (else it was starved)
	Raised time.Duration // time spent raised
	CPU    time.Duration // the guard's own CPU time once started
	// StartCPU is the guard's CPU time to start (a process of this
	// binary), not in CPU.
	StartCPU time.Duration
	// Session: the process's session went to the background with it
	// (lowerSession), from niceness SessionNice, and came back when it
	// ended.
	Session     bool
	SessionNice int
}

// Guard is a running guard process: a separate process because one in
// the background cannot be relied on to run soon enough to raise itself,
// and at normal priority, because it must run when the process it guards
// does not. It costs a few file reads every guardTick.
type Guard struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	pipe  *os.File
	out   *bufio.Reader
	ended chan struct{}
	err   error // after ended: how it ended
	once  sync.Once
	stats GuardStats
	serr  error
}

// StartGuard starts a guard over the process (this one, unless cfg.PID
// says), which it puts in the background before returning. On error the
// process is left as it was.
func StartGuard(cfg GuardConfig) (*Guard, error) {
	if cfg.Nice < 0 || cfg.Nice > 19 {
		return nil, fmt.Errorf("priority guard: niceness %d: want 0 to 19", cfg.Nice)
	}
	pid := cfg.PID
	if pid == 0 {
		pid = os.Getpid()
	}
	args := []string{GuardCommand, "--pid", strconv.Itoa(pid), "--nice", strconv.Itoa(cfg.Nice)}
	cmd := exec.Command("/proc/self/exe", args...)
	cmd.Args[0] = "hoptap"
	if cfg.Ring != nil {
		cmd.ExtraFiles = []*os.File{cfg.Ring} // fd 3
		cmd.Args = append(cmd.Args, "--ring-size", strconv.FormatUint(cfg.RingSize, 10))
	}
	cmd.Stderr = os.Stderr
	// A session of its own: the guard must run when the capture's
	// session, lowered with it, does not (lowerSession).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("priority guard: %w", err)
	}
	// A pipe of our own, not StdoutPipe: Wait, which runs as soon as the
	// guard exits, would close that one under the last line.
	out, w, err := os.Pipe()
	if err != nil {
		in.Close()
		return nil, fmt.Errorf("priority guard: %w", err)
	}
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		in.Close()
		out.Close()
		return nil, fmt.Errorf("priority guard: %w", err)
	}
	g := &Guard{cmd: cmd, in: in, pipe: out, out: bufio.NewReader(out), ended: make(chan struct{})}
	// Its first line says whether it put this process in the background.
	line, rerr := g.out.ReadString('\n')
	var startNS int64
	sess := -1
	if _, err := fmt.Sscanf(line, "background cpu_ns %d session %d\n", &startNS, &sess); err != nil {
		in.Close()
		out.Close()
		werr := cmd.Wait()
		msg := strings.TrimSpace(strings.TrimPrefix(line, "error "))
		switch {
		case msg != "":
			return nil, errors.New("priority guard: " + msg)
		case werr != nil:
			return nil, fmt.Errorf("priority guard: %v", werr)
		default:
			return nil, fmt.Errorf("priority guard: %v", rerr)
		}
	}
	g.stats.StartCPU = time.Duration(startNS)
	g.stats.Session, g.stats.SessionNice = sess >= 0, max(sess, 0)
	go func() {
		g.err = cmd.Wait()
		close(g.ended)
	}()
	return g, nil
}

// RestoreSession gives this process's session back the niceness it had
// if the guard lowered it and did not live to restore it (Ended before
// Stop), unless someone changed it meanwhile.
func (g *Guard) RestoreSession() error {
	if !g.stats.Session {
		return nil
	}
	return (&session{pid: os.Getpid(), orig: g.stats.SessionNice, set: BackgroundNice}).restore()
}

// Ended is closed if the guard process exits; Stop says why.
func (g *Guard) Ended() <-chan struct{} { return g.ended }

// Stop asks the guard to end. It raises this process back to the
// niceness it was given before it exits, and reports what it did.
// Calls after the first return what the first did.
func (g *Guard) Stop() (GuardStats, error) {
	g.once.Do(func() {
		g.in.Close()
		rest, _ := io.ReadAll(g.out)
		g.pipe.Close()
		<-g.ended
		lines := strings.Split(strings.TrimSpace(string(rest)), "\n")
		last := lines[len(lines)-1]
		st := &g.stats
		if _, err := fmt.Sscanf(last, "stats raises %d behind %d raised_ns %d cpu_ns %d", &st.Raises, &st.Behind, &st.Raised, &st.CPU); err == nil {
			st.CPU -= st.StartCPU
		} else {
			if g.err != nil {
				g.serr = fmt.Errorf("priority guard: %v", g.err)
			} else {
				g.serr = fmt.Errorf("priority guard: no report (%q)", last)
			}
		}
	})
	return g.stats, g.serr
}

// RunGuard is the guard process: args are its flags (after
// GuardCommand). It exits when its standard input closes, as it does
// when the guarded process ends, however it ends.
func RunGuard(args []string, stdin io.Reader, stdout io.Writer) int {
	// Ctrl-C reaches the whole process group, and systemd's stop the
	// whole cgroup: the guard outlives neither its process (it ends
	// when its input closes) nor should it end first, leaving that
	// process in the background and unguarded while it drains.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	fs := flag.NewFlagSet(GuardCommand, flag.ContinueOnError)
	pid := fs.Int("pid", 0, "the process to guard")
	nice := fs.Int("nice", 10, "niceness to raise it to")
	ringSize := fs.Uint64("ring-size", 0, "size of the ring buffer on fd 3 (0: none)")
	fail := func(err error) int {
		fmt.Fprintf(stdout, "error %v\n", err)
		return 1
	}
	if err := fs.Parse(args); err != nil {
		return fail(err)
	}
	if *pid <= 0 {
		return fail(errors.New("--pid: want a process id"))
	}
	// One processor: the guard does little, and should not keep two
	// threads busy doing it.
	runtime.GOMAXPROCS(1)
	w := &watch{pid: *pid, nice: *nice, now: time.Now, wr: waitReader{dir: "/proc/" + strconv.Itoa(*pid) + "/task"}}
	defer w.wr.close()
	if *ringSize > 0 {
		l, err := bpf.OpenRingLevel(3, *ringSize) // cmd.ExtraFiles[0]
		if err != nil {
			return fail(err)
		}
		defer l.Close()
		w.ring = l
	}
	// Anyone may go to the background, but leaving it takes a privilege:
	// without it the process would be stuck there.
	if err := canRaise(*nice); err != nil {
		return fail(err)
	}
	// The guard itself is at the niceness it was started with; only the
	// guarded process goes to the background.
	if err := Background(*pid); err != nil {
		Normal(*pid, *nice)
		return fail(fmt.Errorf("cannot use the background: %w", err))
	}
	// Its session too, where sessions are scheduling groups and it is
	// alone in its own; not doing so costs only that it yields less.
	sess, err := lowerSession(*pid)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hoptap: priority guard: %v; its session stays as it was\n", err)
	}
	w.sess = sess
	orig := -1 // not lowered
	if sess != nil {
		orig = sess.orig
	}
	fmt.Fprintf(stdout, "background cpu_ns %d session %d\n", cpuNanos(), orig)
	eof := make(chan struct{})
	go func() {
		io.Copy(io.Discard, stdin)
		close(eof)
	}()
	// The programs' wake-ups too: a burst can fill the ring between two
	// ticks, while a capture in the background may not get to run.
	var woke chan struct{}
	if l, ok := w.ring.(*bpf.RingLevel); ok {
		woke = make(chan struct{}, 1)
		go func() {
			for l.Wait(time.Hour) == nil {
				select {
				case woke <- struct{}{}:
				default:
				}
			}
		}()
	}
	t := time.NewTicker(guardTick)
	defer t.Stop()
loop:
	for {
		select {
		case <-eof:
			break loop
		case <-woke:
		case <-t.C:
		}
		if err := w.step(); errors.Is(err, os.ErrNotExist) {
			break loop // the process is gone
		} else if err != nil {
			fmt.Fprintf(os.Stderr, "hoptap: priority guard: %v; raising the capture for good\n", err)
			break loop
		}
	}
	// The process is stopping, or gone: whatever it still does (a drain,
	// a summary), it does at its own niceness, in its session as it was.
	Normal(*pid, *nice)
	sess.restore()
	w.lower(true)
	fmt.Fprintf(stdout, "stats raises %d behind %d raised_ns %d cpu_ns %d\n", w.raises, w.behind, int64(w.raisedFor), cpuNanos())
	return 0
}

// canRaise says whether this process may raise a thread from the
// background to niceness nice: with CAP_SYS_NICE, or an RLIMIT_NICE that
// allows that niceness (sched(7)).
func canRaise(nice int) error {
	const capSysNice = 23
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
				if caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil && caps&(1<<capSysNice) != 0 {
					return nil
				}
			}
		}
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NICE, &rl); err == nil && rl.Cur >= uint64(20-nice) {
		return nil
	}
	return errors.New("without CAP_SYS_NICE (or an RLIMIT_NICE allowing it) a process cannot be raised back from the background (niceness 19)")
}

func cpuNanos() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// watch is the guard's state.
type watch struct {
	pid  int
	nice int
	ring interface {
		Backlog() uint64
		Size() uint64
	}
	wr  waitReader
	now func() time.Time
	// sess: the process's session, lowered and raised with it; nil:
	// left as it is.
	sess *session
	// waits: the process's total run-queue wait when last looked at,
	// oldest first, over starvedWindow.
	waits  []waitSample
	raised bool
	since  time.Time // raised at, or lowered at
	hold   time.Duration
	raises int
	behind int // raises for the ring
	// raisedFor: time raised, up to the last lowering.
	raisedFor time.Duration
}

func (w *watch) step() error {
	now := w.now()
	run, wait, err := w.wr.times(now)
	if err != nil {
		return err
	}
	w.waits = append(w.waits, waitSample{now, run, wait})
	drop := 0
	for drop < len(w.waits)-1 && now.Sub(w.waits[drop+1].at) >= starvedWindow {
		drop++ // the next one still spans the window
	}
	w.waits = append(w.waits[:0], w.waits[drop:]...)
	waited, ran := wait-w.waits[0].wait, run-w.waits[0].run
	starved := waited >= starvedWait && ran*starvedRun < waited
	var backlog, size uint64
	if w.ring != nil {
		backlog, size = w.ring.Backlog(), w.ring.Size()
	}
	behind := size > 0 && backlog >= size/2
	switch {
	case !w.raised && (starved || behind):
		if err := Normal(w.pid, w.nice); err != nil {
			return err
		}
		if w.sess != nil {
			// Raised within its session alone, a capture whose session
			// another one starves would stay starved.
			if err := w.sess.to(max(w.sess.orig, w.nice)); err != nil {
				return err
			}
		}
		hold := baseHold
		if w.raises > 0 && now.Sub(w.since) < reRaise {
			hold = min(2*w.hold, maxHold) // the last raise's
		}
		w.hold = hold
		w.raised, w.since = true, now
		w.raises++
		if behind {
			w.behind++
		}
		w.waits = w.waits[len(w.waits)-1:] // a fresh window at the new priority
	case w.raised && now.Sub(w.since) >= w.hold && (size == 0 || backlog <= size/8) && !starved:
		if err := Background(w.pid); err != nil {
			return err
		}
		if err := w.sess.to(BackgroundNice); err != nil {
			return err
		}
		w.lower(false)
	}
	return nil
}

type waitSample struct {
	at        time.Time
	run, wait time.Duration
}

// lower records the end of a raise (final: the guard is ending; the
// process stays raised).
func (w *watch) lower(final bool) {
	if !w.raised {
		return
	}
	now := w.now()
	w.raisedFor += now.Sub(w.since)
	w.since = now
	if !final {
		w.raised = false
	}
}

// waitReader reads the run-queue wait of a process's threads: the time
// they spent runnable but waiting for a CPU (the second field of each
// thread's schedstat). Each thread's file stays open and is read again
// from its start, into one buffer, and the thread list is read again
// only every taskRefresh or when a thread ended: the guard runs every
// guardTick for as long as the capture does. The reads are raw system
// calls: they do not block, and one the runtime is told of wakes its
// monitor thread, which then polls every 20 µs until the guard sleeps
// again, a few more context switches a tick.
type waitReader struct {
	dir     string
	tasks   map[string]int // thread id: its schedstat, open
	listed  time.Time
	buf     [128]byte
	stalled bool
}

const taskRefresh = time.Second

// times is the time the threads ran and waited, in all.
func (r *waitReader) times(now time.Time) (run, wait time.Duration, err error) {
	if r.tasks == nil || r.stalled || now.Sub(r.listed) >= taskRefresh {
		if err := r.list(now); err != nil {
			return 0, 0, err
		}
	}
	r.stalled = false
	for tid, fd := range r.tasks {
		ran, waited, ok := r.read(fd)
		if !ok {
			r.stalled = true // the thread ended: list again next time
			unix.Close(fd)
			delete(r.tasks, tid)
			continue
		}
		run += time.Duration(ran)
		wait += time.Duration(waited)
	}
	return run, wait, nil
}

// list opens the schedstat of threads not seen before, and closes those
// of threads gone.
func (r *waitReader) list(now time.Time) error {
	tasks, err := os.ReadDir(r.dir)
	if err != nil {
		return fmt.Errorf("the capture's threads: %w", err)
	}
	if r.tasks == nil {
		r.tasks = make(map[string]int)
	}
	seen := make(map[string]bool, len(tasks))
	for _, t := range tasks {
		tid := t.Name()
		seen[tid] = true
		if _, ok := r.tasks[tid]; ok {
			continue
		}
		fd, err := unix.Open(r.dir+"/"+tid+"/schedstat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue // it ended meanwhile
		}
		r.tasks[tid] = fd
	}
	for tid, fd := range r.tasks {
		if !seen[tid] {
			unix.Close(fd)
			delete(r.tasks, tid)
		}
	}
	r.listed = now
	return nil
}

// close closes the files it holds.
func (r *waitReader) close() {
	for tid, fd := range r.tasks {
		unix.Close(fd)
		delete(r.tasks, tid)
	}
}

// read reads "run_ns wait_ns slices\n" from an open schedstat.
func (r *waitReader) read(fd int) (run, wait int64, ok bool) {
	n, _, errno := unix.RawSyscall6(unix.SYS_PREAD64, uintptr(fd), uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)), 0, 0, 0)
	if errno != 0 || int(n) <= 0 {
		return 0, 0, false
	}
	b := r.buf[:n]
	run, b, ok1 := leadingInt(b)
	wait, _, ok2 := leadingInt(b)
	return run, wait, ok1 && ok2
}

// leadingInt parses the decimal number that b starts with, after any
// spaces, and returns the rest.
func leadingInt(b []byte) (v int64, rest []byte, ok bool) {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if v > (1<<63-1-9)/10 {
			return 0, nil, false
		}
		v = v*10 + int64(b[i]-'0')
	}
	return v, b[i:], i > 0
}
