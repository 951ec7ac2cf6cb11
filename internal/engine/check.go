package engine

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/trace"
)

// PendingWrite is a write the run pass is about to make: the step that makes it
// and the change it records, as the step will record it (for a release
// install or upgrade, From and To are the revisions it is about to write).
type PendingWrite struct {
	// Step is the step making the write (nil for a write outside any
	// step).
	Step   *Step
	Change trace.Change
}

// WriteCheck is asked before every write of a run pass that records a
// change (install, upgrade, rollback, uninstall of a release found, apply
// of an object that changes, delete of an object that exists). An error
// stops the write, and the step fails with it. A saved plan checks its
// effects this way (internal/planfile). Marking a revision failed
// (wait_ready) is not asked: it records what already happened.
type WriteCheck interface {
	BeforeWrite(ctx context.Context, w PendingWrite) error
}

type stepKey struct{}

// withStep marks ctx as the context of step s.
func withStep(ctx context.Context, s *Step) context.Context {
	return context.WithValue(ctx, stepKey{}, s)
}

// StepOf returns the step whose context ctx is, or nil.
func StepOf(ctx context.Context) *Step {
	s, _ := ctx.Value(stepKey{}).(*Step)
	return s
}

// EndChecks stops asking the write check: the runner calls it once the
// plan's own steps are over, before it rolls back on failure.
func (e *Engine) EndChecks() {
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	e.checksOver = true
}

// checking returns the pass's write check, or nil.
func (e *Engine) checking() WriteCheck {
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	if e.checksOver || !e.Writes() {
		return nil
	}
	return e.opts.Check
}

// checkWrite asks the pass's write check, if any, about change ch.
func (e *Engine) checkWrite(ctx context.Context, ch trace.Change) error {
	c := e.checking()
	if c == nil {
		return nil
	}
	return c.BeforeWrite(ctx, PendingWrite{Step: StepOf(ctx), Change: ch})
}

// guardInstall sets req's BeforeWrite to ask the write check.
func (l live) guardInstall(ctx context.Context, req *helm.InstallRequest) {
	if l.e.checking() == nil {
		return
	}
	req.BeforeWrite = func(res *helm.InstallResult) error {
		ch := trace.Change{Release: req.Release, Namespace: req.Namespace, Action: trace.Installed, From: res.Replaces, To: res.Release.Revision}
		if res.Action == helm.Upgrade {
			ch.Action, ch.From = trace.Upgraded, res.FromRevision
		}
		return l.e.checkWrite(ctx, ch)
	}
}

// applyChecked applies objs one by one, asking the write check before each
// object that the apply would change (found by a server-side dry run of
// that object first).
func (l live) applyChecked(ctx context.Context, cl *kube.Client, objs []*unstructured.Unstructured, namespace string) ([]kube.ObjectResult, error) {
	probe := *cl
	probe.ReadOnly = true
	probe.Planned = kube.NewPlanned()
	var out []kube.ObjectResult
	for _, obj := range objs {
		planned, err := probe.Apply(ctx, []*unstructured.Unstructured{obj}, namespace)
		if err != nil {
			return out, err
		}
		if a := planned[0].Action; a == kube.Created || a == kube.Updated {
			if err := l.e.checkWrite(ctx, trace.Change{Object: planned[0].Ref, Action: trace.Applied}); err != nil {
				return out, err
			}
		}
		res, err := cl.Apply(ctx, []*unstructured.Unstructured{obj}, namespace)
		out = append(out, res...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
