package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/plate-dev/plate/internal/ask"
	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/lock"
)

// RollbackOptions are the options of `plate rollback`.
type RollbackOptions struct {
	*GlobalOptions
	Release string
	To      int
	Yes     bool
}

func newRollbackCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &RollbackOptions{GlobalOptions: g}
	cmd := &cobra.Command{
		Use:   "rollback RELEASE",
		Short: "Roll a Helm release back to an earlier revision (confirmed)",
		Long: `Rollback restores an earlier revision of a release in a namespace (-n, default
the context's) as a new revision: its chart, values, manifest and hooks. By
default it restores the last revision before the current one that was deployed
or superseded, so a failed revision is never restored (Helm's "previous
revision" may be one); --to picks a revision (see plate history).

It first prints what it would do (-v adds the diff, Secret data hidden), then
asks for confirmation: --yes answers yes; without a terminal and without --yes
it stops with exit code 4 and changes nothing. It does not wait for readiness.
A release stuck in a pending state is refused: see plate recover.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Release = args[0]
			return rollbackRun(cmd.Context(), f, opts)
		},
	}
	cmd.Flags().IntVar(&opts.To, "to", 0, "the revision to restore (default: the last deployed or superseded before the current one)")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "roll back without asking")
	return cmd
}

func rollbackRun(ctx context.Context, f *Factory, opts *RollbackOptions) error {
	req := func(ns string, rev int) helm.RollbackRequest {
		return helm.RollbackRequest{Release: opts.Release, Namespace: ns, Revision: rev}
	}
	return change[*helm.RollbackResult, *helm.RollbackResult]{
		Name: "plate rollback " + opts.Release,
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
	}.run(ctx, f, opts.GlobalOptions, ask.Rule{Yes: opts.Yes, Prompter: f.IO})
}
