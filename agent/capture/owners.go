package capture

import (
	"time"

	"github.com/hoptap/hoptap/bpf"
)

// owner is the process last seen using a socket.
type owner struct {
	tgid, pid uint32
	comm      string
	cgroup    uint64
	closedAt  time.Time
}

// owners maps socket cookies to processes, bounded.
type owners struct {
	m         map[uint64]*owner
	forgotten uint64
}

const maxOwners = 1 << 18

func newOwners() *owners { return &owners{m: map[uint64]*owner{}} }

func (o *owners) set(e *bpf.Event) {
	if len(o.m) >= maxOwners {
		o.prune(e.TS)
	}
	o.m[e.Cookie] = &owner{tgid: e.TGID, pid: e.PID, comm: e.Comm, cgroup: e.Cgroup}
}

func (o *owners) get(cookie uint64) *owner { return o.m[cookie] }

// closed marks a socket gone. Its last packets (the final ACKs) may
// still be in flight, so it is forgotten later, by prune.
func (o *owners) closed(cookie uint64, ts time.Time) {
	if w := o.m[cookie]; w != nil {
		w.closedAt = ts
	}
}

// prune drops closed sockets, then, if still full, anything: an unknown
// owner is reported as unknown, never guessed.
func (o *owners) prune(now time.Time) {
	for k, w := range o.m {
		if !w.closedAt.IsZero() && now.Sub(w.closedAt) > 10*time.Second {
			delete(o.m, k)
		}
	}
	for k := range o.m {
		if len(o.m) < maxOwners*3/4 {
			break
		}
		delete(o.m, k)
		o.forgotten++
	}
}
