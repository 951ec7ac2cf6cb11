package runner

import (
	"strings"
	"testing"

	"github.com/plate-dev/plate/internal/trace"
)

// The stop report reads what steps recorded as data: subjects, changes and
// the interrupted flag. Neither argument names nor summary wording matter
// (the summaries below say nothing the report could parse).
func TestStopReportReadsTypedRecords(t *testing.T) {
	ev := func(step, builtin string, phase trace.Phase, f func(*trace.Event)) trace.Event {
		e := trace.Event{Step: step, Builtin: builtin, Phase: phase, Pass: trace.Run, Summary: "opaque", Pos: trace.Pos{File: "plan.star", Line: 1}}
		if f != nil {
			f(&e)
		}
		return e
	}
	events := []trace.Event{
		ev("s1", "helm_install", trace.Done, func(e *trace.Event) {
			e.Subject = &trace.Subject{Release: "cache", Namespace: "prod"}
			e.Changes = []trace.Change{{Release: "cache", Namespace: "prod", Action: trace.Installed, To: 1, FirstInstall: true}}
		}),
		ev("s2", "helm_install", trace.Done, func(e *trace.Event) {
			e.Subject = &trace.Subject{Release: "api", Namespace: "prod"}
			e.Changes = []trace.Change{{Release: "api", Namespace: "prod", Action: trace.Upgraded, From: 4, To: 5, Supersedes: 3}}
		}),
		ev("s3", "wait_ready", trace.Failed, func(e *trace.Event) {
			e.Changes = []trace.Change{{Release: "api", Namespace: "prod", Action: trace.MarkedFailed, From: 5, To: 5, Restores: 3}}
		}),
		ev("s4", "helm_install", trace.Started, nil),
		ev("s4", "helm_install", trace.Failed, func(e *trace.Event) {
			e.Subject = &trace.Subject{Release: "web", Namespace: "prod"}
			e.Interrupted = true
		}),
		ev("s5", "helm_install", trace.Skipped, nil),
	}
	var b strings.Builder
	StopReport(&b, events, "default", "interrupted")
	out := b.String()
	for _, want := range []string{
		"plate: interrupted; what this run did before it stopped:",
		// Each line starts with its subject, then the state and the step;
		// the namespace shows when it is not the run's.
		"  prod/web    interrupted  s4 helm_install  opaque  plan.star:1\n",
		"not run: s5 helm_install, and the rest of the plan",
		"plate rollback cache -n prod    # install rev 1 (first install: nothing to roll back to; helm_uninstall removes it)",
		"plate rollback api -n prod --to 3    # upgrade rev 5; rev 5 not ready: marked failed, rev 3 deployed again",
		"plate rollback web -n prod    # helm_install interrupted: its new revision is marked failed, not left pending",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	// A failed step whose summary happens to say "interrupted" is not an
	// interrupted one.
	b.Reset()
	StopReport(&b, []trace.Event{ev("s1", "kube_apply", trace.Failed, func(e *trace.Event) { e.Summary = "webhook interrupted the request" })}, "default", "stopped: plan failed")
	if !strings.Contains(b.String(), "  -  failed  s1 kube_apply") || !strings.Contains(b.String(), "no Helm release was changed") {
		t.Errorf("report:\n%s", b.String())
	}
}

// Rollback on failure undoes every release the run changed, in reverse
// order of its first change, to its state before the run.
func TestUndos(t *testing.T) {
	ch := func(cs ...trace.Change) trace.Event { return trace.Event{Phase: trace.Done, Changes: cs} }
	got := describeUndos(undos([]trace.Event{
		ch(trace.Change{Release: "cache", Namespace: "p", Action: trace.Installed, To: 1, FirstInstall: true}),
		ch(trace.Change{Release: "api", Namespace: "p", Action: trace.Upgraded, From: 4, To: 5, Supersedes: 3}),
		ch(trace.Change{Release: "api", Namespace: "p", Action: trace.MarkedFailed, From: 5, To: 5, Restores: 3}),
		ch(trace.Change{Release: "web", Namespace: "p", Action: trace.Installed, From: 2, To: 3}),
		ch(trace.Change{Release: "api", Namespace: "p", Action: trace.Upgraded, From: 5, To: 6, Supersedes: 3}),
		ch(trace.Change{Release: "old", Namespace: "p", Action: trace.Uninstalled, From: 2}),
	}))
	want := []string{
		"web in p: roll back to rev 2",
		"api in p: roll back to rev 3",
		"cache in p: uninstall (first install)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("undos:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
