package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/plate-dev/plate/internal/ask"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/helm"
	kwait "github.com/plate-dev/plate/internal/kube/wait"
	"github.com/plate-dev/plate/internal/lock"
)

// RollbackOptions are the options of `plate rollback`.
type RollbackOptions struct {
	*GlobalOptions
	Release string
	To      int
	Yes     bool
	DryRun  bool
	Wait    bool
	Timeout time.Duration
}

func newRollbackCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &RollbackOptions{GlobalOptions: g}
	cmd := &cobra.Command{
		Use:   "rollback RELEASE [REVISION]",
		Short: "Roll a Helm release back to an earlier revision (confirmed)",
		Long: `Rollback restores an earlier revision of a release in a namespace (-n, default
the context's) as a new revision: its chart, values, manifest and hooks. By
default it restores the last revision before the current one that was deployed
or superseded, so a failed revision is never restored (Helm's "previous
revision" may be one); a REVISION argument, as helm rollback takes it, or --to
picks one (see plate history).

It first prints what it would do (-v adds the diff, Secret data hidden), then
asks for confirmation: --yes answers yes; without a terminal and without --yes
it stops with exit code 4 and changes nothing. --dry-run prints what it would
do and stops. --wait then waits, by wait_ready's rules, for the objects of
the restored revision to be ready (--timeout, default 5m; exit 3 on timeout,
1 when an object fails). A release stuck in a pending state is refused: see
plate recover.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Release = args[0]
			if len(args) == 2 {
				n, err := revisionArg(args[1])
				if err != nil {
					return err
				}
				if opts.To != 0 && opts.To != n {
					return exit.Errorf(exit.Usage, "rollback: REVISION %d and --to %d disagree; give one", n, opts.To)
				}
				opts.To = n
			}
			return rollbackRun(cmd.Context(), f, opts)
		},
		ValidArgsFunction: completeReleases(g),
	}
	cmd.Flags().IntVar(&opts.To, "to", 0, "the revision to restore (default: the last deployed or superseded before the current one)")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "roll back without asking")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print what the rollback would do; change nothing")
	cmd.Flags().BoolVar(&opts.Wait, "wait", false, "wait for the restored revision's objects to be ready")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", kwait.DefaultTimeout, "bound on --wait")
	return cmd
}

func rollbackRun(ctx context.Context, f *Factory, opts *RollbackOptions) error {
	req := func(ns string, rev int) helm.RollbackRequest {
		return helm.RollbackRequest{Release: opts.Release, Namespace: ns, Revision: rev}
	}
	return change[*helm.RollbackResult, *helm.RollbackResult]{
		Name:   "plate rollback " + opts.Release,
		DryRun: opts.DryRun,
		Releases: func(live *releaseClients, _ *helm.RollbackResult) []lock.Target {
			return []lock.Target{{Namespace: live.namespace, Name: opts.Release}}
		},
		Plan: func(ctx context.Context, dry *releaseClients) (*helm.RollbackResult, error) {
			return dry.helm.Rollback(ctx, req(dry.namespace, opts.To))
		},
		Show: func(w io.Writer, dry *releaseClients, plan *helm.RollbackResult) {
			fmt.Fprintf(w, "%s in %s on %s: %s\n", opts.Release, dry.namespace, dry.kube.Describe(), plan.Summary())
			if opts.Verbose > 0 {
				fmt.Fprint(w, indent(plan.Diff.Text()))
			}
		},
		Question: func(dry *releaseClients, plan *helm.RollbackResult) string {
			return fmt.Sprintf("Roll back %s in namespace %s on %s from rev %d to rev %d?", opts.Release, dry.namespace, dry.kube.Describe(), plan.FromRevision, plan.Restores)
		},
		// The revision the plan chose is the one restored, even if the
		// history changed since.
		Apply: func(ctx context.Context, live *releaseClients, plan *helm.RollbackResult, _ func() bool) (*helm.RollbackResult, error) {
			return live.helm.Rollback(ctx, req(live.namespace, plan.Restores))
		},
		Report: func(w io.Writer, live *releaseClients, res *helm.RollbackResult) {
			fmt.Fprintf(w, "%s in %s: %s\n", opts.Release, live.namespace, res.Summary())
		},
		Wait: func(ctx context.Context, w io.Writer, live *releaseClients, res *helm.RollbackResult) error {
			if !opts.Wait {
				return nil
			}
			return waitRelease(ctx, w, live, res.Release, opts.Timeout)
		},
	}.run(ctx, f, opts.GlobalOptions, ask.Rule{Yes: opts.Yes, Prompter: f.IO})
}
