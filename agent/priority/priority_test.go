package priority

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// niceness reads a thread's niceness from /proc (field 19 of stat).
func niceness(t *testing.T, tid string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/task/" + tid + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// The command name may hold spaces: fields count from after its ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	n, err := strconv.Atoi(f[16])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNiceEveryThread: every thread of the process gets the niceness,
// one already nicer keeps its own, and none is raised back. It lowers
// this test process's priority, which only slows it.
func TestNiceEveryThread(t *testing.T) {
	if err := Nice(5); err != nil {
		t.Fatal(err)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) < 2 {
		t.Fatalf("%d threads: the test needs the runtime's several", len(tasks))
	}
	for _, task := range tasks {
		if n := niceness(t, task.Name()); n < 5 {
			t.Errorf("thread %s: niceness %d, want at least 5", task.Name(), n)
		}
	}
	if err := Nice(3); err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if n := niceness(t, task.Name()); n < 5 {
			t.Errorf("thread %s: niceness %d after asking for 3: a priority was raised", task.Name(), n)
		}
	}
	if err := Nice(20); err == nil {
		t.Error("niceness 20 accepted")
	}
}
