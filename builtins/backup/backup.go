// Package backup holds the backup builtin: a pre-deploy backup of Helm
// releases (storage, values, manifest, hooks, chart, live objects and the
// objects they rely on) into an owner-only directory, restorable with
// `plate backup restore`. The format and the restore live in
// internal/backup.
package backup

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/plate-dev/plate/builtins"
	bhelm "github.com/plate-dev/plate/builtins/helm"
	"github.com/plate-dev/plate/internal/backup"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
)

// Plugin is the backup family.
type Plugin struct{}

// Name returns "backup".
func (Plugin) Name() string { return "backup" }

// Builtins lists the family.
func (Plugin) Builtins() []builtins.Builtin {
	return []builtins.Builtin{{
		Name:   "backup",
		Params: []string{"*releases", "namespace=None", "dest=None"},
		Effect: engine.Write,
		Doc: `Backs up Helm releases before the plan changes them, so that ` + "`plate backup restore`" + `
can bring them back. Each release is a name or a release value (what helm_install or
helm_release return); ` + "`namespace`" + ` applies to names (default: ` + "`-n`" + `, else the
context's, else "default").

One run makes one backup, a directory named ` + "`<UTC time>-<plan>`" + ` (its ID) under the
backups directory: ` + "`dest`" + ` if given (relative to the plan file, or ` + "`//`" + ` from the
project root), else ` + "`$PLATE_BACKUP_DIR`" + `, else ` + "`backups/`" + ` at the project root. Calling
backup() again in the same run adds to the same backup; a release already in it is
not saved again (the backup keeps its state from the first call).

Per release it holds: Helm's storage Secrets of every stored revision; the values
(user-supplied and computed), manifest, hooks, chart name, version and digest of the
revision a restore brings back (the last deployed); the live objects of its manifest;
and the objects outside the manifest it relies on (the claims of StatefulSet
volumeClaimTemplates, the TLS Secrets of its Ingresses and cert-manager Certificates,
Secrets, ConfigMaps and claims its pods use, objects left by ` + "`helm.sh/resource-policy: keep`" + `).
` + "`manifest.json`" + ` records a sha256 per file, the cluster (API server URL and
kube-system UID), the time and the plan position of each call.

- Files are owner-only (0600, directories 0700): they hold values and Secret data in
  clear. The trace never shows them.
- The data inside volumes is not copied; the summary and manifest.json say so and name
  the claims. Use CSI snapshots or an application dump for it.
- A release that does not exist yet (a first deploy) is "nothing to back up", not an error.
- In a dry run (and the preflight) the trace says what would be saved, how much and
  where; nothing is written, not even the directory.

Returns a struct: ` + "`id`" + `, ` + "`path`" + `, ` + "`releases`" + ` (dicts with ` + "`name`" + `, ` + "`namespace`" + `,
` + "`revision`" + `, ` + "`restore_revision`" + `), ` + "`skipped`" + ` (names with nothing to back up),
` + "`size`" + ` (bytes), ` + "`volumes`" + ` (claims whose data is not copied), ` + "`planned`" + ` and
` + "`restore`" + `, the command that restores it (` + "`plate backup restore ID`" + `, with ` + "`--dir`" + ` when needed).`,
		Fn: backupFn,
	}}
}

// runState is one pass's backups: one per backups directory (normally
// one), created by the first backup() call. It lives in the pass's state
// slot (engine.State), so it ends with the pass.
type runState struct {
	mu      sync.Mutex
	writers map[string]*backup.Writer
}

type stateKey struct{}

func stateOf(c *builtins.Call) *runState {
	return c.Engine.State(stateKey{}, func() any {
		return &runState{writers: map[string]*backup.Writer{}}
	}).(*runState)
}

// target is one release to back up.
type target struct{ name, namespace string }

func releasesOf(c *builtins.Call, args starlark.Tuple, ns string) ([]target, error) {
	var out []target
	var add func(v starlark.Value, depth int) error
	add = func(v starlark.Value, depth int) error {
		switch x := v.(type) {
		case starlark.String:
			namespace, err := c.Namespace(ns)
			if err != nil {
				return err
			}
			out = append(out, target{string(x), namespace})
			return nil
		case *bhelm.ReleaseValue:
			rel := x.Info()
			if ns != "" && ns != rel.Namespace {
				return exit.Errorf(exit.Usage, "backup: release %s is in namespace %s, not %s", rel.Name, rel.Namespace, ns)
			}
			out = append(out, target{rel.Name, rel.Namespace})
			return nil
		case *starlark.List:
			if depth == 0 {
				for i := 0; i < x.Len(); i++ {
					if err := add(x.Index(i), 1); err != nil {
						return err
					}
				}
				return nil
			}
		case starlark.Tuple:
			if depth == 0 {
				for _, y := range x {
					if err := add(y, 1); err != nil {
						return err
					}
				}
				return nil
			}
		}
		return exit.Errorf(exit.Usage, "backup: got %s, want a release name or a release value", v.Type())
	}
	for _, a := range args {
		if err := add(a, 0); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, exit.Errorf(exit.Usage, "backup: name at least one release")
	}
	return out, nil
}

func backupFn(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var ns, dest string
	if err := c.Unpack(args, kwargs, &ns, &dest); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	if dest != "" && strings.TrimSpace(dest) == "" {
		return nil, exit.Errorf(exit.Usage, "backup: dest: want a directory, got %q", dest)
	}
	targets, err := releasesOf(c, args, ns)
	if err != nil {
		return nil, err
	}
	if len(targets) > 0 {
		names := make([]string, len(targets))
		for i, t := range targets {
			names[i] = t.name
		}
		c.Report.Subject(strings.Join(names, ","), targets[0].namespace)
	}
	root := c.Path("//")
	dir := backup.DefaultDir(root)
	if dest != "" {
		dir = c.Path(dest)
	}
	if err := backup.CheckDir(dir); err != nil {
		return nil, exit.Errorf(exit.Usage, "backup: cannot write backups under %s: %v", dir, err)
	}
	plan := c.Step.Pos.File
	if len(c.Step.Stack) > 0 {
		plan = c.Step.Stack[0].Pos.File
	}
	now := c.Engine.Recorder().Now()
	st := stateOf(c)
	st.mu.Lock()
	defer st.mu.Unlock()
	w := st.writers[dir]
	if w == nil {
		src, err := c.Engine.Backups().Source(c.Ctx)
		if err != nil {
			return nil, fail(err)
		}
		// The pass's file system: the disk in a run, a plan that writes
		// nothing in every dry pass.
		w = backup.NewWriter(c.Engine.Files(), dir, backup.NewID(now, plan), now, plan, src)
		st.writers[dir] = w
	}
	det := &Detail{Planned: w.Planned(), VolumeData: backup.VolumeData}
	var parts []*backup.Part
	var unread []string
	for _, t := range targets {
		if r := w.Release(t.name, t.namespace); r != nil {
			det.Already = append(det.Already, fmt.Sprintf("%s (rev %d, saved by the call at %s)", t.name, r.RestoreRevision, r.Pos))
			continue
		}
		p, err := c.Engine.Backups().Collect(c.Ctx, t.name, t.namespace)
		if err != nil {
			return nil, fail(err)
		}
		if p.Unread {
			unread = append(unread, t.name)
			continue
		}
		p.Release.Saved = now.UTC()
		p.Release.Pos = c.Step.Pos.String()
		if p.Skip != "" {
			det.Skipped = append(det.Skipped, p.Skip)
			continue
		}
		if err := w.Add(p); err != nil {
			return nil, exit.Wrap(exit.PlanFailed, fmt.Errorf("backup: %w", err))
		}
		det.Scripted = det.Scripted || p.Scripted
		parts = append(parts, p)
		det.Releases = append(det.Releases, describe(p))
	}
	// The first Add may have given the ID a suffix.
	display := displayPath(root, w.Path())
	det.ID, det.Path, det.Restore, det.Size = w.ID(), display, restoreCommand(root, dir, w.ID()), w.Size()
	if len(unread) > 0 {
		c.Report.Summary = fmt.Sprintf("would back up %s to %s (offline: the cluster is not read)", strings.Join(unread, ", "), display)
		return result(w, display, nil, nil, true), nil
	}
	c.Report.Summary = det.summary()
	c.Report.Detail = det
	return result(w, display, parts, det, det.Planned), nil
}

func fail(err error) error {
	var xe *exit.Error
	if errors.As(err, &xe) {
		cp := *xe
		cp.Msg = "backup: " + xe.Msg
		return &cp
	}
	return exit.Wrap(exit.PlanFailed, fmt.Errorf("backup: %w", err))
}

// restoreCommand is the command line that restores backup id of the
// backups directory dir: --dir is added when dir is not where the command
// looks by default.
func restoreCommand(root, dir, id string) string {
	cmd := "plate backup restore " + id
	if dir != backup.DefaultDir(root) {
		cmd += " --dir " + displayPath(root, dir)
	}
	return cmd
}

// displayPath names p relative to the project root when it is inside it.
func displayPath(root, p string) string {
	if rel, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return p
}

// Detail is the trace detail of a backup() call. It names what is saved,
// never what it holds.
type Detail struct {
	ID         string          `json:"id"`
	Path       string          `json:"path"`
	Planned    bool            `json:"planned,omitempty"`
	Releases   []ReleaseDetail `json:"releases"`
	Skipped    []string        `json:"skipped,omitempty"`
	Already    []string        `json:"already,omitempty"`
	Size       backup.Size     `json:"size"`
	VolumeData string          `json:"volume_data"`
	// Restore is the command that restores the backup.
	Restore string `json:"restore"`
	// Scripted is true in plan tests: the releases come from the script.
	Scripted bool `json:"scripted,omitempty"`
}

// ReleaseDetail is what is saved of one release.
type ReleaseDetail struct {
	Name            string      `json:"name"`
	Namespace       string      `json:"namespace"`
	Revision        int         `json:"revision"`
	Status          string      `json:"status"`
	RestoreRevision int         `json:"restore_revision"`
	Chart           string      `json:"chart"`
	Revisions       int         `json:"revisions"`
	Objects         []string    `json:"objects"`
	Missing         []string    `json:"missing,omitempty"`
	Extra           []string    `json:"extra,omitempty"`
	Volumes         []string    `json:"volumes,omitempty"`
	Notes           []string    `json:"notes,omitempty"`
	Size            backup.Size `json:"size"`
}

func describe(p *backup.Part) ReleaseDetail {
	r := p.Release
	d := ReleaseDetail{
		Name: r.Name, Namespace: r.Namespace, Revision: r.Revision, Status: r.Status,
		RestoreRevision: r.RestoreRevision, Chart: r.Chart.Name + " " + r.Chart.Version,
		Revisions: len(r.Revisions), Notes: r.Notes, Size: p.Size(), Objects: []string{},
	}
	for _, o := range r.Objects {
		if o.Missing {
			d.Missing = append(d.Missing, o.Ref())
		} else {
			d.Objects = append(d.Objects, o.Ref())
		}
	}
	for _, o := range r.Extra {
		d.Extra = append(d.Extra, o.Ref()+" ("+o.Reason+")")
	}
	for _, v := range r.Volumes {
		d.Volumes = append(d.Volumes, v.Namespace+"/"+v.Claim)
	}
	return d
}

func (d *Detail) summary() string {
	verb, vol := "saved", "volume data not copied"
	if d.Planned {
		verb, vol = "would save", "volume data would not be copied"
	}
	var b strings.Builder
	if len(d.Releases) > 0 {
		var rels []string
		var claims []string
		for _, r := range d.Releases {
			s := fmt.Sprintf("%s rev %d", r.Name, r.RestoreRevision)
			if !d.Scripted {
				s += " (" + plural(len(r.Objects), "object")
				if extra := len(r.Extra); extra > 0 {
					s += fmt.Sprintf(" + %d outside the release", extra)
				}
				s += ", " + plural(r.Revisions, "revision") + ")"
			}
			rels = append(rels, s)
			claims = append(claims, r.Volumes...)
		}
		size := d.Size.String()
		switch {
		case d.Scripted:
			size = "scripted cluster: objects not read"
		case d.Planned:
			size = "~" + size
		}
		fmt.Fprintf(&b, "%s %s to %s/ (%s); %s", verb, strings.Join(rels, ", "), d.Path, size, vol)
		if len(claims) > 0 {
			sort.Strings(claims)
			fmt.Fprintf(&b, " (claims %s)", strings.Join(claims, ", "))
		}
	}
	for _, s := range d.Skipped {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString("nothing to back up: " + s)
	}
	for _, s := range d.Already {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString("already in this backup: " + s)
	}
	return b.String()
}

// Text is the verbose trace: per release, what is saved and what is not.
func (d *Detail) Text() string {
	var b strings.Builder
	for _, r := range d.Releases {
		fmt.Fprintf(&b, "%s in %s: rev %d %s (%s), restores rev %d; %s of history; %s\n",
			r.Name, r.Namespace, r.Revision, r.Status, r.Chart, r.RestoreRevision, plural(r.Revisions, "revision"), r.Size)
		for _, o := range r.Objects {
			fmt.Fprintf(&b, "  live   %s\n", o)
		}
		for _, o := range r.Missing {
			fmt.Fprintf(&b, "  absent %s\n", o)
		}
		for _, o := range r.Extra {
			fmt.Fprintf(&b, "  extra  %s\n", o)
		}
		for _, v := range r.Volumes {
			fmt.Fprintf(&b, "  claim  %s: definition only, volume data not copied\n", v)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "  note   %s\n", n)
		}
	}
	if d.Planned {
		fmt.Fprintf(&b, "nothing written (dry pass); the run writes %s/ owner-only\n", d.Path)
	} else if len(d.Releases) > 0 {
		fmt.Fprintf(&b, "restore with: %s\n", d.Restore)
	}
	return b.String()
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// result is the value backup() returns.
func result(w *backup.Writer, display string, parts []*backup.Part, d *Detail, planned bool) starlark.Value {
	restore := ""
	if d != nil {
		restore = d.Restore
	}
	var rels, vols []starlark.Value
	for _, p := range parts {
		r := p.Release
		rels = append(rels, dict(map[string]starlark.Value{
			"name": starlark.String(r.Name), "namespace": starlark.String(r.Namespace),
			"revision": starlark.MakeInt(r.Revision), "restore_revision": starlark.MakeInt(r.RestoreRevision),
		}))
		for _, v := range r.Volumes {
			vols = append(vols, starlark.String(v.Namespace+"/"+v.Claim))
		}
	}
	var skipped []starlark.Value
	var size int64
	if d != nil {
		for _, s := range d.Skipped {
			skipped = append(skipped, starlark.String(s))
		}
		size = int64(d.Size)
	}
	list := func(xs []starlark.Value) *starlark.List {
		l := starlark.NewList(xs)
		l.Freeze()
		return l
	}
	return starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
		"id":       starlark.String(w.ID()),
		"path":     starlark.String(display),
		"releases": list(rels),
		"skipped":  list(skipped),
		"size":     starlark.MakeInt64(size),
		"volumes":  list(vols),
		"planned":  starlark.Bool(planned),
		"restore":  starlark.String(restore),
	})
}

func dict(m map[string]starlark.Value) *starlark.Dict {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	d := starlark.NewDict(len(m))
	for _, k := range keys {
		_ = d.SetKey(starlark.String(k), m[k])
	}
	d.Freeze()
	return d
}
