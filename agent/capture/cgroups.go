package capture

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Cgroups names cgroup v2 ids by their path under the root. The kernel
// reports ids; the path says which container or service a socket is in.
//
// A container may live for less than a second (a Job's init container
// making one call), so an id never asked about before is looked for at
// once, and a cgroup once named keeps its name after it is removed: its
// sockets' last packets (and those still queued) carry its id, and the
// kernel never reuses one.
type Cgroups struct {
	root    string
	names   map[uint64]string
	live    map[uint64]bool // ids the last scan found
	missed  map[uint64]bool // ids a scan did not find
	scanned time.Time
	took    time.Duration // the last scan's duration
}

// NewCgroups indexes the hierarchy under root.
func NewCgroups(root string) *Cgroups {
	c := &Cgroups{root: root, names: map[uint64]string{}, missed: map[uint64]bool{}}
	c.scan()
	return c
}

// maxCgroups bounds the index; a node has far fewer.
const maxCgroups = 1 << 16

// Scans for ids never seen are spaced by at least ten times a scan's
// duration (and 10 ms), so a flood of unknown ids costs at most a tenth
// of a core.
const minRescan = 10 * time.Millisecond

func (c *Cgroups) scan() {
	start := time.Now()
	live := make(map[uint64]bool, len(c.live))
	filepath.WalkDir(c.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if len(live) >= maxCgroups {
			return filepath.SkipAll
		}
		if id, ok := inode(p); ok {
			rel := strings.TrimPrefix(p, c.root)
			if rel == "" {
				rel = "/"
			}
			live[id] = true
			c.names[id] = rel
		}
		return nil
	})
	if len(c.names) > maxCgroups {
		// Too many removed ones kept: forget them all.
		for id := range c.names {
			if !live[id] {
				delete(c.names, id)
			}
		}
	}
	c.live = live
	c.scanned, c.took = start, time.Since(start)
}

func inode(p string) (uint64, bool) {
	fi, err := os.Stat(p)
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Ino, true
}

// Name returns the cgroup's path, scanning again for an id not asked
// about before; "" when it is unknown. An id a scan missed is not looked
// for again: its cgroup existed before its packet did, so it was removed
// or lies outside the root.
func (c *Cgroups) Name(id uint64) string {
	if n, ok := c.names[id]; ok {
		return n
	}
	if c.missed[id] {
		return ""
	}
	if time.Since(c.scanned) < max(minRescan, 10*c.took) {
		return "" // not marked missed: a later look scans
	}
	c.scan()
	if n, ok := c.names[id]; ok {
		return n
	}
	if len(c.missed) >= maxCgroups {
		clear(c.missed)
	}
	c.missed[id] = true
	return ""
}

// Resolve turns a cgroup path (absolute, or relative to the root) into its
// id, for the kernel's filter.
func (c *Cgroups) Resolve(path string) (uint64, error) {
	p := path
	if !strings.HasPrefix(p, c.root) {
		p = filepath.Join(c.root, p)
	}
	fi, err := os.Stat(p)
	if err != nil || !fi.IsDir() {
		return 0, fmt.Errorf("cgroup %s: no such cgroup under %s", path, c.root)
	}
	id, _ := inode(p)
	return id, nil
}

// Container finds the cgroups whose directory name holds a container id
// (or an unambiguous prefix of at least 12 characters): containerd, CRI-O
// and Docker all name a container's cgroup after it.
func (c *Cgroups) Container(id string) ([]uint64, error) {
	if len(id) < 12 {
		return nil, fmt.Errorf("container id %q: give at least 12 characters", id)
	}
	c.scan()
	var ids []uint64
	for cg, name := range c.names {
		if c.live[cg] && strings.Contains(filepath.Base(name), id) {
			ids = append(ids, cg)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no cgroup under %s is named after container %s", c.root, id)
	}
	return ids, nil
}
