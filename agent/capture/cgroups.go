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
type Cgroups struct {
	root    string
	names   map[uint64]string
	scanned time.Time
}

// NewCgroups indexes the hierarchy under root.
func NewCgroups(root string) *Cgroups {
	c := &Cgroups{root: root, names: map[uint64]string{}}
	c.scan()
	return c
}

// maxCgroups bounds the index; a node has far fewer.
const maxCgroups = 1 << 16

func (c *Cgroups) scan() {
	c.scanned = time.Now()
	names := map[uint64]string{}
	filepath.WalkDir(c.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if len(names) >= maxCgroups {
			return filepath.SkipAll
		}
		if id, ok := inode(p); ok {
			rel := strings.TrimPrefix(p, c.root)
			if rel == "" {
				rel = "/"
			}
			names[id] = rel
		}
		return nil
	})
	c.names = names
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

// Name returns the cgroup's path, rescanning (at most once a second) for
// cgroups created since; "" when it is unknown.
func (c *Cgroups) Name(id uint64) string {
	if n, ok := c.names[id]; ok {
		return n
	}
	if time.Since(c.scanned) > time.Second {
		c.scan()
		return c.names[id]
	}
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
		if strings.Contains(filepath.Base(name), id) {
			ids = append(ids, cg)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no cgroup under %s is named after container %s", c.root, id)
	}
	return ids, nil
}
