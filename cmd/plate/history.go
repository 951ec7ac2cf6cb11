package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/helm"
)

// HistoryOptions are the options of `plate history`.
type HistoryOptions struct {
	*GlobalOptions
	Release string
}

func newHistoryCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &HistoryOptions{GlobalOptions: g}
	return &cobra.Command{
		Use:               "history RELEASE",
		ValidArgsFunction: completeReleases(g),
		Short:             "Show the revisions of a Helm release",
		Long: `History lists the stored revisions of a release in a namespace (-n, default the
context's): revision, when it was deployed, status, chart, app version and
Helm's description, oldest first. Without -n, a release that the context's
namespace does not have is looked for in every namespace: the one namespace
that has it is shown; several need -n. A release stuck in pending-install,
pending-upgrade or pending-rollback (an operation that never finished) is
pointed out with the command that recovers it. It only reads, and never shows
the values stored with a release. -o json prints one JSON object.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Release = args[0]
			return historyRun(cmd.Context(), f, opts)
		},
	}
}

// historyReport is what `plate history -o json` prints.
type historyReport struct {
	Release   string          `json:"release"`
	Namespace string          `json:"namespace"`
	Cluster   string          `json:"cluster"`
	History   []helm.Revision `json:"history"`
	// Pending is true when the latest revision is stuck in a pending state.
	Pending bool   `json:"pending"`
	Hint    string `json:"hint,omitempty"`
}

func historyRun(ctx context.Context, f *Factory, opts *HistoryOptions) error {
	cl, err := connectRelease(opts.GlobalOptions, true)
	if err != nil {
		return err
	}
	if opts.Namespace == "" {
		if err := findNamespace(ctx, cl, opts.Release); err != nil {
			return err
		}
	}
	info, err := cl.helm.Get(ctx, opts.Release, cl.namespace)
	if err != nil {
		return err
	}
	if info == nil {
		return exit.Errorf(exit.PlanFailed, "no release %s in namespace %s on %s", opts.Release, cl.namespace, cl.kube.Describe())
	}
	r := historyReport{Release: opts.Release, Namespace: cl.namespace, Cluster: cl.kube.Describe(), History: info.History}
	if r.Pending = helm.IsPending(info.Status); r.Pending {
		r.Hint = pendingHint(&helm.PendingError{Release: opts.Release, Namespace: cl.namespace, Revision: info.Revision, Status: info.Status,
			Started: info.Updated, Now: f.Now()})
	}
	if opts.Output == "json" {
		return writeJSON(f.IO.Out, r)
	}
	tw := tabwriter.NewWriter(f.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tUPDATED\tSTATUS\tCHART\tAPP VERSION\tDESCRIPTION")
	for _, h := range info.History {
		updated := "-"
		if !h.Updated.IsZero() {
			updated = h.Updated.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", h.Revision, updated, h.Status, dash(h.Chart+"-"+h.ChartVersion), dash(h.AppVersion), dash(oneLine(h.Description)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Pending {
		fmt.Fprintln(f.IO.Out)
		fmt.Fprintln(f.IO.Out, r.Hint)
	}
	return nil
}

// findNamespace sets, when -n was not given, the namespace of a release
// the context's namespace does not have: the one namespace that has it. A
// release in several namespaces needs -n. When the releases of every
// namespace cannot be read (a namespace-scoped user), the context's
// namespace stays.
func findNamespace(ctx context.Context, cl *releaseClients, name string) error {
	if info, err := cl.helm.Get(ctx, name, cl.namespace); err == nil && info != nil {
		return nil
	}
	all, err := cl.helm.List(ctx, "")
	if err != nil {
		return nil
	}
	var found []string
	for _, r := range all {
		if r.Name == name {
			found = append(found, r.Namespace)
		}
	}
	switch len(found) {
	case 0:
		return nil
	case 1:
		cl.namespace = found[0]
		return nil
	}
	return exit.Errorf(exit.Usage, "release %s is in namespaces %s, not in %s: pass -n", name, strings.Join(found, ", "), cl.namespace)
}

// pendingHint explains a release whose latest revision is pending, in
// the neutral words of a run's refusal: in progress or interrupted.
func pendingHint(pe *helm.PendingError) string {
	xe := pe.Exit()
	return xe.Msg + "; every new install, upgrade or rollback is refused until it ends or is recovered.\n" + xe.Hint
}

func dash(s string) string {
	if s == "" || s == "-" {
		return "-"
	}
	return s
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
