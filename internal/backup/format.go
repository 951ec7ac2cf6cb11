// Package backup is plate's backup format: what a backup of Helm releases
// holds, how it is written (owner-only, with checksums), listed, verified
// and restored.
//
// A backup is a directory named by its ID, "<UTC time>-<plan>", under a
// backups directory:
//
//	<id>/manifest.json                        format, time, cluster, releases, sha256 of every file
//	<id>/releases/<namespace>/<release>/
//	    storage/sh.helm.release.v1.<release>.v<N>.yaml   Helm's storage Secret of each revision
//	    values.yaml                           user-supplied values of the restore revision
//	    values-computed.yaml                  the values its templates saw (with chart defaults)
//	    manifest.yaml                         its manifest
//	    hooks.yaml                            its hooks
//	    live/<namespace>.<kind>.<group>.<name>.yaml     live objects of the manifest
//	    extra/<namespace>.<kind>.<group>.<name>.yaml    objects outside the manifest the release needs
//
// Files hold secrets (values, Secret data) in clear: files are 0600 and
// directories 0700, and nothing of them is ever printed. Data inside
// volumes is not copied, and manifest.json says so.
package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/helm"
)

// Format is the version of the backup format manifest.json declares.
const Format = 1

// ManifestFile is the name of a backup's index.
const ManifestFile = "manifest.json"

// EnvDir names the environment variable that sets the backups directory.
const EnvDir = "PLATE_BACKUP_DIR"

// DefaultDirName is the backups directory under the project root.
const DefaultDirName = "backups"

// VolumeData is what every backup says about the data in volumes.
const VolumeData = "not copied: the backup holds the definitions of PersistentVolumeClaims, not the data in their volumes; " +
	"use CSI VolumeSnapshots or an application dump (database, cache) for the data"

// Permissions of what a backup writes: owner-only.
const (
	FileMode os.FileMode = 0o600
	DirMode  os.FileMode = 0o700
)

// Manifest is a backup's manifest.json.
type Manifest struct {
	Format int    `json:"format"`
	ID     string `json:"id"`
	// Created is when the backup was started (the first backup() call of
	// the run).
	Created time.Time `json:"created"`
	// Plan is the plan that made the backup (relative to the project root).
	Plan    string  `json:"plan,omitempty"`
	Cluster Cluster `json:"cluster"`
	// VolumeData says that the data in volumes is not in the backup.
	VolumeData string    `json:"volume_data"`
	Releases   []Release `json:"releases"`
	// Files maps every other file of the backup (slash-separated, relative
	// to the backup directory) to its sha256, hex.
	Files map[string]string `json:"files"`
}

// Cluster identifies the cluster a backup was made from.
type Cluster struct {
	Context string `json:"context,omitempty"`
	// Server is the API server URL.
	Server string `json:"server"`
	// UID is the UID of the kube-system namespace: it identifies a cluster
	// across renames of contexts and servers.
	UID string `json:"uid"`
}

func (c Cluster) String() string {
	if c.Context != "" {
		return fmt.Sprintf("context %q, server %s, kube-system uid %s", c.Context, c.Server, c.UID)
	}
	return fmt.Sprintf("server %s, kube-system uid %s", c.Server, c.UID)
}

// Release is what a backup holds of one release.
type Release struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Saved is when the release was read; Pos the plan position of the
	// backup() call that saved it.
	Saved time.Time `json:"saved"`
	Pos   string    `json:"pos,omitempty"`
	// Revision and Status are the latest stored revision's.
	Revision int    `json:"revision"`
	Status   string `json:"status"`
	// RestoreRevision is the revision a restore brings back: the last
	// deployed one (else the latest).
	RestoreRevision int           `json:"restore_revision"`
	Chart           helm.ChartRef `json:"chart"`
	// Dir is the release's directory in the backup.
	Dir string `json:"dir"`
	// Revisions are the stored revisions, oldest first, with the file of
	// each storage Secret.
	Revisions []Revision `json:"revisions"`
	// Values, ComputedValues, Manifest and Hooks are files (relative to
	// the backup directory) of the restore revision.
	Values         string `json:"values"`
	ComputedValues string `json:"computed_values,omitempty"`
	Manifest       string `json:"manifest"`
	Hooks          string `json:"hooks,omitempty"`
	// Objects are the objects of the restore revision's manifest, with
	// their live copies.
	Objects []Object `json:"objects"`
	// Extra are objects outside the manifest that the release needs.
	Extra []Object `json:"extra,omitempty"`
	// Volumes are the claims whose data the backup does not hold.
	Volumes []Volume `json:"volumes,omitempty"`
	Notes   []string `json:"notes,omitempty"`
}

// Revision is one stored revision in a backup.
type Revision struct {
	Revision int    `json:"revision"`
	Status   string `json:"status"`
	File     string `json:"file"`
}

// Object is one object in a backup.
type Object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	// File is the live copy (empty when the object was missing).
	File string `json:"file,omitempty"`
	// Missing is true when the object did not exist at backup time.
	Missing bool `json:"missing,omitempty"`
	// Keep is true for objects annotated helm.sh/resource-policy: keep.
	Keep bool `json:"keep,omitempty"`
	// Reason says why an object outside the manifest is in the backup.
	Reason string `json:"reason,omitempty"`
}

// Ref is "Kind/namespace/name", or "Kind/name" when cluster-scoped.
func (o Object) Ref() string {
	if o.Namespace == "" {
		return o.Kind + "/" + o.Name
	}
	return o.Kind + "/" + o.Namespace + "/" + o.Name
}

// Volume is a claim whose data is not in the backup.
type Volume struct {
	Namespace    string `json:"namespace"`
	Claim        string `json:"claim"`
	StorageClass string `json:"storage_class,omitempty"`
	Capacity     string `json:"capacity,omitempty"`
	VolumeName   string `json:"volume,omitempty"`
}

// Size is the total size of a backup's files, manifest.json excluded.
type Size int64

func (s Size) String() string {
	switch {
	case s < 1024:
		return fmt.Sprintf("%d B", s)
	case s < 1024*1024:
		return fmt.Sprintf("%.1f KiB", float64(s)/1024)
	default:
		return fmt.Sprintf("%.1f MiB", float64(s)/(1024*1024))
	}
}

var idSafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// NewID returns the ID of a backup made at t by plan: "20260102T030405Z-deploy_prod".
func NewID(t time.Time, plan string) string {
	base := strings.TrimSuffix(path.Base(filepath.ToSlash(plan)), ".star")
	base = strings.Trim(idSafe.ReplaceAllString(base, "_"), "_.-")
	id := t.UTC().Format("20060102T150405Z")
	if base != "" {
		id += "-" + base
	}
	return id
}

// ValidID reports whether id can name a backup directory (no path
// separators, no "..").
func ValidID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, `/\`) && !strings.HasPrefix(id, ".")
}

// DefaultDir is the backups directory when nothing else says: $PLATE_BACKUP_DIR,
// else <root>/backups.
func DefaultDir(root string) string {
	if d := os.Getenv(EnvDir); d != "" {
		if abs, err := filepath.Abs(d); err == nil {
			return abs
		}
		return d
	}
	return filepath.Join(root, DefaultDirName)
}

// objectFile names the file of an object under dir ("live" or "extra").
func objectFile(dir, apiVersion, kind, namespace, name string) string {
	group := "core"
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		group = apiVersion[:i]
	}
	ns := namespace
	if ns == "" {
		ns = "_cluster"
	}
	return path.Join(dir, fmt.Sprintf("%s.%s.%s.%s.yaml", ns, strings.ToLower(kind), group, name))
}

// Checksum is the hex sha256 of data.
func Checksum(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Load reads the manifest of backup id under dir.
func Load(dir, id string) (*Manifest, error) {
	if !ValidID(id) {
		return nil, exit.Errorf(exit.Usage, "%q is not a backup ID", id)
	}
	data, err := os.ReadFile(filepath.Join(dir, id, ManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(filepath.Join(dir, id)); serr != nil {
			return nil, exit.Errorf(exit.Usage, "no backup %s in %s", id, dir).WithHint("list the backups with: plate backup list")
		}
		return nil, exit.Errorf(exit.Usage, "backup %s in %s has no %s: it is incomplete", id, dir, ManifestFile)
	}
	if err != nil {
		return nil, exit.Errorf(exit.PlanFailed, "backup %s: %v", id, err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, exit.Errorf(exit.PlanFailed, "backup %s: %s: %v", id, ManifestFile, err)
	}
	if m.Format != Format {
		return nil, exit.Errorf(exit.PlanFailed, "backup %s has format %d; this plate reads format %d", id, m.Format, Format)
	}
	return &m, nil
}

// Problem is a file of a backup that does not match its checksum.
type Problem struct {
	File    string `json:"file"`
	Problem string `json:"problem"`
	// Warning marks a problem that does not make the backup unusable
	// (a file readable by others): restore warns and goes on.
	Warning bool `json:"warning,omitempty"`
}

// Verify checks every file of backup m under dir against its checksum,
// and that no file is readable by others than the owner.
func Verify(dir string, m *Manifest) []Problem {
	var out []Problem
	names := make([]string, 0, len(m.Files))
	for f := range m.Files {
		names = append(names, f)
	}
	sort.Strings(names)
	base := filepath.Join(dir, m.ID)
	for _, f := range names {
		p := filepath.Join(base, filepath.FromSlash(f))
		data, err := os.ReadFile(p)
		if err != nil {
			out = append(out, Problem{File: f, Problem: "cannot be read: " + errors.Unwrap(err).Error()})
			continue
		}
		if Checksum(data) != m.Files[f] {
			out = append(out, Problem{File: f, Problem: "checksum mismatch: changed since the backup"})
		}
		if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o077 != 0 {
			out = append(out, Problem{File: f, Warning: true, Problem: fmt.Sprintf("readable by others (mode %04o): it may hold secrets", st.Mode().Perm())})
		}
	}
	return out
}

// Entry is one backup in a listing.
type Entry struct {
	ID       string    `json:"id"`
	Created  time.Time `json:"created"`
	Plan     string    `json:"plan,omitempty"`
	Cluster  Cluster   `json:"cluster"`
	Releases []string  `json:"releases"`
	Size     Size      `json:"size"`
	// Error is set for a directory that is not a readable backup.
	Error string `json:"error,omitempty"`
}

// List lists the backups under dir, oldest first. A missing dir is an
// empty list.
func List(dir string) ([]Entry, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, exit.Errorf(exit.PlanFailed, "backups in %s: %v", dir, err)
	}
	var out []Entry
	for _, de := range des {
		if !de.IsDir() || !ValidID(de.Name()) {
			continue
		}
		m, err := Load(dir, de.Name())
		if err != nil {
			var xe *exit.Error
			msg := err.Error()
			if errors.As(err, &xe) {
				msg = xe.Msg
			}
			out = append(out, Entry{ID: de.Name(), Error: msg})
			continue
		}
		e := Entry{ID: m.ID, Created: m.Created, Plan: m.Plan, Cluster: m.Cluster, Size: m.Size(dir)}
		for _, r := range m.Releases {
			e.Releases = append(e.Releases, r.Namespace+"/"+r.Name)
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Size is the total size of the backup's files on disk.
func (m *Manifest) Size(dir string) Size {
	var n int64
	for f := range m.Files {
		if st, err := os.Stat(filepath.Join(dir, m.ID, filepath.FromSlash(f))); err == nil {
			n += st.Size()
		}
	}
	return Size(n)
}

// Release returns the release name in namespace ns ("" matches any
// namespace), or nil.
func (m *Manifest) Release(name, ns string) *Release {
	for i := range m.Releases {
		r := &m.Releases[i]
		if r.Name == name && (ns == "" || r.Namespace == ns) {
			return r
		}
	}
	return nil
}

// CheckDir checks, without writing anything, that backups can be made
// under dir: the nearest existing ancestor of dir (or dir) must be a
// directory. Dry passes call it so that the preflight finds a bad
// destination before the run writes anything.
func CheckDir(dir string) error {
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("%s is not a directory", p)
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return err
		}
		if filepath.Dir(p) == p {
			return nil
		}
	}
}
