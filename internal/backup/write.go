package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/localfs"
)

// Identify reads the identity of kc's cluster (kube.Identify) as a backup
// records it: its context, API server URL and the UID of its kube-system
// namespace.
func Identify(ctx context.Context, kc *kube.Client) (Cluster, error) {
	id, err := kube.Identify(ctx, kc)
	if err != nil {
		return Cluster{}, err
	}
	return Cluster{Context: id.Context, Server: id.Server, UID: id.UID}, nil
}

// Writer writes one backup: the releases a run saves, one after the
// other, into one directory. Nothing is written before the first Add.
type Writer struct {
	dir string
	// fs is the pass's file system: the disk in a run, a plan that
	// records instead of writing in dry passes.
	fs   localfs.FS
	mu   sync.Mutex
	m    Manifest
	size Size
	// made is true once the backup's directory exists.
	made bool
}

// NewWriter returns a writer of backup id under the backups directory dir,
// writing through fsys (localfs.Disk in a run; a localfs.Plan in dry
// passes, which writes nothing).
func NewWriter(fsys localfs.FS, dir, id string, created time.Time, plan string, cluster Cluster) *Writer {
	return &Writer{dir: dir, fs: fsys, m: Manifest{
		Format:     Format,
		ID:         id,
		Created:    created.UTC(),
		Plan:       plan,
		Cluster:    cluster,
		VolumeData: VolumeData,
		Releases:   []Release{},
		Files:      map[string]string{},
	}}
}

// ID is the backup's ID. It may get a suffix at the first Add, when a
// backup of that ID exists already.
func (w *Writer) ID() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.m.ID
}

// Path is the backup's directory.
func (w *Writer) Path() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.path()
}

func (w *Writer) path() string { return filepath.Join(w.dir, w.m.ID) }

// Dir is the backups directory.
func (w *Writer) Dir() string { return w.dir }

// Cluster is the cluster the backup is made from.
func (w *Writer) Cluster() Cluster { return w.m.Cluster }

// Release returns the entry of release name in ns if the backup holds it.
func (w *Writer) Release(name, ns string) *Release {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r := w.m.Release(name, ns); r != nil {
		cp := *r
		return &cp
	}
	return nil
}

// Releases counts the releases the backup holds.
func (w *Writer) Releases() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.m.Releases)
}

// Size is the size of the release files the backup holds so far (written,
// or in a dry pass planned).
func (w *Writer) Size() Size {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size
}

// Planned reports whether the writer only plans: its file system records
// writes instead of making them (a dry pass).
func (w *Writer) Planned() bool { return w.fs.Dry() }

// SetCluster records the cluster the backup is made from; it must come
// before the first Add.
func (w *Writer) SetCluster(c Cluster) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.m.Cluster = c
}

// Add writes a release's files (0600, in 0700 directories) and records it
// in manifest.json, which is replaced atomically. A part that skips (no
// release) writes nothing.
func (w *Writer) Add(p *Part) error {
	if p.Skip != "" {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m.Release(p.Release.Name, p.Release.Namespace) != nil {
		return fmt.Errorf("backup %s already holds release %s in %s", w.m.ID, p.Release.Name, p.Release.Namespace)
	}
	if err := w.makeDir(); err != nil {
		return err
	}
	names := make([]string, 0, len(p.Files))
	for f := range p.Files {
		names = append(names, f)
	}
	sort.Strings(names)
	base := w.path()
	for _, f := range names {
		if err := w.writeFile(base, f, p.Files[f], true); err != nil {
			return err
		}
		w.m.Files[f] = Checksum(p.Files[f])
		w.size += Size(len(p.Files[f]))
	}
	w.m.Releases = append(w.m.Releases, p.Release)
	return w.writeManifest()
}

// makeDir makes the backups directory (with a .gitignore that keeps
// backups, which hold secrets, out of git) and the backup's own.
func (w *Writer) makeDir() error {
	if w.made {
		return nil
	}
	if _, err := w.fs.Stat(w.dir); errors.Is(err, fs.ErrNotExist) {
		if err := w.fs.MkdirAll(w.dir, DirMode); err != nil {
			return fmt.Errorf("making the backups directory: %w", err)
		}
		if err := w.writeFile(w.dir, ".gitignore", []byte("# Backups hold secrets: never commit them.\n*\n"), true); err != nil {
			return err
		}
	}
	// Two runs of a plan in the same second would share an ID: the later
	// one takes the next free suffix.
	id := w.m.ID
	for n := 2; ; n++ {
		err := w.fs.Mkdir(w.path(), DirMode)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || n > 99 {
			return fmt.Errorf("making the backup directory: %w", err)
		}
		w.m.ID = fmt.Sprintf("%s-%d", id, n)
	}
	w.made = true
	return nil
}

func (w *Writer) writeManifest() error {
	data, err := json.MarshalIndent(&w.m, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	tmp := ManifestFile + ".tmp"
	if err := w.writeFile(w.path(), tmp, data, false); err != nil {
		return err
	}
	if err := w.fs.Rename(filepath.Join(w.path(), tmp), filepath.Join(w.path(), ManifestFile)); err != nil {
		return fmt.Errorf("backup %s: %w", w.m.ID, err)
	}
	return nil
}

// writeFile writes data to base/name (slash-separated) with mode 0600,
// making missing directories 0700. With exclusive it refuses to replace a
// file.
func (w *Writer) writeFile(base, name string, data []byte, exclusive bool) error {
	p := filepath.Join(base, filepath.FromSlash(name))
	if err := w.fs.MkdirAll(filepath.Dir(p), DirMode); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := w.fs.WriteFile(p, data, FileMode, exclusive); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}
