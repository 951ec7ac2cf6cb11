package runner

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/trace"
)

// StopReport tells, after a run pass that stopped for any reason
// (interrupted, a step failed, a wait timed out), what the run did, what it
// did not, and the plate rollback lines for the releases it changed.
// events are the run pass's; namespace is the default namespace of the
// run; why says why it stopped ("interrupted", "stopped: timeout").
func StopReport(w io.Writer, events []trace.Event, namespace, why string) {
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
