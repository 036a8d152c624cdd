// Package priority lowers this process's CPU priority, on request: an
// observer then yields the CPU to the traffic it observes. With a lower
// priority the peers' threads preempt it when they wake, so its work
// between ring-buffer reads is done in the CPU time they leave; on a
// saturated CPU its share shrinks with the number of busy threads, and a
// capture that falls behind loses events (counted). hoptap capture
// runs at niceness 10 by default, where bench-capture's sustained
// saturation runs measured the peers losing less throughput; the agent
// runs at the priority it is given (its config's nice), where the effect
// on the peers' p99 was within the noise.
package priority

import (
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
	// Twice: a thread made while the first pass ran copied its creator's
	// niceness, perhaps before the creator was reniced.
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("listing this process's threads: %w", err)
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			// The system call's value is 20 - niceness.
			prio, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
			if err != nil {
				continue // the thread ended
			}
			if 20-prio >= n {
				continue
			}
			if err := unix.Setpriority(unix.PRIO_PROCESS, tid, n); err != nil && err != unix.ESRCH {
				return fmt.Errorf("setting thread %d's niceness to %d: %w", tid, n, err)
			}
		}
	}
	return nil
}
