package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/plate-dev/plate/internal/ask"
	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/kube"
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
	req := func(ns string, rev int) helm.RollbackRequest {
		return helm.RollbackRequest{Release: opts.Release, Namespace: ns, Revision: rev}
	}
	return change[*helm.RollbackResult, *helm.RollbackResult]{
		Plan: func(ctx context.Context, dry *releaseClients) (*helm.RollbackResult, error) {
			return dry.helm.Rollback(ctx, req(dry.namespace, opts.To))
		},
		Show: func(w io.Writer, dry *releaseClients, plan *helm.RollbackResult) {
			fmt.Fprintf(w, "%s in %s on %s: %s\n", opts.Release, dry.namespace, dry.kube.Describe(), plan.Summary())
			if opts.Verbose > 0 {
				fmt.Fprint(w, indent(plan.Text()))
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

// interruptReport tells, after an interrupted run, what the run did, what
// it did not, and how to roll back the releases it changed. events are the
// run pass's; namespace is the default namespace of the run.
func interruptReport(w io.Writer, events []trace.Event, namespace string) {
	stopReport(w, events, namespace, "interrupted")
}

// stopReport is interruptReport for a run that stopped for any reason
// (interrupted, a step failed, a wait timed out): what the run did, what it
// did not, and the plate rollback lines for the releases it changed.
func stopReport(w io.Writer, events []trace.Event, namespace, why string) {
	type step struct {
		first, last trace.Event
	}
	steps := map[string]*step{}
	var order []string
	for _, e := range events {
		if e.Builtin == "print" {
			continue
		}
		s, ok := steps[e.Step]
		if !ok {
			s = &step{first: e}
			steps[e.Step] = s
			order = append(order, e.Step)
		}
		s.last = e
	}
	type change struct{ release, namespace, what string }
	var changes []change
	seen := map[string]int{}
	note := func(rel, ns, what string) {
		if rel == "" {
			return
		}
		if ns == "" {
			ns = namespace
		}
		k := ns + "/" + rel
		if i, ok := seen[k]; ok {
			changes[i].what += "; " + what
			return
		}
		seen[k] = len(changes)
		changes = append(changes, change{rel, ns, what})
	}
	var skipped []string
	fmt.Fprintf(w, "plate: %s; what this run did before it stopped:\n", why)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	n := 0
	for _, id := range order {
		s := steps[id]
		e := s.last
		state := string(e.Phase)
		switch e.Phase {
		case trace.Skipped:
			skipped = append(skipped, id+" "+e.Builtin)
			continue
		case trace.Started, trace.Progress:
			state = "in flight"
		case trace.Failed:
			if strings.Contains(e.Summary, "interrupted") {
				state = "interrupted"
			}
		}
		n++
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", state, id, e.Builtin, e.Pos, strings.ReplaceAll(e.Summary, "\n", " "))
		rel, _ := s.first.Args["release"].(string)
		ns, _ := s.first.Args["namespace"].(string)
		if m, ok := s.first.Args["release"].(map[string]any); ok {
			rel, _ = m["release"].(string)
			ns, _ = m["namespace"].(string)
		}
		switch d := e.Detail.(type) {
		case *helm.InstallResult:
			if e.Phase == trace.Done && d.Action != helm.NoChange {
				what := fmt.Sprintf("%s rev %d", d.Action, d.Release.Revision)
				if d.Action == helm.Install && d.Replaces == 0 {
					what += " (first install: nothing to roll back to; helm_uninstall removes it)"
				}
				note(d.Release.Name, d.Release.Namespace, what)
			}
			continue
		case *helm.RollbackResult:
			if e.Phase == trace.Done {
				note(d.Release.Name, d.Release.Namespace, fmt.Sprintf("rolled back to rev %d as rev %d", d.Restores, d.Release.Revision))
			}
			continue
		}
		if e.Phase != trace.Done && (e.Builtin == "helm_install" || e.Builtin == "helm_rollback") {
			note(rel, ns, e.Builtin+" "+state+": its new revision is marked failed, not left pending")
		}
	}
	if n == 0 {
		fmt.Fprintln(tw, "  nothing")
	}
	tw.Flush()
	if len(skipped) > 0 {
		fmt.Fprintf(w, "not run: %s, and the rest of the plan\n", strings.Join(skipped, ", "))
	} else {
		fmt.Fprintln(w, "not run: the rest of the plan")
	}
	if len(changes) == 0 {
		fmt.Fprintln(w, "no Helm release was changed")
		return
	}
	fmt.Fprintln(w, "to roll back the releases this run changed (each to its last deployed revision before the current one):")
	for _, c := range changes {
		fmt.Fprintf(w, "  plate rollback %s -n %s    # %s\n", c.release, c.namespace, c.what)
	}
}

// defaultNamespace is the namespace builtins default to: -n, else the
// context's, else "default".
func defaultNamespace(s kube.Settings) string {
	if s.Namespace != "" {
		return s.Namespace
	}
	if cfg, err := kube.LoadConfig(s); err == nil {
		if ns, _, err := cfg.Namespace(); err == nil && ns != "" {
			return ns
		}
	}
	return "default"
}
