package runner

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/plate-dev/plate/internal/helm"

	"github.com/plate-dev/plate/internal/trace"
)

// The stop report reads what steps recorded as data: subjects, changes and
// the interrupted flag; neither argument names nor summary wording matter
// (the summaries below say nothing the report could parse). For each
// release it says what the cluster holds now, as read after the run, and
// prints a rollback line only where a rollback makes sense.
func TestStopReportReadsTypedRecords(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	before, during := since.Add(-time.Hour), since.Add(time.Minute)
	ev := func(step, builtin string, phase trace.Phase, f func(*trace.Event)) trace.Event {
		e := trace.Event{Step: step, Builtin: builtin, Phase: phase, Pass: trace.Run, Summary: "opaque", Pos: trace.Pos{File: "plan.star", Line: 1}}
		if f != nil {
			f(&e)
		}
		return e
	}
	subject := func(rel string) func(*trace.Event) {
		return func(e *trace.Event) { e.Subject = &trace.Subject{Release: rel, Namespace: "prod"} }
	}
	change := func(c trace.Change) func(*trace.Event) {
		return func(e *trace.Event) {
			c.Release, c.Namespace = e.Subject.Release, "prod"
			e.Changes = []trace.Change{c}
		}
	}
	both := func(fs ...func(*trace.Event)) func(*trace.Event) {
		return func(e *trace.Event) {
			for _, f := range fs {
				f(e)
			}
		}
	}
	rev := func(n int, status string, at time.Time) helm.Revision {
		return helm.Revision{Revision: n, Status: status, Updated: at}
	}
	info := func(revs ...helm.Revision) Found { return Found{Info: &helm.ReleaseInfo{History: revs}} }
	events := []trace.Event{
		ev("s1", "helm_install", trace.Done, both(subject("cache"), change(trace.Change{Action: trace.Installed, To: 1, FirstInstall: true}))),
		ev("s2", "helm_install", trace.Done, both(subject("api"), change(trace.Change{Action: trace.Upgraded, From: 4, To: 5, Supersedes: 3}))),
		ev("s3", "wait_ready", trace.Failed, func(e *trace.Event) {
			e.Changes = []trace.Change{{Release: "api", Namespace: "prod", Action: trace.MarkedFailed, From: 5, To: 5, Restores: 3}}
		}),
		ev("s4", "helm_install", trace.Started, subject("web")),
		ev("s4", "helm_install", trace.Failed, both(subject("web"), func(e *trace.Event) { e.Interrupted = true })),
		ev("s5", "helm_install", trace.Started, subject("stuck")),
		ev("s6", "helm_install", trace.Done, both(subject("gone"), change(trace.Change{Action: trace.Upgraded, From: 1, To: 2, Supersedes: 1}))),
		ev("s7", "helm_install", trace.Done, both(subject("shared"), change(trace.Change{Action: trace.Upgraded, From: 2, To: 3, Supersedes: 2}))),
		ev("s8", "helm_install", trace.Done, both(subject("far"), change(trace.Change{Action: trace.Upgraded, From: 6, To: 7, Supersedes: 6}))),
		ev("s9", "helm_install", trace.Failed, subject("same")),
		ev("s10", "helm_install", trace.Skipped, nil),
	}
	st := Stop{Events: events, Namespace: "default", Why: "interrupted", Since: since, Found: map[string]Found{
		"prod/cache":  info(rev(1, "deployed", during)),
		"prod/api":    info(rev(3, "deployed", before), rev(4, "failed", before), rev(5, "failed", during)),
		"prod/web":    info(rev(1, "deployed", before), rev(2, "failed", during)),
		"prod/stuck":  info(rev(1, "deployed", before), rev(2, "pending-upgrade", during)),
		"prod/gone":   {},
		"prod/shared": info(rev(2, "superseded", before), rev(3, "superseded", during), rev(4, "deployed", during.Add(time.Minute))),
		"prod/far":    {Err: errors.New("dial tcp 10.0.0.1:6443: connect: connection refused")},
		"prod/same":   info(rev(1, "deployed", before)),
	}}
	if got, want := strings.Join(st.Releases(), " "), "prod/cache prod/api prod/web prod/stuck prod/gone prod/shared prod/far prod/same"; got != want {
		t.Errorf("releases read: %s, want %s", got, want)
	}
	var b strings.Builder
	st.Write(&b)
	out := b.String()
	for _, want := range []string{
		"plate: interrupted; what this run did before it stopped:",
		"interrupted  s4 helm_install",
		"in flight    s5 helm_install",
		"not run: s10 helm_install, and the rest of the plan",
		"cache in prod: install rev 1; now: rev 1 (deployed)\n",
		"cache in prod: first install: nothing to roll back to; helm_uninstall (or helm uninstall cache -n prod) removes it",
		"api in prod: upgrade rev 5; rev 5 not ready: marked failed, rev 3 deployed again; now: rev 5 (failed)\n",
		"web in prod: helm_install interrupted; now: rev 2 (failed), made by the helm_install that did not finish\n",
		"stuck in prod: helm_install in flight; now: rev 2 (pending-upgrade), made by the helm_install that did not finish: left pending\n",
		"stuck in prod: no plate or helm process works on it once this one has ended: plate recover stuck -n prod",
		"gone in prod: upgrade rev 2; now: does not exist\n",
		"shared in prod: upgrade rev 3; now: rev 4 (deployed) belongs to another run\n",
		"far in prod: upgrade rev 7; now: unknown: cluster unreachable (dial tcp 10.0.0.1:6443: connect: connection refused)\n",
		"far in prod: see plate history far -n prod once the cluster answers",
		"same in prod: helm_install failed; now: rev 1 (deployed), as before this run: no new revision\n",
		"to roll back what this run changed (each to the revision deployed before this run; failed revisions are never restored):\n" +
			"  plate rollback api -n prod --to 3    # upgrade rev 5; rev 5 not ready: marked failed, rev 3 deployed again\n" +
			"  plate rollback web -n prod    # helm_install interrupted\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "plate rollback "); n != 2 {
		t.Errorf("%d rollback lines, want 2 (api, web):\n%s", n, out)
	}
	// A failed step whose summary happens to say "interrupted" is not an
	// interrupted one.
	b.Reset()
	Stop{Events: []trace.Event{ev("s1", "kube_apply", trace.Failed, func(e *trace.Event) { e.Summary = "webhook interrupted the request" })}, Namespace: "default", Why: "stopped: plan failed"}.Write(&b)
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
