package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/internal/ask"
	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/lock"
	"github.com/plate-dev/plate/internal/trace"
)

// RecoverOptions are the options of `plate recover`.
type RecoverOptions struct {
	*GlobalOptions
	Release       string
	Yes           bool
	LockNamespace string
}

func newRecoverCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &RecoverOptions{GlobalOptions: g}
	cmd := &cobra.Command{
		Use:               "recover RELEASE",
		ValidArgsFunction: completeReleases(g),
		Short:             "Get a Helm release out of pending-install/upgrade/rollback (confirmed)",
		Long: `Recover gets a release out of pending-install, pending-upgrade or
pending-rollback: the state a killed plate or helm process leaves behind, after
which every install, upgrade and rollback is refused ("another operation is in
progress").

It marks the pending revision failed; then, if an earlier revision was deployed
or superseded, it rolls the release back to the last such revision, so that the
objects match a revision that worked. Without one (a first install that never
finished) the failed revision stays, and the next run upgrades it. A release that
is not pending is left alone (exit 0).

Make sure no other plate or helm process is still working on the release:
recover cannot tell a killed operation from a slow one. It lists the plate runs
that hold a run lock (--lock-namespace), prints what it would do (-v: the diff),
and asks for confirmation: --yes answers yes; without a terminal and without
--yes it stops with exit code 4 and changes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Release = args[0]
			return recoverRun(cmd.Context(), f, opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "recover without asking")
	cmd.Flags().StringVar(&opts.LockNamespace, "lock-namespace", "default", "namespace of the run locks of plate runs (see plate run --lock-namespace)")
	return cmd
}

// recoverPlan is the plan of plate recover: the dry recovery and the run
// locks that are held. -o json prints the recovery only (locks is not
// exported).
type recoverPlan struct {
	*helm.RecoverResult
	locks []string
}

func recoverRun(ctx context.Context, f *Factory, opts *RecoverOptions) error {
	req := func(ns string) helm.RecoverRequest { return helm.RecoverRequest{Release: opts.Release, Namespace: ns} }
	return change[*recoverPlan, *helm.RecoverResult]{
		Name: "plate recover " + opts.Release,
		Releases: func(live *releaseClients, _ *recoverPlan) []lock.Target {
			return []lock.Target{{Namespace: live.namespace, Name: opts.Release}}
		},
		Plan: func(ctx context.Context, dry *releaseClients) (*recoverPlan, error) {
			res, err := dry.helm.Recover(ctx, req(dry.namespace))
			if err != nil {
				return nil, err
			}
			p := &recoverPlan{RecoverResult: res}
			if res.Stuck && opts.Output != "json" {
				p.locks = liveRunLocks(ctx, dry, opts.LockNamespace, f.Now())
			}
			return p, nil
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
			fmt.Fprintf(w, "%s in %s on %s: rev %d is %s%s\n", opts.Release, dry.namespace, dry.kube.Describe(), plan.Latest.Revision, plan.Latest.Status, age)
			for _, h := range plan.locks {
				fmt.Fprintf(w, "warning: a plate run holds a run lock: %s; if it works on %s, let it finish instead\n", h, opts.Release)
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

// liveRunLocks lists the holders of run locks (Leases of plate runs) that
// are still renewed.
func liveRunLocks(ctx context.Context, cl *releaseClients, ns string, now time.Time) []string {
	leases, err := cl.kube.Clientset.CoordinationV1().Leases(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range leases.Items {
		raw, ok := l.Annotations[lock.HolderAnnotation]
		if !ok {
			continue
		}
		ttl := lock.DefaultTTL
		if l.Spec.LeaseDurationSeconds != nil {
			ttl = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
		}
		if l.Spec.RenewTime != nil && now.Sub(l.Spec.RenewTime.Time) > ttl {
			continue
		}
		var h lock.Holder
		if json.Unmarshal([]byte(raw), &h) != nil {
			continue
		}
		out = append(out, h.String())
	}
	return out
}
