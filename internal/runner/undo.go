package runner

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/helm"
	kwait "github.com/plate-dev/plate/internal/kube/wait"
	"github.com/plate-dev/plate/internal/trace"
)

// undo is how a release the run changed is brought back when the run fails
// and rollback on failure is asked for.
type undo struct {
	release, namespace string
	// uninstall is true for a first install: there is nothing to roll
	// back to, so the release is uninstalled.
	uninstall bool
	// to is the revision to restore: the one deployed before the run (0:
	// the default target, the last deployed or superseded revision
	// before the latest).
	to int
}

func (u undo) String() string {
	if u.uninstall {
		return fmt.Sprintf("%s in %s: uninstall (first install)", u.release, u.namespace)
	}
	if u.to > 0 {
		return fmt.Sprintf("%s in %s: roll back to rev %d", u.release, u.namespace, u.to)
	}
	return fmt.Sprintf("%s in %s: roll back to the last good revision", u.release, u.namespace)
}

// undos reads, from a pass's typed step records, what rolling back on
// failure would do: every release the pass changed, in reverse order of
// its first change, brought back to its state before the pass.
func undos(events []trace.Event) []undo {
	var out []undo
	seen := map[string]bool{}
	for _, e := range events {
		for _, c := range e.Changes {
			k := c.Namespace + "/" + c.Release
			if seen[k] {
				continue
			}
			switch c.Action {
			case trace.Installed:
				seen[k] = true
				out = append(out, undo{release: c.Release, namespace: c.Namespace, uninstall: c.FirstInstall, to: c.From})
			case trace.Upgraded:
				seen[k] = true
				out = append(out, undo{release: c.Release, namespace: c.Namespace, to: c.Supersedes})
			case trace.RolledBack:
				seen[k] = true
				out = append(out, undo{release: c.Release, namespace: c.Namespace, to: c.From})
			}
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// rollbackOnFailure brings back every release the failed run pass changed
// (undos), each as one step of the pass's trace, then waits for the rolled
// back releases to be ready. It runs on a context an interrupt does not
// cancel (a second interrupt still exits at once), bounded per release.
func (r *Runner) rollbackOnFailure(ctx context.Context, eng *engine.Engine) {
	us := undos(eng.Recorder().Events())
	w := r.o.ErrOut
	if len(us) == 0 {
		fmt.Fprintln(w, "plate: rollback on failure: this run changed no Helm release")
		return
	}
	fmt.Fprintf(w, "plate: rolling back on failure, in reverse order: %s\n", strings.Join(describeUndos(us), "; "))
	ctx = context.WithoutCancel(ctx)
	var restored, failed []string
	for _, u := range us {
		uctx, cancel := context.WithTimeout(ctx, undoTimeout)
		err := r.undoOne(uctx, eng, u)
		cancel()
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", u.release, err))
			continue
		}
		restored = append(restored, u.release)
	}
	if len(restored) > 0 {
		fmt.Fprintf(w, "plate: rolled back on failure: %s\n", strings.Join(restored, ", "))
	}
	for _, f := range failed {
		fmt.Fprintf(w, "plate: rollback on failure did not complete for %s\n", f)
	}
}

// undoTimeout bounds bringing back one release, its wait included.
const undoTimeout = 5 * time.Minute

func describeUndos(us []undo) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.String()
	}
	return out
}

// undoOne brings one release back, as steps of the pass: a rollback (or
// an uninstall) and, after a rollback, a wait for the restored objects.
func (r *Runner) undoOne(ctx context.Context, eng *engine.Engine, u undo) error {
	if u.uninstall {
		return eng.Do(ctx, &engine.Step{Builtin: "helm_uninstall", Effect: engine.Write, Args: map[string]any{"release": u.release, "namespace": u.namespace, "on_failure": true}},
			func(ctx context.Context, rep *engine.Report) error {
				rep.Subject(u.release, u.namespace)
				res, err := eng.Releases().Uninstall(ctx, helm.UninstallRequest{Release: u.release, Namespace: u.namespace})
				if err != nil {
					return err
				}
				rep.Summary = "on failure: " + res.Summary()
				if res.Found {
					rep.Change(trace.Change{Release: u.release, Namespace: u.namespace, Action: trace.Uninstalled, From: res.Release.Revision})
				}
				return nil
			})
	}
	var rolled *helm.RollbackResult
	err := eng.Do(ctx, &engine.Step{Builtin: "helm_rollback", Effect: engine.Write, Args: map[string]any{"release": u.release, "namespace": u.namespace, "on_failure": true}},
		func(ctx context.Context, rep *engine.Report) error {
			rep.Subject(u.release, u.namespace)
			res, err := eng.Releases().Rollback(ctx, helm.RollbackRequest{Release: u.release, Namespace: u.namespace, Revision: u.to})
			if err != nil {
				return err
			}
			rolled = res
			rep.Summary = "on failure: " + res.Summary()
			rep.Detail = res
			rep.Change(trace.Change{Release: u.release, Namespace: u.namespace, Action: trace.RolledBack, From: res.FromRevision, To: res.Release.Revision, Restores: res.Restores})
			return nil
		})
	if err != nil || rolled == nil || len(rolled.Release.Objects) == 0 {
		return err
	}
	var targets []kwait.Target
	for _, o := range rolled.Release.Objects {
		if t, err := kwait.ObjectTarget(o.APIVersion, o.Kind, o.Namespace, o.Name, u.release); err == nil {
			targets = append(targets, t)
		}
	}
	return eng.Do(ctx, &engine.Step{Builtin: "wait_ready", Effect: engine.Read, Args: map[string]any{"release": u.release, "on_failure": true}},
		func(ctx context.Context, rep *engine.Report) error {
			res, err := eng.Waits().Wait(ctx, targets, kwait.Options{Namespace: u.namespace})
			if err != nil {
				return exit.Wrap(exit.PlanFailed, fmt.Errorf("%s rolled back to rev %d, but not ready: %w", u.release, rolled.Restores, err))
			}
			if res.Report != nil {
				rep.Summary = fmt.Sprintf("on failure: %s rev %d ready (%d objects)", u.release, rolled.Release.Revision, len(res.Report.Objects))
			}
			return nil
		})
}
