package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/plate-dev/plate/internal/ask"
	"github.com/plate-dev/plate/internal/backup"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/lock"
	"github.com/plate-dev/plate/interp"
)

// BackupOptions are the options the backup commands share.
type BackupOptions struct {
	*GlobalOptions
	// Dir is the backups directory (--dir).
	Dir string
}

func newBackupCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &BackupOptions{GlobalOptions: g}
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "List, show and restore the backups plans make with backup()",
		Long: `A plan's backup() call saves Helm releases before it changes them: one backup
per run, a directory named by its ID ("<UTC time>-<plan>") under the backups
directory. That is --dir, else $PLATE_BACKUP_DIR, else backups/ at the project
root (--root, else the nearest directory above the current one that holds
.plateroot or .git).

Backups hold values and Secret data in clear, owner-only (0600 files, 0700
directories); these commands never print them. The data inside volumes is not
in a backup.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.PersistentFlags().StringVar(&opts.Dir, "dir", "", "the backups directory (default $PLATE_BACKUP_DIR, else backups/ at the project root)")
	cmd.AddCommand(newBackupListCmd(f, opts), newBackupShowCmd(f, opts), newBackupRestoreCmd(f, opts))
	return cmd
}

// backupsDir resolves the backups directory of the backup commands.
func (o *BackupOptions) backupsDir() (string, error) {
	if o.Dir != "" {
		return filepath.Abs(o.Dir)
	}
	root := o.Root
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		root = interp.FindRoot(filepath.Join(wd, "plan.star"))
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	return backup.DefaultDir(root), nil
}

func newBackupListCmd(f *Factory, opts *BackupOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the backups: time, cluster, releases, size",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := opts.backupsDir()
			if err != nil {
				return exit.Wrap(exit.Usage, err)
			}
			list, err := backup.List(dir)
			if err != nil {
				return err
			}
			if opts.Output == "json" {
				if list == nil {
					list = []backup.Entry{}
				}
				return writeJSON(f.IO.Out, list)
			}
			if len(list) == 0 {
				fmt.Fprintf(f.IO.Out, "no backups in %s\n", dir)
				return nil
			}
			tw := tabwriter.NewWriter(f.IO.Out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCREATED\tCLUSTER\tRELEASES\tSIZE")
			for _, e := range list {
				if e.Error != "" {
					fmt.Fprintf(tw, "%s\t-\t-\t-\t%s\n", e.ID, e.Error)
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.ID, e.Created.UTC().Format(time.RFC3339), clusterShort(e.Cluster), strings.Join(e.Releases, ", "), e.Size)
			}
			return tw.Flush()
		},
	}
}

// clusterShort is the context (or server) and the start of the UID.
func clusterShort(c backup.Cluster) string {
	name := c.Context
	if name == "" {
		name = c.Server
	}
	uid := c.UID
	if len(uid) > 8 {
		uid = uid[:8]
	}
	return fmt.Sprintf("%s (uid %s)", name, uid)
}

// showReport is what `plate backup show -o json` prints: the manifest
// (names, files and checksums; never contents) and the verification.
type showReport struct {
	*backup.Manifest
	Path     string           `json:"path"`
	Size     backup.Size      `json:"size"`
	Problems []backup.Problem `json:"problems"`
}

func newBackupShowCmd(f *Factory, opts *BackupOptions) *cobra.Command {
	return &cobra.Command{
		Use:               "show ID",
		ValidArgsFunction: completeBackupIDs(opts),
		Short:             "Show what a backup holds and verify its checksums",
		Long: `Show prints what backup ID holds: when and by which plan it was made, the cluster
it came from, and per release the revisions, chart and digest, the objects of
its manifest and those outside it, and the claims whose volume data is not in
it. It verifies every file against the sha256 in manifest.json and checks that
no file is readable by others. It names files; it never prints values or Secret
data.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := opts.backupsDir()
			if err != nil {
				return exit.Wrap(exit.Usage, err)
			}
			m, err := backup.Load(dir, args[0])
			if err != nil {
				return err
			}
			r := showReport{Manifest: m, Path: filepath.Join(dir, m.ID), Size: m.Size(dir), Problems: backup.Verify(dir, m)}
			if r.Problems == nil {
				r.Problems = []backup.Problem{}
			}
			if opts.Output == "json" {
				return writeJSON(f.IO.Out, r)
			}
			printBackup(f, r)
			return nil
		},
	}
}

func printBackup(f *Factory, r showReport) {
	w := f.IO.Out
	m := r.Manifest
	fmt.Fprintf(w, "backup %s\n", m.ID)
	fmt.Fprintf(w, "  created   %s", m.Created.UTC().Format(time.RFC3339))
	if m.Plan != "" {
		fmt.Fprintf(w, " by %s", m.Plan)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  cluster   %s\n", m.Cluster)
	fmt.Fprintf(w, "  path      %s\n", r.Path)
	check := "checksums ok, owner-only"
	if len(r.Problems) > 0 {
		check = fmt.Sprintf("%d problems", len(r.Problems))
	}
	fmt.Fprintf(w, "  size      %s in %d files: %s\n", r.Size, len(m.Files), check)
	fmt.Fprintf(w, "  volumes   data %s\n", m.VolumeData)
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  PROBLEM   %s: %s\n", p.File, p.Problem)
	}
	for _, rel := range m.Releases {
		fmt.Fprintf(w, "\nrelease %s in %s (saved %s", rel.Name, rel.Namespace, rel.Saved.UTC().Format(time.RFC3339))
		if rel.Pos != "" {
			fmt.Fprintf(w, " at %s", rel.Pos)
		}
		fmt.Fprintln(w, ")")
		fmt.Fprintf(w, "  revision  %d %s; a restore brings back rev %d\n", rel.Revision, rel.Status, rel.RestoreRevision)
		ch := rel.Chart
		app := ""
		if ch.AppVersion != "" {
			app = " (app " + ch.AppVersion + ")"
		}
		fmt.Fprintf(w, "  chart     %s %s%s, %s\n", ch.Name, ch.Version, app, ch.Digest)
		var hist []string
		for _, h := range rel.Revisions {
			hist = append(hist, fmt.Sprintf("%d %s", h.Revision, h.Status))
		}
		fmt.Fprintf(w, "  history   %s\n", strings.Join(hist, ", "))
		fmt.Fprintf(w, "  values    %s", rel.Values)
		if rel.ComputedValues != "" {
			fmt.Fprintf(w, ", computed: %s", rel.ComputedValues)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  manifest  %s", rel.Manifest)
		if rel.Hooks != "" {
			fmt.Fprintf(w, ", hooks: %s", rel.Hooks)
		}
		fmt.Fprintln(w)
		for _, o := range rel.Objects {
			state := "live copy"
			if o.Missing {
				state = "absent at backup time"
			}
			if o.Keep {
				state += ", resource-policy keep"
			}
			fmt.Fprintf(w, "  object    %s (%s)\n", o.Ref(), state)
		}
		for _, o := range rel.Extra {
			fmt.Fprintf(w, "  outside   %s (%s)\n", o.Ref(), o.Reason)
		}
		for _, v := range rel.Volumes {
			desc := strings.Join(nonEmpty(v.StorageClass, v.Capacity, v.VolumeName), ", ")
			fmt.Fprintf(w, "  claim     %s/%s (%s): definition only, volume data not copied\n", v.Namespace, v.Claim, desc)
		}
		for _, n := range rel.Notes {
			fmt.Fprintf(w, "  note      %s\n", n)
		}
	}
}

func nonEmpty(xs ...string) []string {
	var out []string
	for _, x := range xs {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

// RestoreOptions are the options of `plate backup restore`.
type RestoreOptions struct {
	*BackupOptions
	ID           string
	Releases     []string
	Yes          bool
	ForceCluster bool
	Timeout      time.Duration
}

func newBackupRestoreCmd(f *Factory, bo *BackupOptions) *cobra.Command {
	opts := &RestoreOptions{BackupOptions: bo}
	cmd := &cobra.Command{
		Use:               "restore ID",
		ValidArgsFunction: completeBackupIDs(bo),
		Short:             "Bring releases back to their state in a backup (confirmed)",
		Long: `Restore brings the releases of backup ID (or those named by --release) back to
the state the backup holds, in the namespaces they came from:

  - the namespace is created when missing;
  - objects outside the manifest that the backup holds (claims, operator-made
    Secrets, kept objects) are created when missing; existing ones are left as
    they are; a claim that is created comes back empty;
  - Helm's storage Secrets of the backed-up revisions that the cluster lacks are
    written back as they were (if the cluster stores other revisions under the
    same numbers, its history is kept and the backed-up revision is stored on top);
  - the release is rolled back to the backed-up revision: a new revision with its
    chart, values, manifest and hooks, whose objects Helm applies.

Afterwards Helm's history is consistent and helm_release reports the backed-up
revision's manifest and values. Volume data is not restored.

Every file is checked against its checksum first. The target cluster must be the
one the backup was made from (the UID of its kube-system namespace); otherwise the
restore is refused (exit code 2) unless --force-cluster. It prints what it would
do (-v: diffs) and asks for confirmation: --yes answers yes; without a terminal
and without --yes it stops with exit code 4 and changes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			return restoreRun(cmd.Context(), f, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.Releases, "release", nil, "restore only this release (NAME or NAMESPACE/NAME; repeatable)")
	fl.BoolVarP(&opts.Yes, "yes", "y", false, "restore without asking")
	fl.BoolVar(&opts.ForceCluster, "force-cluster", false, "restore onto a cluster other than the one the backup was made from")
	fl.DurationVar(&opts.Timeout, "timeout", helm.DefaultTimeout, "bound on each release's rollback, hooks included")
	return cmd
}

func restoreRun(ctx context.Context, f *Factory, opts *RestoreOptions) error {
	dir, err := opts.backupsDir()
	if err != nil {
		return exit.Wrap(exit.Usage, err)
	}
	m, err := backup.Load(dir, opts.ID)
	if err != nil {
		return err
	}
	for _, p := range backup.Verify(dir, m) {
		if p.Warning {
			fmt.Fprintf(f.IO.ErrOut, "plate: warning: backup %s: %s: %s\n", m.ID, p.File, p.Problem)
			continue
		}
		return exit.Errorf(exit.PlanFailed, "backup %s is damaged: %s: %s; nothing was restored", m.ID, p.File, p.Problem)
	}
	rels, err := selectReleases(m, opts.Releases)
	if err != nil {
		return err
	}
	return change[*restorePlan, []*backup.ReleaseResult]{
		Name: "plate backup restore " + m.ID,
		Releases: func(_ *releaseClients, _ *restorePlan) []lock.Target {
			var out []lock.Target
			for _, r := range rels {
				out = append(out, lock.Target{Namespace: r.Namespace, Name: r.Name})
			}
			return out
		},
		Plan: func(ctx context.Context, dry *releaseClients) (*restorePlan, error) {
			target, err := backup.Identify(ctx, dry.kube)
			if err != nil {
				return nil, exit.Wrap(exit.Usage, err)
			}
			if err := backup.CheckCluster(m, target); err != nil {
				if !opts.ForceCluster {
					return nil, &exit.Error{Code: exit.Usage, Msg: "refusing to restore backup " + m.ID + ": " + err.Error(), Err: err,
						Hint: "point --context at the cluster the backup came from, or pass --force-cluster to restore onto this one"}
				}
				fmt.Fprintf(f.IO.ErrOut, "plate: warning: %v; restoring anyway (--force-cluster)\n", err)
			}
			plan := &restorePlan{volumeData: m.VolumeData}
			for _, r := range rels {
				p, err := backup.Restore(ctx, dry.kube, dry.helm, dir, m, r, opts.Timeout)
				if err != nil {
					return plan, fmt.Errorf("%s in %s: %w", r.Name, r.Namespace, err)
				}
				plan.releases = append(plan.releases, p)
			}
			plan.complete = true
			return plan, nil
		},
		Show: func(w io.Writer, _ *releaseClients, plan *restorePlan) {
			for _, p := range plan.releases {
				fmt.Fprintln(w, p.Summary())
				if opts.Verbose > 0 {
					fmt.Fprint(w, indent(p.Helm.Text()))
					for _, e := range p.Extra {
						fmt.Fprintf(w, "    %s %s (%s)\n", e.Ref(), e.Action, e.Reason)
					}
				}
			}
			if plan.complete {
				fmt.Fprintf(w, "volume data is not restored: %s\n", plan.volumeData)
			}
		},
		Question: func(dry *releaseClients, _ *restorePlan) string {
			return fmt.Sprintf("Restore %s from backup %s onto %s?", plural(len(rels), "release"), m.ID, dry.kube.Describe())
		},
		// One release after the other; an interrupt lets the restore under
		// way finish and stops before the next.
		Apply: func(ctx context.Context, live *releaseClients, _ *restorePlan, interrupted func() bool) ([]*backup.ReleaseResult, error) {
			var results []*backup.ReleaseResult
			restored := func() string {
				var done []string
				for _, d := range results {
					done = append(done, d.Namespace+"/"+d.Name)
				}
				if len(done) == 0 {
					return "none"
				}
				return strings.Join(done, ", ")
			}
			for _, r := range rels {
				if interrupted() {
					return results, &exit.Error{Code: exit.Interrupted, Err: context.Canceled,
						Msg: fmt.Sprintf("interrupted: %s in %s and the releases after it were not restored (restored before it: %s)", r.Name, r.Namespace, restored())}
				}
				res, err := backup.Restore(ctx, live.kube, live.helm, dir, m, r, opts.Timeout)
				if err != nil {
					return results, exit.Wrap(exit.PlanFailed, fmt.Errorf("restore of %s in %s failed (restored before it: %s): %w", r.Name, r.Namespace, restored(), err))
				}
				results = append(results, res)
			}
			return results, nil
		},
		Report: func(w io.Writer, _ *releaseClients, results []*backup.ReleaseResult) {
			for _, res := range results {
				fmt.Fprintln(w, res.Summary())
			}
		},
	}.run(ctx, f, opts.GlobalOptions, ask.Rule{Yes: opts.Yes, Prompter: f.IO})
}

// restorePlan is the plan of plate backup restore: the dry restore of each
// release, in order. complete is false when a release could not be
// planned.
type restorePlan struct {
	releases   []*backup.ReleaseResult
	volumeData string
	complete   bool
}

// selectReleases picks the releases --release names (NAME or NS/NAME), or
// all of them.
func selectReleases(m *backup.Manifest, names []string) ([]*backup.Release, error) {
	if len(names) == 0 {
		out := make([]*backup.Release, len(m.Releases))
		for i := range m.Releases {
			out[i] = &m.Releases[i]
		}
		if len(out) == 0 {
			return nil, exit.Errorf(exit.Usage, "backup %s holds no release", m.ID)
		}
		return out, nil
	}
	var out []*backup.Release
	for _, n := range names {
		ns, name, ok := strings.Cut(n, "/")
		if !ok {
			ns, name = "", n
		}
		r := m.Release(name, ns)
		if r == nil {
			var have []string
			for _, r := range m.Releases {
				have = append(have, r.Namespace+"/"+r.Name)
			}
			return nil, exit.Errorf(exit.Usage, "backup %s holds no release %s (it holds %s)", m.ID, n, strings.Join(have, ", "))
		}
		out = append(out, r)
	}
	return out, nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
