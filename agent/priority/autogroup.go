package priority

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// The scheduler weighs groups before threads. Where autogroup is on and
// no cgroup has the cpu controller, the group is the session: a capture
// at niceness 19 yields to the threads of its own session only, and
// against another session's (the services it watches, started
// elsewhere) its session weighs as much as theirs. A capture alone in
// its session (sudo's, or one of its own) lowers the session too: only
// then, since that also lowers every other process the session holds,
// and the session's processes besides itself are then only the ones
// waiting for it (the shell, sudo).

// autogroupEnabled says whether sessions are scheduling groups.
func autogroupEnabled() bool {
	b, err := os.ReadFile("/proc/sys/kernel/sched_autogroup_enabled")
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

// parseAutogroup reads a /proc/PID/autogroup line, "/autogroup-25 nice 0".
func parseAutogroup(b []byte) (int, error) {
	_, v, ok := strings.Cut(strings.TrimSpace(string(b)), " nice ")
	if !ok {
		return 0, fmt.Errorf("autogroup %q: no niceness", bytes.TrimSpace(b))
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < -20 || n > 19 {
		return 0, fmt.Errorf("autogroup %q: bad niceness", bytes.TrimSpace(b))
	}
	return n, nil
}

// AutogroupNice is the niceness of process pid's session.
func AutogroupNice(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/autogroup")
	if err != nil {
		return 0, err
	}
	return parseAutogroup(b)
}

// setAutogroupNice gives process pid's session the niceness n (every
// process of the session shares it). Raising it back takes the
// privilege that raising a thread does.
func setAutogroupNice(pid, n int) error {
	err := os.WriteFile("/proc/"+strconv.Itoa(pid)+"/autogroup", []byte(strconv.Itoa(n)), 0)
	if err != nil {
		return fmt.Errorf("setting the session's niceness to %d: %w", n, err)
	}
	return nil
}

// inRootTaskGroup says whether process pid's session is its scheduling
// group: its cgroup is not one the cpu controller divides the CPU
// among (autogroup applies only outside those).
func inRootTaskGroup(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return false
	}
	unified := ""
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[1] == "" {
			unified = f[2]
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c == "cpu" { // cgroup v1's cpu controller
				return f[2] == "/"
			}
		}
	}
	if unified == "/" {
		return true
	}
	// cgroup v2: the cpu controller divides nothing below the root if
	// the root does not hand it down.
	sub, err := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control")
	if err != nil {
		return false
	}
	for _, c := range strings.Fields(string(sub)) {
		if c == "cpu" {
			return false
		}
	}
	return unified != ""
}

// procStat is a process's session and parent, from /proc/PID/stat.
func procStat(dir string) (sid, ppid int, err error) {
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name, in parentheses, may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New(dir + "/stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// state ppid pgrp session ...
	if len(f) < 4 {
		return 0, 0, errors.New(dir + "/stat: too short")
	}
	if ppid, err = strconv.Atoi(f[1]); err != nil {
		return 0, 0, err
	}
	if sid, err = strconv.Atoi(f[3]); err != nil {
		return 0, 0, err
	}
	return sid, ppid, nil
}

// aloneInSession says whether every other process of pid's session is
// one of its ancestors (the shell or sudo that waits for it), and gives
// the ancestors in it, nearest first: lowering the session then lowers
// no one else's work.
func aloneInSession(proc string, pid int) (bool, []int, error) {
	sid, ppid, err := procStat(proc + "/" + strconv.Itoa(pid))
	if err != nil {
		return false, nil, err
	}
	ancestors := map[int]bool{}
	var inSession []int
	for p := ppid; p > 1 && !ancestors[p]; {
		ancestors[p] = true
		s, pp, err := procStat(proc + "/" + strconv.Itoa(p))
		if err != nil {
			break
		}
		if s == sid {
			inSession = append(inSession, p)
		}
		p = pp
	}
	entries, err := os.ReadDir(proc)
	if err != nil {
		return false, nil, err
	}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil || p == pid || ancestors[p] {
			continue
		}
		if s, _, err := procStat(proc + "/" + e.Name()); err == nil && s == sid {
			return false, nil, nil
		}
	}
	return true, inSession, nil
}

// session is the session lowered with a process in the background, if
// it was: by the guard, which raises it with the process and restores
// it when the process ends.
type session struct {
	pid    int   // the process
	orig   int   // the session's niceness before
	set    int   // the niceness it was last given
	others []int // its ancestors in the session, to restore it through once pid is gone
}

// lowerSession lowers the session of process pid to BackgroundNice if
// sessions are scheduling groups, pid is alone in its own, and the
// session is not that low already (another capture's, or the user's
// doing: then it is left alone). Nil: left as it is.
func lowerSession(pid int) (*session, error) {
	if !autogroupEnabled() || !inRootTaskGroup(pid) {
		return nil, nil
	}
	orig, err := AutogroupNice(pid)
	if err != nil || orig >= BackgroundNice {
		return nil, nil
	}
	alone, others, err := aloneInSession("/proc", pid)
	if err != nil || !alone {
		return nil, err
	}
	if err := setAutogroupNice(pid, BackgroundNice); err != nil {
		return nil, err
	}
	return &session{pid: pid, orig: orig, set: BackgroundNice, others: others}, nil
}

// to gives the session the niceness n.
func (s *session) to(n int) error {
	if s == nil || s.set == n {
		return nil
	}
	if err := setAutogroupNice(s.pid, n); err != nil {
		return err
	}
	s.set = n
	return nil
}

// restore gives the session back its niceness, through the process or,
// once it is gone, an ancestor still in it, unless someone changed it
// meanwhile.
func (s *session) restore() error {
	if s == nil {
		return nil
	}
	for _, p := range append([]int{s.pid}, s.others...) {
		cur, err := AutogroupNice(p)
		if err != nil {
			continue // gone
		}
		if cur != s.set {
			return nil
		}
		return setAutogroupNice(p, s.orig)
	}
	return nil
}
