// Package priority lowers this process's CPU priority, on request: an
// observer then yields the CPU to the traffic it observes. With a lower
// priority the peers' threads preempt it when they wake, so its work
// between ring-buffer reads is done in the CPU time they leave; on a
// saturated CPU its share shrinks with the number of busy threads, and a
// capture that falls behind loses events (counted).
//
// hoptap capture runs in the background (Background: SCHED_BATCH at
// niceness 19) while it keeps up, watched by a guard process
// (StartGuard) that raises it to its niceness (10 by default) when it
// falls behind or is starved. Not the idle class (SCHED_IDLE), which it
// used before: the scheduler counts a core that runs only idle-class
// threads as idle, so it woke the peers' threads there, each a
// reschedule interrupt and a preemption charged to the capture, which
// spent 10-16 % more CPU per call for no better p99. The agent runs at
// the priority it is given (its config's nice), where the effect on the
// peers' p99 was within the noise.
//
// The scheduler weighs groups before threads (a session's autogroup, or
// a cgroup with the cpu controller): a thread's class and niceness order
// it only among the threads of its own group. Against another group's
// threads the capture's group weighs as that group does, whatever its
// threads' niceness. The guard takes the capture's session along when
// the capture is alone in it (lowerSession); README, "What the
// background yields to".
package priority

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Nice gives every thread of this process the niceness n (-20 to 19;
// higher is lower priority) unless it already has a higher one, such as
// one given by nice(1). Linux keeps niceness per thread, and a thread
// inherits its creator's: after this, threads made later have it too.
// n <= 0 changes nothing.
func Nice(n int) error {
	if n <= 0 {
		return nil
	}
	if n > 19 {
		return fmt.Errorf("niceness %d: at most 19", n)
	}
	return eachThread(0, func(tid int) error {
		// The system call's value is 20 - niceness.
		prio, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
		if err != nil || 20-prio >= n {
			return nil // the thread ended, or is nicer already
		}
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, n); err != nil {
			return fmt.Errorf("setting thread %d's niceness to %d: %w", tid, n, err)
		}
		return nil
	})
}

// Own is this thread's niceness.
func Own() int {
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		return 0
	}
	return 20 - prio
}

// BackgroundNice is the niceness of the background: the smallest share
// of a busy core the normal classes give.
const BackgroundNice = 19

// Background puts every thread of process pid (0: this one) in the
// background: SCHED_BATCH, whose threads do not preempt others when
// they wake, at niceness BackgroundNice, whose share of a core another
// thread wants is about 1.5 %. A core running it is busy to the
// scheduler, which wakes other threads on an idle core first.
func Background(pid int) error {
	return setPolicy(pid, &unix.SchedAttr{Policy: unix.SCHED_BATCH, Nice: BackgroundNice}, "the background (SCHED_BATCH, niceness 19)")
}

// Normal puts every thread of process pid (0: this one) back in the
// normal class (SCHED_OTHER) at niceness n.
func Normal(pid, n int) error {
	return setPolicy(pid, &unix.SchedAttr{Policy: unix.SCHED_NORMAL, Nice: int32(n)}, "niceness "+strconv.Itoa(n))
}

func setPolicy(pid int, attr *unix.SchedAttr, what string) error {
	attr.Size = unix.SizeofSchedAttr
	return eachThread(pid, func(tid int) error {
		if err := unix.SchedSetAttr(tid, attr, 0); err != nil {
			return fmt.Errorf("setting thread %d to %s: %w", tid, what, err)
		}
		return nil
	})
}

// eachThread calls set for every thread of process pid (0: this one).
// Twice: a thread made while the first pass ran copied its creator's
// priority, perhaps before the creator was changed. Threads that end
// meanwhile are skipped.
func eachThread(pid int, set func(tid int) error) error {
	dir := "/proc/self/task"
	if pid > 0 {
		dir = "/proc/" + strconv.Itoa(pid) + "/task"
	}
	for range 2 {
		tasks, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("listing the threads of %s: %w", dir, err)
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := set(tid); err != nil && !isGone(err) {
				return err
			}
		}
	}
	return nil
}

func isGone(err error) bool { return errors.Is(err, unix.ESRCH) }
