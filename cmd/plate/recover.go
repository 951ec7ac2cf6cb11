package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plate-dev/plate/internal/ask"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/lock"
	"github.com/plate-dev/plate/internal/trace"
)

// RecoverOptions are the options of `plate recover`.
type RecoverOptions struct {
	*GlobalOptions
	Release       string
	Yes           bool
	Force         bool
	LockNamespace string
}

func newRecoverCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &RecoverOptions{GlobalOptions: g}
	cmd := &cobra.Command{
		Use:               "recover RELEASE",
		ValidArgsFunction: completeReleases(g),
		Short:             "Get a Helm release out of pending-install/upgrade/rollback (confirmed)",
		Long: `Recover gets a release out of pending-install, pending-upgrade or
pending-rollback: the state of an install, upgrade or rollback that is still in
progress, or that was interrupted (a killed plate or helm process leaves it
behind, after which every install, upgrade and rollback is refused).

It marks the pending revision failed; then, if an earlier revision was deployed
or superseded, it rolls the release back to the last such revision, so that the
objects match a revision that worked. Without one (a first install that never
finished) the failed revision stays, and the next run upgrades it. A release that
is not pending is left alone (exit 0).

Recovering an operation that is still running breaks it: Helm would end with two
deployed revisions. So recover refuses (exit 1, nothing written) while a live
plate run holds the release's run lock, and for 5 minutes after the pending
revision was made (an operation that recent may still be running, in a helm
command or a plate run elsewhere), unless the lock's holder is a process of this
host that no longer runs. --force recovers anyway: it takes over a live run's
lock, and that run stops before its next write.

It prints what it found and what it would do (-v: the diff), and asks for
confirmation: --yes answers yes; without a terminal and without --yes it stops
with exit code 4 and changes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Release = args[0]
			return recoverRun(cmd.Context(), f, opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "recover without asking")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "recover even while a plate run holds the release's lock, or the operation started less than 5 minutes ago (takes over the run's lock)")
	cmd.Flags().StringVar(&opts.LockNamespace, "lock-namespace", "default", "namespace of the run locks of releases whose namespace did not exist when their run began (see plate run --lock-namespace)")
	return cmd
}

// recoverPlan is the plan of plate recover: the dry recovery, the run locks
// that cover the release, and why recover refuses. -o json prints the
// recovery only.
type recoverPlan struct {
	*helm.RecoverResult
	locks   []*lock.Status
	refusal []string
}

// recoverRefusals says why recovering latest, a pending revision, could
// break an operation that is still running: a live plate run holds one of
// locks (the leases of the release), or the revision was made less than
// helm.RecoverWindow before now, and no lock says that the run that made it
// has died (a process of this host that no longer runs, which began before
// the revision). Empty: recovering is safe as far as plate can tell.
func recoverRefusals(latest helm.Revision, locks []*lock.Status, now time.Time) []string {
	var out []string
	for _, st := range locks {
		if st.Live {
			out = append(out, fmt.Sprintf("a plate run holds the release's lock and may still be working on rev %d: %s", latest.Revision, st.Holder))
		}
	}
	if latest.Updated.IsZero() {
		return out
	}
	age := now.Sub(latest.Updated)
	if age >= helm.RecoverWindow {
		return out
	}
	for _, st := range locks {
		if st.Dead && !st.Holder.Since.After(latest.Updated) {
			return out
		}
	}
	return append(out, fmt.Sprintf("rev %d became %s %s ago, less than %d minutes ago: the operation may still be running (a helm command, or a plate run that holds no lock here)",
		latest.Revision, latest.Status, age.Round(time.Second), int(helm.RecoverWindow/time.Minute)))
}

// releaseLocks reads the leases that cover release in namespace: its own,
// and the one a run that created the namespace took in lockNamespace.
func releaseLocks(ctx context.Context, cl *releaseClients, release, lockNamespace string, now time.Time) ([]*lock.Status, error) {
	t := lock.ReleaseTargets(cl.namespace, release, true, lockNamespace)
	var out []*lock.Status
	for _, tt := range []lock.Target{t, *t.Guard} {
		st, err := lock.Inspect(ctx, cl.kube.Clientset, tt, now)
		if err != nil {
			return nil, err
		}
		if st != nil {
			out = append(out, st)
		}
	}
	return out, nil
}

func recoverRun(ctx context.Context, f *Factory, opts *RecoverOptions) error {
	req := func(ns string) helm.RecoverRequest { return helm.RecoverRequest{Release: opts.Release, Namespace: ns} }
	return change[*recoverPlan, *helm.RecoverResult]{
		Name: "plate recover " + opts.Release,
		Releases: func(live *releaseClients, _ *recoverPlan) []lock.Target {
			return []lock.Target{{Namespace: live.namespace, Name: opts.Release, Force: opts.Force}}
		},
		LockNamespace: opts.LockNamespace,
		Plan: func(ctx context.Context, dry *releaseClients) (*recoverPlan, error) {
			res, err := dry.helm.Recover(ctx, req(dry.namespace))
			if err != nil {
				return nil, err
			}
			p := &recoverPlan{RecoverResult: res}
			if !res.Stuck {
				return p, nil
			}
			now := f.Now()
			if p.locks, err = releaseLocks(ctx, dry, opts.Release, opts.LockNamespace, now); err != nil {
				return nil, err
			}
			p.refusal = recoverRefusals(res.Latest, p.locks, now)
			if len(p.refusal) == 0 || opts.Force {
				return p, nil
			}
			return p, &exit.Error{Code: exit.PlanFailed,
				Msg: fmt.Sprintf("recover %s refused: %s; nothing was changed", opts.Release, strings.Join(p.refusal, "; and ")),
				Hint: "let the operation finish (the lock of a run that was killed expires after " + lock.DefaultTTL.String() +
					"); if you are sure nothing works on the release any more, plate recover --force recovers it and takes over a run's lock (that run then stops before its next write)"}
		},
		Show: func(w io.Writer, dry *releaseClients, plan *recoverPlan) {
			if !plan.Stuck {
				fmt.Fprintf(w, "%s in %s: %s\n", opts.Release, dry.namespace, plan.Summary())
				return
			}
			age := ""
			if !plan.Latest.Updated.IsZero() {
				age = fmt.Sprintf(", started %s ago", trace.FormatDuration(f.Now().Sub(plan.Latest.Updated).Round(time.Second)))
			}
			fmt.Fprintf(w, "%s in %s on %s: rev %d is %s%s: in progress or interrupted\n", opts.Release, dry.namespace, dry.kube.Describe(), plan.Latest.Revision, plan.Latest.Status, age)
			if len(plan.locks) == 0 {
				fmt.Fprintf(w, "run lock: none (no plate run holds or held %s's lock)\n", opts.Release)
			}
			for _, st := range plan.locks {
				fmt.Fprintf(w, "run lock: %s\n", st)
			}
			if opts.Force {
				for _, r := range plan.refusal {
					fmt.Fprintf(w, "warning: --force: %s\n", r)
				}
			}
			fmt.Fprintln(w, plan.Summary())
			if opts.Verbose > 0 {
				fmt.Fprint(w, indent(plan.Text()))
			}
		},
		Question: func(dry *releaseClients, plan *recoverPlan) string {
			if !plan.Stuck {
				return ""
			}
			return fmt.Sprintf("Recover %s in namespace %s on %s (no other operation on it is running)?", opts.Release, dry.namespace, dry.kube.Describe())
		},
		// Marking the pending revision failed and the rollback after it
		// are one change: an interrupt lets both finish.
		Apply: func(ctx context.Context, live *releaseClients, _ *recoverPlan, _ func() bool) (*helm.RecoverResult, error) {
			return live.helm.Recover(ctx, req(live.namespace))
		},
		Report: func(w io.Writer, live *releaseClients, res *helm.RecoverResult) {
			fmt.Fprintf(w, "%s in %s: %s\n", opts.Release, live.namespace, res.Summary())
			if res.Stuck {
				fmt.Fprintln(w, "the next run can proceed")
			}
		},
	}.run(ctx, f, opts.GlobalOptions, ask.Rule{Yes: opts.Yes, Prompter: f.IO})
}
