package runner

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/plate-dev/plate/internal/trace"
)

// StopReport tells, after a run pass that stopped for any reason
// (interrupted, a step failed, a wait timed out), what the run did, what it
// did not, and the plate rollback lines for the releases it changed.
// events are the run pass's; namespace is the default namespace of the
// run; why says why it stopped ("interrupted", "stopped: timeout").
//
// It reads only what the steps recorded as data: each step's Subject (the
// release it acts on), the Changes on its closing event, and whether an
// interrupt stopped it; never argument names or summary wording.
func StopReport(w io.Writer, events []trace.Event, namespace, why string) {
	type step struct {
		last    trace.Event
		subject *trace.Subject
		changes []trace.Change
	}
	steps := map[string]*step{}
	var order []string
	for _, e := range events {
		if e.Builtin == "print" {
			continue
		}
		s, ok := steps[e.Step]
		if !ok {
			s = &step{}
			steps[e.Step] = s
			order = append(order, e.Step)
		}
		s.last = e
		if e.Subject != nil {
			s.subject = e.Subject
		}
		s.changes = append(s.changes, e.Changes...)
	}
	type change struct {
		release, namespace string
		what               []string
		// restores is the revision a rollback should bring back (0: the
		// default target).
		restores int
	}
	var changes []*change
	byRelease := map[string]*change{}
	note := func(rel, ns, what string) *change {
		if ns == "" {
			ns = namespace
		}
		k := ns + "/" + rel
		c, ok := byRelease[k]
		if !ok {
			c = &change{release: rel, namespace: ns}
			byRelease[k] = c
			changes = append(changes, c)
		}
		c.what = append(c.what, what)
		return c
	}
	var skipped []string
	fmt.Fprintf(w, "plate: %s; what this run did before it stopped:\n", why)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	n := 0
	for _, id := range order {
		s := steps[id]
		e := s.last
		state := string(e.Phase)
		switch {
		case e.Phase == trace.Skipped:
			skipped = append(skipped, id+" "+e.Builtin)
			continue
		case e.Phase == trace.Started, e.Phase == trace.Progress:
			state = "in flight"
		case e.Phase == trace.Failed && e.Interrupted:
			state = "interrupted"
		}
		n++
		subj := s.subject.Text(namespace)
		if subj == "" {
			subj = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s %s\t%s\t%s\n", subj, state, id, e.Builtin, strings.ReplaceAll(e.Summary, "\n", " "), trace.LinePos(e))
		for _, ch := range s.changes {
			switch ch.Action {
			case trace.Installed:
				what := fmt.Sprintf("install rev %d", ch.To)
				if ch.FirstInstall {
					what += " (first install: nothing to roll back to; helm_uninstall removes it)"
				}
				note(ch.Release, ch.Namespace, what)
			case trace.Upgraded:
				c := note(ch.Release, ch.Namespace, fmt.Sprintf("upgrade rev %d", ch.To))
				if c.restores == 0 {
					c.restores = ch.Supersedes
				}
			case trace.RolledBack:
				note(ch.Release, ch.Namespace, fmt.Sprintf("rolled back to rev %d as rev %d", ch.Restores, ch.To))
			case trace.MarkedFailed:
				what := fmt.Sprintf("rev %d not ready: marked failed", ch.To)
				if ch.Restores > 0 {
					what += fmt.Sprintf(", rev %d deployed again", ch.Restores)
				}
				note(ch.Release, ch.Namespace, what)
			}
		}
		if e.Phase != trace.Done && s.subject != nil && len(s.changes) == 0 && (e.Builtin == "helm_install" || e.Builtin == "helm_rollback") {
			note(s.subject.Release, s.subject.Namespace, e.Builtin+" "+state+": its new revision is marked failed, not left pending")
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
	fmt.Fprintln(w, "to roll back the releases this run changed (each to the revision deployed before this run; failed revisions are never restored):")
	for _, c := range changes {
		line := fmt.Sprintf("plate rollback %s -n %s", c.release, c.namespace)
		if c.restores > 0 {
			line += fmt.Sprintf(" --to %d", c.restores)
		}
		fmt.Fprintf(w, "  %s    # %s\n", line, strings.Join(c.what, "; "))
	}
}
