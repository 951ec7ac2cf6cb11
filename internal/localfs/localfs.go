// Package localfs is how plate writes local files (backups today): through
// an FS chosen per pass. The run pass gets the disk; dry passes (dry-run,
// preflight, offline, plan tests) get a Plan, which reads the disk but
// records every write instead of making it. Like the read-only transport
// for the cluster, "a dry run writes no file" then holds by construction,
// not by a flag each builtin checks.
package localfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// FS is the file system a pass writes through.
type FS interface {
	// Stat reads a file's metadata (from the disk, in every pass).
	Stat(path string) (fs.FileInfo, error)
	// Mkdir makes one directory; it fails with fs.ErrExist when the path
	// exists.
	Mkdir(path string, perm fs.FileMode) error
	// MkdirAll makes a directory and its parents.
	MkdirAll(path string, perm fs.FileMode) error
	// WriteFile writes data with mode perm (also on an existing file), and
	// syncs it; with exclusive it fails with fs.ErrExist on an existing
	// file.
	WriteFile(path string, data []byte, perm fs.FileMode, exclusive bool) error
	// Rename replaces newpath with oldpath.
	Rename(oldpath, newpath string) error
	// Dry reports whether writes are recorded instead of made.
	Dry() bool
}

// Disk is the real file system, for the run pass.
var Disk FS = disk{}

type disk struct{}

func (disk) Stat(p string) (fs.FileInfo, error) { return os.Stat(p) }
func (disk) Mkdir(p string, perm fs.FileMode) error {
	if err := os.Mkdir(p, perm); err != nil {
		return err
	}
	return os.Chmod(p, perm)
}
func (disk) MkdirAll(p string, perm fs.FileMode) error { return os.MkdirAll(p, perm) }
func (disk) Rename(a, b string) error                  { return os.Rename(a, b) }
func (disk) Dry() bool                                 { return false }

func (disk) WriteFile(p string, data []byte, perm fs.FileMode, exclusive bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if exclusive {
		flags |= os.O_EXCL
	}
	f, err := os.OpenFile(p, flags, perm)
	if err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Plan is the FS of a dry pass: it answers reads from the disk plus what it
// has recorded, and records writes without making them.
type Plan struct {
	mu    sync.Mutex
	dirs  map[string]bool
	files map[string]int
}

// NewPlan returns an empty plan.
func NewPlan() *Plan { return &Plan{dirs: map[string]bool{}, files: map[string]int{}} }

// Dry is true: nothing is written.
func (p *Plan) Dry() bool { return true }

// Stat answers from the recorded writes first, then the disk.
func (p *Plan) Stat(path string) (fs.FileInfo, error) {
	path = filepath.Clean(path)
	p.mu.Lock()
	_, isDir := p.dirs[path]
	n, isFile := p.files[path]
	p.mu.Unlock()
	switch {
	case isDir:
		return planned{name: filepath.Base(path), dir: true}, nil
	case isFile:
		return planned{name: filepath.Base(path), size: int64(n)}, nil
	}
	return os.Stat(path)
}

// Mkdir records a directory.
func (p *Plan) Mkdir(path string, perm fs.FileMode) error {
	path = filepath.Clean(path)
	if _, err := p.Stat(path); err == nil {
		return &fs.PathError{Op: "mkdir", Path: path, Err: fs.ErrExist}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dirs[path] = true
	return nil
}

// MkdirAll records a directory and its missing parents.
func (p *Plan) MkdirAll(path string, perm fs.FileMode) error {
	for d := filepath.Clean(path); ; d = filepath.Dir(d) {
		st, err := p.Stat(d)
		if err == nil {
			if !st.IsDir() {
				return &fs.PathError{Op: "mkdir", Path: d, Err: fmt.Errorf("not a directory")}
			}
			break
		}
		p.mu.Lock()
		p.dirs[d] = true
		p.mu.Unlock()
		if filepath.Dir(d) == d {
			break
		}
	}
	return nil
}

// WriteFile records a file of len(data) bytes.
func (p *Plan) WriteFile(path string, data []byte, perm fs.FileMode, exclusive bool) error {
	path = filepath.Clean(path)
	if exclusive {
		if _, err := p.Stat(path); err == nil {
			return &fs.PathError{Op: "open", Path: path, Err: fs.ErrExist}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.files[path] = len(data)
	return nil
}

// Rename records that oldpath, a file this plan wrote, now stands at
// newpath.
func (p *Plan) Rename(oldpath, newpath string) error {
	oldpath, newpath = filepath.Clean(oldpath), filepath.Clean(newpath)
	p.mu.Lock()
	defer p.mu.Unlock()
	n, ok := p.files[oldpath]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldpath, Err: errors.New("not written by this dry pass")}
	}
	delete(p.files, oldpath)
	p.files[newpath] = n
	return nil
}

// Files lists the files the pass would have written, sorted, with their
// sizes.
func (p *Plan) Files() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.files))
	for k, v := range p.files {
		out[k] = v
	}
	return out
}

// Paths lists the files and directories the pass would have made, sorted.
func (p *Plan) Paths() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.files)+len(p.dirs))
	for k := range p.files {
		out = append(out, k)
	}
	for k := range p.dirs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type planned struct {
	name string
	size int64
	dir  bool
}

func (f planned) Name() string { return f.name }
func (f planned) Size() int64  { return f.size }
func (f planned) Mode() fs.FileMode {
	if f.dir {
		return fs.ModeDir | 0o700
	}
	return 0o600
}
func (f planned) ModTime() time.Time { return time.Time{} }
func (f planned) IsDir() bool        { return f.dir }
func (f planned) Sys() any           { return nil }
