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
	live    map[uint64]bool // ids the last scan found, and those made since
	gone    []uint64        // named ids removed, oldest first, at most maxGone
	made    int             // ids made since the last scan
	missed  map[uint64]bool // ids a scan did not find
	scanned time.Time
	took    time.Duration // the last scan's duration

	// The root's path from the hierarchy's root, which the kernel's
	// paths start with: "" at the hierarchy's root, something else under
	// a cgroup namespace. Known once a made cgroup was found by its id.
	prefix      string
	prefixKnown bool
}

// rootID is the id of a cgroup v2 hierarchy's root.
const rootID = 1

// NewCgroups indexes the hierarchy under root.
func NewCgroups(root string) *Cgroups {
	c := &Cgroups{root: root, names: map[uint64]string{}, live: map[uint64]bool{}, missed: map[uint64]bool{}}
	if id, ok := inode(root); ok && id == rootID {
		c.prefixKnown = true
	}
	c.scan()
	return c
}

const (
	// maxCgroups bounds the index of live cgroups; a node has far fewer.
	maxCgroups = 1 << 16
	// maxGone bounds the removed cgroups still named, latest kept: a
	// removed container's packets come within seconds, and a node making
	// Jobs all day must not grow the index.
	maxGone = 4096
	// maxMade rescans after this many cgroups made, to learn which of
	// them are gone.
	maxMade = 1024
)

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
	for id := range c.live {
		if !live[id] {
			c.gone = append(c.gone, id)
		}
	}
	if n := len(c.gone) - maxGone; n > 0 {
		for _, id := range c.gone[:n] {
			delete(c.names, id)
		}
		c.gone = append(c.gone[:0], c.gone[n:]...)
	}
	c.live, c.made = live, 0
	c.scanned, c.took = start, time.Since(start)
}

// Made names a cgroup the kernel reports made (bpf.KindCgroup) from its
// path, so that its sockets are named even when it is gone before their
// packets are read. A path outside the root is none of the capture's.
func (c *Cgroups) Made(id uint64, path string) {
	if id == 0 || path == "" {
		return
	}
	if !c.prefixKnown {
		c.learnPrefix(id, path)
		if !c.prefixKnown {
			return // not known where the root is: no guessing
		}
	}
	rel, ok := strings.CutPrefix(path, c.prefix)
	if !ok || len(rel) < 2 || rel[0] != '/' {
		return // outside the root, or the root itself (never made)
	}
	c.names[id], c.live[id] = rel, true
	delete(c.missed, id)
	if c.made++; c.made >= maxMade {
		c.scan()
	}
}

// learnPrefix finds where the root lies in the hierarchy from a cgroup
// the kernel named: the tail of its path that, under the root, is the
// directory with its id.
func (c *Cgroups) learnPrefix(id uint64, path string) {
	for i := 0; i < len(path); i++ {
		if path[i] != '/' {
			continue
		}
		if got, ok := inode(filepath.Join(c.root, path[i:])); ok && got == id {
			c.prefix, c.prefixKnown = path[:i], true
			return
		}
	}
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
