package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/trace"
)

// Stop is what a stop report is made of: after a run pass that stopped for
// any reason (interrupted, a step failed, a wait timed out, the run lost
// its lock) it tells what the run did, what it did not, what the cluster
// holds now of each release the run changed or was changing, and the plate
// rollback lines of the releases where a rollback makes sense.
//
// It reads only what the steps recorded as data: each step's Subject (the
// release it acts on), the Changes on its closing event, and whether an
// interrupt stopped it; never argument names or summary wording. What the
// cluster holds comes from Found, read after the pass (ReadReleases).
type Stop struct {
	Events []trace.Event
	// Namespace is the run's default namespace; Why says why it stopped
	// ("interrupted", "stopped: timeout").
	Namespace, Why string
	// Since is when the run pass began, on the clock Helm stamps the
	// revisions this process makes with (time.Now, kept to the
	// nanosecond in Helm's storage): a revision stamped before it predates
	// the run.
	Since time.Time
	// Found is what was read of each release of Releases, by
	// "namespace/name"; a release missing from it was not read.
	Found map[string]Found
}

// Found is what the stop report read of a release.
type Found struct {
	// Info is the release as the cluster holds it; nil when there is none.
	Info *helm.ReleaseInfo
	// Err says why the release could not be read (the cluster did not
	// answer in time).
	Err error
}

// stopReadTimeout bounds the reads of the stop report, all of them.
const stopReadTimeout = 5 * time.Second

// ReadReleases reads the latest revision and history of each release
// ("namespace/name") with the pass's release adapter, at once, giving up
// after timeout: a release not read by then is Found with an error (a
// cluster that does not answer; Helm's storage reads do not all honour a
// context, so the reads are left behind, not waited for).
func ReadReleases(ctx context.Context, rels engine.Releases, keys []string, timeout time.Duration) map[string]Found {
	out := map[string]Found{}
	if len(keys) == 0 {
		return out
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	type answer struct {
		key string
		f   Found
	}
	answers := make(chan answer, len(keys))
	for _, k := range keys {
		go func() {
			ns, name, _ := strings.Cut(k, "/")
			r, err := rels.Read(ctx, name, ns)
			f := Found{Err: err}
			if err == nil && r != nil {
				f.Info = r.Info
			}
			answers <- answer{k, f}
		}()
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	defer cancel()
	for range keys {
		select {
		case a := <-answers:
			out[a.key] = a.f
		case <-timer.C:
			for _, k := range keys {
				if _, ok := out[k]; !ok {
					out[k] = Found{Err: fmt.Errorf("no answer within %s", timeout)}
				}
			}
			return out
		}
	}
	return out
}

// touched is what the run's steps recorded of one release.
type touched struct {
	release, namespace string
	// what the run did to it, as its steps recorded it.
	what []string
	// ours are the revisions the run made.
	ours map[int]bool
	// restores is the revision a rollback should bring back (0: the
	// default target).
	restores int
	// firstInstall: the run installed it first; nothing to roll back to.
	firstInstall bool
	uninstalled  bool
	// unfinished is a step on it that did not finish and recorded no
	// change ("helm_install interrupted"): it may have made a revision.
	unfinished string
}

// Releases returns "namespace/name" of every release the run changed or
// was changing, in the order the run first touched them.
func (s Stop) Releases() []string {
	_, rels := s.read()
	out := make([]string, len(rels))
	for i, t := range rels {
		out[i] = t.namespace + "/" + t.release
	}
	return out
}

type stepRecord struct {
	id      string
	last    trace.Event
	subject *trace.Subject
	changes []trace.Change
}

// read gathers the steps and the releases they touched.
func (s Stop) read() ([]*stepRecord, []*touched) {
	steps := map[string]*stepRecord{}
	var order []*stepRecord
	for _, e := range s.Events {
		if e.Builtin == "print" {
			continue
		}
		st, ok := steps[e.Step]
		if !ok {
			st = &stepRecord{id: e.Step}
			steps[e.Step] = st
			order = append(order, st)
		}
		st.last = e
		if e.Subject != nil {
			st.subject = e.Subject
		}
		st.changes = append(st.changes, e.Changes...)
	}
	var rels []*touched
	byKey := map[string]*touched{}
	get := func(rel, ns string) *touched {
		if ns == "" {
			ns = s.Namespace
		}
		k := ns + "/" + rel
		t, ok := byKey[k]
		if !ok {
			t = &touched{release: rel, namespace: ns, ours: map[int]bool{}}
			byKey[k] = t
			rels = append(rels, t)
		}
		return t
	}
	for _, st := range order {
		for _, ch := range st.changes {
			if ch.Release == "" {
				continue
			}
			t := get(ch.Release, ch.Namespace)
			first := len(t.what) == 0
			switch ch.Action {
			case trace.Installed:
				t.what = append(t.what, fmt.Sprintf("install rev %d", ch.To))
				t.ours[ch.To] = true
				if first && ch.FirstInstall {
					t.firstInstall = true
				}
			case trace.Upgraded:
				t.what = append(t.what, fmt.Sprintf("upgrade rev %d", ch.To))
				t.ours[ch.To] = true
				if t.restores == 0 {
					t.restores = ch.Supersedes
				}
			case trace.RolledBack:
				t.what = append(t.what, fmt.Sprintf("rolled back to rev %d as rev %d", ch.Restores, ch.To))
				t.ours[ch.To] = true
			case trace.MarkedFailed:
				what := fmt.Sprintf("rev %d not ready: marked failed", ch.To)
				if ch.Restores > 0 {
					what += fmt.Sprintf(", rev %d deployed again", ch.Restores)
				}
				t.what = append(t.what, what)
			case trace.Uninstalled:
				t.what = append(t.what, fmt.Sprintf("uninstalled (was rev %d)", ch.From))
				t.uninstalled = true
			}
		}
		e := st.last
		if e.Phase != trace.Done && e.Phase != trace.Skipped && st.subject != nil && st.subject.Release != "" && len(st.changes) == 0 &&
			(e.Builtin == "helm_install" || e.Builtin == "helm_rollback" || e.Builtin == "helm_uninstall") {
			t := get(st.subject.Release, st.subject.Namespace)
			t.unfinished = e.Builtin + " " + stepState(e)
			t.what = append(t.what, t.unfinished)
		}
	}
	return order, rels
}

// stepState names how a step ended: its phase, "in flight" or
// "interrupted".
func stepState(e trace.Event) string {
	switch {
	case e.Phase == trace.Started, e.Phase == trace.Progress:
		return "in flight"
	case e.Phase == trace.Failed && e.Interrupted:
		return "interrupted"
	}
	return string(e.Phase)
}

// verdict is what the report says of a release after reading it.
type verdict struct {
	// now is what the cluster holds.
	now string
	// rollback is the rollback line's target: -1 none, 0 the default
	// target, N --to N.
	rollback int
	// hint is a further line (recover, uninstall).
	hint string
}

// judge says what the cluster holds of t, whose revision it is, and
// whether a rollback makes sense.
func (s Stop) judge(t *touched) verdict {
	f, read := s.Found[t.namespace+"/"+t.release]
	switch {
	case !read:
		return verdict{now: "not read", rollback: -1}
	case f.Err != nil:
		return verdict{now: "unknown: cluster unreachable (" + firstLineOf(f.Err) + ")", rollback: -1,
			hint: fmt.Sprintf("see plate history %s -n %s once the cluster answers", t.release, t.namespace)}
	case f.Info == nil || len(f.Info.History) == 0:
		if t.uninstalled {
			return verdict{now: "does not exist (uninstalled by this run)", rollback: -1}
		}
		return verdict{now: "does not exist", rollback: -1}
	}
	hist := f.Info.History
	latest := hist[len(hist)-1]
	state := fmt.Sprintf("rev %d (%s)", latest.Revision, latest.Status)
	since := s.Since
	mine := t.ours[latest.Revision]
	if !mine && !latest.Updated.Before(since) && !latest.Updated.IsZero() {
		// Made during the run, not recorded by a step: the one revision
		// a step that did not finish may have made, or another run's.
		var made []helm.Revision
		for _, r := range hist {
			if !t.ours[r.Revision] && !r.Updated.Before(since) {
				made = append(made, r)
			}
		}
		if t.unfinished == "" || made[0].Revision != latest.Revision {
			return verdict{now: state + " belongs to another run", rollback: -1,
				hint: fmt.Sprintf("see plate history %s -n %s: this run does not roll back another run's revision", t.release, t.namespace)}
		}
		mine = true
		state += ", made by the " + strings.SplitN(t.unfinished, " ", 2)[0] + " that did not finish"
	}
	if !mine {
		if len(t.ours) > 0 {
			return verdict{now: state + ", not a revision of this run", rollback: -1}
		}
		return verdict{now: state + ", as before this run: no new revision", rollback: -1}
	}
	switch latest.Status {
	case helm.StatusPendingInstall, helm.StatusPendingUpgrade, helm.StatusPendingRollback:
		return verdict{now: state + ": left pending", rollback: -1,
			hint: fmt.Sprintf("no plate or helm process works on it once this one has ended: plate recover %s -n %s", t.release, t.namespace)}
	case helm.StatusDeployed, helm.StatusFailed, helm.StatusSuperseded:
	default:
		return verdict{now: state, rollback: -1}
	}
	if t.firstInstall {
		return verdict{now: state, rollback: -1,
			hint: fmt.Sprintf("first install: nothing to roll back to; helm_uninstall (or helm uninstall %s -n %s) removes it", t.release, t.namespace)}
	}
	if t.restores > 0 {
		return verdict{now: state, rollback: t.restores}
	}
	if _, err := helm.RollbackTarget(hist, 0); err != nil {
		return verdict{now: state, rollback: -1, hint: "no earlier revision was deployed: nothing to roll back to"}
	}
	return verdict{now: state, rollback: 0}
}

func firstLineOf(err error) string {
	msg := err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		msg = "no answer in time"
	case kube.IsLost(err):
		// The run's error already says how the cluster was lost.
		msg = "lost earlier in this run"
	}
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

// Write prints the report.
func (s Stop) Write(w io.Writer) {
	order, rels := s.read()
	var skipped []string
	fmt.Fprintf(w, "plate: %s; what this run did before it stopped:\n", s.Why)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	n := 0
	for _, st := range order {
		e := st.last
		if e.Phase == trace.Skipped {
			skipped = append(skipped, st.id+" "+e.Builtin)
			continue
		}
		n++
		subj := "-"
		if st.subject != nil {
			if t := st.subject.Text(s.Namespace); t != "" {
				subj = t
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s %s\t%s\t%s\n", subj, stepState(e), st.id, e.Builtin, strings.ReplaceAll(e.Summary, "\n", " "), trace.LinePos(e))
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
	if len(rels) == 0 {
		fmt.Fprintln(w, "no Helm release was changed")
		return
	}
	fmt.Fprintln(w, "the releases this run changed or was changing, and what the cluster holds now:")
	var rollbacks, hints []string
	for _, t := range rels {
		v := s.judge(t)
		fmt.Fprintf(w, "  %s in %s: %s; now: %s\n", t.release, t.namespace, strings.Join(t.what, "; "), v.now)
		if v.hint != "" {
			hints = append(hints, fmt.Sprintf("  %s in %s: %s", t.release, t.namespace, v.hint))
		}
		if v.rollback < 0 {
			continue
		}
		line := fmt.Sprintf("plate rollback %s -n %s", t.release, t.namespace)
		if v.rollback > 0 {
			line += fmt.Sprintf(" --to %d", v.rollback)
		}
		rollbacks = append(rollbacks, fmt.Sprintf("  %s    # %s", line, strings.Join(t.what, "; ")))
	}
	for _, h := range hints {
		fmt.Fprintln(w, h)
	}
	if len(rollbacks) == 0 {
		return
	}
	fmt.Fprintln(w, "to roll back what this run changed (each to the revision deployed before this run; failed revisions are never restored):")
	for _, l := range rollbacks {
		fmt.Fprintln(w, l)
	}
}
