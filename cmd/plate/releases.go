package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/plate-dev/plate/internal/ask"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/helm"
	kwait "github.com/plate-dev/plate/internal/kube/wait"
	"github.com/plate-dev/plate/internal/lock"
)

// UninstallOptions are the options of `plate uninstall`.
type UninstallOptions struct {
	*GlobalOptions
	Release     string
	KeepHistory bool
	DryRun      bool
	Yes         bool
	Timeout     time.Duration
}

func newUninstallCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &UninstallOptions{GlobalOptions: g}
	cmd := &cobra.Command{
		Use:   "uninstall RELEASE",
		Short: "Uninstall a Helm release (confirmed)",
		Long: `Uninstall removes a release and its objects from a namespace (-n, default the
context's), as helm uninstall does: objects annotated
helm.sh/resource-policy: keep stay, and its uninstall hooks run. Without
--keep-history its revisions are deleted too; with it they are kept (status
uninstalled) so that plate rollback can bring the release back.

It first prints what it would remove, then asks for confirmation: --yes answers
yes; without a terminal and without --yes it stops with exit code 4 and
changes nothing. --dry-run prints what it would remove and stops. It takes the
release's run lock, so it is refused while a plate run changes the release.
An absent release is not an error: there is nothing to do.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Release = args[0]
			return uninstallRun(cmd.Context(), f, opts)
		},
		ValidArgsFunction: completeReleases(g),
	}
	cmd.Flags().BoolVar(&opts.KeepHistory, "keep-history", false, "keep the release's revisions (status uninstalled), so that plate rollback can restore it")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print what would be removed; change nothing")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "uninstall without asking")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", helm.DefaultTimeout, "bound on the uninstall, hooks included")
	return cmd
}

func uninstallRun(ctx context.Context, f *Factory, opts *UninstallOptions) error {
	req := func(ns string) helm.UninstallRequest {
		return helm.UninstallRequest{Release: opts.Release, Namespace: ns, KeepHistory: opts.KeepHistory, Timeout: opts.Timeout}
	}
	return change[*helm.UninstallResult, *helm.UninstallResult]{
		Name:   "plate uninstall " + opts.Release,
		DryRun: opts.DryRun,
		Releases: func(live *releaseClients, _ *helm.UninstallResult) []lock.Target {
			return []lock.Target{{Namespace: live.namespace, Name: opts.Release}}
		},
		Plan: func(ctx context.Context, dry *releaseClients) (*helm.UninstallResult, error) {
			return dry.helm.Uninstall(ctx, req(dry.namespace))
		},
		Show: func(w io.Writer, dry *releaseClients, plan *helm.UninstallResult) {
			fmt.Fprintf(w, "%s in %s on %s: %s\n", opts.Release, dry.namespace, dry.kube.Describe(), plan.Summary())
			if plan.Found && (opts.Verbose > 0 || opts.DryRun) {
				for _, o := range plan.Release.Objects {
					fmt.Fprintf(w, "  %s\n", o.String())
				}
			}
		},
		Question: func(dry *releaseClients, plan *helm.UninstallResult) string {
			if !plan.Found && !plan.Purged {
				return ""
			}
			if plan.Purged {
				return fmt.Sprintf("Delete the history of uninstalled release %s in namespace %s on %s?", opts.Release, dry.namespace, dry.kube.Describe())
			}
			return fmt.Sprintf("Uninstall %s (rev %d, %d objects) from namespace %s on %s?", opts.Release, plan.Release.Revision, len(plan.Release.Objects), dry.namespace, dry.kube.Describe())
		},
		Apply: func(ctx context.Context, live *releaseClients, _ *helm.UninstallResult, _ func() bool) (*helm.UninstallResult, error) {
			return live.helm.Uninstall(ctx, req(live.namespace))
		},
		Report: func(w io.Writer, live *releaseClients, res *helm.UninstallResult) {
			fmt.Fprintf(w, "%s in %s: %s\n", opts.Release, live.namespace, res.Summary())
		},
	}.run(ctx, f, opts.GlobalOptions, ask.Rule{Yes: opts.Yes, Prompter: f.IO})
}

// ListOptions are the options of `plate list`.
type ListOptions struct {
	*GlobalOptions
	All bool
}

func newListCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &ListOptions{GlobalOptions: g}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the Helm releases of a namespace (-A: of every namespace)",
		Long: `List shows the releases of a namespace (-n, default the context's), or of every
namespace with -A: name, namespace, revision, when it was deployed, status,
chart and app version. Like helm list it leaves out uninstalled releases;
unlike it, it shows releases stuck in pending-install, pending-upgrade or
pending-rollback, which block every operation until plate recover. It only
reads. -o json prints a JSON array.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return listRun(cmd.Context(), f, opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.All, "all-namespaces", "A", false, "list the releases of every namespace")
	return cmd
}

func listRun(ctx context.Context, f *Factory, opts *ListOptions) error {
	cl, err := connectRelease(opts.GlobalOptions, true)
	if err != nil {
		return err
	}
	ns := cl.namespace
	if opts.All {
		ns = ""
	}
	rels, err := cl.helm.List(ctx, ns)
	if err != nil {
		return err
	}
	if opts.Output == "json" {
		return writeJSON(f.IO.Out, rels)
	}
	if len(rels) == 0 {
		where := "namespace " + cl.namespace
		if opts.All {
			where = "any namespace"
		}
		fmt.Fprintf(f.IO.Out, "no releases in %s on %s\n", where, cl.kube.Describe())
		return nil
	}
	tw := tabwriter.NewWriter(f.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tNAMESPACE\tREVISION\tUPDATED\tSTATUS\tCHART\tAPP VERSION")
	for _, r := range rels {
		updated := "-"
		if !r.Updated.IsZero() {
			updated = r.Updated.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Name, r.Namespace, r.Revision.Revision, updated, r.Status, dash(r.Chart+"-"+r.ChartVersion), dash(r.AppVersion))
	}
	return tw.Flush()
}

// ReleaseTestOptions are the options of `plate release-test`.
type ReleaseTestOptions struct {
	*GlobalOptions
	Release string
	Timeout time.Duration
}

func newReleaseTestCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &ReleaseTestOptions{GlobalOptions: g}
	cmd := &cobra.Command{
		Use:   "release-test RELEASE",
		Short: "Run the test hooks of a Helm release (helm test)",
		Long: `Release-test runs the test hooks of a release's latest revision (objects
annotated helm.sh/hook: test, usually Pods), as helm test does, in a namespace
(-n, default the context's), and prints how each ended. A hook that fails
makes it exit 1; --timeout (default 5m) bounds each hook (exit 3). It creates
the hook objects and records their outcome in the release, as Helm does; it
changes nothing else. (plate test runs the tests of plans.)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Release = args[0]
			return releaseTestRun(cmd.Context(), f, opts)
		},
		ValidArgsFunction: completeReleases(g),
	}
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", helm.DefaultTimeout, "bound on each test hook")
	return cmd
}

func releaseTestRun(ctx context.Context, f *Factory, opts *ReleaseTestOptions) error {
	cl, err := connectRelease(opts.GlobalOptions, false)
	if err != nil {
		return err
	}
	res, err := cl.helm.Test(ctx, helm.TestRequest{Release: opts.Release, Namespace: cl.namespace, Timeout: opts.Timeout})
	if res != nil {
		if opts.Output == "json" {
			if jerr := writeJSON(f.IO.Out, res); jerr != nil {
				return jerr
			}
		} else {
			fmt.Fprintf(f.IO.Out, "%s in %s on %s: %s\n", opts.Release, cl.namespace, cl.kube.Describe(), res.Summary())
			for _, h := range res.Hooks {
				took := ""
				if !h.Started.IsZero() && !h.Completed.IsZero() {
					took = "  (" + h.Completed.Sub(h.Started).Round(100*time.Millisecond).String() + ")"
				}
				fmt.Fprintf(f.IO.Out, "  %s/%s  %s%s\n", h.Kind, h.Name, h.Phase, took)
			}
		}
	}
	return err
}

// waitRelease waits, after a rollback with --wait, for the objects of the
// revision it made to be ready, by wait_ready's rules.
func waitRelease(ctx context.Context, w io.Writer, live *releaseClients, rel helm.Release, timeout time.Duration) error {
	var targets []kwait.Target
	for _, o := range rel.Objects {
		t, err := kwait.ObjectTarget(o.APIVersion, o.Kind, o.Namespace, o.Name, rel.Name)
		if err != nil {
			return exit.Wrap(exit.PlanFailed, err)
		}
		targets = append(targets, t)
	}
	if len(targets) == 0 {
		fmt.Fprintf(w, "%s in %s: nothing to wait for (no objects)\n", rel.Name, rel.Namespace)
		return nil
	}
	start := time.Now()
	rep, err := kwait.ForClient(live.kube).Wait(ctx, targets, kwait.Options{Timeout: timeout, Namespace: rel.Namespace})
	if err != nil {
		if rep != nil {
			fmt.Fprint(w, indent(rep.Text()))
		}
		return err
	}
	ready, total := rep.Counts()
	fmt.Fprintf(w, "%s in %s: rev %d ready (%d/%d objects in %s)\n", rel.Name, rel.Namespace, rel.Revision, ready, total, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// revisionArg parses the optional REVISION argument of plate rollback.
func revisionArg(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, exit.Errorf(exit.Usage, "rollback: REVISION: want a positive revision number (see plate history), got %q", s)
	}
	return n, nil
}
