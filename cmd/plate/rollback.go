package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/runner"
	"github.com/plate-dev/plate/internal/trace"
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
	if ctx == nil {
		ctx = context.Background()
	}
	dry, err := connectRelease(opts.GlobalOptions, true)
	if err != nil {
		return err
	}
	req := helm.RollbackRequest{Release: opts.Release, Namespace: dry.namespace, Revision: opts.To}
	plan, err := dry.helm.Rollback(ctx, req)
	if err != nil {
		return err
	}
	json := opts.Output == "json"
	if !json {
		fmt.Fprintf(f.IO.Out, "%s in %s on %s: %s\n", opts.Release, dry.namespace, dry.kube.Describe(), plan.Summary())
		if opts.Verbose > 0 {
			fmt.Fprint(f.IO.Out, indent(plan.Text()))
		}
	}
	q := fmt.Sprintf("Roll back %s in namespace %s on %s from rev %d to rev %d?", opts.Release, dry.namespace, dry.kube.Describe(), plan.FromRevision, plan.Restores)
	if err := confirmChange(f, opts.Yes, q); err != nil {
		return err
	}
	live, err := connectRelease(opts.GlobalOptions, false)
	if err != nil {
		return err
	}
	req.Revision = plan.Restores
	res, err := live.helm.Rollback(ctx, req)
	if err != nil {
		return err
	}
	if json {
		return writeJSON(f.IO.Out, res)
	}
	fmt.Fprintf(f.IO.Out, "%s in %s: %s\n", opts.Release, live.namespace, res.Summary())
	return nil
}

// interruptReport tells, after an interrupted run, what the run did, what
// it did not, and how to roll back the releases it changed. events are the
// run pass's; namespace is the default namespace of the run.
func interruptReport(w io.Writer, events []trace.Event, namespace string) {
	runner.StopReport(w, events, namespace, "interrupted")
}
